"""Evaluating a classifier on a labelled image set: the numbers (the page a person reads is
:mod:`localvision.metrics.evaluation_report`).

Accuracy and top-5, per-class precision, recall and F1, a confusion matrix (dataset classes
against predictions, with "other" for predictions outside them) and expected calibration error
(10 equal-width confidence bins). A dataset class matches a model label when they are equal
ignoring case, or equal to one of the label's comma-separated synonyms (ImageNet's
"tabby, tabby cat" matches a folder named "tabby").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine import LocalEngine
from ..imaging.decode import ImageLimits
from ..models.model import Model
from ..training.dataset import Dataset
from ..types import AnnotateRequest, Feature, FeatureRequest

__all__ = ["OTHER", "Evaluation", "evaluate", "evaluate_multi_label"]

OTHER = "(other)"


@dataclass
class Evaluation:
    """What ``evaluate`` measured. ``confusion[i][j]``: true class i predicted as column j."""

    model: str
    classes: list[str]
    count: int
    accuracy: float
    top5: float
    ece: float
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    multi_label: bool = False
    """Multi-label: ``accuracy`` is exact-set match, ``top5`` the best label being right."""

    @property
    def macro_f1(self) -> float:
        scores = [c["f1"] for c in self.per_class if c["support"]]
        return float(np.mean(scores)) if scores else 0.0

    def metrics(self) -> dict[str, float]:
        """The numbers a promotion gate compares."""
        return {
            "accuracy": self.accuracy,
            "top5": self.top5,
            "ece": self.ece,
            "macro_f1": self.macro_f1,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "images": self.count,
            "multi_label": self.multi_label,
            **self.metrics(),
            "classes": self.classes,
            "per_class": self.per_class,
            "confusion": {
                "rows": self.classes,
                "columns": [*self.classes, OTHER],
                "counts": self.confusion,
            },
            "skipped": [{"image": p, "reason": r} for p, r in self.skipped],
        }


def _matcher(classes: list[str]) -> Any:
    lookup = {c.lower(): c for c in classes}

    def match(label: str) -> str | None:
        for candidate in [label, *label.split(",")]:
            found = lookup.get(candidate.strip().lower())
            if found:
                return found
        return None

    return match


def evaluate(
    model: Model, data: Dataset, *, limits: ImageLimits | None = None, batch_size: int = 16
) -> Evaluation:
    """Classify every image of ``data`` with ``model`` and compare with its labels
    (multi-label data: see :func:`evaluate_multi_label`)."""
    if data.multi_label:
        return evaluate_multi_label(model, data, limits=limits, batch_size=batch_size)
    match = _matcher(data.classes)
    feature = [FeatureRequest(Feature.LABELS, max_results=5)]
    requests = [AnnotateRequest(s.path, feature, name=str(s.path)) for s in data.samples]
    column = {c: i for i, c in enumerate(data.classes)}
    confusion = np.zeros((len(data.classes), len(data.classes) + 1), dtype=np.int64)
    top1_hits = top5_hits = 0
    confidences: list[float] = []
    correct: list[bool] = []
    skipped = list(data.skipped)
    with LocalEngine(
        {Feature.LABELS: model}, limits=limits or ImageLimits(), batch_size=batch_size
    ) as engine:
        for sample, result in zip(data.samples, engine.annotate_iter(requests), strict=True):
            if result.error is not None or not result.labels:
                skipped.append(
                    (str(sample.path), result.error.message if result.error else "no label")
                )
                continue
            predicted = [match(label.name) for label in result.labels]
            hit = predicted[0] == sample.label
            top1_hits += hit
            top5_hits += sample.label in predicted[:5]
            confusion[column[sample.label], column.get(predicted[0] or "", len(data.classes))] += 1
            confidences.append(result.labels[0].score)
            correct.append(hit)
    count = len(correct)
    per_class = [
        _class_scores(
            label, int(confusion[i, i]), int(confusion[:, i].sum()), int(confusion[i].sum())
        )
        for i, label in enumerate(data.classes)
    ]
    return Evaluation(
        model=model.name,
        classes=list(data.classes),
        count=count,
        accuracy=top1_hits / count if count else 0.0,
        top5=top5_hits / count if count else 0.0,
        ece=_ece(np.array(confidences), np.array(correct)),
        per_class=per_class,
        confusion=confusion.tolist(),
        skipped=skipped,
    )


def evaluate_multi_label(
    model: Model,
    data: Dataset,
    *,
    limits: ImageLimits | None = None,
    batch_size: int = 16,
    threshold: float = 0.5,
) -> Evaluation:
    """A multi-label model on multi-label data: a class is predicted when its score reaches
    ``threshold``. ``accuracy`` is the share of images whose predicted set is exactly their
    label set; ``top5`` the share whose best label is one of theirs; per-class precision,
    recall and F1 come from the sets; ECE treats every (image, class) score as a yes/no
    forecast. There is no confusion matrix (an image may be several classes at once)."""
    match = _matcher(data.classes)
    feature = [FeatureRequest(Feature.LABELS, max_results=len(data.classes) + 5, min_score=0.0)]
    requests = [AnnotateRequest(s.path, feature, name=str(s.path)) for s in data.samples]
    tp = dict.fromkeys(data.classes, 0)
    fp = dict.fromkeys(data.classes, 0)
    fn = dict.fromkeys(data.classes, 0)
    exact = best_hits = 0
    confidences: list[float] = []
    correct: list[bool] = []
    skipped = list(data.skipped)
    count = 0
    with LocalEngine(
        {Feature.LABELS: model}, limits=limits or ImageLimits(), batch_size=batch_size
    ) as engine:
        for sample, result in zip(data.samples, engine.annotate_iter(requests), strict=True):
            if result.error is not None or result.labels is None:
                skipped.append(
                    (str(sample.path), result.error.message if result.error else "no labels")
                )
                continue
            count += 1
            truth = set(sample.labels)
            scores: dict[str, float] = {}
            for label in result.labels:
                name = match(label.name)
                if name is not None:
                    scores[name] = max(scores.get(name, 0.0), label.score)
            predicted = {c for c, score in scores.items() if score >= threshold}
            exact += predicted == truth
            best = max(scores, key=lambda c: scores[c]) if scores else None
            best_hits += best in truth
            for c in data.classes:
                tp[c] += c in predicted and c in truth
                fp[c] += c in predicted and c not in truth
                fn[c] += c not in predicted and c in truth
                confidences.append(scores.get(c, 0.0))
                correct.append(c in truth)
    per_class = [_class_scores(c, tp[c], tp[c] + fp[c], tp[c] + fn[c]) for c in data.classes]
    return Evaluation(
        model=model.name,
        classes=list(data.classes),
        count=count,
        accuracy=exact / count if count else 0.0,
        top5=best_hits / count if count else 0.0,
        ece=_ece(np.array(confidences), np.array(correct)),
        per_class=per_class,
        confusion=[],
        skipped=skipped,
        multi_label=True,
    )


def _class_scores(label: str, hits: int, predicted: int, support: int) -> dict[str, Any]:
    """Precision, recall and F1 of one class from its true positives, how often it was
    predicted, and how often it was the truth."""
    precision = hits / predicted if predicted else 0.0
    recall = hits / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"label": label, "precision": precision, "recall": recall, "f1": f1, "support": support}


def _ece(confidence: np.ndarray[Any, Any], correct: np.ndarray[Any, Any], bins: int = 10) -> float:
    if not len(confidence):
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)
