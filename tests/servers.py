"""Running the real server on a random loopback port for the official clients to talk to."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from localvision.config import Settings
from localvision.server import ServerState
from localvision.server.uvicorn_config import build_server

CLIENT_TIMEOUT_S = 120.0
"""Seconds a test's client waits for an answer (a model may run), however busy the machine:
a test waits for the answer itself, never for a time to pass."""

SERVER_TIMEOUT_S = 120.0
"""``request_timeout_s`` of test servers that do not set their own: a busy machine running
OCR or a real photo model must not hit the server's own time limit."""


class LiveServer:
    """uvicorn in a background thread, on a socket bound to 127.0.0.1 and a free port, built
    as ``localvision serve`` builds it (connection limits, read deadlines, shutdown); requests
    still running ``drain_s`` seconds into :meth:`stop` are answered 503."""

    def __init__(self, state: ServerState, *, drain_s: int = 5) -> None:
        self.state = state
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = build_server(state.settings, state=state, drain_s=drain_s)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=CLIENT_TIMEOUT_S)
        self.sock.close()


def generous(settings: Settings) -> Settings:
    """``settings`` with :data:`SERVER_TIMEOUT_S` as the request time limit, unless the test
    set one itself."""
    server = settings.server
    if "request_timeout_s" in server.model_fields_set:
        return settings
    relaxed = server.model_copy(update={"request_timeout_s": SERVER_TIMEOUT_S})
    return settings.model_copy(update={"server": relaxed})


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """Start models and a server for ``settings`` (with a generous request time limit unless
    it sets one); stop both afterwards."""
    state = ServerState(generous(settings))
    state.start()
    server = LiveServer(state).start()
    try:
        yield server
    finally:
        server.stop()
        state.close()
