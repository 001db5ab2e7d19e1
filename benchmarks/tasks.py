"""Benchmark: per-feature latency on a 1 MP photo, a 12 MP photo and a text-heavy page.

Each feature runs alone through the engine (decode included, as a caller pays it), repeated;
OCR throughput is also given in pages per minute. Labels use the ONNX MobileNet V2 fixture;
objects are left out (no detector weights are available offline). Prints a table and writes
JSON (``--out``, default ``benchmarks/results/tasks.json``).

    python benchmarks/tasks.py [--fixtures ../shared/fixtures] [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import machine, percentiles, write_report
from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.table import Table

from localvision.config import Settings
from localvision.engine import LocalEngine
from localvision.models import load_model
from localvision.types import AnnotateRequest, Feature, FeatureRequest

ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tasks.json")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if not (args.fixtures / "photos").is_dir():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    repeats = 3 if args.quick else 8
    inputs = {
        "photo 1 MP": photo(args.fixtures / "photos" / "cat_720p.jpg", (1280, 800)),
        "photo 12 MP": photo(args.fixtures / "photos" / "cat_720p.jpg", (4000, 3000)),
        "text page (A4, 150 dpi)": text_page(),
    }
    settings = Settings(home=Path(os.environ.get("LOCALVISION_HOME", "/tmp/lv-bench-home")))
    labels = load_model(
        args.fixtures / "models" / "mobilenetv2-12-int8.onnx",
        labels=args.fixtures / "models" / "imagenet_labels_1000.txt",
        settings=settings,
    )
    rows: list[dict[str, Any]] = []
    with LocalEngine({Feature.LABELS: labels}) as engine:
        for feature in (
            Feature.LABELS,
            Feature.COLORS,
            Feature.CROP_HINTS,
            Feature.FACES,
            Feature.TEXT,
        ):
            if feature not in engine.features:
                continue
            for name, data in inputs.items():
                rows.append(measure(engine, feature, name, data, repeats))
    labels.close()
    page = next(r for r in rows if r["feature"] == "text" and r["input"].startswith("text"))
    report = {
        "machine": machine(),
        "rows": rows,
        "ocr_pages_per_minute": 60_000 / page["p50_ms"],
    }
    print_table(report)
    write_report(report, args.out)
    return 0


def photo(source: Path, size: tuple[int, int]) -> bytes:
    image = Image.open(source).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def text_page() -> bytes:
    """An A4 page at 150 dpi with 40 lines of words, as a scanned letter might hold."""
    rng = random.Random(0)
    words = [
        "invoice",
        "total",
        "amount",
        "paid",
        "date",
        "number",
        "customer",
        "address",
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dogs",
        "payment",
        "due",
        "reference",
    ]
    image = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    for i in range(40):
        draw.text(
            (80, 80 + 40 * i),
            " ".join(rng.choice(words) for _ in range(9)),
            fill="black",
            font=font,
        )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def measure(
    engine: LocalEngine, feature: Feature, name: str, data: bytes, repeats: int
) -> dict[str, Any]:
    request = [AnnotateRequest(data, [FeatureRequest(feature)])]
    engine.annotate(request)  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        (result,) = engine.annotate(request)
        samples.append(time.perf_counter() - start)
        assert result.error is None, result.error
    return {
        "feature": feature.value,
        "input": name,
        **percentiles(samples),
    }


def print_table(report: dict[str, Any]) -> None:
    table = Table(
        "feature",
        "input",
        "p50 ms",
        "p95 ms",
        title=f"per-feature latency, {report['machine']['cpus']} CPUs",
    )
    for row in report["rows"]:
        table.add_row(row["feature"], row["input"], f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}")
    console = Console()
    console.print(table)
    console.print(f"OCR throughput: {report['ocr_pages_per_minute']:.1f} pages per minute")


if __name__ == "__main__":
    sys.exit(main())
