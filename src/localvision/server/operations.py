"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .common import label, server_state
from .metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz(request: Request) -> Response:
    """200 while the process serves HTTP at all."""
    label(request, "ops", "healthz")
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Readiness")
async def readyz(request: Request) -> Response:
    """200 once every model is loaded and warmed up; 503 before that (with the reason: which
    model is loading, or which store cannot be reached) and while shutting down."""
    label(request, "ops", "readyz")
    state = server_state(request)
    body: dict[str, object] = {"ready": state.ready, "models": list(state.models)}
    if not state.ready:
        body["reason"] = state.reason or ("shutting down" if state.models else "not started")
    return JSONResponse(body, status_code=200 if state.ready else 503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    label(request, "ops", "metrics")
    return Response(server_state(request).metrics.render(), media_type=CONTENT_TYPE)
