"""Profile: where the engine's CPU goes for one image, stage by stage, and what would save it.

Times the real code path of a labels request for the int8 MobileNetV2 fixture (224x224 centre
crop) on one thread, for JPEG (quality 90) and PNG files of 640x480, 1 MP (1152x864) and 12 MP
(4000x3000) made from the 720p fixture photo of a cat (upscaled with mild noise added, so the
files are as large as a camera's):

- ``decode``: :func:`localvision.imaging.decode.decode_image` as the engine calls it (JPEG DCT
  scaling to the model's short side), and without ``min_side`` (a full decode), to show what
  the DCT scaling saves;
- ``resize+crop``: :func:`localvision.models.preprocess.input_pixels` (one Pillow resize with
  the crop as its box, bilinear);
- ``normalise``: :func:`localvision.models.preprocess.scale_pixels` (layout, mean/std, float32);
- ``model``: one ``run`` of the model on one intra-op thread.

And alternatives to each stage, not used by localvision today: Pillow's resize with a
``reducing_gap`` (an integer box reduction before the bilinear pass), OpenCV's ``INTER_AREA``
resize of the crop, OpenCV's ``imdecode`` (with its reduced-scale JPEG modes). Each
alternative pipeline is also run over the fixture photos, and its top-1 and top-5 labels are
compared with today's pipeline's.

    python benchmarks/image_work.py [--quick] [--out FILE]

Milliseconds are medians of wall time on one thread (the stages are single-threaded, the model
is given one thread); prints a table and writes JSON (default
``benchmarks/results/image_work.json``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, write_report
from PIL import Image
from process_tree import own_cpu_s
from rich.console import Console
from rich.table import Table

import localvision
from localvision.config import Settings
from localvision.imaging.decode import decode_image
from localvision.models.model import Model
from localvision.models.preprocess import crop_box, input_pixels, scale_pixels
from localvision.types import DecodedImage

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"640x480": (640, 480), "1MP": (1152, 864), "12MP": (4000, 3000)}
REPEATS = {"640x480": 40, "1MP": 20, "12MP": 5}


def make_images(photos: Path) -> dict[str, bytes]:
    """``{"640x480 JPEG": bytes, ...}``: each size as a JPEG (quality 90) and a PNG."""
    source = Image.open(photos / "cat_720p.jpg").convert("RGB")
    width, height = source.size
    crop_w = height * 4 / 3
    box = ((width - crop_w) / 2, 0.0, (width + crop_w) / 2, float(height))
    noise = np.random.default_rng(0)
    out = {}
    for name, size in SIZES.items():
        image = source.resize(size, Image.Resampling.BICUBIC, box=box)
        if name != "640x480":  # upscaled: give it the grain a camera's pixels have
            pixels = np.asarray(image, dtype=np.int16) + noise.normal(0, 3, (*size[::-1], 3))
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        for fmt, options in (("JPEG", {"quality": 90}), ("PNG", {})):
            buffer = io.BytesIO()
            image.save(buffer, fmt, **options)
            out[f"{name} {fmt}"] = buffer.getvalue()
    return out


def median_ms(call: Callable[[], object], repeats: int) -> float:
    for _ in range(max(2, repeats // 4)):  # warm-up: first calls pay for imports, allocations
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


# ------------------------------------------------------------------------------ alternatives


def resize_reducing_gap(image: DecodedImage, model: Model) -> np.ndarray[Any, Any]:
    """Today's resize with Pillow's ``reducing_gap=3``: box-reduce by an integer factor first."""
    height, width = model.card.input_size
    box = crop_box(image.pixels.size, (width, height))
    resized = image.pixels.resize(
        (width, height), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0
    )
    return np.asarray(resized)


def resize_cv2_area(image: DecodedImage, model: Model) -> np.ndarray[Any, Any]:
    """The crop cut from the pixels as a view, resized by OpenCV's ``INTER_AREA``."""
    import cv2

    height, width = model.card.input_size
    left, top, right, bottom = (round(v) for v in crop_box(image.pixels.size, (width, height)))
    pixels = np.asarray(image.pixels)[top:bottom, left:right]
    return np.asarray(cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA))


def decode_cv2(data: bytes, min_side: int) -> DecodedImage:
    """OpenCV's decoder (RGB), at the smallest JPEG scale keeping ``min_side``; no EXIF."""
    import cv2

    buffer = np.frombuffer(data, np.uint8)
    flag = cv2.IMREAD_COLOR
    if data[:2] == b"\xff\xd8":
        header = Image.open(io.BytesIO(data))
        short = min(header.size)
        for factor, reduced in (
            (8, cv2.IMREAD_REDUCED_COLOR_8),
            (4, cv2.IMREAD_REDUCED_COLOR_4),
            (2, cv2.IMREAD_REDUCED_COLOR_2),
        ):
            if short // factor >= min_side:
                flag = reduced
                break
    bgr = cv2.imdecode(buffer, flag)
    if bgr is None:
        raise ValueError("OpenCV cannot decode this image")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    pil = Image.fromarray(rgb)
    return DecodedImage(pixels=pil, width=pil.width, height=pil.height, format=None, name="")


PIPELINES: dict[str, Callable[[bytes, Model], np.ndarray[Any, Any]]] = {
    "today": lambda data, model: input_pixels(decode_image(data, min_side=224), model.card),
    "pillow reducing_gap=3": lambda data, model: resize_reducing_gap(
        decode_image(data, min_side=224), model
    ),
    "cv2 INTER_AREA resize": lambda data, model: resize_cv2_area(
        decode_image(data, min_side=224), model
    ),
    "cv2 decode + INTER_AREA": lambda data, model: resize_cv2_area(decode_cv2(data, 224), model),
}


# ------------------------------------------------------------------------------ measuring


def profile(images: dict[str, bytes], model: Model, quick: bool) -> list[dict[str, Any]]:
    """One row per image: the milliseconds of each stage and alternative."""
    rows = []
    for label, data in images.items():
        repeats = max(2, REPEATS[label.split()[0]] // (4 if quick else 1))
        shipped = decode_image(data, min_side=224)
        stages = stage_times(data, shipped, model, repeats)
        today = ("decode (as shipped)", "resize+crop", "normalise", "model (1 thread)")
        rows.append(
            {
                "image": label,
                "bytes": len(data),
                "decoded_size": list(shipped.pixels.size),
                "stages_ms": stages,
                "today_total_ms": sum(stages[s] for s in today),
            }
        )
    return rows


def stage_times(data: bytes, shipped: DecodedImage, model: Model, repeats: int) -> dict[str, float]:
    """Median milliseconds of each stage of today's path for ``data``, and the alternatives."""
    spec = model.input
    pixels = input_pixels(shipped, model.card)
    feed = {spec.name: scale_pixels(pixels, model.card, spec)[None]}
    return {
        "decode (as shipped)": median_ms(lambda: decode_image(data, min_side=224), repeats),
        "decode full size": median_ms(lambda: decode_image(data), repeats),
        "resize+crop": median_ms(lambda: input_pixels(shipped, model.card), repeats),
        "normalise": median_ms(lambda: scale_pixels(pixels, model.card, spec), repeats),
        "model (1 thread)": median_ms(lambda: model.runtime.run(feed), repeats),
        "alt: resize reducing_gap=3": median_ms(
            lambda: resize_reducing_gap(shipped, model), repeats
        ),
        "alt: resize cv2 INTER_AREA": median_ms(lambda: resize_cv2_area(shipped, model), repeats),
        "alt: decode cv2": median_ms(lambda: decode_cv2(data, 224), repeats),
    }


def agreement(photos: Path, model: Model) -> dict[str, dict[str, Any]]:
    """Each pipeline's top-1 agreement and mean top-5 overlap with today's, on the fixtures."""
    files = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".bmp"))
    spec = model.input

    def top5(pixels: np.ndarray[Any, Any]) -> list[int]:
        (scores,) = model.runtime.run({spec.name: scale_pixels(pixels, model.card, spec)[None]})
        return [int(i) for i in np.argsort(scores[0])[::-1][:5]]

    encoded = []
    for path in files:  # every fixture as a JPEG, the format the DCT scaling applies to
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").save(buffer, "JPEG", quality=90)
        encoded.append(buffer.getvalue())
    reference = [top5(PIPELINES["today"](data, model)) for data in encoded]
    out = {}
    for name, pipeline in PIPELINES.items():
        tops = [top5(pipeline(data, model)) for data in encoded]
        out[name] = {
            "photos": len(encoded),
            "top1_same": sum(a[0] == b[0] for a, b in zip(tops, reference, strict=True)),
            "top5_overlap_min": min(
                len(set(a) & set(b)) for a, b in zip(tops, reference, strict=True)
            ),
        }
    return out


def cpu_per_request(data: bytes, model_path: Path, threads: int, requests: int) -> dict[str, float]:
    """CPU milliseconds (this process, all threads) per request from one client in a loop.

    Raw ``session.run`` on a ready tensor with ONNX Runtime's threads spinning (its default,
    and localvision's) and not, and the engine answering labels for ``data``, with ``threads``
    intra-op threads and with one: the gap between the stage times above and these is what
    threads cost (hand-offs, and ORT's workers spinning while they wait for work).
    """
    import onnxruntime as ort

    from localvision.api import engine_for
    from localvision.types import AnnotateRequest, Feature, FeatureRequest

    def cpu_ms(call: Callable[[], object]) -> float:
        for _ in range(5):
            call()
        before = own_cpu_s()
        for _ in range(requests):
            call()
        return 1000 * (own_cpu_s() - before) / requests

    out = {}
    model = localvision.api.resolve_model(str(model_path), Settings(threads=threads))
    tensor = scale_pixels(
        input_pixels(decode_image(data, min_side=224), model.card), model.card, model.input
    )[None]
    for spin in (True, False):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: tensor}
        out[f"raw ORT, {threads} threads, spin {'on' if spin else 'off'}"] = cpu_ms(
            lambda: session.run(None, feed)  # noqa: B023 (called before the next iteration)
        )
    wanted = [FeatureRequest(Feature.LABELS, max_results=5)]
    for count in (threads, 1):
        settings = Settings(threads=count)
        engine_model = localvision.api.resolve_model(str(model_path), settings)
        with engine_for({Feature.LABELS: engine_model}, settings) as engine:
            out[f"engine, {count} thread(s), spin on"] = cpu_ms(
                lambda: engine.annotate([AnnotateRequest(data, wanted)])
            )
        engine_model.close()
    model.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "image_work.json"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    model_path = args.fixtures / "models" / "mobilenetv2-12-int8.onnx"
    if not model_path.is_file():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    model = localvision.api.resolve_model(str(model_path), Settings(threads=1))
    images = make_images(args.fixtures / "photos")
    report = {
        "machine": machine(),
        "rows": profile(images, model, args.quick),
        "agreement": agreement(args.fixtures / "photos", model),
        "cpu_ms_per_request_640x480_jpeg": cpu_per_request(
            images["640x480 JPEG"], model_path, os.cpu_count() or 1, 100 if args.quick else 400
        ),
    }
    model.close()
    print_table(report)
    write_report(report, args.out)
    return 0


def print_table(report: dict[str, Any]) -> None:
    rows = report["rows"]
    console = Console(width=max(Console().width, 150))
    table = Table("stage (ms, one thread)", *(r["image"] for r in rows), title="image work")
    table.add_row("file KB", *(f"{r['bytes'] / 1024:.0f}" for r in rows))
    table.add_row("decoded to", *("x".join(map(str, r["decoded_size"])) for r in rows))
    for stage in rows[0]["stages_ms"]:
        table.add_row(stage, *(f"{r['stages_ms'][stage]:.2f}" for r in rows))
    table.add_row("today's total", *(f"{r['today_total_ms']:.2f}" for r in rows))
    console.print(table)
    for name, ms in report["cpu_ms_per_request_640x480_jpeg"].items():
        console.print(f"CPU per request, 640x480 JPEG, {name}: {ms:.2f} ms")
    for name, values in report["agreement"].items():
        console.print(
            f"{name}: top-1 same on {values['top1_same']}/{values['photos']} photos, "
            f"top-5 overlap at least {values['top5_overlap_min']}/5"
        )


if __name__ == "__main__":
    sys.exit(main())
