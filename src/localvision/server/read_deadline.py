"""A deadline on reading request bodies, so a stalled upload cannot hold a request forever.

uvicorn hands the app the body as it arrives and waits for the rest without limit: a client
that declares ``Content-Length: 100`` and sends 10 bytes, or stops in the middle of a chunked
body, kept its request (and a worker waiting on ``receive``) open indefinitely. This ASGI
middleware gives the body until ``server.read_timeout_s`` after the request began (when the
HTTP protocol in :mod:`.http_protocol` says when its first byte arrived, otherwise from when
the app got the request) and then fails the read with :class:`RequestBodyTimeoutError`, which
every route renders in its protocol's error format (408 for native and Open Inference;
Google's and AWS's error models have no 408, so they answer their "invalid argument" 400).

A response to a body that timed out closes the connection (``Connection: close``): that client
is too slow to wait for. A refusal sent without reading the upload closes it unless the rest is
sure to come and small (:func:`closes_unread`): it closes for a chunked body, a declared body
over :data:`DRAIN_LIMIT`, and a client waiting for ``100 Continue`` (it was never sent, so
that client may never send its body, and the next request would be read as body). A smaller
rest is cheaper to let through than to make the client reconnect: uvicorn's HTTP protocols
parse and drop body bytes that arrive after the response, and the next request on the
connection is served as usual. While that rest arrives the connection is held by the header
deadline of :mod:`.http_protocol` (``server.read_timeout_s`` from the first dropped byte, for
the rest and the next request's headers together), and one that sends nothing more by
``server.keep_alive_s``.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidInputError
from .protocol_errors import error_response
from .state import ServerState

__all__ = [
    "DRAIN_LIMIT",
    "READ_STARTED",
    "ReadDeadline",
    "RequestBodyTimeoutError",
    "closes_unread",
]

DRAIN_LIMIT = 1024 * 1024
"""Largest declared body whose unread rest is let through after an early answer, keeping the
connection open, rather than closing it."""

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
        response_started = timed_out = False

        async def receive_in_time() -> Message:
            nonlocal body_done, timed_out
            if body_done:  # only a disconnect is left to hear about: no deadline on that
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
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
                if not body_done and (timed_out or closes_unread(scope)):
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


def closes_unread(scope: Scope) -> bool:
    """Whether an answer sent before this request's body was read should close the connection:
    the body is chunked, declared larger than :data:`DRAIN_LIMIT`, or held back until the
    server says ``100 Continue``."""
    small = True
    for name, value in scope.get("headers", []):
        key = name.lower()
        if key == b"transfer-encoding" or (key == b"expect" and value.lower() == b"100-continue"):
            return True
        if key == b"content-length":
            try:
                small = int(value) <= DRAIN_LIMIT
            except ValueError:
                return True
    return not small


def _has_body(scope: Scope) -> bool:
    """Whether the request declares a body: a non-zero ``Content-Length`` or any
    ``Transfer-Encoding`` (chunked)."""
    for name, value in scope.get("headers", []):
        key = name.lower()
        if key == b"transfer-encoding" or (key == b"content-length" and value.strip() != b"0"):
            return True
    return False
