"""Who may use the console, in a real browser: with API keys configured it asks for one, the
browser then holds only an HttpOnly, SameSite=Strict session cookie, read-only keys cannot
promote, and a form without the page's CSRF token changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from localvision.config import ModelConfig, ServerSettings, Settings
from localvision.registry import Registry
from localvision.server.auth import hash_key

from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server
from .console_support import delta_registry, log_in, new_context, shot

KEY = "console-admin-key"
READ_ONLY_KEY = "console-viewer-key"


@pytest.fixture(scope="module")
def server(
    colour_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("console-access")
    delta_registry(home, colour_model_path)
    settings = Settings(
        home=home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
        server=ServerSettings(
            api_keys=[hash_key(KEY), hash_key(READ_ONLY_KEY)],
            read_only_keys=[hash_key(READ_ONLY_KEY)],
        ),
    )
    with live_server(settings) as running:
        yield running


@pytest.fixture
def context(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = new_context(browser, server)
    yield context
    context.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def production(server: LiveServer) -> int:
    return Registry(server.state.settings.home).get("delta@production").version


def test_without_a_key_the_console_asks_for_one(
    page: Any, server: LiveServer, screenshots: Path
) -> None:
    page.goto("/console/models")
    assert page.url.endswith("/console/login")
    assert page.get_by_label("API key").is_visible()
    assert page.locator("nav").count() == 0  # nothing of the console shows before logging in
    shot(page, screenshots, "console-login")
    for path in ("/console/models", "/console/try", "/console/cloud", "/console/server"):
        scripted = httpx.get(server.url + path, timeout=CLIENT_TIMEOUT_S)  # no cookie, no key
        assert scripted.status_code == 401
        assert scripted.json()["error"]["code"] == "unauthenticated"


def test_a_wrong_key_is_refused(page: Any) -> None:
    log_in(page, "not-the-key")
    assert page.url.endswith("/console/login")
    assert "That API key is not accepted" in page.locator("p.notice").inner_text()
    page.goto("/console/cloud")
    assert page.url.endswith("/console/login")


def test_the_right_key_logs_in_with_a_session_cookie_not_the_key(
    page: Any, context: Any, server: LiveServer
) -> None:
    log_in(page, KEY)
    assert page.url.endswith("/console/try")
    (cookie,) = [c for c in context.cookies() if c["name"] == "localvision_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert KEY not in cookie["value"] and hash_key(KEY)[7:] not in cookie["value"]
    assert "localvision_console" not in page.evaluate("document.cookie")  # scripts cannot read it
    assert KEY not in page.content()
    page.goto("/console/cloud")
    assert page.url.endswith("/console/cloud")
    # Logging out ends the session on the server, not only in this browser.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()
    assert page.url.endswith("/console/login")
    replayed = httpx.get(
        server.url + "/console/models",
        cookies={"localvision_console": cookie["value"]},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert replayed.status_code == 401


def test_a_read_only_key_cannot_promote_or_roll_back(
    page: Any, server: LiveServer, screenshots: Path
) -> None:
    log_in(page, READ_ONLY_KEY)
    page.goto("/console/models")
    assert "read-only" in page.locator("p.notice.info").inner_text()
    promote = page.get_by_role("button", name="Promote delta@2")
    assert promote.is_disabled()
    assert page.get_by_role("button", name="Roll back delta@production").is_disabled()
    shot(page, screenshots, "console-models-read-only")
    # Enabling the button in the page does not help: the server refuses the form.
    promote.evaluate("button => { button.disabled = false; }")
    promote.click()
    page.wait_for_load_state()
    assert "read-only" in page.locator("#refusal").inner_text()
    assert production(server) == 1


def test_a_form_without_the_pages_csrf_token_changes_nothing(page: Any, server: LiveServer) -> None:
    log_in(page, KEY)
    page.goto("/console/models")
    form = page.locator('tr[data-ref="delta@2"] form.promote')
    form.locator('input[name="csrf"]').evaluate("input => { input.value = 'forged'; }")
    form.get_by_role("button", name="Promote delta@2").click()
    page.wait_for_load_state()
    assert "CSRF" in page.locator("#refusal").inner_text()
    assert production(server) == 1
    # A post with the session cookie but no token at all (what another site's form would
    # send, were the cookie not SameSite=Strict) is refused the same way.
    forged = page.request.post(
        "/console/models/promote", form={"ref": "delta@2", "alias": "production", "seen": ""}
    )
    assert forged.status == 403 and production(server) == 1
