"""The op converters: one method per supported TFLite builtin op, and the conversion driver.

:class:`Converter` walks the subgraph's operators in order and hands each to ``op_<name>``
(``op_conv_2d`` for CONV_2D); an op without a method is refused by name, so
:data:`SUPPORTED_OPS` is exactly the set of methods here. Each converter reads its operands
through :meth:`~.graph.GraphBuilder.layout` in the layout it wants and records its result with
:meth:`~.graph.GraphBuilder.produce`, which applies the fused activation and TFLite's rounding.
A 1x1 convolution over a 1x1 map (how TF-slim classifiers write their dense layer) becomes a
matrix product, which is where the training cut looks for a head.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import ModelConversionError
from .graph import AXIS_TO_NCHW, NHWC_TO_NCHW, GraphBuilder, Value

__all__ = ["SUPPORTED_OPS", "Converter"]


class Converter(GraphBuilder):
    """One TFLite model converted to an ONNX model by :meth:`convert`."""

    def convert(self) -> Any:
        inputs = self.graph_inputs()
        for op in self.graph.operators:
            name = self.op_name(op)
            handler: Callable[[Any], None] | None = getattr(self, f"op_{name.lower()}", None)
            if handler is None:
                raise ModelConversionError(
                    f"TFLite op {name} is not supported by the ONNX conversion.",
                    hint=f"Supported: {', '.join(SUPPORTED_OPS)}.",
                )
            handler(op)
        return self.finish(inputs, self.graph_outputs())

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
        self._conv(op, self.dequantized_constant(op.inputs[1], NHWC_TO_NCHW), (kh, kw), group=1)

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
            self.values.get(first, Value("")).nchw or self.values.get(second, Value("")).nchw
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
            mapped = sorted(AXIS_TO_NCHW[a] for a in axes)
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
            axis=AXIS_TO_NCHW[axis] if nchw else axis,
        )
        self.produce(op.outputs[0], result, nchw=nchw, activation=options.fusedActivationFunction)

    def op_pad(self, op: Any) -> None:
        pads = self.required(op.inputs[1]).astype(np.int64).reshape(-1, 2)
        nchw = len(pads) == 4
        if nchw:
            pads = pads[list(NHWC_TO_NCHW)]
        result = self.node(
            "Pad",
            [
                self.layout(op.inputs[0], nchw=nchw),
                self.initializer(np.concatenate([pads[:, 0], pads[:, 1]]), "pads"),
            ],
        )
        self.produce(op.outputs[0], result, nchw=nchw)


SUPPORTED_OPS = sorted(name[3:].upper() for name in vars(Converter) if name.startswith("op_"))
