"""Promotion gates, measured: run a candidate and the alias it is compared with on holdout data.

``localvision models promote --gate ... --on DATA`` and the web console's promote form ask the
same question, so they share this one answer: parse the gate (:func:`~localvision.registry.gate.
parse_gate`), evaluate the candidate (and, when the gate names an alias such as ``production``,
the version that alias points at now) on the labelled folder, and check the condition. Nothing
here moves an alias; the caller does that only when :attr:`GateVerdict.passed`.

Example::

    verdict = check_gate(settings, registry, registry.get("pets@3"),
                         "accuracy >= production - 0.01", Path("holdout/"))
    if verdict.passed:
        registry.set_alias("pets", 3, "production")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..api import resolve_model
from ..config import Settings
from ..errors import LocalVisionError
from ..imaging.decode import ImageLimits
from ..metrics.evaluation import evaluate
from ..registry import ModelVersion, Registry
from ..registry.gate import parse_gate
from ..training.dataset import Dataset, load_dataset

__all__ = ["GateVerdict", "check_gate"]


@dataclass(frozen=True)
class GateVerdict:
    """What a gate decided, with the numbers behind it.

    ``sentence`` is the one line both the CLI and the console show
    (``candidate accuracy 0.9100 >= production 0.9200-0.0100 = 0.9100``); ``reference`` is
    what the compared alias measured, None when the gate names no alias or the alias points
    nowhere yet.
    """

    gate: str
    passed: bool
    sentence: str
    candidate: Mapping[str, float]
    reference: Mapping[str, float] | None
    reference_ref: str | None


def check_gate(
    settings: Settings,
    registry: Registry,
    candidate: ModelVersion,
    gate: str,
    data: Path,
) -> GateVerdict:
    """Measure ``candidate`` (and the version the gate's alias names) on ``data`` and check
    ``gate``.

    Raises :class:`~localvision.errors.InvalidParameterError` for a gate that does not parse
    (before anything is loaded) and the data set's own errors for an unusable folder. Blocking:
    each model is loaded, run over every image and closed.
    """
    condition = parse_gate(gate)
    dataset = load_dataset(data)
    reference: dict[str, float] | None = None
    reference_ref: str | None = None
    if condition.alias is not None:
        try:
            current = registry.get(f"{candidate.name}@{condition.alias}")
        except LocalVisionError:
            current = None  # no version has that alias yet: the gate says so in its sentence
        if current is not None:
            reference_ref = current.ref
            reference = _measure(settings, current.ref, dataset)
    measured = _measure(settings, candidate.ref, dataset)
    passed, sentence = condition.check(measured, reference)
    return GateVerdict(gate, passed, sentence, measured, reference, reference_ref)


def _measure(settings: Settings, ref: str, dataset: Dataset) -> dict[str, float]:
    """The evaluation's metrics for the registered version ``ref`` on ``dataset``."""
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
    model = resolve_model(ref, settings)
    try:
        return evaluate(model, dataset, limits=limits).metrics()
    finally:
        model.close()
