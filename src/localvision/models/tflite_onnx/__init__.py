"""TensorFlow Lite to ONNX, for the common convolutional classifier ops.

LiteRT runs a ``.tflite`` file well but cannot hand out part of it, so training on a TFLite base
(a new head on its features) and any ONNX-only tooling need the network as an ONNX graph. This
package reads the flatbuffer with the schema bindings that ship inside ``ai-edge-litert`` and
writes an equivalent ONNX graph:

* The model's input and output keep their TFLite dtype, shape and layout (NHWC, uint8 for a
  quantized model), with the batch axis made dynamic; outputs come back dequantized, as
  :class:`~localvision.models.tflite.LiteRtRuntime` returns them.
* Quantized tensors become QuantizeLinear/DequantizeLinear pairs with TFLite's own scales and
  zero points (QDQ), which ONNX Runtime fuses back into integer kernels; weights stay integers.
* Activations run NCHW inside the graph (ONNX's convolution layout); a tensor is transposed
  only where an op needs TFLite's element order (reshape, softmax, an NHWC graph output).
* Every float value is named after its TFLite tensor, so ``--feature-tensor`` takes TFLite
  names, and a 1x1 convolution over a 1x1 map (how TF-slim classifiers write their dense
  layer) becomes a matrix product, which is where the training cut looks for a head.

Ops outside the supported set are refused by name; the result is checked against LiteRT before
it is used (see :func:`localvision.models.tflite.convert_to_onnx`).

The work is layered: :mod:`.reader` reads the flatbuffer's tensors, :mod:`.graph` builds ONNX
values and nodes for them, :mod:`.ops` converts each op; :func:`tflite_to_onnx` here runs the
conversion, validates the graph and saves it. LiteRT's schema and ``onnx`` are imported only
when a conversion runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ModelConversionError
from ...optional import import_optional
from .graph import OPSET as OPSET
from .ops import SUPPORTED_OPS, Converter

__all__ = ["SUPPORTED_OPS", "tflite_to_onnx"]


def _onnx() -> Any:
    return import_optional("onnx", extra="train", purpose="write ONNX models")


def tflite_to_onnx(source: Path, target: Path) -> None:
    """Write ``source`` (a .tflite file) as an equivalent ONNX model at ``target``."""
    onnx = _onnx()
    model = Converter(source.read_bytes()).convert()
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelConversionError(
            f"The ONNX graph made from {source.name} is invalid: {exc}"
        ) from exc
    onnx.save(model, str(target))
