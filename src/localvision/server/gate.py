"""The one credentials gate in front of every HTTP route: closed by default.

Route handlers used to check credentials one by one, and the ones that forgot (the Open
Inference routes, ``/metrics``, ``/docs``) answered anybody. The gate is an ASGI middleware
that sees every request before routing, so a route added later is closed too:

* with ``server.api_keys`` set, every path needs an API key except the health and readiness
  probes (:data:`ALWAYS_OPEN`) and what ``server.public_paths`` opens (``/metrics``; ``/docs``,
  which brings ``/openapi.json`` and the OAuth2 redirect page with it);
* with ``server.aws_credentials`` set, the Rekognition route (``POST /``) needs a SigV4
  ``Authorization`` whose access key, date, credential scope (region included) and payload
  policy hold; the handler then checks the signature over the body it reads.

A refusal is answered in the format of the protocol the path belongs to, by that protocol's
own error rendering: Google's error JSON, Rekognition's modelled exception, OIP's
``{"error": ...}``, native's ``{"error": {...}}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette._utils import get_route_path  # what the router matches on, root_path removed
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import ServerSettings, Settings
from ..errors import AuthenticationError, ConfigError
from ..wire import rekognition as rekognition_wire
from . import google, native, open_inference
from .auth import check_api_key, check_sigv4_headers, missing_credentials, offered_key
from .common import label, server_state
from .rekognition import CONTENT_TYPE as AWS_CONTENT_TYPE
from .state import ServerState

if TYPE_CHECKING:  # the console is imported only when create_app mounts it
    from ..console import Site

__all__ = [
    "ALWAYS_OPEN",
    "METRICS_PATH",
    "Gate",
    "check_public_paths",
    "openable_paths",
    "protocol_of",
]

ALWAYS_OPEN = frozenset({"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"})
"""Liveness and readiness: open whatever is configured, so probes need no credentials."""
METRICS_PATH = "/metrics"
AWS_PATH = "/"

Renderer = Callable[[Request, Exception], Response]
Openable = Mapping[str, frozenset[str]]


def protocol_of(path: str, method: str) -> str:
    """The protocol whose error format answers ``method path``: ``aws``, ``google``, ``oip``
    or ``native`` (everything else, unknown paths included)."""
    if path == AWS_PATH and method == "POST":
        return "aws"
    if path == "/v2" or path.startswith("/v2/"):
        return "oip"
    if path.startswith(("/v1/images:", "/v1/files:", "/v1/projects/")):
        return "google"
    return "native"


def openable_paths(app: FastAPI) -> dict[str, frozenset[str]]:
    """What each allowed ``public_paths`` entry opens on ``app``: ``/metrics`` itself; the
    docs page with its schema and OAuth2 redirect; the schema alone."""
    openable = {METRICS_PATH: frozenset({METRICS_PATH})}
    schema = frozenset({app.openapi_url} if app.openapi_url else ())
    if app.openapi_url:
        openable[app.openapi_url] = schema
    if app.docs_url:
        redirect = app.swagger_ui_oauth2_redirect_url
        openable[app.docs_url] = schema | {app.docs_url, *([redirect] if redirect else [])}
    return openable


def check_public_paths(settings: ServerSettings, openable: Openable) -> None:
    """Refuse a ``public_paths`` entry the gate cannot open, rather than ignore it silently."""
    unknown = [p for p in settings.public_paths if p not in openable]
    if unknown:
        raise ConfigError(
            f"server.public_paths may list {', '.join(sorted(openable))}; got "
            f"{', '.join(repr(p) for p in unknown)}.",
            hint="Every other path needs credentials when credentials are configured.",
        )


class Gate:
    """ASGI middleware: a request reaches the app only with the credentials its path needs.

    ``openable`` says what each ``public_paths`` entry opens (:func:`openable_paths`).
    Settings are read from the server state on every request, so they may change while the
    app runs.
    """

    def __init__(
        self, app: ASGIApp, *, state: ServerState, openable: Openable, console: Site | None = None
    ) -> None:
        self.app = app
        self.state = state
        self.openable = openable
        self.console = console
        """The web console, which opens its login page and static files and admits its own
        session cookies under ``/console``; a browser it refuses goes to its login page."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = get_route_path(scope)
        method = str(scope.get("method", "GET"))
        protocol = protocol_of(path, method)
        refusal = self._refusal(HTTPConnection(scope), path, protocol, self.state.settings)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            request = Request(scope, receive)
            label(request, protocol, "unauthenticated")
            console = self.console if self.console is not None and self.console.owns(path) else None
            response = console.refused(request, refusal) if console is not None else None
            await (response or _RENDERERS[protocol](request, refusal))(scope, receive, send)

    def _refusal(
        self, connection: HTTPConnection, path: str, protocol: str, settings: Settings
    ) -> AuthenticationError | None:
        """The error refusing this request, or None when it may go on."""
        server = settings.server
        if path in ALWAYS_OPEN or any(
            path in self.openable.get(entry, ()) for entry in server.public_paths
        ):
            return None
        if self.console is not None and self.console.owns(path) and self.console.admits(connection):
            return None
        try:
            if protocol == "aws" and server.aws_credentials:
                check_sigv4_headers(
                    connection.headers,
                    credentials=server.aws_credentials,
                    region=server.aws_region,
                    allow_unsigned_payload=server.allow_unsigned_payload,
                )
            elif server.api_keys:  # the AWS route too, when no SigV4 credentials exist
                if protocol == "aws" and offered_key(connection) is None:
                    raise missing_credentials(
                        "The request has no credentials: this server takes an API key "
                        "(x-goog-api-key) on its AWS route, or configure server.aws_credentials "
                        "for SigV4."
                    )
                check_api_key(connection, settings)
            elif server.aws_credentials:  # only SigV4 is configured: nothing else may open
                raise AuthenticationError(
                    "This server accepts only SigV4-signed requests on its AWS route.",
                    hint="Add API keys (server.api_keys) to use the other protocols.",
                )
        except AuthenticationError as exc:
            return exc
        return None


def _aws_error(request: Request, exc: Exception) -> Response:
    """A refusal as Rekognition answers one (the route's own handler does the same)."""
    status, name, payload = rekognition_wire.error_response(exc)
    server_state(request).metrics.errors.labels("aws", name).inc()
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": name}
    return JSONResponse(payload, status_code=status, media_type=AWS_CONTENT_TYPE, headers=headers)


_RENDERERS: dict[str, Renderer] = {
    "aws": _aws_error,
    "google": google.error,
    "oip": open_inference._error,
    "native": native.error,
}
