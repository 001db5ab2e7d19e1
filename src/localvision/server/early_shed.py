"""Refusing inference requests while the queue is full, before the app does any work for them.

Under overload most requests are refused, so what a refusal costs decides how much of the
machine is left for the requests that are served. A refusal that went the usual way (body
deadline, credentials, routing, FastAPI's dependency solving, the route's own admission check)
cost about 300 µs of CPU and closed the connection, so every refused client also paid for a new
one; at ten times capacity that took a core of the two on the benchmark machine, and goodput
fell to 41 % of capacity (``benchmarks/overload.py``).

:class:`ShedWhenFull` sits just inside the access log (sheds are still counted and logged) and
answers an inference request at once, in its protocol's format, when the batcher has no place
for another image: Google ``429 RESOURCE_EXHAUSTED`` and Rekognition ``ThrottlingException``
(HTTP 400), Open Inference and native ``503``, each with ``Retry-After``. Nothing of the body is
read, and the answer is rendered once per protocol and then sent as kept bytes: a refusal
costs about 34 µs of CPU. The connection stays open when the rest of the body is small
(:func:`~.read_deadline.closes_unread`): the HTTP protocol parses and drops it, which costs far
less than the client's reconnecting.

Requests that arrive while more than ``server.max_connections`` connections are open (marked
by the HTTP protocol, :data:`~.http_protocol.OVER_CAPACITY`) get the same answer, whatever
their path, and their connection is closed.

Requests that get past it still take their place through the route's own admission check,
which is the one that counts: this is an early look at the same queue, not a second limit. It
answers before credentials are checked, with one exception: when the server takes credentials
and a request carries none at all, it goes on to the credential gate and gets its 401, so a
client that forgot its key learns that, rather than retrying a "busy" for ever. A request with
a wrong key learns only that the server is busy; it could not have taken a place anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from starlette._utils import get_route_path  # what the router matches on, root_path removed
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import OverloadedError
from . import gate
from .auth import offered_key
from .gate import AWS_PATH
from .http_protocol import OVER_CAPACITY
from .protocol_errors import error_response
from .read_deadline import closes_unread
from .state import ServerState

__all__ = ["ShedWhenFull", "inference_protocol"]


def inference_protocol(path: str, method: str) -> str | None:
    """``google``, ``aws``, ``oip`` or ``native`` for a request that runs models (and so
    queues images), None for anything else: health, metadata, the console, unknown paths."""
    if method != "POST":
        return None
    if path == AWS_PATH:
        return "aws"
    if path == "/v1/annotate":
        return "native"
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return "oip"
    if path.startswith(("/v1/images:", "/v1/projects/")) and path.endswith("images:annotate"):
        return "google"
    return None


class ShedWhenFull:
    """ASGI middleware: inference requests arriving while the batcher is full are refused
    without reading their bodies or running any other layer of the app."""

    def __init__(self, app: ASGIApp, *, state: ServerState) -> None:
        self.app = app
        self.state = state
        self._answers: dict[str, _Answer] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = get_route_path(scope)
        if scope.get(OVER_CAPACITY):  # too many connections: any request, and close
            await self._refuse(gate.protocol_of(path, scope.get("method", "")), scope, send)
            return
        batcher = self.state.batcher
        protocol = (
            inference_protocol(path, scope.get("method", ""))
            if batcher is not None and batcher.full
            else None
        )
        if protocol is None or self._gate_refuses(scope):
            await self.app(scope, receive, send)
            return
        await self._refuse(protocol, scope, send)

    def _gate_refuses(self, scope: Scope) -> bool:
        """Whether the server takes credentials and the request carries none at all (the gate
        answers it 401, in its protocol's format)."""
        server = self.state.settings.server
        if not (server.api_keys or server.aws_credentials):
            return False
        return offered_key(HTTPConnection(scope)) is None

    async def _refuse(self, protocol: str, scope: Scope, send: Send) -> None:
        scope.setdefault("state", {}).update(protocol=protocol, operation="shed")
        answer = self._answers.get(protocol)
        if answer is None:
            answer = self._render(protocol, scope)  # its renderer counts this first one
        else:
            answer.counter.inc()
        headers = list(answer.headers)
        if protocol == "aws":  # every Rekognition answer has its own request id
            headers.append((b"x-amzn-requestid", str(uuid.uuid4()).encode()))
        if scope.get(OVER_CAPACITY) or closes_unread(scope):
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _render(self, protocol: str, scope: Scope) -> _Answer:
        """The protocol's answer, rendered once by its own renderer (the wording never
        changes) and kept, with the error counter the renderer counted it on."""
        busy = OverloadedError("The server is busy.", hint="Retry after a short wait.")
        scope.setdefault("app", self.app)  # as the app sets it: renderers find the state there
        response = error_response(scope, self.state, busy)
        response.headers["Retry-After"] = "1"
        kept = [(k, v) for k, v in response.raw_headers if k != b"x-amzn-requestid"]
        label = "OverloadedError" if protocol != "aws" else "ThrottlingException"
        answer = _Answer(
            response.status_code,
            tuple(kept),
            bytes(response.body),
            self.state.metrics.errors.labels(protocol, label),
        )
        self._answers[protocol] = answer
        return answer


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    counter: Any  # the protocol's error counter child
