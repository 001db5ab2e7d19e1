"""The server's own ASGI app as a Ray Serve deployment: ``localvision serve --ray``.

Each replica builds the app :func:`~localvision.server.create_app` builds for the plain
server, from the same settings, and runs its startup (models loaded and warmed up) before Ray
Serve sends it traffic. So every HTTP protocol (Google Cloud Vision REST, AWS Rekognition,
Open Inference, the native API), the credentials gate, body limits and deadlines, the
per-protocol error formats and ``/metrics`` behave as on the plain server. What differs:

* Ray Serve's proxy, not uvicorn as ``serve`` configures it, holds the connections: it binds
  ``[server] host`` and ``port`` (loopback by default) and applies ``keep_alive_s``; the
  header deadline and ``max_connections`` of the plain server are not there (the proxy has
  ``max_ongoing_requests`` per replica and its own queue);
* Google's gRPC API stays on the plain server (``serve --grpc-port``): a replica does not open
  a gRPC port;
* ``/metrics`` answers for the replica that takes the request; Ray's own metrics cover the
  deployment as a whole.

Replicas are ``[ray] num_replicas`` (or ``--replicas``), or autoscaled by
``[ray.autoscaling]``; each reserves ``replica_cpus`` and ``replica_gpus``.

For KubeRay's ``RayService`` (or ``serve run``), :func:`build` is the application builder:
``import_path: localvision.scale.ray_serve:build`` with ``args: {config: /path/localvision.toml}``.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp

from ..config import Settings
from ..server import ServerState, create_app
from .cluster import check_on_worker, connected, require_ray

if TYPE_CHECKING:
    from ray.serve import Application

__all__ = ["APP_NAME", "LocalVisionReplica", "application", "build", "deploy", "serve_on_ray"]

APP_NAME = "localvision"
"""The Ray Serve application's name (``serve status`` lists it)."""


class LocalVisionReplica:
    """One replica: the server app for ``settings``, built when the replica starts.

    A plain class: :func:`application` wraps it with ``serve.ingress`` when Ray is joined,
    so that importing this module does not import Ray (which reads its environment then).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __serve_build_asgi_app__(self) -> ASGIApp:
        """Ray Serve calls this once in the replica; the app's startup then loads the models."""
        return create_app(self._settings)


def replica_settings(settings: Settings) -> Settings:
    """``settings`` as a replica runs them: no gRPC port (it stays on the plain server)."""
    server = settings.server.model_copy(update={"grpc_port": None})
    return settings.model_copy(update={"server": server})


def application(settings: Settings, *, replicas: int | None = None) -> Application:
    """The Ray Serve application for ``settings``: the deployment with ``[ray]``'s replicas
    (``replicas`` overrides ``num_replicas``; ``[ray.autoscaling]`` replaces both)."""
    ray_settings = settings.ray
    options: dict[str, Any] = {
        "name": APP_NAME,
        "max_ongoing_requests": ray_settings.max_ongoing_requests,
        "ray_actor_options": {"num_cpus": ray_settings.replica_cpus}
        | ({"num_gpus": ray_settings.replica_gpus} if ray_settings.replica_gpus else {}),
    }
    scaling = ray_settings.autoscaling
    if scaling is not None:
        options["autoscaling_config"] = {
            "min_replicas": scaling.min_replicas,
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
        }
    else:
        options["num_replicas"] = replicas or ray_settings.num_replicas
    serve = _serve()
    deployment = serve.deployment(**options)(serve.ingress()(LocalVisionReplica))
    app: Application = deployment.bind(replica_settings(settings))
    return app


def build(args: dict[str, str]) -> Application:
    """The application builder for ``serve run`` and KubeRay's ``RayService``: ``args`` may
    name the ``config`` file (else ``$LOCALVISION_CONFIG`` or ``./localvision.toml``)."""
    return application(Settings.load(args.get("config")))


def deploy(settings: Settings, *, replicas: int | None = None) -> None:
    """Check the models on a worker, start Serve's proxy on ``[server] host:port`` (unless
    Serve already runs) and run the application until its replicas are up.

    Needs a joined Ray (:func:`~localvision.scale.cluster.connected`).
    """
    check_on_worker(
        _ServerLoads(replica_settings(settings)),
        num_cpus=settings.ray.replica_cpus,
        num_gpus=settings.ray.replica_gpus,
    )
    server = settings.server
    serve = _serve()
    serve.start(
        http_options={
            "host": server.host,
            "port": server.port,
            "keep_alive_timeout_s": max(1, round(server.keep_alive_s)),
        }
    )
    serve.run(application(settings, replicas=replicas), name=APP_NAME, route_prefix="/")


def serve_on_ray(settings: Settings, address: str | None, *, replicas: int | None = None) -> int:
    """``localvision serve --ray``: deploy, then serve until SIGINT or SIGTERM; the exit status.

    On a cluster the application is deleted at the end; a local Ray started here stops.
    """
    stop = threading.Event()
    if settings.server.grpc_port is not None:
        print(
            "note: gRPC stays on the plain server; the replicas answer HTTP only "
            "(drop --grpc-port, or run localvision serve without --ray for it)",
            file=sys.stderr,
        )
    with connected(address, settings.ray):
        deploy(settings, replicas=replicas)
        server = settings.server
        count = (
            f"{settings.ray.autoscaling.min_replicas}-{settings.ray.autoscaling.max_replicas}"
            if settings.ray.autoscaling is not None
            else str(replicas or settings.ray.num_replicas)
        )
        print(
            f"localvision serving on http://{server.host}:{server.port} on Ray Serve "
            f"({count} replicas; models: {', '.join(settings.models) or 'none'})",
            file=sys.stderr,
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(1.0):  # a timed wait lets the signal handlers run
            pass
        _serve().delete(APP_NAME)
    return 0


class _ServerLoads:
    """Start a server state for ``settings`` and close it: the check run on a worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(self) -> None:
        state = ServerState(self.settings)
        try:
            state.start()
        finally:
            state.close()


def _serve() -> Any:
    """``ray.serve``, imported once Ray is wanted (:func:`~.cluster.require_ray` names the
    extra when it is missing)."""
    require_ray()
    from ray import serve

    return serve
