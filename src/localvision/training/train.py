"""Transfer learning: a registered classifier as a frozen backbone, a new head, one ONNX model.

Example::

    result = train(load_dataset(Path("data/pets")), base="mobilenet", name="pets",
                   settings=settings)
    result.entry.ref         # "pets@1"
    result.metrics           # {"val_accuracy": ..., ...}

The head is fitted on every image; ``val_accuracy`` is its cross-validated accuracy (see
:mod:`.head`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..api import resolve_model
from ..config import Settings
from ..errors import InvalidInputError, ModelConversionError, ModelError
from ..files import sha256_file
from ..imaging.decode import ImageLimits
from ..models.card import CardFields, InputRange, Layout, ModelCard
from ..models.model import Model
from ..models.onnx import CARD_METADATA_KEY, OnnxRuntime
from ..models.preprocess import input_affine
from ..models.runtime import RuntimeOptions
from ..models.tflite import LiteRtRuntime, as_onnx
from ..optional import import_optional
from ..registry import ModelVersion, Registry
from .dataset import Dataset
from .features import FeatureExtractor
from .graph import cut_backbone, merge_head
from .head import HeadTrainer

__all__ = ["Backbone", "TrainResult", "open_backbone", "register_trained", "train"]

_PREPROCESSING = ("input_size", "layout", "channel_order", "input_range", "mean", "std", "resize")


@dataclass
class TrainResult:
    entry: ModelVersion
    metrics: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cache_hits: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch, fine-tuning only


def train(
    data: Dataset,
    *,
    base: str,
    name: str,
    settings: Settings,
    hidden: int = 0,
    epochs: int = 300,
    seed: int = 0,
    validation_fraction: float = 0.2,
    feature_tensor: str | None = None,
    progress: Callable[[str, int, int], Callable[[int], None]] | None = None,
) -> TrainResult:
    """Train a head on ``data`` over ``base``'s features and register the merged model.

    ``hidden=0`` fits a logistic regression, ``hidden > 0`` an MLP with that many ReLU units;
    ``epochs`` bounds the optimiser's iterations. The regularisation is chosen by stratified
    cross-validation (sets of more than 2,000 images: on a ``validation_fraction`` hold-out),
    then the head is refitted on every image.
    """
    require_classes(data)
    model = resolve_model(base, settings)
    if model.card.task != "classify":
        raise ModelError(f"{base} is a {model.card.task} model; training needs a classifier.")
    cache = settings.cache_dir
    options = RuntimeOptions(
        cache_dir=cache, providers=settings.providers, threads=settings.threads
    )
    backbone = open_backbone(model, base, settings, feature_tensor=feature_tensor)
    duplicates = _duplicates(data)
    extractor = backbone.extractor(settings)
    samples = data.samples
    advance = progress("extracting features", len(samples), 0) if progress else None
    vectors, skipped, hits = extractor.extract([s.path for s in samples], advance)
    index = {label: i for i, label in enumerate(data.classes)}

    multi = data.multi_label

    def arrays(part: Dataset) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        kept = [s for s in part.samples if s.path in vectors]
        if not kept:
            empty = np.zeros((0, len(data.classes)) if multi else 0)
            return np.zeros((0, 1), np.float32), empty
        x = np.stack([vectors[s.path] for s in kept])
        if multi:
            y = np.zeros((len(kept), len(data.classes)), np.float32)
            for row, sample in enumerate(kept):
                y[row, [index[label] for label in sample.labels]] = 1.0
            return x, y
        return x, np.array([index[s.label] for s in kept], np.int64)

    x_all, y_all = arrays(data)
    present = int((y_all.sum(axis=0) > 0).sum()) if multi else len(set(y_all.tolist()))
    if present < 2:
        raise InvalidInputError("Fewer than two classes have readable training images.")
    fitting: Callable[[int], None] | None = None

    def on_fit(done: int, total: int) -> None:
        nonlocal fitting
        if progress is not None:
            if fitting is None:
                fitting = progress("fitting the head", total, 0)
            fitting(1)

    head = HeadTrainer(
        hidden=hidden,
        multi_label=multi,
        max_iter=epochs,
        holdout=validation_fraction,
        seed=seed,
    ).fit(x_all, y_all, classes=len(data.classes), on_fit=on_fit)
    metrics = _metrics(head, x_all, y_all, multi)
    card = derived_card(backbone.card, data.classes, "none", multi_label=multi)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        merged = Path(tmp) / f"{name}.onnx"
        merge_head(
            backbone.path,
            head.folded(),
            merged,
            multi_label=multi,
            metadata={CARD_METADATA_KEY: json.dumps(card)},
        )
        _verify(
            merged,
            options,
            backbone.runtime,
            extractor,
            head,
            samples,
            vectors,
        )
        entry = register_trained(
            settings,
            name,
            merged,
            method="head",
            base=base,
            model=model,
            data=data,
            card=card,
            metrics=metrics,
            seed=seed,
            details={
                "feature_tensor": backbone.cut_at,
                "hyperparameters": {
                    "head": head.kind,
                    "hidden": hidden,
                    "max_iter": epochs,
                    "iterations": head.n_iter_,
                    "converged": head.converged_,
                    "regularization": "C" if not hidden else "alpha",
                    "chosen": head.value_,
                    "grid": list(head.grid),
                    "cv_scores": [[value, score] for value, score, _ in head.scores_],
                    "validation": _validation_name(head, validation_fraction),
                },
            },
        )
    model.close()
    backbone.runtime.close()
    return TrainResult(
        entry=entry,
        metrics=metrics,
        skipped=data.skipped + skipped,
        duplicates=duplicates,
        warnings=data.warnings(),
        cache_hits=hits,
    )


@dataclass
class Backbone:
    """A base cut before its head, ready to extract features.

    ``card`` is how images must be prepared for it: when the base takes float input, the
    pixel scaling is folded into the graph and ``card`` asks for raw uint8 pixels.
    """

    runtime: OnnxRuntime
    path: Path
    sha256: str
    cut_at: str
    card: ModelCard
    channels: int

    def extractor(self, settings: Settings, batch_size: int | None = None) -> FeatureExtractor:
        return FeatureExtractor(
            self.card,
            self.channels,
            self.runtime,
            self.sha256,
            settings.cache_dir,
            limits=ImageLimits(settings.max_image_bytes, settings.max_image_pixels),
            batch_size=batch_size or min(64, settings.batch_size * 2),
        )


def open_backbone(
    model: Model, base: str, settings: Settings, *, feature_tensor: str | None = None
) -> Backbone:
    """Cut ``model`` before its head (once; cached by content) and open the result."""
    cache = settings.cache_dir
    options = RuntimeOptions(
        cache_dir=cache, providers=settings.providers, threads=settings.threads
    )
    source = _onnx_source(model, base, options)
    pixels = _pixel_scaling(model, source)
    key = sha256_file(source) + (feature_tensor or "") + ("pixels" if pixels else "")
    digest = hashlib.sha256(key.encode()).hexdigest()
    path = cache / "backbones" / f"{digest}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    cut_record = path.with_suffix(".tensor")
    if not path.is_file() or not cut_record.is_file():
        cut_at, _ = cut_backbone(source, path, tensor=feature_tensor, pixels=pixels)
        cut_record.write_text(cut_at, encoding="utf-8")
    card = model.card
    if pixels:
        card = replace(card, input_range=InputRange.RAW, mean=None, std=None)
    return Backbone(
        # Images decode on the same cores while the backbone runs: its threads must not spin.
        runtime=OnnxRuntime(path, replace(options, spin=False)),
        path=path,
        sha256=digest,
        cut_at=cut_record.read_text(encoding="utf-8"),
        card=card,
        channels=model.channels,
    )


def require_classes(data: Dataset) -> None:
    """Refuse a dataset that cannot train a classifier."""
    if len(data.classes) < 2:
        raise InvalidInputError(
            f"Training needs at least two classes; found {len(data.classes)} "
            f"({', '.join(data.classes) or 'none'}).",
            hint="Add a folder of images for each class.",
        )


def register_trained(
    settings: Settings,
    name: str,
    path: Path,
    *,
    method: str,
    base: str,
    model: Model,
    data: Dataset,
    card: dict[str, Any],
    metrics: dict[str, Any],
    seed: int,
    details: dict[str, Any],
) -> ModelVersion:
    """Register a trained ONNX model with the lineage every training method records, plus
    ``details`` (the method's own: cut tensor, trained layers, hyper-parameters ...)."""
    lineage = {
        "method": method,
        "base": base,
        "base_sha256": sha256_file(model.path),
        **details,
        "dataset_fingerprint": data.fingerprint(),
        "classes": list(data.classes),
        "seed": seed,
    }
    return Registry(settings.home).add(
        name,
        path,
        format_name="onnx",
        card=card,
        metrics=metrics,
        lineage=lineage,
        license=model.card.license,
    )


def derived_card(
    base: ModelCard, labels: Sequence[str], activation: str, *, multi_label: bool
) -> dict[str, Any]:
    """A trained model's card: the base's pre-processing, the new labels and activation."""
    card = {key: value for key, value in base.to_dict().items() if key in _PREPROCESSING}
    card.update(
        labels=list(labels),
        output_activation=activation,
        task="classify",
        multi_label=multi_label,
    )
    CardFields.model_validate(card)  # never register a card that will not load back
    return card


def _onnx_source(model: Model, base: str, options: RuntimeOptions) -> Path:
    """The ONNX file to cut: the base itself, its Keras/PyTorch conversion, or its TFLite one."""
    runtime = model.runtime
    if isinstance(runtime, LiteRtRuntime):
        converted = as_onnx(runtime.path, options)
        converted.close()
        return converted.path
    if not isinstance(runtime, OnnxRuntime):
        raise ModelError(
            f"{base} runs on {model.format.name}, which cannot be cut into a backbone.",
            hint="Use an ONNX, TFLite, Keras or PyTorch classifier as the base.",
        )
    return runtime.path


def _pixel_scaling(model: Model, source: Path) -> tuple[Any, Any, int] | None:
    """``(a, b, channel axis)`` to fold into a float-input backbone, or None to keep it."""
    onnx = import_optional("onnx", extra="train", purpose="train on top of an ONNX model")
    graph_input = onnx.load(str(source), load_external_data=False).graph.input[0]
    if graph_input.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        return None
    if len(graph_input.type.tensor_type.shape.dim) != 4:
        return None
    a, b = input_affine(model.card, model.channels)
    return a, b, 1 if model.card.layout == Layout.NCHW else 3


def _metrics(head: HeadTrainer, x: Any, y: Any, multi: bool) -> dict[str, Any]:
    """Fit on every image (``train_*``) and the cross-validated score (``val_*``)."""
    name = "micro_f1" if multi else "accuracy"
    probs = head.predict_proba(x)
    if multi:  # micro-averaged F1 of the labels at a 0.5 threshold
        predicted = probs >= 0.5
        true_positive = float((predicted & (y > 0.5)).sum())
        denominator = float(predicted.sum() + (y > 0.5).sum())
        fitted = 2 * true_positive / denominator if denominator else 0.0
    else:
        fitted = float((probs.argmax(1) == y).mean())
    out: dict[str, Any] = {
        "train_images": len(x),
        "validation_images": head.validation_images_,
        "cv_folds": head.folds_,
        f"train_{name}": fitted,
    }
    if head.validation_score_ is not None:
        out[f"val_{name}"] = head.validation_score_
    return out


def _validation_name(head: HeadTrainer, fraction: float) -> str:
    if head.folds_ > 1:
        return f"stratified {head.folds_}-fold cross-validation"
    if head.folds_ == 1:
        return f"hold-out of {fraction:g}"
    return "none (too few images to split)"


def _duplicates(data: Dataset) -> list[tuple[str, str]]:
    """Pairs of files with identical bytes in ``data`` (they inflate cross-validation)."""
    seen: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for sample in data.samples:
        try:
            digest = hashlib.sha256(sample.path.read_bytes()).hexdigest()
        except OSError:
            continue  # reported as skipped by the extractor
        if digest in seen:
            pairs.append((seen[digest], str(sample.path)))
        else:
            seen[digest] = str(sample.path)
    return pairs


def _verify(
    merged: Path,
    options: RuntimeOptions,
    backbone: OnnxRuntime,
    extractor: FeatureExtractor,
    head: HeadTrainer,
    samples: Any,
    vectors: Any,
) -> None:
    """The merged model must give what backbone-then-head gives, on real images."""
    runtime = OnnxRuntime(merged, options)
    try:
        probe = [s.path for s in samples if s.path in vectors][:8]
        tensors = [t for t in (extractor.prepare(p) for p in probe) if not isinstance(t, str)]
        if not tensors:
            return
        batch = np.stack(tensors)
        together = runtime.run({runtime.inputs[0].name: batch})[0]
        apart = head.predict_proba(backbone.run({backbone.inputs[0].name: batch})[0])
        if not np.allclose(together, apart, atol=1e-4):
            raise ModelConversionError(
                "The merged model disagrees with backbone-then-head "
                f"(largest difference {np.abs(together - apart).max():.3g}); not registered."
            )
    finally:
        runtime.close()
