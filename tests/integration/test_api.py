"""The Python API on the tiny colour model."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import localvision
from localvision.config import ModelConfig, Settings
from localvision.errors import (
    ImageDecodeError,
    InvalidParameterError,
    ModelCardError,
    ModelNotFoundError,
)

from ..conftest import WAIT_S, join_all, solid_jpeg


def test_load_model_and_classify(colour_model_path: Path, settings: Settings) -> None:
    with localvision.load_model(colour_model_path, settings=settings) as model:
        result = model.classify([solid_jpeg((250, 0, 0)), solid_jpeg((0, 0, 250))], top_k=2)
        assert [r[0][0] for r in result] == ["red", "blue"]
        assert all(isinstance(score, float) and 0 <= score <= 1 for _, score in result[0])
        single = model.classify(np.full((20, 20, 3), (0, 255, 0), np.uint8), top_k=1)
        assert single == [[("green", pytest.approx(1.0, abs=1e-3))]]


def test_classify_raises_the_bad_images_error(colour_model_path: Path, settings: Settings) -> None:
    with localvision.load_model(colour_model_path, settings=settings) as model:
        with pytest.raises(ImageDecodeError):
            model.classify([solid_jpeg((250, 0, 0)), b"garbage"])
        results = model.annotate([solid_jpeg((250, 0, 0)), b"garbage"])
        assert results[0].ok and not results[1].ok


@pytest.mark.parametrize("top_k", [0, -1, 1.5, True])
def test_top_k_is_validated(colour_model_path: Path, settings: Settings, top_k: object) -> None:
    with (
        localvision.load_model(colour_model_path, settings=settings) as model,
        pytest.raises(InvalidParameterError, match="'top_k' parameter"),
    ):
        model.classify([solid_jpeg((1, 2, 3))], top_k=top_k)  # type: ignore[arg-type]


def test_user_labels_override_and_are_checked(colour_model_path: Path, settings: Settings) -> None:
    model = localvision.load_model(
        colour_model_path, labels=["R", "G", "B", "K"], settings=settings
    )
    assert model.card.provenance["labels"] == "user"
    assert model.classify(solid_jpeg((255, 0, 0)), top_k=1)[0][0][0] == "R"
    with pytest.raises(ModelCardError, match="number 3"):
        localvision.load_model(colour_model_path, labels=["a", "b", "c"], settings=settings)


def test_annotate_with_a_configured_model_name(
    colour_model_path: Path, isolated_home: Path
) -> None:
    settings = Settings(
        home=isolated_home,
        models={"colours": ModelConfig(path=str(colour_model_path))},
        features={"labels": "colours"},
    )
    (result,) = localvision.annotate([solid_jpeg((0, 240, 0))], settings=settings)
    assert result.labels is not None and result.labels[0].name == "green"
    with pytest.raises(ModelNotFoundError, match="configured: colours"):
        localvision.annotate([solid_jpeg((0, 240, 0))], model="nope", settings=settings)


def test_threads_using_a_model_for_the_first_time_share_one_engine(
    colour_model_path: Path, settings: Settings
) -> None:
    """Its engine is made once, however many threads ask first: one engine means shared model
    runs on a GPU, and no engine (with its decoding threads) left unclosed."""
    with localvision.load_model(colour_model_path, settings=settings) as model:
        start = threading.Barrier(8, timeout=WAIT_S)
        engines: list[object] = []

        def first_use() -> None:
            start.wait()
            engines.append(model.engine)

        threads = [threading.Thread(target=first_use, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        join_all(threads)
        assert len(engines) == 8 and all(engine is engines[0] for engine in engines)
