"""Rendering results: JSON Lines for scripts, a table for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import LocalVisionError
from ..types import AnnotateResult

__all__ = ["ResultPrinter", "progress"]

PROGRESS_THRESHOLD = 4  # show a progress bar past this many images


class ResultPrinter:
    """Prints each result as it arrives (``--json``: one object per line) and counts failures."""

    def __init__(self, *, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.failed = 0
        self._rows: list[AnnotateResult] = []

    def add(self, result: AnnotateResult) -> None:
        if result.error is not None:
            self.failed += 1
        if self.as_json:
            self.stream.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
            self.stream.flush()
        else:
            self._rows.append(result)

    def report_failure(self, name: str, what: str, error: BaseException) -> None:
        """One line on stderr for something that failed on image ``name`` after its result
        was printed (drawing it, say), counted as a failed image: never a traceback."""
        self.failed += 1
        detail = error.message if isinstance(error, LocalVisionError) else str(error)
        if isinstance(error, LocalVisionError) and error.hint:
            detail += f" {error.hint}"
        print(f"error: {name}: {what}: {detail or type(error).__name__}", file=sys.stderr)

    def finish(self) -> None:
        """Print the table (human mode) once every result is in."""
        if self.as_json or not self._rows:
            return
        table = Table(show_header=True, header_style="bold", expand=False)
        table.add_column("image", overflow="fold")
        table.add_column("annotations", overflow="fold")
        for result in self._rows:
            table.add_row(result.name or "", _describe(result))
        Console(file=self.stream, soft_wrap=False).print(table)


def _describe(result: AnnotateResult) -> str:
    parts: list[str] = []
    if result.labels is not None:
        if result.labels:
            parts.append(", ".join(f"{_short(lab.name)} {lab.score:.1%}" for lab in result.labels))
        else:
            parts.append("[dim]no label above the minimum score[/dim]")
    if result.objects is not None:
        found = ", ".join(
            f"{_short(o.name)} {o.score:.0%} at "
            f"({o.left:.0f},{o.top:.0f})-({o.right:.0f},{o.bottom:.0f})"
            for o in result.objects[:10]
        )
        parts.append(f"objects: {found or 'none'}")
    if result.text is not None:
        parts.append("text: " + (" / ".join(_escape(line.text) for line in result.text) or "none"))
    if result.faces is not None:
        parts.append(
            f"faces: {len(result.faces)}"
            + "".join(
                f", ({f.left:.0f},{f.top:.0f})-({f.right:.0f},{f.bottom:.0f}) {f.confidence:.0%}"
                for f in result.faces[:5]
            )
        )
    if result.colors:
        swatches = ", ".join(
            f"[on {c.hex}]  [/] {c.name} {c.pixel_fraction:.0%}" for c in result.colors[:5]
        )
        parts.append(f"colours: {swatches}")
    if result.quality is not None:
        q = result.quality
        parts.append(
            f"brightness {q.brightness:.2f}, sharpness {q.sharpness:.2f}, contrast {q.contrast:.2f}"
        )
    for hint in result.crop_hints or []:
        parts.append(
            f"crop {hint.aspect_ratio:g}: ({hint.left},{hint.top})-({hint.right},{hint.bottom}) "
            f"keeps {hint.importance_fraction:.0%}"
        )
    if result.error is not None:
        text = result.error.message + (f" {result.error.hint}" if result.error.hint else "")
        parts.append(f"[red]error: {_escape(text)}[/red]")
    return "\n".join(parts)


def _short(label: str) -> str:
    """A label as the model names it (ImageNet's "tabby, tabby cat" whole): the same text the
    JSON lines, the Python API and every server protocol give."""
    return _escape(label)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


@contextmanager
def progress(total: int, *, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr, shown past a few images when stderr is a terminal."""
    console = Console(stderr=True)
    show = enabled and total > PROGRESS_THRESHOLD and console.is_terminal
    if not show:
        yield lambda: None
        return
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("annotating", total=total)
        yield lambda: bar.advance(task)


def consume(
    results: Iterable[AnnotateResult],
    printer: ResultPrinter,
    advance: Any,
    *,
    on_result: Any = None,
) -> None:
    """Feed every result to ``printer`` (and ``on_result``), advancing the progress bar."""
    for result in results:
        printer.add(result)
        if on_result is not None:
            on_result(result)
        advance()
    printer.finish()
