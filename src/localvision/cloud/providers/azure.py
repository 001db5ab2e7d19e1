"""Azure AI Vision Image Analysis 4.0 as an Annotator, over REST with a key (the ``cloud``
extra).

One request per image carrying every feature asked (tags, objects, read, smart crops), the image
re-encoded first so no metadata leaves, retried on 429, 5xx and network errors only, and
written to the audit log. Features Azure lacks (colours, faces) are errors on the image,
before anything is sent.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ...config import AzureProviderSettings, Settings
from ...errors import LocalVisionError, ProviderError
from ...imaging.decode import ImageLimits
from ...optional import import_optional
from ...types import AnnotateRequest, AnnotateResult
from ...wire import azure_vision as wire
from ..audit import AuditLog
from .base import Outgoing, audited, outgoing, provider_config
from .http import post_json

__all__ = ["AzureVisionProvider"]


class AzureVisionProvider:
    """Sends annotate requests to Azure AI Vision (or anything that speaks its API)."""

    name = "azure"
    vendor = "Azure AI Vision"
    features = frozenset(wire.FEATURES)

    def __init__(
        self,
        settings: Settings,
        config: AzureProviderSettings | None = None,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        config = provider_config(settings, self.name, self.vendor, config, "endpoint and key")
        httpx = import_optional("httpx", extra="cloud", purpose="call cloud providers")
        self.config = config
        self.endpoint = config.endpoint.rstrip("/") + wire.PATH
        self.audit = audit or AuditLog.for_settings(settings)
        self.limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
        self._client = httpx.Client(timeout=config.timeout_s)
        self._rng = random.Random()

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        """One Image Analysis call per image that may leave, asking that request's features."""
        results = [AnnotateResult(name=r.name) for r in requests]
        ready = outgoing(
            requests, results, features=self.features, vendor=self.vendor, limits=self.limits
        )
        for item in ready:
            self._call(requests[item.index], item, results[item.index])
        return results

    def _call(self, request: AnnotateRequest, item: Outgoing, result: AnnotateResult) -> None:
        params = wire.query([f.feature for f in request.features], self.config.api_version)
        url = f"{self.endpoint}?api-version={params['api-version']}&features={params['features']}"
        features = sorted({f.feature.value for f in request.features})
        try:
            with audited(self.audit, self.name, self.endpoint, features, [item.data]):
                body = post_json(
                    self._client,
                    url,
                    item.data,
                    {
                        "content-type": "application/octet-stream",
                        "ocp-apim-subscription-key": self.config.key,
                    },
                    vendor=self.vendor,
                    retries=self.config.retries,
                    to_error=wire.error_from_response,
                    rng=self._rng,
                )
                wire.fill_from_analysis(body, result)
        except LocalVisionError as exc:
            result.error = exc
        except Exception as exc:  # a malformed answer is this image's error, nothing more
            result.error = ProviderError(
                f"{self.vendor} answered in a form localvision cannot read: {type(exc).__name__}."
            )

    def close(self) -> None:
        self._client.close()
