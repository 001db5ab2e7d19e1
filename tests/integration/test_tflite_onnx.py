"""TFLite to ONNX: graphs built op by op and the fixture MobileNets, checked against LiteRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from localvision.api import resolve_model
from localvision.config import Settings
from localvision.errors import ModelConversionError
from localvision.imaging.decode import decode_image
from localvision.models.preprocess import to_tensor
from localvision.models.runtime import RuntimeOptions
from localvision.models.tflite import LiteRtRuntime, as_onnx
from localvision.models.tflite_onnx import tflite_to_onnx
from tests.builders import TfliteGraph

pytest.importorskip("ai_edge_litert", reason="LiteRT (the litert extra) runs the originals")
pytest.importorskip("onnx", reason="the train extra writes ONNX graphs")
ort = pytest.importorskip("onnxruntime", reason="ONNX Runtime runs the converted models")


def both(path: Path, tmp_path: Path, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LiteRT's and the converted ONNX model's outputs for ``batch``."""
    original = LiteRtRuntime(path, RuntimeOptions(cache_dir=tmp_path))
    expected = original.run({original.inputs[0].name: batch})[0]
    original.close()
    target = tmp_path / "converted.onnx"
    tflite_to_onnx(path, target)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    return expected, session.run(None, {"input": batch})[0]


def test_convolutions_pools_pads_and_a_dense_head(tmp_path: Path) -> None:
    g = TfliteGraph((1, 9, 9, 3))
    same, valid = g.schema.Padding.SAME, g.schema.Padding.VALID
    x = g.op(
        "CONV_2D",
        [0, g.weights((4, 3, 3, 3), "w1"), g.weights((4,), "b1")],
        (1, 5, 5, 4),
        (
            "Conv2DOptions",
            {"padding": same, "strideH": 2, "strideW": 2, "fusedActivationFunction": 3},
        ),
    )
    x = g.op(
        "DEPTHWISE_CONV_2D",
        [x, g.weights((1, 3, 3, 4), "w2"), g.weights((4,), "b2")],
        (1, 5, 5, 4),
        (
            "DepthwiseConv2DOptions",
            {
                "padding": same,
                "strideH": 1,
                "strideW": 1,
                "depthMultiplier": 1,
                "fusedActivationFunction": 1,
                "dilationHFactor": 1,
                "dilationWFactor": 1,
            },
        ),
    )
    pool = {"padding": same, "strideH": 2, "strideW": 2, "filterHeight": 2, "filterWidth": 2}
    x = g.op("MAX_POOL_2D", [x], (1, 3, 3, 4), ("Pool2DOptions", pool))
    pads = g.tensor((4, 2), "pads", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
    x = g.op("PAD", [x, pads], (1, 5, 5, 4))
    pool = {"padding": valid, "strideH": 1, "strideW": 1, "filterHeight": 3, "filterWidth": 3}
    x = g.op("AVERAGE_POOL_2D", [x], (1, 3, 3, 4), ("Pool2DOptions", pool))
    x = g.op("CONCATENATION", [x, x], (1, 3, 3, 8), ("ConcatenationOptions", {"axis": 3}))
    axes = g.tensor((2,), "axes", np.array([1, 2], np.int32))
    x = g.op("MEAN", [x, axes], (1, 8), ("ReducerOptions", {"keepDims": False}))
    x = g.op(
        "FULLY_CONNECTED",
        [x, g.weights((5, 8), "w3"), g.weights((5,), "b3")],
        (1, 5),
        ("FullyConnectedOptions", {}),
    )
    x = g.op("SOFTMAX", [x], (1, 5), ("SoftmaxOptions", {"beta": 1.0}))
    path = g.save(tmp_path / "convs.tflite", x)
    batch = np.random.default_rng(1).normal(size=(3, 9, 9, 3)).astype(np.float32)
    expected, actual = both(path, tmp_path, batch)
    assert actual.shape == (3, 5)  # the batch axis is dynamic although TFLite's is 1
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_elementwise_ops_broadcast_in_tflite_order(tmp_path: Path) -> None:
    g = TfliteGraph((1, 4, 4, 3))
    per_channel = g.tensor((3,), "c", np.array([0.5, -1.0, 2.0], np.float32))
    full = g.weights((1, 4, 4, 3), "full")
    x = g.op(
        "CONV_2D",
        [0, g.weights((3, 1, 1, 3), "w"), g.weights((3,), "b")],
        (1, 4, 4, 3),
        ("Conv2DOptions", {"padding": g.schema.Padding.VALID, "strideH": 1, "strideW": 1}),
    )
    x = g.op("ADD", [x, per_channel], (1, 4, 4, 3), ("AddOptions", {}))
    x = g.op("MUL", [x, full], (1, 4, 4, 3), ("MulOptions", {}))
    x = g.op("SUB", [x, per_channel], (1, 4, 4, 3), ("SubOptions", {}))
    x = g.op("HARD_SWISH", [x], (1, 4, 4, 3))
    x = g.op("LOGISTIC", [x], (1, 4, 4, 3))
    x = g.op("TANH", [x], (1, 4, 4, 3))
    x = g.op("RELU6", [x], (1, 4, 4, 3))
    x = g.op("RESHAPE", [x, g.tensor((2,), "shape", np.array([1, 48], np.int32))], (1, 48))
    path = g.save(tmp_path / "elementwise.tflite", x)
    batch = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype(np.float32)
    expected, actual = both(path, tmp_path, batch)
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_a_1x1_convolution_on_a_1x1_map_becomes_a_matrix_product(tmp_path: Path) -> None:
    import onnx

    g = TfliteGraph((1, 1, 1, 6))
    x = g.op(
        "CONV_2D",
        [0, g.weights((4, 1, 1, 6), "w"), g.weights((4,), "b")],
        (1, 1, 1, 4),
        ("Conv2DOptions", {"padding": g.schema.Padding.SAME, "strideH": 1, "strideW": 1}),
    )
    x = g.op("SQUEEZE", [x], (1, 4), ("SqueezeOptions", {"squeezeDims": [1, 2]}))
    path = g.save(tmp_path / "dense.tflite", x)
    batch = np.random.default_rng(3).normal(size=(2, 1, 1, 6)).astype(np.float32)
    expected, actual = both(path, tmp_path, batch)
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    ops = [n.op_type for n in onnx.load(str(tmp_path / "converted.onnx")).graph.node]
    assert "MatMul" in ops and "Conv" not in ops  # where the training cut looks for a head


def test_int8_per_channel_models_round_where_tflite_rounds(tmp_path: Path) -> None:
    """Full-integer int8 graphs (per-channel weights), the usual modern TFLite export."""
    rng = np.random.default_rng(4)
    g = TfliteGraph((1, 8, 8, 3))
    x = g.op("QUANTIZE", [0], (1, 8, 8, 3), dtype=np.int8, quant=([1 / 64], [-10], 0))
    kernel = rng.normal(0, 0.4, (6, 3, 3, 3))
    w_scales = np.abs(kernel).reshape(6, -1).max(axis=1) / 127
    q_kernel = np.round(kernel / w_scales[:, None, None, None]).astype(np.int8)
    bias = np.round(rng.normal(0, 0.2, 6) / (w_scales / 64)).astype(np.int32)
    weights = g.tensor((6, 3, 3, 3), "w", q_kernel, quant=(list(w_scales), [0] * 6, 0))
    biases = g.tensor((6,), "b", bias, quant=(list(w_scales / 64), [0] * 6, 0))
    options = {"padding": g.schema.Padding.SAME, "strideH": 2, "strideW": 2}
    options["fusedActivationFunction"] = g.schema.ActivationFunctionType.RELU
    x = g.op(
        "CONV_2D",
        [x, weights, biases],
        (1, 4, 4, 6),
        ("Conv2DOptions", options),
        dtype=np.int8,
        quant=([0.05], [-128], 0),
    )
    pool = {"padding": g.schema.Padding.VALID, "strideH": 4, "strideW": 4}
    pool.update(filterHeight=4, filterWidth=4)
    x = g.op(
        "AVERAGE_POOL_2D",
        [x],
        (1, 1, 1, 6),
        ("Pool2DOptions", pool),
        dtype=np.int8,
        quant=([0.05], [-128], 0),
    )
    shape = g.tensor((2,), "shape", np.array([1, 6], np.int32))
    x = g.op("RESHAPE", [x, shape], (1, 6), dtype=np.int8, quant=([0.05], [-128], 0))
    dense = np.round(rng.normal(0, 0.5, (4, 6)) / (1 / 64)).astype(np.int8)
    dense_w = g.tensor((4, 6), "fc", dense, quant=([1 / 64], [0], 0))
    x = g.op(
        "FULLY_CONNECTED",
        [x, dense_w, -1],
        (1, 4),
        ("FullyConnectedOptions", {}),
        dtype=np.int8,
        quant=([0.02], [3], 0),
    )
    x = g.op("DEQUANTIZE", [x], (1, 4))
    path = g.save(tmp_path / "int8.tflite", x)
    batch = np.random.default_rng(5).uniform(-1.5, 1.5, size=(4, 8, 8, 3)).astype(np.float32)
    expected, actual = both(path, tmp_path, batch)
    assert np.abs(expected).max() > 0.1  # the graph computes something
    assert np.abs(actual - expected).max() <= 0.02 * 1.01  # within one output step


def test_float16_weights_widened_by_dequantize(tmp_path: Path) -> None:
    """The 'float16 quantization' export: weights stored as float16 behind DEQUANTIZE."""
    g = TfliteGraph((1, 6, 6, 2))
    half = np.random.default_rng(6).normal(0, 0.5, (3, 3, 3, 2)).astype(np.float16)
    weights = g.op("DEQUANTIZE", [g.tensor((3, 3, 3, 2), "w16", half)], (3, 3, 3, 2))
    x = g.op(
        "CONV_2D",
        [0, weights, g.weights((3,), "b")],
        (1, 6, 6, 3),
        ("Conv2DOptions", {"padding": g.schema.Padding.SAME, "strideH": 1, "strideW": 1}),
    )
    path = g.save(tmp_path / "fp16.tflite", x)
    batch = np.random.default_rng(7).normal(size=(2, 6, 6, 2)).astype(np.float32)
    expected, actual = both(path, tmp_path, batch)
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_unsupported_ops_are_refused_by_name(tmp_path: Path) -> None:
    g = TfliteGraph((1, 4))
    path = g.save(tmp_path / "exp.tflite", g.op("EXP", [0], (1, 4)))
    with pytest.raises(ModelConversionError, match="EXP is not supported"):
        tflite_to_onnx(path, tmp_path / "out.onnx")


@pytest.mark.parametrize(
    ("name", "size"),
    [("mobilenet_v2_1.0_224_quant.tflite", 224), ("mobilenet_v1_0.25_128_quant.tflite", 128)],
)
def test_quantized_mobilenets_give_litert_answers(
    models_dir: Path, photos_dir: Path, tmp_path: Path, name: str, size: int
) -> None:
    path = models_dir / name
    model = resolve_model(str(path), Settings(home=tmp_path))  # LiteRT, with its own card
    converted = as_onnx(path, RuntimeOptions(cache_dir=tmp_path))  # verified on conversion
    assert converted.inputs[0].dtype == np.uint8
    assert converted.inputs[0].shape[1:] == (size, size, 3)
    batch = np.stack(
        [
            to_tensor(decode_image(photos_dir / photo), model.card, model.input)
            for photo in ("cat.bmp", "bird.bmp", "dragonfly.bmp", "grace_hopper.bmp")
        ]
    )
    expected = model.predict(batch)[0]
    actual = converted.run({"input": batch})[0]
    step = model.runtime.outputs[0].quantization[0]  # one rounding step of the uint8 output
    model.close()
    converted.close()
    assert (actual.argmax(1) == expected.argmax(1)).all()
    assert np.abs(actual - expected).max() <= step * 1.01
    again = as_onnx(path, RuntimeOptions(cache_dir=tmp_path))  # cached: no second conversion
    assert again.path == converted.path
    again.close()
