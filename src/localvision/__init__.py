"""localvision: open-source vision models on your own hardware, behind cloud-compatible APIs.

Quick start::

    import localvision

    model = localvision.load_model("mobilenet_v2_1.0_224_quant.tflite")
    model.classify(["cat.jpg"], top_k=5)     # [[("Egyptian cat", 0.85), ...]]
"""

from .api import LocalModel, annotate, classify, load_model
from .config import Settings
from .errors import LocalVisionError
from .types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest, Label

__all__ = [
    "AnnotateRequest",
    "AnnotateResult",
    "Feature",
    "FeatureRequest",
    "Label",
    "LocalModel",
    "LocalVisionError",
    "Settings",
    "__version__",
    "annotate",
    "classify",
    "load_model",
]

__version__ = "0.1.0"
