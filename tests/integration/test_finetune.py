"""Fine-tuning PyTorch and Keras bases (a small CNN pretrained here on generated shapes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localvision.api import resolve_model
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
