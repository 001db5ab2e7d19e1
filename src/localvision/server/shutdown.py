"""Graceful shutdown: every protocol stops together, and cut-off requests hear why.

Two things went wrong on ``SIGTERM``. uvicorn cancels the requests still running when its
drain limit (``timeout_graceful_shutdown``) runs out and answers each with a plain-text 500;
:class:`AnswerCancelled` answers them instead, in their protocol's format, with
``503 UNAVAILABLE`` (:class:`~localvision.errors.ServerUnavailableError`). And the gRPC server
was stopped by the app's lifespan, which uvicorn runs only after HTTP has drained, so gRPC
accepted new calls for seconds after HTTP had stopped: :class:`ShutdownSignal` lets the HTTP
server (:class:`~.uvicorn_config.DrainingServer`) tell the app the moment shutdown begins, and
:class:`GrpcStop` then stops gRPC from taking new calls at once, giving the calls in flight the
same grace as HTTP requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ServerUnavailableError
from .protocol_errors import error_response
from .state import ServerState

__all__ = ["DEFAULT_GRACE_S", "AnswerCancelled", "GrpcStop", "ShutdownSignal"]

log = logging.getLogger("localvision.server")

DEFAULT_GRACE_S = 5.0
"""How long gRPC calls in flight may finish when nothing says how long HTTP requests may."""

Hook = Callable[[float], Awaitable[None]]


class ShutdownSignal:
    """A notice from the HTTP server to the app: a graceful shutdown has begun.

    The app subscribes hooks when it starts (:meth:`on_begin`); the server calls
    :meth:`begin` with its drain limit before it stops accepting connections. An app run by a
    server that never calls it still stops everything in its lifespan's shutdown, only later.
    """

    def __init__(self) -> None:
        self._hooks: list[Hook] = []
        self.begun = False

    def on_begin(self, hook: Hook) -> None:
        """Call ``hook(grace_s)`` when shutdown begins."""
        self._hooks.append(hook)

    async def begin(self, grace_s: float) -> None:
        """Run every hook, once; a failing hook is logged and does not stop the others."""
        if self.begun:
            return
        self.begun = True
        for hook in self._hooks:
            try:
                await hook(grace_s)
            except Exception as exc:  # the shutdown itself must go on
                log.error("a shutdown hook failed", exc_info=exc)


class GrpcStop:
    """Stops a ``grpc.aio`` server: when shutdown begins if a :class:`ShutdownSignal` says so,
    at the latest when the app's lifespan ends (:meth:`finish`).

    ``grpc.aio.Server.stop`` refuses new calls at once and waits up to its grace for the calls
    in flight; it is idempotent, so an early stop and the final wait never conflict.
    """

    def __init__(
        self, server: Any, signal: ShutdownSignal | None, *, grace_s: float = DEFAULT_GRACE_S
    ) -> None:
        self.server = server
        self.grace_s = grace_s
        self._stopping: asyncio.Task[None] | None = None
        if signal is not None:
            signal.on_begin(self.begin)

    async def begin(self, grace_s: float) -> None:
        """Stop taking new calls now; those in flight get ``grace_s`` (HTTP's drain limit)."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self.server.stop(grace_s))
            await asyncio.sleep(0)  # let stop() start: from then on new calls are refused

    async def finish(self) -> None:
        """Wait for the stop begun by :meth:`begin`, or stop now with the default grace."""
        if self._stopping is None:
            await self.server.stop(self.grace_s)
        else:
            await self._stopping


class AnswerCancelled:
    """ASGI middleware: a request cancelled before its response began is answered 503.

    uvicorn cancels the requests still running at the end of a graceful shutdown's drain
    limit, and nothing else cancels a request's task, so the answer says the server is
    shutting down. The cancellation is consumed once answered: the task was ending anyway,
    and letting it propagate would only make uvicorn log a traceback and close the connection
    it has just answered on. A request whose response had already begun cannot be answered
    again; its cancellation propagates.
    """

    def __init__(self, app: ASGIApp, *, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if response_started:
                raise
            error = ServerUnavailableError(
                "The server is shutting down and stopped this request before it finished.",
                hint="Retry it: a restarted or another server will answer.",
            )
            response = error_response(scope, self.state, error)
            response.headers["connection"] = "close"
            log.warning("answered %s %s with 503: shutting down", scope["method"], scope["path"])
            await response(scope, receive, send)
