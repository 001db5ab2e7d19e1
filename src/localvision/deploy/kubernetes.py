"""The ``kubernetes`` target: Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget.

Written to ``kubernetes/`` beside the image's Dockerfile, one object per file, so
``kubectl apply -f kubernetes/`` applies them all. What each choice is for:

* probes: readiness on ``/readyz`` (traffic only once every model is loaded), liveness on
  ``/healthz``, and a startup probe generous enough for a model download before liveness
  counts;
* a rolling update that adds a ready pod before it removes one: a new model version (a new
  URI, or a new image with ``--bake``) rolls out without a gap, and a version that fails its
  checksum or does not load never becomes ready, so the rollout stops with the old pods serving;
* ``terminationGracePeriodSeconds`` above the pre-stop pause plus the server's drain limit;
* non-root, no privilege escalation, every capability dropped, a read-only root file system:
  the data home (``LOCALVISION_HOME``: the model cache) is an ``emptyDir`` that outlives
  container restarts, or with ``--cache pvc`` a ReadWriteMany claim every pod shares;
* the config with the credentials (API keys, AWS keys) from a Secret, storage credentials from
  another (optional) Secret or the pod's workload identity.
"""

from __future__ import annotations

from typing import Any

from .docker import USER_ID, add_server_image
from .output import RenderedFiles
from .plan import CONFIG_PATH, DRAIN_S, GRACE_S, HOME_DIR, PRESTOP_S, Plan, credential_env
from .yaml_text import Note, dump

__all__ = [
    "STARTUP_LIMIT_S",
    "container_security",
    "home_claim",
    "labels",
    "manifests",
    "pod_security",
    "probe",
    "render",
    "resources",
    "volume_mounts",
    "volumes",
]

STARTUP_LIMIT_S = 600
"""How long the startup probe lets the server take to answer ``/healthz``: enough for a few GB
at the speeds object stores give one connection."""
_STARTUP_PERIOD_S = 5
FOLDER = "kubernetes"


def render(plan: Plan) -> RenderedFiles:
    """The manifests in ``kubernetes/``, and the image they run."""
    files = RenderedFiles()
    add_server_image(plan, files, usage=_usage(plan))
    for name, text in manifests(plan).items():
        files.add_text(f"{FOLDER}/{name}", text)
    return files


def manifests(plan: Plan) -> dict[str, str]:
    """File name -> YAML text of each object."""
    header = (
        f"localvision {plan.install.version}, written by `localvision deploy render kubernetes`."
    )
    files = {
        "deployment.yaml": dump(deployment(plan), header=header + "\n" + _usage(plan)),
        "service.yaml": dump(service(plan), header=header),
        "hpa.yaml": dump(autoscaler(plan), header=header),
        "pdb.yaml": dump(disruption_budget(plan), header=header),
    }
    if plan.request.cache == "pvc":
        files["pvc.yaml"] = dump(home_claim(plan), header=header)
    return files


def labels(plan: Plan) -> dict[str, str]:
    """The labels every object carries; the selector is the first two."""
    return {
        "app.kubernetes.io/name": "localvision",
        "app.kubernetes.io/instance": plan.request.name,
        "app.kubernetes.io/version": plan.install.version,
    }


def _selector(plan: Plan) -> dict[str, str]:
    return dict(list(labels(plan).items())[:2])


def deployment(plan: Plan) -> dict[str, Any]:
    """The Deployment running the server."""
    name = plan.request.name
    pod: dict[str, Any] = {
        "automountServiceAccountToken": Note(
            "The server never calls the Kubernetes API. For storage credentials through "
            "workload identity (EKS IRSA / Pod Identity, GKE Workload Identity, Azure Workload "
            "Identity), set serviceAccountName to the bound service account.",
            False,
        ),
        "terminationGracePeriodSeconds": Note(
            f"Above the {PRESTOP_S} s pre-stop pause plus the server's drain limit "
            f"({DRAIN_S} s: requests in flight finish, then are answered 503), "
            "so no request is cut off without an answer.",
            GRACE_S,
        ),
        "securityContext": pod_security(),
        "containers": [container(plan)],
        "volumes": volumes(plan),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(plan)},
        "spec": {
            "revisionHistoryLimit": Note(
                "No replicas here: the HorizontalPodAutoscaler (hpa.yaml) owns the count. "
                f"Roll back a bad version with: kubectl rollout undo deployment/{name}",
                5,
            ),
            "selector": {"matchLabels": _selector(plan)},
            "strategy": Note(
                "A new pod must be ready (its model loaded and verified) before an old one "
                "stops: a model version that does not load stops the rollout, the old pods "
                "keep serving.",
                {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            ),
            "template": {"metadata": {"labels": labels(plan)}, "spec": pod},
        },
    }


def container(plan: Plan) -> dict[str, Any]:
    """The server's container."""
    request = plan.request
    env = [{"name": "LOCALVISION_HOME", "value": HOME_DIR}]
    if plan.uses_config:
        env.append({"name": "LOCALVISION_CONFIG", "value": CONFIG_PATH})
    result: dict[str, Any] = {
        "name": "localvision",
        "image": Note("Push the image built from ../Dockerfile and name it here.", plan.image),
        "imagePullPolicy": "IfNotPresent",
        "args": Note(
            "`localvision serve` (the image's entrypoint is localvision). To roll out a new "
            "model version, change its URI (or push to the URI an alias points to) and "
            "apply: the rolling update replaces pods one by one.",
            plan.serve_args(),
        ),
        "ports": [
            {"name": name, "containerPort": port, "protocol": "TCP"}
            for name, port in plan.ports.items()
        ],
        "env": env,
    }
    if credential_env(plan):
        result["envFrom"] = [
            Note(
                "Storage credentials as environment variables (AWS_ACCESS_KEY_ID, "
                "AWS_ENDPOINT_URL_S3, AZURE_STORAGE_CONNECTION_STRING, ...), if you do not "
                "use workload identity: kubectl create secret generic "
                f"{request.name}-storage --from-literal=AWS_ACCESS_KEY_ID=...",
                {"secretRef": {"name": f"{request.name}-storage", "optional": True}},
            )
        ]
    result.update(
        {
            "resources": Note(
                "Two cores: what docs/benchmarks.md measured the server on (about 250 "
                "single-image requests/s with MobileNet V2). The autoscaler adds pods at "
                "70 % of the request.",
                resources(plan),
            ),
            "startupProbe": Note(
                f"Up to {STARTUP_LIMIT_S // 60} minutes to start (loading, or downloading a "
                "model the cache does not hold yet) before liveness counts.",
                probe("/healthz", _STARTUP_PERIOD_S, STARTUP_LIMIT_S // _STARTUP_PERIOD_S),
            ),
            "readinessProbe": Note(
                "Traffic only once every model is loaded; off again as soon as shutdown begins.",
                probe("/readyz", 5, 2, timeout=3),
            ),
            "livenessProbe": Note(
                "Restart a server that stops answering at all.",
                probe("/healthz", 10, 3, timeout=5),
            ),
            "lifecycle": Note(
                "Keep serving while the endpoints drop this pod, then stop gracefully.",
                {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_S)]}}},
            ),
            "securityContext": container_security(),
            "volumeMounts": volume_mounts(plan),
        }
    )
    return result


def pod_security() -> dict[str, Any]:
    """The pod's security context: the image's unprivileged user, the runtime's seccomp."""
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": Note("Makes the data home volume writable by the server.", USER_ID),
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    """The container's security context: nothing beyond what serving needs."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def resources(plan: Plan) -> dict[str, Any]:
    """Requests and limits: two cores (one GPU with --gpu)."""
    if plan.request.gpu:
        return {
            "requests": {"cpu": "2", "memory": "4Gi"},
            "limits": {"memory": "8Gi", "nvidia.com/gpu": 1},
        }
    return {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}


def probe(
    path: str, period: int, failures: int, *, timeout: int = 2, port: str | int = "http"
) -> dict[str, Any]:
    """An HTTP GET probe of ``path``."""
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def volume_mounts(plan: Plan) -> list[dict[str, Any]]:
    """The data home, /tmp, and the config when there is one."""
    mounts: list[dict[str, Any]] = [
        {"name": "home", "mountPath": HOME_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if plan.uses_config:
        mounts.append({"name": "config", "mountPath": "/etc/localvision", "readOnly": True})
    return mounts


def volumes(plan: Plan) -> list[Any]:
    """The volumes :func:`volume_mounts` mounts."""
    name = plan.request.name
    if plan.request.cache == "pvc":
        home: Any = Note(
            "The data home on a claim every pod shares (pvc.yaml): a model is downloaded once "
            "for the whole Deployment.",
            {"name": "home", "persistentVolumeClaim": {"claimName": f"{name}-home"}},
        )
    else:
        home = Note(
            "The data home (model cache): kept across container restarts, new for each pod. "
            "Render with --cache pvc to share one cache between pods.",
            {"name": "home", "emptyDir": {"sizeLimit": "10Gi"}},
        )
    volumes = [home, {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    if plan.uses_config:
        volumes.append(
            Note(
                "Your localvision.toml with the [server] credentials: kubectl create secret "
                f"generic {name}-config --from-file=localvision.toml=localvision.toml",
                {
                    "name": "config",
                    "secret": {
                        "secretName": f"{name}-config",
                        "defaultMode": Note("0440: the server reads it, nobody writes.", 0o440),
                    },
                },
            )
        )
    return volumes


def service(plan: Plan) -> dict[str, Any]:
    """A ClusterIP Service in front of the pods (expose it with your Ingress or Gateway)."""
    ports = [
        {
            "name": name,
            "port": 80 if name == "http" else port,
            "targetPort": name,
            "protocol": "TCP",
        }
        for name, port in plan.ports.items()
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": plan.request.name, "labels": labels(plan)},
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(plan),
            "ports": ports,
            "sessionAffinity": Note(
                "A client keeps to one pod: web console logins live in the pod that made them. "
                "Behind an Ingress, turn on its own cookie affinity for /console as well.",
                "ClientIP",
            ),
        },
    }


def autoscaler(plan: Plan) -> dict[str, Any]:
    """Scale on CPU between ``--replicas`` and ``--max-replicas``."""
    request = plan.request
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": request.name, "labels": labels(plan)},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": request.name,
            },
            "minReplicas": request.min_replicas,
            "maxReplicas": request.max_replicas,
            "metrics": [
                Note(
                    "Inference is CPU-bound: a pod at 70 % of its requested cores is busy.",
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    },
                )
            ],
            "behavior": Note(
                "Scale down slowly: a new pod pays for loading its model.",
                {"scaleDown": {"stabilizationWindowSeconds": 300}},
            ),
        },
    }


def disruption_budget(plan: Plan) -> dict[str, Any]:
    """At most one pod down at a time for node drains and upgrades."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": plan.request.name, "labels": labels(plan)},
        "spec": {
            "maxUnavailable": Note(
                "Voluntary evictions (node drains, upgrades) take one pod at a time.", 1
            ),
            "selector": {"matchLabels": _selector(plan)},
        },
    }


def home_claim(plan: Plan) -> dict[str, Any]:
    """The shared data home for ``--cache pvc``."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"{plan.request.name}-home", "labels": labels(plan)},
        "spec": {
            "accessModes": Note(
                "Every pod mounts it: needs a ReadWriteMany storage class (EFS, Filestore, "
                "Azure Files, NFS); set storageClassName to yours.",
                ["ReadWriteMany"],
            ),
            "resources": {"requests": {"storage": "20Gi"}},
        },
    }


def _usage(plan: Plan) -> str:
    name = plan.request.name
    lines = [
        "From the folder holding the Dockerfile: build and push the image, then apply.",
        f"  docker build -t {plan.image} . && docker push {plan.image}",
    ]
    if plan.uses_config:
        lines.append(
            f"  kubectl create secret generic {name}-config "
            "--from-file=localvision.toml=localvision.toml"
        )
    lines += [
        f"  kubectl apply -f {FOLDER}/",
        f"  kubectl rollout status deployment/{name}",
    ]
    return "\n".join(lines)
