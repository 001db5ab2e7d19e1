"""Benchmark: transfer learning on 1,000 images at 224 px with the int8 MobileNet V2 backbone.

Generates 1,000 labelled JPEGs (five synthetic shape classes), then measures, in one run:

* the end-to-end ``train`` wall time (feature cache cold), and again with features cached;
* feature extraction (reading, hashing, decoding, pre-processing, the cut backbone, cache
  writes) against the same cut backbone on tensors prepared beforehand (the limit), each
  measured three times taking turns, medians reported;
* held-out accuracy on 250 further generated images.

Prints a table and writes JSON (``--out``, default ``benchmarks/results/train.json``).

    python benchmarks/train.py [--fixtures ../shared/fixtures] [--images 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from common import machine, write_report
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

from localvision.api import resolve_model
from localvision.config import Settings
from localvision.metrics.evaluation import evaluate
from localvision.registry import Registry
from localvision.training.dataset import load_dataset
from localvision.training.features import FeatureExtractor
from localvision.training.train import open_backbone, train

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("circles", "squares", "crosses", "triangles", "stripes")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train.json")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args(argv)
    models = args.fixtures / "models"
    if not models.is_dir():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_dataset(root / "train", args.images, seed=0)
        make_dataset(root / "holdout", args.images // 4, seed=1)
        settings = Settings(home=root / "home")
        Registry(settings.home).add(
            "mobilenet",
            models / "mobilenetv2-12-int8.onnx",
            format_name="onnx",
            card={"labels": (models / "imagenet_labels_1000.txt").read_text().splitlines()},
        )
        data = load_dataset(root / "train")
        start = time.perf_counter()
        result = train(data, base="mobilenet", name="shapes", settings=settings, seed=0)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        train(data, base="mobilenet", name="shapes", settings=settings, seed=0)
        warm = time.perf_counter() - start
        extraction, raw = extraction_against_raw(settings, [s.path for s in data.samples])
        folded, numpy_scaled = preparation_cpu(settings, [s.path for s in data.samples][:256])
        model = resolve_model("shapes", settings)
        holdout = evaluate(model, load_dataset(root / "holdout"))
        model.close()
    report = {
        "machine": machine(),
        "images": args.images,
        "train_end_to_end_s": cold,
        "train_with_cached_features_s": warm,
        "feature_extraction_images_per_s": extraction,
        "raw_backbone_images_per_s": raw,
        "extraction_vs_raw": extraction / raw,
        "prepare_cpu_ms_per_image_scaling_in_backbone": folded,
        "prepare_cpu_ms_per_image_scaling_in_numpy": numpy_scaled,
        "val_accuracy": result.metrics.get("val_accuracy"),
        "holdout_accuracy": holdout.accuracy,
        "holdout_images": holdout.count,
        "dataset": "generated: five synthetic shape classes (no real labelled set available here)",
    }
    table = Table("measure", "value", title=f"train on {args.images} images, {os.cpu_count()} CPUs")
    for key, value in report.items():
        if key != "machine":
            table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    Console().print(table)
    write_report(report, args.out)
    return 0


def make_dataset(root: Path, count: int, *, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (224, 224), tuple(int(v) for v in rng.integers(150, 255, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(4):
            x, y = (int(v) for v in rng.integers(10, 160, 2))
            s = int(rng.integers(30, 55))
            colour = tuple(int(v) for v in rng.integers(0, 120, 3))
            if kind == "circles":
                draw.ellipse([x, y, x + s, y + s], fill=colour)
            elif kind == "squares":
                draw.rectangle([x, y, x + s, y + s], fill=colour)
            elif kind == "crosses":
                draw.line([x, y, x + s, y + s], fill=colour, width=6)
                draw.line([x + s, y, x, y + s], fill=colour, width=6)
            elif kind == "triangles":
                draw.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=colour)
            else:
                for k in range(0, s, 8):
                    draw.line([x, y + k, x + s, y + k], fill=colour, width=3)
        image.save(folder / f"{i}.jpg", quality=90)


def extraction_against_raw(settings: Settings, paths: list[Path]) -> tuple[float, float]:
    """Median images/s of the feature extractor (cold cache) and of its backbone alone.

    Both use the backbone ``train`` uses (cut, pixel scaling folded in, threads not spinning).
    """
    model = resolve_model("mobilenet", settings)
    backbone = open_backbone(model, "mobilenet", settings)
    probe = backbone.extractor(settings)
    tensors = np.stack([t for t in map(probe.prepare, paths[:256]) if not isinstance(t, str)])
    name = backbone.runtime.inputs[0].name
    backbone.runtime.run({name: tensors[:32]})  # warm-up
    extracted, raw = [], []
    for _ in range(3):
        start = time.perf_counter()
        for i in range(0, len(tensors), 32):
            backbone.runtime.run({name: tensors[i : i + 32]})
        raw.append(len(tensors) / (time.perf_counter() - start))
        extractor = backbone.extractor(settings)
        extractor.cache = Path(tempfile.mkdtemp(dir=settings.cache_dir))  # cold: no reuse
        start = time.perf_counter()
        extractor.extract(paths)
        extracted.append(len(paths) / (time.perf_counter() - start))
    backbone.runtime.close()
    model.close()
    return float(np.median(extracted)), float(np.median(raw))


def preparation_cpu(settings: Settings, paths: list[Path]) -> tuple[float, float]:
    """CPU ms per image to decode and prepare: uint8 for the folded backbone, and floats.

    This thread's CPU time, not wall time, so it holds steady on a busy machine; the second
    number is what each image cost before the scaling moved into the backbone.
    """
    model = resolve_model("mobilenet", settings)
    backbone = open_backbone(model, "mobilenet", settings)
    folded = backbone.extractor(settings)
    as_float = FeatureExtractor(
        model.card,
        model.channels,
        model.runtime,
        "unused",
        settings.cache_dir,
        limits=folded.limits,
    )  # type: ignore[arg-type]
    results = []
    for extractor in (folded, as_float):
        start = time.thread_time()
        for path in paths:
            extractor.prepare(path)
        results.append((time.thread_time() - start) / len(paths) * 1000)
    backbone.runtime.close()
    model.close()
    return results[0], results[1]


if __name__ == "__main__":
    sys.exit(main())
