"""Keras 3 models (``.keras`` and legacy ``.h5``), converted to ONNX through PyTorch.

Keras runs on its torch backend here (no TensorFlow needed): the model is loaded in safe mode
(no arbitrary Python from ``Lambda`` layers), exported once with ``torch.onnx``, checked against
Keras' own predictions and cached (see :mod:`localvision.models.convert`). The ``keras`` extra
brings Keras, h5py and PyTorch.

What the model says about itself becomes card hints: a leading ``Rescaling`` or
``Normalization`` layer means it takes raw 0..255 pixels; a final softmax means its outputs are
already probabilities; a final sigmoid, that it is multi-label.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelConversionError, UnsafeModelError
from ..optional import import_optional
from .card import DEFAULT_INPUT_SIZE, InputRange, Layout, OutputActivation
from .convert import ConversionResult, convert_cached
from .onnx import OnnxRuntime
from .runtime import RuntimeOptions
from .tracing import export_module, sample_input

__all__ = ["import_keras", "load"]


def load(path: Path, options: RuntimeOptions, format_name: str = "keras") -> OnnxRuntime:
    """Format-registry entry point: convert (or reuse the cached conversion) and load."""
    key = "x".join(map(str, options.input_size)) if options.input_size else ""
    return convert_cached(
        path, options, format_name, lambda tmp: _convert(path, tmp, options), key=key
    )


def import_keras() -> Any:
    """Keras on its torch backend (what conversion and fine-tuning need)."""
    # The backend is fixed when Keras is first imported; choose torch unless the user chose.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = import_optional("keras", extra="keras", purpose="load Keras models")
    backend = keras.backend.backend()
    if backend != "torch":
        raise ModelConversionError(
            f"Keras is running on its {backend!r} backend; localvision converts on 'torch'.",
            hint="Unset KERAS_BACKEND or set KERAS_BACKEND=torch.",
        )
    return keras


def _convert(path: Path, target: Path, options: RuntimeOptions) -> ConversionResult:
    keras = import_keras()
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "lambda" in str(exc).lower():
            raise UnsafeModelError(
                f"{path} contains Python code (a Lambda layer) that safe mode refuses to load.",
                hint="Rebuild the model without Lambda layers, or export it to ONNX yourself.",
            ) from exc
        raise
    if len(model.inputs) != 1:
        raise ModelConversionError(
            f"{path} has {len(model.inputs)} inputs; image models with one input are supported."
        )
    shape = tuple(model.input_shape)
    if len(shape) != 4:
        raise ModelConversionError(
            f"{path} takes input of shape {shape}; an image model takes 4-D input."
        )
    layout = Layout.NHWC if shape[3] in (1, 3, 4) or shape[1] not in (1, 3, 4) else Layout.NCHW
    spatial = (shape[1], shape[2]) if layout == Layout.NHWC else (shape[2], shape[3])
    height, width = (
        (int(spatial[0]), int(spatial[1]))
        if None not in spatial
        else (options.input_size or (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE))
    )
    channels = shape[3] if layout == Layout.NHWC else shape[1]
    dims = (height, width, channels) if layout == Layout.NHWC else (channels, height, width)
    hints: dict[str, Any] = {"layout": layout.value, **_layer_hints(model)}
    sample = sample_input(dims, raw=hints.get("input_range") == InputRange.RAW.value)
    prediction = model.predict(sample, verbose=0)
    if isinstance(prediction, list | tuple | dict):  # several outputs: the first one counts
        prediction = (
            next(iter(prediction.values())) if isinstance(prediction, dict) else (prediction[0])
        )
    expected = np.asarray(prediction)
    export_module(model, sample, target)
    return ConversionResult(sample=sample, expected=expected, hints=hints)


def _layer_hints(model: Any) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if layers and type(layers[0]).__name__ in ("Rescaling", "Normalization"):
        hints["input_range"] = InputRange.RAW.value
    if layers:
        activation = _activation_name(layers[-1])
        if activation == "softmax":
            hints["output_activation"] = OutputActivation.NONE.value
        elif activation == "sigmoid":
            hints["output_activation"] = OutputActivation.NONE.value
            hints["multi_label"] = True
    return hints


def _activation_name(layer: Any) -> str | None:
    if type(layer).__name__ == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    return str(name) if name else None
