"""What every benchmark script shares: the machine it ran on, latency percentiles, and writing
the JSON report. Imported by the scripts as ``common`` (they run as ``python benchmarks/x.py``,
which puts this folder first on the path)."""

from __future__ import annotations

import json
import os
import platform
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import localvision

__all__ = ["machine", "percentiles", "write_report"]


def machine() -> dict[str, Any]:
    """The machine and versions a run's numbers belong to."""
    import onnxruntime

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "localvision": localvision.__version__,
    }


def percentiles(seconds: Sequence[float], qs: Sequence[int] = (50, 95)) -> dict[str, float]:
    """``p50_ms``, ``p95_ms`` ... from samples in seconds."""
    return {f"p{q}_ms": 1000 * float(np.percentile(seconds, q)) for q in qs}


def write_report(report: dict[str, Any], out: Path) -> None:
    """Write ``report`` as indented JSON to ``out`` and say where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


def oip_bytes_request(image: bytes) -> tuple[bytes, dict[str, str]]:
    """An Open Inference ``infer`` body carrying one encoded image as a binary ``BYTES``
    tensor (its length-prefixed bytes after the JSON header), and the header saying where the
    JSON ends; answers come back binary too."""
    payload = struct.pack("<I", len(image)) + image
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "IMAGE",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(payload)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    return header + payload, {"Inference-Header-Content-Length": str(len(header))}
