"""Small real models built inside the tests (no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLOUR_LABELS = ("red", "green", "blue", "gray")


def colour_classifier_onnx(path: Path, *, size: int = 16, batch: str | int = "N") -> None:
    """Write an ONNX model whose logits say which colour dominates a [B,3,size,size] input.

    The graph is ReduceMean over H and W, then a 3x4 MatMul plus bias: red, green and blue
    each score their channel against the other two, gray wins when all are balanced.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array(
        [[2.0, -1.0, -1.0, 0.0], [-1.0, 2.0, -1.0, 0.0], [-1.0, -1.0, 2.0, 0.0]], np.float32
    ) * np.float32(10.0)
    bias = np.array([0.0, 0.0, 0.0, 1.0], np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["mean", "W"], ["scores"]),
            helper.make_node("Add", ["scores", "b"], ["logits"]),
        ],
        "colours",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 4])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
