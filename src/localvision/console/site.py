"""The console as one object: its backend, sessions and templates, and what the gate asks it.

The server's credentials gate sees every request first (``localvision.server.gate``). For paths
under ``/console`` it asks this object two things: whether the request may go on without an API
key (:meth:`Site.admits`: the login page, the static files, or a live session cookie), and how
to tell a browser that it may not (:meth:`Site.refused`: to the login page). Everything else a
console route needs (who is asking, their CSRF token, rendering a page) is here too.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette._utils import get_route_path  # what the router matches on, root_path removed
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .. import __version__
from ..errors import AuthenticationError, LocalVisionError, http_status
from .backend import ConsoleBackend
from .sessions import Notice, Session, Sessions
from .throttle import LoginThrottle

__all__ = ["COOKIE", "PREFIX", "SECURITY_HEADERS", "Handler", "Site", "Visitor"]

PREFIX = "/console"
COOKIE = "localvision_console"
LOGIN = f"{PREFIX}/login"
STATIC = f"{PREFIX}/static"
HERE = Path(__file__).parent

SECURITY_HEADERS = {
    # Everything the console loads comes from this server; no inline scripts or styles run.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


Handler = Callable[[Request], Awaitable[Response]]


class ForeignOriginError(AuthenticationError):
    """A console request another site's page made a browser send (see
    :meth:`Site.check_origin`)."""

    status = 403
    code = "foreign_origin"


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Visitor:
    """Who is asking: their session (None when not logged in) and, for a console open to all
    (no API keys configured), the token of a session just started for them."""

    def __init__(self, session: Session | None, new_token: str | None = None) -> None:
        self.session = session
        self.new_token = new_token

    @property
    def may_change(self) -> bool:
        """Whether this visitor may promote and roll back (a session of a full key)."""
        return self.session is not None and not self.session.read_only


class Site:
    """The console mounted on one app (see :func:`localvision.console.mount`)."""

    def __init__(self, backend: ConsoleBackend, *, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.sessions = Sessions(lambda: backend.settings.server.console_session_s, clock=clock)
        self.logins = LoginThrottle()
        self.started = time.time()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(utc=_utc, usd=_usd, duration=_duration)

    # ------------------------------------------------------------------ what the gate asks

    @staticmethod
    def owns(path: str) -> bool:
        """Whether ``path`` (the route path, root_path removed) is the console's."""
        return path == PREFIX or path.startswith(PREFIX + "/")

    @staticmethod
    def is_open(path: str) -> bool:
        """Paths answered without credentials: the login page and the static files."""
        return path == LOGIN or path.startswith(STATIC + "/")

    def admits(self, connection: HTTPConnection) -> bool:
        """Whether a console request may go on without an API key: an open path, or a live
        session cookie."""
        if self.is_open(get_route_path(connection.scope)):
            return True
        return self.sessions.find(connection.cookies.get(COOKIE)) is not None

    def refused(self, request: Request, error: AuthenticationError) -> Response | None:
        """A browser asking for a page is sent to the login page; None for other callers
        (scripts), which get the API's own 401."""
        if "text/html" not in request.headers.get("accept", ""):
            return None
        return RedirectResponse(self.url(request, "/login"), status_code=303)

    # ------------------------------------------------------------------ for the routes

    def handles(self, operation: str) -> Callable[[Handler], Handler]:
        """Decorate a console route: label it for the access log and metrics (protocol
        ``console``), and answer an error it raises as a page saying what went wrong."""

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def run(request: Request) -> Response:
                request.state.protocol = "console"
                request.state.operation = operation
                try:
                    self.check_origin(request)
                    return await handler(request)
                except LocalVisionError as exc:
                    message = exc.message + (f" {exc.hint}" if exc.hint else "")
                    visitor = Visitor(self.sessions.find(request.cookies.get(COOKIE)))
                    context = {"message": message}
                    status = http_status(exc)
                    return self.render(request, visitor, "refused.html", context, status=status)

            return run

        return decorate

    @property
    def login_required(self) -> bool:
        """Whether the server has credentials, so the console asks for an API key (the
        credentials gate closes ``/console`` to anyone without a session then)."""
        server = self.backend.settings.server
        return bool(server.api_keys or server.aws_credentials)

    def visitor(self, request: Request) -> Visitor:
        """The visitor of a console route. An open console (no API keys) starts a session
        for a newcomer, so its forms still carry CSRF tokens."""
        session = self.sessions.find(request.cookies.get(COOKIE))
        if session is not None or self.login_required:
            return Visitor(session)
        token, session = self.sessions.start(None, read_only=False)
        return Visitor(session, token)

    def check_origin(self, request: Request) -> None:
        """Refuse requests a page of another site made a browser send.

        A form posted from another origin is refused whatever its cookies (the CSRF token and
        SameSite=Strict already stop it; this says so plainly). And a console open to all (no
        API keys, listening on loopback) answers only loopback host names: otherwise a page
        whose own host name is rebound to 127.0.0.1 (DNS rebinding) would be same-origin with
        it, get a session and its CSRF token, and promote models.
        """
        host = request.headers.get("host", "")
        origin = request.headers.get("origin")
        posted = request.method not in ("GET", "HEAD") and origin not in (None, "null")
        if posted and urllib.parse.urlsplit(origin).netloc.lower() != host.lower():
            raise ForeignOriginError(
                f"This form came from {origin}, not from this console ({host})."
            )
        if self.login_required or self.backend.settings.server.insecure:
            return
        name = urllib.parse.urlsplit(f"//{host}").hostname or ""
        if not (name == "localhost" or name.endswith(".localhost") or _is_loopback(name)):
            raise ForeignOriginError(
                f"This console has no API keys, so it answers only on loopback names "
                f"(localhost, 127.0.0.1, [::1]); this request named {host!r}.",
                hint="Open it as http://localhost:PORT/console, or set server.api_keys.",
            )

    @staticmethod
    def url(request: Request, path: str = "") -> str:
        """The console URL of ``path`` (``/models``), behind any root path."""
        return f"{request.scope.get('root_path', '')}{PREFIX}{path}"

    def render(
        self,
        request: Request,
        visitor: Visitor,
        template: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
        notices: list[Notice] | None = None,
    ) -> HTMLResponse:
        """A page from ``templates/``, with what every page shows (navigation, notices,
        the CSRF token for its forms), security headers and, for a new visitor, the cookie."""
        session = visitor.session
        waiting = session.take_notices() if session is not None else []
        html = self.templates.get_template(template).render(
            base=self.url(request),
            static=self.url(request, "/static"),
            path=get_route_path(request.scope),
            session=session,
            csrf=session.csrf if session is not None else "",
            may_change=visitor.may_change,
            login_required=self.login_required,
            notices=[*waiting, *(notices or [])],
            version=__version__,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        self.remember(request, response, visitor.new_token)
        return response

    def remember(self, request: Request, response: Response, token: str | None) -> None:
        """Set the session cookie on ``response`` (nothing when ``token`` is None)."""
        if token is None:
            return
        response.set_cookie(
            COOKIE,
            token,
            path=self.url(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def forget(self, request: Request, response: Response) -> None:
        """Clear the session cookie."""
        response.delete_cookie(
            COOKIE,
            path=self.url(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def _utc(timestamp: float) -> str:
    """A timestamp as the pages print it: ``2025-01-31 14:02`` (UTC)."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _usd(amount: float) -> str:
    """``$0.0150``: four decimals, since one image costs a fraction of a cent."""
    return f"${amount:,.4f}"


def _duration(seconds: float) -> str:
    """``3 h 12 min``, ``4 min 5 s`` or ``12 s``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
