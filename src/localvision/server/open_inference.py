"""Open Inference Protocol v2 REST (KServe, Triton): health, metadata and infer.

Each served model is exposed by name with its real input and output tensors, in JSON or with
Triton's binary tensor extension (what ``tritonclient`` sends by default, with no
Content-Type). A model also accepts, instead of its tensor, one ``BYTES`` input holding
encoded images (JPEG, PNG...), which the server decodes and pre-processes with the model's
card; in JSON those elements are base64 strings. Errors are ``{"error": "<message>"}``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import __version__
from ..errors import (
    InvalidParameterError,
    LocalVisionError,
    ModelNotFoundError,
    OverloadedError,
    http_status,
)
from ..imaging.decode import ImageLimits, decode_image
from ..models.model import Model
from ..models.preprocess import min_side_needed, to_tensor
from ..wire import open_inference as wire
from .body import read_body
from .common import label, server_state
from .state import ServerState

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
VERSION = "1"
EXTENSIONS = ["binary_tensor_data"]
_PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "tflite": "tensorflow_lite",
}


@router.get("/v2/health/live")
async def live(request: Request) -> Response:
    label(request, "oip", "live")
    return JSONResponse({"live": True})


@router.get("/v2/health/ready")
async def ready(request: Request) -> Response:
    label(request, "oip", "ready")
    is_ready = server_state(request).ready
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("/v2")
@router.get("/v2/")
async def server_metadata(request: Request) -> Response:
    label(request, "oip", "server_metadata")
    return JSONResponse({"name": "localvision", "version": __version__, "extensions": EXTENSIONS})


@router.get("/v2/models/{name}")
@router.get("/v2/models/{name}/versions/{version}")
async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
    label(request, "oip", "model_metadata")
    try:
        model = _model(server_state(request), name, version)
    except LocalVisionError as exc:
        return _error(request, exc)
    return JSONResponse(
        {
            "name": model.name,
            "versions": [VERSION],
            "platform": _PLATFORMS.get(model.format.name, "onnxruntime_onnx"),
            "inputs": [_tensor_metadata(t.name, t.dtype, t.shape) for t in model.runtime.inputs],
            "outputs": [
                _tensor_metadata(
                    t.name, np.dtype(np.float32) if t.quantization else t.dtype, t.shape
                )
                for t in model.runtime.outputs
            ],
        }
    )


@router.get("/v2/models/{name}/ready")
@router.get("/v2/models/{name}/versions/{version}/ready")
async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
    label(request, "oip", "model_ready")
    state = server_state(request)
    try:
        _model(state, name, version)
    except LocalVisionError as exc:
        return _error(request, exc)
    return JSONResponse(
        {"name": name, "ready": state.ready}, status_code=200 if state.ready else 503
    )


@router.post("/v2/models/{name}/infer")
@router.post("/v2/models/{name}/versions/{version}/infer")
async def infer(request: Request, name: str, version: str | None = None) -> Response:
    label(request, "oip", "infer")
    state = server_state(request)
    try:
        model = _model(state, name, version)
        body = await read_body(request, state.settings.server.max_body_bytes)
        header = request.headers.get(wire.HEADER_LENGTH)
        if header is not None and not header.isdigit():
            raise InvalidParameterError(f"{wire.HEADER_LENGTH} must be a number; got {header!r}.")
        parsed = wire.parse_request(body, int(header) if header is not None else None)
        assert state.dispatcher is not None
        outputs = await state.dispatcher.run(_run, state, model, parsed)
        selected = _select_outputs(model, outputs, parsed)
        binary = {
            n: (flag if flag is not None else parsed.binary_output)
            for n, flag in ((n, (parsed.outputs or {}).get(n)) for n, _ in selected)
        }
        content, json_length = wire.encode_response(
            model_name=model.name,
            model_version=VERSION,
            request_id=parsed.id,
            outputs=selected,
            binary=binary,
        )
    except Exception as exc:  # every failure is answered as {"error": ...}
        return _error(request, exc)
    headers = {wire.HEADER_LENGTH: str(json_length)} if json_length is not None else {}
    media = "application/octet-stream" if json_length is not None else "application/json"
    return Response(content, media_type=media, headers=headers)


def _run(state: ServerState, model: Model, parsed: wire.InferRequest) -> list[np.ndarray[Any, Any]]:
    """Run on a worker thread: encoded images or raw tensors in, the model's outputs out."""
    if len(parsed.inputs) == 1 and parsed.inputs[0].datatype == "BYTES":
        batch = _images_to_batch(state, model, parsed.inputs[0])
        return model.runtime.run({model.input.name: batch})
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    expected = {t.name: t for t in model.runtime.inputs}
    for item in parsed.inputs:
        spec = expected.get(item.name)
        if spec is None:
            raise InvalidParameterError(
                f"Model {model.name!r} has no input {item.name!r}; inputs: {', '.join(expected)}."
            )
        want = wire.datatype_of(spec.dtype)
        if item.datatype != want:
            raise InvalidParameterError(
                f"Input {item.name!r} of model {model.name!r} takes {want}; got {item.datatype}."
            )
        if len(item.shape) != len(spec.shape) or any(
            d is not None and d != got for d, got in zip(spec.shape, item.shape, strict=False)
        ):
            shape = [d if d is not None else -1 for d in spec.shape]
            raise InvalidParameterError(
                f"Input {item.name!r} of model {model.name!r} has shape {shape}; "
                f"got {list(item.shape)}."
            )
        feeds[item.name] = item.data
    missing = set(expected) - set(feeds)
    if missing:
        raise InvalidParameterError(
            f"Missing inputs for {model.name!r}: {', '.join(sorted(missing))}."
        )
    return model.runtime.run(feeds)


def _images_to_batch(
    state: ServerState, model: Model, item: wire.InferInput
) -> np.ndarray[Any, Any]:
    limits = ImageLimits(state.settings.max_image_bytes, state.settings.max_image_pixels)
    tensors = []
    for index, raw in enumerate(item.data.ravel()):
        data = _base64(raw, item.name, index) if item.from_json else raw
        image = decode_image(
            data, limits=limits, min_side=min_side_needed(model.card), name=f"{item.name}[{index}]"
        )
        tensors.append(to_tensor(image, model.card, model.input, model.channels))
    if not tensors:
        raise InvalidParameterError(f"Input {item.name!r} holds no images.")
    return np.stack(tensors)


def _base64(raw: bytes, name: str, index: int) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterError(
            f"Input {name!r}[{index}]: in JSON, encoded images must be base64 strings."
        ) from None


def _select_outputs(
    model: Model, outputs: list[np.ndarray[Any, Any]], parsed: wire.InferRequest
) -> list[tuple[str, np.ndarray[Any, Any]]]:
    named = [(spec.name, array) for spec, array in zip(model.runtime.outputs, outputs, strict=True)]
    if parsed.outputs is None:
        return named
    available = dict(named)
    unknown = [n for n in parsed.outputs if n not in available]
    if unknown:
        raise InvalidParameterError(
            f"Model {model.name!r} has no output {unknown[0]!r}; outputs: {', '.join(available)}."
        )
    return [(n, available[n]) for n in parsed.outputs]


def _model(state: ServerState, name: str, version: str | None) -> Model:
    model = state.models.get(name)
    if model is None:
        raise ModelNotFoundError(
            f"Model {name!r} is not served; served: {', '.join(state.models) or 'none'}."
        )
    if version not in (None, "", VERSION):
        raise ModelNotFoundError(f"Model {name!r} has no version {version!r}; it has {VERSION!r}.")
    return model


def _tensor_metadata(
    name: str, dtype: np.dtype[Any], shape: tuple[int | None, ...]
) -> dict[str, Any]:
    return {
        "name": name,
        "datatype": wire.datatype_of(dtype),
        "shape": [d if d is not None else -1 for d in shape],
    }


def _error(request: Request, exc: Exception) -> Response:
    status = http_status(exc)
    message = str(exc) if isinstance(exc, LocalVisionError) else "Internal server error."
    server_state(request).metrics.errors.labels("oip", type(exc).__name__).inc()
    if status >= 500 and not isinstance(exc, LocalVisionError):
        request.app.state.log_exception(exc)
    headers = {"Retry-After": "1"} if isinstance(exc, OverloadedError) else {}
    return JSONResponse({"error": message}, status_code=status, headers=headers)
