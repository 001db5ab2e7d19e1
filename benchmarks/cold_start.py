"""Benchmark: cold start to ready of ``localvision serve``, with the model on local disk and
from object storage; ``models push``/``pull`` throughput; the installed size of the images.

Measures, for the fixture models (MobileNet V2 ONNX and TFLite) and a generated ~100 MB ONNX
classifier (one large dense layer: its load time is bytes, not compute), the seconds from
spawning ``localvision serve`` to its first ``/readyz`` 200, for:

* ``local``: ``--model NAME=PATH``, the file and its card on local disk (the baseline). A baked
  image (``deploy render docker --bake``) runs exactly this: its ``CMD`` names the copied file
  (the script checks that in the rendered Dockerfile), so it is not measured twice;
* ``s3-first``: ``--model NAME=s3://.../NAME/1/`` with an empty data home: download, verify,
  load;
* ``s3-cached``: the same URI again, the cache warm (a restart);
* ``s3-offline``: the same with ``--offline``.

The S3 stand-in is moto's server in a subprocess on 127.0.0.1. Rounds are interleaved (each
round runs every model and every way, in alternating orders), and the table gives medians and
the spread. Then ``models push``/``models pull`` of the large model, through the CLI (what a
user waits for) and through the Python API (the transfer alone). Last, for the CPU Docker image
(ONNX baked, ONNX from a URI, TFLite from a URI) and the Lambda image, the rendered
Dockerfile's ``pip install`` line is run into a throwaway environment and its size taken with
``du`` (no container engine here), plus the base image's published size (an estimate).

    python benchmarks/cold_start.py [--fixtures ../shared/fixtures] [--rounds 11] [--quick]
        [--skip-sizes] [--lambda-python python3.12]

Prints tables and writes JSON (``--out``, default ``benchmarks/results/cold_start.json``).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from common import machine, write_report
from PIL import Image
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "lv-bench"
POLL_S = 0.01
"""How often ``/readyz`` is asked: the resolution of a start-to-ready time."""
START_DEADLINE_S = 600.0
WAYS = ("local", "s3-first", "s3-cached", "s3-offline")
CACHED_TARGET = 1.10
"""A cached restart within 10 % of a local-disk start."""
IMAGE_TARGET_BYTES = 1e9
BASE_IMAGES: dict[str, tuple[float, str]] = {
    "python:3.11-slim-bookworm": (
        130e6,
        "estimate: about 45 MB compressed on Docker Hub (linux/amd64), about 130 MB unpacked "
        "as `docker images` reports it; not measured here",
    ),
    "public.ecr.aws/lambda/python:3.12": (
        550e6,
        "rough estimate: about 0.5-0.6 GB unpacked (Amazon Linux 2023, Python 3.12, the "
        "runtime interface client, boto3); not measured here",
    ),
}
"""Published base image sizes, unpacked; no image can be pulled or built on this machine."""


@dataclass(frozen=True)
class BenchModel:
    """One model as the starts use it: local file (with its card beside it) and pushed URI."""

    name: str
    label: str
    local: Path
    uri: str
    nbytes: int


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "cold_start.json"
    )
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds of starts")
    parser.add_argument("--transfer-rounds", type=int, default=5, help="push/pull repetitions")
    parser.add_argument("--big-mb", type=float, default=100.0, help="the generated model's MB")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 20 MB, no sizes")
    parser.add_argument("--skip-sizes", action="store_true", help="no image-size installs")
    parser.add_argument(
        "--lambda-python", default="python3.12", help="interpreter for the Lambda image's size"
    )
    args = parser.parse_args(argv)
    if not (args.fixtures / "models").is_dir():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    if args.quick:
        args.rounds, args.transfer_rounds, args.big_mb, args.skip_sizes = 2, 2, 20.0, True
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lv-cold-start-") as tmp, moto_s3(Path(tmp)) as env:
        work = Path(tmp)
        models = prepare_models(args.fixtures, work, env, args.big_mb)
        starts = bench_starts(models, work, env, args.fixtures, args.rounds)
        transfer = bench_transfer(models[-1], work, env, args.transfer_rounds)
        sizes = (
            []
            if args.skip_sizes
            else image_sizes(args.fixtures / "models", work, args.lambda_python)
        )
    report = {
        "machine": {**machine(), "load_average_before": load_before, "after": os.getloadavg()},
        "rounds": args.rounds,
        "models": [{"name": m.label, "bytes": m.nbytes} for m in models],
        "starts": starts,
        "summary": summarize(starts, models),
        "transfer": transfer,
        "sizes": sizes,
    }
    report["targets"] = targets(report)
    print_report(report)
    write_report(report, args.out)
    return 0


# ------------------------------------------------------------------------------ setting up


@contextmanager
def moto_s3(work: Path) -> Iterator[dict[str, str]]:
    """moto's S3 server in a subprocess on a free port, with bucket ``lv-bench``; yields the
    environment that points botocore (and so ``s3fs``) at it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = (work / "moto.log").open("wb")
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                put = urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT")
                with urllib.request.urlopen(put, timeout=5) as reply:
                    reply.read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start; see {log.name}") from None
                time.sleep(0.05)
        yield {
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ACCESS_KEY_ID": "lv-bench-key",
            "AWS_SECRET_ACCESS_KEY": "lv-bench-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_big_onnx(path: Path, megabytes: float) -> int:
    """A valid ImageNet-shaped classifier whose weights are ``megabytes`` of random floats.

    224 px RGB in, average-pooled to 32 px, one dense layer of ``megabytes`` (3,072 x hidden
    float32), ReLU, a 10-class dense layer and softmax out: it loads and classifies, and its
    compute (~25 M multiply-adds) is small next to reading its bytes. Returns the hidden width.
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        sys.exit("generating the large model needs onnx: pip install 'localvision[torch]'")
    features = 3 * 32 * 32
    hidden = max(16, round(megabytes * 1e6 / 4 / features))
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((features, hidden), dtype=np.float32) / np.float32(features**0.5)
    w2 = rng.standard_normal((hidden, 10), dtype=np.float32) / np.float32(hidden**0.5)
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[7, 7], strides=[7, 7]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w1"], ["hidden"]),
        helper.make_node("Relu", ["hidden"], ["activated"]),
        helper.make_node("MatMul", ["activated", "w2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "large_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return hidden


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``localvision ARGS`` in a subprocess; raises with its output when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "localvision", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"localvision {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def prepare_models(
    fixtures: Path, work: Path, s3_env: dict[str, str], big_mb: float
) -> list[BenchModel]:
    """Register each model in a source data home, export it (file and card, as ``--bake``
    copies them) for the local starts, and push it to the stand-in with ``models push``."""
    models = fixtures / "models"
    big = work / "large.onnx"
    make_big_onnx(big, big_mb)
    big_labels = work / "large_labels.txt"
    big_labels.write_text("\n".join(f"class {i}" for i in range(10)) + "\n")
    sources = [
        ("mobilenet", models / "mobilenetv2-12-int8.onnx", models / "imagenet_labels_1000.txt"),
        (
            "mobilenet-tflite",
            models / "mobilenet_v2_1.0_224_quant.tflite",
            models / "imagenet_labels_1001.txt",
        ),
        ("large", big, big_labels),
    ]
    env = {**os.environ, **s3_env, "LOCALVISION_HOME": str(work / "source-home")}
    out = []
    for name, path, labels in sources:
        cli("models", "add", name, str(path), "--labels", str(labels), env=env)
        folder = work / "local" / name
        cli("models", "export", name, str(folder), env=env)
        local = folder / f"{name}{path.suffix}"  # and NAME.card.toml beside it
        pushed = cli("models", "push", name, f"s3://{BUCKET}/models", "--json", env=env)
        uri = json.loads(pushed.stdout.strip().splitlines()[-1])["uri"]
        out.append(BenchModel(name, path.name, local, uri, path.stat().st_size))
    return out


# ------------------------------------------------------------------------------ cold starts


def bench_starts(
    models: list[BenchModel], work: Path, s3_env: dict[str, str], fixtures: Path, rounds: int
) -> list[dict[str, Any]]:
    """``rounds`` interleaved rounds: every model, every way, orders alternating."""
    image = probe_image(fixtures / "photos")
    rows: list[dict[str, Any]] = []
    warm_home = work / "warm-up-home"
    start_to_ready(models[0], "local", warm_home, s3_env, image)  # page cache, not measured
    for r in range(rounds):
        order = models if r % 2 == 0 else models[::-1]
        for model in order:
            home = work / "homes" / f"{model.name}-{r}"  # empty: the first start downloads
            ways = WAYS if r % 2 == 0 else ("s3-first", "s3-offline", "s3-cached", "local")
            for way in ways:
                row = start_to_ready(model, way, home, s3_env, image)
                row.update(round=r, load_1m=os.getloadavg()[0])
                rows.append(row)
                print(
                    f"round {r + 1}/{rounds} {model.label:<36} {way:<10} "
                    f"ready {row['ready_s']:.2f} s (listening {row['listening_s']:.2f} s)",
                    flush=True,
                )
        shutil.rmtree(work / "homes", ignore_errors=True)
    return rows


def start_to_ready(
    model: BenchModel, way: str, home: Path, s3_env: dict[str, str], image: bytes
) -> dict[str, Any]:
    """Spawn ``localvision serve`` the ``way`` given, time its first ``/readyz`` answer and
    first 200, check that it classifies, and stop it."""
    port = free_port()
    where = str(model.local) if way == "local" else model.uri
    command = [
        sys.executable,
        "-m",
        "localvision",
        "serve",
        "--port",
        str(port),
        "--model",
        f"{model.name}={where}",
        "--labels-model",
        model.name,
        "--log-level",
        "info",
    ]
    if way == "s3-offline":
        command.append("--offline")
    env = {**os.environ, **s3_env, "LOCALVISION_HOME": str(home)}
    log_path = home.parent / f"{model.name}-{way}.log"
    home.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log, httpx.Client(base_url=url, trust_env=False) as client:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            listening, ready = wait_ready(client, process, started, log_path)
            labels = classify(client, model.name, image)
        finally:
            process.terminate()
            process.wait(timeout=60)
    said = log_path.read_text(errors="replace")
    return {
        "model": model.label,
        "way": way,
        "ready_s": ready,
        "listening_s": listening,
        "top_label": labels[0] if labels else None,
        "downloaded": "downloaded and verified" in said,
    }


def wait_ready(
    client: httpx.Client, process: subprocess.Popen[bytes], started: float, log: Path
) -> tuple[float, float]:
    """Seconds from ``started`` to the first answer of ``/readyz`` and to its first 200."""
    listening: float | None = None
    while True:
        try:
            status = client.get("/readyz", timeout=5).status_code
            now = time.perf_counter() - started
            listening = now if listening is None else listening
            if status == 200:
                return listening, now
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.perf_counter() - started > START_DEADLINE_S:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the server did not become ready:\n{tail}")
        time.sleep(POLL_S)


def probe_image(photos: Path) -> bytes:
    """One fixture photo as a 224 px JPEG, to check that each started server classifies."""
    buffer = io.BytesIO()
    Image.open(photos / "cat.bmp").convert("RGB").resize((224, 224)).save(buffer, "JPEG")
    return buffer.getvalue()


def classify(client: httpx.Client, name: str, image: bytes) -> list[str]:
    """The labels the server answers for ``image`` (native API); fails on an error."""
    body = {"images": [{"content": base64.b64encode(image).decode()}], "max_results": 3}
    response = client.post("/v1/annotate", json=body, timeout=60)
    response.raise_for_status()
    result = response.json()["results"][0]
    if "error" in result or not result.get("labels"):
        raise RuntimeError(f"model {name} did not classify: {result}")
    return [str(label["label"]) for label in result["labels"]]


# ------------------------------------------------------------------------------ push / pull


def bench_transfer(
    model: BenchModel, work: Path, s3_env: dict[str, str], rounds: int
) -> list[dict[str, Any]]:
    """``models push``/``pull`` of ``model`` to fresh folders and homes: through the CLI (a
    new process each time) and through :func:`localvision.storage.push`/``pull``."""
    from localvision.registry import Registry
    from localvision.storage import pull, push

    source_home = work / "source-home"

    def env_for(home: Path) -> dict[str, str]:
        return {**os.environ, **s3_env, "LOCALVISION_HOME": str(home)}

    def push_cli(root: str) -> None:
        cli("models", "push", model.name, root, env=env_for(source_home))

    def pull_cli(uri: str, home: Path) -> None:
        cli("models", "pull", uri, env=env_for(home))

    def push_api(root: str) -> None:
        push(Registry(source_home), model.name, root, environ=s3_env)

    def pull_api(uri: str, home: Path) -> None:
        pull(uri, Registry(home), environ=s3_env)

    ways: dict[str, tuple[Callable[[str], None], Callable[[str, Path], None]]] = {
        "cli": (push_cli, pull_cli),
        "api": (push_api, pull_api),
    }
    rows = []
    for r in range(rounds):
        for way, (push_once, pull_once) in ways.items():
            root = f"s3://{BUCKET}/transfer-{way}-{r}"
            started = time.perf_counter()
            push_once(root)
            pushed = time.perf_counter() - started
            home = work / "pull-homes" / f"{way}-{r}"
            started = time.perf_counter()
            pull_once(f"{root}/{model.name}/1", home)
            pulled = time.perf_counter() - started
            shutil.rmtree(home)
            for op, seconds in (("push", pushed), ("pull", pulled)):
                rows.append(
                    {
                        "op": op,
                        "way": way,
                        "round": r,
                        "seconds": seconds,
                        "mb_per_s": model.nbytes / 1e6 / seconds,
                    }
                )
            print(f"{way} push {pushed:.2f} s, pull {pulled:.2f} s", flush=True)

    return rows


# ------------------------------------------------------------------------------ image sizes

SIZE_VARIANTS = (
    ("docker: ONNX baked", ["docker", "--model", "m={onnx}", "--bake"]),
    ("docker: ONNX from a URI", ["docker", "--model", f"m=s3://{BUCKET}/models/m/1/"]),
    (
        "docker: TFLite from a URI",
        ["docker", "--model", f"m=s3://{BUCKET}/models/m/1/", "--extra", "litert"],
    ),
    ("lambda: ONNX baked", ["lambda", "--model", "m={onnx}", "--bake"]),
)
PIP_INSTALL = re.compile(r"pip install(?P<target> --target \S+)? '(?P<spec>[^']+)'")


def image_sizes(models: Path, work: Path, lambda_python: str) -> list[dict[str, Any]]:
    """For each variant: render it, run its Dockerfile's ``pip install`` (the local checkout's
    wheel, the same extras) into a throwaway venv (``--target`` folder for Lambda), ``du``."""
    onnx = models / "mobilenetv2-12-int8.onnx"
    env = {**os.environ, "LOCALVISION_HOME": str(work / "render-home")}
    rows = []
    wheel: Path | None = None
    for label, args in SIZE_VARIANTS:
        out = work / "render" / re.sub(r"\W+", "-", label)
        render = [a.format(onnx=onnx) for a in args]
        cli("deploy", "render", *render, "--insecure", "--out", str(out), env=env)
        dockerfile = (out / "Dockerfile").read_text()
        base = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile, re.M)
        install = PIP_INSTALL.search(dockerfile)
        if base is None or install is None:
            raise RuntimeError(f"{out / 'Dockerfile'}: no base image or pip install line")
        extras = re.search(r"\[([^\]]*)\]$", install["spec"])
        if wheel is None:
            wheel = build_wheel(out / "source", work / "wheels")
        spec = f"{wheel}[{extras[1]}]" if extras else str(wheel)
        lambda_image = install["target"] is not None
        python, note = interpreter(lambda_python if lambda_image else sys.executable)
        folder = work / "envs" / out.name
        installed = install_into(python, spec, folder, target=lambda_image)
        base_bytes, base_source = BASE_IMAGES.get(base[1], (float("nan"), "unknown base"))
        rows.append(
            {
                "variant": label,
                "base_image": base[1],
                "extras": extras[1] if extras else "",
                "python": note,
                "installed_du_bytes": du(installed),
                "installed_apparent_bytes": du(installed, apparent=True),
                "base_bytes_estimate": base_bytes,
                "base_source": base_source,
                "cmd": re.findall(r"^CMD (.+)$", dockerfile, re.M)[-1],
            }
        )
        shutil.rmtree(folder)
        print(f"{label}: {rows[-1]['installed_du_bytes'] / 1e6:.0f} MB installed", flush=True)
    return rows


def build_wheel(source: Path, out: Path) -> Path:
    """The wheel the Dockerfile's builder stage builds from the rendered ``source/``."""
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(out)]
    subprocess.run([*pip, str(source)], check=True, capture_output=True)
    return next(out.glob("localvision-*.whl"))


def interpreter(wanted: str) -> tuple[str, str]:
    """``wanted`` and its version if it runs, else this interpreter, saying so."""
    check = [wanted, "-c", "import platform; print(platform.python_version())"]
    done = subprocess.run(check, capture_output=True, text=True)
    if done.returncode == 0:
        return wanted, done.stdout.strip()
    return sys.executable, f"{sys.version.split()[0]} ({wanted} not found: used this one)"


def install_into(python: str, spec: str, folder: Path, *, target: bool) -> Path:
    """``pip install spec`` as the Dockerfile does: into a new venv, or ``--target folder``.
    Returns what the final stage copies: the venv, or the target folder."""
    if target:
        pip = [python, "-m", "pip", "install", "-q", "--target", str(folder), spec]
    else:
        subprocess.run([python, "-m", "venv", str(folder)], check=True)
        pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", spec]
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(pip, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(pip)} failed:\n{done.stdout}{done.stderr[-3000:]}")
    return folder


def du(path: Path, *, apparent: bool = False) -> int:
    """``du -s`` in bytes (blocks used, or ``--apparent-size``)."""
    flags = ["--apparent-size"] if apparent else []
    done = subprocess.run(
        ["du", "-s", "--block-size=1", *flags, str(path)], capture_output=True, text=True
    )
    return int(done.stdout.split()[0])


# ------------------------------------------------------------------------------ report


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles, extremes and count of ``values``."""
    q1, _, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
    return {
        "median": statistics.median(values),
        "q1": q1,
        "q3": q3,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarize(rows: list[dict[str, Any]], models: list[BenchModel]) -> list[dict[str, Any]]:
    """Per model and way: the spread of ready and listening times, and the ratio to local."""
    out = []
    for model in models:
        local = None
        for way in WAYS:
            mine = [r for r in rows if r["model"] == model.label and r["way"] == way]
            ready = spread([r["ready_s"] for r in mine])
            local = ready["median"] if way == "local" else local
            out.append(
                {
                    "model": model.label,
                    "bytes": model.nbytes,
                    "way": way,
                    "ready_s": ready,
                    "listening_s": spread([r["listening_s"] for r in mine]),
                    "vs_local": ready["median"] / local if local else None,
                    "downloads": sum(r["downloaded"] for r in mine),
                }
            )
    return out


def targets(report: dict[str, Any]) -> dict[str, Any]:
    cached = {
        f"{s['model']} {s['way']}": s["vs_local"]
        for s in report["summary"]
        if s["way"] in ("s3-cached", "s3-offline")
    }
    images = {
        s["variant"]: s["installed_du_bytes"] + s["base_bytes_estimate"]
        for s in report["sizes"]
        if s["variant"].startswith("docker")
    }
    baked = [s["cmd"] for s in report["sizes"] if s["variant"] == "docker: ONNX baked"]
    return {
        "baked_image_cmd": baked[0] if baked else None,
        "cached_restart_vs_local": cached,
        "cached_target": CACHED_TARGET,
        "cached_met": all(v <= CACHED_TARGET for v in cached.values()),
        "cpu_image_bytes_estimate": images,
        "image_target_bytes": IMAGE_TARGET_BYTES,
        "image_met": all(v < IMAGE_TARGET_BYTES for v in images.values()) if images else None,
    }


def print_report(report: dict[str, Any]) -> None:
    console = Console(width=130)
    table = Table(
        "model",
        "MB",
        "start",
        "ready s (median)",
        "q1-q3",
        "min-max",
        "vs local",
        "listening s",
        title=f"start to ready, {report['rounds']} rounds, {report['machine']['cpus']} CPUs",
    )
    for s in report["summary"]:
        ready = s["ready_s"]
        table.add_row(
            s["model"],
            f"{s['bytes'] / 1e6:.1f}",
            s["way"],
            f"{ready['median']:.2f}",
            f"{ready['q1']:.2f}-{ready['q3']:.2f}",
            f"{ready['min']:.2f}-{ready['max']:.2f}",
            f"{s['vs_local']:.2f}x" if s["vs_local"] else "",
            f"{s['listening_s']['median']:.2f}",
        )
    console.print(table)
    transfer = Table("op", "via", "seconds (median)", "MB/s (median)", "MB/s min-max")
    for op in ("push", "pull"):
        for way in ("cli", "api"):
            mine = [r for r in report["transfer"] if r["op"] == op and r["way"] == way]
            if mine:
                rate = spread([r["mb_per_s"] for r in mine])
                transfer.add_row(
                    op,
                    way,
                    f"{statistics.median(r['seconds'] for r in mine):.2f}",
                    f"{rate['median']:.0f}",
                    f"{rate['min']:.0f}-{rate['max']:.0f}",
                )
    console.print(transfer)
    if report["sizes"]:
        sizes = Table("image", "extras", "python", "installed MB (du)", "base MB (est.)", "total")
        for s in report["sizes"]:
            installed, base = s["installed_du_bytes"] / 1e6, s["base_bytes_estimate"] / 1e6
            sizes.add_row(
                s["variant"],
                s["extras"] or "-",
                s["python"],
                f"{installed:.0f}",
                f"{base:.0f}",
                f"{installed + base:.0f}",
            )
        console.print(sizes)
    goals = report["targets"]
    console.print(
        f"cached restart within 10 % of local: {'met' if goals['cached_met'] else 'NOT met'} "
        + ", ".join(f"{k} {v:.2f}x" for k, v in goals["cached_restart_vs_local"].items())
    )
    if goals["baked_image_cmd"]:
        console.print(
            f"baked image: CMD {goals['baked_image_cmd']} serves a file in the image, the "
            "`local` start above (not measured twice)"
        )
    if goals["image_met"] is not None:
        met = "met" if goals["image_met"] else "NOT met"
        console.print(f"CPU image under 1 GB (estimate): {met}")
    machine_info = report["machine"]
    during = spread([r["load_1m"] for r in report["starts"]])
    console.print(
        f"1-minute load average: before {machine_info['load_average_before'][0]:.2f}, during "
        f"the starts {during['min']:.2f}-{during['max']:.2f} (median {during['median']:.2f}), "
        f"after {machine_info['after'][0]:.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
