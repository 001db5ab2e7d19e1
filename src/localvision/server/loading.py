"""Loading models in the background while the server already answers its probes.

``localvision serve`` listens first and loads second, so a platform sees a live process at
once (``/healthz`` 200) and an honest readiness (``/readyz`` 503 with the reason) for as long
as a download or a conversion takes; ``/readyz`` turns 200 when every model is in.

What can go wrong while loading, and what happens:

* storage cannot be reached and the model is not cached (or ``--offline`` and not cached):
  not a broken model but a missing dependency, so the server stays up and not ready, logs
  which URI and what to set, and tries again with a doubling wait (half a second up to
  ``[storage] retry_max_s``) until the store answers;
* anything else (a checksum mismatch, a corrupt or unloadable file, a wrong URI, denied
  credentials): the model must not be served, and a server without it is not the one that was
  asked for, so the error is logged and the server stops with a non-zero exit, for the
  platform to restart or show the crash. Nothing partial is ever served: the storage layer
  verifies the file before the model loads.

While models load, every protocol route answers ``503`` in its own format
(:class:`WhileLoading`); the probes, ``/metrics`` and the docs answer as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from starlette._utils import get_route_path  # what the router matches on, root_path removed
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import LocalVisionError, ServerUnavailableError, StorageUnavailableError
from .gate import ALWAYS_OPEN, METRICS_PATH
from .protocol_errors import error_response
from .state import ServerState

__all__ = ["FIRST_RETRY_S", "OPEN_WHILE_LOADING", "OnFailure", "WhileLoading", "load_in_background"]

log = logging.getLogger("localvision.server")

FIRST_RETRY_S = 0.5
"""The first wait before trying storage again; each further wait doubles, up to
``[storage] retry_max_s``."""

OnFailure = Callable[[BaseException], None]


async def load_in_background(state: ServerState, on_failure: OnFailure | None = None) -> None:
    """Load ``state``'s models on a thread until all are in, then turn it ready.

    Retries while storage is unavailable; any other failure is logged and handed to
    ``on_failure`` (the server then stops; without one the server stays not ready).
    """
    state.loading = True
    state.reason = "loading models"
    delay = FIRST_RETRY_S
    while True:
        try:
            await _on_thread(state.load_models)
            await _on_thread(state.go_live)
            return
        except StorageUnavailableError as exc:
            wait = min(delay, state.settings.storage.retry_max_s)
            state.reason = f"model {state.loading_model}: {exc.message}"
            log.warning(
                "not ready: model %s cannot be fetched, and is not cached: %s Retrying in %g s.",
                state.loading_model,
                exc,
                wait,
            )
            await asyncio.sleep(wait)
            delay = wait * 2
        except Exception as exc:
            if not state.loading:  # closed while loading: the server is stopping anyway
                return
            name = state.loading_model
            what = f"model {name}" if name else "the models"
            state.reason = f"{what} cannot be served: {_text(exc)}"
            log.error("refusing to serve %s: %s", what, _text(exc))
            if not isinstance(exc, LocalVisionError):
                log.error("loading failed", exc_info=exc)
            if on_failure is not None:
                on_failure(exc)
            return


async def _on_thread(work: Callable[[], None]) -> None:
    """Run blocking ``work`` on a daemon thread and wait for it without blocking the loop.

    Not anyio's worker threads: a download cannot be interrupted, and a server stopping
    meanwhile must not wait for it to finish before the process can exit.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            work()
        except BaseException as exc:  # handed to the waiting coroutine
            error = exc
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=run, name="lv-load-models", daemon=True).start()
    await done


def _text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LocalVisionError) else f"{type(exc).__name__}: {exc}"


OPEN_WHILE_LOADING = ALWAYS_OPEN | {
    METRICS_PATH,
    "/docs",
    "/docs/oauth2-redirect",
    "/openapi.json",
    "/v2",
    "/v2/",
}
"""What answers while models load: probes, metrics, docs, Open Inference server metadata."""


class WhileLoading:
    """ASGI middleware: while models load in the background, requests to the protocol routes
    are answered ``503`` in their protocol's format (Google ``UNAVAILABLE``, Rekognition
    ``ServiceUnavailableException``, Open Inference and native errors), with the reason."""

    def __init__(self, app: ASGIApp, *, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        if (
            scope["type"] == "http"
            and state.loading
            and get_route_path(scope) not in OPEN_WHILE_LOADING
        ):
            error = ServerUnavailableError(
                f"The server is not ready yet: {state.reason or 'loading models'}.",
                hint="Retry when /readyz answers 200.",
            )
            await error_response(scope, state, error)(scope, receive, send)
            return
        await self.app(scope, receive, send)
