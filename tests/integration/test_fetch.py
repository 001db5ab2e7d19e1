"""Fetching imageUri: real HTTP on loopback, SSRF refusals, limits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest

from localvision.errors import FeatureNotAvailableError, ImageFetchError, ImageTooLargeError
from localvision.server import fetch as fetch_module
from localvision.server.fetch import ImageFetcher, address_allowed

from ..conftest import solid_jpeg
from ..servers import CLIENT_TIMEOUT_S

IMAGE = solid_jpeg((250, 0, 0))

SLOW_RELEASED = threading.Event()
"""``/slow`` answers only once this is set (at the end of the module): it is slower than any
time limit, whatever the machine's speed."""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/cat.jpg":
            self._send(IMAGE)
        elif self.path == "/redirect":
            self._redirect("/cat.jpg")
        elif self.path == "/loop":
            self._redirect("/loop")
        elif self.path == "/missing":
            self.send_response(404)
            self.end_headers()
        elif self.path == "/declared-big":
            self.send_response(200)
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
        elif self.path == "/streamed-big":
            self.send_response(200)
            self.end_headers()
            for _ in range(64):
                self.wfile.write(b"x" * 1024)
        elif self.path == "/slow":
            SLOW_RELEASED.wait(CLIENT_TIMEOUT_S)
            self._send(IMAGE)

    def _send(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    SLOW_RELEASED.set()
    server.shutdown()


def fetch(
    uri: str,
    *,
    allow_private: bool = True,
    max_bytes: int = 10_000,
    timeout: float = CLIENT_TIMEOUT_S,
) -> bytes:
    async def run() -> bytes:
        fetcher = ImageFetcher(max_bytes=max_bytes, timeout_s=timeout, allow_private=allow_private)
        try:
            return await fetcher.fetch(uri)
        finally:
            await fetcher.aclose()

    return anyio.run(run)


def test_fetches_and_follows_redirects_when_private_addresses_are_allowed(origin: str) -> None:
    assert fetch(origin + "/cat.jpg") == IMAGE
    assert fetch(origin + "/redirect") == IMAGE


def test_loopback_is_refused_by_default(origin: str) -> None:
    with pytest.raises(ImageFetchError, match="non-public address"):
        fetch(origin + "/cat.jpg", allow_private=False)
    with pytest.raises(ImageFetchError, match="non-public address"):
        fetch("http://localhost:1/", allow_private=False)


@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        ("/loop", ImageFetchError, "redirected more than 5 times"),
        ("/missing", ImageFetchError, "HTTP 404"),
        ("/declared-big", ImageTooLargeError, "1,000,000,000 bytes"),
        ("/streamed-big", ImageTooLargeError, "over the limit"),
        ("/slow", ImageFetchError, "longer than 0.5 s"),
    ],
)
def test_limits(origin: str, path: str, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        fetch(origin + path, timeout=0.5 if path == "/slow" else CLIENT_TIMEOUT_S)


def test_schemes() -> None:
    with pytest.raises(FeatureNotAvailableError, match="Google Cloud Storage"):
        fetch("gs://bucket/cat.jpg")
    for uri in ("file:///etc/passwd", "ftp://example.com/a.jpg", "data:image/png;base64,AAAA"):
        with pytest.raises(ImageFetchError, match="http or https"):
            fetch(uri)


@pytest.mark.parametrize("uri", ["http://[::1/a.jpg", "http://exämple.com/a.jpg"])
def test_urls_the_parsers_refuse_are_that_images_error(uri: str) -> None:
    """An unclosed IPv6 bracket raised ValueError and a non-ASCII host TypeError: both escaped
    the fetcher and failed the whole request with 500."""
    with pytest.raises(ImageFetchError, match="not a URL that can be fetched"):
        fetch(uri)


def test_unreachable_hosts_say_so() -> None:
    with pytest.raises(ImageFetchError, match="can not access"):
        fetch("http://127.0.0.1:1/cat.jpg")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00:ec2::254", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        # IPv6 forms that carry an IPv4 address are judged by the address they carry
        ("::ffff:8.8.8.8", True),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the cloud metadata address
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8: a real IPv6-only network's answer
        ("64:ff9b:1::a00:1", False),  # RFC 8215 local-use NAT64 prefix
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::a9fe:a9fe", False),  # IPv4-compatible 169.254.169.254
        ("::c0a8:101", False),  # IPv4-compatible 192.168.1.1
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("2001:0:a00:1::7f00:1", False),  # Teredo, server 10.0.0.1
        ("2001:0:808:808::7f00:1", False),  # Teredo: its 2001::/32 prefix is not public
        ("::ffff:224.0.0.1", False),
        ("64:ff9b::e000:1", False),  # NAT64 of multicast 224.0.0.1
    ],
)
def test_address_policy(address: str, allowed: bool) -> None:
    assert address_allowed(address, allow_private=False) is allowed


def test_embedded_private_addresses_stay_refused_when_private_ones_are_allowed_only() -> None:
    assert address_allowed("64:ff9b::7f00:1", allow_private=True)
    assert not address_allowed("64:ff9b::e000:1", allow_private=True)  # multicast never


def resolving_to(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    """Make every host name resolve to ``addresses``, in that order."""

    async def fake(host: str, port: int) -> list[str]:
        return list(addresses)

    monkeypatch.setattr(fetch_module, "resolve", fake)


def test_every_resolved_address_is_tried_in_turn(
    origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = origin.rsplit(":", 1)[1]
    resolving_to(monkeypatch, "127.0.0.2", "127.0.0.1")  # nothing listens on the first
    assert fetch(f"http://images.example:{port}/cat.jpg") == IMAGE


@pytest.mark.parametrize(
    "addresses",
    [
        ("8.8.8.8", "127.0.0.1"),
        ("2001:4860:4860::8888", "64:ff9b::7f00:1"),
        ("8.8.4.4", "2002:a9fe:a9fe::1"),
    ],
)
def test_one_non_public_answer_refuses_the_host(
    origin: str, monkeypatch: pytest.MonkeyPatch, addresses: tuple[str, ...]
) -> None:
    port = origin.rsplit(":", 1)[1]
    resolving_to(monkeypatch, *addresses)
    with pytest.raises(ImageFetchError, match="non-public address") as info:
        fetch(f"http://images.example:{port}/cat.jpg", allow_private=False)
    assert addresses[1] in str(info.value)
