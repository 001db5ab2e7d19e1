"""Benchmark: the server under overload, with an open-loop mixed-protocol load on 127.0.0.1.

Starts ``localvision serve`` as a subprocess (the ONNX MobileNet V2 fixture answering labels,
or, without ``../shared/fixtures``, the tiny colour model of ``tests/builders.py``), then:

1. **capacity**: a closed-loop burst estimates the saturation rate X; open-loop steps from
   0.2 X up find the offered rate where the median latency starts to rise (more than twice the
   lowest p50 so far plus 5 ms, or anything shed, failed or lost). Capacity is the offered
   rate of the last step before that, every request of which was answered;
2. **overload**: 2x, 5x and 10x capacity, each for a bounded time (6 s with ``--quick``, else
   20 s), every request one 224 px JPEG, the protocols taking turns (Google REST, Rekognition,
   OIP binary ``BYTES``, native JSON). Requests are sent on schedule whatever the answers (open
   loop), so latency counts from when a request was due, and a slow server cannot slow the
   load down. Goodput is the answers that came back while the step ran, per second (answers
   to requests sent late in a step, arriving after it, would flatter the rate);
3. **recovery**: after each overload step, light probes from a new client (connections of its
   own) until answers come back as fast as without load: the time from the end of the
   overload to the first probe from which on every probe is answered with a median latency
   within twice the typical p50 below capacity (plus 5 ms). Also *drained*: when the last
   request sent during the overload was answered (the overload's own backlog, shed or served).

Each request ends as *answered* (200), *shed* (the protocol's own "slow down": Google 429,
Rekognition ``ThrottlingException``, OIP and native 503), *error* (any other status) or
*lost* (no answer: connection dropped, or nothing within 60 s). Targets: 0 lost, 0 errors,
goodput at 10x at least 80 % of capacity, recovery under 2 s.

    python benchmarks/overload.py [--quick] [--fixtures ../shared/fixtures] [--out FILE]

Prints a table and writes JSON (default ``benchmarks/results/overload.json``). The load
generator is a small HTTP/1.1 client on raw asyncio streams (keep-alive, reconnecting when the
server closes), much cheaper per request than a full client library: it runs on the same
machine as the server and must not be what limits the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import machine, oip_bytes_request, write_report
from process_tree import family_cpu_s, own_cpu_s
from rich.console import Console
from rich.table import Table
from serve import make_jpegs, running_server

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ("google", "aws", "oip", "native")
LOST_AFTER_S = 60.0
MAX_CONNECTIONS = 384  # below the server's max_connections (512)


# ------------------------------------------------------------------------------ requests


def build_requests(images: list[bytes], host: str, model: str) -> dict[str, list[bytes]]:
    """Ready-to-send HTTP/1.1 requests, per protocol, one per image."""
    out: dict[str, list[bytes]] = {p: [] for p in PROTOCOLS}
    for image in images:
        text = base64.b64encode(image).decode()
        google = {"requests": [{"image": {"content": text}, "features": [{"type": 4}]}]}
        out["google"].append(_post(host, "/v1/images:annotate", json.dumps(google).encode()))
        aws = json.dumps({"Image": {"Bytes": text}, "MaxLabels": 5}).encode()
        out["aws"].append(
            _post(
                host,
                "/",
                aws,
                {
                    "X-Amz-Target": "RekognitionService.DetectLabels",
                    "Content-Type": "application/x-amz-json-1.1",
                },
            )
        )
        body, headers = oip_bytes_request(image)
        out["oip"].append(_post(host, f"/v2/models/{model}/infer", body, headers))
        native = json.dumps({"images": [{"content": text}], "max_results": 5}).encode()
        out["native"].append(_post(host, "/v1/annotate", native))
    return out


def _post(host: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    fields = {"Host": host, "Content-Type": "application/json", **(headers or {})}
    fields["Content-Length"] = str(len(body))
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body


def outcome(protocol: str, status: int, headers: dict[str, str]) -> str:
    """``answered``, ``shed`` (the protocol's own throttling answer) or ``error``."""
    if status == 200:
        return "answered"
    if protocol == "google" and status == 429:
        return "shed"
    if (
        protocol == "aws"
        and status == 400
        and headers.get("x-amzn-errortype", "").startswith("ThrottlingException")
    ):
        return "shed"
    if protocol in ("oip", "native") and status == 503:
        return "shed"
    return "error"


# ------------------------------------------------------------------------------ the client


class Pool:
    """Keep-alive HTTP/1.1 connections to one server; a new one whenever none is idle."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def send(self, raw: bytes) -> tuple[int, dict[str, str]]:
        """Send one request; its status and response headers (lower-case names).

        A kept-alive connection the server closed while it sat idle fails before any byte of
        an answer; the request is then sent again on a new connection, as HTTP clients do.
        """
        async with self.slots:
            while self.idle:
                reader, writer = self.idle.pop()
                try:
                    return await self._exchange(reader, writer, raw)
                except _Stale:
                    continue
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            return await self._exchange(reader, writer, raw)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
    ) -> tuple[int, dict[str, str]]:
        try:
            writer.write(raw)
            status, headers = await _response(reader)
        except BaseException:
            writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, headers

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


class _Stale(ConnectionError):
    """The connection was closed before any byte of the answer came back."""


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        line = await reader.readline()
    except ConnectionResetError:
        raise _Stale("the connection was reset") from None
    if not line:
        raise _Stale("the server closed the connection")
    status = int(line.split()[1])
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ConnectionError("chunked responses are not expected from this server")
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers


# ------------------------------------------------------------------------------ load


@dataclass
class Sample:
    protocol: str
    due: float
    outcome: str = "lost"
    latency: float = 0.0
    why_lost: str = ""
    status: int = 0
    content_type: str = ""


@dataclass
class Phase:
    name: str
    rate: float
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    start: float = 0.0
    lag_s: float = 0.0
    """How far behind schedule the generator fell at worst (it should stay near 0)."""


class Load:
    """Open-loop load: requests leave on schedule, the protocols taking turns."""

    def __init__(self, pool: Pool, requests: dict[str, list[bytes]]) -> None:
        self.pool = pool
        self.requests = requests
        self.count = 0
        self.pending: set[asyncio.Task[None]] = set()

    async def one(self, sample: Sample, raw: bytes) -> None:
        try:
            async with asyncio.timeout(LOST_AFTER_S):
                status, headers = await self.pool.send(raw)
        except (
            OSError,
            TimeoutError,
            ConnectionError,
            asyncio.IncompleteReadError,
            ValueError,
        ) as exc:
            sample.why_lost = type(exc).__name__
            return
        sample.latency = time.perf_counter() - sample.due
        sample.status, sample.content_type = status, headers.get("content-type", "")
        sample.outcome = outcome(sample.protocol, status, headers)

    def launch(self, due: float) -> tuple[Sample, asyncio.Task[None]]:
        protocol = PROTOCOLS[self.count % len(PROTOCOLS)]
        images = self.requests[protocol]
        raw = images[(self.count // len(PROTOCOLS)) % len(images)]
        self.count += 1
        sample = Sample(protocol, due)
        task = asyncio.create_task(self.one(sample, raw))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        return sample, task

    async def open_loop(self, phase: Phase) -> Phase:
        """Send at ``phase.rate`` for ``phase.seconds``; answers are awaited by :meth:`drain`."""
        start = phase.start = time.perf_counter()
        interval = 1 / phase.rate
        total = int(phase.rate * phase.seconds)
        for i in range(total):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                phase.lag_s = max(phase.lag_s, -delay)
            sample, task = self.launch(due)
            phase.samples.append(sample)
            phase.tasks.append(task)
        return phase

    async def drain(self) -> None:
        while self.pending:
            await asyncio.gather(*list(self.pending))

    async def closed_loop(self, clients: int, seconds: float) -> float:
        """Requests per second answered by ``clients`` clients sending back to back."""
        stop = time.perf_counter() + seconds
        answered = 0

        async def client() -> None:
            nonlocal answered
            while time.perf_counter() < stop:
                sample, task = self.launch(time.perf_counter())
                await task
                answered += sample.outcome == "answered"

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return answered / (time.perf_counter() - start)


def summarise(phase: Phase, capacity: float | None = None) -> dict[str, Any]:
    counts = {k: sum(s.outcome == k for s in phase.samples) for k in ("answered", "shed", "error")}
    lost = sum(s.outcome == "lost" for s in phase.samples)
    latencies = sorted(s.latency for s in phase.samples if s.outcome == "answered")
    # Goodput counts the answers that came back while the phase ran: under overload, requests
    # sent late in a phase are answered after it, and counting those would flatter the rate.
    end = phase.start + phase.seconds
    in_time = sum(s.outcome == "answered" and s.due + s.latency <= end for s in phase.samples)
    goodput = in_time / phase.seconds
    row: dict[str, Any] = {
        "phase": phase.name,
        "offered_per_s": phase.rate,
        "seconds": phase.seconds,
        "sent": len(phase.samples),
        **counts,
        "lost": lost,
        "p50_ms": _quantile(latencies, 0.5) * 1000,
        "p99_ms": _quantile(latencies, 0.99) * 1000,
        "goodput_per_s": goodput,
        "generator_lag_ms": phase.lag_s * 1000,
        "lost_because": sorted({s.why_lost for s in phase.samples if s.outcome == "lost"}),
        "errors_by_status": dict(
            Counter(
                f"{s.protocol} {s.status} {s.content_type}"
                for s in phase.samples
                if s.outcome == "error"
            )
        ),
        "answered_by_protocol": {
            p: sum(s.outcome == "answered" and s.protocol == p for s in phase.samples)
            for p in PROTOCOLS
        },
    }
    if capacity:
        row["goodput_share"] = goodput / capacity
    return row


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


# ------------------------------------------------------------------------------ the run


async def measure(
    port: int, server_pid: int, requests: dict[str, list[bytes]], quick: bool
) -> dict[str, Any]:
    pool = Pool(port)
    load = Load(pool, requests)
    step_s = 2.5 if quick else 6.0
    overload_s = 6.0 if quick else 20.0
    probe_s = 8.0 if quick else 12.0
    await load.closed_loop(4, 1.0)  # warm-up: connections, lazy initialisation
    saturation = await load.closed_loop(16, 2.0 if quick else 5.0)
    fractions = [0.2, 0.5, 0.7, 0.85, 1.0] if quick else [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0]
    fractions += [round(1.15**k, 2) for k in range(1, 9)]  # on, should X be an underestimate
    steps: list[dict[str, Any]] = []
    capacity_row: dict[str, Any] | None = None
    base_p50: float | None = None
    for fraction in fractions:
        phase = await load.open_loop(Phase(f"{fraction:.2f} X", saturation * fraction, step_s))
        await load.drain()
        row = summarise(phase)
        steps.append(row)
        base_p50 = min(row["p50_ms"], base_p50 if base_p50 is not None else row["p50_ms"])
        everything_answered = not (row["shed"] or row["error"] or row["lost"])
        if row["p50_ms"] > 2 * base_p50 + 5 or not everything_answered:
            break
        capacity_row = row
    if capacity_row is None:
        capacity_row = steps[0]
    capacity = capacity_row["offered_per_s"]  # every request answered, p50 not yet rising
    # "As fast as without overload": twice the typical p50 of the steps up to capacity, plus
    # 5 ms (the median of those p50s, so that one noisy step does not set the bar).
    typical = sorted(r["p50_ms"] for r in steps[: steps.index(capacity_row) + 1])
    threshold_ms = 2 * _quantile(typical, 0.5) + 5
    overload: list[dict[str, Any]] = []
    for factor in (2, 5, 10):
        cpu = (family_cpu_s(server_pid), own_cpu_s())
        phase = await load.open_loop(Phase(f"{factor}x", capacity * factor, overload_s))
        ended = time.perf_counter()
        used = {  # cores each side used during the step (both on the same machine)
            "server_cores": (family_cpu_s(server_pid) - cpu[0]) / overload_s,
            "generator_cores": (own_cpu_s() - cpu[1]) / overload_s,
        }
        drained = asyncio.create_task(_drained(phase, ended))
        prober = Load(Pool(port), requests)
        recovery = await probe(prober, ended, probe_s, threshold_ms)
        prober.pool.close()
        await load.drain()
        row = summarise(phase, capacity)
        overload.append({**row, **used, "recovery_s": recovery, "drained_s": await drained})
    pool.close()
    return {
        "saturation_closed_loop_per_s": saturation,
        "capacity_per_s": capacity,
        "capacity_step": capacity_row["phase"],
        "base_p50_ms": base_p50,
        "recovered_when_p50_under_ms": threshold_ms,
        "steps": steps,
        "overload": overload,
    }


async def _drained(phase: Phase, ended: float) -> float:
    """Seconds from ``ended`` until every request of ``phase`` had its answer (or was lost)."""
    await asyncio.gather(*phase.tasks)
    return time.perf_counter() - ended


async def probe(load: Load, ended: float, seconds: float, threshold_ms: float) -> float | None:
    """Seconds from ``ended`` to the first probe from which on every probe is answered and
    their median latency is within ``threshold_ms`` (a median, so that one slow answer on a
    shared machine does not count as overload); None when that never happened."""
    phase = await load.open_loop(Phase("probe", 20, seconds))
    await asyncio.gather(*phase.tasks)
    samples = phase.samples
    for i, sample in enumerate(samples[:-4]):  # at least five probes make a verdict
        rest = samples[i:]
        answered = all(s.outcome == "answered" for s in rest)
        if answered and _quantile(sorted(s.latency for s in rest), 0.5) * 1000 <= threshold_ms:
            return max(0.0, sample.due - ended)
    return None


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "overload.json"
    )
    parser.add_argument("--quick", action="store_true", help="about a minute")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        config, model, photos = write_config(Path(tmp), args.fixtures)
        images = make_jpegs(photos, 16) if photos else colour_jpegs()
        server = running_server(config, Path(tmp) / "home")
        with server as url:
            port = int(url.rsplit(":", 1)[1])
            requests = build_requests(images, f"127.0.0.1:{port}", model)
            result = asyncio.run(measure(port, server.process.pid, requests, args.quick))
    report = {"machine": machine(), "model": model, "quick": args.quick, **result}
    print_table(report)
    write_report(report, args.out)
    return 0


def write_config(tmp: Path, fixtures: Path) -> tuple[Path, str, Path | None]:
    """A config serving MobileNet V2 (ONNX) when the fixtures are there, else the colour
    model; its path, the served model's name and the photos folder (None without)."""
    models = fixtures / "models"
    config = tmp / "localvision.toml"
    if (models / "mobilenetv2-12-int8.onnx").is_file():
        config.write_text(
            f'[models.mobilenet]\npath = "{models / "mobilenetv2-12-int8.onnx"}"\n'
            f'labels = "{models / "imagenet_labels_1000.txt"}"\n'
            '[features]\nlabels = "mobilenet"\n'
        )
        return config, "mobilenet", fixtures / "photos"
    sys.path.insert(0, str(ROOT))
    from tests.builders import COLOUR_LABELS, colour_classifier_onnx

    path = tmp / "colours.onnx"
    colour_classifier_onnx(path)
    labels = json.dumps(list(COLOUR_LABELS))
    (tmp / "colours.card.toml").write_text(f'input_range = "0..1"\nlabels = {labels}\n')
    config.write_text(f'[models.colours]\npath = "{path}"\n[features]\nlabels = "colours"\n')
    return config, "colours", None


def colour_jpegs() -> list[bytes]:
    import io

    from PIL import Image

    out = []
    for colour in ((250, 0, 0), (0, 250, 0), (0, 0, 250), (128, 128, 128)):
        buffer = io.BytesIO()
        Image.new("RGB", (224, 224), colour).save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def print_table(report: dict[str, Any]) -> None:
    cap = report["capacity_per_s"]
    table = Table(
        "phase",
        "offered/s",
        "sent",
        "answered",
        "shed",
        "errors",
        "lost",
        "p50 ms",
        "p99 ms",
        "goodput/s",
        "of capacity",
        "recovery s",
        "drained s",
        "cores: server / load",
        title=f"overload, {report['model']}, {report['machine']['cpus']} CPUs, "
        f"capacity {cap:.0f}/s ({report['capacity_step']})",
    )
    for row in report["steps"] + report["overload"]:
        recovery = row.get("recovery_s", "")
        table.add_row(
            row["phase"],
            f"{row['offered_per_s']:.0f}",
            str(row["sent"]),
            str(row["answered"]),
            str(row["shed"]),
            str(row["error"]),
            str(row["lost"]),
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['goodput_per_s']:.0f}",
            f"{row['goodput_share']:.0%}" if "goodput_share" in row else "",
            "not recovered"
            if recovery is None
            else (f"{recovery:.2f}" if isinstance(recovery, float) else ""),
            f"{row['drained_s']:.2f}" if "drained_s" in row else "",
            f"{row['server_cores']:.2f} / {row['generator_cores']:.2f}"
            if "server_cores" in row
            else "",
        )
    console = Console(width=180)
    console.print(table)
    ten = report["overload"][-1]
    console.print(
        f"10x: goodput {ten['goodput_share']:.0%} of capacity (target 80%), "
        f"lost {sum(r['lost'] for r in report['overload'])}, "
        f"errors {sum(r['error'] for r in report['overload'])} (targets 0), "
        f"answered by protocol {ten['answered_by_protocol']}, "
        f"generator lag up to {max(r['generator_lag_ms'] for r in report['overload']):.0f} ms"
    )
    for row in report["overload"]:
        if row["errors_by_status"]:
            console.print(
                f"{row['phase']}: errors by protocol and status {row['errors_by_status']}"
            )


if __name__ == "__main__":
    sys.exit(main())
