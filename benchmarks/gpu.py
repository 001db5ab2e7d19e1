"""The GPU path: plain runs against I/O binding by batch size, and the engine under load.

Issue 17's part 4, as one short script to run wherever a CUDA device and ``onnxruntime-gpu``
are: for an ONNX image classifier (``--model``; default the int8 MobileNetV2 fixture, whose
QLinear operators have no CUDA kernels and run on the CPU: give a float32 model on a GPU),

1. the model alone, batches of 1, 4, 16 and 64 pre-processed images: ``session.run`` against
   the same run through I/O binding (``localvision.models.onnx``), images per second and ms
   per batch (medians of several timed loops);
2. the engine on a 640x480 JPEG with 1 and 16 threads calling ``annotate`` with one image
   each: images per second and the mean batch the model saw, with concurrent callers' runs
   merged (the engine's default on a GPU) and apart (its default on the CPU).

On a machine without CUDA, or where ONNX Runtime cannot start it (a missing cuDNN, say), it
says so and stops with status 3, unless ``--provider cpu`` asks for the same measurements on
the CPU (to check the script, or for the CPU's own numbers).

    python benchmarks/gpu.py [--model M.onnx [--labels L.txt]] [--provider cuda|cpu]
                             [--seconds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from common import machine, write_report
from PIL import Image
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
MODEL = "mobilenetv2-12-int8.onnx"
LABELS = "imagenet_labels_1000.txt"
BATCHES = (1, 4, 16, 64)
THREADS = (1, 16)


def timed(call: Callable[[], None], seconds: float) -> float:
    """Calls per second of ``call`` in a loop for about ``seconds`` (after two untimed)."""
    call()
    call()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        count += 1
    return count / (time.perf_counter() - start)


def clients_rate(call: Callable[[], None], threads: int, seconds: float) -> float:
    """Calls per second of ``threads`` threads calling ``call`` in a loop for ``seconds``."""
    done = [0] * threads
    stop = threading.Event()

    def client(slot: int) -> None:
        while not stop.is_set():
            call()
            done[slot] += 1

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    stop.wait(seconds)  # the measurement window itself
    stop.set()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - start)


def batch_rate(model: Any, batch: np.ndarray[Any, Any], seconds: float) -> float:
    """Median over three loops of runs per second of ``model`` on ``batch``."""

    def run() -> None:
        model.predict(batch)

    return statistics.median(timed(run, seconds / 3) for _ in range(3))


def model_rows(settings: Any, seconds: float) -> list[dict[str, Any]]:
    """The model alone: plain and bound runs per batch size."""
    from localvision.api import resolve_model

    rows = []
    for io_binding in (False, True):
        model = resolve_model("mobilenet", settings.model_copy(update={"io_binding": io_binding}))
        runtime: Any = model.runtime
        for batch in BATCHES:
            tensor = np.random.default_rng(0).random((batch, 3, 224, 224), np.float32)
            rate = batch_rate(model, tensor, seconds)
            rows.append(
                {
                    "case": "I/O binding" if runtime.bound_device else "session.run",
                    "device": runtime.device,
                    "batch": batch,
                    "images_per_s": rate * batch,
                    "ms_per_batch": 1000 / rate,
                }
            )
        model.close()
    return rows


def engine_rows(settings: Any, image: bytes, seconds: float) -> list[dict[str, Any]]:
    """The engine, 1 and 16 threads each annotating one image at a time."""
    from localvision.api import engine_for, resolve_model
    from localvision.types import AnnotateRequest, Feature, FeatureRequest

    model = resolve_model("mobilenet", settings)
    wanted = [FeatureRequest(Feature.LABELS, max_results=5)]
    rows = []
    sizes: list[int] = []  # batch sizes the model saw, per measurement
    for coalesce in (True, False):
        with engine_for(
            {Feature.LABELS: model},
            settings,
            on_batch=lambda _, n: sizes.append(n),
            coalesce=coalesce,
        ) as engine:

            def annotate(engine: Any = engine) -> None:
                (result,) = engine.annotate([AnnotateRequest(image, wanted)])
                assert result.ok, result.error

            for threads in THREADS:
                sizes.clear()
                rate = clients_rate(annotate, threads, seconds)
                rows.append(
                    {
                        "case": "engine, runs merged" if coalesce else "engine, runs apart",
                        "threads": threads,
                        "images_per_s": rate,
                        "mean_batch": sum(sizes) / max(len(sizes), 1),
                    }
                )
    model.close()
    return rows


def _device(settings: Any) -> str:
    """Where ONNX Runtime actually put the model (it falls back to the CPU silently)."""
    from localvision.api import resolve_model

    model = resolve_model("mobilenet", settings)
    try:
        return str(model.runtime.device)
    finally:
        model.close()


def cpu_only_operators(model: Path) -> int:
    """How many nodes of ``model`` are quantized operators the CUDA provider has no kernel
    for (QOperator int8 models); 0 when the ``onnx`` package is not there to tell."""
    try:
        import onnx
    except ImportError:
        return 0
    graph = onnx.load(str(model), load_external_data=False).graph
    return sum(n.op_type.startswith("QLinear") or n.op_type.endswith("Integer") for n in graph.node)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--model", type=Path, default=None, help="an ONNX image classifier")
    parser.add_argument("--labels", type=Path, default=None, help="its labels file, if any")
    parser.add_argument("--provider", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu.json")
    args = parser.parse_args(argv)
    models = args.fixtures / "models"
    photos = args.fixtures / "photos"
    model_file = args.model or models / MODEL
    labels = args.labels or (None if args.model else models / LABELS)
    if not model_file.is_file() or not (photos / "cat_720p.jpg").is_file():
        print(
            f"{model_file} or the fixture photos (under {args.fixtures}) not found", file=sys.stderr
        )
        return 2
    if args.provider == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        print(
            "No CUDA here: this ONNX Runtime offers "
            f"{', '.join(ort.get_available_providers())}. Install onnxruntime-gpu on a machine "
            "with an NVIDIA GPU, or pass --provider cpu.",
            file=sys.stderr,
        )
        return 3
    if args.provider == "cuda" and (count := cpu_only_operators(model_file)):
        print(
            f"warning: {model_file.name} has {count} quantized operators without CUDA kernels; "
            "ONNX Runtime runs them on the CPU. Pass a float32 model with --model.",
            file=sys.stderr,
        )
    from localvision.config import Settings

    photo = Image.open(photos / "cat_720p.jpg").convert("RGB")
    buffer = io.BytesIO()
    photo.resize((640, 480)).save(buffer, "JPEG", quality=90)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "gpu.toml"
        config.write_text(
            f'providers = ["{args.provider}"]\n[models.mobilenet]\npath = "{model_file}"\n'
            + (f'labels = "{labels}"\n' if labels else "")
        )
        settings = Settings.load(config, environ={"LOCALVISION_HOME": str(Path(tmp) / "home")})
        device = _device(settings)
        if args.provider == "cuda" and device != "CUDAExecutionProvider":
            print(
                f"ONNX Runtime could not run the model on CUDA (it took {device}).", file=sys.stderr
            )
            return 3
        model = model_rows(settings, args.seconds)
        engine = engine_rows(settings, buffer.getvalue(), args.seconds)
    console = Console(width=max(Console().width, 100))
    table = Table(title=f"the model alone ({args.provider})")
    for column in ("case", "device", "batch", "images/s", "ms per batch"):
        table.add_column(column)
    for row in model:
        table.add_row(
            row["case"],
            row["device"],
            str(row["batch"]),
            f"{row['images_per_s']:.0f}",
            f"{row['ms_per_batch']:.2f}",
        )
    console.print(table)
    table = Table(title="the engine, one 640x480 JPEG per call")
    for column in ("case", "threads", "images/s", "mean batch"):
        table.add_column(column)
    for row in engine:
        table.add_row(
            row["case"],
            str(row["threads"]),
            f"{row['images_per_s']:.0f}",
            f"{row['mean_batch']:.1f}",
        )
    console.print(table)
    write_report(
        {
            "machine": machine(),
            "provider": args.provider,
            "model_file": model_file.name,
            "model": model,
            "engine": engine,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
