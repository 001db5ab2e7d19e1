"""The registry of model formats: how a file is recognised and which module loads it.

Formats are recognised by their bytes first (TFLite's ``TFL3`` identifier, the HDF5 signature,
the members of a zip archive) and by suffix second, so a misnamed file still loads and a file
that only pretends to be a model is refused. Loader modules are imported only when their
format is chosen, so PyTorch or Keras load only for the models that need them.
"""

from __future__ import annotations

import importlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError, UnsupportedModelFormatError
from .runtime import Runtime, RuntimeOptions

__all__ = ["FORMATS", "ModelFormat", "detect_format", "open_runtime"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class ModelFormat:
    """One loadable format: its name, suffixes, loader module and the extra that enables it."""

    name: str
    description: str
    suffixes: tuple[str, ...]
    module: str
    extra: str | None = None


FORMATS: dict[str, ModelFormat] = {
    f.name: f
    for f in (
        ModelFormat("onnx", "ONNX model", (".onnx",), "localvision.models.onnx"),
        ModelFormat(
            "tflite", "TensorFlow Lite model", (".tflite",), "localvision.models.tflite", "litert"
        ),
        ModelFormat(
            "keras", "Keras 3 model (.keras)", (".keras",), "localvision.models.keras", "keras"
        ),
        ModelFormat(
            "keras_h5",
            "Keras legacy HDF5 model",
            (".h5", ".hdf5"),
            "localvision.models.keras",
            "keras",
        ),
        ModelFormat(
            "torchscript",
            "PyTorch TorchScript (torch.jit.save)",
            (".pt", ".pth", ".ptl"),
            "localvision.models.pytorch",
            "torch",
        ),
        ModelFormat(
            "torch_export",
            "PyTorch torch.export program (.pt2)",
            (".pt2",),
            "localvision.models.pytorch",
            "torch",
        ),
        ModelFormat(
            "torch_pickle",
            "PyTorch pickle (torch.save of a module)",
            (".pt", ".pth", ".bin", ".pkl"),
            "localvision.models.pytorch",
            "torch",
        ),
    )
}


def detect_format(path: Path) -> ModelFormat:
    """The format of the model file at ``path``, by content first and suffix second."""
    if not path.exists():
        raise ModelNotFoundError(f"Model file {path} does not exist.", hint="Check the path.")
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is not a file.", hint="Pass the model file itself.")
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ModelNotFoundError(f"Model file {path} cannot be read: {exc}.") from exc
    name = _sniff(path, head)
    if name is None:
        name = _by_suffix(path)
    if name is None:
        valid = ", ".join(sorted({s for f in FORMATS.values() for s in f.suffixes}))
        raise UnsupportedModelFormatError(
            f"{path} is not a model format localvision can load.",
            hint=f"Supported: {valid} (see `localvision models formats`).",
        )
    return FORMATS[name]


def open_runtime(path: Path, options: RuntimeOptions, fmt: ModelFormat | None = None) -> Runtime:
    """Load ``path`` with its format's module (imported now) and return its runtime."""
    fmt = fmt or detect_format(path)
    module = importlib.import_module(fmt.module)
    runtime: Runtime = module.load(path, options, fmt.name)
    return runtime


def _sniff(path: Path, head: bytes) -> str | None:
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    if head.startswith(_HDF5_SIGNATURE):
        return "keras_h5"
    if head.startswith(_ZIP_SIGNATURE):
        return _sniff_zip(path)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "torch_pickle"  # a legacy (non-zip) torch.save file: a bare pickle stream
    return None


def _sniff_zip(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
        return "keras"
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return "torch_export"
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        return "torch_pickle"
    return None


def _by_suffix(path: Path) -> str | None:
    suffix = path.suffix.lower()
    # Only suffixes whose content cannot be sniffed decide on their own.
    if suffix == ".onnx":
        return "onnx"
    return None
