"""One local Ray for the tests: 2 CPUs, a small object store, Serve's proxy on 127.0.0.1.

Started once per session by the ``ray_cluster`` fixture (tests/conftest.py) and shared by every
test marked ``ray``; nothing in it reaches beyond the loopback address: the node and the proxy
bind 127.0.0.1, the dashboard is off and so are Ray's usage statistics.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

OBJECT_STORE_BYTES = 200 * 1024 * 1024
ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage report leaves the machine
    # Ray replaces a 127.0.0.1 node address with the address of the route to 8.8.8.8 unless
    # it believes clusters are off: then the node, its workers and the proxy stay on loopback.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",  # the log of a test run stays readable
}


@dataclass(frozen=True)
class RayCluster:
    """The running local Ray: Serve's HTTP proxy answers on ``serve_url``."""

    serve_port: int

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_ray() -> Iterator[RayCluster]:
    """Start Ray and Serve's proxy; stop both afterwards (the environment restored)."""
    saved = {key: os.environ.get(key) for key in ENVIRONMENT}
    os.environ.update(ENVIRONMENT)  # before Ray is imported: it reads some of them then
    import ray
    import ray._private.ray_constants
    from ray import serve

    # Imported earlier by another test, Ray read the variable before it was set: say it here.
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
    ray.init(
        num_cpus=2,
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="warning",
    )
    try:
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        yield RayCluster(serve_port=port)
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
