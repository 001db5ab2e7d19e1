"""AWS Rekognition as an Annotator, through boto3 (the ``aws`` extra).

One Rekognition call per image and feature family (``DetectLabels`` for labels, image
properties and object instances; ``DetectText``; ``DetectFaces``), with boto3's own retry
logic (standard mode: throttling and 5xx only). Images are re-encoded first so no metadata
leaves, every call is written to the audit log, and AWS errors become localvision errors
with the vendor's message kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...config import AwsProviderSettings, Settings
from ...errors import LocalVisionError, ProviderError
from ...imaging.decode import ImageLimits
from ...optional import import_optional
from ...types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest
from ...wire import rekognition as wire
from ..audit import AuditLog
from .base import audited, outgoing, provider_config

__all__ = ["RekognitionProvider"]


class RekognitionProvider:
    """Sends annotate requests to AWS Rekognition (or anything that speaks its API)."""

    name = "aws"
    vendor = "AWS Rekognition"
    features = frozenset(
        {
            Feature.LABELS,
            Feature.COLORS,
            Feature.OBJECTS,
            Feature.TEXT,
            Feature.DOCUMENT_TEXT,
            Feature.FACES,
        }
    )

    def __init__(
        self,
        settings: Settings,
        config: AwsProviderSettings | None = None,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        config = provider_config(settings, self.name, self.vendor, config, "region, endpoint")
        boto3 = import_optional("boto3", extra="aws", purpose="call AWS Rekognition")
        botocore_config = import_optional("botocore.config", extra="aws", purpose="call AWS")
        self._client_error = import_optional(
            "botocore.exceptions", extra="aws", purpose="call AWS"
        ).ClientError
        self.config = config
        self.endpoint = config.endpoint or f"https://rekognition.{config.region}.amazonaws.com"
        self._client = boto3.client(
            "rekognition",
            region_name=config.region,
            endpoint_url=config.endpoint,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=botocore_config.Config(
                connect_timeout=config.timeout_s,
                read_timeout=config.timeout_s,
                retries={"max_attempts": config.retries + 1, "mode": "standard"},
            ),
        )
        self.audit = audit or AuditLog.for_settings(settings)
        self.limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        """One Rekognition call per image and feature family; a failed call is that image's
        error, and the image's other calls still go."""
        results = [AnnotateResult(name=r.name) for r in requests]
        ready = outgoing(
            requests, results, features=self.features, vendor=self.vendor, limits=self.limits
        )
        for item in ready:
            result = results[item.index]
            for call, features in self._calls(requests[item.index].features):
                try:
                    self._call(call, item.data, features, result)
                except LocalVisionError as exc:
                    result.error = result.error or exc
                except Exception as exc:  # a malformed answer is this image's error only
                    result.error = result.error or ProviderError(
                        f"{self.vendor} {call} answered in a form localvision cannot read: "
                        f"{type(exc).__name__}."
                    )
        return results

    def _calls(self, features: Sequence[FeatureRequest]) -> list[tuple[str, list[FeatureRequest]]]:
        groups: dict[str, list[FeatureRequest]] = {}
        for feature in features:
            call = {
                Feature.TEXT: "DetectText",
                Feature.DOCUMENT_TEXT: "DetectText",
                Feature.FACES: "DetectFaces",
            }.get(feature.feature, "DetectLabels")
            groups.setdefault(call, []).append(feature)
        return list(groups.items())

    def _call(
        self, call: str, data: bytes, features: list[FeatureRequest], result: AnnotateResult
    ) -> None:
        kinds = {f.feature for f in features}
        arguments: dict[str, Any] = {"Image": {"Bytes": data}}
        fill: Callable[..., None]
        if call == "DetectLabels":
            wanted = ["GENERAL_LABELS"] if kinds & {Feature.LABELS, Feature.OBJECTS} else []
            wanted += ["IMAGE_PROPERTIES"] if Feature.COLORS in kinds else []
            arguments["Features"] = wanted
            labels = next((f for f in features if f.feature is Feature.LABELS), None)
            if labels is not None and labels.max_results:
                arguments["MaxLabels"] = labels.max_results
            if labels is not None and labels.min_score is not None:
                arguments["MinConfidence"] = labels.min_score * 100
            method, fill = self._client.detect_labels, wire.fill_from_detect_labels
        elif call == "DetectText":
            method, fill = self._client.detect_text, wire.fill_from_detect_text
        else:
            arguments["Attributes"] = ["DEFAULT"]
            method, fill = self._client.detect_faces, wire.fill_from_detect_faces
        with audited(
            self.audit, self.name, f"{self.endpoint} {call}", sorted(k.value for k in kinds), [data]
        ):
            try:
                response = method(**arguments)
            except self._client_error as exc:
                error = exc.response.get("Error", {})
                code, message = str(error.get("Code", "")), str(error.get("Message", ""))
                raise wire.error_from_aws(code, message) from exc
            except Exception as exc:  # network failures after boto3's retries
                raise ProviderError(f"AWS Rekognition {call} failed: {exc}.") from exc
            fill(response, result, width=result.width or 1, height=result.height or 1)
        if call == "DetectLabels":
            # One DetectLabels answer carries labels and instances whatever was asked: keep
            # what this request asked for (an asked feature that found nothing is empty).
            result.labels = result.labels if Feature.LABELS in kinds else None
            result.objects = (result.objects or []) if Feature.OBJECTS in kinds else None

    def close(self) -> None:
        self._client.close()
