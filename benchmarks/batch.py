"""Benchmark: ``batch`` in-process against Ray Data, and ``serve`` against ``serve --ray``.

Batch: 1,000 JPEGs derived from the fixture photos (640x480, each a different crop) labelled
with the ONNX MobileNet V2 fixture into Parquet, first in this process, then on a local Ray
with 2 CPUs (2 actors of 1 CPU), in the same run; the two outputs are checked to hold the same
rows. Ray's time includes starting its actors and loading the model in each, as a real job
pays it; Ray itself is started before the clock runs.

Serve: the plain server (``localvision serve``) and the same app on Ray Serve (``serve --ray
--replicas 2`` on its own local Ray with 2 CPUs), each in a subprocess, asked by 16 concurrent
clients over Google's REST API, one 224 px JPEG per request: requests/s, p50 and p99.

    python benchmarks/batch.py [--fixtures ../shared/fixtures] [--images 1000] [--quick]

Prints a table and writes JSON (``--out``, default ``benchmarks/results/batch.json``). The
clients share the machine with the servers, as in ``benchmarks/serve.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
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

from localvision.config import Settings
from localvision.scale import BatchJob, BatchOutput, list_inputs, run_batch
from localvision.scale.cluster import connected
from localvision.types import Feature, FeatureRequest

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 16
RAY_CPUS = 2
OBJECT_STORE_BYTES = 200 * 1024 * 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "batch.json")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=400, help="requests per serve run")
    parser.add_argument("--quick", action="store_true", help="200 images, 100 requests")
    parser.add_argument("--skip-serve", action="store_true")
    args = parser.parse_args(argv)
    models = args.fixtures / "models"
    if not models.is_dir():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    count = 200 if args.quick else args.images
    requests = 100 if args.quick else args.requests
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "localvision.toml"
        config.write_text(
            f'[models.mobilenet]\npath = "{models / "mobilenetv2-12-int8.onnx"}"\n'
            f'labels = "{models / "imagenet_labels_1000.txt"}"\n'
            '[features]\nlabels = "mobilenet"\n'
            f"[ray]\nnum_cpus = {RAY_CPUS}\nobject_store_memory = {OBJECT_STORE_BYTES}\n"
        )
        home = folder / "home"
        settings = Settings.load(config, environ={"LOCALVISION_HOME": str(home)})
        photos = make_jpegs(args.fixtures / "photos", folder / "images", count)
        rows = bench_batch(settings, photos, folder)
        if not args.skip_serve:
            images = [
                p.read_bytes()
                for p in make_jpegs(args.fixtures / "photos", folder / "s", 16, size=(224, 224))
            ]
            for name, extra in (("serve", []), ("serve --ray", ["--ray", "--replicas", "2"])):
                with running_server(config, home, extra) as url:
                    rows.append(bench_http(name, url, images, requests))
    report = {"machine": machine() | {"ray": ray_version()}, "rows": rows, "targets": targets(rows)}
    print_table(report)
    write_report(report, args.out)
    return 0


def ray_version() -> str:
    import ray

    return str(ray.__version__)


def make_jpegs(
    photos: Path, folder: Path, count: int, *, size: tuple[int, int] = (640, 480)
) -> list[Path]:
    """``count`` JPEGs of ``size``, each a different random crop of a fixture photo."""
    folder.mkdir(parents=True)
    sources = [
        Image.open(p).convert("RGB")
        for p in sorted(photos.iterdir())
        if p.suffix.lower() in (".bmp", ".jpg")
    ]
    rng = random.Random(0)
    paths = []
    for index in range(count):
        image = sources[index % len(sources)]
        w, h = image.size
        cw, ch = rng.randint(w * 2 // 3, w), rng.randint(h * 2 // 3, h)
        left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = image.crop((left, top, left + cw, top + ch)).resize(size)
        path = folder / f"{index:05d}.jpg"
        crop.save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------ batch


def bench_batch(settings: Settings, photos: list[Path], folder: Path) -> list[dict[str, Any]]:
    """Each path on all the images, and on a quarter of them, after a warm-up job: the two
    times give the path's fixed cost per job (Ray: the preflight, starting the actors, a model
    load in each) and its rate once running, as ``time = fixed + images / rate``."""
    items = list_inputs([str(photos[0].parent)])
    small = items[: len(items) // 4]
    job = BatchJob(
        (FeatureRequest(Feature.LABELS, max_results=5),), settings, {Feature.LABELS: "mobilenet"}
    )

    def timed(name: str, todo: list[str], ray: str | None) -> tuple[float, BatchOutput]:
        output = BatchOutput(folder / name, job.feature_list)
        start = time.perf_counter()
        run_batch(job, todo, output, ray=ray)
        return time.perf_counter() - start, output

    # A first small job on each path pays once-per-process costs (imports, Ray Data's own
    # start, the worker pool) that a second job does not: warm both up first.
    timed("here-warm-up", items[:16], None)
    here_small, _ = timed("here-small", small, None)
    here_s, here = timed("here", items, None)
    with connected(None, settings.ray):  # a local Ray, started before the clocks run
        timed("there-warm-up", items[:16], "")
        there_small, _ = timed("there-small", small, "")
        there_s, there = timed("there", items, "")
    rows = [
        batch_row("batch in-process", len(items), here_s, len(small), here_small),
        batch_row(
            f"batch on Ray Data ({RAY_CPUS} actors)", len(items), there_s, len(small), there_small
        ),
    ]
    rows[-1]["same_rows"] = sorted(here.rows(), key=lambda r: r["path"]) == sorted(
        there.rows(), key=lambda r: r["path"]
    )
    return rows


def batch_row(
    name: str, images: int, seconds: float, fewer: int, fewer_seconds: float
) -> dict[str, Any]:
    rate = (images - fewer) / max(seconds - fewer_seconds, 1e-9)
    return {
        "name": name,
        "images": images,
        "seconds": seconds,
        "images_per_s": images / seconds,
        "running_images_per_s": rate,
        "fixed_cost_s": seconds - images / rate,
        f"seconds_for_{fewer}": fewer_seconds,
    }


# ------------------------------------------------------------------------------ serve


def bench_http(name: str, url: str, images: list[bytes], total: int) -> dict[str, Any]:
    """``total`` Google REST requests from :data:`CLIENTS` concurrent clients."""
    bodies = [
        {
            "requests": [
                {
                    "image": {"content": base64.b64encode(i).decode()},
                    "features": [{"type": 4, "maxResults": 5}],
                }
            ]
        }
        for i in images
    ]

    async def run() -> tuple[float, list[float]]:
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
            for body in bodies[:4]:  # warm-up
                await client.post("/v1/images:annotate", json=body)
            latencies: list[float] = []
            counter = iter(range(total))

            async def worker() -> None:
                for i in counter:
                    start = time.perf_counter()
                    response = await client.post(
                        "/v1/images:annotate", json=bodies[i % len(bodies)]
                    )
                    assert response.status_code == 200, response.text
                    latencies.append(time.perf_counter() - start)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CLIENTS)))
            return time.perf_counter() - start, latencies

    wall, latencies = asyncio.run(run())
    return {
        "name": name,
        "clients": CLIENTS,
        "requests": total,
        "requests_per_s": total / wall,
        **percentiles(latencies, (50, 99)),
    }


# ------------------------------------------------------------------------------ report


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    batch = [r for r in rows if "images_per_s" in r]
    ratio = batch[1]["images_per_s"] / batch[0]["images_per_s"]
    out: dict[str, Any] = {
        "ray_data_ratio": ratio,
        "ray_data_running_ratio": batch[1]["running_images_per_s"]
        / batch[0]["running_images_per_s"],
        "ratio_target": 0.85,
        "ratio_met": ratio >= 0.85,
        "same_rows": batch[1].get("same_rows"),
        "per_actor_images_per_s": batch[1]["running_images_per_s"] / RAY_CPUS,
        "ray_fixed_cost_s": batch[1]["fixed_cost_s"],
    }
    serve = {r["name"]: r for r in rows if "requests_per_s" in r}
    if len(serve) == 2:
        out["ray_serve_ratio"] = (
            serve["serve --ray"]["requests_per_s"] / serve["serve"]["requests_per_s"]
        )
    return out


def print_table(report: dict[str, Any]) -> None:
    console = Console()
    table = Table(
        "path",
        "images",
        "s",
        "images/s",
        "running images/s",
        "fixed s",
        title=f"batch, {report['machine']['cpus']} CPUs",
    )
    for r in report["rows"]:
        if "images_per_s" in r:
            table.add_row(
                r["name"],
                str(r["images"]),
                f"{r['seconds']:.1f}",
                f"{r['images_per_s']:.1f}",
                f"{r['running_images_per_s']:.1f}",
                f"{r['fixed_cost_s']:.1f}",
            )
    console.print(table)
    table = Table(
        "server",
        "clients",
        "req/s",
        "p50 ms",
        "p99 ms",
        title="serve, Google REST, one 224 px JPEG",
    )
    for r in report["rows"]:
        if "requests_per_s" in r:
            table.add_row(
                r["name"],
                str(r["clients"]),
                f"{r['requests_per_s']:.1f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
            )
    console.print(table)
    console.print(report["targets"])


if __name__ == "__main__":
    sys.exit(main())
