"""Reading a ``.tflite`` flatbuffer: its tensors' shapes, dtypes, quantization and constants.

The flatbuffer is unpacked with the schema bindings that ship inside ``ai-edge-litert``
(imported only when a file is read, through ``import_optional``), so no TensorFlow is needed.
:class:`TfliteReader` answers questions about one subgraph's tensors by index; the ONNX graph
builder (:mod:`.graph`) and the op converters (:mod:`.ops`) build on it. Constants that the
conversion itself computes (weights widened by a DEQUANTIZE op) are kept in ``folded`` and
answered like stored ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ModelConversionError
from ...optional import import_optional

__all__ = ["TfliteReader", "schema", "text"]

_DTYPES = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "INT32": np.int32,
    "UINT8": np.uint8,
    "INT64": np.int64,
    "INT16": np.int16,
    "INT8": np.int8,
}


def schema() -> Any:
    """The TFLite flatbuffer schema bindings, or an error naming the ``litert`` extra."""
    return import_optional(
        "ai_edge_litert.schema_py_generated", extra="litert", purpose="read .tflite files"
    )


def text(value: Any) -> str:
    """A flatbuffer string (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


class TfliteReader:
    """The tensors of a single-subgraph TFLite model, by index."""

    def __init__(self, buffer: bytes) -> None:
        bindings = schema()
        self.schema = bindings
        self.model = bindings.ModelT.InitFromPackedBuf(buffer, 0)
        self.raw = buffer
        if len(self.model.subgraphs or []) != 1:
            raise ModelConversionError("Only single-subgraph TFLite models can be converted.")
        self.graph = self.model.subgraphs[0]
        self.op_names = {v: k for k, v in vars(bindings.BuiltinOperator).items() if k.isupper()}
        self.type_names = {v: k for k, v in vars(bindings.TensorType).items() if k.isupper()}
        self.folded: dict[int, np.ndarray[Any, Any]] = {}  # constants computed at conversion

    def tensor(self, index: int) -> Any:
        return self.graph.tensors[index]

    def shape(self, index: int) -> list[int]:
        return [int(d) for d in self.tensor(index).shape]

    def dtype(self, index: int) -> np.dtype[Any]:
        name = self.type_names.get(self.tensor(index).type, "?")
        if name not in _DTYPES:
            raise ModelConversionError(f"TFLite tensor type {name} is not supported.")
        return np.dtype(_DTYPES[name])

    def op_name(self, op: Any) -> str:
        """The builtin operator's name (``CONV_2D``), or ``CUSTOM``."""
        code = self.model.operatorCodes[op.opcodeIndex]
        return str(self.op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"))

    def quantization(self, index: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int]:
        """(scales, zero points, axis) or empty arrays for a float tensor."""
        q = self.tensor(index).quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64), 0
        return (
            np.asarray(q.scale, np.float32),
            np.asarray(q.zeroPoint, np.int64),
            int(q.quantizedDimension),
        )

    def constant(self, index: int) -> np.ndarray[Any, Any] | None:
        """The stored data of a constant tensor, or None for an activation."""
        if index in self.folded:
            return self.folded[index]
        buffer = self.model.buffers[self.tensor(index).buffer]
        data: bytes | None = None
        if buffer.data is not None and len(buffer.data):
            data = bytes(np.asarray(buffer.data, np.uint8))
        elif getattr(buffer, "offset", 0) > 1:  # large models keep data after the flatbuffer
            data = self.raw[buffer.offset : buffer.offset + buffer.size]
        if data is None:
            return None
        array = np.frombuffer(data, dtype=self.dtype(index))
        return array.reshape(self.shape(index))

    def required(self, index: int) -> np.ndarray[Any, Any]:
        """A tensor that must be constant (shapes, axes, weights)."""
        data = self.constant(index)
        if data is None:
            raise ModelConversionError(
                f"TFLite tensor {text(self.tensor(index).name)!r} should be a constant and is "
                "not; models with computed shapes or weights are not supported."
            )
        return data
