"""The server's Prometheus metrics, summarised for the *Server* page.

Read straight from the server's own registry (what ``/metrics`` renders), so the page and a
Prometheus scrape never disagree: requests and errors per protocol, images per feature and
outcome, latency per operation (mean, and the median and 95th percentile estimated from the
histogram's buckets, as Prometheus's ``histogram_quantile`` does), queue depth and requests in
flight.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

__all__ = ["Latency", "MetricsSummary", "quantile", "summarise_metrics"]


@dataclass
class Latency:
    """One (protocol, operation)'s request durations."""

    protocol: str
    operation: str
    count: float = 0.0
    total_s: float = 0.0
    buckets: list[tuple[float, float]] = field(default_factory=list)
    """(upper bound in seconds, cumulative count), in increasing bound order."""

    @property
    def mean_ms(self) -> float:
        return 1000 * self.total_s / self.count if self.count else 0.0

    def quantile_ms(self, q: float) -> float:
        return 1000 * quantile(self.buckets, q)


@dataclass
class MetricsSummary:
    """What the page shows."""

    requests: dict[str, dict[str, float]] = field(default_factory=dict)
    """protocol -> {"total", "errors"} (errors: answered with a status of 400 or more)."""
    images: dict[str, dict[str, float]] = field(default_factory=dict)
    """feature -> {"ok", "failed"}."""
    latency: list[Latency] = field(default_factory=list)
    queue_depth: float = 0.0
    in_flight: float = 0.0

    @property
    def images_total(self) -> float:
        return sum(v["ok"] + v["failed"] for v in self.images.values())

    @property
    def requests_total(self) -> float:
        return sum(v["total"] for v in self.requests.values())


def summarise_metrics(registry: CollectorRegistry) -> MetricsSummary:
    """Summarise the server's metrics registry."""
    out = MetricsSummary()
    latencies: dict[tuple[str, str], Latency] = {}
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for family in registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "localvision_requests_total":
                row = out.requests.setdefault(labels["protocol"], {"total": 0.0, "errors": 0.0})
                row["total"] += sample.value
                if labels["status"][:1] in ("4", "5"):
                    row["errors"] += sample.value
            elif sample.name == "localvision_images_total":
                row = out.images.setdefault(labels["feature"], {"ok": 0.0, "failed": 0.0})
                row["ok" if labels["outcome"] == "ok" else "failed"] += sample.value
            elif sample.name.startswith("localvision_request_duration_seconds"):
                key = (labels["protocol"], labels["operation"])
                latency = latencies.setdefault(key, Latency(*key))
                if sample.name.endswith("_count"):
                    latency.count = sample.value
                elif sample.name.endswith("_sum"):
                    latency.total_s = sample.value
                elif sample.name.endswith("_bucket"):
                    buckets[key].append((float(labels["le"]), sample.value))
            elif sample.name == "localvision_queue_depth":
                out.queue_depth = sample.value
            elif sample.name == "localvision_requests_in_flight":
                out.in_flight = sample.value
    for key, latency in latencies.items():
        latency.buckets = sorted(buckets[key])
    out.latency = sorted(
        (lat for lat in latencies.values() if lat.count), key=lambda lat: -lat.count
    )
    return out


def quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """The ``q`` quantile of a cumulative histogram, interpolated linearly inside its bucket;
    the largest finite bound when it falls in the ``+Inf`` bucket; 0 without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return 0.0
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            inside = count - lower_count
            share = (rank - lower_count) / inside if inside else 0.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound
