"""``localvision serve`` as a user runs it: refusals, startup errors, and a clean SIGTERM."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from localvision.cli.app import app
from localvision.server.uvicorn_config import DrainingServer

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S

runner = CliRunner()


def test_listening_beyond_loopback_without_credentials_is_refused(colour_model_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "-m", f"c={colour_model_path}"])
    assert result.exit_code == 2
    assert "Refusing to listen on 0.0.0.0" in result.stderr and "--insecure" in result.stderr


def test_bad_model_arguments_are_one_line_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "-m", "no-equals-sign"])
    assert result.exit_code == 2 and "NAME=PATH" in result.stderr
    result = runner.invoke(app, ["serve", "-m", f"x={tmp_path / 'missing.onnx'}"])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = runner.invoke(app, ["serve", "--labels-model", "ghost"])
    assert result.exit_code == 2 and "registered model named 'ghost'" in result.stderr


def test_keys_hash_prints_the_configurable_form() -> None:
    result = runner.invoke(app, ["keys", "hash", "s3cret"])
    assert result.exit_code == 0 and result.stdout.strip().startswith("sha256:")
    assert "s3cret" not in result.stdout


def test_serve_applies_the_connection_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "localvision.toml"
    config_file.write_text(
        "[server]\nmax_connections = 7\nread_timeout_s = 2.5\nkeep_alive_s = 1.5\n"
    )
    seen: list[DrainingServer] = []

    def run(self: DrainingServer, sockets: object = None) -> None:  # serve nothing
        seen.append(self)
        self.started = True

    monkeypatch.setattr(DrainingServer, "run", run)
    previous = signal.getsignal(signal.SIGTERM)  # serve installs its own SIGTERM handler
    try:
        result = runner.invoke(app, ["serve", "--config", str(config_file)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 0, result.output
    (server,) = seen
    config = server.config
    assert config.limit_concurrency is None  # the protocol marks them: answered in format
    assert config.http.max_connections == 7  # type: ignore[union-attr]
    assert config.timeout_keep_alive == 1.5
    assert config.http.read_timeout_s == 2.5  # type: ignore[union-attr]
    assert config.timeout_graceful_shutdown == 10


def test_serve_exits_3_when_the_server_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DrainingServer, "run", lambda self, sockets=None: None)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        result = runner.invoke(app, ["serve"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HeldImage(BaseHTTPRequestHandler):
    """Serves one JPEG, but only once the test releases it: the GET proves that a request is
    in flight in the server (it is fetching its imageUri), for as long as the test needs."""

    asked: threading.Event  # one pair per server: see held_image()
    released: threading.Event
    body = solid_jpeg((250, 0, 0))

    def do_GET(self) -> None:
        type(self).asked.set()
        type(self).released.wait(CLIENT_TIMEOUT_S)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def held_image() -> Iterator[tuple[str, type[HeldImage]]]:
    """The URL of an image that :class:`HeldImage` serves, and the handler's events."""
    handler = type(
        "Held", (HeldImage,), {"asked": threading.Event(), "released": threading.Event()}
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/red.jpg", handler
    finally:
        handler.released.set()
        httpd.shutdown()
        httpd.server_close()


def wait_until_refused(port: int) -> None:
    """Return once 127.0.0.1:port refuses connections: the server's shutdown has begun."""
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, "the server kept accepting connections"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_finishes_in_flight_work_and_exits_zero(
    colour_model_path: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "LOCALVISION_HOME": str(tmp_path / "home")}
    config = tmp_path / "localvision.toml"
    config.write_text(  # the held image is on loopback; nothing may time out on a busy machine
        "[server]\nallow_private_urls = true\n"
        f"url_timeout_s = {CLIENT_TIMEOUT_S}\nrequest_timeout_s = {CLIENT_TIMEOUT_S}\n"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localvision",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "-m",
            f"colours={colour_model_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=CLIENT_TIMEOUT_S).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        content = base64.b64encode(solid_jpeg((250, 0, 0), size=(640, 480))).decode()
        labels = [{"type": 4}]
        with held_image() as (image_url, image):
            body = {
                "requests": [{"image": {"source": {"imageUri": image_url}}, "features": labels}]
                + [{"image": {"content": content}, "features": labels}] * 15
            }
            answers: list[httpx.Response] = []
            worker = threading.Thread(
                target=lambda: answers.append(
                    httpx.post(url + "/v1/images:annotate", json=body, timeout=CLIENT_TIMEOUT_S)
                ),
                daemon=True,
            )
            worker.start()
            assert image.asked.wait(CLIENT_TIMEOUT_S), "the request never reached the server"
            process.send_signal(signal.SIGTERM)
            wait_until_refused(port)  # shutdown has begun with the request still in flight
            assert not answers
            image.released.set()
            worker.join(CLIENT_TIMEOUT_S)
        assert process.wait(timeout=CLIENT_TIMEOUT_S) == 0
        assert answers and answers[0].status_code == 200, answers and answers[0].text
        responses = answers[0].json()["responses"]
        assert len(responses) == 16
        assert all(r["labelAnnotations"][0]["description"] == "red" for r in responses)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=CLIENT_TIMEOUT_S)


def test_grpc_without_its_extra_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``serve --grpc-port`` without grpcio printed a 40-line traceback from the lifespan."""
    monkeypatch.setitem(sys.modules, "grpc", None)  # as if grpcio were not installed
    monkeypatch.setitem(sys.modules, "grpc.aio", None)
    result = CliRunner().invoke(
        app, ["serve", "--port", "0", "--grpc-port", "0"], env={"LOCALVISION_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2, result.output
    assert "pip install 'localvision[grpc]'" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) <= 2
