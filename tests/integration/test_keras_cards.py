"""Keras models: the backend localvision chooses, and cards for ``keras.applications`` models.

The application models here are tiny stand-ins named like the real ones (or carrying their
characteristic layer names); recognising them needs neither their weights nor their size. One
real architecture (MobileNetV2 at width 0.35, 96 px, random weights) checks the names Keras
really gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from localvision.cli.app import app
from localvision.config import Settings
from localvision.models.card import IMAGENET_MEAN, IMAGENET_STD, InputRange
from localvision.models.loader import load_model
from localvision.models.preprocess import to_tensor
from localvision.types import DecodedImage

from ..conftest import solid_jpeg

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras", reason="the keras extra loads Keras models")
pytest.importorskip("onnx", reason="Keras models are converted to ONNX")

CAFFE_MEAN = (103.939, 116.779, 123.68)
PREPROCESSING = ("input_range", "mean", "std", "channel_order", "resize")
TF = {"input_range": "-1..1", "mean": None, "std": None, "channel_order": "RGB"}
CAFFE = {
    "input_range": "0..255",
    "mean": CAFFE_MEAN,
    "std": (1.0, 1.0, 1.0),
    "channel_order": "BGR",
}
TORCH = {"input_range": "0..1", "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "channel_order": "RGB"}
INCLUDED = {"input_range": "0..255", "mean": None, "std": None, "channel_order": "RGB"}


def app_like(name: str, layers: tuple[str, ...] = ("conv",), *, before: str | None = None) -> Any:
    """A small classifier named ``name`` whose convolutions carry the names ``layers``."""
    inputs = keras.Input((32, 32, 3))
    x = inputs
    if before == "rescaling":
        x = keras.layers.Rescaling(1 / 255)(x)
    elif before == "arithmetic":
        x = x / 127.5 - 1.0
    for layer in layers:
        x = keras.layers.Conv2D(4, 3, padding="same", name=layer)(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def nested(base: Any, *, before: str | None = None) -> Any:
    """A user's transfer-learning model: an application as the first layer, a new head."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs) if before == "rescaling" else inputs
    x = base(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="mine")(x)
    return keras.Model(inputs, outputs, name="transfer")


MOBILENET_V2_LAYERS = ("Conv1", "bn_Conv1", "expanded_conv_depthwise", "out_relu")
RESNET_LAYERS = ("conv1_conv", "conv1_bn", "conv2_block1_0_conv")

CASES: dict[str, tuple[Any, str, dict[str, Any] | None]] = {
    # id: (builder, suffix, expected card fields, None when no application is recognised)
    "mobilenetv2-name": (lambda: app_like("mobilenetv2_1.00_224"), "h5", TF),
    "mobilenet-name": (lambda: app_like("mobilenet_0.25_128"), "keras", TF),
    "inception-name": (lambda: app_like("inception_v3"), "h5", TF),
    "resnet50v2-name": (lambda: app_like("resnet50v2"), "h5", TF),
    "resnet50-name": (lambda: app_like("resnet50"), "h5", CAFFE),
    "vgg16-name": (lambda: app_like("vgg16"), "keras", CAFFE),
    "densenet-name": (lambda: app_like("densenet121"), "h5", TORCH),
    "efficientnet-name": (lambda: app_like("efficientnetb0", before="rescaling"), "h5", INCLUDED),
    "mobilenetv3-own-rescaling": (
        lambda: app_like("MobileNetV3Small", before="rescaling"),
        "h5",
        INCLUDED,
    ),
    "mobilenetv3-no-rescaling": (lambda: app_like("MobileNetV3Large"), "h5", TF),
    "mobilenetv2-layers": (lambda: app_like("renamed", MOBILENET_V2_LAYERS), "h5", TF),
    "resnet-layers": (lambda: app_like("renamed", RESNET_LAYERS), "h5", CAFFE),
    "nested-sequential": (
        lambda: keras.Sequential([keras.Input((32, 32, 3)), app_like("mobilenetv2_1.00_224")]),
        "h5",
        TF,
    ),
    "nested-functional": (lambda: nested(app_like("vgg19")), "keras", CAFFE),
    "plain": (lambda: app_like("my_classifier"), "h5", None),
    "resnet50-name-after-rescaling": (  # not ResNet50 as Keras builds it: claim nothing more
        lambda: app_like("resnet50", before="rescaling"),
        "h5",
        None,
    ),
    "rescaling-before-nested": (
        lambda: nested(app_like("mobilenetv2_1.00_224"), before="rescaling"),
        "keras",
        None,
    ),
    "arithmetic-before-layers": (
        lambda: app_like("renamed", MOBILENET_V2_LAYERS, before="arithmetic"),
        "keras",
        None,
    ),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keras-apps")
    paths: dict[str, Path] = {}
    for case, (build, suffix, _) in CASES.items():
        paths[case] = folder / f"{case}.{suffix}"
        build().save(paths[case])
    return paths


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.mark.parametrize("case", list(CASES))
def test_keras_applications_bring_their_preprocessing_with_model_provenance(
    saved: dict[str, Path], home: Settings, case: str
) -> None:
    expected = CASES[case][2]
    model = load_model(saved[case], settings=home)
    card = model.card
    model.close()
    if expected is None:  # not an application where the image enters: nothing claimed
        assert card.provenance.get("channel_order") == "default"
        assert card.provenance.get("resize") == "default"
        if "rescaling" in case:  # the leading Rescaling says 0..255, nothing more
            assert card.input_range is InputRange.RAW and card.provenance["input_range"] == "model"
        else:
            assert card.provenance["input_range"] == "default"
        return
    assert card.input_range.value == expected["input_range"]
    assert card.mean == pytest.approx(expected["mean"]) if expected["mean"] else not card.mean
    assert card.std == pytest.approx(expected["std"]) if expected["std"] else not card.std
    assert card.channel_order == expected["channel_order"]
    assert card.resize.value == "center_crop"
    assert card.output_activation.value == "none"  # ends in a softmax: already probabilities
    for field in PREPROCESSING:
        assert card.provenance.get(field, "model") == "model", (field, card.provenance)


def test_models_inspect_shows_the_application_card(saved: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["models", "inspect", str(saved["resnet50-name"]), "--json"],
        env={"LOCALVISION_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)["card"]
    assert card["input_range"] == "0..255" and card["channel_order"] == "BGR"
    assert card["mean"] == list(CAFFE_MEAN) and card["std"] == [1.0, 1.0, 1.0]
    assert {card["provenance"][f] for f in PREPROCESSING} == {"model"}


def test_caffe_mode_feeds_bgr_pixels_less_the_imagenet_means(
    saved: dict[str, Path], home: Settings
) -> None:
    model = load_model(saved["resnet50-name"], settings=home)
    try:
        image = DecodedImage(Image.new("RGB", (40, 32), (200, 100, 50)), 40, 32)
        tensor = to_tensor(image, model.card, model.input)
        assert tensor.shape == (32, 32, 3)  # NHWC, as Keras takes it
        np.testing.assert_allclose(
            tensor[5, 7], [50 - 103.939, 100 - 116.779, 200 - 123.68], rtol=1e-5
        )
        scores = model.predict(tensor[None])[0]
        assert scores.shape == (1, 3)
    finally:
        model.close()


def test_a_real_keras_mobilenet_v2_and_a_renamed_one_are_recognised(
    tmp_path: Path, home: Settings
) -> None:
    base = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=5
    )
    assert base.name == "mobilenetv2_0.35_96"
    base.save(tmp_path / "mobilenet_v2.h5")
    keras.Model(base.inputs, base.outputs, name="mine").save(tmp_path / "renamed.keras")
    for file in ("mobilenet_v2.h5", "renamed.keras"):
        model = load_model(tmp_path / file, settings=home)
        card = model.card
        model.close()
        assert card.input_range is InputRange.SYMMETRIC and card.mean is None, file
        assert card.provenance["input_range"] == "model" and card.input_size == (96, 96)


# classify's warning when the pixel scaling is only a default


@pytest.fixture
def photos(tmp_path: Path) -> list[str]:
    paths = []
    for name, colour in (("red.jpg", (240, 10, 10)), ("blue.jpg", (10, 10, 240))):
        (tmp_path / name).write_bytes(solid_jpeg(colour))
        paths.append(str(tmp_path / name))
    return paths


def classify(model: Path, photos: list[str], home: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["classify", "-m", str(model), *photos, "--json", *extra],
        env={"LOCALVISION_HOME": str(home)},
    )
    return result.exit_code, result.stderr


def test_classify_warns_once_when_the_scaling_is_only_a_default(
    saved: dict[str, Path], photos: list[str], tmp_path: Path
) -> None:
    code, err = classify(saved["plain"], photos, tmp_path / "home")
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, err  # once per model, not once per image
    line = warnings[0]
    for field in PREPROCESSING:
        assert f"{field}=" in line
    assert "input_range=0..1" in line and "mean=[0.485,0.456,0.406]" in line
    assert "--set FIELD=VALUE" in line and "plain.card.toml" in line


def test_no_warning_when_the_model_or_a_card_or_the_user_sets_the_scaling(
    saved: dict[str, Path], photos: list[str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    code, err = classify(saved["mobilenetv2-name"], photos, home)
    assert code == 0 and "warning" not in err, err
    code, err = classify(saved["plain"], photos, home, "--set", "input_range=-1..1")
    assert code == 0 and "warning" not in err, err
    sidecar = saved["plain"].with_name("plain.card.toml")
    sidecar.write_text('input_range = "0..1"\nmean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]\n')
    try:
        code, err = classify(saved["plain"], photos, home)
    finally:
        sidecar.unlink()
    assert code == 0 and "warning" not in err, err


def test_no_warning_for_integer_inputs_that_take_raw_pixels(
    photos: list[str], tmp_path: Path, models_dir: Path
) -> None:
    code, err = classify(models_dir / "mobilenet_v1_0.25_128_quant.tflite", photos, tmp_path)
    if code == 2 and "litert" in err:
        pytest.skip("the litert extra runs .tflite models")
    assert code == 0 and "warning" not in err, err


# Keras' backend: localvision chooses torch unless the user chose


def run_fresh(
    args: list[str], backend: str | None, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """``python -m localvision ARGS`` in a new process, KERAS_BACKEND as given (None: unset).

    Keras' own config (``KERAS_HOME``) names TensorFlow, its default, which is not installed;
    the data home is new, so the model is converted, not taken from the cache.
    """
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir(exist_ok=True)
    (keras_home / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(KERAS_HOME=str(keras_home), LOCALVISION_HOME=str(tmp_path / f"home-{backend}"))
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return subprocess.run(
        [sys.executable, "-m", "localvision", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("backend", [None, ""], ids=["unset", "empty"])
def test_a_keras_model_loads_without_keras_backend_set(
    saved: dict[str, Path], tmp_path: Path, backend: str | None
) -> None:
    proc = run_fresh(
        ["models", "inspect", str(saved["mobilenetv2-name"]), "--json"], backend, tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["format"] == "keras_h5" and report["card"]["input_range"] == "-1..1"


def test_another_keras_backend_is_one_clear_error(saved: dict[str, Path], tmp_path: Path) -> None:
    proc = run_fresh(["models", "inspect", str(saved["plain"])], "jax", tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "KERAS_BACKEND is set to 'jax'" in lines[0] and "torch backend" in lines[0]
    assert "set KERAS_BACKEND=torch" in lines[0]
