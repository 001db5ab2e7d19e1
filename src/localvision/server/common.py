"""Small helpers shared by the protocol routers."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request

from ..errors import InvalidParameterError, LocalVisionError
from ..types import AnnotateRequest, AnnotateResult, FeatureRequest
from .auth import hash_key, offered_key
from .state import ServerState

__all__ = [
    "NO_CALLER",
    "Caller",
    "annotate",
    "caller",
    "key_id",
    "label",
    "parse_json",
    "server_state",
    "uris_to_bytes",
]


def server_state(request: Request) -> ServerState:
    """The app's :class:`ServerState`."""
    state: ServerState = request.app.state.localvision
    return state


def label(request: Request, protocol: str, operation: str) -> None:
    """Name the protocol and operation for the access log and metrics."""
    request.state.protocol = protocol
    request.state.operation = operation


def parse_json(body: bytes, *, what: str = "request body") -> Any:
    """Decode a JSON body, or raise an error naming what is wrong with it."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameterError(
            f"Invalid JSON payload received. The {what} is not valid JSON: {exc}."
        ) from None


async def uris_to_bytes(
    state: ServerState, uris: dict[int, str]
) -> dict[int, bytes | LocalVisionError]:
    """Fetch every image URL concurrently; each index maps to its bytes or its error."""
    out: dict[int, bytes | LocalVisionError] = {}
    if state.fetcher is None:
        return out
    fetcher = state.fetcher

    async def one(index: int, uri: str) -> None:
        try:
            out[index] = await fetcher.fetch(uri)
        except LocalVisionError as exc:
            out[index] = exc

    async with anyio.create_task_group() as group:
        for index, uri in uris.items():
            group.start_soon(one, index, uri)
    return out


@dataclass(frozen=True)
class Caller:
    """Who sent a request, as the router needs it: whether its images must stay here, and
    its key id for the audit log and key budgets (never the secret itself)."""

    private: bool = False
    key: str | None = None


NO_CALLER = Caller()


def key_id(key: str | None, *, aws: bool = False) -> str | None:
    """An offered key as it may be recorded: AWS access key ids as they are (they are not
    secrets), API keys as their ``sha256:`` hash."""
    if key is None:
        return None
    return key if aws else hash_key(key)


def caller(request: Request) -> Caller:
    """The caller of an HTTP request. Private when it sends
    ``x-localvision-sensitivity: private`` or uses a key listed in ``server.private_keys``."""
    aws = request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256")
    key = key_id(offered_key(request), aws=aws)
    private = request.headers.get("x-localvision-sensitivity", "").strip().lower() == "private"
    listed = server_state(request).settings.server.private_keys
    return Caller(private=private or (key is not None and key in listed), key=key)


async def annotate(
    state: ServerState, requests: list[AnnotateRequest], *, caller: Caller = NO_CALLER
) -> list[AnnotateResult]:
    """Run requests through the engine (or the router, when one is configured) on the
    dispatcher and count the images."""
    if not requests:
        return []
    if state.router is not None:
        assert state.dispatcher is not None
        results = await state.dispatcher.run(
            functools.partial(state.router.annotate, key=caller.key),
            requests,
            [caller.private] * len(requests),
        )
    else:
        assert state.batcher is not None
        results = await state.batcher.annotate(requests)
    for request, result in zip(requests, results, strict=True):
        outcome = "ok" if result.error is None else type(result.error).__name__
        for feature in request.features:
            state.metrics.images.labels(_feature_name(feature), outcome).inc()
    return results


def _feature_name(feature: FeatureRequest) -> str:
    return feature.feature.value
