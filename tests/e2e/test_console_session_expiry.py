"""A console session expires: the next page goes to the login page, which says why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localvision.config import ModelConfig, ServerSettings, Settings
from localvision.server.auth import hash_key

from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server
from .console_support import log_in, new_context, shot

KEY = "short-lived-key"


@pytest.fixture(scope="module")
def server(
    colour_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    settings = Settings(
        home=tmp_path_factory.mktemp("console-expiry"),
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
        server=ServerSettings(api_keys=[hash_key(KEY)], console_session_s=1.0),
    )
    with live_server(settings) as running:
        yield running


def test_an_expired_session_goes_back_to_the_login_page_saying_so(
    browser: Any, server: LiveServer, screenshots: Path
) -> None:
    context = new_context(browser, server)
    page = context.new_page()
    try:
        log_in(page, KEY)
        assert any(c["name"] == "localvision_console" for c in context.cookies())
        # Keep coming back until the session has run out (an event, with a generous bound).
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while not page.url.endswith("/console/login"):
            assert time.monotonic() < deadline, "the session never expired"
            page.goto("/console/models")
        assert "Your session expired" in page.locator("p.notice.error").inner_text()
        shot(page, screenshots, "console-session-expired")
        # The Try page's script is told too, in JSON, when it posts with an expired session.
        answer = page.request.post("/console/try", headers={"accept": "application/json"})
        assert answer.status == 401
    finally:
        context.close()
