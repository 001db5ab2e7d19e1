"""Benchmark: localvision's server against the servers a user would otherwise pick.

Serves the int8 MobileNetV2 ONNX fixture, with the same pre-processing (centre crop to
224x224, bilinear, ImageNet mean/std) and the same ONNX Runtime threads (``--threads``, the CPU
count by default; ``--server-threads`` gives ``localvision serve`` another number), from:

- ``localvision serve`` through three protocols: Google REST (base64 JSON), the native
  multipart upload and Open Inference with the encoded image as a binary ``BYTES`` tensor;
- a hand-written FastAPI + uvicorn + ORT server (``benchmarks/peers/fastapi_server.py``, the
  baseline a user writes), LitServe with batching off and with ``max_batch_size`` 8, and
  BentoML, each in a virtual environment of its own made on demand under ``--peers-venv``
  (pip from the package index, the same onnxruntime, NumPy and Pillow versions as here; a peer
  that cannot be installed is skipped with the reason);
- the localvision engine in this process (no HTTP) and raw ``session.run`` on a pre-decoded
  tensor (no image work at all): the limits a server can approach. Raw ``session.run`` takes
  the engine's thread settings (intra-op threads, spinning); where the engine does not spin it
  is measured with ONNX Runtime's default (spinning) as well.

Load comes from ``wrk`` (Debian: ``apt-get install -y wrk``; skipped with the reason when
absent) with a Lua script posting one 640x480 JPEG per request over keep-alive connections,
with 1 and 16 connections. The cases are interleaved over several rounds (each round starts
every server afresh, in a rotated order). For each case: requests per second, p50 and p99
latency, and server CPU per request (user + system time of the server and every process it
started, from ``/proc``: see ``process_tree.py``); medians over the rounds with their range,
and ratios to the best peer and to the in-process engine. The in-process cases are driven by 1
and 16 threads calling in a loop, their CPU being this process's.

Each server takes the request its users would send: localvision's three protocols as above, a
multipart upload for the FastAPI baseline, ``{"image": "<base64>"}`` JSON for LitServe and
BentoML. Every server's top label for the image is checked once per round.

    python benchmarks/peers.py [--quick] [--rounds 3] [--seconds 10] [--peers-venv DIR]

Prints a table and writes JSON (``--out``, default ``benchmarks/results/peers.json``). Linux
only (``/proc``). The load generator runs on the same machine as the servers, as in
``benchmarks/serve.py``; on a small machine it takes CPU from them, the same for every case.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, oip_bytes_request, write_report
from PIL import Image
from process_tree import family_cpu_s, own_cpu_s, stop_family
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = Path(__file__).resolve().parent / "peers"
MODEL = "mobilenetv2-12-int8.onnx"
LABELS = "imagenet_labels_1000.txt"
CONNECTIONS = (1, 16)
LOGS = Path(tempfile.gettempdir()) / "localvision-peers-logs"  # the servers' output, last run
INSTALL_WRK = "install it with `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`"
# The packages every peer gets at the versions installed here, so only the server differs.
SHARED_PACKAGES = ("onnxruntime", "numpy", "pillow", "uvloop", "httptools")
PEER_PACKAGES = {
    "fastapi": ("fastapi", "uvicorn", "python-multipart"),
    "litserve": ("litserve",),
    "bentoml": ("bentoml",),
}


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class HttpCase:
    """One way of asking a server for the labels of the test image."""

    name: str
    path: str
    body: bytes
    headers: dict[str, str]
    top_label: Callable[[bytes], str | None]  # from an answer's body; None: not checked


def http_cases(image: bytes) -> dict[str, list[HttpCase]]:
    """The requests each server is measured with, by server name."""
    text = base64.b64encode(image).decode()
    google = {
        "requests": [
            {"image": {"content": text}, "features": [{"type": "LABEL_DETECTION", "maxResults": 5}]}
        ]
    }
    plain = json.dumps({"image": text}).encode()
    oip_body, oip_headers = oip_bytes_request(image)
    multipart, multipart_type = _multipart(image, {"max_results": "5"})
    json_type = {"Content-Type": "application/json"}

    def peer_top(body: bytes) -> str:
        return str(json.loads(body)["labels"][0]["label"])

    return {
        "localvision": [
            HttpCase(
                "localvision google-rest",
                "/v1/images:annotate",
                json.dumps(google).encode(),
                json_type,
                lambda b: str(json.loads(b)["responses"][0]["labelAnnotations"][0]["description"]),
            ),
            HttpCase(
                "localvision native multipart",
                "/v1/annotate",
                multipart,
                {"Content-Type": multipart_type},
                lambda b: str(json.loads(b)["results"][0]["labels"][0]["label"]),
            ),
            HttpCase(
                "localvision oip-bytes",
                "/v2/models/mobilenet/infer",
                oip_body,
                {**oip_headers, "Content-Type": "application/octet-stream"},
                lambda b: None,  # a binary tensor answer; its status is checked
            ),
        ],
        "fastapi": [
            HttpCase(
                "fastapi+ort (hand-written)",
                "/classify",
                *_multipart_case(image),
                peer_top,
            )
        ],
        "litserve": [HttpCase("litserve", "/predict", plain, json_type, peer_top)],
        "litserve-batch8": [
            HttpCase("litserve max_batch_size 8", "/predict", plain, json_type, peer_top)
        ],
        "bentoml": [HttpCase("bentoml", "/classify", plain, json_type, peer_top)],
    }


def _multipart(image: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart/form-data body with ``image`` as the file field ``image``, and its type."""
    boundary = "peers-benchmark-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"'
        "\r\nContent-Type: image/jpeg\r\n\r\n".encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _multipart_case(image: bytes) -> tuple[bytes, dict[str, str]]:
    body, content_type = _multipart(image, {})
    return body, {"Content-Type": content_type}


def test_image(photos: Path) -> bytes:
    """A 640x480 JPEG (quality 90) cut from the 720p fixture photo of a cat."""
    source = Image.open(photos / "cat_720p.jpg").convert("RGB")
    width, height = source.size
    crop_w = height * 4 / 3
    box = ((width - crop_w) / 2, 0.0, (width + crop_w) / 2, float(height))
    path = Path(tempfile.gettempdir()) / "lv-peers-640x480.jpg"
    source.resize((640, 480), Image.Resampling.BILINEAR, box=box).save(path, "JPEG", quality=90)
    return path.read_bytes()


# ------------------------------------------------------------------------------ servers


@dataclass
class Server:
    """How to start one server: its command, environment and readiness path."""

    name: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    cwd: Path = PEERS_DIR
    versions: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(server: Server, log: Path) -> Iterator[tuple[str, int]]:
    """Start ``server`` in a session of its own; yield its URL and process id once ready.

    Stopping signals its whole family (:mod:`process_tree`), so the worker processes a
    framework spawned (LitServe, BentoML) go with it, re-parented or not.
    """
    with log.open("ab") as out:
        process = subprocess.Popen(
            server.command,
            cwd=server.cwd,
            env={**os.environ, **server.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        port = int(server.env["PEER_PORT"])
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not become ready; see {log}")
            try:
                with urllib.request.urlopen(url + server.ready_path, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        yield url, process.pid
    finally:
        stop_family(process)


def top_settings(threads: int | None, spin: bool | None) -> str:
    """The top-level lines of localvision's config: intra-op threads and ``spin``, each when
    the run sets it (else localvision's own default)."""
    lines = "" if threads is None else f"threads = {threads}\n"
    return lines + ("" if spin is None else f"spin = {str(spin).lower()}\n")


def localvision_server(tmp: Path, models: Path, threads: int | None, spin: bool | None) -> Server:
    port = free_port()
    config = tmp / "localvision.toml"
    config.write_text(
        top_settings(threads, spin)
        + f'[models.mobilenet]\npath = "{models / MODEL}"\nlabels = "{models / LABELS}"\n'
        '[features]\nlabels = "mobilenet"\n'
    )
    command = [sys.executable, "-m", "localvision", "serve", "--config", str(config)]
    command += ["--port", str(port), "--log-level", "warning"]
    env = {"LOCALVISION_HOME": str(tmp / "home"), "PEER_PORT": str(port)}
    return Server("localvision", command, env, "/readyz", cwd=ROOT)


def peer_server(name: str, venv: Path, models: Path, threads: int) -> Server:
    port = free_port()
    python = str(venv / "bin" / "python")
    env = {
        "PEER_MODEL": str(models / MODEL),
        "PEER_LABELS": str(models / LABELS),
        "PEER_THREADS": str(threads),
        "PEER_PORT": str(port),
        "PEER_BATCH": "8" if name == "litserve-batch8" else "1",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    if name == "fastapi":
        return Server(name, [python, "fastapi_server.py", str(port)], env, "/health")
    if name.startswith("litserve"):
        return Server(name, [python, "litserve_server.py", str(port)], env, "/health")
    command = [str(venv / "bin" / "bentoml"), "serve", "bentoml_service:ImageClassifier"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    return Server(name, command, env, "/readyz")


def ensure_venv(root: Path, peer: str, console: Console) -> tuple[Path | None, str]:
    """The peer's virtual environment under ``root``, made and installed on first use.

    Returns the venv, or None and why it could not be made. The shared packages are pinned to
    the versions installed here; the peer's own packages come at the index's newest.
    """
    pins = []
    for package in SHARED_PACKAGES:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pins.append(package)
    wanted = " ".join(sorted([*pins, *PEER_PACKAGES[peer]]))
    venv = root / peer
    stamp = venv / "peers-installed.txt"
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv, ""
    console.print(f"installing {peer} into {venv} ...")
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", *wanted.split()],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"{' '.join(step[:3])} failed: {' / '.join(tail)}"
    stamp.write_text(wanted)
    return venv, ""


def venv_versions(venv: Path, peer: str) -> dict[str, str]:
    names = [*PEER_PACKAGES[peer], "uvicorn", "starlette", "onnxruntime"]
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for n in sys.argv[1:]:\n    try: out[n] = metadata.version(n)\n"
        "    except metadata.PackageNotFoundError: pass\nprint(json.dumps(out))"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *names], capture_output=True, text=True
    )
    return dict(json.loads(done.stdout)) if done.returncode == 0 else {}


# ------------------------------------------------------------------------------ load


LUA = """
local file = assert(io.open(os.getenv("PEERS_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "PEERS-RESULT %d %d %d %d %.1f %.1f\\n", summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_run(
    url: str, case: HttpCase, connections: int, seconds: float, pid: int | None, tmp: Path
) -> dict[str, Any]:
    """``wrk`` posting ``case`` over ``connections`` connections for ``seconds``."""
    body = tmp / "body.bin"
    body.write_bytes(case.body)
    script = tmp / "post.lua"
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in case.headers.items())
    script.write_text(LUA.replace("{headers}", headers))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
    command += ["-s", str(script), url + case.path]
    cpu_before = family_cpu_s(pid) if pid else 0.0
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PEERS_BODY": str(body)}
    )
    cpu = family_cpu_s(pid) - cpu_before if pid else 0.0
    match = re.search(r"PEERS-RESULT (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)", done.stdout)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    requests, micros, status_errors, socket_errors = (int(g) for g in match.groups()[:4])
    return {
        "requests": requests,
        "requests_per_s": requests / (micros / 1e6),
        "p50_ms": float(match.group(5)) / 1000,
        "p99_ms": float(match.group(6)) / 1000,
        "cpu_ms_per_request": 1000 * cpu / max(requests, 1),
        "errors": status_errors + socket_errors,
    }


def threads_run(call: Callable[[], None], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads calling ``call`` in a loop for ``seconds``; CPU of this process."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = threading.Event()

    def client(mine: list[float]) -> None:
        while not stop.is_set():
            start = time.perf_counter()
            call()
            mine.append(time.perf_counter() - start)

    workers = [threading.Thread(target=client, args=(m,)) for m in latencies]
    cpu_before, start = own_cpu_s(), time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(seconds)  # the measurement window itself, not a wait for readiness
    stop.set()
    for worker in workers:
        worker.join()
    wall, cpu = time.perf_counter() - start, own_cpu_s() - cpu_before
    samples = [s for m in latencies for s in m]
    return {
        "requests": len(samples),
        "requests_per_s": len(samples) / wall,
        "p50_ms": 1000 * float(np.percentile(samples, 50)),
        "p99_ms": 1000 * float(np.percentile(samples, 99)),
        "cpu_ms_per_request": 1000 * cpu / max(len(samples), 1),
        "errors": 0,
    }


# ------------------------------------------------------------------------------ cases


Rows = list[tuple[str, int, dict[str, Any]]]


def bench_server(
    server: Server,
    cases: list[HttpCase],
    seconds: float,
    warm_up: float,
    tmp: Path,
    labels: dict[str, str | None],
) -> Rows:
    """Start ``server``, check each case's answer once, warm up, then measure each case."""
    rows: Rows = []
    with running(server, LOGS / f"{server.name}.log") as (url, pid):
        for case in cases:
            request = urllib.request.Request(
                url + case.path, data=case.body, headers=case.headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=60) as answer:
                labels[case.name] = case.top_label(answer.read())
            wrk_run(url, case, 16, warm_up, None, tmp)
        for connections in CONNECTIONS:
            for case in cases:
                rows.append(
                    (case.name, connections, wrk_run(url, case, connections, seconds, pid, tmp))
                )
    return rows


def bench_in_process(
    models: Path, image: bytes, threads: int, spin: bool | None, seconds: float, tmp: Path
) -> Rows:
    """The localvision engine in this process, then raw ``session.run`` on a ready tensor."""
    import onnxruntime as ort

    import localvision
    from localvision.api import engine_for
    from localvision.config import Settings
    from localvision.imaging.decode import decode_image
    from localvision.models.preprocess import to_tensor
    from localvision.types import AnnotateRequest, Feature, FeatureRequest

    config = tmp / "in-process.toml"
    config.write_text(
        top_settings(threads, spin)
        + f'[models.mobilenet]\npath = "{models / MODEL}"\nlabels = "{models / LABELS}"\n'
    )
    settings = Settings.load(config, environ={"LOCALVISION_HOME": str(tmp / "home")})
    model = localvision.api.resolve_model("mobilenet", settings)
    wanted = [FeatureRequest(Feature.LABELS, max_results=5)]
    rows: Rows = []
    with engine_for({Feature.LABELS: model}, settings) as engine:

        def annotate() -> None:
            (result,) = engine.annotate([AnnotateRequest(image, wanted)])
            assert result.ok, result.error

        for _ in range(8):
            annotate()
        for connections in CONNECTIONS:
            rows.append(
                (
                    "localvision engine in-process",
                    connections,
                    threads_run(annotate, connections, seconds),
                )
            )
        tensor = to_tensor(decode_image(image), model.card, model.runtime.inputs[0])[None]
    model.close()
    # The same thread settings as the engine's (intra-op threads and spinning); where the
    # engine does not spin, ONNX Runtime's own default (spinning) is measured too.
    for case, spinning in ((RAW, settings.spin), (RAW_SPINNING, True)):
        if case == RAW_SPINNING and settings.spin:
            continue
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
        session = ort.InferenceSession(
            str(models / MODEL), options, providers=["CPUExecutionProvider"]
        )
        feed = {session.get_inputs()[0].name: tensor}

        def run(session: Any = session, feed: dict[str, Any] = feed) -> None:
            session.run(None, feed)

        for _ in range(8):
            run()
        for connections in CONNECTIONS:
            rows.append((case, connections, threads_run(run, connections, seconds)))
    return rows


# ------------------------------------------------------------------------------ main


SERVERS = ("localvision", "fastapi", "litserve", "litserve-batch8", "bentoml")
PEERS = frozenset(
    {"fastapi+ort (hand-written)", "litserve", "litserve max_batch_size 8", "bentoml"}
)
ENGINE = "localvision engine in-process"
RAW = "raw ORT, pre-decoded tensor"
RAW_SPINNING = "raw ORT, spinning (ORT's default)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "peers.json")
    parser.add_argument(
        "--peers-venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "localvision-peers",
        help="folder for the peers' virtual environments (made on first use)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--seconds", type=float, default=None, help="per measurement (10; 3)")
    parser.add_argument("--threads", type=int, default=None, help="ORT intra-op threads")
    parser.add_argument(
        "--server-threads",
        type=int,
        default=None,
        help="localvision serve's threads (default: --threads)",
    )
    parser.add_argument(
        "--spin",
        choices=("on", "off"),
        default=None,
        help="localvision's `spin` setting (default: its built-in default)",
    )
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process limits")
    parser.add_argument("--quick", action="store_true", help="one round of 3 s measurements")
    args = parser.parse_args(argv)
    models = args.fixtures / "models"
    if not (models / MODEL).is_file():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    threads = args.threads or os.cpu_count() or 1
    spin = None if args.spin is None else args.spin == "on"
    console = Console(width=max(Console().width, 132))
    image = test_image(args.fixtures / "photos")
    cases = http_cases(image)
    skipped: dict[str, str] = {}
    wanted = [s for s in args.servers.split(",") if s]
    servers: list[str] = []
    venvs: dict[str, Path] = {}
    for name in wanted:
        if name not in SERVERS:
            parser.error(f"unknown server {name!r}; choose from {', '.join(SERVERS)}")
        if shutil.which("wrk") is None:
            skipped[name] = f"wrk is not installed: {INSTALL_WRK}"
            continue
        if name != "localvision":
            peer = name.split("-")[0]
            if peer not in venvs:
                venv, why = ensure_venv(args.peers_venv, peer, console)
                if venv is None:
                    skipped[name] = why
                    continue
                venvs[peer] = venv
        servers.append(name)
    units = [*servers, *([] if args.no_in_process else ["in-process"])]
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {}
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    labels: dict[str, str | None] = {}
    loads: list[list[float]] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for r in range(rounds):
            loads.append([round(x, 2) for x in os.getloadavg()])
            shift = r % max(len(units), 1)
            for unit in units[shift:] + units[:shift]:
                console.print(f"round {r + 1}/{rounds}: {unit}")
                try:
                    rows = run_unit(
                        unit,
                        models,
                        image,
                        threads,
                        args.server_threads,
                        spin,
                        seconds,
                        tmp,
                        venvs,
                        cases,
                        labels,
                        warm_up=1.0 if args.quick else 2.0,
                    )
                except (RuntimeError, OSError) as exc:  # a peer that breaks is reported
                    skipped[unit] = f"round {r + 1}: {exc}"
                    units.remove(unit)
                    continue
                for case, connections, row in rows:
                    samples.setdefault((case, connections), []).append(row)
        loads.append([round(x, 2) for x in os.getloadavg()])
    report = {
        "machine": {
            **machine(),
            "cpu_model": cpu_model(),
            "load_average_before_each_round_and_after": loads,
        },
        "settings": {
            "image": "640x480 JPEG, quality 90",
            "threads": threads,
            "server_threads": args.server_threads or threads,
            "spin": args.spin or "default",
            "rounds": rounds,
            "seconds": seconds,
            "connections": list(CONNECTIONS),
        },
        "peer_versions": {p: venv_versions(v, p) for p, v in venvs.items()},
        "skipped": skipped,
        "top_labels": labels,
        "rows": summarise(samples),
    }
    print_table(report, console)
    write_report(report, args.out)
    return 0


def run_unit(
    unit: str,
    models: Path,
    image: bytes,
    threads: int,
    server_threads: int | None,
    spin: bool | None,
    seconds: float,
    tmp: Path,
    venvs: dict[str, Path],
    cases: dict[str, list[HttpCase]],
    labels: dict[str, str | None],
    *,
    warm_up: float,
) -> Rows:
    """One round of one server (or of the in-process limits)."""
    if unit == "in-process":
        return bench_in_process(models, image, threads, spin, seconds, tmp)
    if unit == "localvision":
        server = localvision_server(tmp, models, server_threads or threads, spin)
    else:
        server = peer_server(unit, venvs[unit.split("-")[0]], models, threads)
    return bench_server(server, cases[unit], seconds, warm_up, tmp, labels)


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` ("" where there is none)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return ""


def summarise(samples: dict[tuple[str, int], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Medians and ranges over the rounds, with the ratios to the best peer and the engine."""
    rows = []
    for (case, connections), runs in samples.items():
        row: dict[str, Any] = {"case": case, "connections": connections, "rounds": len(runs)}
        for key in ("requests_per_s", "p50_ms", "p99_ms", "cpu_ms_per_request"):
            values = [run[key] for run in runs]
            row[key] = float(np.median(values))
            row[key + "_range"] = [min(values), max(values)]
        row["errors"] = sum(run["errors"] for run in runs)
        rows.append(row)
    for connections in CONNECTIONS:
        same = [r for r in rows if r["connections"] == connections]
        peers = [r["requests_per_s"] for r in same if r["case"] in PEERS]
        engine = [r["requests_per_s"] for r in same if r["case"] == ENGINE]
        for row in same:
            row["x_best_peer"] = row["requests_per_s"] / max(peers) if peers else None
            row["x_engine"] = row["requests_per_s"] / engine[0] if engine else None
    return rows


def print_table(report: dict[str, Any], console: Console) -> None:
    settings = report["settings"]
    table = Table(
        "case",
        "conns",
        "req/s (range)",
        "p50 ms",
        "p99 ms",
        "CPU ms/req",
        "x best peer",
        "x engine",
        "errors",
        title=f"{settings['image']}, {report['machine']['cpus']} CPUs, {settings['threads']} "
        f"ORT threads (localvision serve: {settings.get('server_threads', settings['threads'])}), "
        f"medians of {settings['rounds']} x {settings['seconds']:g} s",
    )
    for r in sorted(report["rows"], key=lambda r: (r["connections"], -r["requests_per_s"])):
        low, high = r["requests_per_s_range"]
        table.add_row(
            r["case"],
            str(r["connections"]),
            f"{r['requests_per_s']:.0f} ({low:.0f}-{high:.0f})",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['cpu_ms_per_request']:.1f}",
            "" if r["x_best_peer"] is None else f"{r['x_best_peer']:.2f}",
            "" if r["x_engine"] is None else f"{r['x_engine']:.2f}",
            str(r["errors"]),
        )
    console.print(table)
    for name, why in report["skipped"].items():
        console.print(f"skipped {name}: {why}")
    tops = {label for label in report["top_labels"].values() if label is not None}
    if len(tops) > 1:
        console.print(f"[red]servers disagree on the top label: {report['top_labels']}[/red]")


if __name__ == "__main__":
    sys.exit(main())
