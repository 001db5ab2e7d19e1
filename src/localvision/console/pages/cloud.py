"""*Cloud and spend*: the routes and policies in force, the audit log, budgets and refusals.

Read-only: the filter is a ``GET`` form, so a filtered view is a link one can share (it holds no
credentials). Everything comes from the settings and the audit log (:mod:`..audit_view`).
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ...errors import InvalidParameterError
from ..audit_view import AuditFilter, cloud_view, when
from ..sessions import Notice
from ..site import Site

__all__ = ["register"]


def register(router: APIRouter, site: Site) -> None:
    """Add ``GET /console/cloud``."""

    @router.get("/cloud")
    @site.handles("cloud_page")
    async def cloud_page(request: Request) -> Response:
        visitor = site.visitor(request)
        settings = site.backend.settings
        notices = []
        try:
            wanted = AuditFilter.from_query(request.query_params)
        except InvalidParameterError as exc:
            notices.append(Notice("error", exc.message))
            wanted = AuditFilter()
        view = await anyio.to_thread.run_sync(cloud_view, settings, wanted)
        router_settings = settings.cloud.router
        context = {
            "cloud": settings.cloud,
            "routes": sorted(router_settings.routes.items()),
            "policy": router_settings,
            "view": view,
            "wanted": wanted,
            "when": when,
        }
        return site.render(request, visitor, "cloud.html", context, notices=notices)
