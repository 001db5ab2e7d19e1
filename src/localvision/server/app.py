"""The ASGI app factory: every protocol mounted on one app, models loaded before ready."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp

from .. import __version__
from ..config import Settings
from . import gate, google, native, open_inference, operations, rekognition
from .access_log import AccessLog
from .early_shed import ShedWhenFull
from .google_grpc import require_grpc, start_grpc_server
from .loading import OnFailure, WhileLoading, load_in_background
from .read_deadline import ReadDeadline
from .shutdown import AnswerCancelled, GrpcStop, ShutdownSignal
from .state import ServerState

__all__ = ["create_app"]

log = logging.getLogger("localvision.server")


async def _follow_aliases(state: ServerState) -> None:
    """Check followed registry aliases every ``reload_interval_s`` and hot-swap moved ones."""
    interval = state.settings.server.reload_interval_s
    if not interval or not state.followed:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            swapped = await anyio.to_thread.run_sync(state.reload_changed)
        except Exception as exc:  # never let the watcher die silently
            log.error("checking registry aliases failed", exc_info=exc)
            continue
        for ref in swapped:
            log.info("now serving %s", ref)


async def _load_then_follow(state: ServerState, on_failure: OnFailure | None) -> None:
    """Load the models in the background, then follow registry aliases once they are in."""
    await load_in_background(state, on_failure)
    if state.ready:
        await _follow_aliases(state)


def _not_ready(state: ServerState) -> Callable[[float], Awaitable[None]]:
    """A shutdown hook turning ``/readyz`` to 503 as soon as shutdown begins."""

    async def hook(grace_s: float) -> None:
        state.ready = False

    return hook


def create_app(
    settings: Settings | None = None,
    *,
    state: ServerState | None = None,
    shutdown: ShutdownSignal | None = None,
    load_in_background: bool = False,
    on_load_failure: OnFailure | None = None,
) -> ASGIApp:
    """Build the server app for ``settings`` (models load when the app starts).

    Pass a ``state`` that is already started to skip loading (tests do, to share models).
    By default the app's startup waits for the models (an embedding server, such as a
    serverless handler, then never answers before they are in); ``load_in_background`` starts
    at once instead and loads them meanwhile (:mod:`.loading`: ``/readyz`` is 503 until they
    are in, storage that cannot be reached is retried), calling ``on_load_failure`` with the
    error when a model cannot be served.
    A ``shutdown`` signal from the server running the app (:mod:`.uvicorn_config` makes one)
    stops gRPC and readiness as soon as a graceful shutdown begins, not after HTTP drained.
    The app answers Google Cloud Vision (``/v1/images:annotate``), AWS Rekognition
    (``POST /`` with ``X-Amz-Target``), the Open Inference Protocol (``/v2/...``),
    localvision's own API (``/v1/annotate``, ``/v1/models``, docs at ``/docs``) and
    ``/healthz``, ``/readyz``, ``/metrics``. With credentials configured, every route but
    health and readiness (and ``server.public_paths``) needs them (:mod:`.gate`).
    """
    settings = settings or Settings.load()
    if settings.server.grpc_port is not None:
        require_grpc()  # a missing extra fails here, in one line, not inside the lifespan
    server_state = state or ServerState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if not server_state.ready and load_in_background:
            watcher = loop.create_task(_load_then_follow(server_state, on_load_failure))
        else:
            if not server_state.ready:
                await anyio.to_thread.run_sync(server_state.start)
            watcher = loop.create_task(_follow_aliases(server_state))
        grpc_stop = None
        if settings.server.grpc_port is not None:
            grpc_server = await start_grpc_server(
                server_state, settings.server.host, settings.server.grpc_port
            )
            grpc_stop = GrpcStop(grpc_server, shutdown)
        try:
            yield
        finally:
            watcher.cancel()
            server_state.ready = False
            if grpc_stop is not None:
                await grpc_stop.finish()
            if server_state.fetcher is not None:
                await server_state.fetcher.aclose()
            if state is None:  # we own it
                server_state.close()

    app = FastAPI(
        title="localvision",
        version=__version__,
        description="Local vision models behind Google Cloud Vision-, AWS Rekognition- and "
        "Open Inference Protocol-compatible APIs.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.localvision = server_state
    app.state.log_exception = lambda exc: log.error("unhandled error", exc_info=exc)
    app.include_router(native.router)
    app.include_router(operations.router)
    app.include_router(google.router)
    app.include_router(open_inference.router)
    app.include_router(rekognition.router)
    # The web console at /console, over this state (imported here: only an app loads it).
    from ..console import mount as mount_console
    from .console_backend import ServerConsoleBackend

    console = mount_console(app, ServerConsoleBackend(server_state))
    # Credentials are checked once, in front of every route (a new one included).
    openable = gate.openable_paths(app)
    gate.check_public_paths(settings.server, openable)
    # Models loading in the background: protocol routes answer 503 until they are in.
    app.add_middleware(WhileLoading, state=server_state)
    app.add_middleware(gate.Gate, state=server_state, openable=openable, console=console)
    # Around the routes (inside Starlette's 500 handler): request bodies have a deadline, and
    # requests cut off by a shutdown are answered in their protocol's format (outermost).
    app.add_middleware(ReadDeadline, state=server_state)
    app.add_middleware(AnswerCancelled, state=server_state)
    if shutdown is not None:
        shutdown.on_begin(_not_ready(server_state))
    # Inference requests arriving while the queue is full are refused before anything else.
    return AccessLog(ShedWhenFull(app, state=server_state), server_state.metrics)
