"""Pulling models from a local HTTP server that answers like the Hugging Face Hub."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from localvision.errors import InvalidParameterError
from localvision.registry.pull import PullError, download, resolve_source


class Hub(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    ranges: list[str] = []
    requests: list[str | None] = []
    """The Range header of each request for a stalled path (None: a whole-file request)."""
    stall: threading.Event | None = None
    """When set up, the first whole-file answer sends half its bytes, then waits for it."""
    stalled = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        data = self.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.end_headers()
            return
        start = 0
        header = self.headers.get("Range")
        Hub.requests.append(header)
        if header:
            self.ranges.append(header)
            start = int(header.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        gate, Hub.stall = Hub.stall, None
        if gate is not None and not header:
            half = start + (len(data) - start) // 2
            self.wfile.write(data[start:half])
            self.wfile.flush()
            Hub.stalled.set()
            gate.wait(timeout=60)
            start = half
        self.wfile.write(data[start:])


@pytest.fixture
def hub() -> Iterator[str]:
    Hub.files = {
        "/org/repo/resolve/main/model.onnx": b"A" * 5000,
        "/org/repo/resolve/v2/model.onnx": b"B" * 10,
    }
    Hub.ranges, Hub.requests, Hub.stall = [], [], None
    Hub.stalled = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_hf_references_resolve_against_hf_endpoint(hub: str) -> None:
    url, _ = resolve_source("hf://org/repo/model.onnx", {"HF_ENDPOINT": hub})
    assert url == f"{hub}/org/repo/resolve/main/model.onnx"
    url, _ = resolve_source("hf://org/repo@v2/model.onnx", {"HF_ENDPOINT": hub + "/"})
    assert url == f"{hub}/org/repo/resolve/v2/model.onnx"
    assert resolve_source("mobilenet-v2", {})[1] is not None
    with pytest.raises(InvalidParameterError, match="hf://owner/repo"):
        resolve_source("ftp://example.com/m.onnx", {})


def test_download_records_the_hash_and_checks_it_later(hub: str, tmp_path: Path) -> None:
    url = f"{hub}/org/repo/resolve/main/model.onnx"
    first = download(url, tmp_path, environ={})
    assert first.path.read_bytes() == b"A" * 5000 and not first.resumed
    Hub.files["/org/repo/resolve/main/model.onnx"] = b"C" * 5000  # changed upstream
    with pytest.raises(PullError, match="recorded at its first download"):
        download(url, tmp_path, environ={})
    with pytest.raises(PullError, match="was given"):
        download(
            f"{hub}/org/repo/resolve/v2/model.onnx", tmp_path, expected_sha256="0" * 64, environ={}
        )


def test_partial_downloads_resume_with_a_range_request(hub: str, tmp_path: Path) -> None:
    import hashlib

    url = f"{hub}/org/repo/resolve/main/model.onnx"
    part = tmp_path / "downloads" / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"A" * 1200)
    result = download(url, tmp_path, environ={})
    assert result.resumed and Hub.ranges == ["bytes=1200-"]
    assert result.path.read_bytes() == b"A" * 5000


def test_size_limit_offline_switch_and_missing_files(hub: str, tmp_path: Path) -> None:
    url = f"{hub}/org/repo/resolve/main/model.onnx"
    with pytest.raises(PullError, match="the limit is 100"):
        download(url, tmp_path, max_bytes=100, environ={})
    with pytest.raises(PullError, match="HF_HUB_OFFLINE"):
        download(url, tmp_path, environ={"HF_HUB_OFFLINE": "1"})
    with pytest.raises(PullError, match="HTTP 404"):
        download(f"{hub}/nope.onnx", tmp_path, environ={})


def test_two_pulls_of_one_url_take_turns(hub: str, tmp_path: Path) -> None:
    """A second pull while the first is mid-download waits for it (it used to append to the
    same .part file), then gets an intact file of its own."""
    url = f"{hub}/org/repo/resolve/main/model.onnx"
    Hub.stall = gate = threading.Event()
    waiting = threading.Event()
    results: dict[str, object] = {}

    def pull(name: str, on_wait: object = None) -> None:
        try:
            results[name] = download(url, tmp_path, environ={}, on_wait=on_wait)  # type: ignore[arg-type]
        except Exception as exc:
            results[name] = exc

    first = threading.Thread(target=pull, args=("first",))
    first.start()
    assert Hub.stalled.wait(timeout=30)  # half the file is in the .part file
    second = threading.Thread(target=pull, args=("second", waiting.set))
    second.start()
    assert waiting.wait(timeout=30), "the second pull did not wait for the first"
    gate.set()
    first.join(timeout=60)
    second.join(timeout=60)
    for name in ("first", "second"):
        outcome = results[name]
        assert not isinstance(outcome, Exception), f"{name}: {outcome!r}"
        assert outcome.path.read_bytes() == b"A" * 5000  # type: ignore[attr-defined]
    assert Hub.requests == [None, None]  # the second did not resume the first's .part file


def test_an_unreachable_host_is_said_plainly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PullError) as caught:
        download(f"http://127.0.0.1:{port}/model.onnx", tmp_path, environ={}, timeout=30)
    error = caught.value
    assert error.message.startswith("Cannot reach 127.0.0.1")
    assert error.hint is not None and "models add NAME FILE" in error.hint
    assert "HF_ENDPOINT" in error.hint


def test_the_catalog_is_listed(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from localvision.cli.app import app
    from localvision.registry.pull import CATALOG

    runner = CliRunner()
    listed = runner.invoke(app, ["models", "pull", "--list", "--json"])
    assert listed.exit_code == 0, listed.stderr
    assert [row["name"] for row in json.loads(listed.stdout)] == list(CATALOG)
    table = runner.invoke(app, ["models", "pull", "--list"])
    assert table.exit_code == 0 and "mobilenet-v2" in table.stdout
    bare = runner.invoke(app, ["models", "pull"])
    assert bare.exit_code == 2 and "models pull --list" in bare.stderr
