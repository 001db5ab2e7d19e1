"""Google's error model ⇄ localvision's errors, in both directions.

Google reports a failure two ways: a ``google.rpc.Status`` (``code`` from ``google.rpc.Code``
and a message) inside one image's response, or an HTTP error whose body is
``{"error": {"code": <HTTP>, "message", "status": <Code name>, "details"}}`` for the request as
a whole. The server renders our errors both ways; the Google provider reads both back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import (
    AuthenticationError,
    FeatureNotAvailableError,
    ImageError,
    InvalidInputError,
    LocalVisionError,
    OverloadedError,
    ProviderError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServerUnavailableError,
    StorageAccessDeniedError,
    StorageError,
    StorageNotFoundError,
)

__all__ = [
    "RpcCode",
    "error_from_response",
    "error_from_status",
    "error_response",
    "rpc_code",
    "status",
    "unsupported_error",
]


class RpcCode(enum.IntEnum):
    """``google.rpc.Code``."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# The HTTP status google.rpc.Code maps to (google/rpc/code.proto).
_HTTP_STATUS = {
    RpcCode.INVALID_ARGUMENT: 400,
    RpcCode.FAILED_PRECONDITION: 400,
    RpcCode.OUT_OF_RANGE: 400,
    RpcCode.UNAUTHENTICATED: 401,
    RpcCode.PERMISSION_DENIED: 403,
    RpcCode.NOT_FOUND: 404,
    RpcCode.RESOURCE_EXHAUSTED: 429,
    RpcCode.UNIMPLEMENTED: 501,
    RpcCode.UNAVAILABLE: 503,
    RpcCode.DEADLINE_EXCEEDED: 504,
}

# Our errors to google.rpc codes, looked up along the class's MRO (first match wins).
_RPC_FOR_ERROR: tuple[tuple[type[LocalVisionError], RpcCode], ...] = (
    (FeatureNotAvailableError, RpcCode.UNIMPLEMENTED),
    (RequestTooLargeError, RpcCode.INVALID_ARGUMENT),
    (InvalidInputError, RpcCode.INVALID_ARGUMENT),
    (AuthenticationError, RpcCode.UNAUTHENTICATED),
    # A request cut off by shutdown: a retry belongs elsewhere, and clients retry 503.
    (ServerUnavailableError, RpcCode.UNAVAILABLE),
    # Load shedding answers 429: the client retries 503 silently for ten minutes.
    (OverloadedError, RpcCode.RESOURCE_EXHAUSTED),
    (RequestTimeoutError, RpcCode.DEADLINE_EXCEEDED),
    # A gs:// imageUri that cannot be read, as Google reports a Cloud Storage object it cannot
    # read: a bucket outside [storage] allow (or credentials the store refuses) is the
    # caller's lack of permission, not a bad argument (PERMISSION_DENIED); a missing bucket or
    # object is NOT_FOUND; a store that cannot be reached (and anything else storage reports)
    # is UNAVAILABLE, which says the same request may succeed later.
    (StorageAccessDeniedError, RpcCode.PERMISSION_DENIED),
    (StorageNotFoundError, RpcCode.NOT_FOUND),
    (StorageError, RpcCode.UNAVAILABLE),
)

# google.rpc codes Google answers to our errors (the client direction); others are provider
# errors.
_ERROR_FOR_CODE: dict[int, type[LocalVisionError]] = {
    int(RpcCode.INVALID_ARGUMENT): InvalidInputError,
    int(RpcCode.UNIMPLEMENTED): FeatureNotAvailableError,
    int(RpcCode.UNAUTHENTICATED): AuthenticationError,
    int(RpcCode.RESOURCE_EXHAUSTED): OverloadedError,
    int(RpcCode.DEADLINE_EXCEEDED): RequestTimeoutError,
}

# ------------------------------------------------------------------ the server direction


def rpc_code(error: BaseException) -> RpcCode:
    """The ``google.rpc.Code`` for one of our errors (INTERNAL for anything unexpected)."""
    for cls, code in _RPC_FOR_ERROR:
        if isinstance(error, cls):
            return code
    return RpcCode.INTERNAL


def status(error: LocalVisionError) -> dict[str, Any]:
    """A ``google.rpc.Status`` for a per-image error."""
    message = error.message
    if isinstance(error, ImageError) and rpc_code(error) == RpcCode.INVALID_ARGUMENT:
        message = f"Bad image data. {message}"  # clients match on Google's own wording
    if error.hint:
        message = f"{message} {error.hint}"
    return {"code": int(rpc_code(error)), "message": message}


def error_response(error: BaseException) -> tuple[int, dict[str, Any]]:
    """HTTP status and Google API error body for a whole-request failure."""
    code = rpc_code(error)
    http = _HTTP_STATUS.get(code, 500)
    if isinstance(error, LocalVisionError):
        message = error.message + (f" {error.hint}" if error.hint else "")
        reason = error.code.upper()
    else:
        message, reason = "Internal error.", "INTERNAL"
    body = {
        "error": {
            "code": http,
            "message": message,
            "status": code.name,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "localvision",
                    "metadata": {},
                }
            ],
        }
    }
    return http, body


def unsupported_error(names: Sequence[str]) -> FeatureNotAvailableError:
    """The per-image error for Google features localvision has no local model type for."""
    listed = ", ".join(names)
    return FeatureNotAvailableError(
        f"localvision has no local model for {listed}.",
        hint="Remove the feature, or route it to a cloud provider.",
    )


# ------------------------------------------------------------------ the client direction


def error_from_status(status: Mapping[str, Any]) -> LocalVisionError:
    """Our error for a ``google.rpc.Status`` (the vendor's message kept)."""
    cls = _ERROR_FOR_CODE.get(int(status.get("code", 2)), ProviderError)
    return cls(f"Google Cloud Vision: {status.get('message', 'error')}")


def error_from_response(http_status: int, body: Any) -> LocalVisionError:
    """Our error for a whole-request failure in Google's error model."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    message = str(error.get("message") or f"HTTP {http_status}")
    status = str(error.get("status", ""))
    code = int(RpcCode[status]) if status in RpcCode.__members__ else None
    cls = _ERROR_FOR_CODE.get(code, ProviderError) if code is not None else ProviderError
    return cls(f"Google Cloud Vision answered HTTP {http_status}: {message}")
