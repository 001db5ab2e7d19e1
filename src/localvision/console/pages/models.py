"""*Models*: what answers each feature now, the registry, and promoting and rolling back.

The page lists the served models (their resolved cards, with where each field came from) and
every registered version (aliases, metrics, lineage, the card it was registered with). Promote
and roll back are forms that post back here with the session's CSRF token and the aliases as
the page showed them (:mod:`..promotions` refuses a move when an alias changed meanwhile); the
result is kept as a notice and the browser is sent back to the page (post/redirect/get), which
then shows the registry as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...registry import ModelVersion, Registry
from ..forms import read_form, text_field
from ..promotions import Outcome, Promotions, alias_versions
from ..sessions import Notice
from ..site import Site, Visitor

__all__ = ["register"]

ALIASES = ("production", "staging")
"""Aliases the promote form always offers (besides those a model already has)."""


def register(router: APIRouter, site: Site) -> None:
    """Add ``GET /console/models`` and the promote and rollback posts."""
    promotions = Promotions(lambda: site.backend.settings)

    @router.get("/models")
    @site.handles("models_page")
    async def models_page(request: Request) -> Response:
        visitor = site.visitor(request)
        registered = await anyio.to_thread.run_sync(_registered, site)
        served = site.backend.served_models()
        answering = sorted((f.value, name) for f, name in site.backend.feature_models().items())
        context = {"served": served, "answering": answering, "registered": registered}
        return site.render(request, visitor, "models.html", context)

    @router.post("/models/promote")
    @site.handles("promote")
    async def promote(request: Request) -> Response:
        return await _change(
            request,
            site,
            lambda form: promotions.promote(
                text_field(form, "ref"),
                text_field(form, "alias") or "production",
                seen=_seen(text_field(form, "seen")),
                gate=text_field(form, "gate"),
                data=text_field(form, "data"),
            ),
        )

    @router.post("/models/rollback")
    @site.handles("rollback")
    async def rollback(request: Request) -> Response:
        return await _change(
            request,
            site,
            lambda form: promotions.rollback(
                text_field(form, "name"),
                text_field(form, "alias") or "production",
                seen=_seen(text_field(form, "seen")),
            ),
        )


async def _change(request: Request, site: Site, act: Callable[[FormData], Outcome]) -> Response:
    """Check the form's CSRF token and the visitor's rights, run ``act`` off the event loop,
    and send the browser back to the page with the outcome as a notice."""
    visitor = site.visitor(request)
    form = await read_form(request)
    refusal = refuse_change(request, site, visitor, form)
    if refusal is not None:
        return refusal
    assert visitor.session is not None
    outcome = await anyio.to_thread.run_sync(act, form)
    visitor.session.notices.append(Notice("ok" if outcome.ok else "error", outcome.message))
    return RedirectResponse(site.url(request, "/models"), status_code=303)


def refuse_change(
    request: Request, site: Site, visitor: Visitor, form: FormData
) -> Response | None:
    """The page refusing a state-changing form: no session or a wrong CSRF token (403, nothing
    changed), or a read-only key (403). None when the form may go on."""
    session = visitor.session
    if session is None or visitor.new_token or not session.csrf_matches(text_field(form, "csrf")):
        message = (
            "This form did not come from a page of this console session (the CSRF check "
            "failed), so nothing was changed. Reload the page and try again."
        )
        return site.render(request, visitor, "refused.html", {"message": message}, status=403)
    if session.read_only:
        message = "Your API key is read-only: it can look at models but not promote or roll back."
        return site.render(request, visitor, "refused.html", {"message": message}, status=403)
    return None


def _seen(text: str) -> dict[str, int]:
    """The aliases as the page showed them: ``production=2;staging=3``."""
    out: dict[str, int] = {}
    for part in text.split(";"):
        alias, _, version = part.partition("=")
        if alias.strip() and version.strip().isdigit():
            out[alias.strip()] = int(version)
    return out


def _registered(site: Site) -> list[dict[str, Any]]:
    """Every registered model, its versions newest first, its aliases and the ``seen`` text."""
    registry = Registry(site.backend.settings.home)
    names: dict[str, list[ModelVersion]] = {}
    for entry in registry.entries():
        names.setdefault(entry.name, []).append(entry)
    out = []
    for name, versions in names.items():
        aliases = alias_versions(registry, name)
        out.append(
            {
                "name": name,
                "versions": list(reversed(versions)),
                "aliases": aliases,
                "seen": ";".join(f"{a}={v}" for a, v in sorted(aliases.items())),
                "offered": sorted({*ALIASES, *aliases}),
            }
        )
    return out
