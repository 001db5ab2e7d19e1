"""Google Cloud Vision as an Annotator, over REST with an API key or a service account.

Images are re-encoded before they leave (which strips every metadata block: EXIF, GPS, XMP,
ICC), sent 16 at a time, retried with jittered exponential backoff on 429, 5xx and network
errors only, and every request is written to the audit log. Vendor errors become localvision
errors with the vendor's message kept.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Sequence
from typing import Any

from ...config import GoogleProviderSettings, Settings
from ...errors import AuthenticationError, ConfigError, LocalVisionError, ProviderError
from ...imaging.decode import ImageLimits
from ...optional import import_optional
from ...types import AnnotateRequest, AnnotateResult, Feature
from ...wire import google_vision as wire
from ..audit import AuditLog
from .base import Outgoing, audited, outgoing, provider_config, redacted_jpeg
from .http import post_json

__all__ = ["GoogleVisionProvider", "redacted_jpeg"]


class GoogleVisionProvider:
    """Sends annotate requests to Google Cloud Vision (or anything that speaks its API)."""

    name = "google"
    vendor = "Google Cloud Vision"
    features = frozenset(
        {
            Feature.LABELS,
            Feature.TEXT,
            Feature.DOCUMENT_TEXT,
            Feature.FACES,
            Feature.COLORS,
            Feature.CROP_HINTS,
            Feature.OBJECTS,
        }
    )

    def __init__(
        self,
        settings: Settings,
        config: GoogleProviderSettings | None = None,
        *,
        audit: AuditLog | None = None,
    ) -> None:
        config = provider_config(
            settings, self.name, self.vendor, config, "api_key or credentials_file"
        )
        httpx = import_optional("httpx", extra="cloud", purpose="call cloud providers")
        self.config = config
        self.endpoint = config.endpoint.rstrip("/") + "/v1/images:annotate"
        self.audit = audit or AuditLog.for_settings(settings)
        self.limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
        self._client = httpx.Client(timeout=config.timeout_s)
        self._rng = random.Random()
        self._oauth = _ServiceAccount(config.credentials_file) if config.credentials_file else None

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        """One ``images:annotate`` call per 16 images that may leave; each image asks its own
        request's features."""
        results = [AnnotateResult(name=r.name) for r in requests]
        ready = outgoing(
            requests, results, features=self.features, vendor=self.vendor, limits=self.limits
        )
        for start in range(0, len(ready), wire.MAX_IMAGES):
            self._call(requests, results, ready[start : start + wire.MAX_IMAGES])
        return results

    def _call(
        self,
        requests: Sequence[AnnotateRequest],
        results: list[AnnotateResult],
        sent: Sequence[Outgoing],
    ) -> None:
        body = wire.request_body([(item.data, requests[item.index].features) for item in sent])
        payload = json.dumps(body).encode()
        asked = {f.feature.value: None for item in sent for f in requests[item.index].features}
        try:
            with audited(
                self.audit,
                self.name,
                self.endpoint,
                asked,
                [item.data for item in sent],
                bytes_sent=len(payload),
            ):
                responses = self._post(payload).get("responses", [])
                if not isinstance(responses, list) or len(responses) != len(sent):
                    count = len(responses) if isinstance(responses, list) else "no"
                    raise ProviderError(
                        f"{self.vendor} answered {count} responses for {len(sent)} images."
                    )
        except LocalVisionError as exc:
            for item in sent:
                results[item.index].error = exc
            return
        for item, entry in zip(sent, responses, strict=True):
            result = results[item.index]
            if not isinstance(entry, dict):
                result.error = ProviderError(f"{self.vendor} answered {entry!r} for an image.")
                continue
            try:
                wire.parse_image_response(entry, result, width=item.width, height=item.height)
            except Exception as exc:  # a malformed answer is that image's error, not the batch's
                result.error = ProviderError(
                    f"{self.vendor} answered an image in a form localvision cannot read: "
                    f"{type(exc).__name__}."
                )

    def _post(self, payload: bytes) -> dict[str, Any]:
        return post_json(
            self._client,
            self.endpoint,
            payload,
            {"content-type": "application/json", **self._auth_header()},
            vendor="Google Cloud Vision",
            retries=self.config.retries,
            to_error=wire.error_from_response,
            rng=self._rng,
        )

    def _auth_header(self) -> dict[str, str]:
        if self._oauth is not None:
            return {"authorization": f"Bearer {self._oauth.token()}"}
        assert self.config.api_key is not None
        return {"x-goog-api-key": self.config.api_key}

    def close(self) -> None:
        self._client.close()


class _ServiceAccount:
    """OAuth 2.0 access tokens for a service account (google-auth's JWT-bearer flow), fetched
    when first needed and again shortly before they expire."""

    SCOPE = "https://www.googleapis.com/auth/cloud-vision"

    def __init__(self, path: str) -> None:
        accounts = import_optional(
            "google.oauth2.service_account", extra="cloud", purpose="use a service account"
        )
        transport = import_optional(
            "google.auth.transport.requests", extra="cloud", purpose="use a service account"
        )
        self._errors = import_optional("google.auth.exceptions", extra="cloud", purpose="OAuth")
        try:
            self._credentials = accounts.Credentials.from_service_account_file(
                path, scopes=[self.SCOPE]
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"Cannot read the Google service account key {path}: {exc}.",
                hint="Point credentials_file at the JSON key downloaded for the account.",
            ) from exc
        self._request = transport.Request()
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if not self._credentials.valid:
                try:
                    self._credentials.refresh(self._request)
                except self._errors.GoogleAuthError as exc:
                    raise AuthenticationError(
                        f"Google refused the service account's sign-in: {exc}."
                    ) from exc
            return str(self._credentials.token)
