"""Expected calibration error, the number `ece <= ...` promotion gates compare."""

from __future__ import annotations

import numpy as np
import pytest

from localvision.metrics.evaluation import Evaluation, _ece


def ece(confidence: list[float], correct: list[bool]) -> float:
    return _ece(np.array(confidence), np.array(correct, dtype=float))


def test_a_calibrated_model_has_no_calibration_error() -> None:
    assert ece([0.8] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.0)


def test_overconfidence_is_the_gap_between_confidence_and_accuracy() -> None:
    assert ece([0.9] * 4, [True, False, True, False]) == pytest.approx(0.4)


def test_bins_are_weighted_by_how_many_predictions_fall_in_them() -> None:
    # Bin (0.9, 1.0]: confidence 0.95, all right (gap 0.05); bin (0.2, 0.3]: 0.25, all wrong
    # (gap 0.25); three predictions in the first bin, one in the second.
    value = ece([0.95, 0.95, 0.95, 0.25], [True, True, True, False])
    assert value == pytest.approx(0.75 * 0.05 + 0.25 * 0.25)


def test_no_predictions_no_error() -> None:
    assert ece([], []) == 0.0


def test_the_gate_sees_the_evaluations_ece() -> None:
    evaluation = Evaluation(
        model="m", classes=["a"], count=4, accuracy=0.5, top5=1.0, ece=0.4,
        per_class=[{"label": "a", "f1": 0.5, "support": 4}], confusion=[[2, 2]],
    )  # fmt: skip
    assert evaluation.metrics()["ece"] == 0.4 and evaluation.to_dict()["ece"] == 0.4
