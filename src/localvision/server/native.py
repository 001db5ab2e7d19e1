"""localvision's own REST API: ``POST /v1/annotate`` and ``GET /v1/models``.

``/v1/annotate`` takes either a multipart upload (one or more ``image`` files, and optional
``features`` and ``max_results`` form fields) or JSON::

    {"images": [{"content": "<base64>"} | {"uri": "https://..."}],
     "features": ["labels"], "max_results": 5}

and answers ``{"results": [...]}``, one entry per image in the shape of
``localvision annotate --json``. Errors are ``{"error": {"type", "code", "message", "hint"}}``.
"""

from __future__ import annotations

import binascii
import reprlib
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import InvalidParameterError, LocalVisionError, OverloadedError, http_status
from ..types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest
from ..wire import codec
from .body import ClientClosedError, read_body
from .common import (
    admit,
    annotate,
    caller,
    label,
    parse_json,
    release,
    server_state,
    uris_to_bytes,
)
from .json_response import FastJSONResponse

__all__ = ["router"]

router = APIRouter(tags=["localvision"])

_ANNOTATE_DOC = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "images": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "content": {"type": "string", "format": "byte"},
                                    "uri": {"type": "string"},
                                },
                            },
                        },
                        "features": {"type": "array", "items": {"type": "string"}},
                        "max_results": {"type": "integer", "minimum": 1},
                    },
                    "required": ["images"],
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "features": {"type": "string", "example": "labels"},
                        "max_results": {"type": "integer"},
                    },
                    "required": ["image"],
                }
            },
        }
    }
}


@router.post("/v1/annotate", openapi_extra=_ANNOTATE_DOC, summary="Annotate images")
async def annotate_images(request: Request) -> Response:
    """Annotate uploaded or referenced images with the requested features."""
    label(request, "native", "annotate")
    state = server_state(request)
    try:  # credentials were checked by the gate in front of every route (gate.py)
        admit(state, request)  # before reading the body: refusing must stay cheap under load
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            names, images, features, max_results = await _from_form(request)
        else:
            body = parse_json(await read_body(request, state.settings.server.max_body_bytes))
            names, images, features, max_results = await _from_json(state, body)
        wanted = [FeatureRequest(f, max_results=max_results) for f in features]
        requests = [
            AnnotateRequest(image, wanted, name=name)
            for name, image in zip(names, images, strict=True)
            if not isinstance(image, LocalVisionError)
        ]
        results = iter(await annotate(state, requests, caller=caller(request), request=request))
        out: list[dict[str, Any]] = []
        for name, image in zip(names, images, strict=True):
            result = (
                AnnotateResult(name=name, error=image)
                if isinstance(image, LocalVisionError)
                else next(results)
            )
            out.append(result.to_dict())
        return FastJSONResponse({"results": out})
    except Exception as exc:  # every failure is answered in the native error format
        return error(request, exc)
    finally:
        release(request)


@router.get("/v1/models", summary="List served models")
async def list_models(request: Request) -> Response:
    """Served models, their formats, cards and the features they answer."""
    label(request, "native", "models")
    state = server_state(request)
    answers: dict[str, list[str]] = {}
    for feature, name in state.features.items():
        answers.setdefault(name, []).append(feature.value)
    models = [
        {
            "name": name,
            "format": model.format.name,
            "sha256": model.sha256,
            "device": model.runtime.device,
            "features": answers.get(name, []),
            "card": model.card.to_dict(),
        }
        for name, model in state.models.items()
    ]
    return JSONResponse({"models": models})


async def _from_form(
    request: Request,
) -> tuple[list[str], list[bytes | LocalVisionError], list[Feature], int | None]:
    state = server_state(request)
    # Read (and size-limit) the whole body first, chunked uploads included; Starlette then
    # parses the form from the body it has cached.
    request._body = await read_body(request, state.settings.server.max_body_bytes)
    most = state.settings.server.max_images_per_request
    try:
        form = await request.form(max_files=most, max_fields=16)
    except (HTTPException, MultiPartException) as exc:  # Starlette's 400: bad boundary, too many
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise InvalidParameterError(
            f"The multipart body cannot be read: {detail}",
            hint=f"Send at most {most} files in the 'image' field, in well-formed multipart.",
        ) from None
    try:  # the uploads are spooled temporary files: close them whatever happens
        files = [f for f in form.getlist("image") if isinstance(f, UploadFile)]
        if not files:
            raise InvalidParameterError("Upload at least one file in the 'image' field.")
        _check_count(len(files), most)
        names = [f.filename or f"image[{i}]" for i, f in enumerate(files)]
        images: list[bytes | LocalVisionError] = [await f.read() for f in files]
        raw_features = form.get("features")
        features = _features(str(raw_features).split(",") if raw_features else ["labels"])
        return names, images, features, _max_results(form.get("max_results"))
    finally:
        await form.close()


async def _from_json(
    state: Any, body: Any
) -> tuple[list[str], list[bytes | LocalVisionError], list[Feature], int | None]:
    if not isinstance(body, dict) or not isinstance(body.get("images"), list) or not body["images"]:
        raise InvalidParameterError("The body needs a non-empty 'images' list.")
    _check_count(len(body["images"]), state.settings.server.max_images_per_request)
    names: list[str] = []
    images: list[bytes | LocalVisionError] = []
    uris: dict[int, str] = {}
    for index, item in enumerate(body["images"]):
        names.append(f"images[{index}]")
        if not isinstance(item, dict):
            raise InvalidParameterError(f"images[{index}] must be an object.")
        if isinstance(item.get("content"), str):
            try:
                images.append(codec.b64decode(item["content"]))
            except (binascii.Error, ValueError):
                raise InvalidParameterError(
                    f"images[{index}].content is not valid base64."
                ) from None
        elif isinstance(item.get("uri"), str):
            uris[index] = item["uri"]
            images.append(b"")
        else:
            raise InvalidParameterError(f"images[{index}] needs 'content' (base64) or 'uri'.")
    for index, fetched in (await uris_to_bytes(state, uris)).items():
        images[index] = fetched
    features = _features(body.get("features") or ["labels"])
    return names, images, features, _max_results(body.get("max_results"))


def _check_count(count: int, most: int) -> None:
    """Refuse a request of more than ``most`` images before decoding any of them."""
    if count > most:
        raise InvalidParameterError(
            f"At most {most} images are allowed per request; got {count}.",
            hint="Split the batch into several requests, or raise server.max_images_per_request.",
        )


def _features(values: Any) -> list[Feature]:
    if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
        raise InvalidParameterError("'features' must be a list of feature names.")
    try:
        parsed = [Feature.parse(str(v)) for v in values if str(v).strip()]
    except ValueError as exc:
        raise InvalidParameterError(str(exc)) from None
    return list(dict.fromkeys(parsed)) or [Feature.LABELS]


def _max_results(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, int | str):
            raise ValueError
        number = int(str(value))
    except ValueError:
        raise InvalidParameterError(
            f"'max_results' must be an integer; got {reprlib.repr(value)}."
        ) from None
    if not 1 <= number <= 1000:
        raise InvalidParameterError(f"'max_results' must be in [1, 1000]; got {number}.")
    return number


def error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ClientClosedError):  # nobody is left to read an answer
        return Response(status_code=exc.status)
    status = http_status(exc)
    if isinstance(exc, LocalVisionError):
        body: dict[str, Any] = {
            "type": type(exc).__name__,
            "code": exc.code,
            "message": exc.message,
        }
        if exc.hint:
            body["hint"] = exc.hint
    else:
        body = {"type": "InternalError", "code": "internal", "message": "Internal server error."}
        request.app.state.log_exception(exc)
    server_state(request).metrics.errors.labels("native", body["type"]).inc()
    headers = {"Retry-After": "1"} if isinstance(exc, OverloadedError) else {}
    return JSONResponse({"error": body}, status_code=status, headers=headers)
