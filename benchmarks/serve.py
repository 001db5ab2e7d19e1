"""Benchmark: the server over loopback against the engine in-process (the limit).

Starts ``localvision serve`` as a subprocess with the ONNX MobileNet V2 fixture answering
labels, then sends 224 px JPEG files from 1, 4 and 16 concurrent clients (one asyncio loop,
httpx) through each protocol (Google REST, AWS Rekognition, OIP with encoded-image BYTES,
native JSON) and, in the same run, through the engine in this process from the same number of
threads. Each request carries one
image. Prints a table and writes JSON (``--out``, default ``benchmarks/results/serve.json``).

    python benchmarks/serve.py [--fixtures ../shared/fixtures] [--requests 200] [--quick]

The clients run on the same machine as the server, so on a small machine they take CPU from
it; the table reports what a co-located client sees.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from common import machine, oip_bytes_request, percentiles, write_report
from PIL import Image
from rich.console import Console
from rich.table import Table

import localvision
from localvision.api import engine_for
from localvision.config import Settings
from localvision.types import AnnotateRequest, Feature, FeatureRequest

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 4, 16)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve.json")
    parser.add_argument("--requests", type=int, default=240, help="requests per measurement")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="server.workers")
    parser.add_argument("--max-batch-size", type=int, default=None, help="server.max_batch_size")
    parser.add_argument(
        "--max-queue-delay-ms", type=float, default=None, help="server.max_queue_delay_ms"
    )
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated")
    args = parser.parse_args(argv)
    models = args.fixtures / "models"
    if not models.is_dir():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    total = 80 if args.quick else args.requests
    images = make_jpegs(args.fixtures / "photos", 16)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "localvision.toml"
        config.write_text(
            f'[models.mobilenet]\npath = "{models / "mobilenetv2-12-int8.onnx"}"\n'
            f'labels = "{models / "imagenet_labels_1000.txt"}"\n'
            '[features]\nlabels = "mobilenet"\n' + server_section(args)
        )
        settings = Settings.load(config, environ={"LOCALVISION_HOME": str(Path(tmp) / "home")})
        rows += bench_in_process(settings, images, total)
        with running_server(config, Path(tmp) / "home") as url:
            for name in args.protocols.split(","):
                call = PROTOCOLS[name]
                for concurrency in CONCURRENCY:
                    rows.append(bench_http(name, call, url, images, total, concurrency))
    report = {"machine": machine(), "rows": rows, "targets": targets(rows)}
    print_table(report)
    write_report(report, args.out)
    return 0


def server_section(args: argparse.Namespace) -> str:
    """A ``[server]`` table with the scheduling options given on the command line."""
    options = {
        "workers": args.workers,
        "max_batch_size": args.max_batch_size,
        "max_queue_delay_ms": args.max_queue_delay_ms,
    }
    lines = [f"{key} = {value}" for key, value in options.items() if value is not None]
    return "[server]\n" + "\n".join(lines) + "\n" if lines else ""


def make_jpegs(photos: Path, count: int) -> list[bytes]:
    sources = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".bmp", ".jpg"))
    out = []
    for i in range(count):
        image = Image.open(sources[i % len(sources)]).convert("RGB").resize((224, 224))
        path = Path(tempfile.gettempdir()) / f"lv-bench-{i}.jpg"
        image.save(path, "JPEG", quality=90)
        out.append(path.read_bytes())
    return out


# ------------------------------------------------------------------------------ measuring


def measure(
    name: str, call: Callable[[bytes], None], images: list[bytes], total: int, concurrency: int
) -> dict[str, Any]:
    for image in images[:4]:  # warm-up
        call(image)
    latencies: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        start = time.perf_counter()
        call(images[i % len(images)])
        elapsed = time.perf_counter() - start
        with lock:
            latencies.append(elapsed)

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(total)))
    return summary(name, concurrency, total, time.perf_counter() - start, latencies)


def summary(
    name: str, concurrency: int, total: int, wall: float, latencies: list[float]
) -> dict[str, Any]:
    return {
        "name": name,
        "concurrency": concurrency,
        "requests": total,
        "requests_per_s": total / wall,
        **percentiles(latencies, (50, 95, 99)),
    }


def bench_in_process(settings: Settings, images: list[bytes], total: int) -> list[dict[str, Any]]:
    model = localvision.api.resolve_model("mobilenet", settings)
    feature = [FeatureRequest(Feature.LABELS)]
    rows = []
    with engine_for({Feature.LABELS: model}, settings) as engine:

        def call(image: bytes) -> None:
            (result,) = engine.annotate([AnnotateRequest(image, feature)])
            assert result.ok, result.error

        for concurrency in CONCURRENCY:
            rows.append(measure("in-process", call, images, total, concurrency))
    model.close()
    return rows


def bench_http(
    name: str, call: AsyncCall, url: str, images: list[bytes], total: int, concurrency: int
) -> dict[str, Any]:
    """``total`` requests from ``concurrency`` concurrent clients on one asyncio loop."""

    async def run() -> tuple[float, list[float]]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            for image in images[:4]:  # warm-up
                await call(client, image)
            latencies: list[float] = []
            counter = iter(range(total))

            async def worker() -> None:
                for i in counter:
                    start = time.perf_counter()
                    await call(client, images[i % len(images)])
                    latencies.append(time.perf_counter() - start)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return time.perf_counter() - start, latencies

    wall, latencies = asyncio.run(run())
    return summary(name, concurrency, total, wall, latencies)


# ------------------------------------------------------------------------------ protocols

AsyncCall = Callable[[httpx.AsyncClient, bytes], Awaitable[None]]


async def google(client: httpx.AsyncClient, image: bytes) -> None:
    body = {
        "requests": [
            {
                "image": {"content": base64.b64encode(image).decode()},
                "features": [{"type": 4, "maxResults": 5}],
            }
        ]
    }
    response = await client.post("/v1/images:annotate", json=body)
    assert response.status_code == 200 and "error" not in response.json()["responses"][0]


async def aws(client: httpx.AsyncClient, image: bytes) -> None:
    body = {"Image": {"Bytes": base64.b64encode(image).decode()}, "MaxLabels": 5}
    response = await client.post(
        "/",
        json=body,
        headers={
            "X-Amz-Target": "RekognitionService.DetectLabels",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert response.status_code == 200, response.text


async def oip(client: httpx.AsyncClient, image: bytes) -> None:
    body, headers = oip_bytes_request(image)
    response = await client.post("/v2/models/mobilenet/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def native(client: httpx.AsyncClient, image: bytes) -> None:
    body = {"images": [{"content": base64.b64encode(image).decode()}], "max_results": 5}
    response = await client.post("/v1/annotate", json=body)
    assert response.status_code == 200 and "error" not in response.json()["results"][0]


PROTOCOLS: dict[str, AsyncCall] = {
    "google-rest": google,
    "aws": aws,
    "oip-bytes": oip,
    "native": native,
}


class running_server:
    """``localvision serve`` (with ``extra`` options) in a subprocess on a free port; yields
    its base URL once ``/readyz`` answers 200."""

    def __init__(self, config: Path, home: Path, extra: Sequence[str] = ()) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.command = [
            sys.executable,
            "-m",
            "localvision",
            "serve",
            "--config",
            str(config),
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *extra,
        ]
        self.env = {**os.environ, "LOCALVISION_HOME": str(home)}

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            self.command, env=self.env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"{' '.join(self.command)} exited")
            time.sleep(0.1)
        raise RuntimeError("the server did not become ready")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


# ------------------------------------------------------------------------------ report


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def find(name: str, concurrency: int) -> dict[str, Any]:
        return next(r for r in rows if r["name"] == name and r["concurrency"] == concurrency)

    out: dict[str, Any] = {}
    base16, base1 = find("in-process", 16), find("in-process", 1)
    for name in {r["name"] for r in rows} - {"in-process"}:
        ratio = find(name, 16)["requests_per_s"] / base16["requests_per_s"]
        added = find(name, 1)["p50_ms"] - base1["p50_ms"]
        out[name] = {
            "throughput_ratio_c16": ratio,
            "ratio_target": 0.85,
            "ratio_met": ratio >= 0.85,
            "added_p50_ms_c1": added,
            "added_target_ms": 3.0,
            "added_met": added <= 3.0,
        }
    return out


def print_table(report: dict[str, Any]) -> None:
    table = Table(
        "path",
        "clients",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        title=f"serve, one 224 px JPEG per request, {report['machine']['cpus']} CPUs",
    )
    for r in report["rows"]:
        table.add_row(
            r["name"],
            str(r["concurrency"]),
            f"{r['requests_per_s']:.1f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
        )
    console = Console()
    console.print(table)
    for name, values in report["targets"].items():
        console.print(
            f"{name}: {values['throughput_ratio_c16']:.0%} of in-process at 16 clients "
            f"(target 85%), +{values['added_p50_ms_c1']:.2f} ms p50 at 1 client (target 3 ms)"
        )


if __name__ == "__main__":
    sys.exit(main())
