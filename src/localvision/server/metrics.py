"""Prometheus metrics for the server, in a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """Requests, latency, images, errors, queue depth and batch sizes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "localvision_requests_total",
            "HTTP requests answered, by protocol, operation and status.",
            ["protocol", "operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "localvision_request_duration_seconds",
            "Time from request to response, by protocol and operation.",
            ["protocol", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.images = Counter(
            "localvision_images_total",
            "Images annotated, by feature and outcome (ok or the error type).",
            ["feature", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "localvision_errors_total",
            "Errors answered, by protocol and error type.",
            ["protocol", "type"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "localvision_queue_depth",
            "Images waiting for an engine worker (admission counts images, not requests).",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "localvision_requests_in_flight",
            "Requests being run by the engine.",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "localvision_batch_size",
            "Images per model run, by feature.",
            ["feature"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format for ``GET /metrics``."""
        return bytes(generate_latest(self.registry))
