"""``[ray]``: where Ray runs, and how batch jobs and the server spread over it.

Used by ``localvision batch --ray`` (Ray Data) and ``localvision serve --ray`` (Ray Serve); the
plain commands ignore it. Replicas are a fixed ``num_replicas`` or, with ``[ray.autoscaling]``,
between ``min_replicas`` and ``max_replicas`` following ``target_ongoing_requests``.

Example::

    [ray]
    address = "ray://head.internal:10001"   # --ray without an address uses this
    replica_cpus = 2
    actor_cpus = 1
    actors = 8

    [ray.autoscaling]
    min_replicas = 1
    max_replicas = 8
    target_ongoing_requests = 4
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import ConfigError
from .checked import Checked

__all__ = ["RayAutoscaling", "RaySettings"]


class RayAutoscaling(Checked):
    """``[ray.autoscaling]``: Ray Serve's replica autoscaling for ``serve --ray``."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=0, description="Fewest replicas (0: scale to zero).")
    max_replicas: int = Field(4, ge=1, description="Most replicas.")
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="Requests in flight per replica that autoscaling aims for."
    )

    @model_validator(mode="after")
    def _ordered(self) -> RayAutoscaling:
        if self.min_replicas > self.max_replicas:
            raise ConfigError(
                f"[ray.autoscaling] min_replicas ({self.min_replicas}) is more than "
                f"max_replicas ({self.max_replicas}).",
                hint="Make min_replicas at most max_replicas.",
            )
        return self


class RaySettings(BaseModel):
    """``[ray]``: the cluster, the server's replicas and the batch job's actors."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None,
        description="The cluster '--ray' joins when given no address: 'auto' (the cluster "
        "this machine belongs to), 'ray://HOST:10001' (Ray Client) or 'HOST:6379'. "
        "Unset: a local Ray is started for the command and stopped after it.",
    )
    num_cpus: int | None = Field(
        None, gt=0, description="CPUs of a local Ray started here (default: all of them)."
    )
    object_store_memory: int | None = Field(
        None,
        ge=75 * 1024 * 1024,  # the least Ray accepts
        description="Bytes of shared memory for the object store of a local Ray started "
        "here (default: Ray's, 30 % of memory).",
    )
    num_replicas: int = Field(1, ge=1, le=1024, description="Server replicas (no autoscaling).")
    autoscaling: RayAutoscaling | None = Field(
        None, description="Autoscale replicas instead of a fixed num_replicas."
    )
    replica_cpus: float = Field(1.0, gt=0, description="CPUs reserved by each server replica.")
    replica_gpus: float = Field(0.0, ge=0, description="GPUs reserved by each server replica.")
    max_ongoing_requests: int = Field(
        16,
        gt=0,
        description="Requests one replica holds at once; past it Ray Serve queues them in the "
        "proxy (the replica's own [server] max_queue still sheds beyond that).",
    )
    actors: int | None = Field(
        None,
        gt=0,
        description="Batch actors, each holding one engine (default: as many as the cluster's "
        "CPUs fit at actor_cpus each).",
    )
    actor_cpus: float = Field(1.0, gt=0, description="CPUs reserved by each batch actor.")
    actor_gpus: float = Field(0.0, ge=0, description="GPUs reserved by each batch actor.")
