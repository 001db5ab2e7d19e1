"""Moving a registry alias swaps the served model with no failed request."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import httpx

from localvision.config import ServerSettings, Settings
from localvision.registry import Registry

from ..conftest import solid_jpeg
from ..servers import live_server


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
        server=ServerSettings(reload_interval_s=0.1, request_timeout_s=5),
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
            with httpx.Client(base_url=server.url, timeout=10) as client:
                while not stop.is_set():
                    response = client.post("/v1/images:annotate", json=body)
                    if response.status_code != 200 or "error" in response.json()["responses"][0]:
                        failures.append(response.text)
                        continue
                    seen.append(
                        response.json()["responses"][0]["labelAnnotations"][0]["description"]
                    )

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        registry.set_alias("colours", 2, "production")
        deadline = time.monotonic() + 10
        while "ROUGE" not in seen[-20:] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        models = httpx.get(server.url + "/v1/models").json()["models"]

    assert failures == []
    assert "red" in seen and "ROUGE" in seen
    switch = seen.index("ROUGE")
    assert set(seen[switch + 20 :]) <= {"ROUGE"}  # once swapped, it stays swapped
    assert models[0]["card"]["labels"]["first"][0] == "ROUGE"
