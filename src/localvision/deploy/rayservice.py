"""The ``rayservice`` target: a KubeRay ``RayService`` serving localvision on Ray Serve.

Written to ``rayservice/`` beside the image's Dockerfile (:mod:`.ray_image`), so
``kubectl apply -f rayservice/`` applies the config, its credentials and the service:

* ``rayservice.yaml``: the ``RayService`` (``ray.io/v1``). Its ``serveConfigV2`` runs one
  application from ``localvision.scale.ray_serve:build`` (the server's own ASGI app in every
  replica, as ``localvision serve --ray`` runs it) with ``args.config`` naming the mounted
  ``localvision.toml``. The head pod schedules nothing (``num-cpus: "0"``); the worker pods
  hold the replicas and are sized from ``[ray]`` (:mod:`.ray_workers`);
* ``configmap.yaml``: ``localvision.toml`` without credentials (models, features, ``[ray]``:
  :mod:`.ray_config`); ``secret.yaml``: the ``[server]`` and ``[cloud]`` tables (API keys,
  SigV4 secrets), written readable by its owner only. An init container in each pod joins
  them and checks that localvision loads the result (:mod:`.ray_config_objects`);
* the two are named after a hash of their content and immutable: a new model or config is a
  new name in the RayService, which KubeRay rolls out as a new cluster and switches traffic
  to once its application runs (``NewCluster``); the old cluster keeps its own config until
  it is deleted.

Ray Serve's proxy listens on ``0.0.0.0`` on every node and KubeRay's Serve service
(``NAME-serve-svc``, port 8000) routes to it, so the rule of ``localvision serve`` applies
(:mod:`.checks`): credentials for every route or ``--insecure``. The port is KubeRay's 8000:
KubeRay gives 8080 to Ray's metrics. Ray's token authentication (``authOptions``) guards the
dashboard and the cluster's own ports, which would otherwise run jobs for anyone who reaches
them; it does not touch the Serve port, which localvision's own credentials guard.
"""

from __future__ import annotations

from typing import Any

from .context import add_build_context
from .docker import dockerignore
from .kubernetes import labels
from .output import RenderedFiles
from .plan import CONFIG_PATH, Plan, credential_env
from .ray_config import RayConfig, ray_config
from .ray_config_objects import (
    config_init_container,
    config_map,
    config_mount,
    config_volumes,
    secret,
)
from .ray_image import RAY_HOME, container_security, pod_security, ray_dockerfile, ray_version
from .ray_workers import WorkerGroup, worker_group
from .yaml_text import Note, dump

__all__ = [
    "APP_NAME",
    "FOLDER",
    "IMPORT_PATH",
    "SERVE_PORT",
    "manifests",
    "ray_service",
    "render",
    "serve_config",
]

FOLDER = "rayservice"
IMPORT_PATH = "localvision.scale.ray_serve:build"
"""The application builder Ray Serve imports in the cluster (it reads ``args.config``)."""
APP_NAME = "localvision"
"""The Serve application's name, as ``localvision serve --ray`` names it."""
SERVE_PORT = 8000
"""KubeRay's Serve port: its Serve service and its proxy health checks use it."""
_HEAD_PORTS = {"gcs-server": 6379, "dashboard": 8265, "client": 10001, "serve": SERVE_PORT}
_IDLE_S = 300


def render(plan: Plan) -> RenderedFiles:
    """The image and ``rayservice/``: the RayService, its ConfigMap and (with credentials)
    its Secret."""
    files = RenderedFiles()
    files.add_text("Dockerfile", ray_dockerfile(plan, usage=_usage(plan)))
    files.add_text(".dockerignore", dockerignore(plan))
    add_build_context(plan, files)
    for name, (text, private) in manifests(plan).items():
        files.add_text(f"{FOLDER}/{name}", text, private=private)
    return files


def manifests(plan: Plan) -> dict[str, tuple[str, bool]]:
    """File name -> (YAML text, whether it holds credentials)."""
    config = ray_config(plan)
    header = (
        f"localvision {plan.install.version}, written by `localvision deploy render rayservice`."
    )
    files = {
        "rayservice.yaml": (
            dump(ray_service(plan, config), header=header + "\n" + _usage(plan)),
            False,
        ),
        "configmap.yaml": (dump(config_map(plan, config), header=header), False),
    }
    if config.credentials is not None:
        secret_header = (
            f"{header}\nIt holds the credentials of the config given with --config: apply it, "
            "and keep it out of version control (it is written readable by its owner only)."
        )
        files["secret.yaml"] = (dump(secret(plan, config), header=secret_header), True)
    return files


def serve_config(plan: Plan) -> dict[str, Any]:
    """Ray Serve's config (``serveConfigV2``): the proxy on every node, one application."""
    server = plan.request.settings.server
    return {
        "proxy_location": "EveryNode",
        "http_options": {
            "host": plan.request.host,
            "port": SERVE_PORT,
            "keep_alive_timeout_s": max(1, round(server.keep_alive_s)),
        },
        "applications": [
            {
                "name": APP_NAME,
                "route_prefix": "/",
                "import_path": IMPORT_PATH,
                "args": {"config": CONFIG_PATH},
            }
        ],
    }


def ray_service(plan: Plan, config: RayConfig | None = None) -> dict[str, Any]:
    """The ``RayService`` (``ray.io/v1``)."""
    config = config or ray_config(plan)
    workers = worker_group(plan.request.settings.ray)
    cluster: dict[str, Any] = {
        "rayVersion": Note(
            "The Ray release of the image: the one localvision's ray extra pins.",
            ray_version(plan.install),
        ),
        "enableInTreeAutoscaling": workers.autoscaling,
    }
    if workers.autoscaling:
        cluster["autoscalerOptions"] = Note(
            "Ray Serve asks for replicas between [ray.autoscaling] min_replicas and "
            "max_replicas; the autoscaler adds worker pods for them and removes a pod idle "
            f"for {_IDLE_S // 60} minutes (a new pod pays for loading its models).",
            {"upscalingMode": "Default", "idleTimeoutSeconds": _IDLE_S},
        )
    cluster["authOptions"] = Note(
        "Ray's token authentication (KubeRay 1.5.1 or later, Ray 2.52 or later): without it the "
        "dashboard and the cluster's ports run jobs for anyone who reaches them. KubeRay "
        "makes the token's Secret. It does not apply to the Serve port.",
        {"mode": "token"},
    )
    cluster["headGroupSpec"] = _head_group(plan, config, workers)
    cluster["workerGroupSpecs"] = [_worker_group(plan, config, workers)]
    spec: dict[str, Any] = {
        "serveConfigV2": Note(
            "Every replica runs the server's own app (all its HTTP protocols, credentials, "
            "limits, /metrics); the replica counts and sizes come from [ray] in the "
            "config. Google's gRPC API stays on the plain server.",
            dump(serve_config(plan)),
        ),
        "upgradeStrategy": Note(
            "A new image or config (a new ConfigMap name) starts a new cluster; traffic "
            "switches to it once its application runs, then the old one is deleted.",
            {"type": "NewCluster"},
        ),
    }
    if workers.min_pods > 0:
        spec["excludeHeadPodFromServeSvc"] = Note(
            "Requests go to the workers' proxies; the head keeps the cluster's control plane.",
            True,
        )
    spec["rayClusterConfig"] = cluster
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": plan.request.name, "labels": labels(plan)},
        "spec": spec,
    }


def _head_group(plan: Plan, config: RayConfig, workers: WorkerGroup) -> dict[str, Any]:
    container = {
        "name": "ray-head",
        "image": Note("Push the image built from ../Dockerfile and name it here.", plan.image),
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": name, "containerPort": port, "protocol": "TCP"}
            for name, port in _HEAD_PORTS.items()
        ],
        "resources": Note(
            "The head runs Ray's control plane and the Serve controller, which builds the "
            "application from the config (so it mounts it too), and no replica.",
            {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        ),
        "securityContext": container_security(),
        "volumeMounts": [config_mount()],
    }
    pod: dict[str, Any] = {}
    if not workers.autoscaling:  # else the autoscaler beside it calls the Kubernetes API
        pod["automountServiceAccountToken"] = False
    pod.update(
        {
            "securityContext": pod_security(),
            "initContainers": [config_init_container(plan, config)],
            "containers": [container],
            "volumes": config_volumes(plan, config),
        }
    )
    return {
        "rayStartParams": Note("The head schedules: no replica runs on it.", {"num-cpus": "0"}),
        "template": {"metadata": {"labels": labels(plan)}, "spec": pod},
    }


def _worker_group(plan: Plan, config: RayConfig, workers: WorkerGroup) -> dict[str, Any]:
    resources: dict[str, Any] = {"cpu": str(workers.container_cpus), "memory": workers.memory}
    params = {"num-cpus": str(workers.cpus)}
    if workers.gpus:
        resources["nvidia.com/gpu"] = str(workers.gpus)
        params["num-gpus"] = str(workers.gpus)
    settings = plan.request.settings.ray
    container: dict[str, Any] = {
        "name": "ray-worker",
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "serve", "containerPort": SERVE_PORT, "protocol": "TCP"}],
    }
    if credential_env(plan):
        container["envFrom"] = [
            Note(
                "Storage credentials for the models the replicas fetch (AWS_ACCESS_KEY_ID, "
                "AWS_ENDPOINT_URL_S3, AZURE_STORAGE_CONNECTION_STRING, ...), if you do not use "
                "workload identity: kubectl create secret generic "
                f"{plan.request.name}-storage --from-literal=AWS_ACCESS_KEY_ID=...",
                {"secretRef": {"name": f"{plan.request.name}-storage", "optional": True}},
            )
        ]
    container.update(
        {
            "resources": Note(
                f"Room for {workers.replicas_per_pod} replica(s) of {settings.replica_cpus:g} "
                "CPU"
                + (f" and {settings.replica_gpus:g} GPU" if workers.gpus else "")
                + " each ([ray] replica_cpus, replica_gpus), and a core for Ray's own "
                "processes (the raylet, the node's Serve proxy).",
                {"requests": dict(resources), "limits": dict(resources)},
            ),
            "securityContext": container_security(),
            "volumeMounts": [
                config_mount(),
                {"name": "home", "mountPath": RAY_HOME},
                {"name": "dshm", "mountPath": "/dev/shm"},
            ],
        }
    )
    volumes = [
        *config_volumes(plan, config),
        Note(
            "The data home (the model cache): kept across container restarts, new for each pod.",
            {"name": "home", "emptyDir": {"sizeLimit": "10Gi"}},
        ),
        Note(
            "Ray's object store passes request bodies between the proxy and the replicas; the "
            "runtime's default /dev/shm (64 MB) would push it to disk.",
            {"name": "dshm", "emptyDir": {"medium": "Memory"}},
        ),
    ]
    if workers.autoscaling:
        count = (
            f"From {workers.min_pods} to {workers.max_pods} pods: the replicas of "
            "[ray.autoscaling], as the autoscaler adds them."
        )
    else:
        count = f"{workers.min_pods} pods: [ray] num_replicas."
    return {
        "groupName": "gpu" if workers.gpus else "cpu",
        "replicas": Note(count, workers.min_pods),
        "minReplicas": workers.min_pods,
        "maxReplicas": workers.max_pods,
        "rayStartParams": Note("What the replicas may reserve on each pod.", params),
        "template": {
            "metadata": {"labels": labels(plan)},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": pod_security(),
                "initContainers": [config_init_container(plan, config)],
                "containers": [container],
                "volumes": volumes,
            },
        },
    }


def _usage(plan: Plan) -> str:
    name = plan.request.name
    return "\n".join(
        [
            "From the folder holding the Dockerfile: build and push the image, then apply the",
            "config, its credentials and the RayService (KubeRay 1.5.1 or later installed):",
            f"  docker build -t {plan.image} . && docker push {plan.image}",
            f"  kubectl apply -f {FOLDER}/",
            f"  kubectl get rayservice {name}   (Ready once the application runs)",
            f"Clients call KubeRay's Serve service, {name}-serve-svc, on port {SERVE_PORT}.",
        ]
    )
