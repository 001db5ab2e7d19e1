"""Rows into part files as they arrive: the writer both batch paths share.

Rows are kept in memory until ``rows_per_part`` of them are in (or ``flush_every_s`` has
passed), then written as one part (:meth:`.output.BatchOutput.write_part`). Leaving the
``with`` block writes what is left, also when the run stops early (Ctrl-C, an error), so the
rerun repeats none of the rows already answered; a run killed outright loses only the rows of
its unwritten part, which the rerun annotates again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .output import BatchOutput, new_run_id
from .rows import Row
from .summary import BatchSummary

__all__ = ["FLUSH_EVERY_S", "ROWS_PER_PART", "PartWriter"]

ROWS_PER_PART = 1000
"""Rows per part file: large enough for Parquet to compress well, small enough that a killed
run repeats little."""
FLUSH_EVERY_S = 60.0
"""A part is written at least this often, so a slow job keeps what it did."""


class PartWriter:
    """Buffers rows for ``output`` and writes them a part at a time; counts them into
    ``summary``. ``on_row`` is called with each row once it is buffered (a progress bar)."""

    def __init__(
        self,
        output: BatchOutput,
        summary: BatchSummary,
        *,
        on_row: Callable[[Row], None] | None = None,
        rows_per_part: int = ROWS_PER_PART,
        flush_every_s: float = FLUSH_EVERY_S,
    ) -> None:
        self.output = output
        self.summary = summary
        self.on_row = on_row
        self.rows_per_part = rows_per_part
        self.flush_every_s = flush_every_s
        self.run_id = new_run_id()
        self._buffer: list[Row] = []
        self._started = self._flushed = time.monotonic()

    def add(self, row: Row) -> None:
        """Buffer one row; write a part when enough rows (or time) have gathered."""
        self._buffer.append(row)
        self.summary.count(row)
        if self.on_row is not None:
            self.on_row(row)
        full = len(self._buffer) >= self.rows_per_part
        if full or time.monotonic() - self._flushed >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as the next part (nothing when none are buffered)."""
        if self._buffer:
            name = self.output.part_name(self.run_id, len(self.summary.parts))
            self.output.write_part(self._buffer, name)
            self.summary.parts.append(name)
            self._buffer.clear()
        self._flushed = time.monotonic()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.summary.seconds = time.monotonic() - self._started
