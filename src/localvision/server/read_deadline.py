"""A deadline on reading request bodies, so a stalled upload cannot hold a request forever.

uvicorn hands the app the body as it arrives and waits for the rest without limit: a client
that declares ``Content-Length: 100`` and sends 10 bytes, or stops in the middle of a chunked
body, kept its request (and a worker waiting on ``receive``) open indefinitely. This ASGI
middleware gives the body until ``server.read_timeout_s`` after the request began (when the
HTTP protocol in :mod:`.http_protocol` says when its first byte arrived, otherwise from when
the app got the request) and then fails the read with :class:`RequestBodyTimeoutError`, which
every route renders in its protocol's error format (408 for native and Open Inference;
Google's and AWS's error models have no 408, so they answer their "invalid argument" 400).

It also marks ``Connection: close`` on any response that starts before the request body has
been read to its end (a timed-out body, a refusal sent without reading the upload): the rest
of that body is never wanted, so the connection is not kept alive to drain it.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidInputError
from .protocol_errors import error_response
from .state import ServerState

__all__ = ["READ_STARTED", "ReadDeadline", "RequestBodyTimeoutError"]

READ_STARTED = "localvision.read_started"
"""Scope key: the event loop time at which the request's first byte was awaited (set by the
HTTP protocol of :mod:`.http_protocol`; absent when another server runs the app)."""


class RequestBodyTimeoutError(InvalidInputError):
    """The request body did not arrive within ``server.read_timeout_s``."""

    status = 408
    code = "request_timeout"


class ReadDeadline:
    """ASGI middleware: the request body must be in by ``server.read_timeout_s``.

    The setting is read from the server state on every request, so it may change while the
    app runs (tests do).
    """

    def __init__(self, app: ASGIApp, *, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        limit = self.state.settings.server.read_timeout_s
        started = scope.get(READ_STARTED)
        deadline = (started if isinstance(started, float) else loop.time()) + limit
        body_done = not _has_body(scope)
        response_started = False

        async def receive_in_time() -> Message:
            nonlocal body_done
            if body_done:  # only a disconnect is left to hear about: no deadline on that
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestBodyTimeoutError(
                    f"The request body did not arrive within {limit:g} s.",
                    hint="Send the whole body at once, or raise server.read_timeout_s.",
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_closing(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                if not body_done:
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() != b"connection"
                    ]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_closing)
        except RequestBodyTimeoutError as exc:  # a route that let it through unanswered
            if response_started:
                raise
            await error_response(scope, self.state, exc)(scope, receive_in_time, send_closing)


def _has_body(scope: Scope) -> bool:
    """Whether the request declares a body: a non-zero ``Content-Length`` or any
    ``Transfer-Encoding`` (chunked)."""
    for name, value in scope.get("headers", []):
        key = name.lower()
        if key == b"transfer-encoding" or (key == b"content-length" and value.strip() != b"0"):
            return True
    return False
