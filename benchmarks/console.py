"""Benchmark: what the web console adds to an annotation, from upload to drawn result.

Starts ``localvision serve`` (the ONNX MobileNet V2 fixture answering labels; faces built in)
and, on a 12 MP JPEG made from a fixture photo, measures in one run:

* ``api``: ``POST /v1/annotate`` with the file (multipart), from httpx: the API call alone;
* ``console``: the *Try* page in headless Chromium (Debian's, driven by Playwright): from
  pressing *Annotate* to the boxes and lists drawn on the page (the page's own
  ``performance.now()`` around the upload, the server's work, its JSON and the drawing), the
  preview already drawn, as it is by the time a person presses the button.

The two are interleaved, call by call; the median of the paired differences is what the
console adds, and the target is under 100 ms. Prints a
table and writes JSON (``--out``, default ``benchmarks/results/console.json``).

    python benchmarks/console.py [--fixtures ../shared/fixtures] [--repeats 15]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from common import machine, percentiles, write_report
from PIL import Image
from rich.console import Console
from rich.table import Table
from serve import running_server

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ("labels", "faces")
SIZE = (4000, 3000)  # 12 MP
TARGET_MS = 100.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "console.json"
    )
    parser.add_argument("--repeats", type=int, default=15, help="timed calls of each kind")
    args = parser.parse_args(argv)
    models = args.fixtures / "models"
    chromium = os.environ.get("LOCALVISION_CHROMIUM") or "/usr/bin/chromium"
    if not models.is_dir() or not Path(chromium).is_file():
        print(f"needs the fixtures ({args.fixtures}) and Chromium ({chromium})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo-12mp.jpg"
        photo.write_bytes(twelve_megapixels(args.fixtures / "photos" / "face.jpg"))
        config = Path(tmp) / "localvision.toml"
        config.write_text(
            f'[models.mobilenet]\npath = "{models / "mobilenetv2-12-int8.onnx"}"\n'
            f'labels = "{models / "imagenet_labels_1000.txt"}"\n'
            '[features]\nlabels = "mobilenet"\n'
        )
        size = photo.stat().st_size
        with running_server(config, Path(tmp) / "home") as url:
            runs = bench(url, photo, args.repeats, chromium)
    added = [c - a for c, a in zip(runs["console"], runs["api"], strict=True)]
    report = {
        "machine": machine(),
        "image": {"pixels": SIZE[0] * SIZE[1], "bytes": size},
        "features": list(FEATURES),
        "api": summary(runs["api"]),
        "console": summary(runs["console"]),
        "console_server": summary(runs["console_server"]),
        "added": summary(added),
    }
    report["added_ms"] = report["added"]["p50_ms"]
    report["target_ms"] = TARGET_MS
    print_table(report)
    write_report(report, args.out)
    return 0


def twelve_megapixels(source: Path) -> bytes:
    """A 4000x3000 JPEG of ``source`` (faces and all), as a phone camera writes one."""
    buffer = io.BytesIO()
    Image.open(source).convert("RGB").resize(SIZE, Image.Resampling.LANCZOS).save(
        buffer, "JPEG", quality=90
    )
    return buffer.getvalue()


def bench(url: str, photo: Path, repeats: int, chromium: str) -> dict[str, list[float]]:
    """Both paths, interleaved (an API call, then a press of *Annotate*), so that whatever else
    the machine does weighs on both alike; one warm-up of each first."""
    from playwright.sync_api import sync_playwright

    data = photo.read_bytes()
    out: dict[str, list[float]] = {"api": [], "console": [], "console_server": []}
    with sync_playwright() as playwright, httpx.Client(base_url=url, timeout=120) as client:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(url + "/console/try")
        page.set_input_files("#image", photo)
        for box in page.locator('input[name="features"]').all():
            box.set_checked(box.get_attribute("value") in FEATURES)
        page.wait_for_selector("body[data-preview=ready]")
        for index in range(repeats + 1):
            started = time.perf_counter()
            answer = client.post(
                "/v1/annotate",
                files={"image": (photo.name, data, "image/jpeg")},
                data={"features": ",".join(FEATURES)},
            )
            api_s = time.perf_counter() - started
            answer.raise_for_status()
            page.evaluate("document.body.dataset.state = 'idle'")
            page.get_by_role("button", name="Annotate").click()
            page.wait_for_selector("body[data-state=drawn]")
            timing = page.evaluate("window.localvisionTiming")
            if index:  # the first of each is a warm-up
                out["api"].append(api_s)
                out["console"].append(timing["total_ms"] / 1000)
                out["console_server"].append(timing["server_ms"] / 1000)
        browser.close()
    return out


def summary(seconds: list[float]) -> dict[str, float]:
    return {"n": len(seconds), "mean_ms": 1000 * statistics.fmean(seconds), **percentiles(seconds)}


def print_table(report: dict[str, Any]) -> None:
    table = Table("path", "n", "p50 ms", "p95 ms", title="12 MP JPEG, labels + faces")
    rows = (
        ("API call alone", "api"),
        ("console: upload to drawn", "console"),
        ("  of which the server's annotate", "console_server"),
        ("console minus API, paired", "added"),
    )
    for name, key in rows:
        row = report[key]
        table.add_row(name, str(row["n"]), f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}")
    Console().print(table)
    verdict = "within" if report["added_ms"] < TARGET_MS else "OVER"
    print(
        f"the console adds {report['added_ms']:.1f} ms at the median of the paired differences "
        f"({verdict} the {TARGET_MS:.0f} ms target)"
    )


if __name__ == "__main__":
    sys.exit(main())
