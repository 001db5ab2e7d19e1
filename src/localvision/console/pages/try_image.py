"""*Try*: one image through the server, its results drawn over it by the page's script.

``GET /console/try`` is the form; ``POST /console/try`` (called by ``static/try.js`` with the
session's CSRF token in ``X-CSRF-Token``) runs the image through the same queue, batcher and
router as the API, as the logged-in key, and answers JSON: the canonical result (which the
script draws), each protocol's JSON for it, the snippets that reproduce the call, and what
answered each feature. The image is sent and annotated at full size; only the page's preview is
downscaled.
"""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import InvalidParameterError, LocalVisionError, http_status
from ...types import AnnotateRequest, Feature, FeatureRequest
from ..forms import read_form, text_field
from ..site import COOKIE, SECURITY_HEADERS, Site
from ..snippets import Access, snippets
from ..wire_answers import answers

__all__ = ["register"]

CLASSIFY_TASKS = {"classify": Feature.LABELS, "detect": Feature.OBJECTS}
"""The feature a served model of each task can answer when picked on the form."""


def register(router: APIRouter, site: Site) -> None:
    """Add ``GET`` and ``POST /console/try``."""

    @router.get("/try")
    @site.handles("try_page")
    async def try_page(request: Request) -> Response:
        visitor = site.visitor(request)
        backend = site.backend
        answering = {f.value: name for f, name in backend.feature_models().items()}
        features = [
            {"value": f.value, "model": answering.get(f.value, "built in")}
            for f in Feature
            if f in backend.answerable()
        ]
        pickable = [m for m in backend.served_models() if m.task in CLASSIFY_TASKS]
        return site.render(
            request,
            visitor,
            "try.html",
            {
                "features": features,
                "pickable": pickable,
                "max_bytes": backend.settings.server.max_body_bytes,
            },
        )

    @router.post("/try")
    @site.handles("try_post")
    async def try_post(request: Request) -> Response:
        session = site.sessions.find(request.cookies.get(COOKIE))
        if session is None:
            return _error(401, "Log in to the console again: there is no session.", None)
        if not session.csrf_matches(request.headers.get("x-csrf-token")):
            return _error(403, "The page is stale (its CSRF token does not match).", "Reload it.")
        settings = site.backend.settings
        try:
            form = await read_form(request, limit=settings.server.max_body_bytes, max_files=1)
            try:
                image, name = await _image(site, form)
            finally:
                await form.close()
            features = _features(form, site.backend.answerable())
            model = text_field(form, "model") or None
            private = text_field(form, "private") == "on"
            wanted = [FeatureRequest(f) for f in features]
            started = time.perf_counter()
            (result,) = await site.backend.annotate(
                [AnnotateRequest(image, wanted, name=name)],
                key_id=session.key_id,
                private=private,
                model=model,
            )
            server_ms = (time.perf_counter() - started) * 1000
        except LocalVisionError as exc:
            return _error(http_status(exc), exc.message, exc.hint)
        server = settings.server
        access = Access(
            base_url=str(request.base_url),
            api_key=bool(server.api_keys),
            sigv4=bool(server.aws_credentials),
            region=server.aws_region,
        )
        body: dict[str, Any] = {
            "result": result.to_dict(),
            "raw": answers(result, features, image),
            "snippets": snippets(access, name, features),
            "answered_by": _answered_by(site, features, model),
            "server_ms": round(server_ms, 1),
        }
        status = 200
        if result.error is not None:
            body["error"] = {"message": result.error.message, "hint": result.error.hint}
            status = http_status(result.error) if result.width is None else 200
        return JSONResponse(body, status_code=status, headers=SECURITY_HEADERS)


async def _image(site: Site, form: FormData) -> tuple[bytes, str]:
    """The uploaded file's bytes, or the pasted URL's (fetched as ``imageUri`` is)."""
    upload = form.get("image")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read()
        if not data:
            raise InvalidParameterError(f"{upload.filename} is empty.")
        return data, _safe_name(upload.filename)
    url = text_field(form, "url")
    if url:
        return await site.backend.fetch_image(url), _safe_name(urlsplit(url).path or "image")
    raise InvalidParameterError("Choose an image file, drop one on the page, or paste its URL.")


def _features(form: FormData, answerable: frozenset[Feature]) -> list[Feature]:
    """The ticked features, each one this server answers."""
    chosen: list[Feature] = []
    for value in form.getlist("features"):
        try:
            feature = Feature.parse(str(value))
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from None
        if feature not in answerable:
            raise InvalidParameterError(f"This server does not answer {feature.value}.")
        chosen.append(feature)
    if not chosen:
        raise InvalidParameterError("Tick at least one feature to look for.")
    return list(dict.fromkeys(chosen))


def _answered_by(site: Site, features: list[Feature], model: str | None) -> dict[str, str]:
    """What answered each feature: the picked model, the configured one, or a built-in."""
    configured = site.backend.feature_models()
    picked = next((m for m in site.backend.served_models() if m.name == model), None)
    out: dict[str, str] = {}
    for feature in features:
        if picked is not None and CLASSIFY_TASKS.get(picked.task) is feature:
            out[feature.value] = picked.name
        else:
            out[feature.value] = configured.get(feature, "built in")
    return out


def _safe_name(name: str) -> str:
    """A file name fit to show and to put in a snippet: no folders, at most 100 characters."""
    base = PurePosixPath(name.replace("\\", "/")).name.strip() or "image"
    return base[-100:]


def _error(status: int, message: str, hint: str | None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "hint": hint}}, status_code=status, headers=SECURITY_HEADERS
    )
