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
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from localvision.cli.app import app

from ..conftest import solid_jpeg

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_sigterm_finishes_in_flight_work_and_exits_zero(
    colour_model_path: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "LOCALVISION_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localvision",
            "serve",
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
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        content = base64.b64encode(solid_jpeg((250, 0, 0), size=(2000, 2000))).decode()
        body = {"requests": [{"image": {"content": content}, "features": [{"type": 4}]}] * 16}
        answers: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: answers.append(
                httpx.post(url + "/v1/images:annotate", json=body, timeout=30)
            )
        )
        worker.start()
        time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        worker.join(timeout=30)
        assert process.wait(timeout=30) == 0
        assert answers and answers[0].status_code == 200
        assert len(answers[0].json()["responses"]) == 16
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
