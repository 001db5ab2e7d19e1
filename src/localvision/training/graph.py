"""ONNX graph surgery: cut a classifier before its head, and merge a new head onto it.

The penultimate tensor is found by walking back from the classifier's output through the
ops that finish a head (softmax, bias add, (de)quantisation, reshape) to the last matrix
product (``Gemm``, ``MatMul``, ``QLinearMatMul``, ``MatMulInteger``, ``QGemm``); its input is
the feature vector. Quantised features are dequantised with the product's own input scale and
zero point, and anything beyond 2-D is flattened. The user may name the tensor instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..optional import import_optional

__all__ = ["FEATURES", "cut_backbone", "merge_head"]

FEATURES = "localvision_features"
PIXELS = "pixels"
PROBABILITIES = "probabilities"
_PRODUCTS = {"Gemm", "MatMul", "QLinearMatMul", "MatMulInteger", "QGemm"}
_HEAD_TAIL = {
    "Softmax",
    "Sigmoid",
    "LogSoftmax",
    "Add",
    "QLinearAdd",
    "DequantizeLinear",
    "QuantizeLinear",
    "Identity",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Cast",
    "Transpose",
    "Unsqueeze",
}


def _onnx() -> Any:
    return import_optional("onnx", extra="train", purpose="train on top of an ONNX model")


def cut_backbone(
    source: Path,
    target: Path,
    *,
    tensor: str | None = None,
    pixels: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], int] | None = None,
) -> tuple[str, str]:
    """Write ``source`` cut to output float features ``[N, D]`` as ``target``.

    ``pixels`` (per-channel ``a``, ``b`` and the channel axis) makes the cut model take uint8
    pixels and compute ``pixel * a + b`` itself: inside ONNX Runtime that costs a fraction of
    doing it in NumPy per image, which matters when images are decoded on the same cores.
    Returns (the tensor it cut at, the name of the features output).
    """
    onnx = _onnx()
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    graph = model.graph
    if pixels is not None:
        _take_pixels(graph, *pixels)
    producers = {out: node for node in graph.node for out in node.output}
    node_inputs: dict[str, Any] = {}
    if tensor is None:
        current = graph.output[0].name
        for _ in range(64):
            node = producers.get(current)
            if node is None:
                break
            if node.op_type in _PRODUCTS:
                tensor, node_inputs = node.input[0], {"node": node}
                break
            if node.op_type not in _HEAD_TAIL:
                break
            current = node.input[0]
        if tensor is None:
            raise ModelError(
                f"Cannot find the classification head of {source.name}.",
                hint="Name the feature tensor with --feature-tensor.",
            )
    elif tensor not in producers and tensor not in {i.name for i in graph.input}:
        raise ModelError(f"{source.name} has no tensor named {tensor!r}.")
    produced = tensor
    head = node_inputs.get("node")
    if head is not None and head.op_type in ("QLinearMatMul", "QGemm"):
        graph.node.append(
            helper.make_node(
                "DequantizeLinear", [tensor, head.input[1], head.input[2]], [FEATURES + "_dq"]
            )
        )
        produced = FEATURES + "_dq"
    graph.node.append(helper.make_node("Flatten", [produced], [FEATURES], axis=1))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, None))
    onnx.save(model, str(target))
    return str(tensor), FEATURES


def _take_pixels(graph: Any, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], axis: int) -> None:
    """Replace the float image input by a uint8 one scaled inside the graph."""
    from onnx import TensorProto, helper, numpy_helper

    original = graph.input[0]
    if original.type.tensor_type.elem_type != TensorProto.FLOAT:
        raise ModelError("Only a float32 image input can be given pixels to scale itself.")
    rank = len(original.type.tensor_type.shape.dim)
    shape = [1] * rank
    shape[axis] = len(a)
    graph.initializer.extend(
        [
            numpy_helper.from_array(a.astype(np.float32).reshape(shape), "localvision_pixel_a"),
            numpy_helper.from_array(b.astype(np.float32).reshape(shape), "localvision_pixel_b"),
        ]
    )
    scaled = [
        helper.make_node("Cast", [PIXELS], ["localvision_pixel_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["localvision_pixel_f", "localvision_pixel_a"], ["lv_px_m"]),
        helper.make_node("Add", ["lv_px_m", "localvision_pixel_b"], [original.name]),
    ]
    for node in reversed(scaled):
        graph.node.insert(0, node)
    pixel_input = helper.make_tensor_value_info(PIXELS, TensorProto.UINT8, None)
    pixel_input.type.tensor_type.shape.CopyFrom(original.type.tensor_type.shape)
    graph.input.remove(original)
    graph.input.insert(0, pixel_input)


def merge_head(
    backbone: Path,
    weights: list[np.ndarray[Any, Any]],
    target: Path,
    *,
    multi_label: bool,
    metadata: dict[str, str],
) -> None:
    """Append the head (``[W, b]`` or ``[W1, b1, W2, b2]``) to the cut backbone as one model.

    The merged model's output ``probabilities`` is softmax (or sigmoid for multi-label) of the
    head's logits.
    """
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(backbone))
    graph = model.graph
    current = FEATURES
    for index in range(0, len(weights), 2):
        w, b = f"head_w{index}", f"head_b{index}"
        graph.initializer.extend(
            [
                numpy_helper.from_array(weights[index], w),
                numpy_helper.from_array(weights[index + 1], b),
            ]
        )
        graph.node.append(helper.make_node("MatMul", [current, w], [f"head_mm{index}"]))
        graph.node.append(helper.make_node("Add", [f"head_mm{index}", b], [f"head_out{index}"]))
        current = f"head_out{index}"
        if index + 2 < len(weights):
            graph.node.append(helper.make_node("Relu", [current], [f"head_relu{index}"]))
            current = f"head_relu{index}"
    if multi_label:
        graph.node.append(helper.make_node("Sigmoid", [current], [PROBABILITIES]))
    else:
        graph.node.append(helper.make_node("Softmax", [current], [PROBABILITIES], axis=1))
    del graph.output[:]
    classes = weights[-1].shape[0]
    graph.output.append(
        helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, ["N", classes])
    )
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(target))
