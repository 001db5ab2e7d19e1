"""The console's view of the server: what it reads and the one thing it asks the server to do.

The console never imports the server (``docs/architecture.md``): the server hands it an object
with this shape (``localvision.server.console_backend`` adapts the running server's state), so
the console's pages read the same models, queue and metrics the API answers from, and its
*Try* page annotates through the same engine, batcher and router as every protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from ..config import Settings
from ..types import AnnotateRequest, AnnotateResult, Feature

__all__ = ["ConsoleBackend", "QueueState", "ServedModel"]


@dataclass(frozen=True)
class ServedModel:
    """A model the server holds now, and what the console shows of it."""

    name: str
    format: str
    sha256: str
    device: str
    task: str
    features: tuple[str, ...]
    """The features it answers now (``labels``...); empty for a model loaded but unused."""
    card: Mapping[str, Any] = field(default_factory=dict)
    """The resolved card, ``provenance`` included (which layer each field came from)."""
    follows: str | None = None
    """For a registered model served by alias (``pets@production``): that reference."""
    version: int | None = None
    """For a followed reference: the version served now."""


@dataclass(frozen=True)
class QueueState:
    """The one admission queue, counted in images."""

    waiting: int
    bound: int
    workers: int


class ConsoleBackend(Protocol):
    """What the console needs from the server it runs in."""

    @property
    def settings(self) -> Settings:
        """The server's settings, as they are now (tests and reloads may replace them)."""

    @property
    def ready(self) -> bool:
        """Whether every model is loaded and the server answers (``/readyz``)."""

    @property
    def not_ready_because(self) -> str | None:
        """Why the server is not ready (``loading model pets``), when it says."""

    @property
    def metrics(self) -> CollectorRegistry:
        """The server's Prometheus registry (what ``/metrics`` renders)."""

    def served_models(self) -> list[ServedModel]:
        """Every model loaded now."""

    def feature_models(self) -> Mapping[Feature, str]:
        """Which served model answers each model-backed feature now."""

    def answerable(self) -> frozenset[Feature]:
        """Every feature a request may ask for here (built-in ones and routed ones too)."""

    def queue(self) -> QueueState:
        """How full the admission queue is."""

    def key_id(self, key: str) -> str | None:
        """The id of ``key`` (its ``sha256:`` hash) when the server accepts it, else None."""

    async def fetch_image(self, uri: str) -> bytes:
        """An image URL's bytes, fetched as ``imageUri`` is (size limit, SSRF checks)."""

    async def annotate(
        self,
        requests: Sequence[AnnotateRequest],
        *,
        key_id: str | None,
        private: bool,
        model: str | None = None,
    ) -> list[AnnotateResult]:
        """Answer ``requests`` as the API would for the caller ``key_id``: through the admission
        queue and batcher, and the router when one is configured (``private`` keeps the image
        here whatever the routes say). ``model`` names a served model to answer the feature
        its task gives (labels for a classifier, objects for a detector) instead of the
        configured one; such a request runs on this machine only."""
