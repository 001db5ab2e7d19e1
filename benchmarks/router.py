"""Benchmark: what the router adds to a request, next to calling the local engine directly.

All cases answer labels locally (MobileNet V2 ONNX fixture, a 640x480 photo), in the same run,
so the differences are the router's own work: choosing routes, the privacy checks, and the
audit record a refusal writes. The face and OCR pre-check is timed on its own. No request
leaves; the cloud route's provider fails the run if it is ever called. Prints a table and
writes JSON (``--out``, default ``benchmarks/results/router.json``).

    python benchmarks/router.py [--fixtures ../shared/fixtures] [--quick]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import machine, percentiles, write_report
from PIL import Image
from rich.console import Console
from rich.table import Table

from localvision.cloud.privacy import PrivacyCheck
from localvision.cloud.router import Router
from localvision.config import CloudSettings, RouterSettings, Settings
from localvision.engine import LocalEngine
from localvision.models import load_model
from localvision.types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest

ROOT = Path(__file__).resolve().parents[1]
LABELS = [FeatureRequest(Feature.LABELS)]


class NeverCalled:
    """The cloud route's provider: every case here must stay local."""

    name = "cloud"
    features = frozenset({Feature.LABELS})

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        raise AssertionError("the benchmark sent a request to the cloud")

    def close(self) -> None:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "router.json")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if not (args.fixtures / "photos").is_dir():
        print(f"fixtures not found at {args.fixtures}", file=sys.stderr)
        return 2
    repeats = 50 if args.quick else 300
    home = Path(tempfile.mkdtemp(prefix="lv-router-bench-"))
    plain, tagged = photos(args.fixtures / "photos" / "cat_720p.jpg")
    settings = Settings(home=home)
    model = load_model(
        args.fixtures / "models" / "mobilenetv2-12-int8.onnx",
        labels=args.fixtures / "models" / "imagenet_labels_1000.txt",
        settings=settings,
    )
    rows: list[dict[str, Any]] = []
    with LocalEngine({Feature.LABELS: model}) as engine:

        def routed(**policy: Any) -> Router:
            config = Settings(home=home, cloud=CloudSettings(router=RouterSettings(**policy)))
            return Router(config, engine, {"cloud": NeverCalled()})

        local_only = routed(routes={})
        gps = routed(routes={"labels": ["cloud", "local"]}, privacy=["gps"])
        caller = routed(routes={"labels": ["cloud", "local"]}, privacy=["caller"])
        cases: list[tuple[str, Callable[[], object]]] = [
            ("engine directly", lambda: engine.annotate([AnnotateRequest(plain, LABELS)])),
            ("router, local route", lambda: local_only.annotate([AnnotateRequest(plain, LABELS)])),
            (
                "router, kept local: GPS in EXIF",
                lambda: gps.annotate([AnnotateRequest(tagged, LABELS)]),
            ),
            (
                "router, kept local: caller says private",
                lambda: caller.annotate([AnnotateRequest(plain, LABELS)], private=[True]),
            ),
        ]
        for name, samples in interleaved(cases, repeats).items():
            rows.append({"case": name, **percentiles(samples)})
        for checks, label in ((("faces",), "faces"), (("faces", "text"), "faces + OCR")):
            check = PrivacyCheck(engine, frozenset(checks))
            request = AnnotateRequest(plain, LABELS)
            samples = interleaved([(label, lambda c=check, r=request: c.reasons(r))], repeats // 10)
            rows.append(
                {"case": f"pre-check alone: {label} (none found)", **percentiles(samples[label])}
            )
    model.close()
    base = rows[0]
    for row in rows[1:4]:
        row["overhead_p50_ms"] = row["p50_ms"] - base["p50_ms"]
        row["overhead_p95_ms"] = row["p95_ms"] - base["p95_ms"]
    report = {
        "machine": machine(),
        "repeats": repeats,
        "rows": rows,
    }
    print_table(report)
    write_report(report, args.out)
    return 0


def photos(source: Path) -> tuple[bytes, bytes]:
    """The photo at 640x480 as JPEG, without and with a GPS block in its EXIF."""
    image = Image.open(source).convert("RGB").resize((640, 480))
    plain, tagged = io.BytesIO(), io.BytesIO()
    image.save(plain, "JPEG", quality=90)
    exif = Image.Exif()
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)
    image.save(tagged, "JPEG", quality=90, exif=exif)
    return plain.getvalue(), tagged.getvalue()


def interleaved(
    cases: Sequence[tuple[str, Callable[[], object]]], repeats: int
) -> dict[str, list[float]]:
    """Seconds per call for each case, the cases taking turns so drift touches all alike."""
    samples: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(3):
        for _, call in cases:
            call()
    for _ in range(max(5, repeats)):
        for name, call in cases:
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return samples


def print_table(report: dict[str, Any]) -> None:
    table = Table(
        "case",
        "p50 ms",
        "p95 ms",
        "overhead p50",
        "overhead p95",
        title=f"router overhead, {report['machine']['cpus']} CPUs",
    )
    for row in report["rows"]:
        table.add_row(
            row["case"],
            f"{row['p50_ms']:.2f}",
            f"{row['p95_ms']:.2f}",
            f"{row['overhead_p50_ms']:+.2f}" if "overhead_p50_ms" in row else "",
            f"{row['overhead_p95_ms']:+.2f}" if "overhead_p95_ms" in row else "",
        )
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
