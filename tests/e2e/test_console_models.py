"""The console's *Models* page in a real browser: promote with a gate and roll back (the CLI's
operations and checks), a failing gate that says why and promotes nothing, two tabs promoting
at once, and the served model following its alias."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localvision.config import ServerSettings, Settings
from localvision.registry import Registry

from ..builders import COLOUR_LABELS
from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server
from .console_support import new_context, shot

COLOURS = {"red": (230, 10, 10), "green": (10, 200, 10), "blue": (10, 10, 230), "gray": (128,) * 3}
FRENCH = ["ROUGE", "VERT", "BLEU", "GRIS"]
GATE = "accuracy >= production - 0.01"


@pytest.fixture(scope="module")
def holdout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two solid images of each colour, a folder per class: what the colour model gets right."""
    folder = tmp_path_factory.mktemp("holdout")
    for name, rgb in COLOURS.items():
        (folder / name).mkdir()
        for index in range(2):
            (folder / name / f"{index}.jpg").write_bytes(solid_jpeg(rgb, (32 + index, 24)))
    return folder


@pytest.fixture(scope="module")
def server(
    colour_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """No API keys (the console is open); each of alpha, bravo and charlie has version 1 and
    3 labelled in English (right on the holdout set) and version 2 in French (all wrong), with
    production on version 1. Labels are answered by bravo@production, followed as it moves."""
    home = tmp_path_factory.mktemp("console-models")
    registry = Registry(home)
    for name in ("alpha", "bravo", "charlie"):
        for labels in (COLOUR_LABELS, FRENCH, COLOUR_LABELS):
            registry.add(
                name,
                colour_model_path,
                format_name="onnx",
                card={"labels": list(labels), "input_range": "0..1"},
                lineage={"source": "tests"},
            )
        registry.set_alias(name, 1, "production")
    settings = Settings(
        home=home,
        features={"labels": "bravo@production"},
        server=ServerSettings(reload_interval_s=0.1),
    )
    with live_server(settings) as running:
        yield running


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = new_context(browser, server)
    page = context.new_page()
    yield page
    context.close()


def production(server: LiveServer, name: str) -> int:
    return Registry(server.state.settings.home).get(f"{name}@production").version


def promote(page: Any, ref: str, gate: str = "", data: str = "") -> None:
    """Fill the promote form of ``ref`` on the open models page and submit it."""
    row = page.locator(f'tr[data-ref="{ref}"]')
    row.get_by_label("Alias").select_option("production")
    if gate:
        row.get_by_text("With a gate").click()
        row.get_by_label("Gate", exact=True).fill(gate)
        row.get_by_label("Holdout folder on the server").fill(data)
    row.get_by_role("button", name=f"Promote {ref}").click()
    page.wait_for_load_state()


def notice(page: Any) -> str:
    return str(page.locator("p.notice").first.inner_text())


def test_a_failing_gate_says_why_and_promotes_nothing(
    page: Any, server: LiveServer, holdout: Path, screenshots: Path
) -> None:
    page.goto("/console/models")
    promote(page, "alpha@2", GATE, str(holdout))
    assert page.url.endswith("/console/models")
    message = notice(page)
    assert "Refused to promote alpha@2 to alpha@production" in message
    assert "candidate accuracy 0.0000 >= production 1.0000-0.0100 = 0.9900" in message
    assert "Nothing was promoted" in message
    assert production(server, "alpha") == 1
    alias = page.locator('#model-alpha li.alias[data-alias="production"]')
    assert alias.get_attribute("data-version") == "1"
    shot(page, screenshots, "console-models-gate-refused")


def test_promote_through_a_gate_then_roll_back(
    page: Any, server: LiveServer, holdout: Path, screenshots: Path
) -> None:
    page.goto("/console/models")
    promote(page, "bravo@3", GATE, str(holdout))
    message = notice(page)
    assert "Promoted bravo@3 to bravo@production" in message
    assert "candidate accuracy 1.0000 >= production 1.0000-0.0100 = 0.9900" in message
    assert production(server, "bravo") == 3
    assert (
        page.locator('#model-bravo li.alias[data-alias="production"]').get_attribute("data-version")
        == "3"
    )
    # The server follows bravo@production: the page shows the new version once it is served.
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while "version 3 now" not in page.locator("details.served summary").first.inner_text():
        assert time.monotonic() < deadline, "the server never served bravo@3"
        page.reload()
    shot(page, screenshots, "console-models")
    page.get_by_role("button", name="Roll back bravo@production").click()
    page.wait_for_load_state()
    assert "Rolled bravo@production back to version 1" in notice(page)
    assert production(server, "bravo") == 1


def test_two_tabs_promoting_at_once_one_wins_and_the_other_sees_why(
    page: Any, server: LiveServer
) -> None:
    other = page.context.new_page()
    page.goto("/console/models")
    other.goto("/console/models")
    first = page.locator('tr[data-ref="charlie@2"] form.promote')
    second = other.locator('tr[data-ref="charlie@3"] form.promote')
    # Both forms go at once (the page's own submit, not waiting for each other's answer).
    first.evaluate("form => form.submit()")
    second.evaluate("form => form.submit()")
    page.wait_for_selector("p.notice")
    other.wait_for_selector("p.notice")
    messages = [notice(page), notice(other)]
    won = [m for m in messages if m.startswith("Promoted charlie@")]
    lost = [m for m in messages if "changed while this page was open" in m]
    assert len(won) == 1 and len(lost) == 1, messages
    winner = 2 if "charlie@2" in won[0] else 3
    assert f"it showed version 1, it is version {winner} now" in lost[0]
    assert production(server, "charlie") == winner
    # The losing tab shows the registry as it is now.
    loser = other if winner == 2 else page
    shown = loser.locator('#model-charlie li.alias[data-alias="production"]')
    assert shown.get_attribute("data-version") == str(winner)
