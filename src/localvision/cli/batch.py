"""``localvision batch``: annotate many images into Parquet or JSON Lines, here or on Ray.

The work is :func:`localvision.scale.run_batch`; this module reads the options, loads the
models before anything runs (a model that does not load is one line and exit status 2), shows
a progress bar with images per second and the time left, and prints what was done.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..config import Settings
from ..engine import BUILTIN_FEATURES
from ..errors import InvalidParameterError
from ..scale import FORMATS, BatchJob, BatchOutput, BatchSummary, list_inputs, run_batch
from ..tasks.registry import unavailable_error
from ..types import Feature, FeatureRequest
from .errors import EXIT_FAILED_IMAGES, EXIT_OK, reported
from .options import (
    AllowPickle,
    BatchSize,
    ConfigFile,
    LabelsFile,
    Providers,
    Threads,
    feature_list,
    load_settings,
)
from .ray_option import RayAddress

__all__ = ["batch_command"]

EXIT_INTERRUPTED = 130
"""Ctrl-C: the rows answered so far are written; the same command resumes."""


def batch_command(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT",
            help="Folders (searched recursively), globs, list files (.txt: one path or URI a "
            "line) or storage prefixes (s3://bucket/photos/).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder of part files to write; a rerun into it skips the images it holds.",
        ),
    ],
    features: Annotated[
        str,
        typer.Option(
            "--features", "-f", help="Comma-separated: labels, objects, faces, colors, ..."
        ),
    ] = "labels",
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model file or configured name for the features."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="parquet (one column per feature) or jsonl.")
    ] = "parquet",
    max_results: Annotated[int | None, typer.Option("--max-results", min=1, max=10000)] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", min=0.0, max=1.0)] = None,
    ray: RayAddress = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="Annotate again the images whose rows in OUTPUT hold an error (those that "
            "failed for a passing reason, such as storage out of reach, always are).",
        ),
    ] = False,
    labels: LabelsFile = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object on stdout.")
    ] = False,
    allow_pickle: AllowPickle = False,
    batch_size: BatchSize = None,
    threads: Threads = None,
    providers: Providers = None,
    config: ConfigFile = None,
) -> None:
    """Annotate every image of folders, globs, list files or storage prefixes into OUTPUT.

    One row per image (path, size, each feature's result as JSON, the error of an image that
    failed), in Parquet or JSON Lines part files. In this process by default; --ray runs the
    same work on Ray Data and writes the same rows. Interrupted? Run it again: images already
    in OUTPUT are skipped, but those that failed for a passing reason (storage out of reach, a
    time limit) are tried again; --retry-failed tries every failed one again.

    Example: localvision batch photos/ -f labels -m mobilenet.onnx -o labels.parquet --ray
    """
    with reported():
        settings = load_settings(
            config,
            batch_size=batch_size,
            threads=threads,
            providers=providers,
            allow_pickle=allow_pickle,
        )
        job = _job(features, model, max_results, min_score, labels, settings)
        if fmt not in FORMATS:
            raise InvalidParameterError(
                f"--format must be one of {', '.join(FORMATS)}. Got {fmt!r} instead."
            )
        target = BatchOutput(output, job.feature_list, fmt)
        items = list_inputs(inputs)
        if not items:
            raise InvalidParameterError(
                "No images found in " + ", ".join(inputs) + ".",
                hint="Pass folders, image files, globs, list files or storage prefixes.",
            )
        # In this process the models load now, before anything is written; on Ray they are
        # loaded on a worker before the job starts.
        models = job.load_models() if ray is None else None
        with _progress() as bar:
            try:
                summary = run_batch(
                    job,
                    items,
                    target,
                    ray=ray,
                    models=models,
                    on_row=bar.advance,
                    on_start=bar.start,
                    retry_failed=retry_failed,
                )
            except KeyboardInterrupt:
                bar.stop()
                print(
                    f"interrupted: the rows answered so far are in {output}; run the same "
                    "command again to resume.",
                    file=sys.stderr,
                )
                raise typer.Exit(EXIT_INTERRUPTED) from None
    _report(summary, output, as_json)
    raise typer.Exit(EXIT_FAILED_IMAGES if summary.failed else EXIT_OK)


def _job(
    features: str,
    model: str | None,
    max_results: int | None,
    min_score: float | None,
    labels: Path | None,
    settings: Settings,
) -> BatchJob:
    """The job the options describe; a feature that needs a model and has none is an error."""
    wanted = feature_list(features)
    refs: dict[Feature, str] = {}
    for feature in wanted:
        if feature in BUILTIN_FEATURES:
            continue
        ref = model or settings.features.get(feature.value)
        if ref is None:
            # A whole batch of rows saying "not available" helps nobody: say it once, now.
            raise unavailable_error(feature)
        refs[feature] = ref
    requests = tuple(
        FeatureRequest(feature, max_results=max_results, min_score=min_score) for feature in wanted
    )
    return BatchJob(requests, settings, refs, str(labels) if labels else None)


def _report(summary: BatchSummary, output: Path, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"output": str(output), **summary.to_dict()}))
        return
    skipped = f", {summary.skipped} already there" if summary.skipped else ""
    failed = f" ({summary.failed} failed)" if summary.failed else ""
    images = "image" if summary.written == 1 else "images"
    print(
        f"{summary.written} {images}{failed} written to {output}{skipped}, "
        f"in {summary.seconds:.1f} s ({summary.images_per_s:.1f} images/s)",
        file=sys.stderr,
    )


class _Rate(ProgressColumn):
    """Images per second so far."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed:.1f} images/s" if speed else "- images/s")


class _Bar:
    """A progress bar on stderr, when it is a terminal; no-ops otherwise."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.task: Any = None

    def start(self, todo: int, skipped: int) -> None:
        if self.progress is not None:
            label = f"annotating ({skipped} already done)" if skipped else "annotating"
            self.task = self.progress.add_task(label, total=todo)

    def advance(self, row: object) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def _progress() -> Iterator[_Bar]:
    console = Console(stderr=True)
    if not console.is_terminal:
        yield _Bar(None)
        return
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        yield _Bar(progress)
