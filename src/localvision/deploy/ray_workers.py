"""How big a RayService's worker pods are, and how many: from the ``[ray]`` settings.

A server replica reserves ``[ray] replica_cpus`` and ``replica_gpus``; a worker pod offers Ray
whole CPUs and GPUs (``ray start --num-cpus``), so it gets the fewest that hold one replica and
takes as many replicas as fit in them. The pod count follows the replica count: fixed
(``num_replicas``) or, with ``[ray.autoscaling]``, between the pods that hold
``min_replicas`` and those that hold ``max_replicas``, added and removed by KubeRay's
autoscaler as Ray Serve scales the replicas.

Example: ``replica_cpus = 0.5`` and ``[ray.autoscaling] min_replicas = 1, max_replicas = 8``
give 1-CPU pods of two replicas each, from 1 to 4 pods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import RaySettings

__all__ = ["WorkerGroup", "worker_group"]

_BASE_MEMORY_GI = 2
"""Per pod, for Ray's own processes (raylet, the Serve proxy, the object store)."""
_MEMORY_PER_CPU_GI = 2
"""Per CPU a replica reserves: its models, the images in flight, ONNX Runtime's arenas."""
_MEMORY_PER_GPU_GI = 8
"""Per GPU: the CUDA context and the host side of its buffers."""


@dataclass(frozen=True)
class WorkerGroup:
    """The worker pods of a RayService."""

    cpus: int
    """CPUs the pod offers Ray's scheduler (``num-cpus``): the replicas' reservations."""
    gpus: int
    replicas_per_pod: int
    min_pods: int
    max_pods: int
    autoscaling: bool
    """True when KubeRay's autoscaler adds and removes pods ([ray.autoscaling])."""

    @property
    def container_cpus(self) -> int:
        """The pod's CPU request: the replicas' CPUs and one for Ray's raylet and proxy, which
        reserve none but do work (every request passes the node's proxy)."""
        return self.cpus + 1

    @property
    def memory(self) -> str:
        """The pod's memory (request and limit), as a Kubernetes quantity."""
        gib = _BASE_MEMORY_GI + _MEMORY_PER_CPU_GI * self.cpus + _MEMORY_PER_GPU_GI * self.gpus
        return f"{gib}Gi"


def worker_group(settings: RaySettings) -> WorkerGroup:
    """The worker pods that hold the replicas ``settings`` ask for."""
    cpus = max(1, math.ceil(settings.replica_cpus))
    gpus = math.ceil(settings.replica_gpus)
    per_pod = _fits(cpus, settings.replica_cpus)
    if settings.replica_gpus > 0:
        per_pod = min(per_pod, _fits(gpus, settings.replica_gpus))
    scaling = settings.autoscaling
    if scaling is None:
        pods = math.ceil(settings.num_replicas / per_pod)
        return WorkerGroup(cpus, gpus, per_pod, pods, pods, autoscaling=False)
    return WorkerGroup(
        cpus,
        gpus,
        per_pod,
        min_pods=math.ceil(scaling.min_replicas / per_pod),
        max_pods=math.ceil(scaling.max_replicas / per_pod),
        autoscaling=True,
    )


def _fits(offered: int, reserved: float) -> int:
    """How many reservations of ``reserved`` fit in ``offered`` (at least one: the pod was
    sized for one). The small margin keeps 1 / (1 / 3) from flooring to 2."""
    return max(1, math.floor(offered / reserved + 1e-9))
