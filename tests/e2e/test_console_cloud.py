"""The console's *Cloud and spend* page in a real browser, on a server that routes labels to a
cloud provider (a second local server stands in for Google): the routes in force, an audit row
after a routed request, the filters, this month's spend against the budget."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localvision.cloud.audit import AuditLog
from localvision.config import (
    CloudSettings,
    GoogleProviderSettings,
    ModelConfig,
    RouterSettings,
    Settings,
)

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server
from .console_support import new_context, shot, try_image

pytest.importorskip("httpx", reason="the cloud extra calls providers")


@pytest.fixture(scope="module")
def routed(
    colour_model_path: Path, colour_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Labels go to "google" (the colour server standing in for it) first, then locally."""
    settings = Settings(
        home=tmp_path_factory.mktemp("console-cloud"),
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
        cloud=CloudSettings(
            egress="allow",
            google=GoogleProviderSettings(
                api_key="k", endpoint=colour_server.url, retries=0, timeout_s=CLIENT_TIMEOUT_S
            ),
            router=RouterSettings(
                routes={"labels": ["google", "local"]}, privacy=["caller"], budgets={"google": 5}
            ),
        ),
    )
    with live_server(settings) as running:
        yield running


@pytest.fixture
def page(browser: Any, routed: LiveServer) -> Iterator[Any]:
    context = new_context(browser, routed)
    page = context.new_page()
    yield page
    context.close()


def google_labels(server: LiveServer, colour: tuple[int, int, int], **headers: str) -> str:
    """Ask for labels over Google's REST API; the top label."""
    image = base64.b64encode(solid_jpeg(colour)).decode()
    body = {"requests": [{"image": {"content": image}, "features": [{"type": "LABEL_DETECTION"}]}]}
    answer = httpx.post(
        server.url + "/v1/images:annotate", json=body, headers=headers, timeout=CLIENT_TIMEOUT_S
    )
    answer.raise_for_status()
    return str(answer.json()["responses"][0]["labelAnnotations"][0]["description"])


def test_a_routed_request_shows_in_the_audit_log(
    page: Any, routed: LiveServer, screenshots: Path
) -> None:
    before = len(AuditLog(routed.state.settings.home).entries())
    assert google_labels(routed, (250, 0, 0)) == "red"  # sent to "google"
    assert google_labels(routed, (0, 0, 250), **{"x-localvision-sensitivity": "private"}) == "blue"
    assert len(AuditLog(routed.state.settings.home).entries()) == before + 2
    page.goto("/console/cloud")
    assert page.locator("#egress").inner_text() == "allow"
    assert "google → local" in page.locator("#routes").inner_text()
    sent = page.locator('tr.audit-row[data-provider="google"][data-outcome="ok"]')
    kept = page.locator('tr.audit-row[data-outcome="refused: private (caller)"]')
    assert sent.count() >= 1 and kept.count() >= 1
    assert "labels" in sent.first.inner_text()
    assert "refused: private (caller)" in page.locator("#refusals").inner_text()
    assert "$5.0000" in page.locator("#budgets").inner_text()  # the budget and its spend
    shot(page, screenshots, "console-cloud")
    # Filtering by outcome keeps only what matches.
    page.get_by_label("Outcome").select_option("refused")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert "outcome=refused" in page.url
    outcomes = page.locator("tr.audit-row").evaluate_all("rows => rows.map(r => r.dataset.outcome)")
    assert outcomes and all(o.startswith("refused") for o in outcomes)


def test_an_image_tried_in_the_console_goes_through_the_router(
    page: Any, routed: LiveServer, tmp_path: Path
) -> None:
    image = tmp_path / "green.jpg"
    image.write_bytes(solid_jpeg((0, 220, 0)))
    before = len(AuditLog(routed.state.settings.home).entries())
    assert try_image(page, image, ["labels"]) == "drawn"
    assert page.locator("#labels li .name").first.inner_text() == "green"
    new = AuditLog(routed.state.settings.home).entries()[before:]
    assert [(r.provider, r.outcome) for r in new] == [("google", "ok")]
    # Kept on this machine when asked, and recorded as such.
    page.get_by_label("Keep this image on this machine").check()
    page.evaluate("document.body.dataset.state = 'idle'")  # not the last answer's state
    page.get_by_role("button", name="Annotate").click()
    page.wait_for_selector("body[data-state=drawn]")
    newer = AuditLog(routed.state.settings.home).entries()[before + 1 :]
    assert [r.outcome for r in newer] == ["refused: private (caller)"]
