"""uvicorn's HTTP/1.1 protocol with a deadline on receiving a request's headers, and a cap on
open connections whose refusals the app answers in each protocol's format.

uvicorn limits how long an idle kept-alive connection stays open (``timeout_keep_alive``),
but nothing else: a connection that sends nothing, or half a request line and a few headers
(slowloris), or that resumes a kept-alive connection with a partial request, stays open for
ever. So the protocol here closes any connection whose request headers are not complete
``server.read_timeout_s`` after the connection opened (or, on a kept-alive connection, after
the next request's first byte). It closes without an answer, as nginx does: there is no
request yet to answer, and an HTTP client reports a closed connection as an error.

Why a protocol subclass. uvicorn parses headers before the app sees anything, so no ASGI
middleware can notice a request that never completes its headers; and wrapping the
transport would mean re-parsing HTTP to know where headers end. Both of uvicorn's HTTP/1.1
protocols (``h11`` and ``httptools``) create a new ``cycle`` object the moment a request's
headers are complete, so "the cycle is still the one from when the timer was armed" means
"no complete headers yet", with no parser internals involved. The deadline costs one timer
per request. The same start time goes into the request's scope (:data:`READ_STARTED`), so
:class:`~.read_deadline.ReadDeadline` gives headers and body one budget together.

The same moment (complete headers, the request's task created but not yet run) is where the
connection cap is checked: with more than ``server.max_connections`` connections open (or
requests in progress), the request's scope is marked (:data:`OVER_CAPACITY`) and the app
answers it at once, in its protocol's format, and closes the connection
(:mod:`.early_shed`). uvicorn's own cap (``limit_concurrency``) answered a plain-text 503 that
no Google or AWS client reads as "slow down".

:func:`http_protocol` picks the protocol uvicorn's ``auto`` would (``httptools`` when it is
installed, else ``h11``) with this deadline and cap added.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

from .read_deadline import READ_STARTED

__all__ = ["OVER_CAPACITY", "HeaderDeadline", "http_protocol"]

OVER_CAPACITY = "localvision.over_capacity"
"""Scope key, set (True) on a request that arrived while more connections than
``server.max_connections`` were open."""

log = logging.getLogger("localvision.server")


class HeaderDeadline(asyncio.Protocol):
    """Mixin for a uvicorn HTTP protocol: close connections whose request headers are late.

    Put it before the uvicorn protocol class in the bases; ``read_timeout_s`` is set on the
    concrete class (:func:`http_protocol`).
    """

    read_timeout_s: ClassVar[float] = 30.0
    max_connections: ClassVar[int | None] = None

    # What the mixin uses of uvicorn's protocols (both define these).
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    tasks: set[Any]

    _header_timer: asyncio.TimerHandle | None = None
    _armed_for: object = None  # the request cycle current when the timer was armed
    _armed_at: float = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A new connection has ``read_timeout_s`` to send its first request's headers."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Arm the deadline on a kept-alive connection's next request; disarm it, and note
        when the request began, once uvicorn has parsed complete headers."""
        if self._header_timer is None and self._between_requests():
            self._arm()
        super().data_received(data)
        if self._header_timer is not None and self.cycle is not self._armed_for:
            self._disarm()
            self.cycle.scope[READ_STARTED] = self._armed_at
            cap = self.max_connections
            # This request's own task is among the tasks already; its connection too.
            if cap is not None and (len(self.connections) > cap or len(self.tasks) - 1 > cap):
                self.cycle.scope[OVER_CAPACITY] = True

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline of a connection that is gone."""
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm(self) -> None:
        self._armed_for = self.cycle
        self._armed_at = self.loop.time()
        self._header_timer = self.loop.call_later(self.read_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if (
            self.cycle is self._armed_for
            and self.transport.get_protocol() is self  # not upgraded to another protocol
            and not self.transport.is_closing()
        ):
            log.info(
                "closing a connection whose request headers took over %gs", self.read_timeout_s
            )
            self.transport.close()


class H11WithHeaderDeadline(HeaderDeadline, H11Protocol):
    """uvicorn's ``h11`` protocol with :class:`HeaderDeadline`."""


def http_protocol(
    read_timeout_s: float, max_connections: int | None = None
) -> type[asyncio.Protocol]:
    """The HTTP protocol class for uvicorn's ``Config(http=...)``: ``httptools`` when it is
    installed (as uvicorn's ``auto`` chooses), else ``h11``, closing connections whose
    request headers have not all arrived within ``read_timeout_s``, and marking requests
    that arrive while more than ``max_connections`` connections are open."""
    base: type[HeaderDeadline] = H11WithHeaderDeadline
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        class HttpToolsWithHeaderDeadline(HeaderDeadline, HttpToolsProtocol):
            """uvicorn's ``httptools`` protocol with :class:`HeaderDeadline`."""

        base = HttpToolsWithHeaderDeadline
    attributes = {"read_timeout_s": read_timeout_s, "max_connections": max_connections}
    return type(base.__name__, (base,), attributes)
