"""Small real models built inside the tests (no downloads)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

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


def constant_detector_onnx(path: Path, outputs: dict[str, np.ndarray], *, size: int = 64) -> None:
    """Write an ONNX "detector" whose outputs are the given constants, whatever the image.

    The image input ``[B, 3, size, size]`` still feeds every output (times zero), so the graph
    runs like a real detector and its batch axis broadcasts.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    initializers = [numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero")]
    graph_outputs = []
    for name, value in outputs.items():
        value = np.asarray(value, np.float32)
        const = f"{name}_value"
        initializers.append(numpy_helper.from_array(value, const))
        squeezed = f"{name}_zero"
        axes = f"{name}_axes"
        # Reshape the [B,1,1,1] zero to [B, 1, ...] so it broadcasts over the constant.
        shape = np.array([-1] + [1] * (value.ndim - 1), np.int64)
        initializers.append(numpy_helper.from_array(shape, axes))
        nodes.append(helper.make_node("Reshape", ["nothing", axes], [squeezed]))
        nodes.append(helper.make_node("Add", [squeezed, const], [name]))
        dims = ["B", *value.shape[1:]]
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    graph = helper.make_graph(
        nodes,
        "detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["B", 3, size, size])],
        graph_outputs,
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


# Five candidate boxes on a 64x64 input: (centre x, centre y, width, height, class, score).
DETECTIONS = [
    (16, 32, 16, 16, 0, 0.9),  # A: cat, kept
    (17, 32, 16, 16, 0, 0.8),  # B: cat, overlaps A: suppressed
    (16, 32, 16, 16, 1, 0.7),  # C: dog, same place as A but another class: kept
    (48, 32, 8, 8, 1, 0.1),  # D: below the score threshold
    (48, 40, 10, 10, 0, 0.6),  # E: cat, kept
]


def yolov8_table(detections: list[tuple[float, ...]] = DETECTIONS, classes: int = 2) -> np.ndarray:
    """``[1, 4 + classes, N]`` as a YOLOv8 export lays it out."""
    table = np.zeros((1, 4 + classes, len(detections)), np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(detections):
        table[0, :4, i] = (cx, cy, w, h)
        table[0, 4 + int(cls), i] = score
    return table


def ssd_outputs(
    detections: list[tuple[float, ...]] = DETECTIONS, size: int = 64
) -> dict[str, np.ndarray]:
    """SSD-style outputs: normalised [ymin, xmin, ymax, xmax] boxes, scores, classes, count."""
    boxes = np.array(
        [
            [(cy - h / 2) / size, (cx - w / 2) / size, (cy + h / 2) / size, (cx + w / 2) / size]
            for cx, cy, w, h, _, _ in detections
        ],
        np.float32,
    )[None]
    scores = np.array([[d[5] for d in detections]], np.float32)
    classes = np.array([[d[4] for d in detections]], np.float32)
    return {
        "detection_boxes": boxes,
        "detection_scores": scores,
        "detection_classes": classes,
        "num_detections": np.array([[len(detections)]], np.float32),
    }


class TfliteGraph:
    """Builds a small float32 .tflite model op by op with LiteRT's own schema bindings.

    Used to check the TFLite to ONNX conversion op by op against LiteRT itself; the fixture
    MobileNets cover the quantized path.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        *,
        dtype: type = np.float32,
        quant: tuple[list[float], list[int], int] | None = None,
    ) -> None:
        from ai_edge_litert import schema_py_generated as schema

        self.schema = schema
        self.model = schema.ModelT()
        self.model.version = 3
        self.model.buffers = [schema.BufferT()]
        self.model.operatorCodes = []
        self.graph = schema.SubGraphT()
        self.graph.tensors, self.graph.operators = [], []
        self.graph.inputs = [self.tensor(input_shape, "input", dtype=dtype, quant=quant)]
        self.rng = np.random.default_rng(0)

    def tensor(
        self,
        shape: tuple[int, ...],
        name: str,
        data: np.ndarray | None = None,
        *,
        dtype: type = np.float32,
        quant: tuple[list[float], list[int], int] | None = None,
    ) -> int:
        """A tensor (a constant when ``data`` is given); ``quant`` is (scales, zero points,
        axis) for a quantized one."""
        types = {
            np.float32: self.schema.TensorType.FLOAT32,
            np.int32: self.schema.TensorType.INT32,
            np.int8: self.schema.TensorType.INT8,
            np.uint8: self.schema.TensorType.UINT8,
            np.float16: self.schema.TensorType.FLOAT16,
        }
        tensor = self.schema.TensorT()
        tensor.shape = list(shape)
        tensor.name = name
        tensor.type = types[data.dtype.type if data is not None else dtype]
        tensor.buffer = 0
        if quant is not None:
            params = self.schema.QuantizationParametersT()
            params.scale, params.zeroPoint, params.quantizedDimension = quant
            tensor.quantization = params
        if data is not None:
            buffer = self.schema.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            self.model.buffers.append(buffer)
            tensor.buffer = len(self.model.buffers) - 1
        self.graph.tensors.append(tensor)
        return len(self.graph.tensors) - 1

    def weights(self, shape: tuple[int, ...], name: str) -> int:
        return self.tensor(shape, name, self.rng.normal(0, 0.5, shape).astype(np.float32))

    def op(
        self,
        code: str,
        inputs: list[int],
        output_shape: tuple[int, ...],
        options: tuple[str, dict[str, object]] | None = None,
        *,
        dtype: type = np.float32,
        quant: tuple[list[float], list[int], int] | None = None,
    ) -> int:
        builtin = getattr(self.schema.BuiltinOperator, code)
        codes = [c.builtinCode for c in self.model.operatorCodes]
        if builtin not in codes:
            entry = self.schema.OperatorCodeT()
            entry.builtinCode, entry.deprecatedBuiltinCode = builtin, min(builtin, 127)
            entry.version = 1
            self.model.operatorCodes.append(entry)
            codes.append(builtin)
        op = self.schema.OperatorT()
        op.opcodeIndex = codes.index(builtin)
        op.inputs = inputs
        name = f"{code.lower()}_{len(self.graph.operators)}"
        output = self.tensor(output_shape, name, dtype=dtype, quant=quant)
        op.outputs = [output]
        if options is not None:
            kind, fields = options
            value = getattr(self.schema, f"{kind}T")()
            for key, field_value in fields.items():
                setattr(value, key, field_value)
            op.builtinOptionsType = getattr(self.schema.BuiltinOptions, kind)
            op.builtinOptions = value
        self.graph.operators.append(op)
        return output

    def save(self, path: Path, output: int) -> Path:
        import flatbuffers

        self.graph.outputs = [output]
        self.model.subgraphs = [self.graph]
        builder = flatbuffers.Builder(1024)
        builder.Finish(self.model.Pack(builder), file_identifier=b"TFL3")
        path.write_bytes(bytes(builder.Output()))
        return path


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes, *, crc: int | None = None) -> bytes:
    """One PNG chunk: length, type, data and CRC (``crc`` overrides the correct one)."""
    value = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", value & 0xFFFFFFFF)


def truncated_interlaced_png(
    width: int = 320,
    height: int = 213,
    *,
    colour_type: int = 2,
    idat_bytes: int = 5,
    padding: int = 136,
) -> bytes:
    """An Adam7-interlaced PNG whose only IDAT declares 64 KiB and ends after ``idat_bytes``.

    The defaults give the 194-byte file of issue 12: IHDR 320x213, 8-bit RGB, interlace 1, a
    ``tEXt`` chunk of ``padding`` bytes, then the cut IDAT. Pillow (13) raises ``OSError`` in
    ``getexif()`` on it and ``TypeError`` on the next ``load()``. The CRCs that are present are
    correct; the IDAT has none, the file ending inside it.
    """
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    noise = np.random.default_rng(width).integers(0, 256, (16, width * channels), np.uint8)
    rows = b"".join(b"\x00" + row.tobytes() for row in noise)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 1)
    text = b"Comment\x00" + b"x" * max(0, padding - 8) if padding else b""
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + (png_chunk(b"tEXt", text) if text else b"")
        + struct.pack(">I", 65536)
        + b"IDAT"
        + zlib.compress(rows)[:idat_bytes]
    )


def encoded(image: Any, fmt: str, **params: Any) -> bytes:
    """``image`` (a PIL image) encoded as ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def noise_image(size: tuple[int, int] = (64, 48), seed: int = 0) -> Any:
    """A deterministic RGB image of random pixels (no flat areas for encoders to shortcut)."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    return Image.fromarray(pixels, "RGB")


def poison_images() -> dict[str, bytes]:
    """Broken files every decoder path must turn into that image's own error, by name."""
    noise = noise_image()
    gif = encoded(noise.convert("P"), "GIF")
    tiff = encoded(noise, "TIFF")
    jpeg = encoded(noise, "JPEG", quality=90)
    progressive = encoded(noise, "JPEG", quality=90, progressive=True)
    png = encoded(noise, "PNG")
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF  # the last byte of IHDR's CRC
    return {
        "poison.png": truncated_interlaced_png(),
        "interlaced-gray.png": truncated_interlaced_png(97, 61, colour_type=0, padding=0),
        "interlaced-rgba.png": truncated_interlaced_png(50, 50, colour_type=6, idat_bytes=60),
        "truncated.gif": gif[: len(gif) // 3],
        "truncated.tiff": tiff[: len(tiff) // 3],
        "cut-mid-scan.jpg": jpeg[: len(jpeg) // 2],
        "cut-mid-scan-progressive.jpg": progressive[: len(progressive) // 2],
        "bad-crc.png": bytes(bad_crc),
    }


# Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def interlaced_png(image: Any) -> bytes:
    """A valid Adam7-interlaced 8-bit RGB PNG of ``image`` (Pillow only writes progressive
    PNGs without interlacing): each pass's rows unfiltered, all passes in one IDAT."""
    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    raw = bytearray()
    for x0, y0, dx, dy in _ADAM7:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            for row in sub:
                raw += b"\x00" + row.tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(bytes(raw)))
        + png_chunk(b"IEND", b"")
    )
