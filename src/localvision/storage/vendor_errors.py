"""The one place where fsspec's, botocore's, gcsfs's and Azure's exceptions become
localvision's storage errors.

Every call into a vendor library runs inside :func:`translated`, which maps what it raised onto
:class:`~localvision.errors.StorageNotFoundError` (no such bucket, container or object),
:class:`~localvision.errors.StorageAccessDeniedError` (credentials missing, wrong or not
allowed), :class:`~localvision.errors.StorageUnavailableError` (connection refused, DNS,
time-outs, the store's own 5xx) or the general :class:`~localvision.errors.StorageError`, with a
message naming the URI and a hint naming what to check (which environment variable sets the
endpoint or the credentials). A read of one object version names the version when it is not
found; the store's 400 then counts as not found too, since S3 answers a version id it cannot
parse (or any id on a bucket that never had versioning) with a bare "Bad Request". The vendor
classes are recognised by their qualified names, so
this module imports none of the vendor libraries.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import (
    LocalVisionError,
    StorageAccessDeniedError,
    StorageError,
    StorageNotFoundError,
    StorageUnavailableError,
)
from .vendors import Vendor

__all__ = ["translate", "translated"]

_NOT_FOUND = {
    "azure.core.exceptions.ResourceNotFoundError",
}
_DENIED = {
    "botocore.exceptions.NoCredentialsError",
    "botocore.exceptions.PartialCredentialsError",
    "botocore.exceptions.CredentialRetrievalError",
    "botocore.exceptions.ProfileNotFound",
    "azure.core.exceptions.ClientAuthenticationError",
    "azure.identity._exceptions.CredentialUnavailableError",
    "google.auth.exceptions.DefaultCredentialsError",
    "google.auth.exceptions.RefreshError",
}
_UNREACHABLE = {
    "botocore.exceptions.EndpointConnectionError",
    "botocore.exceptions.ConnectTimeoutError",
    "botocore.exceptions.ReadTimeoutError",
    "botocore.exceptions.ConnectionClosedError",
    "botocore.exceptions.HTTPClientError",
    "azure.core.exceptions.ServiceRequestError",
    "azure.core.exceptions.ServiceResponseError",
    "fsspec.exceptions.FSTimeoutError",
    "aiohttp.client_exceptions.ClientConnectionError",
    "aiohttp.client_exceptions.ClientPayloadError",
    "requests.exceptions.ConnectionError",
    "requests.exceptions.Timeout",
}


@contextlib.contextmanager
def translated(
    vendor: Vendor,
    environ: Mapping[str, str],
    uri: str,
    doing: str,
    *,
    version: str | None = None,
) -> Iterator[None]:
    """Run a vendor call; raise what it raises as a storage error about ``uri``.

    ``doing`` completes "... while {doing}" in messages, e.g. ``"reading"``; ``version`` is the
    object version the call reads, if one was asked for.
    """
    try:
        yield
    except LocalVisionError:
        raise
    except Exception as exc:
        raise translate(exc, vendor, environ, uri, doing, version=version) from exc


def translate(
    exc: BaseException,
    vendor: Vendor,
    environ: Mapping[str, str],
    uri: str,
    doing: str,
    *,
    version: str | None = None,
) -> StorageError:
    """The storage error for ``exc``, raised by ``vendor`` while ``doing`` ``uri`` (at
    ``version``, when one was asked for)."""
    kind = _kind(exc)
    reason = _reason(exc)
    if version is not None and kind == "other" and _refused_request(exc):
        kind = "not_found"  # the only part of a versioned read the store can find malformed
    if kind == "not_found" and version is not None:
        return StorageNotFoundError(
            f"{uri} has no version {version!r} in {vendor.title} (or no such object or "
            f"bucket): {reason}.",
            hint="Check the version id (aws s3api list-object-versions lists them), or leave "
            "it out to read the current version.",
        )
    if kind == "not_found":
        return StorageNotFoundError(
            f"{uri} does not exist (no such bucket, container or object) in {vendor.title}.",
            hint="Check the URI; a model pushed with 'localvision models push' lies under "
            "URI/NAME/VERSION/.",
        )
    if kind == "denied":
        return StorageAccessDeniedError(
            f"{vendor.title} refused access to {uri} while {doing} it: {reason}.",
            hint=vendor.denied_hint,
        )
    if kind == "unreachable":
        endpoint = vendor.endpoint(environ)
        at = f" at {endpoint}" if endpoint else ""
        return StorageUnavailableError(
            f"Cannot reach {vendor.title}{at} while {doing} {uri}: {reason}.",
            hint=vendor.unreachable_hint,
        )
    return StorageError(f"{vendor.title} failed while {doing} {uri}: {reason}.")


def _kind(exc: BaseException, depth: int = 0) -> str:
    """``not_found``, ``denied``, ``unreachable`` or ``other``; an unrecognised exception is
    judged by its cause (s3fs and adlfs wrap the vendor's error in a ValueError or OSError)."""
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}
    if names & _NOT_FOUND:
        return "not_found"
    if names & _DENIED:
        return "denied"
    if names & _UNREACHABLE:
        return "unreachable"
    status = _status(exc)
    if status is not None:
        if status == 404:
            return "not_found"
        if status in (401, 403):
            return "denied"
        if status == 408 or status == 429 or status >= 500:
            return "unreachable"
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return "not_found"
    if isinstance(exc, PermissionError):
        return "denied"
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return "unreachable"
    if isinstance(exc, OSError) and str(exc).startswith("Forbidden"):
        return "denied"  # gcsfs raises a plain OSError("Forbidden: ...") for 403
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, Exception) and depth < 5:
        return _kind(cause, depth + 1)
    return "other"


def _refused_request(exc: BaseException) -> bool:
    """Whether the store answered 400 (Bad Request), judged along the causes as in _kind."""
    for _ in range(6):
        if _status(exc) == 400:
            return True
        cause = exc.__cause__ or exc.__context__
        if cause is None:
            return False
        exc = cause
    return False


def _status(exc: BaseException) -> int | None:
    """The HTTP status a vendor exception carries, if any."""
    for attribute in ("status_code", "status", "code"):
        value: Any = getattr(exc, attribute, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
        if isinstance(value, str) and value.isdigit() and 100 <= int(value) < 600:
            return int(value)
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    return None


def _reason(exc: BaseException) -> str:
    """The vendor's own words, on one line and not too long."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
