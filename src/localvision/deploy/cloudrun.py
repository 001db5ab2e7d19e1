"""The ``cloudrun`` target: a Cloud Run service (Knative ``serving.knative.dev/v1`` Service).

Applied with ``gcloud run services replace service.yaml``. The choices:

* the server listens on ``$PORT``, which Cloud Run sets (to the container port given here);
* CPU and concurrency from what ``docs/benchmarks.md`` measured (``benchmarks/serve.py``, 2
  vCPUs, MobileNet V2 int8, one image per request): 245 requests/s with one client and 248 with
  16, p50 53 ms and p95 129 ms at 16; the two cores are saturated well before 16 requests are in
  flight, so more per instance only queue. Hence 2 vCPUs and ``containerConcurrency: 16``, far
  under the server's own shedding bound (``server.max_queue``, 64 images), so Cloud Run adds an
  instance before one starts refusing;
* a startup probe on ``/readyz``: Cloud Run has no readiness probe, and an instance gets
  traffic once its startup probe passes, so that is when every model is loaded (at most
  Cloud Run's 240 s: bake large models);
* the config with the credentials from Secret Manager, mounted as a file.
"""

from __future__ import annotations

import shlex
from typing import Any

from .docker import add_server_image
from .output import RenderedFiles
from .plan import CONFIG_PATH, Plan, credential_env
from .yaml_text import Note, dump

__all__ = ["CONCURRENCY", "CPU", "render", "service"]

CPU = "2"
"""vCPUs per instance: the machine docs/benchmarks.md measured on."""
CONCURRENCY = 16
"""Requests per instance: where throughput stopped growing in benchmarks/serve.py."""
_STARTUP_PERIOD_S = 5
_STARTUP_LIMIT_S = 240  # Cloud Run's maximum for a startup probe


def render(plan: Plan) -> RenderedFiles:
    """``service.yaml`` and the image it runs."""
    files = RenderedFiles()
    add_server_image(plan, files, usage=_usage(plan))
    header = (
        f"localvision {plan.install.version}, written by `localvision deploy render cloudrun`.\n"
        + _usage(plan)
    )
    files.add_text("service.yaml", dump(service(plan), header=header))
    return files


def serve_command(plan: Plan) -> str:
    """The shell command the container runs: ``localvision serve`` on ``$PORT``."""
    args = plan.serve_args()
    at = args.index("--port")
    words = [shlex.quote(word) for word in ["localvision", *args]]
    words[at + 2] = '"${PORT:-' + str(plan.request.port) + '}"'
    return "exec " + " ".join(words)


def service(plan: Plan) -> dict[str, Any]:
    """The Cloud Run service."""
    request = plan.request
    port = request.port
    gpu = request.gpu
    annotations: dict[str, Any] = {
        "autoscaling.knative.dev/minScale": Note(
            "Instances kept warm: a new one pays for loading its model before its first answer.",
            str(request.min_replicas),
        ),
        "autoscaling.knative.dev/maxScale": str(request.max_replicas),
        "run.googleapis.com/startup-cpu-boost": Note("More CPU while the models load.", "true"),
        "run.googleapis.com/execution-environment": "gen2",
        "run.googleapis.com/sessionAffinity": Note(
            "A browser keeps to one instance: web console logins live in the instance that "
            "made them.",
            "true",
        ),
    }
    if gpu:
        annotations["run.googleapis.com/cpu-throttling"] = Note(
            "Cloud Run requires CPU always allocated with a GPU.", "false"
        )
    env: list[Any] = []
    if plan.uses_config:
        env.append({"name": "LOCALVISION_CONFIG", "value": CONFIG_PATH})
    container: dict[str, Any] = {
        "image": Note(
            "Push the image built from the Dockerfile here to Artifact Registry "
            "(REGION-docker.pkg.dev/PROJECT/REPOSITORY/NAME:TAG) and name it.",
            plan.image,
        ),
        "command": ["/bin/sh", "-c"],
        "args": Note(
            "localvision serve on $PORT, which Cloud Run sets. To roll out a new model "
            "version, change its URI and replace the service: a new revision takes the "
            "traffic once it is ready.",
            [serve_command(plan)],
        ),
        "ports": [{"name": "http1", "containerPort": port}],
    }
    if env:
        container["env"] = env
    container["resources"] = Note(
        f"{CPU} vCPUs: the machine of docs/benchmarks.md (about 250 requests/s)."
        if not gpu
        else "A GPU instance: Cloud Run requires at least 4 vCPUs and 16 GiB with one.",
        {"limits": _limits(gpu)},
    )
    container["startupProbe"] = Note(
        "Traffic only once every model is loaded (Cloud Run's startup probe is its "
        "readiness gate).",
        {
            "httpGet": {"path": "/readyz", "port": port},
            "periodSeconds": _STARTUP_PERIOD_S,
            "timeoutSeconds": 3,
            "failureThreshold": _STARTUP_LIMIT_S // _STARTUP_PERIOD_S,
        },
    )
    container["livenessProbe"] = {
        "httpGet": {"path": "/healthz", "port": port},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    if plan.uses_config:
        container["volumeMounts"] = [
            {"name": "config", "mountPath": CONFIG_PATH.rsplit("/", 1)[0], "readOnly": True}
        ]
    spec: dict[str, Any] = {
        "containerConcurrency": Note(
            f"{CONCURRENCY} requests per instance: on 2 vCPUs throughput was the same at 1 and "
            "16 clients (245 and 248 requests/s, p95 129 ms at 16); beyond that requests only "
            "wait, so Cloud Run should add an instance instead.",
            CONCURRENCY,
        ),
        "timeoutSeconds": Note(
            "Above the server's own request time limit (server.request_timeout_s, 30 s).", 60
        ),
    }
    spec["containers"] = (
        Note(
            "Storage credentials come from the service's service account (serviceAccountName; "
            "gs:// needs nothing else); for S3 or Azure add their variables (AWS_ACCESS_KEY_ID, "
            "AZURE_STORAGE_CONNECTION_STRING, ...) to env from Secret Manager.",
            [container],
        )
        if credential_env(plan)
        else [container]
    )
    if gpu:
        spec["nodeSelector"] = {"run.googleapis.com/accelerator": "nvidia-l4"}
    if plan.uses_config:
        spec["volumes"] = [
            Note(
                "Your localvision.toml with the [server] credentials, from Secret Manager: "
                f"gcloud secrets create {request.name}-config --data-file=localvision.toml",
                {
                    "name": "config",
                    "secret": {
                        "secretName": f"{request.name}-config",
                        "items": [{"key": "latest", "path": "localvision.toml"}],
                    },
                },
            )
        ]
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": request.name, "labels": {"app": "localvision"}},
        "spec": {"template": {"metadata": {"annotations": annotations}, "spec": spec}},
    }


def _limits(gpu: bool) -> dict[str, Any]:
    if gpu:
        return {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    return {"cpu": CPU, "memory": "2Gi"}


def _usage(plan: Plan) -> str:
    lines = [
        "From this folder: build and push the image, then deploy:",
        f"  docker build -t {plan.image} . && docker push {plan.image}",
    ]
    if plan.uses_config:
        lines.append(
            f"  gcloud secrets create {plan.request.name}-config --data-file=localvision.toml"
        )
    lines.append("  gcloud run services replace service.yaml --region REGION")
    return "\n".join(lines)
