"""Google Cloud Vision v1 REST: ``POST /v1/images:annotate`` and its ``projects/*`` forms.

The official ``google-cloud-vision`` client works unchanged with
``client_options={"api_endpoint": "http://127.0.0.1:8080"}, transport="rest"``. An
``imageUri`` (or ``gcsImageUri``) ``gs://bucket/object`` is read from the buckets
``[storage] allow`` lists (:mod:`.storage_inputs`); any other gets a per-image error.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import FeatureNotAvailableError, InvalidInputError, LocalVisionError, OverloadedError
from ..types import AnnotateRequest, AnnotateResult
from ..wire import google_vision as wire
from .auth import check_api_key
from .body import ClientClosedError, read_body
from .common import (
    NO_CALLER,
    Caller,
    admit,
    annotate,
    caller,
    label,
    parse_json,
    release,
    require_loaded,
    server_state,
    uris_to_bytes,
)
from .json_response import FastJSONResponse

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_ANNOTATE_PATHS = (
    "/v1/images:annotate",
    "/v1/projects/{project}/images:annotate",
    "/v1/projects/{project}/locations/{location}/images:annotate",
)
_UNSUPPORTED_PATHS = (
    "/v1/files:annotate",
    "/v1/images:asyncBatchAnnotate",
    "/v1/files:asyncBatchAnnotate",
)


async def batch_annotate(request: Request) -> Response:
    """``BatchAnnotateImages``: per-image results and errors, whole-request errors as Google's."""
    label(request, "google", "BatchAnnotateImages")
    state = server_state(request)
    try:
        check_api_key(request, state.settings)
        admit(state, request)  # before reading the body: refusing must stay cheap under load
        body = parse_json(await read_body(request, state.settings.server.max_body_bytes))
        int_enums = wire.wants_int_enums(request.query_params.get("$alt"))
        who = caller(request)
        return FastJSONResponse(
            await answer(state, body, int_enums=int_enums, caller=who, request=request)
        )
    except Exception as exc:  # every failure is answered in Google's error format
        return error(request, exc)
    finally:
        release(request)


async def answer(
    state: Any,
    body: Any,
    *,
    int_enums: bool = False,
    caller: Caller = NO_CALLER,
    request: Request | None = None,
) -> dict[str, Any]:
    """The response body for a parsed JSON request (shared with the gRPC service);
    ``caller``: who sent it (private images never leave this machine); ``request``: the HTTP
    request, whose images leave the queue if its client disconnects."""
    require_loaded(state)  # gRPC reaches here while models load; HTTP is refused before
    specs = wire.parse_batch_request(body)
    fetched = await uris_to_bytes(state, {i: s.uri for i, s in enumerate(specs) if s.uri})
    requests: list[AnnotateRequest] = []
    slots: list[int | LocalVisionError] = []
    for index, spec in enumerate(specs):
        image = spec.content if spec.content is not None else fetched.get(index)
        if isinstance(image, LocalVisionError):
            slots.append(image)
        elif image is None:
            slots.append(InvalidInputError("No image present.", hint="Set image.content."))
        else:  # requests asking no local feature are answered without running anything
            slots.append(len(requests))
            requests.append(AnnotateRequest(image, spec.features, name=f"requests[{index}]"))
    wanted = [r for r in requests if r.features]
    results = await annotate(state, wanted, caller=caller, request=request)
    by_request = _results_by_request(requests, results)
    responses = []
    for spec, slot in zip(specs, slots, strict=True):
        if isinstance(slot, LocalVisionError):
            responses.append(wire.image_response(None, error=slot))
            continue
        result = by_request[slot]
        # The image's own failure first; otherwise, features with no local equivalent.
        extra_error = (
            result.error
            if result is not None and result.error is not None
            else (wire.unsupported_error(spec.unsupported) if spec.unsupported else None)
        )
        responses.append(
            wire.image_response(
                result,
                error=extra_error,
                int_enums=int_enums,
                text_confidence=spec.text_confidence,
            )
        )
    return wire.batch_response(responses)


def _results_by_request(
    requests: list[AnnotateRequest], results: list[AnnotateResult]
) -> list[AnnotateResult | None]:
    ordered: list[AnnotateResult | None] = []
    answered = iter(results)
    for request in requests:
        ordered.append(next(answered) if request.features else None)
    return ordered


async def not_supported(request: Request) -> Response:
    label(request, "google", "unsupported")
    return error(
        request,
        FeatureNotAvailableError(
            f"{request.url.path} is not supported by localvision.",
            hint="Use POST /v1/images:annotate.",
        ),
    )


def error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ClientClosedError):  # nobody is left to read an answer
        return Response(status_code=exc.status)
    status, body = wire.error_response(exc)
    server_state(request).metrics.errors.labels("google", type(exc).__name__).inc()
    if status >= 500 and not isinstance(exc, LocalVisionError):
        request.app.state.log_exception(exc)
    headers = {"Retry-After": "1"} if isinstance(exc, OverloadedError) else {}
    return JSONResponse(body, status_code=status, headers=headers)


for _path in _ANNOTATE_PATHS:
    router.add_api_route(_path, batch_annotate, methods=["POST"])
for _path in _UNSUPPORTED_PATHS:
    router.add_api_route(_path, not_supported, methods=["POST"])
