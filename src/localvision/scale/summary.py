"""What a batch run did: rows written, failed, skipped, how fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rows import Row

__all__ = ["BatchSummary"]


@dataclass
class BatchSummary:
    """The outcome of one run. ``listed``: inputs this run had to do; ``skipped``: inputs
    already in the output (resumed); ``written``: rows this run wrote; ``failed``: those of
    them with an error; ``parts``: the part files it wrote."""

    listed: int = 0
    skipped: int = 0
    written: int = 0
    failed: int = 0
    seconds: float = 0.0
    parts: list[str] = field(default_factory=list)

    def count(self, row: Row) -> None:
        """Count one written row."""
        self.written += 1
        if row.get("error_type") is not None:
            self.failed += 1

    @property
    def images_per_s(self) -> float:
        """Rows written per second of the run (0 when nothing ran)."""
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary line."""
        return {
            "written": self.written,
            "failed": self.failed,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 2),
            "parts": len(self.parts),
        }
