"""Mounting the console on the server's app: its routes under ``/console`` and its static files.

Called by the server's app factory with an adapter over its state (the console never imports the
server); returns the :class:`~.site.Site`, which the server's credentials gate asks about every
``/console`` request.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from .backend import ConsoleBackend
from .pages import cloud, login, models, server_status, try_image
from .site import HERE, PREFIX, STATIC, Site

__all__ = ["mount"]


def mount(app: FastAPI, backend: ConsoleBackend) -> Site:
    """Add the console's pages to ``app`` and return the console, for the credentials gate.

    Example (what ``localvision.server.create_app`` does)::

        site = mount(app, ServerConsoleBackend(state))
        app.add_middleware(gate.Gate, state=state, openable=openable, console=site)
    """
    site = Site(backend)
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("")
    @site.handles("home")
    async def home(request: Request) -> Response:
        return RedirectResponse(site.url(request, "/try"), status_code=303)

    for page in (login, try_image, models, cloud, server_status):
        page.register(router, site)
    app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="console-static")
    return site
