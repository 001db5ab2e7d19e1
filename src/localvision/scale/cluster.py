"""Joining Ray: a local one started for the command, or an existing cluster, checked first.

``--ray`` alone uses ``[ray] address`` when it is set, else starts a local Ray sized by
``[ray] num_cpus`` and ``object_store_memory``, bound to 127.0.0.1 like the plain server,
without its dashboard, and with Ray's usage statistics off unless the environment turns them
on: nothing leaves the machine unasked. An
address is ``auto`` (the cluster this machine belongs to), ``ray://HOST:PORT`` (Ray Client) or
``HOST:PORT`` (the cluster's GCS). A host:port address is tried with a plain TCP connection
first, so an unreachable cluster is one clear error within seconds rather than Ray's own
minute of retries.

Models are checked where they will run (:func:`check_on_worker`) before a job or deployment
starts, so a model file missing on the workers is one error up front, not a job whose actors
die one after another.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from ..config import RaySettings
from ..errors import LocalVisionError, RayUnavailableError
from ..optional import import_optional

__all__ = [
    "LOCAL",
    "RayUnavailableError",
    "check_on_worker",
    "cluster_cpus",
    "connected",
    "require_ray",
]

LOCAL = "local"
"""The address meaning "start a local Ray for this command"."""
PROBE_TIMEOUT_S = 5.0
"""How long the TCP check of a cluster address waits for the connection."""


def require_ray() -> ModuleType:
    """The ``ray`` module, or :class:`~localvision.errors.MissingDependencyError` naming the
    ``ray`` extra."""
    return import_optional("ray", extra="ray", purpose="run batch jobs and the server on Ray")


def resolve_address(given: str | None, settings: RaySettings) -> str:
    """The address to use: ``given`` (``--ray ADDRESS``), else ``[ray] address``, else local."""
    address = (given or "").strip() or settings.address or LOCAL
    return address


@contextmanager
def connected(address: str | None, settings: RaySettings) -> Iterator[ModuleType]:
    """Ray, joined for the ``with`` block: the one this process already joined (tests, a
    notebook), else the cluster at ``address``, else a local Ray stopped at the end.

    Raises :class:`RayUnavailableError` when the cluster cannot be reached.
    """
    target = resolve_address(address, settings)
    if target == LOCAL:
        _loopback_only()
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    if target == LOCAL:
        _start_local(ray, settings)
    else:
        _join(ray, target)
    try:
        yield ray
    finally:
        ray.shutdown()


def _loopback_only() -> None:
    """Keep a local Ray on this machine: no usage report, and every part of it on 127.0.0.1.

    Ray swaps a loopback node address for the address of its route to a public resolver
    unless it believes multi-node clusters are off, which this variable says; Ray reads it
    when imported, so this runs first. A variable the user set wins.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def _start_local(ray: ModuleType, settings: RaySettings) -> None:
    try:
        ray.init(
            _node_ip_address="127.0.0.1",
            num_cpus=settings.num_cpus,
            object_store_memory=settings.object_store_memory,
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    except Exception as exc:  # Ray's own errors (ports, shared memory) end here, in one line
        raise RayUnavailableError(
            f"A local Ray could not start: {type(exc).__name__}: {exc}",
            hint="Check shared memory (/dev/shm) and [ray] object_store_memory, or join a "
            "running cluster with --ray ADDRESS.",
        ) from exc


def _join(ray: ModuleType, address: str) -> None:
    endpoint = _endpoint(address)
    if endpoint is not None:
        _probe(address, *endpoint)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except Exception as exc:  # ConnectionError, or Ray's own on a version mismatch
        raise RayUnavailableError(
            f"Cannot join the Ray cluster at {address}: {type(exc).__name__}: {exc}",
            hint=_JOIN_HINT,
        ) from exc


_JOIN_HINT = (
    "Check the address (ray://HOST:10001 for Ray Client, HOST:6379 on a cluster node, auto), "
    "that the cluster runs the same Ray version, or drop the address for a local Ray."
)


def _endpoint(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``ray://HOST:PORT`` or ``HOST:PORT`` address; None for ``auto``."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _probe(address: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayUnavailableError(
            f"Cannot reach the Ray cluster at {address}: {reason}.", hint=_JOIN_HINT
        ) from exc


def cluster_cpus(ray: ModuleType) -> float:
    """The CPUs the cluster has in all (at least one)."""
    return max(1.0, float(ray.cluster_resources().get("CPU", 1.0)))


def check_on_worker(
    check: Callable[[], None], *, num_cpus: float = 0.0, num_gpus: float = 0.0
) -> None:
    """Run ``check`` once on a Ray worker with the resources its real work will ask for;
    a :class:`~localvision.errors.LocalVisionError` it raises is raised here as it was.

    Used to load the models where they will run before a job or deployment starts.
    """
    ray = require_ray()
    remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(_outcome)
    found = ray.get(remote.remote(check))
    if found is not None:
        kind, message, hint = found
        raise _rebuilt(kind, message, hint)


def _outcome(check: Callable[[], None]) -> tuple[type[LocalVisionError], str, str | None] | None:
    """None when ``check`` passes; its error's class, message and hint when it fails (an
    exception with keyword arguments does not survive pickling whole)."""
    try:
        check()
    except LocalVisionError as exc:
        return type(exc), exc.message, exc.hint
    except Exception as exc:  # a foreign error still comes back as one line, not a traceback
        return LocalVisionError, f"{type(exc).__name__}: {exc}", None
    return None


def _rebuilt(kind: type[LocalVisionError], message: str, hint: str | None) -> LocalVisionError:
    try:
        return kind(message, hint=hint)
    except TypeError:  # a subclass with its own constructor: the base keeps the text
        return LocalVisionError(message, hint=hint)


def remote_args(cpus: float, gpus: float) -> dict[str, Any]:
    """Ray's resource arguments for ``cpus`` and ``gpus`` (no ``num_gpus`` key when zero)."""
    args: dict[str, Any] = {"num_cpus": cpus}
    if gpus:
        args["num_gpus"] = gpus
    return args
