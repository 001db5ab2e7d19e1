"""``localvision train`` and ``localvision eval``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..api import resolve_model
from ..imaging.decode import ImageLimits
from ..metrics.evaluation import evaluate
from ..metrics.evaluation_report import html_report
from ..training.dataset import load_dataset
from ..training.finetune import EpochReport, finetune
from ..training.train import train as run_training
from .errors import reported
from .options import ConfigFile, JsonFlag, load_settings

__all__ = ["eval_command", "train_command"]

Data = Annotated[
    Path, typer.Argument(metavar="DATA", help="A folder with one sub-folder of images per class.")
]
CsvFile = Annotated[Path | None, typer.Option("--csv", help="A CSV of file,label rows instead.")]


def train_command(
    data: Data,
    base: Annotated[
        str, typer.Option("--base", help="Registered (or file) classifier to build on.")
    ],
    name: Annotated[str, typer.Option("--name", help="Register the result under this name.")],
    csv_file: CsvFile = None,
    method: Annotated[
        str,
        typer.Option(
            help="head: train a new head on the frozen base (any format). finetune: also "
            "train the base's last layers with PyTorch (PyTorch and Keras bases)."
        ),
    ] = "head",
    head: Annotated[str, typer.Option(help="linear or mlp (method head).")] = "linear",
    epochs: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=10000,
            help="Most optimiser iterations (head, default 300) or epochs (finetune, 15).",
        ),
    ] = None,
    unfreeze: Annotated[
        int, typer.Option(min=0, help="Layers before the head that train too (finetune).")
    ] = 2,
    learning_rate: Annotated[
        float, typer.Option(min=1e-7, max=1.0, help="The head's learning rate (finetune).")
    ] = 1e-3,
    device: Annotated[
        str,
        typer.Option(help="auto (a CUDA GPU if PyTorch sees one), cpu, cuda, cuda:1 (finetune)."),
    ] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
    validation: Annotated[
        float,
        typer.Option(
            help="Share of each class held out: finetune always; head only past 2,000 images "
            "(smaller sets are cross-validated, then the head is fitted on every image)."
        ),
    ] = 0.2,
    feature_tensor: Annotated[
        str | None, typer.Option(help="Cut the base at this tensor instead of finding it.")
    ] = None,
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """Train on your images over a classifier; register the result as a new version.

    Example: localvision train data/pets --base mobilenet --name pets
    """
    if head not in ("linear", "mlp"):
        raise typer.BadParameter("--head must be linear or mlp")
    if method not in ("head", "finetune"):
        raise typer.BadParameter("--method must be head or finetune")
    if method == "finetune" and (feature_tensor or head != "linear"):
        raise typer.BadParameter("--feature-tensor and --head apply to --method head only")
    console = Console(stderr=True)
    with reported():
        settings = load_settings(config)
        dataset = load_dataset(data, csv_file=csv_file)
        for warning in dataset.warnings():
            console.print(f"[yellow]warning: {warning}[/yellow]")
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:

            def progress(label: str, total: int, _: int) -> Callable[[int], None]:
                task = bar.add_task(label, total=total)
                return lambda n: bar.advance(task, n)

            if method == "finetune":

                def report(epoch: EpochReport) -> None:
                    console.print(
                        f"epoch {epoch.epoch}/{epoch.epochs}: loss {epoch.train_loss:.4f}, "
                        f"val_loss {epoch.val_loss:.4f}, val_accuracy {epoch.val_accuracy:.3f} "
                        f"({epoch.seconds:.1f} s)"
                    )

                result = finetune(
                    dataset,
                    base=base,
                    name=name,
                    settings=settings,
                    epochs=epochs or 15,
                    unfreeze=unfreeze,
                    learning_rate=learning_rate,
                    device=device,
                    seed=seed,
                    validation_fraction=validation,
                    progress=progress,
                    on_epoch=report,
                )
            else:
                result = run_training(
                    dataset,
                    base=base,
                    name=name,
                    settings=settings,
                    hidden=128 if head == "mlp" else 0,
                    epochs=epochs or 300,
                    seed=seed,
                    validation_fraction=validation,
                    feature_tensor=feature_tensor,
                    progress=progress,
                )
    for path, reason in result.skipped:
        console.print(f"[yellow]skipped {path}: {reason}[/yellow]")
    for first, second in result.duplicates:
        console.print(f"[yellow]duplicate images: {first} = {second}[/yellow]")
    summary = {
        "model": result.entry.ref,
        **result.metrics,
        **({"cache_hits": result.cache_hits} if method == "head" else {}),
        "skipped": len(result.skipped),
        "duplicates": len(result.duplicates),
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(
            f"registered {result.entry.ref}: "
            + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in summary.items()
                if k != "model"
            )
        )


def eval_command(
    model: Annotated[
        str, typer.Argument(metavar="MODEL", help="Registered model (NAME[@VERSION]) or file.")
    ],
    data: Data,
    csv_file: CsvFile = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    as_json: JsonFlag = False,
    config: ConfigFile = None,
) -> None:
    """Measure a classifier on labelled images: accuracy, top-5, per class, calibration."""
    with reported():
        settings = load_settings(config)
        dataset = load_dataset(data, csv_file=csv_file)
        loaded = resolve_model(model, settings)
        try:
            result = evaluate(
                loaded,
                dataset,
                limits=ImageLimits(settings.max_image_bytes, settings.max_image_pixels),
            )
        finally:
            loaded.close()
    if report is not None:
        html_report(result, report)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    console = Console()
    first, second = (
        ("exact-set accuracy", "best label right")
        if result.multi_label
        else (
            "accuracy",
            "top-5",
        )
    )
    console.print(
        f"[bold]{result.model}[/bold] on {result.count} images: {first} {result.accuracy:.1%}, "
        f"{second} {result.top5:.1%}, macro F1 {result.macro_f1:.3f}, ECE {result.ece:.3f}"
    )
    table = Table("class", "images", "precision", "recall", "F1")
    for c in result.per_class:
        table.add_row(
            c["label"],
            str(c["support"]),
            f"{c['precision']:.3f}",
            f"{c['recall']:.3f}",
            f"{c['f1']:.3f}",
        )
    console.print(table)
    if report is not None:
        console.print(f"report: {report}")
