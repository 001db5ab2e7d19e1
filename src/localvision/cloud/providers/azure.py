"""Azure AI Vision Image Analysis 4.0 as an Annotator, over REST with a key (the ``cloud``
extra).

One request per image carrying every feature asked (tags, objects, read, smart crops), the image
re-encoded first so no metadata leaves, retried on 429, 5xx and network errors only, and
written to the audit log. Features Azure lacks (colours, faces) are errors on the image,
before anything is sent.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence

from ...config import AzureProviderSettings, Settings
from ...errors import LocalVisionError
from ...imaging.decode import ImageLimits, decode_image
from ...optional import import_optional
from ...types import AnnotateRequest, AnnotateResult
from ...wire import azure_vision as wire
from ..audit import AuditLog, EgressRecord
from . import provider_config
from .google import redacted_jpeg
from .http import post_json

__all__ = ["AzureVisionProvider"]


class AzureVisionProvider:
    """Sends annotate requests to Azure AI Vision (or anything that speaks its API)."""

    name = "azure"
    features = frozenset(wire.FEATURES)

    def __init__(
        self,
        settings: Settings,
        config: AzureProviderSettings | None = None,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        config = provider_config(settings, self.name, "Azure AI Vision", config, "endpoint and key")
        httpx = import_optional("httpx", extra="cloud", purpose="call cloud providers")
        self.config = config
        self.endpoint = config.endpoint.rstrip("/") + wire.PATH
        self.audit = audit or AuditLog.for_settings(settings)
        self.limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
        self._client = httpx.Client(timeout=config.timeout_s)
        self._rng = random.Random()

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        return [self._one(request) for request in requests]

    def _one(self, request: AnnotateRequest) -> AnnotateResult:
        result = AnnotateResult(name=request.name)
        try:
            params = wire.query([f.feature for f in request.features], self.config.api_version)
            image = decode_image(request.image, limits=self.limits, name=request.name)
        except LocalVisionError as exc:
            result.error = exc
            return result
        result.width, result.height = image.width, image.height
        data = redacted_jpeg(image.pixels)
        url = f"{self.endpoint}?api-version={params['api-version']}&features={params['features']}"
        started = time.perf_counter()
        outcome = "ok"
        try:
            body = post_json(
                self._client,
                url,
                data,
                {
                    "content-type": "application/octet-stream",
                    "ocp-apim-subscription-key": self.config.key,
                },
                vendor="Azure AI Vision",
                retries=self.config.retries,
                to_error=wire.error_from_response,
                rng=self._rng,
            )
            wire.fill_from_analysis(body, result)
        except LocalVisionError as exc:
            outcome = type(exc).__name__
            result.error = exc
        finally:
            self.audit.record(
                EgressRecord(
                    time=time.time(),
                    provider=self.name,
                    endpoint=self.endpoint,
                    features=sorted({f.feature.value for f in request.features}),
                    images=1,
                    bytes_sent=len(data),
                    sha256=[hashlib.sha256(data).hexdigest()],
                    outcome=outcome,
                    duration_ms=1000 * (time.perf_counter() - started),
                )
            )
        return result

    def close(self) -> None:
        self._client.close()
