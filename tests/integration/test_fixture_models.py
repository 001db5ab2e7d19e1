"""Real pretrained models on real photos, from ../shared/fixtures (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

import localvision
from localvision.config import Settings
from localvision.models.card import InputRange, Layout

TFLITE = "mobilenet_v2_1.0_224_quant.tflite"
ONNX = "mobilenetv2-12-int8.onnx"
EXPECTED_TOP1 = {
    "cat.bmp": "Egyptian cat",
    "bird.bmp": "chickadee",
    "dragonfly.bmp": "dragonfly",
    "grace_hopper.bmp": "military uniform",
}


@pytest.fixture(scope="module")
def tflite_model(models_dir: Path, settings: Settings) -> localvision.LocalModel:
    pytest.importorskip("ai_edge_litert", reason="the litert extra runs .tflite models")
    return localvision.load_model(models_dir / TFLITE, settings=settings)


@pytest.fixture(scope="module")
def onnx_model(models_dir: Path, settings: Settings) -> localvision.LocalModel:
    return localvision.load_model(
        models_dir / ONNX, labels=models_dir / "imagenet_labels_1000.txt", settings=settings
    )


def _top1(model: localvision.LocalModel, photos: Path) -> dict[str, str]:
    names = list(EXPECTED_TOP1)
    results = model.classify([photos / n for n in names], top_k=1)
    return {n: r[0][0].split(",")[0] for n, r in zip(names, results, strict=True)}


def test_tflite_mobilenet_matches_reference_predictions(
    tflite_model: localvision.LocalModel, photos_dir: Path
) -> None:
    assert _top1(tflite_model, photos_dir) == EXPECTED_TOP1
    (cat,) = tflite_model.classify(photos_dir / "cat.bmp", top_k=5)
    assert cat[0][1] == pytest.approx(0.85, abs=0.05)  # reference: Egyptian cat 0.85
    assert [score for _, score in cat] == sorted((s for _, s in cat), reverse=True)


def test_onnx_mobilenet_matches_reference_predictions(
    onnx_model: localvision.LocalModel, photos_dir: Path
) -> None:
    assert _top1(onnx_model, photos_dir) == EXPECTED_TOP1
    (bird,) = onnx_model.classify(photos_dir / "bird.bmp", top_k=1)
    assert bird[0][1] == pytest.approx(0.99, abs=0.02)  # reference: chickadee 0.99


def test_tflite_card_is_inferred_from_the_file(tflite_model: localvision.LocalModel) -> None:
    card = tflite_model.card
    assert card.labels is not None and len(card.labels) == 1001  # read from the appended zip
    assert card.background_class
    assert card.layout is Layout.NHWC and card.input_size == (224, 224)
    assert card.input_range is InputRange.RAW and card.mean is None
    assert card.provenance["labels"] == "model"
    assert tflite_model.model.input.quantization == (0.0078125, 128)


def test_small_tflite_model_at_128px(
    models_dir: Path, photos_dir: Path, settings: Settings
) -> None:
    pytest.importorskip("ai_edge_litert", reason="the litert extra runs .tflite models")
    with localvision.load_model(
        models_dir / "mobilenet_v1_0.25_128_quant.tflite", settings=settings
    ) as m:
        assert m.card.input_size == (128, 128)
        (bird,) = m.classify(photos_dir / "bird.bmp", top_k=5)
        assert "chickadee" in [label for label, _ in bird]


def test_jpeg_photo_is_decoded_at_reduced_scale_and_classified(
    onnx_model: localvision.LocalModel, photos_dir: Path
) -> None:
    (result,) = onnx_model.annotate([photos_dir / "cat_720p.jpg"])
    assert (result.width, result.height) == (1280, 720)
    assert result.labels and "cat" in result.labels[0].name


def test_batched_results_equal_one_at_a_time(
    onnx_model: localvision.LocalModel, photos_dir: Path
) -> None:
    photos = [*sorted(photos_dir.glob("*.bmp")), photos_dir / "pets.jpg"]
    batched = onnx_model.classify(photos, top_k=3)
    for photo, together in zip(photos, batched, strict=True):
        (alone,) = onnx_model.classify(photo, top_k=3)
        assert [label for label, _ in alone] == [label for label, _ in together]
        assert [s for _, s in alone] == pytest.approx([s for _, s in together], abs=1e-5)
