"""Model files and their cards: loading any supported format into a runnable :class:`Model`.

Formats (see :data:`FORMATS`): ONNX, TFLite (LiteRT), Keras ``.keras``/``.h5`` and PyTorch
TorchScript/``.pt2`` (converted to ONNX once and cached), pickled PyTorch only on opt-in.
"""

from .card import CardFields, InputRange, Layout, ModelCard, OutputActivation, ResizeMode
from .formats import FORMATS, ModelFormat, detect_format
from .loader import load_model
from .model import Model
from .runtime import Runtime, RuntimeOptions, TensorSpec

__all__ = [
    "FORMATS",
    "CardFields",
    "InputRange",
    "Layout",
    "Model",
    "ModelCard",
    "ModelFormat",
    "OutputActivation",
    "ResizeMode",
    "Runtime",
    "RuntimeOptions",
    "TensorSpec",
    "detect_format",
    "load_model",
]
