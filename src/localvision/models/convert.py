"""Converting Keras, PyTorch and TFLite models to ONNX, once, with a check that nothing changed.

ONNX Runtime is the fast path for every format it can take, so Keras and PyTorch models are
exported to ONNX on first load (TFLite models when something needs them as ONNX, such as
training) and cached under ``<home>/cache/onnx/`` by the source file's SHA-256. Before a
conversion is accepted, the ONNX model and the original are run on the same input and must agree
within tolerance; otherwise the conversion is refused rather than silently serving different
answers. Card hints found during conversion (layout, input range, activation) are stored in the
ONNX file's metadata so a cached load needs neither Keras nor PyTorch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LocalVisionError, ModelConversionError
from ..files import atomic_path, sha256_file
from ..optional import import_optional
from .card import CardFields
from .onnx import CARD_METADATA_KEY, OnnxRuntime
from .runtime import RuntimeOptions

__all__ = ["ConversionResult", "convert_cached", "outputs_agree", "store_card"]

ATOL = 1e-4
RTOL = 1e-3


@dataclass
class ConversionResult:
    """What a converter reports after writing an ONNX file.

    ``sample`` is the input it traced with; ``expected`` what the original model returned
    for it (the first output); ``hints`` the card fields it learned from the original;
    ``atol`` the absolute difference allowed (a quantized original rounds to its own steps).
    """

    sample: np.ndarray[Any, Any]
    expected: np.ndarray[Any, Any]
    hints: dict[str, Any] = field(default_factory=dict)
    atol: float = ATOL


Converter = Callable[[Path], ConversionResult]


def convert_cached(
    source: Path, options: RuntimeOptions, format_name: str, converter: Converter, *, key: str = ""
) -> OnnxRuntime:
    """Return an ONNX runtime for ``source``, converting it with ``converter`` if not cached.

    ``key`` distinguishes conversions of one file that depend on options (a traced input size).
    """
    digest = sha256_file(source)
    target = options.cache_dir / "onnx" / f"{digest}{'-' + key if key else ''}.onnx"
    if not target.is_file():
        with atomic_path(target) as tmp:
            try:
                result = converter(tmp)
            except LocalVisionError:
                raise
            except Exception as exc:
                raise ModelConversionError(
                    f"Converting {source} to ONNX failed: {type(exc).__name__}: {exc}",
                    hint="Export the model to ONNX yourself and load the .onnx file.",
                ) from exc
            store_card(tmp, result.hints)
            _verify(source, tmp, result, options)
    return OnnxRuntime(target, options, format_name=format_name)


def outputs_agree(
    actual: np.ndarray[Any, Any], expected: np.ndarray[Any, Any], atol: float = ATOL
) -> float | None:
    """The largest absolute difference if the outputs disagree beyond tolerance, else None."""
    if actual.shape != expected.shape:
        return float("inf")
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    allowed = atol + RTOL * np.abs(expected.astype(np.float64))
    if np.all(diff <= allowed):
        return None
    return float(diff.max())


def store_card(path: Path, hints: dict[str, Any]) -> None:
    """Write card fields into the ONNX file's metadata, where a later load finds them."""
    if not hints:
        return
    onnx = import_optional("onnx", extra="torch", purpose="write ONNX metadata")
    CardFields.model_validate(hints)  # never store hints that will not load back
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key = CARD_METADATA_KEY
    entry.value = json.dumps(hints)
    onnx.save(model, str(path))


def _verify(
    source: Path, onnx_path: Path, result: ConversionResult, options: RuntimeOptions
) -> None:
    runtime = OnnxRuntime(onnx_path, options)
    try:
        actual = runtime.run({runtime.inputs[0].name: result.sample})[0]
    finally:
        runtime.close()
    worst = outputs_agree(actual, result.expected, result.atol)
    if worst is not None:
        raise ModelConversionError(
            f"The ONNX conversion of {source} disagrees with the original (largest difference "
            f"{worst:.3g}, tolerance {result.atol:.3g} + {RTOL}·|x|); refusing to use it.",
            hint="Export the model to ONNX yourself, or report the layer types it uses.",
        )
