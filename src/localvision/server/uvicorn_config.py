"""Running the app with uvicorn, with the connection limits of ``[server]`` applied.

``localvision serve`` and the test servers build their uvicorn server here, so both get:

* ``max_connections``: a request arriving while more connections than that are open is
  answered at once in its protocol's format ("busy", as when the queue is full) and its
  connection closed (:mod:`.http_protocol`, :mod:`.early_shed`; uvicorn's own
  ``limit_concurrency`` answered plain text);
* ``keep_alive_s``: uvicorn's ``timeout_keep_alive`` for idle kept-alive connections;
* ``read_timeout_s``: a deadline on request headers (:mod:`.http_protocol`; uvicorn has
  none) and, in the app, on request bodies (:mod:`.read_deadline`);
* a graceful shutdown that tells the app when it begins (:class:`DrainingServer`), so gRPC
  stops taking calls together with HTTP (:mod:`.shutdown`).

An app embedded in another ASGI server keeps the body deadline, the protocol-format answers
at shutdown and the lifespan's gRPC stop, which all live in the app; the header deadline and
the connection cap are the server's to provide.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.types import ASGIApp

from ..config import Settings
from .app import create_app
from .http_protocol import http_protocol
from .shutdown import DEFAULT_GRACE_S, ShutdownSignal
from .state import ServerState

__all__ = ["DrainingServer", "build_server", "uvicorn_config"]

DRAIN_S = 10
"""How long ``SIGTERM`` lets requests in flight finish before they are answered 503."""


def uvicorn_config(app: ASGIApp, settings: Settings, *, drain_s: int = DRAIN_S) -> uvicorn.Config:
    """uvicorn's Config for ``app`` with ``settings.server``'s address and connection limits;
    requests still running ``drain_s`` seconds into a graceful shutdown are cancelled."""
    server = settings.server
    return uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        http=http_protocol(server.read_timeout_s, server.max_connections),
        # uvicorn only hands this to loop.call_later, so fractions of a second work too.
        timeout_keep_alive=server.keep_alive_s,  # type: ignore[arg-type]
        timeout_graceful_shutdown=drain_s,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


class DrainingServer(uvicorn.Server):
    """uvicorn's Server, announcing a graceful shutdown to the app before it begins.

    ``load_failure``: the error of a model that could not be served while loading in the
    background (:meth:`fail` stopped the server for it); None when there was none.
    """

    def __init__(self, config: uvicorn.Config, signal: ShutdownSignal) -> None:
        super().__init__(config)
        self.shutdown_signal = signal
        self.load_failure: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        """Stop serving (gracefully, as on SIGTERM) because a model cannot be served."""
        self.load_failure = error
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Tell the app (it stops gRPC), then stop HTTP as uvicorn does."""
        grace = self.config.timeout_graceful_shutdown
        await self.shutdown_signal.begin(DEFAULT_GRACE_S if grace is None else float(grace))
        await super().shutdown(sockets=sockets)


def build_server(
    settings: Settings,
    *,
    state: ServerState | None = None,
    drain_s: int = DRAIN_S,
    load_in_background: bool = False,
) -> DrainingServer:
    """The app for ``settings`` (on ``state`` when given, already started) in a uvicorn server
    with the connection limits and shutdown of this module; ``server.run()`` serves it.

    ``load_in_background``: listen at once and load the models meanwhile (``/readyz`` says
    when they are in); a model that cannot be served stops the server, its error in
    ``server.load_failure``.
    """
    signal = ShutdownSignal()

    def failed(error: BaseException) -> None:
        server.fail(error)

    app = create_app(
        settings,
        state=state,
        shutdown=signal,
        load_in_background=load_in_background,
        on_load_failure=failed,
    )
    server = DrainingServer(uvicorn_config(app, settings, drain_s=drain_s), signal)
    return server
