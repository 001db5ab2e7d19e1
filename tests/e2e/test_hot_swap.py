"""Moving a registry alias swaps the served model with no failed request."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from localvision.config import ServerSettings, Settings
from localvision.registry import Registry

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S, live_server


def wait_for(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (an event, not a time), failing after a generous bound."""
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_alias_move_swaps_the_model_without_failing_requests(
    colour_model_path: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    registry = Registry(home)
    registry.add(
        "colours",
        colour_model_path,
        format_name="onnx",
        card={"labels": ["red", "green", "blue", "gray"], "input_range": "0..1"},
    )
    registry.add(
        "colours",
        colour_model_path,
        format_name="onnx",
        card={"labels": ["ROUGE", "VERT", "BLEU", "GRIS"], "input_range": "0..1"},
    )
    registry.set_alias("colours", 1, "production")
    settings = Settings(
        home=home,
        features={"labels": "colours"},
        server=ServerSettings(reload_interval_s=0.1, request_timeout_s=CLIENT_TIMEOUT_S),
    )
    body = {
        "requests": [
            {
                "image": {"content": base64.b64encode(solid_jpeg((250, 0, 0))).decode()},
                "features": [{"type": 4, "maxResults": 1}],
            }
        ]
    }
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    with live_server(settings) as server:

        def hammer() -> None:
            with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
                while not stop.is_set():
                    response = client.post("/v1/images:annotate", json=body)
                    if response.status_code != 200 or "error" in response.json()["responses"][0]:
                        failures.append(response.text)
                        continue
                    seen.append(
                        response.json()["responses"][0]["labelAnnotations"][0]["description"]
                    )

        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: "red" in seen or bool(failures))  # served by version 1
            registry.set_alias("colours", 2, "production")
            wait_for(lambda: "ROUGE" in seen or bool(failures))
            switch = seen.index("ROUGE") if "ROUGE" in seen else 0
            wait_for(lambda: len(seen) > switch + 40 or bool(failures))  # well after the swap
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=CLIENT_TIMEOUT_S)
        models = httpx.get(server.url + "/v1/models", timeout=CLIENT_TIMEOUT_S).json()["models"]

    assert failures == []
    assert "red" in seen and "ROUGE" in seen
    switch = seen.index("ROUGE")
    assert set(seen[switch + 20 :]) <= {"ROUGE"}  # once swapped, it stays swapped
    assert models[0]["card"]["labels"]["first"][0] == "ROUGE"
