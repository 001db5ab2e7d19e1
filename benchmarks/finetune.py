"""Benchmark: ``train --method finetune`` on the CPU and, where PyTorch sees one, a CUDA GPU.

The base is MobileNet V3 Small from torchvision when it is installed (randomly initialised:
nothing is downloaded), else a small four-layer CNN; it is saved as TorchScript and registered
at 224 px. Generated JPEGs (the five shape classes of ``benchmarks/train.py``) are fine-tuned
with every layer unfrozen for a fixed number of epochs on each device, and the script reports
the whole run's wall time, the seconds per epoch and training images per second.

Prints a table and writes JSON (``--out``, default ``benchmarks/results/finetune.json``).

    python benchmarks/finetune.py [--images 512] [--epochs 3] [--devices cpu cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import machine, write_report
from rich.console import Console
from rich.table import Table
from train import make_dataset

from localvision.config import Settings
from localvision.registry import Registry
from localvision.training.dataset import load_dataset
from localvision.training.finetune import finetune

ROOT = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "finetune.json"
    )
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3)
    default_devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    parser.add_argument("--devices", nargs="+", default=default_devices)
    args = parser.parse_args(argv)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_dataset(root / "train", args.images, seed=0)
        network, name = base_network(torch)
        torch.jit.save(torch.jit.trace(network, torch.rand(2, 3, 224, 224)), str(root / "base.pt"))
        settings = Settings(home=root / "home")
        Registry(settings.home).add(
            "base",
            root / "base.pt",
            format_name="torchscript",
            card={"input_size": [224, 224], "labels": [f"class{i}" for i in range(10)]},
        )
        data = load_dataset(root / "train")
        for device in args.devices:
            start = time.perf_counter()
            result = finetune(
                data,
                base="base",
                name=f"tuned-{device.replace(':', '-')}",
                settings=settings,
                epochs=args.epochs,
                unfreeze=1000,  # every layer trains
                patience=args.epochs,
                device=device,
            )
            total = time.perf_counter() - start
            epochs = [h["seconds"] for h in result.history]
            images = result.metrics["train_images"]
            runs.append(
                {
                    "device": result.entry.lineage["device"],
                    "wall_s": total,
                    "epoch_s": epochs,
                    "train_images_per_s": images * len(epochs) / sum(epochs),
                    "outside_epochs_s": total - sum(epochs),
                    "val_accuracy": result.metrics["val_accuracy"],
                }
            )
    report = {
        "machine": {**machine(), "torch": torch.__version__},
        "network": name,
        "images": args.images,
        "epochs": args.epochs,
        "runs": runs,
    }
    table = Table(
        "device",
        "run s",
        "s / epoch",
        "train images/s",
        "outside epochs s",
        "val acc",
        title=f"fine-tune {name} on {args.images} images, {args.epochs} epochs, all layers",
    )
    for run in runs:
        table.add_row(
            run["device"],
            f"{run['wall_s']:.1f}",
            " ".join(f"{s:.2f}" for s in run["epoch_s"]),
            f"{run['train_images_per_s']:.0f}",
            f"{run['outside_epochs_s']:.1f}",
            f"{run['val_accuracy']:.2f}",
        )
    Console().print(table)
    write_report(report, args.out)
    return 0


def base_network(torch: Any) -> tuple[Any, str]:
    """MobileNet V3 Small (random weights) if torchvision is there, else a small CNN."""
    torch.manual_seed(0)
    try:
        from torchvision.models import mobilenet_v3_small

        return mobilenet_v3_small(weights=None, num_classes=10).eval(), "MobileNet V3 Small"
    except ImportError:
        layers: list[Any] = []
        channels = 3
        for width in (32, 64, 128, 256):
            layers += [torch.nn.Conv2d(channels, width, 3, stride=2, padding=1), torch.nn.ReLU()]
            channels = width
        layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(256, 10)]
        return torch.nn.Sequential(*layers).eval(), "a four-layer CNN (torchvision not installed)"


if __name__ == "__main__":
    sys.exit(main())
