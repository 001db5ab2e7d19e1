"""Which pip extras of localvision an image needs: the fewest that run what it serves.

Every extra an image installs is size and attack surface (torch alone is about 1 GB), so the
image gets exactly what its models, features and settings use:

* a model's format: ONNX runs on the core install; ``.tflite`` needs ``litert``; Keras files
  ``keras`` (converted to ONNX through torch, which that extra brings); PyTorch files ``torch``;
* features answered without a model that need a library: faces (``faces``), text and
  document text (``ocr``);
* a model fetched from object storage at start: ``storage``; the Lambda entry point:
  ``lambda``;
* settings: SigV4 on the AWS route (``server.aws_credentials``) and the AWS provider need
  ``aws``; Google's gRPC API (``server.grpc_port``) ``grpc``; the Google and Azure providers
  ``cloud``.

The tables mirror :data:`localvision.models.formats.FORMATS` and the task table's extras,
which this part may not import; ``tests/unit/test_deploy_plan.py`` checks they agree.
"""

from __future__ import annotations

from ..config import Settings
from ..errors import InvalidParameterError
from ..types import Feature

__all__ = [
    "FEATURE_EXTRAS",
    "FORMAT_EXTRAS",
    "KNOWN_EXTRAS",
    "SUFFIX_FORMATS",
    "check_extra",
    "format_of_suffix",
    "settings_extras",
]

FORMAT_EXTRAS: dict[str, str | None] = {
    "onnx": None,
    "tflite": "litert",
    "keras": "keras",
    "keras_h5": "keras",
    "torchscript": "torch",
    "torch_export": "torch",
    "torch_pickle": "torch",
}
"""Model format name -> the extra that loads it (None: the core install)."""

SUFFIX_FORMATS: dict[str, str] = {
    ".onnx": "onnx",
    ".tflite": "tflite",
    ".keras": "keras",
    ".h5": "keras_h5",
    ".hdf5": "keras_h5",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".ptl": "torchscript",
    ".pt2": "torch_export",
}
"""A file suffix -> the format it names, for models known only by a URI (same extra for
``.pt`` whether TorchScript or a pickle)."""

FEATURE_EXTRAS: dict[Feature, str] = {
    Feature.FACES: "faces",
    Feature.TEXT: "ocr",
    Feature.DOCUMENT_TEXT: "ocr",
}
"""Features answered without a user model whose library is an extra."""

KNOWN_EXTRAS = frozenset(
    {
        "fast",
        "litert",
        "keras",
        "torch",
        "faces",
        "ocr",
        "train",
        "grpc",
        "cloud",
        "aws",
        "storage",
        "lambda",
        "ray",
    }
)
"""Every extra an image may install (``dev`` and ``all`` are not for images)."""


def format_of_suffix(name: str) -> str | None:
    """The format a file or URI name's suffix says, or None when it says none."""
    base = name.rstrip("/").rsplit("/", 1)[-1].lower()
    dot = base.rfind(".")
    return SUFFIX_FORMATS.get(base[dot:]) if dot > 0 else None


def settings_extras(settings: Settings) -> set[str]:
    """The extras ``settings`` need beyond the models: SigV4, gRPC, cloud providers."""
    wanted: set[str] = set()
    if settings.server.aws_credentials:
        wanted.add("aws")  # botocore's signer verifies SigV4 on the AWS route
    if settings.server.grpc_port is not None:
        wanted.add("grpc")
    cloud = settings.cloud
    if cloud.aws is not None:
        wanted.add("aws")
    if cloud.google is not None or cloud.azure is not None:
        wanted.add("cloud")
    return wanted


def check_extra(name: str) -> str:
    """``name`` when it is an extra an image may install; else the valid ones."""
    extra = name.strip().lower()
    if extra not in KNOWN_EXTRAS:
        raise InvalidParameterError(
            f"{name!r} is not an extra of localvision an image can install.",
            hint=f"Valid extras: {', '.join(sorted(KNOWN_EXTRAS))}.",
        )
    return extra
