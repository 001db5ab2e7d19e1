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
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """Start models and a server for ``settings``; stop both afterwards."""
    state = ServerState(settings)
    state.start()
    server = LiveServer(state).start()
    try:
        yield server
    finally:
        server.stop()
        state.close()
