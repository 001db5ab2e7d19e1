"""One conformance suite over every model format.

The same small network is built in PyTorch and in Keras (same weights, each in its own
layout) and saved as ONNX, TorchScript, a torch.export program, .keras and .h5. Loaded through
localvision, every format must give the same top-k on the same images, and match the network
run directly in PyTorch.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import localvision
from localvision.config import Settings
from localvision.errors import ModelConversionError, UnsafeModelError
from localvision.models.card import InputRange, OutputActivation
from localvision.models.convert import ConversionResult, convert_cached
from localvision.models.preprocess import to_tensor
from localvision.models.runtime import RuntimeOptions
from localvision.types import DecodedImage

from ..builders import colour_classifier_onnx

torch = pytest.importorskip("torch", reason="the torch extra converts PyTorch models")
LABELS = ["alpha", "beta", "gamma", "delta", "epsilon"]
FORMATS = ["onnx", "torchscript", "torch_export", "keras", "keras_h5"]


class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.fc = torch.nn.Linear(8, len(LABELS))

    def forward(self, x: Any) -> Any:
        features = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return torch.softmax(self.fc(features), dim=-1)


def build_net() -> Net:
    torch.manual_seed(7)
    net = Net().eval()
    with torch.no_grad():
        net.conv.weight.normal_(0.0, 1.0)
        net.fc.weight.normal_(0.0, 3.0)
    return net


def keras_twin(net: Net, *, lambda_layer: bool = False) -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="the keras extra loads Keras models")
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.Lambda(lambda t: t * 1.0)(inputs) if lambda_layer else inputs
    conv = keras.layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu")
    dense = keras.layers.Dense(len(LABELS), activation="softmax")
    outputs = dense(keras.layers.GlobalAveragePooling2D()(conv(x)))
    model = keras.Model(inputs, outputs)
    conv.set_weights(
        [net.conv.weight.detach().numpy().transpose(2, 3, 1, 0), net.conv.bias.detach().numpy()]
    )
    dense.set_weights([net.fc.weight.detach().numpy().T, net.fc.bias.detach().numpy()])
    return model


@pytest.fixture(scope="module")
def net() -> Net:
    return build_net()


@pytest.fixture(scope="module")
def model_files(net: Net, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    sample = torch.rand(2, 3, 224, 224)
    files = {
        name: folder / f"net{suffix}"
        for name, suffix in [
            ("onnx", ".onnx"),
            ("torchscript", ".pt"),
            ("torch_export", ".pt2"),
            ("keras", ".keras"),
            ("keras_h5", ".h5"),
        ]
    }
    torch.onnx.export(
        net,
        (sample,),
        str(files["onnx"]),
        dynamo=False,
        input_names=["input"],
        dynamic_axes={"input": {0: "batch"}},
    )
    torch.jit.save(torch.jit.trace(net, sample), str(files["torchscript"]))
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.export.save(
        torch.export.export(net, (sample,), dynamic_shapes=({0: batch},)),
        str(files["torch_export"]),
    )
    twin = keras_twin(net)
    twin.save(files["keras"])
    twin.save(files["keras_h5"])
    return files


@pytest.fixture(scope="module")
def images(fixtures_dir_or_none: Path | None) -> list[DecodedImage]:
    rng = np.random.default_rng(3)
    made = []
    for i in range(6):
        base = rng.integers(0, 256, (3,), dtype=np.uint8)
        noise = rng.integers(0, 256, (240, 300, 3), dtype=np.uint8)
        pixels = ((noise.astype(np.uint16) * (i + 1) // 8 + base) % 256).astype(np.uint8)
        made.append(DecodedImage(Image.fromarray(pixels), 300, 240, name=f"synthetic-{i}"))
    if fixtures_dir_or_none is not None:
        for name in ("cat.bmp", "bird.bmp", "grace_hopper.bmp"):
            pixels = Image.open(fixtures_dir_or_none / "photos" / name).convert("RGB")
            made.append(DecodedImage(pixels, pixels.width, pixels.height, name=name))
    return made


@pytest.fixture(scope="module")
def fixtures_dir_or_none() -> Path | None:
    from ..conftest import SHARED_FIXTURES

    return SHARED_FIXTURES if (SHARED_FIXTURES / "photos").is_dir() else None


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_top_k_as_pytorch(
    fmt: str, model_files: dict[str, Path], net: Net, images: list[DecodedImage], settings: Settings
) -> None:
    with localvision.load_model(model_files[fmt], labels=LABELS, settings=settings) as model:
        assert model.model.format.name == fmt
        got = model.classify([img.pixels for img in images], top_k=3)
        for image, labels in zip(images, got, strict=True):
            tensor = to_tensor(image, model.card, model.model.input)
            if model.card.layout.value == "NHWC":
                tensor = tensor.transpose(2, 0, 1)
            with torch.no_grad():
                reference = net(torch.from_numpy(tensor[None]))[0].numpy()
            order = np.argsort(-reference)[:3]
            assert [name for name, _ in labels] == [LABELS[i] for i in order], image.name
            assert [s for _, s in labels] == pytest.approx(reference[order], abs=1e-4)


def test_conversions_are_cached_by_content(
    model_files: dict[str, Path], settings: Settings
) -> None:
    localvision.load_model(model_files["keras"], labels=LABELS, settings=settings).close()
    cached = sorted((settings.cache_dir / "onnx").glob("*.onnx"))
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    localvision.load_model(model_files["keras"], labels=LABELS, settings=settings).close()
    assert sorted((settings.cache_dir / "onnx").glob("*.onnx")) == cached
    assert {p: p.stat().st_mtime_ns for p in cached} == stamps
    assert not list((settings.cache_dir / "onnx").glob(".*.tmp"))


def test_keras_hints_come_from_its_layers(tmp_path: Path, settings: Settings) -> None:
    keras = pytest.importorskip("keras", reason="the keras extra loads Keras models")
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(x))
    path = tmp_path / "rescaling.keras"
    model.save(path)
    with localvision.load_model(path, settings=settings) as loaded:
        card = loaded.card
    assert card.input_range is InputRange.RAW and card.mean is None
    assert card.output_activation is OutputActivation.NONE and card.multi_label
    assert card.input_size == (32, 32)
    assert card.provenance["input_range"] == "model"


def test_keras_lambda_layers_are_refused_in_safe_mode(
    net: Net, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "lambda.keras"
    keras_twin(net, lambda_layer=True).save(path)
    with pytest.raises(UnsafeModelError, match="Lambda"):
        localvision.load_model(path, settings=settings)


def test_pickled_modules_need_an_explicit_opt_in(
    net: Net, tmp_path: Path, settings: Settings, images: list[DecodedImage]
) -> None:
    path = tmp_path / "pickled.pt"
    torch.save(net, path)
    with pytest.raises(UnsafeModelError, match="runs whatever code") as info:
        localvision.load_model(path, settings=settings)
    assert "--allow-pickle" in (info.value.hint or "")
    with localvision.load_model(path, labels=LABELS, allow_pickle=True, settings=settings) as model:
        assert model.model.format.name == "torch_pickle"
        assert len(model.classify(images[0].pixels, top_k=2)[0]) == 2


def test_state_dicts_are_recognised_without_unpickling_code(
    net: Net, tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "weights.pth"
    torch.save(net.state_dict(), path)
    with pytest.raises(ModelConversionError, match="state dict"):
        localvision.load_model(path, allow_pickle=True, settings=settings)


def test_a_legacy_pickle_that_would_run_code_is_refused_before_loading(
    tmp_path: Path, settings: Settings
) -> None:
    path = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.touch, (marker,))

    path.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(UnsafeModelError):
        localvision.load_model(path, settings=settings)
    assert not marker.exists()


def test_a_conversion_that_disagrees_is_refused_and_not_cached(
    tmp_path: Path, settings: Settings
) -> None:
    pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
    source = tmp_path / "source.bin"
    source.write_bytes(b"pretend model")

    def wrong_converter(target: Path) -> ConversionResult:
        colour_classifier_onnx(target)
        sample = np.ones((1, 3, 16, 16), np.float32)
        return ConversionResult(sample=sample, expected=np.zeros((1, 4), np.float32))

    options = RuntimeOptions(cache_dir=tmp_path / "cache")
    with pytest.raises(ModelConversionError, match="disagrees with the original"):
        convert_cached(source, options, "test", wrong_converter)
    assert not list((tmp_path / "cache").rglob("*.onnx*"))
