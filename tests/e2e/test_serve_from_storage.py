"""``localvision serve --model NAME=URI``: a model pushed to object storage, served from it.

The stores are the real stand-ins (moto's S3 server, the GCS emulator) on 127.0.0.1; the
server is ``localvision serve`` as a user runs it, in a subprocess with the stand-in's
environment, or in-process for what only shows from the inside (readiness while the store is
away). The model is the tiny colour classifier, so every answer is exact.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from localvision.cli.app import app
from localvision.config import ModelConfig, Settings, StorageSettings
from localvision.registry import Registry
from localvision.server import ServerState
from localvision.server.uvicorn_config import build_server
from localvision.storage import PushResult, push

from ..builders import COLOUR_LABELS
from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S
from ..storage_stand_ins import StandIn, closed_endpoint, put_object

vision = pytest.importorskip("google.cloud.vision", reason="google-cloud-vision is a dev extra")
boto3 = pytest.importorskip("boto3", reason="boto3 is a dev extra")
from botocore.config import Config  # noqa: E402
from google.api_core.client_options import ClientOptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402

pytestmark = pytest.mark.slow

RED, GREEN, BLUE = (240, 10, 10), (10, 230, 10), (10, 10, 240)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register_colours(home: Path, colour_model_path: Path) -> Registry:
    """A registry under ``home`` holding the colour model as ``colours@1``, its card (input
    range and labels) in the registry, not beside the file: what is served from storage must
    get them from the manifest."""
    registry = Registry(home)
    registry.add(
        "colours",
        colour_model_path,
        format_name="onnx",
        card={"input_range": "0..1", "labels": list(COLOUR_LABELS)},
    )
    return registry


def pushed(tmp_path: Path, colour_model_path: Path, root: str, env: dict[str, str]) -> PushResult:
    """``colours@1`` pushed under ``root`` (a folder of its own per test)."""
    registry = register_colours(tmp_path / "publisher", colour_model_path)
    return push(registry, "colours@1", root, environ=env)


def google_client(url: str) -> Any:
    return vision.ImageAnnotatorClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=url),
    )


def aws_client(url: str) -> Any:
    return boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=CLIENT_TIMEOUT_S,
            read_timeout=CLIENT_TIMEOUT_S,
        ),
    )


def top_label(url: str, colour: tuple[int, int, int]) -> str:
    """The best label Google's client gets for a solid ``colour`` image."""
    response = google_client(url).label_detection(image=vision.Image(content=solid_jpeg(colour)))
    assert response.error.code == 0, response.error.message
    return str(response.label_annotations[0].description)


def poll(check: Callable[[], bool], what: str, alive: Callable[[], bool] = lambda: True) -> None:
    """Wait until ``check()`` holds, with a generous deadline (never a fixed sleep)."""
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while not check():
        assert alive(), f"the server stopped while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def status_of(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=CLIENT_TIMEOUT_S).status_code
    except httpx.HTTPError:
        return None


# ------------------------------------------------------------------- a `serve` subprocess


@dataclass
class Served:
    """A ``localvision serve`` process, its URL, and its stderr lines as they come."""

    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self) -> None:
        poll(lambda: status_of(self.url + "/readyz") == 200, "/readyz 200", self.alive)

    def wait_for_log(self, pattern: str) -> None:
        poll(lambda: re.search(pattern, self.log) is not None, repr(pattern), self.alive)

    def stop(self) -> int:
        """SIGTERM, and the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=CLIENT_TIMEOUT_S)


@contextmanager
def serve(args: list[str], *, home: Path, env: dict[str, str]) -> Iterator[Served]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "localvision", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env, "LOCALVISION_HOME": str(home)},
        text=True,
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    assert process.stderr is not None
    stderr = process.stderr
    reader = threading.Thread(target=lambda: served.lines.extend(stderr), daemon=True)
    reader.start()
    try:
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=CLIENT_TIMEOUT_S)
        reader.join(CLIENT_TIMEOUT_S)


def test_a_pushed_model_serves_the_official_clients_and_restarts_from_the_cache(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    result = pushed(tmp_path, colour_model_path, s3_stand_in.folder("served"), s3_stand_in.env)
    home = tmp_path / "server-home"
    with serve(["--model", f"pets={result.uri}"], home=home, env=s3_stand_in.env) as first:
        first.wait_ready()
        assert httpx.get(first.url + "/readyz").json() == {"ready": True, "models": ["pets"]}
        labels = aws_client(first.url).detect_labels(Image={"Bytes": solid_jpeg(RED)})["Labels"]
        assert labels[0]["Name"] == "red"
        assert top_label(first.url, GREEN) == "green"
        assert first.stop() == 0
    # The same URI again, with the store unreachable: from the cache, and the log says so.
    away = {**s3_stand_in.env, "AWS_ENDPOINT_URL_S3": closed_endpoint()}
    with serve(["--model", f"pets={result.uri}"], home=home, env=away) as second:
        second.wait_ready()
        assert top_label(second.url, BLUE) == "blue"
        assert re.search(r"pets.*from the cache", second.log), second.log
        assert second.stop() == 0


def test_offline_without_a_cache_is_live_but_not_ready(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    result = pushed(tmp_path, colour_model_path, s3_stand_in.folder("offline"), s3_stand_in.env)
    args = ["--offline", "--model", f"pets={result.uri}"]
    with serve(args, home=tmp_path / "empty-home", env=s3_stand_in.env) as served:
        served.wait_for_log(r"not ready: model pets")
        assert "offline" in served.log.lower() and result.uri.rstrip("/") in served.log
        assert httpx.get(served.url + "/healthz").status_code == 200
        readyz = httpx.get(served.url + "/readyz")
        assert readyz.status_code == 503 and not readyz.json()["ready"]
        assert "pets" in readyz.json()["reason"]
        refused = httpx.post(served.url + "/v1/images:annotate", json={"requests": []})
        assert refused.status_code == 503
        assert refused.json()["error"]["status"] == "UNAVAILABLE"
        assert served.alive()
        assert served.stop() == 0


def test_a_tampered_artifact_is_refused_and_the_server_exits(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    """Same size, other bytes: only the checksum can tell, and the server must not serve it."""
    result = pushed(tmp_path, colour_model_path, s3_stand_in.folder("tampered"), s3_stand_in.env)
    artifact = f"{result.uri.rstrip('/')}/{result.manifest.file}"
    put_object(s3_stand_in, artifact, b"\x08" * result.manifest.size)
    home = tmp_path / "server-home"
    with serve(["--model", f"pets={result.uri}"], home=home, env=s3_stand_in.env) as served:
        assert served.process.wait(timeout=CLIENT_TIMEOUT_S) == 2
        served.wait_for_log(r"error: refusing to serve: .*SHA-256")
        assert f"manifest records {result.manifest.sha256}" in served.log
        assert "refusing to serve model pets" in served.log
    assert not list((home / "cache" / "storage" / "objects").glob("*"))  # nothing kept


# ------------------------------------------------------------------ in-process readiness


class BackgroundServer:
    """``localvision serve``'s server in a thread: listening at once, models loading meanwhile."""

    def __init__(self, settings: Settings) -> None:
        self.state = ServerState(settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = build_server(settings, state=self.state, load_in_background=True)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        poll(lambda: self.server.started, "the server to listen", self.thread.is_alive)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(CLIENT_TIMEOUT_S)
        self.state.close()
        self.sock.close()


@pytest.mark.parametrize("stand_in", ["s3_stand_in", "gcs_stand_in", "azure_blob_stand_in"])
def test_served_in_process_from_each_store(
    stand_in: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    colour_model_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = request.getfixturevalue(stand_in)
    result = pushed(tmp_path, colour_model_path, store.folder("in-process"), store.env)
    for key, value in store.env.items():  # the vendor's own chain reads the environment
        monkeypatch.setenv(key, value)
    french = ["rouge", "vert", "bleu", "gris"]  # configured card fields override the manifest's
    settings = Settings(
        home=tmp_path / "home",
        models={
            "pets": ModelConfig(path=result.uri),
            "animaux": ModelConfig(path=result.uri, card={"labels": french}),
        },
        features={"labels": "pets"},
    )
    with BackgroundServer(settings) as server:
        poll(lambda: server.state.ready, "the models to load", server.thread.is_alive)
        assert top_label(server.url, RED) == "red"
        assert server.state.models["pets"].sha256 == result.manifest.sha256
        assert list(server.state.models["animaux"].card.labels or []) == french


def test_annotate_takes_a_model_uri(
    s3_stand_in: StandIn, tmp_path: Path, colour_model_path: Path
) -> None:
    result = pushed(tmp_path, colour_model_path, s3_stand_in.folder("annotate"), s3_stand_in.env)
    photo = tmp_path / "blue.jpg"
    photo.write_bytes(solid_jpeg(BLUE))
    env = {**s3_stand_in.env, "LOCALVISION_HOME": str(tmp_path / "home")}
    args = ["annotate", str(photo), "--model", result.uri, "--features", "labels", "--json"]
    answer = CliRunner().invoke(app, args, env=env)
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)["labels"][0]["label"] == "blue"


def test_not_ready_while_the_store_is_away_then_ready_when_it_answers(
    tmp_path: Path, colour_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot be reached (and nothing cached) keeps the server live and not
    ready, answering 503 in each protocol's format; when the store appears, it turns ready."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev extra")
    port = free_port()
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    uri = "s3://lv-later/models/colours/1/"
    settings = Settings(
        home=tmp_path / "home",
        models={"pets": ModelConfig(path=uri)},
        storage=StorageSettings(retry_max_s=0.2),
    )
    with BackgroundServer(settings) as server:
        alive = server.thread.is_alive
        poll(lambda: "lv-later" in (server.state.reason or ""), "a failed try", alive)
        assert httpx.get(server.url + "/healthz").status_code == 200
        readyz = httpx.get(server.url + "/readyz")
        assert readyz.status_code == 503 and "lv-later" in readyz.json()["reason"]
        google = httpx.post(server.url + "/v1/images:annotate", json={"requests": []})
        assert (google.status_code, google.json()["error"]["status"]) == (503, "UNAVAILABLE")
        with pytest.raises(Exception) as refused:  # boto3's modelled exception
            aws_client(server.url).detect_labels(Image={"Bytes": solid_jpeg(RED)})
        assert "ServiceUnavailableException" in str(refused.value)
        assert httpx.post(server.url + "/v2/models/pets/infer", json={}).status_code == 503
        # The model is pushed through a second endpoint first (moto servers in one process
        # share their buckets), then the store comes up on the server's endpoint with the model
        # already whole: the server never sees a bucket without it, which would be a
        # misconfigured URI, not a store that is away.
        staging_port = free_port()
        with ExitStack() as running:
            staging = moto_server.ThreadedMotoServer(
                ip_address="127.0.0.1", port=staging_port, verbose=False
            )
            staging.start()
            running.callback(staging.stop)
            staging_env = env | {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{staging_port}"}
            boto3.client("s3", endpoint_url=staging_env["AWS_ENDPOINT_URL_S3"]).create_bucket(
                Bucket="lv-later"
            )
            registry = register_colours(tmp_path / "publisher", colour_model_path)
            push(registry, "colours@1", "s3://lv-later/models", environ=staging_env)
            store = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            store.start()
            running.callback(store.stop)
            poll(lambda: status_of(server.url + "/readyz") == 200, "ready", alive)
            assert top_label(server.url, GREEN) == "green"
