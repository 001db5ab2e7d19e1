"""Object localisation with detector graphs built in the test, whose outputs are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from localvision.config import Settings
from localvision.engine import LocalEngine
from localvision.errors import ModelCardError
from localvision.models import load_model
from localvision.tasks.objects import non_max_suppression
from localvision.types import AnnotateRequest, Feature, FeatureRequest

from ..builders import constant_detector_onnx, ssd_outputs, yolov8_table
from ..conftest import solid_jpeg

pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")

# The original image is 128x64; letterboxed into 64x64 it is scaled by 0.5 and shifted down 16 px.
EXPECTED = [
    ("cat", 0.9, (16.0, 16.0, 48.0, 48.0)),
    ("dog", 0.7, (16.0, 16.0, 48.0, 48.0)),
    ("cat", 0.6, (86.0, 38.0, 106.0, 58.0)),
]


def detector(tmp_path: Path, outputs: dict[str, np.ndarray], settings: Settings, **card: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "detector.onnx"
    constant_detector_onnx(path, outputs)
    return load_model(path, settings=settings, labels=["cat", "dog"], card=card or None)


OBJECTS = FeatureRequest(Feature.OBJECTS)


def objects(model, request: FeatureRequest = OBJECTS):  # type: ignore[no-untyped-def]
    with LocalEngine({Feature.OBJECTS: model}) as engine:
        (result,) = engine.annotate(
            [AnnotateRequest(solid_jpeg((90, 90, 90), size=(128, 64)), [request])]
        )
    assert result.error is None, result.error
    return [(o.name, round(o.score, 4), (o.left, o.top, o.right, o.bottom)) for o in result.objects]


def test_yolov8_export_gives_exactly_the_expected_boxes(tmp_path: Path, settings: Settings) -> None:
    model = detector(tmp_path, {"output0": yolov8_table()}, settings)
    assert model.card.task == "detect" and model.card.provenance["task"] == "model"
    assert model.card.resize.value == "letterbox" and model.card.mean is None
    assert objects(model) == [(n, s, pytest.approx(b)) for n, s, b in EXPECTED]


def test_ssd_style_outputs_give_the_same_boxes(tmp_path: Path, settings: Settings) -> None:
    model = detector(tmp_path, ssd_outputs(), settings)
    found = objects(model)
    assert [(n, s) for n, s, _ in found] == [(n, s) for n, s, _ in EXPECTED]
    for (_, _, got), (_, _, want) in zip(found, EXPECTED, strict=True):
        assert got == pytest.approx(want, abs=1e-3)


def test_yolov5_layout_multiplies_objectness(tmp_path: Path, settings: Settings) -> None:
    v8 = yolov8_table()[0].T  # [N, 4 + classes]
    table = np.concatenate([v8[:, :4], np.ones((len(v8), 1), np.float32) * 0.5, v8[:, 4:] * 2], 1)
    model = detector(tmp_path, {"output": table[None]}, settings)
    assert [(n, s) for n, s, _ in objects(model)] == [("cat", 0.9), ("dog", 0.7), ("cat", 0.6)]


def test_request_threshold_and_limit(tmp_path: Path, settings: Settings) -> None:
    model = detector(tmp_path, {"output0": yolov8_table()}, settings)
    assert len(objects(model, FeatureRequest(Feature.OBJECTS, min_score=0.05))) == 4
    assert len(objects(model, FeatureRequest(Feature.OBJECTS, max_results=1))) == 1


def test_a_detector_cannot_answer_labels(tmp_path: Path, settings: Settings) -> None:
    model = detector(tmp_path, {"output0": yolov8_table()}, settings)
    with pytest.raises(ModelCardError, match="needs a classify model"):
        LocalEngine({Feature.LABELS: model})


def test_nms_is_class_wise_and_greedy() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.5, 0.9, 0.8, 0.3])
    classes = np.array([0, 0, 1, 0])
    assert non_max_suppression(boxes, scores, classes, 0.5).tolist() == [1, 2, 3]
    assert non_max_suppression(boxes, scores, classes, 0.99).tolist() == [1, 2, 0, 3]
    assert non_max_suppression(boxes[:0], scores[:0], classes[:0], 0.5).tolist() == []
