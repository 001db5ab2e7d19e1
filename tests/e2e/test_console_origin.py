"""Requests another site's page makes a browser send are refused by the console: forms posted
from another origin, and (on a console open to all, with no API keys) any host name that is not
loopback, which is what a DNS-rebinding page would send. And a script guessing keys waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localvision.config import ModelConfig, ServerSettings, Settings
from localvision.registry import Registry
from localvision.server.auth import hash_key

from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server
from .console_support import delta_registry

KEY = "console-throttle-key"


@pytest.fixture(scope="module")
def open_console(
    colour_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("console-origin")
    delta_registry(home, colour_model_path)
    settings = Settings(home=home, models={"colours": ModelConfig(path=str(colour_model_path))})
    with live_server(settings) as running:
        yield running


def production(server: LiveServer) -> int:
    return Registry(server.state.settings.home).get("delta@production").version


def test_an_open_console_answers_loopback_names_only(open_console: LiveServer) -> None:
    port = httpx.URL(open_console.url).port
    with httpx.Client(base_url=open_console.url, timeout=CLIENT_TIMEOUT_S) as client:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert client.get("/console/models", headers={"host": host}).status_code == 200
        rebound = client.get("/console/models", headers={"host": f"attacker.example:{port}"})
        assert rebound.status_code == 403
        assert "loopback" in rebound.text and "attacker.example" in rebound.text
        # The API itself is not the console's business: it still answers.
        assert client.get("/healthz", headers={"host": "attacker.example"}).status_code == 200


def test_a_form_posted_from_another_origin_changes_nothing(open_console: LiveServer) -> None:
    with httpx.Client(base_url=open_console.url, timeout=CLIENT_TIMEOUT_S) as client:
        page = client.get("/console/models")  # a session and its CSRF token, as a tab has
        assert page.status_code == 200
        token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = {"ref": "delta@2", "alias": "production", "seen": "production=1", "csrf": token}
        foreign = client.post(
            "/console/models/promote", data=form, headers={"origin": "http://attacker.example"}
        )
        assert foreign.status_code == 403 and "attacker.example" in foreign.text
        assert production(open_console) == 1
        own = client.post(
            "/console/models/promote", data=form, headers={"origin": open_console.url}
        )
        assert own.status_code in (200, 303) and production(open_console) == 2


def test_a_script_guessing_keys_is_made_to_wait(
    colour_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = Settings(
        home=tmp_path_factory.mktemp("console-throttle"),
        models={"colours": ModelConfig(path=str(colour_model_path))},
        server=ServerSettings(api_keys=[hash_key(KEY)]),
    )
    with (
        live_server(settings) as server,
        httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client,
    ):

        def log_in(key: str) -> httpx.Response:
            page = client.get("/console/login")
            token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            return client.post("/console/login", data={"key": key, "csrf": token})

        assert [log_in(f"guess-{n}").status_code for n in range(10)] == [401] * 10
        refused = log_in(KEY)  # even the right key waits now: the guesses came from here
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert "Too many failed logins" in refused.text
