"""What the web console's browser tests share: a browser context on a live server, logging in,
trying an image, screenshots."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from localvision.registry import Registry

from ..builders import COLOUR_LABELS
from ..servers import CLIENT_TIMEOUT_S, LiveServer

WAIT_MS = CLIENT_TIMEOUT_S * 1000
"""How long a page may take to do something (a model may run on a busy machine): tests wait
for what the page shows, never for a time to pass."""


def new_context(browser: Any, server: LiveServer) -> Any:
    """A fresh browser context (its own cookies) on ``server``, waiting generously."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    return context


def log_in(page: Any, key: str) -> None:
    """Log in on the console's login page with ``key``."""
    page.goto("/console/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def try_image(page: Any, image: Path | dict[str, Any], features: Iterable[str]) -> str:
    """Choose ``image`` on the *Try* page, tick ``features`` (only those), press Annotate and
    wait until the page has drawn the answer or shown why not; returns ``drawn`` or
    ``failed``."""
    page.goto("/console/try")
    page.set_input_files("#image", image)
    wanted = set(features)
    for box in page.locator('input[name="features"]').all():
        box.set_checked(box.get_attribute("value") in wanted)
    page.get_by_role("button", name="Annotate").click()
    page.wait_for_selector("body[data-state=drawn], body[data-state=failed]")
    return str(page.evaluate("document.body.dataset.state"))


def shot(page: Any, folder: Path, name: str) -> Path:
    """A full-page screenshot named ``name``.png in ``folder``."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def delta_registry(home: Path, model: Path) -> Registry:
    """A registry under ``home`` with two versions of the colour model as ``delta``, its
    production alias at version 1: what the console's model pages have to show and move."""
    registry = Registry(home)
    for _ in range(2):
        registry.add(
            "delta",
            model,
            format_name="onnx",
            card={"labels": list(COLOUR_LABELS), "input_range": "0..1"},
            lineage={"source": "tests"},
        )
    registry.set_alias("delta", 1, "production")
    return registry
