"""The fixed pipeline every task follows: ``pre_process → forward → post_process``.

``pre_process`` runs per image on the decoding threads (it must be thread-safe);
``forward`` runs a whole batch at once; ``post_process`` writes one image's annotations into
its result. Every model of a task therefore looks the same from outside, and the engine can
batch, overlap and time them uniformly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..types import AnnotateResult, DecodedImage, Feature, FeatureRequest

__all__ = ["Task"]


class Task(Protocol):
    """One feature answered by one model (or by plain computation)."""

    feature: Feature

    runs_batches: bool
    """True when one :meth:`forward` over many images is one model run, cheaper than one run
    per image; the engine may then merge concurrent callers' images into shared runs. False
    for work done image by image."""

    @property
    def min_side(self) -> int | None:
        """Fewest pixels the decoded image's short side needs; None for full resolution."""
        ...

    def pre_process(self, image: DecodedImage) -> Any:
        """Turn one decoded image into what :meth:`forward` takes (thread-safe)."""
        ...

    def forward(self, items: Sequence[Any]) -> list[Any]:
        """Run a batch of pre-processed items; one raw output per item, in order."""
        ...

    def post_process(
        self, raw: Any, image_size: tuple[int, int], request: FeatureRequest, result: AnnotateResult
    ) -> None:
        """Turn one raw output into annotations on ``result`` (``image_size`` is w, h)."""
        ...
