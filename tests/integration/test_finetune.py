"""Fine-tuning PyTorch and Keras bases (a small CNN pretrained here on generated shapes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from localvision.api import resolve_model
from localvision.cli.app import app
from localvision.config import Settings
from localvision.errors import InvalidInputError, InvalidParameterError, ModelError
from localvision.metrics.evaluation import evaluate
from localvision.registry import Registry
from localvision.training.dataset import Dataset, Sample, load_dataset
from localvision.training.finetune import EpochReport, finetune

from .test_training import CLASSES, shape_folders

torch = pytest.importorskip("torch", reason="the torch extra fine-tunes models")
onnx = pytest.importorskip("onnx", reason="fine-tuned models are exported to ONNX")
SIZE = 64
CARD = {  # what the base was trained with: pixels / 255, no mean/std
    "input_size": [SIZE, SIZE],
    "mean": [0.0, 0.0, 0.0],
    "std": [1.0, 1.0, 1.0],
    "labels": [*CLASSES, "unused1", "unused2"],
}


class Tiny(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.conv3 = torch.nn.Conv2d(32, 32, 3, stride=1, padding=1)
        self.fc = torch.nn.Linear(32, 5)

    def forward(self, x: Any) -> Any:
        for conv in (self.conv1, self.conv2, self.conv3):
            x = torch.relu(conv(x))
        return torch.softmax(self.fc(x.amax(dim=(2, 3))), dim=-1)  # shapes: max, not mean


def pixels(data: Dataset) -> tuple[Any, Any]:
    from PIL import Image

    images = [
        np.asarray(Image.open(s.path).convert("RGB").resize((SIZE, SIZE))) for s in data.samples
    ]
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / 255)
    return x, torch.tensor([data.classes.index(s.label) for s in data.samples])


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tiny]:
    """A base that knows shapes: trained here on circles/crosses/squares (5 outputs)."""
    root = shape_folders(tmp_path_factory.mktemp("pretrain"), (("train", 40),))
    x, y = pixels(load_dataset(root / "train"))
    torch.manual_seed(0)
    net = Tiny()
    optimiser = torch.optim.Adam(net.parameters(), 0.01)
    for _ in range(70):  # full batch; ~97 % on held-out shapes
        loss = torch.nn.functional.nll_loss(torch.log(net(x) + 1e-7), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return root, net.eval()


@pytest.fixture(scope="module")
def bases(pretrained: tuple[Path, Tiny], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    _, net = pretrained
    folder = tmp_path_factory.mktemp("bases")
    sample = torch.rand(2, 3, SIZE, SIZE)
    torch.jit.save(torch.jit.trace(net, sample), str(folder / "tiny.pt"))
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(net, (sample,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(folder / "tiny.pt2"))
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    registry = Registry(settings.home)
    registry.add("tiny", folder / "tiny.pt", format_name="torchscript", card=CARD)
    registry.add("tiny-program", folder / "tiny.pt2", format_name="torch_export", card=CARD)
    return settings


@pytest.fixture(scope="module")
def regrouped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new task on new images: round (circles) against straight (squares and crosses)."""
    root = shape_folders(tmp_path_factory.mktemp("new"), (("train", 24), ("holdout", 10)))
    for part in ("train", "holdout"):
        straight = root / part / "straight"
        straight.mkdir()
        for kind in ("squares", "crosses"):
            for image in (root / part / kind).iterdir():
                image.rename(straight / f"{kind}-{image.name}")
            (root / part / kind).rmdir()
        (root / part / "circles").rename(root / part / "round")
    return root


def initializer(path: Path, name: str) -> np.ndarray:
    from onnx import numpy_helper

    tensors = {t.name: t for t in onnx.load(str(path)).graph.initializer}
    return numpy_helper.to_array(tensors[name])


@pytest.mark.parametrize("base", ["tiny", "tiny-program"])
def test_finetuning_learns_a_new_task_and_trains_only_the_unfrozen_layers(
    bases: Settings, regrouped: Path, pretrained: tuple[Path, Tiny], base: str
) -> None:
    reports: list[EpochReport] = []
    result = finetune(
        load_dataset(regrouped / "train"),
        base=base,
        name=f"{base}-round",
        settings=bases,
        epochs=20,
        unfreeze=1,
        learning_rate=0.01,
        on_epoch=reports.append,
    )
    assert [r.epoch for r in reports] == list(range(1, len(reports) + 1))  # one per epoch
    assert all(r.epochs == 20 and np.isfinite(r.train_loss) for r in reports)
    assert result.history == [vars(r) for r in reports]
    lineage = result.entry.lineage
    assert lineage["method"] == "finetune" and lineage["head"] == "fc"
    expected = "cuda" if torch.cuda.is_available() else "cpu"  # device="auto"
    assert lineage["device"].startswith(expected)
    assert lineage["trained_layers"] == ["conv3", "fc"]
    model = resolve_model(result.entry.ref, bases)
    assert model.format.name == "onnx" and model.card.labels == ("round", "straight")
    evaluation = evaluate(model, load_dataset(regrouped / "holdout"))
    model.close()
    assert evaluation.accuracy >= 0.9, evaluation.per_class
    if base == "tiny":  # TorchScript keeps parameter names in the ONNX export
        _, net = pretrained
        exported = result.entry.path
        frozen = net.conv2.weight.detach().numpy()
        np.testing.assert_array_equal(initializer(exported, "conv2.weight"), frozen)
        assert not np.allclose(initializer(exported, "conv3.weight"), net.conv3.weight.detach())
        assert initializer(exported, "fc.weight").shape == (2, 32)


def test_finetuning_is_deterministic_for_a_seed(bases: Settings, regrouped: Path) -> None:
    runs = [
        finetune(
            load_dataset(regrouped / "train"),
            base="tiny",
            name="again",
            settings=bases,
            epochs=3,
            seed=5,
        )
        for _ in range(2)
    ]
    assert runs[0].history[-1]["val_loss"] == runs[1].history[-1]["val_loss"]
    assert runs[0].metrics["val_accuracy"] == runs[1].metrics["val_accuracy"]


def test_keras_bases_fine_tune_on_the_torch_backend(regrouped: Path, tmp_path: Path) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="the keras extra loads Keras models")
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, name="classifier")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(x)  # kept after the head
    keras.Model(inputs, outputs).save(tmp_path / "tiny.keras")
    settings = Settings(home=tmp_path / "home")
    Registry(settings.home).add("k", tmp_path / "tiny.keras", format_name="keras", card=CARD)
    reports: list[EpochReport] = []
    result = finetune(
        load_dataset(regrouped / "train"),
        base="k",
        name="k-round",
        settings=settings,
        epochs=3,
        unfreeze=1,
        on_epoch=reports.append,
    )
    assert len(reports) == 3 and result.entry.lineage["head"] == "classifier"
    assert result.entry.lineage["trained_layers"] == ["conv2", "classifier_finetuned"]
    model = resolve_model("k-round", settings)
    assert model.card.layout.value == "NHWC" and model.card.labels == ("round", "straight")
    scores = model.predict(np.zeros((1, SIZE, SIZE, 3), np.float32))[0]
    model.close()
    assert scores.shape == (1, 2) and abs(float(scores.sum()) - 1) < 1e-5  # softmax kept


def test_finetuning_refuses_what_it_cannot_train(
    bases: Settings, regrouped: Path, models_dir: Path, tmp_path: Path
) -> None:
    data = load_dataset(regrouped / "train")
    with pytest.raises(ModelError, match="needs a PyTorch or Keras base"):
        finetune(data, base=str(models_dir / "mobilenetv2-12-int8.onnx"), name="x", settings=bases)
    rows = [f"{s.path},{s.label};other" for s in data.samples]
    csv = tmp_path / "multi.csv"
    csv.write_text("file,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(InvalidInputError, match="one label per image"):
        finetune(load_dataset(tmp_path, csv_file=csv), base="tiny", name="x", settings=bases)
    with pytest.raises(InvalidParameterError, match="cannot use device 'cuda:99'"):
        finetune(data, base="tiny", name="x", settings=bases, device="cuda:99")


def test_unreadable_images_are_skipped_and_listed(
    bases: Settings, regrouped: Path, tmp_path: Path
) -> None:
    data = load_dataset(regrouped / "train")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data.samples.append(Sample(broken, "round"))
    result = finetune(data, base="tiny", name="with-broken", settings=bases, epochs=1)
    assert [path for path, _ in result.skipped] == [str(broken)]
    assert result.metrics["train_images"] + result.metrics["validation_images"] == 72


# Keras bases: the pretrained Tiny above, rebuilt layer for layer in Keras (NHWC; torch's
# padding=1 is an explicit ZeroPadding2D), as a Sequential and as a functional model, saved as
# legacy .h5 and as .keras, fine-tuned through the CLI as a user would.


def keras_module() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras", reason="the keras extra loads Keras models")


def keras_tiny(net: Tiny, kind: str) -> Any:
    keras = keras_module()
    layers = keras.layers
    body = [
        layers.ZeroPadding2D(1, name="pad1"),
        layers.Conv2D(16, 3, strides=2, activation="relu", name="conv1"),
        layers.ZeroPadding2D(1, name="pad2"),
        layers.Conv2D(32, 3, strides=2, activation="relu", name="conv2"),
        layers.ZeroPadding2D(1, name="pad3"),
        layers.Conv2D(32, 3, activation="relu", name="conv3"),
        layers.GlobalMaxPooling2D(name="pool"),
    ]
    if kind == "sequential":
        head = [layers.Dense(5, activation="softmax", name="fc")]
        model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), *body, *head], name="tiny")
    else:
        inputs = keras.Input((SIZE, SIZE, 3))
        x = inputs
        for layer in body:
            x = layer(x)
        x = layers.Dense(5, name="fc")(x)
        outputs = layers.Activation("softmax", name="probabilities")(x)  # kept after the head
        model = keras.Model(inputs, outputs, name="tiny")
    for name in ("conv1", "conv2", "conv3"):
        conv = getattr(net, name)
        kernel = conv.weight.detach().numpy().transpose(2, 3, 1, 0)  # OIHW -> HWIO
        model.get_layer(name).set_weights([kernel, conv.bias.detach().numpy()])
    model.get_layer("fc").set_weights(
        [net.fc.weight.detach().numpy().T, net.fc.bias.detach().numpy()]
    )
    sample = torch.rand(2, 3, SIZE, SIZE)
    expected = net(sample).detach().numpy()
    actual = np.asarray(model.predict(sample.numpy().transpose(0, 2, 3, 1), verbose=0))
    np.testing.assert_allclose(actual, expected, atol=1e-5)  # the same pretrained network
    return model


def card_toml(path: Path) -> None:
    labels = ", ".join(f'"{label}"' for label in CARD["labels"])
    path.write_text(
        f"input_size = {SIZE}\nmean = [0, 0, 0]\nstd = [1, 1, 1]\nlabels = [{labels}]\n"
    )


@pytest.mark.parametrize(
    ("kind", "suffix"),
    [("sequential", "h5"), ("sequential", "keras"), ("functional", "h5"), ("functional", "keras")],
)
def test_keras_sequential_and_functional_bases_fine_tune_through_the_cli(
    pretrained: tuple[Path, Tiny],
    regrouped: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    suffix: str,
) -> None:
    _, net = pretrained
    path = tmp_path / f"tiny.{suffix}"
    keras_tiny(net, kind).save(path)
    card_toml(tmp_path / "tiny.card.toml")
    monkeypatch.setenv("LOCALVISION_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app,
        [
            "train", str(regrouped / "train"), "--base", str(path), "--name", "shapes",
            "--method", "finetune", "--epochs", "10", "--unfreeze", "1",
            "--learning-rate", "0.01", "--device", "cpu", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr or result.output
    assert "epoch 1/10" in result.stderr
    settings = Settings(home=tmp_path / "home")
    entry = Registry(settings.home).get("shapes")
    assert entry.lineage["head"] == "fc"
    assert entry.lineage["trained_layers"] == ["conv3", "fc_finetuned"]
    model = resolve_model("shapes", settings)
    assert model.format.name == "onnx" and model.card.labels == ("round", "straight")
    assert model.card.layout.value == "NHWC"
    evaluation = evaluate(model, load_dataset(regrouped / "holdout"))
    scores = model.predict(np.zeros((1, SIZE, SIZE, 3), np.float32))[0]
    model.close()
    assert evaluation.accuracy >= 0.9, evaluation.per_class
    assert scores.shape == (1, 2) and abs(float(scores.sum()) - 1) < 1e-5  # softmax kept
    conv1 = net.conv1.weight.detach().numpy()  # frozen: exported as it was (either layout)
    assert any(
        np.array_equal(v, w)
        for v in initializer_values(entry.path)
        for w in (conv1, conv1.transpose(2, 3, 1, 0))
        if v.shape == w.shape
    )


def initializer_values(path: Path) -> list[np.ndarray]:
    from onnx import numpy_helper

    return [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]


def test_a_subclassed_keras_model_is_one_error_line_and_exit_2(
    regrouped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras = keras_module()

    @keras.saving.register_keras_serializable(package="localvision_tests")
    class Subclassed(keras.Model):  # type: ignore[misc,name-defined]
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")
            self.pool = keras.layers.GlobalMaxPooling2D(name="pool")
            self.fc = keras.layers.Dense(3, activation="softmax", name="fc")

        def call(self, x: Any) -> Any:
            return self.fc(self.pool(self.conv(x)))

    model = Subclassed(name="subclassed")
    model(np.zeros((1, SIZE, SIZE, 3), np.float32))
    model.save(tmp_path / "sub.keras")
    monkeypatch.setenv("LOCALVISION_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app,
        [
            "train", str(regrouped / "train"), "--base", str(tmp_path / "sub.keras"),
            "--name", "x", "--method", "finetune", "--epochs", "1", "--device", "cpu",
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "subclassed Keras model (class Subclassed)" in lines[0]
    assert "Traceback" not in result.output


def test_keras_head_replacement_refuses_what_it_cannot_rebuild() -> None:
    from localvision.training.finetune.keras_bases import replace_keras_head
    from localvision.training.finetune.network import Network

    keras = keras_module()
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(4, name="fc")(x)
    outputs = keras.layers.BatchNormalization(name="calibration")(x)
    with pytest.raises(ModelError, match="Layers with weights follow 'fc'"):
        replace_keras_head(Network(keras.Model(inputs, outputs), "keras"), 3)
    no_dense = keras.Sequential([keras.Input((4,)), keras.layers.Activation("softmax")])
    with pytest.raises(ModelError, match="no top-level Dense layer"):
        replace_keras_head(Network(no_dense, "keras"), 3)


def test_keras_failures_while_training_or_exporting_are_errors_not_tracebacks(
    tmp_path: Path,
) -> None:
    from localvision.errors import ModelConversionError
    from localvision.training.finetune.network import Network

    keras_module()

    def broken(batch: Any) -> Any:
        raise RuntimeError("no kernel for this op\nmore detail")

    with pytest.raises(
        ModelError, match="Keras model failed on a batch .*no kernel for this op Check"
    ):
        Network(broken, "keras")(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(ModelConversionError, match="Exporting the fine-tuned Keras model"):
        Network(broken, "keras").export(np.zeros((2, 4, 4, 3), np.float32), tmp_path / "x.onnx")
