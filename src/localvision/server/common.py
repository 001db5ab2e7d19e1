"""Small helpers shared by the protocol routers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from starlette.requests import Request

from ..errors import (
    ImageFetchError,
    InvalidParameterError,
    LocalVisionError,
    ServerUnavailableError,
)
from ..types import AnnotateRequest, AnnotateResult, FeatureRequest
from ..wire import codec
from .auth import hash_key, offered_key
from .batching import Ticket
from .body import ClientClosedError
from .state import ServerState
from .storage_inputs import names_storage_object

__all__ = [
    "NO_CALLER",
    "Caller",
    "admit",
    "annotate",
    "caller",
    "key_id",
    "label",
    "parse_json",
    "release",
    "require_loaded",
    "server_state",
    "ticket_of",
    "unless_disconnected",
    "uris_to_bytes",
]

T = TypeVar("T")


def server_state(request: Request) -> ServerState:
    """The app's :class:`ServerState`."""
    state: ServerState = request.app.state.localvision
    return state


def label(request: Request, protocol: str, operation: str) -> None:
    """Name the protocol and operation for the access log and metrics."""
    request.state.protocol = protocol
    request.state.operation = operation


def parse_json(body: bytes, *, what: str = "request body") -> Any:
    """Decode a JSON body, or raise an error naming what is wrong with it.

    Nesting deeper than 1,024 levels (``[[[[...`` 100,000 deep) is the caller's error, not the
    server's: :mod:`~localvision.wire.codec` refuses it like any other malformed JSON.
    """
    try:
        return codec.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidParameterError(
            f"Invalid JSON payload received. The {what} is not valid JSON: {exc}."
        ) from None


def admit(state: ServerState, request: Request) -> None:
    """Hold a place in the queue for ``request`` before its body is read, or refuse it with
    :class:`~localvision.errors.OverloadedError` when there is none.

    Shedding then costs almost nothing, so a flood of requests the server cannot take does not
    eat the time of those it can; and a request that got a place keeps it while its body is
    read and parsed, instead of racing the others for it. :func:`annotate` hands the place to
    the request's images; the route calls :func:`release` when it ends, whatever happened.
    """
    if state.batcher is not None:
        request.state.ticket = state.batcher.admit()


def release(request: Request) -> None:
    """Give back the place :func:`admit` held, if the request never used it (safe to repeat)."""
    ticket = ticket_of(request)
    if ticket is not None:
        ticket.release()


def ticket_of(request: Request | None) -> Ticket | None:
    """The place :func:`admit` holds for ``request``, if any."""
    ticket = getattr(request.state, "ticket", None) if request is not None else None
    return ticket if isinstance(ticket, Ticket) else None


async def unless_disconnected(request: Request | None, work: Awaitable[T]) -> T:
    """Await ``work`` unless the client disconnects first.

    Once the body has been read, the next ASGI message a request can receive is
    ``http.disconnect``; when it comes before ``work`` is done, ``work`` is cancelled (the
    batcher then takes its images off the queue) and :class:`ClientClosedError` is raised.
    """
    if request is None:
        return await work
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
    if not task.done() or task.cancelled():
        raise ClientClosedError("The client went away before its answer was ready.")
    return task.result()


async def _disconnected(request: Request) -> None:
    """Return when the client disconnects; wait (until cancelled) when that cannot be told."""
    try:
        while (await request.receive())["type"] != "http.disconnect":
            pass
    except Exception:  # a receive that fails says nothing about the client: never report it gone
        await asyncio.get_running_loop().create_future()


def require_loaded(state: ServerState) -> None:
    """Refuse work with :class:`ServerUnavailableError` (503) while the models are still
    loading (or once they are closed): there is nothing to run it on yet.

    HTTP routes are refused before they run (:mod:`.loading`); this covers gRPC and anything
    else that reaches the engine another way.
    """
    if state.batcher is None:
        raise ServerUnavailableError(
            f"The server is not ready: {state.reason or 'its models are not loaded'}.",
            hint="Retry when /readyz answers 200.",
        )


async def uris_to_bytes(
    state: ServerState, uris: dict[int, str]
) -> dict[int, bytes | LocalVisionError]:
    """Fetch every image URL concurrently; each index maps to its bytes or its error.

    Storage URIs (``gs://bucket/cat.jpg``, ``s3://...``) are read from ``[storage]``'s
    allow-listed buckets (:mod:`.storage_inputs`), http(s) URLs by the SSRF-guarded fetcher.
    """
    out: dict[int, bytes | LocalVisionError] = {}
    if state.fetcher is None or not uris:  # nothing to wait for: no await, no task group
        return out
    fetcher, objects = state.fetcher, state.storage_images

    async def one(index: int, uri: str) -> None:
        try:
            if objects is not None and names_storage_object(uri):
                out[index] = await objects.read(uri)
            else:
                out[index] = await fetcher.fetch(uri)
        except LocalVisionError as exc:
            out[index] = exc
        except Exception as exc:  # one URL must not fail the request's other images
            out[index] = ImageFetchError(f"Fetching the image failed ({type(exc).__name__}).")

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
    state: ServerState,
    requests: list[AnnotateRequest],
    *,
    caller: Caller = NO_CALLER,
    request: Request | None = None,
) -> list[AnnotateResult]:
    """Run requests through the batcher on the engine (or the router, when one is configured)
    and count the images. With the HTTP ``request``, a client that disconnects while its
    images wait takes them off the queue (:class:`ClientClosedError`)."""
    ticket = ticket_of(request)
    if not requests:
        if ticket is not None:
            ticket.release()
        return []
    require_loaded(state)
    assert state.batcher is not None
    if state.router is not None:
        work = state.batcher.submit(
            requests,
            run=_Routed(state, caller),
            key=("router", caller.key, caller.private),
            ticket=ticket,
        )
    else:
        work = state.batcher.annotate(requests, ticket=ticket)
    results: list[AnnotateResult] = await unless_disconnected(request, work)
    for asked, result in zip(requests, results, strict=True):
        outcome = "ok" if result.error is None else type(result.error).__name__
        for feature in asked.features:
            state.metrics.images.labels(_feature_name(feature), outcome).inc()
    return results


def _feature_name(feature: FeatureRequest) -> str:
    return feature.feature.value


class _Routed:
    """Runs merged calls of one caller through the router (on a worker thread)."""

    def __init__(self, state: ServerState, caller: Caller) -> None:
        self.state = state
        self.caller = caller

    def __call__(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        router = self.state.router
        assert router is not None
        return router.annotate(requests, [self.caller.private] * len(requests), key=self.caller.key)
