"""TensorFlow Lite models through LiteRT (``ai-edge-litert``, the ``litert`` extra).

Quantized (uint8/int8) inputs and outputs are handled from the tensors' own quantization
parameters: outputs come back dequantized to float. Labels are read from the file itself when
it carries them, as TFLite model-maker and the TensorFlow test models do (a zip archive
appended to the flatbuffer).
"""

from __future__ import annotations

import os
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InferenceError, UnsupportedModelFormatError
from ..optional import import_optional
from .card import CardFields, OutputActivation, parse_labels
from .convert import ConversionResult, convert_cached
from .onnx import OnnxRuntime, shape_hints
from .runtime import RuntimeOptions, TensorSpec

__all__ = ["LiteRtRuntime", "as_onnx", "embedded_labels", "load"]

_LABEL_SUFFIXES = (".txt", ".labels")


class LiteRtRuntime:
    """A LiteRT interpreter behind the :class:`~localvision.models.runtime.Runtime` interface.

    The interpreter is not thread-safe, so calls are serialised; a batch runs image by image
    unless the model's batch axis was exported larger than one.
    """

    format = "tflite"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        module = import_optional(
            "ai_edge_litert.interpreter", extra="litert", purpose="run .tflite models"
        )
        self.path = path
        try:
            self._interpreter = module.Interpreter(
                model_path=str(path), num_threads=options.threads or os.cpu_count() or 1
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise UnsupportedModelFormatError(
                f"{path} is not a valid TFLite model: {exc}."
            ) from exc
        self._input_details = self._interpreter.get_input_details()
        self._output_details = self._interpreter.get_output_details()
        self.inputs = [_spec(d) for d in self._input_details]
        self.outputs = [_spec(d) for d in self._output_details]
        self._lock = threading.Lock()

    @property
    def max_batch(self) -> int | None:
        return self.inputs[0].shape[0] if self.inputs else 1

    @property
    def device(self) -> str:
        return "LiteRT CPU (XNNPACK)"

    def hints(self) -> CardFields:
        update: dict[str, Any] = shape_hints(self.inputs[0]) if self.inputs else {}
        labels = embedded_labels(self.path)
        if labels:
            update["labels"] = labels
        if self.outputs and "softmax" in self.outputs[0].name.lower():
            update["output_activation"] = OutputActivation.NONE
        return CardFields.model_validate(update)

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        batch = len(next(iter(feeds.values())))
        step = self.max_batch or 1
        chunks: list[list[np.ndarray[Any, Any]]] = []
        with self._lock:
            for start in range(0, batch, step):
                chunks.append(self._invoke(feeds, start, start + step))
        return [np.concatenate([c[i] for c in chunks])[:batch] for i in range(len(self.outputs))]

    def _invoke(
        self, feeds: Mapping[str, np.ndarray[Any, Any]], start: int, stop: int
    ) -> list[np.ndarray[Any, Any]]:
        try:
            for detail in self._input_details:
                part = feeds[detail["name"]][start:stop]
                if len(part) < detail["shape"][0]:  # pad the last chunk of a fixed batch
                    pad = np.zeros((detail["shape"][0] - len(part), *part.shape[1:]), part.dtype)
                    part = np.concatenate([part, pad])
                self._interpreter.set_tensor(detail["index"], part)
            self._interpreter.invoke()
            return [
                _dequantize(self._interpreter.get_tensor(d["index"]), d)
                for d in self._output_details
            ]
        except (ValueError, RuntimeError, KeyError) as exc:
            raise InferenceError(f"LiteRT failed on {self.path.name}: {exc}.") from exc

    def close(self) -> None:
        with self._lock:
            self._interpreter = None


def load(path: Path, options: RuntimeOptions, format_name: str = "tflite") -> LiteRtRuntime:
    """Format-registry entry point."""
    return LiteRtRuntime(path, options)


def as_onnx(path: Path, options: RuntimeOptions) -> OnnxRuntime:
    """The .tflite model at ``path`` as ONNX: converted once, cached, checked against LiteRT.

    Same inputs (dtype, layout) and the same dequantized outputs as :class:`LiteRtRuntime`;
    a quantized model may differ from LiteRT by one rounding step of its output.
    """
    return convert_cached(path, options, "onnx", lambda tmp: _convert(path, tmp, options))


def _convert(path: Path, target: Path, options: RuntimeOptions) -> ConversionResult:
    from .tflite_onnx import tflite_to_onnx

    tflite_to_onnx(path, target)
    original = LiteRtRuntime(path, options)
    try:
        spec = original.inputs[0]
        sample = _smooth_sample(spec)
        expected = original.run({spec.name: sample})[0]
        hints = original.hints().model_dump(exclude_unset=True, mode="json")
        output_scale = original.outputs[0].quantization
    finally:
        original.close()
    # One rounding step of a quantized output either way is the same answer.
    atol = 1.01 * output_scale[0] if output_scale else 1e-4
    return ConversionResult(sample=sample, expected=expected, hints=hints, atol=atol)


def _smooth_sample(spec: TensorSpec) -> np.ndarray[Any, Any]:
    """Two reproducible, image-like inputs (smooth colour fields, not pixel noise)."""
    dims = [d or 1 for d in spec.shape]
    dims[0] = 2
    rng = np.random.default_rng(0)
    coarse = rng.random((2, *(max(1, d // 16) for d in dims[1:-1]), dims[-1]))
    sample = coarse
    for axis, size in enumerate(dims[1:-1], start=1):
        sample = np.repeat(sample, -(-size // sample.shape[axis]), axis=axis)
        sample = np.take(sample, range(size), axis=axis)
    if spec.is_integer:
        info = np.iinfo(spec.dtype)
        return (info.min + sample * (info.max - info.min)).astype(spec.dtype)
    return sample.astype(spec.dtype)


def embedded_labels(path: Path) -> list[str] | None:
    """Labels from a zip archive appended to a .tflite file, if there is one with a text file."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(_LABEL_SUFFIXES)]
            if not names:
                return None
            # Prefer a file that looks like labels when several text files are packed.
            names.sort(key=lambda n: ("label" not in n.lower(), n))
            text = archive.read(names[0]).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    labels = parse_labels(text)
    return labels or None


def _spec(detail: Mapping[str, Any]) -> TensorSpec:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    signature = detail.get("shape_signature", detail["shape"])
    shape = tuple(int(d) if int(d) >= 0 else None for d in signature)
    quant = (float(scale), int(zero_point)) if scale else None
    return TensorSpec(detail["name"], shape, np.dtype(detail["dtype"]), quant)


def _dequantize(array: np.ndarray[Any, Any], detail: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not scale:
        return np.array(array, copy=True)
    return (array.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
