"""TensorFlow Lite to ONNX, for the common convolutional classifier ops.

LiteRT runs a ``.tflite`` file well but cannot hand out part of it, so training on a TFLite base
(a new head on its features) and any ONNX-only tooling need the network as an ONNX graph. This
module reads the flatbuffer with the schema bindings that ship inside ``ai-edge-litert`` and
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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelConversionError
from ..optional import import_optional

__all__ = ["SUPPORTED_OPS", "tflite_to_onnx"]

OPSET = 17
_NHWC_TO_NCHW = (0, 3, 1, 2)
_NCHW_TO_NHWC = (0, 2, 3, 1)
_AXIS_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def _schema() -> Any:
    return import_optional(
        "ai_edge_litert.schema_py_generated", extra="litert", purpose="read .tflite files"
    )


def _onnx() -> Any:
    return import_optional("onnx", extra="train", purpose="write ONNX models")


@dataclass
class _Value:
    """An ONNX name holding a TFLite tensor's float value, and how it is laid out."""

    name: str
    nchw: bool = False


class _Converter:
    def __init__(self, buffer: bytes) -> None:
        schema = _schema()
        self.schema = schema
        self.model = schema.ModelT.InitFromPackedBuf(buffer, 0)
        self.raw = buffer
        if len(self.model.subgraphs or []) != 1:
            raise ModelConversionError("Only single-subgraph TFLite models can be converted.")
        self.graph = self.model.subgraphs[0]
        self.op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
        self.type_names = {v: k for k, v in vars(schema.TensorType).items() if k.isupper()}
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.values: dict[int, _Value] = {}
        self.transposed: dict[tuple[str, bool], str] = {}
        self.counter = 0
        self.used = {"input", "output"}
        self.folded: dict[int, np.ndarray[Any, Any]] = {}  # constants computed at conversion

    # -- tensors -----------------------------------------------------------------------

    def tensor(self, index: int) -> Any:
        return self.graph.tensors[index]

    def shape(self, index: int) -> list[int]:
        return [int(d) for d in self.tensor(index).shape]

    def dtype(self, index: int) -> np.dtype[Any]:
        name = self.type_names.get(self.tensor(index).type, "?")
        table = {
            "FLOAT32": np.float32,
            "FLOAT16": np.float16,
            "INT32": np.int32,
            "UINT8": np.uint8,
            "INT64": np.int64,
            "INT16": np.int16,
            "INT8": np.int8,
        }
        if name not in table:
            raise ModelConversionError(f"TFLite tensor type {name} is not supported.")
        return np.dtype(table[name])

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

    # -- graph building ----------------------------------------------------------------

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

    def required(self, index: int) -> np.ndarray[Any, Any]:
        """A tensor that must be constant (shapes, axes, weights)."""
        data = self.constant(index)
        if data is None:
            raise ModelConversionError(
                f"TFLite tensor {_text(self.tensor(index).name)!r} should be a constant and is "
                "not; models with computed shapes or weights are not supported."
            )
        return data

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
            self.values[index] = _Value(self.dequantized_constant(index))
        value = self.values[index]
        if value.nchw == nchw or len(self.shape(index)) != 4:
            return value.name
        key = (value.name, nchw)
        if key not in self.transposed:
            perm = _NHWC_TO_NCHW if nchw else _NCHW_TO_NHWC
            self.transposed[key] = self.node("Transpose", [value.name], perm=list(perm))
        return self.transposed[key]

    def produce(self, index: int, result: str, *, nchw: bool, activation: int = 0) -> None:
        """Record ``result`` as tensor ``index``: fused activation, then TFLite's rounding."""
        result = self.activation(result, activation)
        name = self.tensor(index).name
        label = _text(name)
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
        self.values[index] = _Value(result, nchw and len(self.shape(index)) == 4)

    def activation(self, value: str, kind: int) -> str:
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

    def same_pads(self, op: Any, kernel: tuple[int, int], strides: tuple[int, int]) -> list[int]:
        """Explicit ONNX pads for TFLite padding (SAME puts any odd pixel at the end)."""
        options = op.builtinOptions
        if options.padding != self.schema.Padding.SAME:
            return [0, 0, 0, 0]
        _, height, width, _ = self.shape(op.inputs[0])
        dilation = (
            getattr(options, "dilationHFactor", 1) or 1,
            getattr(options, "dilationWFactor", 1) or 1,
        )
        begins, ends = [], []
        for size, k, s, d in zip((height, width), kernel, strides, dilation, strict=True):
            out = -(-size // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            begins.append(total // 2)
            ends.append(total - total // 2)
        return begins + ends

    # -- ops ---------------------------------------------------------------------------

    def convert(self) -> Any:
        from onnx import TensorProto, helper

        inputs = []
        for index in self.graph.inputs:
            shape: list[int | str] = ["N", *self.shape(index)[1:]]
            dtype = helper.np_dtype_to_tensor_dtype(self.dtype(index))
            label = self.tensor(index).name
            name = "input" if len(self.graph.inputs) == 1 else _text(label)
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
            self.values[index] = _Value(value)
        for op in self.graph.operators:
            code = self.model.operatorCodes[op.opcodeIndex]
            name = self.op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
            handler: Callable[[Any], None] | None = getattr(self, f"op_{name.lower()}", None)
            if handler is None:
                raise ModelConversionError(
                    f"TFLite op {name} is not supported by the ONNX conversion.",
                    hint=f"Supported: {', '.join(SUPPORTED_OPS)}.",
                )
            handler(op)
        outputs = []
        for number, index in enumerate(self.graph.outputs):
            name = "output" if len(self.graph.outputs) == 1 else f"output_{number}"
            self.node("Identity", [self.layout(index, nchw=False)], output=name)
            shape = ["N", *self.shape(index)[1:]]
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
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

    def op_conv_2d(self, op: Any) -> None:
        options = op.builtinOptions
        out_channels, kh, kw, _ = self.shape(op.inputs[1])
        _, height, width, _ = self.shape(op.inputs[0])
        bias = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if (height, width, kh, kw) == (1, 1, 1, 1):  # a dense layer in convolution's clothes
            flat = self.node("Flatten", [self.layout(op.inputs[0], nchw=True)], axis=1)
            weights = self.dequantized_constant(op.inputs[1], (3, 1, 2, 0))
            matrix = self.node(
                "Reshape",
                [weights, self.initializer(np.array([-1, out_channels], np.int64), "shape")],
            )
            result = self.node("MatMul", [flat, matrix])
            if bias is not None:
                result = self.node("Add", [result, self.dequantized_constant(bias)])
            result = self.node(
                "Reshape",
                [result, self.initializer(np.array([0, out_channels, 1, 1], np.int64), "shape")],
            )
            self.produce(
                op.outputs[0], result, nchw=True, activation=options.fusedActivationFunction
            )
            return
        self._conv(op, self.dequantized_constant(op.inputs[1], _NHWC_TO_NCHW), (kh, kw), group=1)

    def op_depthwise_conv_2d(self, op: Any) -> None:
        _, kh, kw, _ = self.shape(op.inputs[1])
        channels = self.shape(op.inputs[0])[3]
        weights = self.dequantized_constant(op.inputs[1], (3, 0, 1, 2))
        self._conv(op, weights, (kh, kw), group=channels)

    def _conv(self, op: Any, weights: str, kernel: tuple[int, int], *, group: int) -> None:
        options = op.builtinOptions
        strides = (options.strideH, options.strideW)
        inputs = [self.layout(op.inputs[0], nchw=True), weights]
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            inputs.append(self.dequantized_constant(op.inputs[2]))
        result = self.node(
            "Conv",
            inputs,
            kernel_shape=list(kernel),
            strides=list(strides),
            dilations=[options.dilationHFactor or 1, options.dilationWFactor or 1],
            pads=self.same_pads(op, kernel, strides),
            group=group,
        )
        self.produce(op.outputs[0], result, nchw=True, activation=options.fusedActivationFunction)

    def op_fully_connected(self, op: Any) -> None:
        options = op.builtinOptions
        in_features = self.shape(op.inputs[1])[1]
        flat = self.node(
            "Reshape",
            [
                self.layout(op.inputs[0], nchw=False),
                self.initializer(np.array([-1, in_features], np.int64), "shape"),
            ],
        )
        result = self.node("MatMul", [flat, self.dequantized_constant(op.inputs[1], (1, 0))])
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            result = self.node("Add", [result, self.dequantized_constant(op.inputs[2])])
        activation = options.fusedActivationFunction if options else 0
        self.produce(op.outputs[0], result, nchw=False, activation=activation)

    def _pool(self, op: Any, kind: str) -> None:
        options = op.builtinOptions
        kernel = (options.filterHeight, options.filterWidth)
        strides = (options.strideH, options.strideW)
        extra: dict[str, Any] = {"count_include_pad": 0} if kind == "AveragePool" else {}
        result = self.node(
            kind,
            [self.layout(op.inputs[0], nchw=True)],
            kernel_shape=list(kernel),
            strides=list(strides),
            pads=self.same_pads(op, kernel, strides),
            **extra,
        )
        self.produce(op.outputs[0], result, nchw=True, activation=options.fusedActivationFunction)

    def op_average_pool_2d(self, op: Any) -> None:
        self._pool(op, "AveragePool")

    def op_max_pool_2d(self, op: Any) -> None:
        self._pool(op, "MaxPool")

    def _binary(self, op: Any, kind: str) -> None:
        first, second = op.inputs[0], op.inputs[1]
        four = all(len(self.shape(i)) == 4 for i in (first, second))
        nchw = four and (
            self.values.get(first, _Value("")).nchw or self.values.get(second, _Value("")).nchw
        )
        operands = [self.layout(i, nchw=nchw) for i in (first, second)]
        if not four:  # broadcasting is defined on TFLite's element order
            operands = [self.layout(i, nchw=False) for i in (first, second)]
            nchw = False
        options = op.builtinOptions
        activation = getattr(options, "fusedActivationFunction", 0) if options else 0
        self.produce(op.outputs[0], self.node(kind, operands), nchw=nchw, activation=activation)

    def op_add(self, op: Any) -> None:
        self._binary(op, "Add")

    def op_sub(self, op: Any) -> None:
        self._binary(op, "Sub")

    def op_mul(self, op: Any) -> None:
        self._binary(op, "Mul")

    def _unary(self, op: Any, kind: str, **attrs: Any) -> None:
        source = op.inputs[0]
        nchw = self.values[source].nchw if source in self.values else False
        result = self.node(kind, [self.layout(source, nchw=nchw)], **attrs)
        self.produce(op.outputs[0], result, nchw=nchw)

    def op_relu(self, op: Any) -> None:
        self._unary(op, "Relu")

    def op_relu6(self, op: Any) -> None:
        source = op.inputs[0]
        nchw = self.values[source].nchw if source in self.values else False
        self.produce(op.outputs[0], self.layout(source, nchw=nchw), nchw=nchw, activation=3)

    def op_logistic(self, op: Any) -> None:
        self._unary(op, "Sigmoid")

    def op_tanh(self, op: Any) -> None:
        self._unary(op, "Tanh")

    def op_hard_swish(self, op: Any) -> None:
        self._unary(op, "HardSwish")

    def op_quantize(self, op: Any) -> None:
        self._unary(op, "Identity")  # the output's own QDQ pair does the rounding

    def op_dequantize(self, op: Any) -> None:
        data = self.constant(op.inputs[0])
        if data is None:
            self._unary(op, "Identity")
            return
        # float16 or int8 weights stored small and widened at load: widen them now, so the
        # ops that use them see an ordinary float constant.
        scales, zeros, axis = self.quantization(op.inputs[0])
        values = data.astype(np.float32)
        if len(scales) and data.dtype.kind in "iu":
            shape = [1] * data.ndim
            shape[axis] = -1 if len(scales) > 1 else 1
            values = (values - zeros.reshape(shape)) * scales.reshape(shape)
        self.folded[op.outputs[0]] = values.astype(np.float32)

    def op_reshape(self, op: Any) -> None:
        target = self.shape(op.outputs[0])
        if target and target[0] == self.shape(op.inputs[0])[0]:
            target[0] = 0  # keep the (dynamic) batch axis
        result = self.node(
            "Reshape",
            [
                self.layout(op.inputs[0], nchw=False),
                self.initializer(np.array(target, np.int64), "shape"),
            ],
        )
        self.produce(op.outputs[0], result, nchw=False)

    op_squeeze = op_reshape

    def op_softmax(self, op: Any) -> None:
        source = self.layout(op.inputs[0], nchw=False)
        beta = float(op.builtinOptions.beta) if op.builtinOptions else 1.0
        if beta != 1.0:
            source = self.node(
                "Mul", [source, self.initializer(np.array(beta, np.float32), "beta")]
            )
        self.produce(op.outputs[0], self.node("Softmax", [source], axis=-1), nchw=False)

    def op_mean(self, op: Any) -> None:
        rank = len(self.shape(op.inputs[0]))
        axes = [int(a) % rank for a in np.ravel(self.required(op.inputs[1]))]
        keep = bool(op.builtinOptions.keepDims) if op.builtinOptions else False
        if rank == 4 and (keep or sorted(axes) == [1, 2]):
            # Spatial means (global pooling) read NCHW directly and leave [N, C] in order.
            mapped = sorted(_AXIS_TO_NCHW[a] for a in axes)
            result = self.node(
                "ReduceMean",
                [self.layout(op.inputs[0], nchw=True)],
                axes=mapped,
                keepdims=int(keep),
            )
            self.produce(op.outputs[0], result, nchw=keep)
            return
        result = self.node(
            "ReduceMean", [self.layout(op.inputs[0], nchw=False)], axes=axes, keepdims=int(keep)
        )
        self.produce(op.outputs[0], result, nchw=False)

    def op_concatenation(self, op: Any) -> None:
        options = op.builtinOptions
        rank = len(self.shape(op.outputs[0]))
        axis = options.axis % rank
        nchw = rank == 4
        result = self.node(
            "Concat",
            [self.layout(i, nchw=nchw) for i in op.inputs],
            axis=_AXIS_TO_NCHW[axis] if nchw else axis,
        )
        self.produce(op.outputs[0], result, nchw=nchw, activation=options.fusedActivationFunction)

    def op_pad(self, op: Any) -> None:
        pads = self.required(op.inputs[1]).astype(np.int64).reshape(-1, 2)
        nchw = len(pads) == 4
        if nchw:
            pads = pads[list(_NHWC_TO_NCHW)]
        result = self.node(
            "Pad",
            [
                self.layout(op.inputs[0], nchw=nchw),
                self.initializer(np.concatenate([pads[:, 0], pads[:, 1]]), "pads"),
            ],
        )
        self.produce(op.outputs[0], result, nchw=nchw)


SUPPORTED_OPS = sorted(name[3:].upper() for name in vars(_Converter) if name.startswith("op_"))


def tflite_to_onnx(source: Path, target: Path) -> None:
    """Write ``source`` (a .tflite file) as an equivalent ONNX model at ``target``."""
    onnx = _onnx()
    model = _Converter(source.read_bytes()).convert()
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelConversionError(
            f"The ONNX graph made from {source.name} is invalid: {exc}"
        ) from exc
    onnx.save(model, str(target))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
