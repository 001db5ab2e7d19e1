"""Logging in with an API key, and out.

The key is posted once, checked the way the API checks it, and never stored or sent back: the
browser gets a session cookie instead (:mod:`..sessions`). The login form has a CSRF token of
its own, carried in a short-lived cookie of its own, since there is no session yet to hold one
(so another site cannot log a visitor in under the other site's key). Failed logins are counted
per client address (:mod:`..throttle`): too many in a few minutes and that address waits.
"""

from __future__ import annotations

import hmac
import math
import secrets

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..forms import read_form, text_field
from ..sessions import Notice
from ..site import COOKIE, Site, Visitor

__all__ = ["register"]

LOGIN_COOKIE = "localvision_console_login"


def register(router: APIRouter, site: Site) -> None:
    """Add ``GET``/``POST /console/login`` and ``POST /console/logout``."""

    @router.get("/login")
    @site.handles("login_page")
    async def login_page(request: Request) -> Response:
        if not site.login_required or site.sessions.find(request.cookies.get(COOKIE)):
            return RedirectResponse(site.url(request, "/try"), status_code=303)
        notices = []
        if site.sessions.expired(request.cookies.get(COOKIE)):
            notices.append(Notice("error", "Your session expired. Log in again to go on."))
        return _login_form(request, site, notices, status=200)

    @router.post("/login")
    @site.handles("log_in")
    async def log_in(request: Request) -> Response:
        form = await read_form(request)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        offered = text_field(form, "csrf")
        if not expected or not hmac.compare_digest(expected, offered):
            notice = Notice("error", "The login form was stale. Enter the key again.")
            return _login_form(request, site, [notice], status=403)
        address = request.client.host if request.client else ""
        wait = site.logins.wait_s(address)
        if wait > 0:
            text = f"Too many failed logins from this address; try again in {math.ceil(wait)} s."
            response = _login_form(request, site, [Notice("error", text)], status=429)
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        key = text_field(form, "key")
        key_id = site.backend.key_id(key) if key else None
        if key_id is None:
            site.logins.failed(address)
            text = "That API key is not accepted by this server."
            if not site.backend.settings.server.api_keys:
                text = "This server has no API keys (server.api_keys): add one to use the console."
            return _login_form(request, site, [Notice("error", text)], status=401)
        site.sessions.end(request.cookies.get(COOKIE))
        read_only = key_id in site.backend.settings.server.read_only_keys
        token, _ = site.sessions.start(key_id, read_only=read_only)
        response = RedirectResponse(site.url(request, "/try"), status_code=303)
        site.remember(request, response, token)
        response.delete_cookie(LOGIN_COOKIE, path=site.url(request, "/login"))
        return response

    @router.post("/logout")
    @site.handles("log_out")
    async def log_out(request: Request) -> Response:
        form = await read_form(request)
        token = request.cookies.get(COOKIE)
        session = site.sessions.find(token)
        if session is not None and session.csrf_matches(text_field(form, "csrf")):
            site.sessions.end(token)
        target = "/login" if site.login_required else "/try"
        response = RedirectResponse(site.url(request, target), status_code=303)
        site.forget(request, response)
        return response


def _login_form(request: Request, site: Site, notices: list[Notice], *, status: int) -> Response:
    """The login page, with a fresh CSRF token in its form and in its own cookie."""
    token = secrets.token_urlsafe(32)
    response = site.render(
        request, Visitor(None), "login.html", {"login_csrf": token}, status=status, notices=notices
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        path=site.url(request, "/login"),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=3600,
    )
    return response
