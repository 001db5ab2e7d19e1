"""The ``kserve`` target: an InferenceService whose predictor is localvision.

KServe routes Open Inference Protocol calls (``/v2/models/NAME/infer``, ``/v2/health/...``) to
the predictor; localvision answers them itself (and its Google, AWS and native routes on the
same port). The InferenceService is a *custom predictor*: one container named
``kserve-container`` running the image this target also writes, with ``PROTOCOL=v2``.

The model comes, in order of preference:

* baked into the image (``--bake``): no download at all when KServe scales up;
* from an ``s3://`` or ``gs://`` URI through KServe's own ``storageUri`` mechanism: for a
  custom container that is the ``STORAGE_URI`` variable, whose folder KServe's storage
  initializer downloads to ``/mnt/models`` (with the credentials of the predictor's service
  account) before the server starts; localvision then reads it from there, checks its SHA-256
  against the manifest ``localvision models push`` wrote, and caches it;
* from any other storage URI (``az://``, ``abfs://``: KServe's initializer reads Azure only
  from https URLs) fetched by localvision itself when it starts.

The deployment mode is KServe's ``Standard`` (a plain Deployment, no Knative; ``RawDeployment``
before KServe 0.15), so the pod keeps the startup probe, read-only root file system and
volumes of the kubernetes target.
"""

from __future__ import annotations

from typing import Any

from .docker import add_server_image
from .kubernetes import (
    STARTUP_LIMIT_S,
    container_security,
    home_claim,
    labels,
    pod_security,
    probe,
    resources,
    volume_mounts,
    volumes,
)
from .output import RenderedFiles
from .plan import CONFIG_PATH, GRACE_S, HOME_DIR, Plan, PlannedModel, credential_env
from .yaml_text import Note, dump

__all__ = ["MOUNT", "inference_service", "render"]

MOUNT = "/mnt/models"
"""Where KServe's storage initializer puts what ``STORAGE_URI`` names."""
_INITIALIZER_SCHEMES = ("s3", "gs")
_STARTUP_PERIOD_S = 5


def render(plan: Plan) -> RenderedFiles:
    """``inferenceservice.yaml`` and the image its predictor runs."""
    files = RenderedFiles()
    add_server_image(plan, files, usage=_usage(plan))
    header = (
        f"localvision {plan.install.version}, written by `localvision deploy render kserve`.\n"
        + _usage(plan)
    )
    files.add_text("inferenceservice.yaml", dump(inference_service(plan), header=header))
    if plan.request.cache == "pvc":
        files.add_text("pvc.yaml", dump(home_claim(plan), header=header))
    return files


def initialized_model(plan: Plan) -> PlannedModel | None:
    """The model KServe's storage initializer fetches (``STORAGE_URI``), if any."""
    for model in plan.models:
        scheme = model.location.split("://", 1)[0].lower()
        if model.baked_file is None and scheme in _INITIALIZER_SCHEMES:
            return model
    return None


def inference_service(plan: Plan) -> dict[str, Any]:
    """The InferenceService (``serving.kserve.io/v1beta1``)."""
    request = plan.request
    fetched = initialized_model(plan)
    locations = {fetched.name: f"file://{MOUNT}"} if fetched else {}
    env: list[Any] = []
    if fetched is not None:
        env.append(
            Note(
                "KServe's storageUri for a custom predictor: its storage initializer downloads "
                f"this folder (what `localvision models push` wrote) to {MOUNT} first. To roll "
                "out a new model version, change it and apply.",
                {"name": "STORAGE_URI", "value": fetched.location},
            )
        )
    env += [
        Note(
            "The predictor speaks the Open Inference Protocol.", {"name": "PROTOCOL", "value": "v2"}
        ),
        {"name": "LOCALVISION_HOME", "value": HOME_DIR},
    ]
    if plan.uses_config:
        env.append({"name": "LOCALVISION_CONFIG", "value": CONFIG_PATH})
    port = request.port
    container: dict[str, Any] = {
        "name": "kserve-container",
        "image": Note("Push the image built from the Dockerfile here and name it.", plan.image),
        "args": plan.serve_args(locations=locations),
        "env": env,
        "ports": [{"containerPort": port, "protocol": "TCP"}],
    }
    if credential_env(plan) and any(m is not fetched and m.baked_file is None for m in plan.models):
        container["envFrom"] = [
            Note(
                "Credentials for the models localvision fetches itself (optional Secret).",
                {"secretRef": {"name": f"{request.name}-storage", "optional": True}},
            )
        ]
    container.update(
        {
            "resources": resources(plan),
            "startupProbe": Note(
                f"Up to {STARTUP_LIMIT_S // 60} minutes to load the models.",
                probe(
                    "/v2/health/live",
                    _STARTUP_PERIOD_S,
                    STARTUP_LIMIT_S // _STARTUP_PERIOD_S,
                    port=port,
                ),
            ),
            "readinessProbe": Note(
                "Open Inference Protocol readiness: every model loaded.",
                probe("/v2/health/ready", 5, 2, timeout=3, port=port),
            ),
            "livenessProbe": probe("/v2/health/live", 10, 3, timeout=5, port=port),
            "securityContext": container_security(),
            "volumeMounts": volume_mounts(plan),
        }
    )
    predictor: dict[str, Any] = {
        "minReplicas": request.min_replicas,
        "maxReplicas": request.max_replicas,
        "scaleMetric": Note("Inference is CPU-bound: scale on CPU.", "cpu"),
        "scaleTarget": 70,
        "terminationGracePeriodSeconds": Note(
            "Above the server's drain limit: requests in flight finish on a rollout.", GRACE_S
        ),
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": volumes(plan),
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": request.name,
            "labels": labels(plan),
            "annotations": Note(
                "A plain Deployment with an autoscaler (no Knative). Use RawDeployment on "
                "KServe before 0.15; Knative to scale to zero (then drop the startupProbe, "
                "volumes and securityContext fields Knative does not allow).",
                {"serving.kserve.io/deploymentMode": "Standard"},
            ),
        },
        "spec": {"predictor": predictor},
    }


def _usage(plan: Plan) -> str:
    name = plan.request.name
    lines = [
        "From this folder: build and push the image, then apply:",
        f"  docker build -t {plan.image} . && docker push {plan.image}",
    ]
    if plan.uses_config:
        lines.append(
            f"  kubectl create secret generic {name}-config "
            "--from-file=localvision.toml=localvision.toml"
        )
    if plan.request.cache == "pvc":
        lines.append("  kubectl apply -f pvc.yaml")
    lines += [
        "  kubectl apply -f inferenceservice.yaml",
        f"  kubectl get inferenceservice {name}   (READY True once every model is loaded)",
    ]
    return "\n".join(lines)
