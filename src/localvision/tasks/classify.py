"""Classification: image in, labels with scores in 0..1 out.

Post-processing follows the card: softmax only for outputs that are not probabilities already
(never a double softmax), sigmoid for multi-label logits, a leading ``background`` class
skipped, then top-k and a minimum score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InferenceError
from ..models.card import ModelCard, OutputActivation
from ..models.model import Model
from ..models.preprocess import min_side_needed, to_tensor
from ..types import AnnotateResult, DecodedImage, Feature, FeatureRequest, Label

__all__ = ["DEFAULT_MAX_LABELS", "ClassifyTask", "scores", "top_labels"]

DEFAULT_MAX_LABELS = 10  # what cloud label detection returns when no maximum is given
_PROBABILITY_SLACK = 1e-4


class ClassifyTask:
    """Labels from a classification model."""

    feature = Feature.LABELS
    runs_batches = True

    def __init__(self, model: Model) -> None:
        self.model = model

    @property
    def min_side(self) -> int | None:
        return min_side_needed(self.model.card)

    def pre_process(self, image: DecodedImage) -> np.ndarray[Any, Any]:
        return to_tensor(image, self.model.card, self.model.input, self.model.channels)

    def forward(self, items: Sequence[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        step = self.model.max_batch or max(1, len(items))
        rows: list[np.ndarray[Any, Any]] = []
        for start in range(0, len(items), step):
            chunk = list(items[start : start + step])
            pad = step - len(chunk) if self.model.max_batch else 0
            batch = np.stack(chunk + [chunk[-1]] * pad)
            output = self.model.predict(batch)[0]
            rows.extend(output.reshape(len(batch), -1)[: len(chunk)])
        if len(rows) != len(items):
            raise InferenceError(
                f"{self.model.name} returned {len(rows)} outputs for {len(items)} images."
            )
        return rows

    def post_process(
        self,
        raw: np.ndarray[Any, Any],
        image_size: tuple[int, int],
        request: FeatureRequest,
        result: AnnotateResult,
    ) -> None:
        result.labels = top_labels(
            scores(raw, self.model.card),
            self.model.card,
            top_k=request.max_results or DEFAULT_MAX_LABELS,
            min_score=request.min_score or 0.0,
        )


def scores(raw: np.ndarray[Any, Any], card: ModelCard) -> np.ndarray[Any, Any]:
    """Scores in 0..1 for one output row, applying the card's activation."""
    values = raw.astype(np.float64).ravel()
    activation = card.output_activation
    if activation == OutputActivation.AUTO:
        low, high = values.min(), values.max()
        if low >= -_PROBABILITY_SLACK and high <= 1 + _PROBABILITY_SLACK:
            activation = OutputActivation.NONE
        else:
            activation = OutputActivation.SIGMOID if card.multi_label else OutputActivation.SOFTMAX
    if activation == OutputActivation.SOFTMAX:
        shifted = np.exp(values - values.max())
        values = shifted / shifted.sum()
    elif activation == OutputActivation.SIGMOID:
        values = 1.0 / (1.0 + np.exp(-values))
    return np.clip(values, 0.0, 1.0)


def top_labels(
    probabilities: np.ndarray[Any, Any], card: ModelCard, *, top_k: int, min_score: float = 0.0
) -> list[Label]:
    """The ``top_k`` best classes scoring at least ``min_score``, best first."""
    values = probabilities.copy()
    if card.background_class and len(values) > 1:
        values[0] = -1.0  # never report "background" as what the image shows
    k = min(top_k, len(values))
    best = np.argpartition(-values, k - 1)[:k]
    best = best[np.argsort(-values[best], kind="stable")]
    return [
        Label(name=card.label(int(i)), score=float(values[i]), index=int(i))
        for i in best
        if values[i] >= min_score and values[i] > 0.0  # a zero score says nothing
    ]
