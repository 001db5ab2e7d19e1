"""Full fine-tuning with PyTorch: a PyTorch or Keras classifier, its head resized, its last layers
unfrozen, trained on your images, exported to ONNX and registered.

Where transfer learning (:mod:`localvision.training.train`) keeps the whole base frozen, this
also adapts the base's last layers, which helps when your images look unlike the base's
training data. It needs the model itself, not an export: TorchScript (``torch.jit.save``),
``torch.export`` programs (``.pt2``), pickled modules (with ``allow_pickle``), and Keras models
(run on Keras' torch backend). ONNX and TFLite bases only take the ``head`` method.

* **Head.** The base's last dense layer (the last ``[classes, features]`` weight for PyTorch,
  the last ``Dense`` for Keras) is replaced by a fresh one with your classes; whatever follows it
  (a softmax; for Keras, weightless layers only) stays, so the exported model answers the way
  the base did.
* **What trains.** Parameters are grouped by the layer that owns them; the head and the
  ``unfreeze`` layers before it train (the layers next to the head at a tenth of the learning
  rate), the rest stays frozen. Batch-norm statistics and dropout stay in inference mode, which
  is what small datasets want.
* **Data.** The same folders and CSVs as the head method, the same stratified split, skipped
  files and duplicate report. Light augmentation on training images: horizontal flips, random
  crops of 80-100 % of the side and brightness within ±10 %.
* **Loop.** AdamW, class-weighted loss, early stopping on the validation loss (best weights
  kept), one report per epoch; deterministic for a given seed on one machine. On a CUDA GPU
  when PyTorch sees one (``device="auto"``), else on the CPU.
* **Result.** One ONNX file, checked against the trained network on the validation images,
  registered with its card, metrics and lineage.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..api import resolve_model
from ..config import Settings
from ..errors import (
    InvalidInputError,
    InvalidParameterError,
    LocalVisionError,
    ModelConversionError,
    ModelError,
)
from ..imaging.decode import ImageLimits, decode_image
from ..models.card import OutputActivation
from ..models.convert import outputs_agree, store_card
from ..models.keras import import_keras
from ..models.model import Model
from ..models.onnx import OnnxRuntime
from ..models.preprocess import input_pixels, min_side_needed, scale_pixels
from ..models.runtime import RuntimeOptions
from ..models.tracing import export_module, export_program, quiet
from ..optional import import_optional
from .dataset import Dataset, find_duplicates, split
from .train import TrainResult, derived_card, register_trained, require_classes

__all__ = ["EpochReport", "finetune", "resolve_device"]

FORMATS = ("torchscript", "torch_export", "torch_pickle", "keras", "keras_h5")


@dataclass(frozen=True)
class EpochReport:
    """One epoch's numbers, as the CLI prints them."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass
class _Network:
    """A trainable module behind one interface, whatever format it came from.

    ``device`` is where its parameters live (``cpu``, ``cuda``, ...); inputs are moved there.
    """

    module: Any
    kind: str  # "module", "program" (a torch.export module) or "keras"
    device: str = "cpu"
    groups: list[tuple[str, list[Any]]] = field(default_factory=list)  # in order, head last

    def scope(self) -> Any:
        """Keras places new tensors on its own default device unless told; tell it."""
        if self.kind == "keras":
            return import_keras().device(self.device)
        return contextlib.nullcontext()

    def __call__(self, batch: Any) -> Any:
        torch = _torch()
        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(batch)
        with self.scope():
            output = self.module(batch.to(self.device))
        if isinstance(output, list | tuple):
            output = output[0]
        if isinstance(output, dict):
            output = next(iter(output.values()))
        return output

    def inference_mode(self) -> None:
        if self.kind == "module":  # programs refuse train()/eval(); they stay as exported
            self.module.eval()

    def export(self, sample: np.ndarray[Any, Any], target: Path) -> None:
        """Write ONNX at ``target``; the exported model runs anywhere (traced on the CPU)."""
        torch = _torch()
        if self.kind == "program":
            args = (torch.from_numpy(sample).to(self.device),)
            with torch.no_grad():
                program = torch.export.export(
                    self.module, args, dynamic_shapes=({0: torch.export.Dim.AUTO},)
                )
            if self.device != "cpu":
                program = _move_program(program, "cpu")
            export_program(program, (torch.from_numpy(sample),), target)
            return
        if self.kind == "module":
            self.module.to("cpu")
            self.device = "cpu"
        with self.scope():
            export_module(self.module, sample, target)


def resolve_device(requested: str) -> str:
    """``auto`` means the first CUDA GPU when PyTorch sees one, else the CPU."""
    torch = _torch()
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.zeros(1, device=requested)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise InvalidParameterError(
            f"PyTorch cannot use device {requested!r} here: {str(exc).splitlines()[0]}",
            hint="Use --device auto (a CUDA GPU when there is one) or --device cpu.",
        ) from exc
    return requested


def finetune(
    data: Dataset,
    *,
    base: str,
    name: str,
    settings: Settings,
    epochs: int = 15,
    unfreeze: int = 2,
    learning_rate: float = 1e-3,
    batch_size: int = 16,
    patience: int = 4,
    seed: int = 0,
    validation_fraction: float = 0.2,
    augment: bool = True,
    device: str = "auto",
    progress: Callable[[str, int, int], Callable[[int], None]] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainResult:
    """Fine-tune ``base`` on ``data`` and register the result as the next version of ``name``."""
    require_classes(data)
    if data.multi_label:
        raise InvalidInputError(
            "Fine-tuning takes one label per image; this dataset has images with several.",
            hint="Use --method head, which trains multi-label heads.",
        )
    if unfreeze < 0 or epochs < 1 or batch_size < 1 or not 0 < learning_rate < 1:
        raise InvalidParameterError(
            "Fine-tuning needs unfreeze >= 0, epochs >= 1, batch_size >= 1 and a learning "
            f"rate between 0 and 1 (got {unfreeze}, {epochs}, {batch_size}, {learning_rate})."
        )
    torch = _torch()
    device = resolve_device(device)
    model = resolve_model(base, settings)
    try:
        if model.card.task != "classify":
            raise ModelError(f"{base} is a {model.card.task} model; training needs a classifier.")
        network = _load_network(model, base, device)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        train_set, validation = split(data, validation_fraction, seed)
        duplicates = find_duplicates(train_set, validation)
        limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
        samples = train_set.samples + validation.samples
        advance = progress("preparing images", len(samples), 0) if progress else None
        pixels, skipped = _prepare(model, [s.path for s in samples], limits, advance)
        index = {label: i for i, label in enumerate(data.classes)}

        def arrays(part: Dataset) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
            kept = [s for s in part.samples if s.path in pixels]
            if not kept:
                return np.zeros((0, 0, 0, 0), np.uint8), np.zeros(0, np.int64)
            x = np.stack([pixels[s.path] for s in kept])
            return x, np.array([index[s.label] for s in kept], np.int64)

        x_train, y_train = arrays(train_set)
        x_val, y_val = arrays(validation)
        if len(set(y_train.tolist())) < 2:
            raise InvalidInputError("Fewer than two classes have readable training images.")
        if not len(x_val):
            x_val, y_val = x_train, y_train
        sample = scale_pixels(x_val[:2], model.card, model.input)
        probabilities = _ends_in_probabilities(network, model, sample)
        head = _replace_head(network, len(data.classes), sample)
        trainable = _unfreeze(network, unfreeze)
        trainer = _Trainer(
            network,
            model,
            probabilities=probabilities,
            learning_rate=learning_rate,
            batch_size=batch_size,
            classes=len(data.classes),
            counts=np.bincount(y_train, minlength=len(data.classes)),
        )
        history: list[EpochReport] = []
        best: tuple[float, Any, int] = (np.inf, trainer.snapshot(), 0)
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            train_loss = trainer.epoch(x_train, y_train, rng, augment)
            val_loss, val_accuracy = trainer.evaluate(x_val, y_val)
            report = EpochReport(
                epoch, epochs, train_loss, val_loss, val_accuracy, time.perf_counter() - started
            )
            history.append(report)
            if on_epoch:
                on_epoch(report)
            if val_loss < best[0] - 1e-6:
                best = (val_loss, trainer.snapshot(), epoch)
            elif epoch - best[2] >= patience:
                break
        trainer.restore(best[1])
        _, train_accuracy = trainer.evaluate(x_train, y_train)
        val_loss, val_accuracy = trainer.evaluate(x_val, y_val)
        metrics: dict[str, Any] = {
            "train_images": len(x_train),
            "validation_images": len(y_val) if len(validation.samples) else 0,
            "train_accuracy": train_accuracy,
            "val_accuracy": val_accuracy,
            "val_loss": val_loss,
            "epochs_run": len(history),
            "best_epoch": best[2],
        }
        activation = OutputActivation.NONE if probabilities else OutputActivation.SOFTMAX
        card = derived_card(model.card, data.classes, activation.value, multi_label=False)
        details = {
            "head": head,
            "trained_layers": trainable,
            "hyperparameters": {
                "epochs": epochs,
                "unfreeze": unfreeze,
                "learning_rate": learning_rate,
                "batch_size": batch_size,
                "patience": patience,
                "augment": augment,
                "validation_fraction": validation_fraction,
            },
            "device": _describe(device),
        }
        with tempfile.TemporaryDirectory(dir=settings.cache_dir) as tmp:
            exported = Path(tmp) / f"{name}.onnx"
            check = scale_pixels(x_val[:16], model.card, model.input)
            _export(network, check, exported, card, settings)
            entry = register_trained(
                settings,
                name,
                exported,
                method="finetune",
                base=base,
                model=model,
                data=data,
                card=card,
                metrics=metrics,
                seed=seed,
                details=details,
            )
    finally:
        model.close()
    return TrainResult(
        entry=entry,
        metrics=metrics,
        skipped=data.skipped + skipped,
        duplicates=duplicates,
        warnings=data.warnings(),
        history=[vars(h) for h in history],
    )


def _torch() -> Any:
    return import_optional("torch", extra="torch", purpose="fine-tune models")


def _load_network(model: Model, base: str, device: str) -> _Network:
    torch = _torch()
    fmt = model.format.name
    path = str(model.path)
    if fmt not in FORMATS:
        raise ModelError(
            f"--method finetune needs a PyTorch or Keras base; {base} is {model.format.name}.",
            hint="Use --method head, which trains on ONNX, TFLite, Keras and PyTorch bases.",
        )
    with quiet():
        if fmt == "torchscript":
            return _Network(torch.jit.load(path, map_location=device), "module", device)
        if fmt == "torch_export":
            program = torch.export.load(path)
            if device != "cpu":
                program = _move_program(program, device)
            return _Network(program.module(), "program", device)
        if fmt == "torch_pickle":  # resolve_model has already refused it unless allowed
            module = torch.load(path, map_location=device, weights_only=False)
            return _Network(module, "module", device)
        keras = import_keras()
        with keras.device(device):
            loaded = keras.models.load_model(path, compile=False, safe_mode=True)
        return _Network(loaded, "keras", device)


def _move_program(program: Any, device: str) -> Any:
    """An exported program with its parameters, buffers and constants on ``device``."""
    passes = import_optional("torch.export.passes", extra="torch", purpose="move programs")
    return passes.move_to_device_pass(program, device)


def _describe(device: str) -> str:
    torch = _torch()
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device


def _prepare(
    model: Model,
    paths: list[Path],
    limits: ImageLimits,
    advance: Callable[[int], None] | None,
) -> tuple[dict[Path, np.ndarray[Any, Any]], list[tuple[str, str]]]:
    """Decoded, resized uint8 pixels for every readable image; (path, reason) for the rest."""

    def one(path: Path) -> np.ndarray[Any, Any] | str:
        try:
            image = decode_image(path, limits=limits, min_side=min_side_needed(model.card))
            return input_pixels(image, model.card, model.channels)
        except LocalVisionError as exc:
            return exc.message

    pixels: dict[Path, np.ndarray[Any, Any]] = {}
    skipped: list[tuple[str, str]] = []
    with ThreadPoolExecutor(4) as pool:
        for path, result in zip(paths, pool.map(one, paths), strict=True):
            if isinstance(result, str):
                skipped.append((str(path), result))
            else:
                pixels[path] = result
            if advance:
                advance(1)
    return pixels, skipped


def _ends_in_probabilities(network: _Network, model: Model, sample: np.ndarray[Any, Any]) -> bool:
    """Does the base's output already pass through a softmax? The card says, or we look."""
    activation = model.card.output_activation
    if activation == OutputActivation.NONE:
        return True
    if activation != OutputActivation.AUTO:
        return False
    torch = _torch()
    network.inference_mode()
    with torch.no_grad():
        output = network(sample).cpu().numpy()
    rows = output.sum(axis=-1)
    return bool((output >= 0).all() and (output <= 1).all() and np.allclose(rows, 1, atol=1e-3))


def _replace_head(network: _Network, classes: int, sample: np.ndarray[Any, Any]) -> str:
    """Swap the last dense layer for a fresh one with ``classes`` outputs; its name."""
    torch = _torch()
    if network.kind == "keras":
        layers = import_keras().layers
        dense = [layer for layer in network.module.layers if type(layer).__name__ == "Dense"]
        if not dense:
            raise ModelError("The Keras model has no Dense layer to replace with a new head.")
        old = dense[-1]
        after = network.module.layers[network.module.layers.index(old) + 1 :]
        if any(layer.weights for layer in after):
            raise ModelError(
                f"Layers with weights follow {old.name!r}, the last Dense layer; fine-tuning "
                "replaces the last Dense layer and keeps only weightless layers after it."
            )
        with network.scope():
            new = layers.Dense(
                classes,
                activation=old.activation,
                kernel_initializer="zeros",
                name=f"{old.name}_finetuned",
            )
            outputs = new(old.input)
            for layer in after:  # a trailing Activation("softmax") and the like stay
                outputs = layer(outputs)
            network.module = type(network.module)(network.module.inputs, outputs)
        network.groups = _keras_groups(network.module, new.name)
        return str(old.name)
    network.inference_mode()
    with torch.no_grad():
        width = network(sample).shape[-1]
    named = list(network.module.named_parameters())
    candidates = [n for n, p in named if p.ndim == 2 and p.shape[0] == width]
    if not candidates:
        raise ModelError(
            f"Cannot find the classification layer (a [{width}, features] weight) to replace."
        )
    weight_name = candidates[-1]
    owner_path, _, attribute = weight_name.rpartition(".")
    owner = functools.reduce(getattr, owner_path.split(".") if owner_path else [], network.module)
    features = dict(named)[weight_name].shape[1]
    # Zeros: every class starts at the same score, so a softmax after the head starts
    # unsaturated and passes gradients (random weights on large features can saturate it).
    zeros = torch.zeros(classes, features, device=network.device)
    setattr(owner, attribute, torch.nn.Parameter(zeros))
    bias_name = f"{owner_path}.bias" if owner_path else "bias"
    if bias_name in dict(named):
        owner.bias = torch.nn.Parameter(torch.zeros(classes, device=network.device))
    groups: dict[str, list[Any]] = {}
    for param_name, param in network.module.named_parameters():
        groups.setdefault(param_name.rpartition(".")[0] or param_name, []).append(param)
    head_group = owner_path or weight_name
    order = [g for g in groups if g != head_group] + [head_group]
    network.groups = [(g, groups[g]) for g in order]
    return str(owner_path or weight_name)


def _keras_groups(model: Any, head: str) -> list[tuple[str, list[Any]]]:
    """Keras-on-torch parameters (``_torch_params.<layer>/<variable>``) grouped by layer."""
    groups: dict[str, list[Any]] = {}
    for param_name, param in model.named_parameters():
        layer = param_name.removeprefix("_torch_params.").split("/")[0]
        groups.setdefault(layer, []).append(param)
    groups[head] = groups.pop(head)  # last, whatever order the layers were tracked in
    return list(groups.items())


def _unfreeze(network: _Network, unfreeze: int) -> list[str]:
    """Freeze every group but the head and the ``unfreeze`` groups before it; their names."""
    trainable = network.groups[-(unfreeze + 1) :]
    names = {name for name, _ in trainable}
    for name, params in network.groups:
        for param in params:
            param.requires_grad_(name in names)
    return [name for name, _ in trainable]


class _Trainer:
    """Mini-batch training of a :class:`_Network` on uint8 pixels with light augmentation."""

    def __init__(
        self,
        network: _Network,
        model: Model,
        *,
        probabilities: bool,
        learning_rate: float,
        batch_size: int,
        classes: int,
        counts: np.ndarray[Any, Any],
    ) -> None:
        torch = _torch()
        self.torch = torch
        self.network = network
        self.model = model
        self.probabilities = probabilities
        self.batch_size = batch_size
        head = network.groups[-1][1]
        body = [p for _, params in network.groups[:-1] for p in params if p.requires_grad]
        groups = [{"params": head, "lr": learning_rate}]
        if body:
            groups.append({"params": body, "lr": learning_rate / 10})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
        weights = np.where(counts > 0, counts.sum() / (classes * np.maximum(counts, 1)), 0.0)
        self.weights = torch.tensor(weights, dtype=torch.float32, device=network.device)

    def loss(self, output: Any, targets: Any) -> Any:
        functional = self.torch.nn.functional
        if self.probabilities:
            log = self.torch.log(output.clamp_min(1e-7))
            return functional.nll_loss(log, targets, weight=self.weights)
        return functional.cross_entropy(output, targets, weight=self.weights)

    def tensor(self, pixels: np.ndarray[Any, Any]) -> Any:
        scaled = scale_pixels(pixels, self.model.card, self.model.input)
        return self.torch.from_numpy(scaled).to(self.network.device)

    def epoch(
        self,
        x: np.ndarray[Any, Any],
        y: np.ndarray[Any, Any],
        rng: np.random.Generator,
        augment: bool,
    ) -> float:
        self.network.inference_mode()  # batch norm and dropout as at inference: see the module
        order = rng.permutation(len(x))
        batches = [order[i : i + self.batch_size] for i in range(0, len(x), self.batch_size)]
        # Each batch augments with its own seed, drawn here in order, so the run is the same
        # whichever thread prepares it; two batches are prepared ahead of the one training.
        seeds = rng.integers(0, 2**63, len(batches))

        def prepare(number: int) -> np.ndarray[Any, Any]:
            pixels = x[batches[number]]
            if augment:
                pixels = _augment(pixels, np.random.default_rng(int(seeds[number])))
            return scale_pixels(pixels, self.model.card, self.model.input)

        total = self.torch.zeros((), device=self.network.device)
        with ThreadPoolExecutor(2) as pool:
            ahead = [pool.submit(prepare, n) for n in range(min(2, len(batches)))]
            for number, batch in enumerate(batches):
                inputs = self.torch.from_numpy(ahead.pop(0).result()).to(self.network.device)
                if number + 2 < len(batches):
                    ahead.append(pool.submit(prepare, number + 2))
                targets = self.torch.from_numpy(y[batch]).to(self.network.device)
                loss = self.loss(self.network(inputs), targets)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                total += loss.detach() * len(batch)  # no GPU sync per step
        return float(total) / len(x)

    def evaluate(self, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[float, float]:
        outputs = []
        with self.torch.no_grad():
            for start in range(0, len(x), 64):
                outputs.append(self.network(self.tensor(x[start : start + 64])))
            output = self.torch.cat(outputs)
            loss = float(self.loss(output, self.torch.from_numpy(y).to(self.network.device)))
        accuracy = float((output.argmax(dim=-1).cpu().numpy() == y).mean())
        return loss, accuracy

    def snapshot(self) -> Any:
        return [p.detach().clone() for _, params in self.network.groups for p in params]

    def restore(self, state: Any) -> None:
        params = [p for _, group in self.network.groups for p in group]
        with self.torch.no_grad():
            for param, saved in zip(params, state, strict=True):
                param.copy_(saved)


def _augment(pixels: np.ndarray[Any, Any], rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """Flip, crop 80-100 % of the side and resize back, brightness ±10 %: per image."""
    out = np.empty_like(pixels)
    height, width = pixels.shape[1:3]
    for i, image in enumerate(pixels):
        if rng.random() < 0.5:
            image = image[:, ::-1]
        side = rng.uniform(0.8, 1.0)
        crop_h, crop_w = max(1, int(height * side)), max(1, int(width * side))
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        patch = np.ascontiguousarray(image[top : top + crop_h, left : left + crop_w])
        resized = Image.fromarray(patch.squeeze(-1) if patch.shape[-1] == 1 else patch).resize(
            (width, height), Image.Resampling.BILINEAR
        )
        array = np.asarray(resized, dtype=np.float32).reshape(height, width, -1)
        out[i] = np.clip(array * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8)
    return out


def _export(
    network: _Network,
    check: np.ndarray[Any, Any],
    target: Path,
    card: dict[str, Any],
    settings: Settings,
) -> None:
    """Export to ONNX with the card inside; refuse a model that disagrees with the network."""
    torch = _torch()
    network.inference_mode()
    sample = check[:2] if len(check) >= 2 else np.concatenate([check, check])
    network.export(sample, target)
    store_card(target, card)
    runtime = OnnxRuntime(target, RuntimeOptions(cache_dir=settings.cache_dir))
    try:
        actual = runtime.run({runtime.inputs[0].name: check})[0]
    finally:
        runtime.close()
    with torch.no_grad():
        expected = network(check).cpu().numpy()
    worst = outputs_agree(actual, expected)
    if worst is not None:
        raise ModelConversionError(
            f"The exported model disagrees with the fine-tuned network (largest difference "
            f"{worst:.3g}); not registered."
        )
