"""Benchmark: classification end to end against raw ONNX Runtime and Keras ``predict``.

Measured in one run on this machine, on JPEG files made from the shared fixture photos:

* ``raw-ort``: ``session.run`` on tensors decoded and pre-processed beforehand: the limit;
* ``script+ort``: what a hand-written script does per image: PIL decode, resize, normalise in
  NumPy, ``session.run``;
* ``localvision``: ``classify`` on JPEG paths: decode, pre-process, batch, run, post-process;
* ``raw-litert`` / ``localvision`` for the TFLite fixture the same way;
* ``keras-predict``: Keras ``model.predict`` on one image at a time (today's common path), with
  the same network served by localvision after conversion (Keras MobileNetV2 architecture,
  random weights, so nothing is downloaded);
* ``decode-12mp``: decoding a 12 MP JPEG for a 224 px model on one thread, full and draft.

Prints a table and writes JSON (``--out``, default ``benchmarks/results/classify.json``).

    python benchmarks/classify.py [--fixtures ../shared/fixtures] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, percentiles, write_report
from PIL import Image
from rich.console import Console
from rich.table import Table

import localvision
from localvision.api import engine_for
from localvision.config import Settings
from localvision.imaging.decode import decode_image
from localvision.models.preprocess import to_tensor
from localvision.types import AnnotateRequest, Feature, FeatureRequest

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZES = (1, 4, 8, 16, 32)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "classify.json"
    )
    parser.add_argument("--images", type=int, default=128, help="images per throughput run")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--skip-keras", action="store_true")
    args = parser.parse_args(argv)
    if not (args.fixtures / "models").is_dir():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    repeats = 20 if args.quick else 60
    count = 48 if args.quick else args.images
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(home=folder / "home")
        jpegs = make_jpegs(args.fixtures / "photos", folder, count)
        rows += bench_onnx(args.fixtures / "models", jpegs, settings, repeats)
        rows += bench_tflite(args.fixtures / "models", jpegs, settings, repeats)
        rows += bench_decode(args.fixtures / "photos", folder, repeats)
        if not args.skip_keras:
            rows += bench_keras(folder, jpegs[: min(len(jpegs), 32)], settings, repeats)
    report = {"machine": machine(), "rows": rows, "targets": targets(rows)}
    print_table(report)
    write_report(report, args.out)
    return 0


# ---------------------------------------------------------------------------- inputs


def make_jpegs(photos: Path, folder: Path, count: int) -> list[Path]:
    """``count`` 224x224 JPEG files cycling through the fixture photos."""
    sources = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".bmp", ".jpg"))
    out = []
    for i in range(count):
        image = Image.open(sources[i % len(sources)]).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side)).resize((224, 224))
        path = folder / f"img{i:04d}.jpg"
        image.save(path, "JPEG", quality=90)
        out.append(path)
    return out


# ---------------------------------------------------------------------------- timing


def cycling(items: Sequence[Any]) -> Callable[[], Any]:
    """A function returning the items in turn, forever."""
    iterator = itertools.cycle(items)
    return lambda: next(iterator)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def row(
    name: str, model: str, batch: int, samples: list[float], images_per_call: int
) -> dict[str, Any]:
    per_image = [s / images_per_call for s in samples]
    return {
        "name": name,
        "model": model,
        "batch": batch,
        "images_per_s": images_per_call / statistics.median(samples),
        **percentiles(samples),
        "per_image_ms": 1000 * statistics.median(per_image),
    }


def best(rows: list[dict[str, Any]], name: str, model: str) -> dict[str, Any]:
    candidates = [r for r in rows if r["name"] == name and r["model"] == model]
    return max(candidates, key=lambda r: r["images_per_s"])


# ---------------------------------------------------------------------------- ONNX


def bench_onnx(
    models: Path, jpegs: list[Path], settings: Settings, repeats: int
) -> list[dict[str, Any]]:
    import onnxruntime as ort

    path = models / "mobilenetv2-12-int8.onnx"
    label = "mobilenetv2-int8.onnx"
    model = localvision.load_model(
        path, labels=models / "imagenet_labels_1000.txt", settings=settings
    )
    card, spec = model.card, model.model.input
    tensors = np.stack([to_tensor(decode_image(p, min_side=224), card, spec) for p in jpegs])
    options = ort.SessionOptions()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rows = []
    for batch in BATCH_SIZES:
        chunks = cycling(
            [tensors[i : i + batch] for i in range(0, len(tensors) - batch + 1, batch)]
        )
        samples = timed(lambda chunks=chunks: session.run(None, {"input": chunks()}), repeats)
        rows.append(row("raw-ort", label, batch, samples, batch))
    paths = cycling(jpegs)
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)

    def script() -> None:
        # What a hand-written script does: decode, resize, normalise, run one image.
        image = Image.open(paths()).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
        x = ((np.asarray(image, np.float32) / 255 - mean) / std).transpose(2, 0, 1)[None]
        session.run(None, {"input": np.ascontiguousarray(x)})

    rows.append(row("script+ort", label, 1, timed(script, repeats), 1))
    rows += bench_localvision(model, label, jpegs, settings, repeats)
    model.close()
    return rows


def bench_localvision(
    model: localvision.LocalModel, label: str, jpegs: list[Path], settings: Settings, repeats: int
) -> list[dict[str, Any]]:
    """Batch 1: one ``classify`` call per image (latency). Larger: a stream of all the files."""
    paths = cycling(jpegs)
    rows = [
        row("localvision", label, 1, timed(lambda: model.classify(paths(), top_k=5), repeats), 1)
    ]
    labels = [FeatureRequest(Feature.LABELS, max_results=5)]
    requests = [AnnotateRequest(p, labels) for p in jpegs]
    for batch in BATCH_SIZES[1:]:
        with engine_for(
            {Feature.LABELS: model.model}, settings.model_copy(update={"batch_size": batch})
        ) as engine:
            samples = timed(lambda: engine.annotate(requests), max(3, repeats // 10), warmup=1)
        rows.append(row("localvision", label, batch, samples, len(jpegs)))
    return rows


# ---------------------------------------------------------------------------- TFLite


def bench_tflite(
    models: Path, jpegs: list[Path], settings: Settings, repeats: int
) -> list[dict[str, Any]]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return []
    path = models / "mobilenet_v2_1.0_224_quant.tflite"
    label = "mobilenet_v2_quant.tflite"
    model = localvision.load_model(path, settings=settings)
    card, spec = model.card, model.model.input
    tensors = [to_tensor(decode_image(p, min_side=224), card, spec)[None] for p in jpegs]
    interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    inputs = cycling(tensors)

    def invoke() -> None:
        interpreter.set_tensor(index, inputs())
        interpreter.invoke()
        interpreter.get_tensor(out)

    rows = [row("raw-litert", label, 1, timed(invoke, repeats), 1)]
    rows += bench_localvision(model, label, jpegs, settings, repeats)
    model.close()
    return rows


# ---------------------------------------------------------------------------- decoding


def bench_decode(photos: Path, folder: Path, repeats: int) -> list[dict[str, Any]]:
    big = (
        Image.open(photos / "cat_720p.jpg")
        .convert("RGB")
        .resize((4000, 3000), Image.Resampling.BICUBIC)
    )
    path = folder / "12mp.jpg"
    big.save(path, "JPEG", quality=90)
    data = path.read_bytes()
    full = timed(lambda: decode_image(data), max(5, repeats // 4))
    draft = timed(lambda: decode_image(data, min_side=224), repeats)
    return [
        row("decode-12mp-full", "pillow", 1, full, 1),
        row("decode-12mp-for-224px", "pillow draft", 1, draft, 1),
    ]


# ---------------------------------------------------------------------------- Keras


def bench_keras(
    folder: Path, jpegs: list[Path], settings: Settings, repeats: int
) -> list[dict[str, Any]]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return []
    net = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), classes=1000)
    path = folder / "mobilenetv2.keras"
    net.save(path)
    label = "MobileNetV2.keras"
    paths = cycling(jpegs)

    def keras_today() -> None:
        # What scripts do today: decode, resize, scale by hand, predict one image.
        image = Image.open(paths()).convert("RGB").resize((224, 224))
        net.predict((np.asarray(image, np.float32) / 127.5 - 1.0)[None], verbose=0)

    rows = [row("keras-predict", label, 1, timed(keras_today, max(10, repeats // 3)), 1)]
    model = localvision.load_model(path, settings=settings, card={"input_range": "-1..1"})
    rows += bench_localvision(model, label, jpegs, settings, max(10, repeats // 3))[:1]
    model.close()
    return rows


# ---------------------------------------------------------------------------- report


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    onnx = "mobilenetv2-int8.onnx"
    raw, ours = best(rows, "raw-ort", onnx), best(rows, "localvision", onnx)
    raw1 = next(r for r in rows if r["name"] == "raw-ort" and r["batch"] == 1)
    ours1 = next(
        r for r in rows if r["name"] == "localvision" and r["model"] == onnx and r["batch"] == 1
    )
    draft = next(r for r in rows if r["name"] == "decode-12mp-for-224px")
    overhead = ours["per_image_ms"] / raw["per_image_ms"] - 1
    return {
        "overhead_best_batch": {
            "value": overhead,
            "target": 0.10,
            "met": overhead <= 0.10,
            "raw_batch": raw["batch"],
            "localvision_batch": ours["batch"],
        },
        "overhead_batch1_p50": {"value": ours1["p50_ms"] / raw1["p50_ms"] - 1},
        "decode_12mp_for_224px_ms": {
            "value": draft["p50_ms"],
            "target": 25.0,
            "met": draft["p50_ms"] <= 25.0,
        },
    }


def print_table(report: dict[str, Any]) -> None:
    console = Console()
    table = Table(
        "run",
        "model",
        "batch",
        "images/s",
        "p50 ms",
        "p95 ms",
        "ms/image",
        title=f"classify on {report['machine']['cpus']} CPUs",
    )
    for r in report["rows"]:
        table.add_row(
            r["name"],
            r["model"],
            str(r["batch"]),
            f"{r['images_per_s']:.1f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['per_image_ms']:.2f}",
        )
    console.print(table)
    for key, value in report["targets"].items():
        console.print(f"{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
