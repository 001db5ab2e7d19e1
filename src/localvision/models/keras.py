"""Keras 3 models (``.keras`` and legacy ``.h5``), converted to ONNX through PyTorch.

Keras runs on its torch backend here (no TensorFlow needed): the model is loaded in safe mode
(no arbitrary Python from ``Lambda`` layers), exported once with ``torch.onnx``, checked against
Keras' own predictions and cached (see :mod:`localvision.models.convert`). The ``keras`` extra
brings Keras, h5py and PyTorch.

Keras picks its backend once, when it is first imported, from ``KERAS_BACKEND`` (else
``~/.keras/keras.json``, whose default is TensorFlow). :func:`import_keras` sets
``KERAS_BACKEND=torch`` when the variable is unset or empty, so ``import keras`` works without
TensorFlow; a user who chose another backend gets a :class:`~localvision.errors.ConfigError`
saying that localvision needs torch, before Keras is imported.

What the model says about itself becomes card hints: a leading ``Rescaling`` or
``Normalization`` layer means it takes raw 0..255 pixels; a final softmax means its outputs are
already probabilities; a final sigmoid, that it is multi-label. A model from
``keras.applications`` (by its name, e.g. ``mobilenetv2_1.00_224`` or ``resnet50``, else by its
characteristic layer names), at the start of the model or as its first layer, brings the
preprocessing it was trained with (:data:`APPLICATIONS`): ``tf`` mode (-1..1), ``caffe`` mode
(0..255, BGR, ImageNet means subtracted), ``torch`` mode (0..1, ImageNet mean/std) or its own
preprocessing layers (0..255).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelConversionError, UnsafeModelError
from ..optional import import_optional
from .card import (
    DEFAULT_INPUT_SIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputRange,
    Layout,
    OutputActivation,
    ResizeMode,
)
from .convert import ConversionResult, convert_cached
from .onnx import OnnxRuntime
from .runtime import RuntimeOptions
from .tracing import export_module, sample_input

__all__ = ["APPLICATIONS", "application_hints", "import_keras", "load"]

HINTS_VERSION = 2
"""Part of the cache key: bumped when conversion learns more, so older cached files are redone."""


def load(path: Path, options: RuntimeOptions, format_name: str = "keras") -> OnnxRuntime:
    """Format-registry entry point: convert (or reuse the cached conversion) and load."""
    key = f"h{HINTS_VERSION}"
    if options.input_size:
        key += "-" + "x".join(map(str, options.input_size))
    return convert_cached(
        path, options, format_name, lambda tmp: _convert(path, tmp, options), key=key
    )


_BACKEND_HINT = (
    "Unset KERAS_BACKEND (localvision then chooses torch) or set KERAS_BACKEND=torch; "
    "TensorFlow is not needed."
)


def import_keras() -> Any:
    """Keras on its torch backend (what conversion and fine-tuning need).

    Keras reads ``KERAS_BACKEND`` once, on its first import: unset or empty, it becomes
    ``torch`` here; set to another backend, this refuses before importing Keras (which would
    otherwise fail for want of TensorFlow, or convert on a backend that cannot).
    """
    if "keras" not in sys.modules:
        chosen = os.environ.get("KERAS_BACKEND", "").strip()
        if not chosen:
            os.environ["KERAS_BACKEND"] = "torch"
        elif chosen.lower() != "torch":
            raise ConfigError(
                f"KERAS_BACKEND is set to {chosen!r}, but localvision runs Keras models on "
                "Keras' torch backend.",
                hint=_BACKEND_HINT,
            )
    keras = import_optional("keras", extra="keras", purpose="load Keras models")
    backend = keras.backend.backend()
    if backend != "torch":
        raise ConfigError(
            f"Keras was already imported on its {backend!r} backend, but localvision runs "
            "Keras models on Keras' torch backend.",
            hint=_BACKEND_HINT + " Keras chooses its backend when it is first imported.",
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
    except TypeError as exc:
        custom = re.search(r"Could not locate (?:class|function) '([^']+)'", str(exc))
        if custom is None:
            raise
        raise ModelConversionError(
            f"{path} uses {custom.group(1)!r}, a custom Keras class or function that is not "
            "registered in this process, so Keras cannot rebuild the model.",
            hint="Save the model as a Sequential or functional model of built-in layers, or "
            "export it to ONNX yourself.",
        ) from exc
    if not _has_graph(model):
        raise ModelConversionError(
            f"{path} is a subclassed Keras model (class {type(model).__name__}); localvision "
            "converts Sequential and functional models.",
            hint="Rebuild it with keras.Sequential or the functional API, or export it to ONNX "
            "yourself.",
        )
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
    hints: dict[str, Any] = {
        "layout": layout.value,
        **_layer_hints(model),
        **application_hints(model),
    }
    sample = sample_input(dims, raw=hints.get("input_range") == InputRange.RAW.value)
    prediction = model.predict(sample, verbose=0)
    if isinstance(prediction, list | tuple | dict):  # several outputs: the first one counts
        prediction = (
            next(iter(prediction.values())) if isinstance(prediction, dict) else (prediction[0])
        )
    expected = np.asarray(prediction)
    export_module(model, sample, target)
    return ConversionResult(sample=sample, expected=expected, hints=hints)


def _has_graph(model: Any) -> bool:
    """Sequential or functional: a graph of layers (a subclassed model has only ``call``)."""
    return bool({cls.__name__ for cls in type(model).__mro__} & {"Sequential", "Functional"})


def _layer_hints(model: Any) -> dict[str, Any]:
    """The leading preprocessing layer and the final activation, inside nested models too."""
    hints: dict[str, Any] = {}
    first = _first_operation(model)
    for _ in range(4):  # Sequential([EfficientNetB0(...), ...]): the base's first layer counts
        if first is None or not _has_graph(first):
            break
        first = _first_operation(first)
    if first is not None and _is_preprocessing(first):
        hints["input_range"] = InputRange.RAW.value
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    last = layers[-1] if layers else None
    for _ in range(4):  # a nested model last: its own last layer says how the model ends
        if last is None or not _has_graph(last) or not last.layers:
            break
        last = last.layers[-1]
    if last is not None:
        activation = _activation_name(last)
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


# What each preprocessing mode of ``keras.applications`` means as card fields (the mean of
# "caffe" mode is in the model's BGR channel order, on the 0..255 scale, with no division).
_MODES: dict[str, dict[str, Any]] = {
    "tf": {"input_range": InputRange.SYMMETRIC.value, "channel_order": "RGB"},
    "caffe": {
        "input_range": InputRange.RAW.value,
        "channel_order": "BGR",
        "mean": [103.939, 116.779, 123.68],
        "std": [1.0, 1.0, 1.0],
    },
    "torch": {
        "input_range": InputRange.UNIT.value,
        "channel_order": "RGB",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    },
    "included": {"input_range": InputRange.RAW.value, "channel_order": "RGB"},
}

APPLICATIONS: tuple[tuple[str, str, str], ...] = (
    # (what, model name pattern, mode); "included" in the mode: the model may start with its
    # own preprocessing layers (then it takes 0..255), else it takes what the mode says
    ("MobileNet", r"mobilenet_\d+\.\d+_\d+", "tf"),
    ("MobileNetV2", r"mobilenetv2_\d+\.\d+_\d+", "tf"),
    ("MobileNetV3", r"mobilenetv3_?(small|large)", "included|tf"),
    ("InceptionV3", r"inception_v3", "tf"),
    ("InceptionResNetV2", r"inception_resnet_v2", "tf"),
    ("Xception", r"xception", "tf"),
    ("NASNet", r"nasnet(_mobile|_large)?", "tf"),
    ("ResNetV2", r"resnet(50|101|152)v2", "tf"),
    ("ResNet", r"resnet(50|101|152)", "caffe"),
    ("VGG", r"vgg(16|19)", "caffe"),
    ("DenseNet", r"densenet(121|169|201)", "torch"),
    ("EfficientNet", r"efficientnetb[0-7]", "included|torch"),
    ("EfficientNetV2-B", r"efficientnetv2-b[0-3]", "included|torch"),
    ("EfficientNetV2", r"efficientnetv2-[sml]", "included|tf"),
    ("ConvNeXt", r"convnext_(tiny|small|base|large|xlarge)", "included|torch"),
)
"""The ``keras.applications`` models recognised by name, with their preprocessing mode."""

# Layer names that only these applications use together: for a model renamed or built from an
# application's layers (``keras.Model(base.input, head(base.output))``). Order matters: ResNetV2
# and DenseNet share ResNet's first layers, Xception shares VGG's ``block1_conv1``.
_STRUCTURES: tuple[tuple[str, frozenset[str], str], ...] = (
    ("MobileNetV2", frozenset({"bn_Conv1", "expanded_conv_depthwise", "out_relu"}), "tf"),
    ("MobileNet", frozenset({"conv1_bn", "conv_dw_1", "conv_pw_1", "conv_pw_13"}), "tf"),
    ("InceptionV3", frozenset({"mixed0", "mixed5", "mixed10"}), "tf"),
    ("InceptionResNetV2", frozenset({"mixed_5b", "mixed_6a", "conv_7b"}), "tf"),
    ("Xception", frozenset({"block1_conv1_bn", "block14_sepconv2"}), "tf"),
    ("NASNet", frozenset({"stem_conv1", "stem_bn1"}), "tf"),
    ("ResNetV2", frozenset({"conv1_conv", "post_bn", "conv2_block1_preact_bn"}), "tf"),
    ("DenseNet", frozenset({"conv1_conv", "pool2_conv", "conv2_block1_0_bn"}), "torch"),
    ("ResNet", frozenset({"conv1_conv", "conv1_bn", "conv2_block1_0_conv"}), "caffe"),
    ("VGG", frozenset({"block1_conv1", "block5_conv3", "block5_pool"}), "caffe"),
)


def application_hints(model: Any) -> dict[str, Any]:
    """Card fields for a ``keras.applications`` model where the image enters ``model``.

    The model itself, or the first layer after its input (a nested application, as in
    ``Sequential([MobileNetV2(...), Dense(...)])``), is recognised by its name, else the model
    by its layer names. Nothing is claimed when the image passes through anything before the
    application (a ``Rescaling`` layer, arithmetic on the input): that is preprocessing the
    model does itself, and the leading-layer rule covers it.
    """
    found = _find_application(model, depth=0)
    if found is None:
        return {}
    _, mode = found
    return {**_MODES[mode], "resize": ResizeMode.CENTER_CROP.value}


def _find_application(model: Any, depth: int) -> tuple[str, str] | None:
    """``(application, mode)`` for ``model`` or the model its input goes into first."""
    first = _first_operation(model)
    name = str(getattr(model, "name", "")).lower()
    for what, pattern, modes in APPLICATIONS:
        if re.fullmatch(pattern, name):
            own, _, mode = modes.rpartition("|")
            if first is not None and _is_preprocessing(first):
                # its own preprocessing layers, or (for a model that has none) someone else's
                return (what, own) if own else None
            return what, mode
    if first is None or _is_preprocessing(first) or depth > 3:
        return None
    if _has_graph(first):  # a nested model takes the image first: look inside it
        return _find_application(first, depth + 1)
    if type(first).__name__ == "InputLayer" or not hasattr(first, "weights"):
        return None  # arithmetic on the input (a bare operation) is preprocessing too
    names = {str(layer.name) for layer in _all_layers(model)}
    for what, required, mode in _STRUCTURES:
        if required <= names:
            return what, mode
    return None


def _first_operation(model: Any) -> Any:
    """The first operation the image meets in ``model`` (functional ops included), or None."""
    operations = getattr(model, "operations", None)
    if operations is None:  # Sequential: layers only, no bare operations
        operations = getattr(model, "layers", [])
    for operation in operations:
        if type(operation).__name__ != "InputLayer":
            return operation
    return None


def _all_layers(model: Any) -> list[Any]:
    layers: list[Any] = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        if _has_graph(layer):
            layers.extend(_all_layers(layer))
    return layers


def _is_preprocessing(layer: Any) -> bool:
    return type(layer).__name__ in ("Rescaling", "Normalization")
