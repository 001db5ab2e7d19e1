"""Answering a request in its protocol's error format from outside its route handler.

Route handlers render their own failures. Two failures happen around them instead: a request
body that does not arrive in time (:mod:`.read_deadline`) and a request still running when a
graceful shutdown runs out of time (:mod:`.shutdown`). Both are answered here, in the format
of the protocol the request belongs to, so a Google client still gets Google's error JSON and
boto3 a Rekognition exception rather than uvicorn's plain-text 500.
"""

from __future__ import annotations

import uuid

from starlette._utils import get_route_path  # what the router matches on, root_path removed
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from ..errors import LocalVisionError, ServerUnavailableError
from ..wire import google_vision as google_wire
from ..wire import rekognition as rekognition_wire
from . import gate, native, open_inference
from .rekognition import CONTENT_TYPE as AWS_CONTENT_TYPE
from .state import ServerState

__all__ = ["error_response", "request_protocol"]

_PROTOCOLS = ("google", "aws", "oip", "native")


def request_protocol(scope: Scope) -> str:
    """``google``, ``aws``, ``oip`` or ``native``: the route's own label once it has run
    (:func:`~.common.label`), otherwise what the path says (:func:`~.gate.protocol_of`)."""
    labelled = (scope.get("state") or {}).get("protocol")
    if labelled in _PROTOCOLS:
        return str(labelled)
    return gate.protocol_of(get_route_path(scope), str(scope.get("method", "GET")))


def error_response(scope: Scope, state: ServerState, exc: LocalVisionError) -> Response:
    """``exc`` as the request's protocol answers a whole-request failure.

    Native and Open Inference requests get their routers' own renderers, Google and AWS their
    wire renderers (which answer :class:`~localvision.errors.ServerUnavailableError` as
    ``503 UNAVAILABLE`` and ``503 ServiceUnavailableException``, not as load shedding).
    """
    protocol = request_protocol(scope)
    if protocol == "google":
        status, body = google_wire.error_response(exc)
        state.metrics.errors.labels("google", type(exc).__name__).inc()
        return JSONResponse(body, status_code=status, headers=_retry_after(exc))
    if protocol == "aws":
        status, name, payload = rekognition_wire.error_response(exc)
        state.metrics.errors.labels("aws", name).inc()
        headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": name}
        return JSONResponse(
            payload, status_code=status, media_type=AWS_CONTENT_TYPE, headers=headers
        )
    request = Request(scope)  # the renderers count the error on the app's state
    if protocol == "oip":
        return open_inference._error(request, exc)
    return native.error(request, exc)


def _retry_after(exc: Exception) -> dict[str, str]:
    return {"Retry-After": "1"} if isinstance(exc, ServerUnavailableError) else {}
