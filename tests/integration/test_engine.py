"""The engine with a real (tiny) ONNX model: batching, ordering, per-image errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localvision.config import Settings
from localvision.engine import LocalEngine
from localvision.errors import FeatureNotAvailableError, ImageDecodeError, InferenceError
from localvision.models import CardFields, Model, load_model
from localvision.models.runtime import TensorSpec
from localvision.types import AnnotateRequest, Feature, FeatureRequest

from ..builders import colour_classifier_onnx
from ..conftest import solid_jpeg

LABELS = FeatureRequest(Feature.LABELS, max_results=2)
COLOURS = {"red": (230, 20, 20), "green": (20, 200, 30), "blue": (10, 20, 240), "gray": (128,) * 3}


@pytest.fixture(scope="module")
def colour_model(colour_model_path: Path, settings: Settings) -> Model:
    return load_model(colour_model_path, settings=settings)


def requests(names: Sequence[str]) -> list[AnnotateRequest]:
    return [
        AnnotateRequest(solid_jpeg(COLOURS[n]), [LABELS], name=f"{i}-{n}")
        for i, n in enumerate(names)
    ]


def test_sidecar_card_is_applied(colour_model: Model) -> None:
    assert colour_model.card.labels == ("red", "green", "blue", "gray")
    assert colour_model.card.provenance["labels"] == "card"
    assert colour_model.card.provenance["input_size"] == "model"
    assert colour_model.card.mean is None


def test_results_come_back_in_order_across_batches(colour_model: Model) -> None:
    names = ["red", "green", "blue", "gray", "blue", "red", "green"]
    with LocalEngine({Feature.LABELS: colour_model}, batch_size=3, decode_workers=2) as engine:
        results = engine.annotate(requests(names))
    assert [r.name for r in results] == [f"{i}-{n}" for i, n in enumerate(names)]
    assert [r.labels[0].name for r in results if r.labels] == names
    assert all(r.ok and (r.width, r.height) == (64, 48) for r in results)
    assert len(results[0].labels or []) == 2


def test_a_corrupt_image_fails_alone(colour_model: Model) -> None:
    batch = requests(["red", "blue"])
    batch.insert(1, AnnotateRequest(b"not an image", [LABELS], name="bad.jpg"))
    with LocalEngine({Feature.LABELS: colour_model}) as engine:
        results = engine.annotate(batch)
    assert isinstance(results[1].error, ImageDecodeError)
    assert results[1].labels is None
    assert [results[0].labels[0].name, results[2].labels[0].name] == ["red", "blue"]  # type: ignore[index]


def test_a_feature_without_model_is_an_error_on_the_image_but_others_are_answered(
    colour_model: Model,
) -> None:
    request = AnnotateRequest(
        solid_jpeg(COLOURS["green"]), [FeatureRequest(Feature.OBJECTS), LABELS]
    )
    with LocalEngine({Feature.LABELS: colour_model}) as engine:
        (result,) = engine.annotate([request])
    assert isinstance(result.error, FeatureNotAvailableError)
    assert "objects" in result.error.message
    assert result.labels is not None and result.labels[0].name == "green"


def test_requests_may_be_a_lazy_stream(colour_model: Model) -> None:
    stream = (r for r in requests(["red"] * 40))
    with LocalEngine({Feature.LABELS: colour_model}, batch_size=4) as engine:
        seen = [r.labels[0].name for r in engine.annotate_iter(stream) if r.labels]
    assert seen == ["red"] * 40


def test_fixed_batch_models_run_one_image_at_a_time(tmp_path: Path, settings: Settings) -> None:
    pytest.importorskip("onnx")
    path = tmp_path / "fixed.onnx"
    colour_classifier_onnx(path, batch=1)
    model = load_model(
        path, settings=settings, labels=["r", "g", "b", "k"], card={"input_range": "0..1"}
    )
    assert model.max_batch == 1
    with LocalEngine({Feature.LABELS: model}) as engine:
        results = engine.annotate(requests(["blue", "red", "green"]))
    assert [r.labels[0].name for r in results if r.labels] == ["b", "r", "g"]


class FailingRuntime:
    """A runtime that fails every run, as a crashed session would."""

    format = "onnx"
    inputs = [TensorSpec("image", (None, 3, 16, 16), np.dtype(np.float32))]
    outputs = [TensorSpec("logits", (None, 4), np.dtype(np.float32))]
    max_batch = None
    device = "test"

    def hints(self) -> CardFields:
        return CardFields()

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        raise InferenceError("the session crashed")

    def close(self) -> None:
        pass


def test_inference_failure_marks_the_batch_and_the_engine_keeps_going(colour_model: Model) -> None:
    broken = Model(
        "broken", colour_model.path, colour_model.format, FailingRuntime(), colour_model.card
    )
    with LocalEngine({Feature.LABELS: broken}) as engine:
        first = engine.annotate(requests(["red", "blue"]))
        assert all(isinstance(r.error, InferenceError) for r in first)
    with LocalEngine({Feature.LABELS: colour_model}) as engine:
        assert engine.annotate(requests(["blue"]))[0].ok
