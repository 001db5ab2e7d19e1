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

This package holds :func:`finetune`, which runs those steps in order; each step is a module:
:mod:`.network` (one interface over the formats, the device), :mod:`.bases` with
:mod:`.torch_bases` and :mod:`.keras_bases` (loading, the new head, what trains),
:mod:`.images` (decoding and augmentation), :mod:`.loop` (optimiser, epochs, early stopping)
and :mod:`.export` (the checked ONNX file). PyTorch and Keras are imported only when
:func:`finetune` runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...api import resolve_model
from ...config import Settings
from ...errors import InvalidInputError, InvalidParameterError, ModelError
from ...imaging.decode import ImageLimits
from ...models.card import OutputActivation
from ...models.preprocess import scale_pixels
from ..dataset import Dataset, find_duplicates, split
from ..train import TrainResult, derived_card, register_trained, require_classes
from .bases import FORMATS as FORMATS
from .bases import ends_in_probabilities, load_network, replace_head
from .bases import unfreeze as unfreeze_layers  # ``unfreeze`` is finetune's argument
from .export import export_checked
from .images import labelled_arrays, prepare
from .loop import EpochReport, Trainer, run_epochs
from .network import describe_device, import_torch, resolve_device

__all__ = ["EpochReport", "finetune", "resolve_device"]


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
    torch = import_torch()
    device = resolve_device(device)
    model = resolve_model(base, settings)
    try:
        if model.card.task != "classify":
            raise ModelError(f"{base} is a {model.card.task} model; training needs a classifier.")
        network = load_network(model, base, device)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        train_set, validation = split(data, validation_fraction, seed)
        duplicates = find_duplicates(train_set, validation)
        limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels)
        samples = train_set.samples + validation.samples
        advance = progress("preparing images", len(samples), 0) if progress else None
        pixels, skipped = prepare(model, [s.path for s in samples], limits, advance)
        index = {label: i for i, label in enumerate(data.classes)}
        x_train, y_train = labelled_arrays(train_set, pixels, index)
        x_val, y_val = labelled_arrays(validation, pixels, index)
        if len(set(y_train.tolist())) < 2:
            raise InvalidInputError("Fewer than two classes have readable training images.")
        if not len(x_val):
            x_val, y_val = x_train, y_train
        sample = scale_pixels(x_val[:2], model.card, model.input)
        probabilities = ends_in_probabilities(network, model, sample)
        head = replace_head(network, len(data.classes), sample)
        trainable = unfreeze_layers(network, unfreeze)
        trainer = Trainer(
            network,
            model,
            probabilities=probabilities,
            learning_rate=learning_rate,
            batch_size=batch_size,
            classes=len(data.classes),
            counts=np.bincount(y_train, minlength=len(data.classes)),
        )
        history, best_epoch = run_epochs(
            trainer,
            (x_train, y_train),
            (x_val, y_val),
            epochs=epochs,
            patience=patience,
            rng=rng,
            augment=augment,
            on_epoch=on_epoch,
        )
        _, train_accuracy = trainer.evaluate(x_train, y_train)
        val_loss, val_accuracy = trainer.evaluate(x_val, y_val)
        metrics: dict[str, Any] = {
            "train_images": len(x_train),
            "validation_images": len(y_val) if len(validation.samples) else 0,
            "train_accuracy": train_accuracy,
            "val_accuracy": val_accuracy,
            "val_loss": val_loss,
            "epochs_run": len(history),
            "best_epoch": best_epoch,
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
            "device": describe_device(device),
        }
        with tempfile.TemporaryDirectory(dir=settings.cache_dir) as tmp:
            exported = Path(tmp) / f"{name}.onnx"
            check = scale_pixels(x_val[:16], model.card, model.input)
            export_checked(network, check, exported, card, settings)
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
