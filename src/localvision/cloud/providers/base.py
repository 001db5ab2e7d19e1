"""What every cloud provider shares: the protocol it implements, the checks it makes before it
may exist, the rule for features it cannot answer, the re-encoding that strips metadata, and
the audit record written for every call.

Each provider module (``google``, ``aws``, ``azure``) then holds only what is its vendor's:
how requests are grouped into calls, and which wire adapter reads the answers.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ...config import Settings
from ...errors import FeatureNotAvailableError, LocalVisionError, ProviderError
from ...imaging.decode import ImageLimits, decode_image
from ...types import AnnotateRequest, AnnotateResult, Feature
from ..audit import AuditLog, EgressRecord, require_egress

__all__ = [
    "CloudProvider",
    "Outgoing",
    "audited",
    "outgoing",
    "provider_config",
    "redacted_jpeg",
    "unanswerable",
]

C = TypeVar("C")


class CloudProvider(Protocol):
    """What every provider offers: the Annotator shape (batch in, one result per request out,
    per-image errors on the results), and a close."""

    name: str
    features: frozenset[Feature]

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]: ...

    def close(self) -> None: ...


def provider_config(settings: Settings, name: str, vendor: str, config: C | None, needs: str) -> C:
    """The settings a provider runs with (``config``, else ``[cloud.<name>]``), after checking
    that egress is allowed: what every provider checks before it may exist."""
    require_egress(settings, name)
    found = config if config is not None else getattr(settings.cloud, name)
    if found is None:
        raise ProviderError(
            f"{vendor} is not configured.",
            hint=f"Add [cloud.{name}] ({needs}) to localvision.toml.",
        )
    chosen: C = found
    return chosen


def redacted_jpeg(pixels: Any) -> bytes:
    """The image as a fresh JPEG: only pixels, no metadata of the original."""
    buffer = io.BytesIO()
    pixels.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def unanswerable(
    request: AnnotateRequest, features: frozenset[Feature], vendor: str
) -> FeatureNotAvailableError | None:
    """The error for a request asking a feature ``vendor`` does not have, else None.

    Such a request is not sent at all, not even for its other features: the caller asked for
    an answer this provider cannot give, and an image should not leave for half of one.
    """
    missing = sorted({f.feature.value for f in request.features} - {f.value for f in features})
    if not missing:
        return None
    return FeatureNotAvailableError(
        f"{vendor} cannot answer {', '.join(repr(m) for m in missing)}.",
        hint="Route the feature to another provider or answer it locally.",
    )


@dataclass
class Outgoing:
    """One request ready to leave: the re-encoded image and the size of the original."""

    index: int
    data: bytes
    width: int
    height: int


def outgoing(
    requests: Sequence[AnnotateRequest],
    results: Sequence[AnnotateResult],
    *,
    features: frozenset[Feature],
    vendor: str,
    limits: ImageLimits,
) -> list[Outgoing]:
    """The requests that may be sent, re-encoded; the others get their error on their result.

    A request is held back when it asks a feature the provider lacks, or when its image does
    not decode within ``limits`` (a broken image is refused before it leaves the machine).
    """
    ready: list[Outgoing] = []
    for index, (request, result) in enumerate(zip(requests, results, strict=True)):
        refusal = unanswerable(request, features, vendor)
        if refusal is not None:
            result.error = refusal
            continue
        try:
            image = decode_image(request.image, limits=limits, name=result.name)
        except LocalVisionError as exc:
            result.error = exc
            continue
        result.width, result.height = image.width, image.height
        ready.append(Outgoing(index, redacted_jpeg(image.pixels), image.width, image.height))
    return ready


@contextmanager
def audited(
    audit: AuditLog,
    provider: str,
    endpoint: str,
    features: Iterable[str],
    sent: Sequence[bytes],
    *,
    bytes_sent: int | None = None,
) -> Iterator[None]:
    """Record one call in the audit log however it ends: its outcome is ``ok`` or the name of
    the error that ended it, which is re-raised. ``sent`` are the images (hashed into the
    record); ``bytes_sent`` is the body's size when it is more than the images."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except BaseException as exc:  # ours or not, the record names what ended the call
        outcome = type(exc).__name__
        raise
    finally:
        audit.record(
            EgressRecord(
                time=time.time(),
                provider=provider,
                endpoint=endpoint,
                features=list(features),
                images=len(sent),
                bytes_sent=sum(len(d) for d in sent) if bytes_sent is None else bytes_sent,
                sha256=[hashlib.sha256(d).hexdigest() for d in sent],
                outcome=outcome,
                duration_ms=1000 * (time.perf_counter() - started),
            )
        )
