"""AWS Rekognition JSON 1.1: ``POST /`` dispatched on ``X-Amz-Target``.

``boto3.client("rekognition", endpoint_url="http://127.0.0.1:8080")``, or no code change at all
with ``AWS_ENDPOINT_URL_REKOGNITION=http://127.0.0.1:8080``. ``Image.S3Object`` is read from
the buckets ``[storage] allow`` lists (:mod:`.storage_inputs`); any other is refused with
``InvalidS3ObjectException``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import (
    FeatureNotAvailableError,
    LocalVisionError,
    OverloadedError,
    StorageError,
)
from ..types import AnnotateRequest, Feature, FeatureRequest
from ..wire import rekognition as wire
from .auth import verify_sigv4
from .body import ClientClosedError, read_body
from .common import (
    Caller,
    admit,
    annotate,
    caller,
    label,
    parse_json,
    release,
    require_loaded,
    server_state,
)
from .json_response import FastJSONResponse
from .state import ServerState

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
CONTENT_TYPE = "application/x-amz-json-1.1"
OPERATIONS = ("DetectLabels", "DetectFaces", "DetectText")


@router.post("/")
async def dispatch(request: Request) -> Response:
    """Answer one Rekognition operation in its JSON shape, errors as modelled exceptions."""
    request_id = str(uuid.uuid4())
    label(request, "aws", "unknown")
    state = server_state(request)
    try:
        name = wire.operation(request.headers.get("x-amz-target"), OPERATIONS)
        label(request, "aws", name)
        server = state.settings.server
        if server.aws_credentials:
            # The gate saw a known access key id, which is no secret: only the signature,
            # which covers the body, proves the caller. Verify it before this request may
            # hold a place in the queue, so unsigned senders cannot fill it.
            body = await read_body(request, server.max_body_bytes)
            verify_sigv4(
                method=request.method,
                url=str(request.url),
                headers=request.headers,
                body=body,
                credentials=server.aws_credentials,
                region=server.aws_region,
                allow_unsigned_payload=server.allow_unsigned_payload,
            )
            admit(state, request)
        else:
            admit(state, request)  # before reading the body: refusing stays cheap under load
            body = await read_body(request, server.max_body_bytes)
        handler = {"DetectLabels": detect_labels, "DetectFaces": detect_faces}.get(
            name, detect_text
        )
        payload = await handler(state, parse_json(body), caller(request), request)
        return FastJSONResponse(payload, media_type=CONTENT_TYPE, headers=_ids(request_id))
    except Exception as exc:  # every failure is answered as an AWS error
        if isinstance(exc, ClientClosedError):  # nobody is left to read an answer
            return Response(status_code=exc.status)
        status, name, payload = wire.error_response(exc)
        headers = {**_ids(request_id), "x-amzn-ErrorType": name}
        if isinstance(exc, OverloadedError):  # ThrottlingException (400): come back soon
            headers["Retry-After"] = "1"
        state.metrics.errors.labels("aws", name).inc()
        if status >= 500 and not isinstance(exc, LocalVisionError):
            request.app.state.log_exception(exc)
        return JSONResponse(payload, status_code=status, media_type=CONTENT_TYPE, headers=headers)
    finally:
        release(request)


async def detect_labels(
    state: ServerState, body: Any, who: Caller, request: Request | None = None
) -> dict[str, Any]:
    """``DetectLabels`` with the model serving labels; confidences in percent."""
    parsed = wire.parse_detect_labels(body)
    model = state.model_for(Feature.LABELS) or state.model_for(Feature.OBJECTS)
    if parsed.wants_labels and model is None:
        raise FeatureNotAvailableError(
            "DetectLabels needs a classification or detection model, and this server has none.",
            hint="Start localvision serve with --model NAME=PATH (and --labels-model NAME).",
        )
    image = await image_bytes(state, parsed.image)
    features = parsed.answerable(frozenset(state.features))
    (result,) = await annotate(
        state, [AnnotateRequest(image, features)], caller=who, request=request
    )
    if result.error is not None:
        raise result.error
    version = f"localvision:{model.name}" if model is not None else "localvision"
    return wire.detect_labels_response(result, parsed, model_version=version)


async def detect_faces(
    state: ServerState, body: Any, who: Caller, request: Request | None = None
) -> dict[str, Any]:
    """``DetectFaces`` with the built-in face detector."""
    given, feature = wire.parse_detect_faces(body)
    if state.engine is None or Feature.FACES not in state.engine.features:
        raise FeatureNotAvailableError(
            "DetectFaces needs OpenCV on this server.", hint="pip install 'localvision[faces]'"
        )
    image = await image_bytes(state, given)
    (result,) = await annotate(
        state, [AnnotateRequest(image, [feature])], caller=who, request=request
    )
    if result.error is not None:
        raise result.error
    return wire.detect_faces_response(result)


async def detect_text(
    state: ServerState, body: Any, who: Caller, request: Request | None = None
) -> dict[str, Any]:
    """``DetectText`` with the built-in OCR."""
    given, word_filter = wire.parse_detect_text(body)
    if state.engine is None or Feature.TEXT not in state.engine.features:
        raise FeatureNotAvailableError(
            "DetectText needs RapidOCR on this server.", hint="pip install 'localvision[ocr]'"
        )
    image = await image_bytes(state, given)
    (result,) = await annotate(
        state,
        [AnnotateRequest(image, [FeatureRequest(Feature.TEXT)])],
        caller=who,
        request=request,
    )
    if result.error is not None:
        raise result.error
    return wire.detect_text_response(result, word_filter)


async def image_bytes(state: ServerState, image: wire.ImageRef) -> bytes:
    """The request's image: its bytes, or the ``Image.S3Object`` read from an allowed bucket,
    at its ``Version`` when one is given (and checked to be PNG or JPEG, as Rekognition checks
    S3 objects)."""
    if isinstance(image, bytes):
        return image
    if state.storage_images is None:
        require_loaded(state)
    assert state.storage_images is not None
    try:
        data = await state.storage_images.read(image.uri, version=image.version)
    except LocalVisionError:
        raise
    except Exception as exc:  # a storage client's own error must not become a 500
        raise StorageError(f"Reading {image.uri} failed ({type(exc).__name__}: {exc}).") from exc
    return wire.check_image(data)


def _ids(request_id: str) -> dict[str, str]:
    return {"x-amzn-RequestId": request_id}
