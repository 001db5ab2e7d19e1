"""Slow clients cannot hold connections: header and body deadlines, and a connection cap.

Raw sockets against a real server on 127.0.0.1 with ``read_timeout_s = 1``. Each test waits on
socket events with a generous bound (:data:`BOUND`) and asserts only that the server closes or
answers before it, never how fast.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from localvision.config import ServerSettings, Settings

from ..servers import CLIENT_TIMEOUT_S, LiveServer, live_server

BOUND = 20.0
"""Seconds a test waits for the server to close or answer (the deadline is 1 s)."""


@pytest.fixture(scope="module")
def server(isolated_home: Path) -> Iterator[LiveServer]:
    """No models: the deadlines act before any model would run."""
    settings = Settings(
        home=isolated_home, server=ServerSettings(read_timeout_s=1, keep_alive_s=60)
    )
    with live_server(settings) as running:
        yield running


def connect(server: LiveServer, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=BOUND)
    if data:
        sock.sendall(data)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails after BOUND s)."""
    received = b""
    with sock:
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for {BOUND:g} s")
        except ConnectionResetError:
            pass  # closed with unread data on its side: closed all the same
    return received


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, lower-cased headers, body) without closing the socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection without answering"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return status, headers, body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def parse(received: bytes) -> tuple[int, dict[str, str], bytes]:
    assert received, "the server closed the connection without answering"
    head, _, body = received.partition(b"\r\n\r\n")
    status, headers = parse_head(head)
    return status, headers, body


# -------------------------------------------------------------------------------- headers


def test_a_connection_that_sends_nothing_is_closed(server: LiveServer) -> None:
    assert read_until_closed(connect(server)) == b""


def test_partial_headers_are_closed(server: LiveServer) -> None:
    sock = connect(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
    assert read_until_closed(sock) == b""


def test_partial_headers_after_a_kept_alive_request_are_closed(server: LiveServer) -> None:
    sock = connect(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers, _ = read_response(sock)
    assert status == 200 and headers.get("connection") != "close"
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and nothing more
    assert read_until_closed(sock) == b""


# ----------------------------------------------------------------------------------- bodies


def test_a_body_stalled_short_of_its_length_is_answered_408(server: LiveServer) -> None:
    sock = connect(
        server,
        b"POST /v1/annotate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"images": [',
    )
    status, headers, body = parse(read_until_closed(sock))
    assert status == 408 and headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and "read_timeout_s" in error["hint"]


def test_a_stalled_chunked_body_is_answered_408(server: LiveServer) -> None:
    sock = connect(
        server,
        b"POST /v1/annotate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"ima\r\n',
    )
    status, headers, body = parse(read_until_closed(sock))
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_stalled_body_is_answered_in_the_routes_protocol(server: LiveServer) -> None:
    sock = connect(
        server,
        b"POST /v1/images:annotate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{",
    )
    status, headers, body = parse(read_until_closed(sock))
    error = json.loads(body)["error"]  # Google has no 408: the request was not usable
    assert status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert "did not arrive within 1 s" in error["message"]
    sock = connect(
        server,
        b"POST /v2/models/none/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n{",
    )
    status, headers, body = parse(read_until_closed(sock))  # refused without reading the body
    assert status == 404 and headers["connection"] == "close" and "error" in json.loads(body)


def test_requests_sent_in_time_are_served_and_kept_alive(server: LiveServer) -> None:
    sock = connect(
        server,
        b"POST /v1/annotate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 14\r\n\r\n{"images": []}',
    )
    with sock:
        status, headers, body = read_response(sock)
        assert status == 400 and headers.get("connection") != "close"
        assert json.loads(body)["error"]["code"] == "invalid_parameter"
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200
    assert httpx.get(server.url + "/healthz", timeout=CLIENT_TIMEOUT_S).status_code == 200


# ------------------------------------------------------------------------------ connections


def test_connections_beyond_max_connections_are_answered_503(isolated_home: Path) -> None:
    settings = Settings(
        home=isolated_home, server=ServerSettings(max_connections=3, keep_alive_s=60)
    )
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with live_server(settings) as server:
        held = [connect(server, request) for _ in range(3)]
        try:
            for sock in held:  # each served, and kept open
                assert read_response(sock)[0] == 200
            extra = connect(server, request)
            status, headers, _ = parse(read_until_closed(extra))
            assert status == 503 and headers["connection"] == "close"
        finally:
            for sock in held:
                sock.close()
        # Once the held connections are gone, requests are served again.
        deadline = time.monotonic() + BOUND
        while httpx.get(server.url + "/healthz", timeout=CLIENT_TIMEOUT_S).status_code != 200:
            assert time.monotonic() < deadline, "still refused after the connections closed"
            time.sleep(0.05)
