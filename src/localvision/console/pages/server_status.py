"""*Server*: health, the queue, throughput and latency from the metrics, loaded models, version."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ..metrics_view import summarise_metrics
from ..site import Site

__all__ = ["register"]


def register(router: APIRouter, site: Site) -> None:
    """Add ``GET /console/server``."""

    @router.get("/server")
    @site.handles("server_page")
    async def server_page(request: Request) -> Response:
        visitor = site.visitor(request)
        backend = site.backend
        uptime = max(time.time() - site.started, 1e-9)
        summary = summarise_metrics(backend.metrics)
        context = {
            "ready": backend.ready,
            "because": backend.not_ready_because,
            "uptime_s": uptime,
            "queue": backend.queue(),
            "summary": summary,
            "images_per_s": summary.images_total / uptime,
            "requests_per_s": summary.requests_total / uptime,
            "served": backend.served_models(),
            "answering": sorted((f.value, n) for f, n in backend.feature_models().items()),
            "settings": backend.settings,
        }
        return site.render(request, visitor, "server.html", context)
