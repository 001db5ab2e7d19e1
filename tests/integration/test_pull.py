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
        if header:
            self.ranges.append(header)
            start = int(header.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def hub() -> Iterator[str]:
    Hub.files = {
        "/org/repo/resolve/main/model.onnx": b"A" * 5000,
        "/org/repo/resolve/v2/model.onnx": b"B" * 10,
    }
    Hub.ranges = []
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
