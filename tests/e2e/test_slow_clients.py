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
from localvision.server.read_deadline import DRAIN_LIMIT

from ..conftest import colour_settings
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
    large = str(DRAIN_LIMIT + 1).encode()
    sock = connect(
        server,
        b"POST /v2/models/none/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
        + large
        + b"\r\n\r\n{",
    )
    status, headers, body = parse(read_until_closed(sock))  # refused without reading the body
    assert status == 404 and headers["connection"] == "close" and "error" in json.loads(body)


def test_a_small_body_refused_unread_is_let_through_and_the_connection_kept(
    server: LiveServer,
) -> None:
    """The rest of a small body, sent after the refusal, is dropped; the next request on the
    same connection is served."""
    with connect(
        server,
        b"POST /v2/models/none/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n{",
    ) as sock:
        status, headers, body = read_response(sock)  # refused before the body came
        assert (
            status == 404 and headers.get("connection") != "close" and "error" in json.loads(body)
        )
        sock.sendall(b" " * 499 + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = read_response(sock)
        assert status == 200 and json.loads(body) == {"status": "ok"}


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
            status, headers, body = parse(read_until_closed(extra))
            assert status == 503 and headers["connection"] == "close"
            assert json.loads(body)["error"]["code"] == "overloaded"  # JSON, not plain text
            # In the protocol's own "slow down", which Google's client retries by itself.
            google = connect(server, GOOGLE_HEAD + b"\r\n" + GOOGLE_BODY)
            status, headers, body = parse(read_until_closed(google))
            assert status == 429 and headers["connection"] == "close"
            assert headers["retry-after"] == "1"
            assert json.loads(body)["error"]["status"] == "RESOURCE_EXHAUSTED"
        finally:
            for sock in held:
                sock.close()
        # Once the held connections are gone, requests are served again.
        deadline = time.monotonic() + BOUND
        while httpx.get(server.url + "/healthz", timeout=CLIENT_TIMEOUT_S).status_code != 200:
            assert time.monotonic() < deadline, "still refused after the connections closed"
            time.sleep(0.05)


# ------------------------------------------------------------------------- refused when full


@pytest.fixture(scope="module")
def full(colour_model_path: Path, isolated_home: Path) -> Iterator[LiveServer]:
    """A server whose queue is full: one worker, no queue, and its one place held."""
    server = ServerSettings(read_timeout_s=1, keep_alive_s=60, workers=1, max_queue=0)
    with live_server(colour_settings(colour_model_path, isolated_home, server)) as running:
        batcher = running.state.batcher
        assert batcher is not None
        ticket = batcher.admit()
        assert batcher.full
        try:
            yield running
        finally:
            ticket.release()


GOOGLE_BODY = b'{"requests": [{"image": {"content": "AAAA"}, "features": [{"type": 4}]}]}'


GOOGLE_HEAD = (
    b"POST /v1/images:annotate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(GOOGLE_BODY)
)


def test_a_request_shed_while_full_keeps_its_connection(full: LiveServer) -> None:
    """Refused on its headers alone, its small body is dropped as it arrives and the next
    request on the same connection is served: a refused client need not reconnect."""
    with connect(full, GOOGLE_HEAD + b"\r\n") as sock:
        for _ in range(3):
            status, headers, body = read_response(sock)  # before any of the body was sent
            assert status == 429 and headers.get("connection") != "close"
            assert headers["retry-after"] == "1"
            assert json.loads(body)["error"]["status"] == "RESOURCE_EXHAUSTED"
            sock.sendall(GOOGLE_BODY + GOOGLE_HEAD + b"\r\n")  # the body, then the next one
        read_response(sock)
        sock.sendall(GOOGLE_BODY + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200


def test_a_client_waiting_for_100_continue_is_refused_and_disconnected(full: LiveServer) -> None:
    """No "100 Continue" was sent, so the body may never come: keeping the connection would
    read the client's next request as that body."""
    sock = connect(full, GOOGLE_HEAD + b"Expect: 100-continue\r\n\r\n")
    status, headers, _ = parse(read_until_closed(sock))
    assert status == 429 and headers["connection"] == "close"


def test_a_large_body_shed_while_full_closes_its_connection(full: LiveServer) -> None:
    sock = connect(
        full,
        b"POST /v1/annotate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n{" % (DRAIN_LIMIT + 1),
    )
    status, headers, body = parse(read_until_closed(sock))
    assert status == 503 and headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "overloaded"


def test_while_full_what_queues_no_images_is_still_answered(full: LiveServer) -> None:
    with httpx.Client(base_url=full.url, timeout=CLIENT_TIMEOUT_S) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/v1/models").status_code == 200
        assert http.get("/v2/models/colours").status_code == 200
        before = shed_count(http.get("/metrics").text)
        for _ in range(3):
            assert http.post("/v1/images:annotate", content=GOOGLE_BODY).status_code == 429
        metrics = http.get("/metrics").text
    assert 'operation="shed"' in metrics
    assert shed_count(metrics) == before + 3  # every shed is counted, not only the first


def shed_count(metrics: str) -> float:
    """``localvision_errors_total`` for Google's sheds (0 before the first)."""
    prefix = 'localvision_errors_total{protocol="google",type="OverloadedError"} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0][len(prefix) :]) if lines else 0.0


def test_while_full_a_request_without_any_credentials_still_gets_its_401(
    colour_model_path: Path, isolated_home: Path
) -> None:
    """A client that forgot its key learns that, not "busy"; one with a wrong key learns only
    that the server is busy."""
    import hashlib

    key = "the-right-key"
    server = ServerSettings(
        workers=1, max_queue=0, api_keys=[f"sha256:{hashlib.sha256(key.encode()).hexdigest()}"]
    )
    with live_server(colour_settings(colour_model_path, isolated_home, server)) as running:
        batcher = running.state.batcher
        assert batcher is not None
        ticket = batcher.admit()
        try:
            with httpx.Client(base_url=running.url, timeout=CLIENT_TIMEOUT_S) as http:
                bare = http.post("/v1/images:annotate", content=GOOGLE_BODY)
                assert bare.status_code == 401
                assert bare.json()["error"]["status"] == "UNAUTHENTICATED"
                wrong = http.post(
                    "/v1/images:annotate", content=GOOGLE_BODY, headers={"x-goog-api-key": "no"}
                )
                assert wrong.status_code == 429
                right = http.post(
                    "/v1/images:annotate", content=GOOGLE_BODY, headers={"x-goog-api-key": key}
                )
                assert right.status_code == 429  # full all the same
        finally:
            ticket.release()
