"""The in-process batch path: one engine on this machine, rows written part by part.

The engine decodes on its thread pool while the previous batch runs through the model
(:class:`~localvision.engine.LocalEngine`); rows go to the shared :class:`~.writer.PartWriter`,
so a run stopped early keeps every row it answered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..models.model import Model
from ..types import Feature
from .job import BatchJob, JobRunner
from .output import BatchOutput
from .rows import Row
from .summary import BatchSummary
from .writer import ROWS_PER_PART, PartWriter

__all__ = ["run_local"]


def run_local(
    job: BatchJob,
    todo: Sequence[str],
    output: BatchOutput,
    *,
    models: Mapping[Feature, Model] | None = None,
    on_row: Callable[[Row], None] | None = None,
    rows_per_part: int = ROWS_PER_PART,
) -> BatchSummary:
    """Annotate ``todo`` in this process and write their rows into ``output`` (prepared).

    ``models``: models already loaded for ``job`` (closed here with the engine); ``on_row`` is
    called with each row once it is buffered (a progress bar; an exception it raises stops the
    run after the buffered rows are written).
    """
    summary = BatchSummary(listed=len(todo))
    with (
        PartWriter(output, summary, on_row=on_row, rows_per_part=rows_per_part) as writer,
        JobRunner(job, models) as runner,
    ):
        for row in runner.rows(todo):
            writer.add(row)
    return summary
