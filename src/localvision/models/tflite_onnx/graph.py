"""Building the ONNX graph that stands for a TFLite subgraph's tensors.

:class:`GraphBuilder` extends the reader with the graph under construction: its nodes and
initializers, and for each TFLite tensor the ONNX value holding it as float (:class:`Value`).

* **Layout.** Activations run NCHW inside the graph, ONNX's convolution layout; each value
  remembers its layout and :meth:`GraphBuilder.layout` transposes (once per value and layout)
  only where an op needs the other one.
* **Quantization.** Integer constants stay integers behind DequantizeLinear; a quantized op
  result goes through a QuantizeLinear/DequantizeLinear pair with TFLite's own scale and zero
  point (:meth:`GraphBuilder.produce`), which is where TFLite rounds and what ONNX Runtime fuses
  back into integer kernels.
* **Names.** Every op result is named after its TFLite tensor, so a cut can name TFLite
  tensors; helper values get ``lv_`` names that cannot clash.

The graph's inputs keep TFLite's dtype and NHWC shape (batch dynamic); its outputs are float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ModelConversionError
from .reader import TfliteReader, text

__all__ = ["AXIS_TO_NCHW", "NCHW_TO_NHWC", "NHWC_TO_NCHW", "OPSET", "GraphBuilder", "Value"]

OPSET = 17
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
AXIS_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


@dataclass
class Value:
    """An ONNX name holding a TFLite tensor's float value, and how it is laid out."""

    name: str
    nchw: bool = False


class GraphBuilder(TfliteReader):
    """The ONNX nodes, initializers and values made so far from one TFLite model."""

    def __init__(self, buffer: bytes) -> None:
        super().__init__(buffer)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.values: dict[int, Value] = {}
        self.transposed: dict[tuple[str, bool], str] = {}
        self.counter = 0
        self.used = {"input", "output"}

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"lv_{hint}_{self.counter}"

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        output = output or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def initializer(self, array: np.ndarray[Any, Any], hint: str) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        # np.ascontiguousarray would turn a 0-d scale into shape [1]; QDQ fusion needs scalars.
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def dequantized_constant(self, index: int, permutation: tuple[int, ...] | None = None) -> str:
        """A constant as a float ONNX value: integers stay integers behind DequantizeLinear."""
        data = self.required(index)
        scales, zeros, axis = self.quantization(index)
        if permutation is not None:
            data = data.transpose(permutation)
            axis = permutation.index(axis) if len(scales) > 1 else 0
        if len(scales) == 0 or data.dtype.kind == "f":
            return self.initializer(data.astype(np.float32), "const")
        zero_dtype = np.int32 if data.dtype == np.int32 else data.dtype
        if len(scales) > 1:
            return self.node(
                "DequantizeLinear",
                [
                    self.initializer(data, "q"),
                    self.initializer(scales, "scale"),
                    self.initializer(zeros.astype(zero_dtype), "zero"),
                ],
                axis=axis,
            )
        return self.node(
            "DequantizeLinear",
            [
                self.initializer(data, "q"),
                self.initializer(scales.reshape(()), "scale"),
                self.initializer(zeros.reshape(()).astype(zero_dtype), "zero"),
            ],
        )

    def layout(self, index: int, nchw: bool) -> str:
        """The value of tensor ``index`` in NCHW (``nchw``) or TFLite's own element order."""
        if index not in self.values:
            if self.constant(index) is None:
                raise ModelConversionError(
                    f"TFLite tensor {self.tensor(index).name!r} is used before it is produced."
                )
            self.values[index] = Value(self.dequantized_constant(index))
        value = self.values[index]
        if value.nchw == nchw or len(self.shape(index)) != 4:
            return value.name
        key = (value.name, nchw)
        if key not in self.transposed:
            perm = NHWC_TO_NCHW if nchw else NCHW_TO_NHWC
            self.transposed[key] = self.node("Transpose", [value.name], perm=list(perm))
        return self.transposed[key]

    def produce(self, index: int, result: str, *, nchw: bool, activation: int = 0) -> None:
        """Record ``result`` as tensor ``index``: fused activation, then TFLite's rounding."""
        result = self.activation(result, activation)
        name = self.tensor(index).name
        label = text(name)
        if not label or label in self.used or label.startswith("lv_"):
            label = self.fresh("tensor")
        self.used.add(label)
        scales, zeros, _ = self.quantization(index)
        dtype = self.dtype(index)
        if len(scales) and dtype.kind in "iu" and dtype != np.int32:
            scale = self.initializer(scales[:1].reshape(()), "scale")
            zero = self.initializer(zeros[:1].reshape(()).astype(dtype), "zero")
            quantized = self.node("QuantizeLinear", [result, scale, zero])
            result = self.node("DequantizeLinear", [quantized, scale, zero], output=label)
        else:
            result = self.node("Identity", [result], output=label)
        self.values[index] = Value(result, nchw and len(self.shape(index)) == 4)

    def activation(self, value: str, kind: int) -> str:
        """TFLite's fused activation ``kind`` (RELU, RELU_N1_TO_1, RELU6, TANH) on ``value``."""
        bounds = {1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}
        if kind == 0:
            return value
        if kind == 4:
            return self.node("Tanh", [value])
        if kind not in bounds:
            raise ModelConversionError(f"Fused activation {kind} is not supported.")
        low, high = bounds[kind]
        if high is None:
            return self.node("Relu", [value])
        return self.node(
            "Clip",
            [
                value,
                self.initializer(np.array(low, np.float32), "min"),
                self.initializer(np.array(high, np.float32), "max"),
            ],
        )

    def graph_inputs(self) -> list[Any]:
        """Declare the model's inputs (TFLite dtype, batch dynamic) and dequantize them."""
        from onnx import TensorProto, helper

        inputs = []
        for index in self.graph.inputs:
            shape: list[int | str] = ["N", *self.shape(index)[1:]]
            dtype = helper.np_dtype_to_tensor_dtype(self.dtype(index))
            label = self.tensor(index).name
            name = "input" if len(self.graph.inputs) == 1 else text(label)
            inputs.append(helper.make_tensor_value_info(name, dtype, shape))
            scales, zeros, _ = self.quantization(index)
            if len(scales):
                value = self.node(
                    "DequantizeLinear",
                    [
                        name,
                        self.initializer(scales[:1].reshape(()), "scale"),
                        self.initializer(zeros[:1].reshape(()).astype(self.dtype(index)), "zero"),
                    ],
                )
            else:
                value = self.node("Cast", [name], to=TensorProto.FLOAT)
            self.values[index] = Value(value)
        return inputs

    def graph_outputs(self) -> list[Any]:
        """Declare the model's outputs: float, in TFLite's element order, batch dynamic."""
        from onnx import TensorProto, helper

        outputs = []
        for number, index in enumerate(self.graph.outputs):
            name = "output" if len(self.graph.outputs) == 1 else f"output_{number}"
            self.node("Identity", [self.layout(index, nchw=False)], output=name)
            shape: list[int | str] = ["N", *self.shape(index)[1:]]
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return outputs

    def finish(self, inputs: list[Any], outputs: list[Any]) -> Any:
        """The ONNX model (opset :data:`OPSET`, IR version 8) of everything built so far."""
        from onnx import helper

        graph = helper.make_graph(
            self.nodes, "tflite", inputs, outputs, initializer=self.initializers
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="localvision",
        )
        model.ir_version = 8
        return model
