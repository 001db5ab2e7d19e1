"""Graceful shutdown: cut-off requests answered in their protocol, gRPC stopping with HTTP.

The engine is replaced by one that holds every call until the test releases it, so a request
is in flight for as long as the test needs, whatever the machine's speed.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from localvision.config import ModelConfig, ServerSettings, Settings
from localvision.server import ServerState
from localvision.types import AnnotateRequest, AnnotateResult

from ..conftest import solid_jpeg
from ..servers import LiveServer

BOUND = 30.0
"""Seconds any wait in these tests may last before it fails."""


class HeldEngine:
    """The real engine, but each call waits until :attr:`released` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.released = threading.Event()

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        self.entered.set()
        self.released.wait(BOUND)
        return self.inner.annotate(requests)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def held(
    colour_model_path: Path, isolated_home: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[ServerState, HeldEngine]]:
    """A started state serving the colour model for labels, on a held engine; with gRPC on a
    free port when the test asks for ``"grpc"`` (indirect parametrization)."""
    grpc = getattr(request, "param", None) == "grpc"
    server = ServerSettings(grpc_port=free_port() if grpc else None)
    settings = Settings(
        home=isolated_home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
        server=server,
    )
    state = ServerState(settings)
    state.start()
    engine = HeldEngine(state.engine)
    state.engine = engine  # type: ignore[assignment]
    state.schedule()
    try:
        yield state, engine
    finally:
        engine.released.set()
        state.close()


CONTENT = base64.b64encode(solid_jpeg((250, 0, 0))).decode()

REQUESTS = {
    "google": (
        "/v1/images:annotate",
        {},
        {"requests": [{"image": {"content": CONTENT}, "features": [{"type": 4}]}]},
    ),
    "aws": (
        "/",
        {
            "X-Amz-Target": "RekognitionService.DetectLabels",
            "Content-Type": "application/x-amz-json-1.1",
        },
        {"Image": {"Bytes": CONTENT}},
    ),
    "native": ("/v1/annotate", {}, {"images": [{"content": CONTENT}]}),
}


def post_in_background(url: str, protocol: str) -> tuple[threading.Thread, list[httpx.Response]]:
    path, headers, body = REQUESTS[protocol]
    answers: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: answers.append(
            httpx.post(url + path, json=body, headers=headers, timeout=BOUND)
        ),
        daemon=True,
    )
    worker.start()
    return worker, answers


@pytest.mark.parametrize("protocol", ["google", "aws", "native"])
def test_requests_cut_off_by_shutdown_are_answered_503_in_their_protocol(
    held: tuple[ServerState, HeldEngine], protocol: str
) -> None:
    state, engine = held
    server = LiveServer(state, drain_s=1).start()
    try:
        worker, answers = post_in_background(server.url, protocol)
        assert engine.entered.wait(BOUND), "the request never reached the engine"
        server.server.should_exit = True  # what SIGTERM does
        worker.join(BOUND)
        assert answers, "no answer to the request in flight"
    finally:
        engine.released.set()
        server.stop()
    (answer,) = answers
    assert answer.status_code == 503, answer.text
    assert answer.headers["connection"] == "close"
    if protocol == "google":
        error = answer.json()["error"]
        assert error["code"] == 503 and error["status"] == "UNAVAILABLE"
        assert "shutting down" in error["message"]
    elif protocol == "aws":
        assert answer.headers["x-amzn-ErrorType"] == "ServiceUnavailableException"
        assert answer.headers["content-type"].startswith("application/x-amz-json-1.1")
        assert answer.json()["__type"] == "ServiceUnavailableException"
        assert "x-amzn-RequestId" in answer.headers
    else:
        assert answer.json()["error"]["code"] == "unavailable"
        assert answer.headers["retry-after"] == "1"
    assert 'status="503"' in state.metrics.render().decode()


def test_requests_that_finish_within_the_drain_limit_are_answered(
    held: tuple[ServerState, HeldEngine],
) -> None:
    state, engine = held
    server = LiveServer(state, drain_s=int(BOUND)).start()
    try:
        worker, answers = post_in_background(server.url, "google")
        assert engine.entered.wait(BOUND)
        server.server.should_exit = True
        wait_until_refused(server.port)  # shutdown has begun: no new connections
        assert not answers and state.ready is False
        engine.released.set()
        worker.join(BOUND)
    finally:
        engine.released.set()
        server.stop()
    (answer,) = answers
    assert answer.status_code == 200 and answer.json()["responses"][0]["labelAnnotations"]


def wait_until_refused(port: int) -> None:
    """Return once 127.0.0.1:port refuses connections (within BOUND seconds)."""
    deadline = time.monotonic() + BOUND
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, "the HTTP server kept accepting connections"
        time.sleep(0.05)


@pytest.mark.parametrize("held", ["grpc"], indirect=True)
def test_grpc_refuses_new_calls_as_soon_as_shutdown_begins(
    held: tuple[ServerState, HeldEngine],
) -> None:
    pytest.importorskip("grpc", reason="the grpc extra serves gRPC")
    from google.api_core import exceptions as google_exceptions

    from .test_google_vision import grpc_client, image_request

    state, engine = held
    client = grpc_client(f"127.0.0.1:{state.settings.server.grpc_port}")
    too_many = [image_request(solid_jpeg((1, 1, 1)))] * 17  # refused without the engine
    server = LiveServer(state, drain_s=int(BOUND)).start()
    try:
        with pytest.raises(google_exceptions.InvalidArgument):  # served before shutdown
            client.batch_annotate_images(requests=too_many, retry=None, timeout=BOUND)
        worker, answers = post_in_background(server.url, "google")
        assert engine.entered.wait(BOUND)
        server.server.should_exit = True
        wait_until_refused(server.port)
        # HTTP is draining (its request is held in flight); gRPC must not take new calls.
        deadline = time.monotonic() + BOUND
        while True:
            try:
                client.batch_annotate_images(requests=too_many, retry=None, timeout=5)
            except google_exceptions.ServiceUnavailable:
                break
            except google_exceptions.InvalidArgument:
                assert time.monotonic() < deadline, "gRPC kept serving after HTTP stopped"
                time.sleep(0.05)
        assert worker.is_alive() and not answers
        engine.released.set()
        worker.join(BOUND)
        assert answers and answers[0].status_code == 200
    finally:
        engine.released.set()
        server.stop()
