"""Open Inference Protocol v2 REST (KServe, Triton): health, metadata and infer.

Each served model is exposed by name with its real input and output tensors, in JSON or with
Triton's binary tensor extension (what ``tritonclient`` sends by default, with no
Content-Type). A model also accepts, instead of its tensor, one ``BYTES`` input holding
encoded images (JPEG, PNG...), which the server decodes and pre-processes with the model's
card; in JSON those elements are base64 strings. Errors are ``{"error": "<message>"}``.

Infer requests go through the same batcher as every other protocol (:mod:`.oip_work`): one
admission bound counted in images, and at most ``server.max_images_per_request`` images per
request (a ``BYTES`` input's elements, or a tensor's batch axis).
"""

from __future__ import annotations

from collections.abc import Mapping
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
from ..imaging.decode import ImageLimits
from ..models.model import Model
from ..wire import open_inference as wire
from .batching import Ticket
from .body import ClientClosedError, read_body
from .common import admit, label, release, server_state, ticket_of, unless_disconnected
from .oip_work import EncodedImage, ImageRun, TensorRun, stack_rows
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
        admit(state, request)  # before reading the body: refusing must stay cheap under load
        body = await read_body(request, state.settings.server.max_body_bytes)
        header = request.headers.get(wire.HEADER_LENGTH)
        if header is not None and not header.isdigit():
            raise InvalidParameterError(f"{wire.HEADER_LENGTH} must be a number; got {header!r}.")
        parsed = wire.parse_request(
            body,
            int(header) if header is not None else None,
            max_bytes_elements=state.settings.server.max_images_per_request,
        )
        outputs = await unless_disconnected(
            request, _infer(state, model, parsed, ticket_of(request))
        )
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
    finally:
        release(request)
    headers = {wire.HEADER_LENGTH: str(json_length)} if json_length is not None else {}
    media = "application/octet-stream" if json_length is not None else "application/json"
    return Response(content, media_type=media, headers=headers)


async def _infer(
    state: ServerState, model: Model, parsed: wire.InferRequest, ticket: Ticket | None = None
) -> list[np.ndarray[Any, Any]]:
    """The model's outputs for a parsed request, run through the batcher: encoded images a
    batch at a time (merged with other requests' for the same model), raw tensors whole;
    ``ticket``: the place held for the request since before its body was read."""
    assert state.batcher is not None
    if len(parsed.inputs) == 1 and parsed.inputs[0].datatype == "BYTES":
        item = parsed.inputs[0]
        images = [
            EncodedImage(raw, item.name, index, base64=item.from_json)
            for index, raw in enumerate(item.data.ravel())
        ]
        if not images:
            raise InvalidParameterError(f"Input {item.name!r} holds no images.")
        limits = ImageLimits(state.settings.max_image_bytes, state.settings.max_image_pixels)
        run = ImageRun(model, limits, state.settings.batch_size)
        answers = await state.batcher.submit(images, run=run, key=("oip", id(model)), ticket=ticket)
        return stack_rows(answers)
    feeds = _feeds(model, parsed)
    count = _batch_axis(feeds, state.settings.server.max_images_per_request)
    (outputs,) = await state.batcher.submit(
        [feeds], run=TensorRun(model), unit=count, ticket=ticket
    )
    result: list[np.ndarray[Any, Any]] = outputs
    return result


def _batch_axis(feeds: Mapping[str, np.ndarray[Any, Any]], most: int) -> int:
    """Images in raw tensors (their longest first axis), refused past ``most``."""
    images = max((array.shape[0] for array in feeds.values() if array.ndim), default=1)
    if images > most:
        raise InvalidParameterError(
            f"The tensors hold a batch of {images} images; at most {most} are allowed per request.",
            hint="Split the batch into several requests.",
        )
    return max(1, images)


def _feeds(model: Model, parsed: wire.InferRequest) -> dict[str, np.ndarray[Any, Any]]:
    """Raw input tensors checked against the model's inputs: names, datatypes, shapes."""
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
    return feeds


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
    if isinstance(exc, ClientClosedError):  # nobody is left to read an answer
        return Response(status_code=exc.status)
    status = http_status(exc)
    message = str(exc) if isinstance(exc, LocalVisionError) else "Internal server error."
    server_state(request).metrics.errors.labels("oip", type(exc).__name__).inc()
    if status >= 500 and not isinstance(exc, LocalVisionError):
        request.app.state.log_exception(exc)
    headers = {"Retry-After": "1"} if isinstance(exc, OverloadedError) else {}
    return JSONResponse({"error": message}, status_code=status, headers=headers)
