"""A batch job's output: a folder of part files, Parquet or JSON Lines, that a rerun resumes.

Both batch paths write the same folder the same way (:mod:`.writer`): rows go into part files
(``part-<run>-<n>.parquet`` or ``.jsonl``), each written to a hidden temporary file and renamed
into place, so a part is either whole or absent. That is what makes runs resumable: a rerun
reads the ``path`` column of every part, skips those inputs, and writes its own new parts; an
interrupted run loses at most the rows of the part it had not finished, which the rerun
annotates again. Rows of images that failed for a passing reason (storage unreachable, a time
limit, overload) are taken out before a rerun, which tries them again; ``--retry-failed``
takes out every failed row. A lock file keeps two runs out of one folder at once.

The folder reads as one table: ``pandas.read_parquet(OUT)``, ``pyarrow.dataset.dataset(OUT)``,
DuckDB's ``'OUT/*.parquet'``, or ``cat OUT/*.jsonl``. In Parquet each feature column is JSON
text (:mod:`.rows`); in JSON Lines it is the JSON value itself.

A small manifest (``_localvision_batch.json``) records the features and format, so a rerun
asking for other features does not mix two kinds of row in one folder.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

from ..errors import InvalidParameterError
from ..files import atomic_path, file_lock
from ..optional import import_optional
from ..types import Feature
from .rows import Row, columns_for

__all__ = ["FORMATS", "BatchOutput", "OutputFormat", "new_run_id"]

OutputFormat = Literal["parquet", "jsonl"]
FORMATS: tuple[OutputFormat, ...] = ("parquet", "jsonl")
MANIFEST = "_localvision_batch.json"
_SUFFIX: dict[OutputFormat, str] = {"parquet": ".parquet", "jsonl": ".jsonl"}


def new_run_id() -> str:
    """A short id naming one run's parts apart from every other run's."""
    return uuid.uuid4().hex[:12]


class BatchOutput:
    """The output folder of a job asking for ``features``, written as ``fmt``.

    Picklable (Ray's actors get one, for the schema): it is only a path and a description;
    nothing is opened until a method runs.
    """

    def __init__(
        self, folder: str | Path, features: Sequence[Feature], fmt: OutputFormat = "parquet"
    ) -> None:
        if fmt not in FORMATS:
            raise InvalidParameterError(
                f"The output format must be one of {', '.join(FORMATS)}. Got {fmt!r} instead."
            )
        self.folder = Path(folder)
        self.features = tuple(features)
        self.format: OutputFormat = fmt
        self.columns = columns_for(self.features)

    def prepare(self) -> None:
        """Create the folder, or check that one holding rows holds rows of this kind.

        Raises :class:`InvalidParameterError` when the folder is a file, or holds a job's
        rows with other features or another format (resuming it would mix the two), and
        :class:`~localvision.errors.MissingDependencyError` for Parquet without pyarrow.
        """
        if self.format == "parquet":
            _pyarrow("parquet")  # a missing extra is one error now, not after the first part
        if self.folder.exists() and not self.folder.is_dir():
            raise InvalidParameterError(
                f"--output {self.folder} is a file; batch writes a folder of part files.",
                hint="Name a folder (new or from an earlier run of the same job).",
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        wanted = self._manifest()
        manifest = self.folder / MANIFEST
        if manifest.is_file():
            found = json.loads(manifest.read_text(encoding="utf-8"))
            if found != wanted:
                raise InvalidParameterError(
                    f"{self.folder} holds rows of another job (features "
                    f"{', '.join(found.get('features', []))}, format {found.get('format')}); "
                    f"this one asks for {', '.join(wanted['features'])} as {self.format}.",
                    hint="Use another --output, or the same --features and --format to resume.",
                )
            return
        with atomic_path(manifest) as tmp:
            tmp.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")

    def lock(self) -> AbstractContextManager[None]:
        """Held by a run for its whole length: two runs into one folder would both annotate
        the images neither had finished, and write them twice."""
        return file_lock(self.folder / ".lock")

    def remove_leftovers(self) -> None:
        """Delete temporary part files a killed run left behind (call it holding the lock)."""
        for leftover in self.folder.glob(".part-*.tmp"):
            leftover.unlink(missing_ok=True)

    def parts(self) -> list[Path]:
        """The finished part files, sorted by name (temporary files are hidden)."""
        if not self.folder.is_dir():
            return []
        suffix = _SUFFIX[self.format]
        return sorted(
            p
            for p in self.folder.iterdir()
            if p.is_file() and p.name.startswith("part-") and p.name.endswith(suffix)
        )

    def done(self) -> set[str]:
        """Every input already answered in the folder (its ``path`` column)."""
        found: set[str] = set()
        for part in self.parts():
            found.update(str(row["path"]) for row in self._read(part, columns=["path"]))
        return found

    def drop_failed(self, codes: Collection[str] | None = None) -> int:
        """Remove the rows of images that failed (with one of ``codes``; None: any error), so
        a rerun annotates them again; returns how many went. Call it holding the lock.

        Each part holding such rows is rewritten without them (atomically, like any part) or
        removed when nothing is left: the folder never holds two rows for one input.
        """
        dropped = 0
        for part in self.parts():
            rows = list(self._read(part))
            kept = [row for row in rows if not _failed(row, codes)]
            if len(kept) == len(rows):
                continue
            dropped += len(rows) - len(kept)
            if kept:
                self.write_part(kept, part.name)
            else:
                part.unlink()
        return dropped

    def rows(self) -> Iterator[Row]:
        """Every row in the folder, part after part, in the form :mod:`.rows` makes them."""
        for part in self.parts():
            yield from self._read(part)

    def part_name(self, run_id: str, index: int) -> str:
        """The file name of part ``index`` of run ``run_id``."""
        return f"part-{run_id}-{index:06d}{_SUFFIX[self.format]}"

    def write_part(self, rows: Sequence[Row], name: str) -> Path:
        """Write ``rows`` as the part file ``name``, atomically; returns its path."""
        target = self.folder / name
        with atomic_path(target) as tmp:
            if self.format == "parquet":
                self._write_parquet(rows, tmp)
            else:
                self._write_jsonl(rows, tmp)
        return target

    def _manifest(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "features": [f.value for f in self.features],
            "columns": [name for name, _ in self.columns],
        }

    def _write_parquet(self, rows: Sequence[Row], path: Path) -> None:
        table = _pyarrow().Table.from_pylist(list(rows), schema=self.arrow_schema())
        _pyarrow("parquet").write_table(table, path)

    def arrow_schema(self) -> Any:
        """The Parquet schema: strings and 64-bit integers, every column nullable."""
        pa = _pyarrow()
        types = {str: pa.string(), int: pa.int64()}
        return pa.schema([(name, types[kind]) for name, kind in self.columns])

    def _write_jsonl(self, rows: Iterable[Row], path: Path) -> None:
        features = {f.value for f in self.features}
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                line = {
                    k: json.loads(v) if k in features and v is not None else v
                    for k, v in row.items()
                }
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    def _read(self, part: Path, columns: list[str] | None = None) -> Iterator[Row]:
        if self.format == "parquet":
            yield from _pyarrow("parquet").read_table(part, columns=columns).to_pylist()
            return
        features = {f.value for f in self.features}
        with part.open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if columns is not None:
                    yield {k: row.get(k) for k in columns}
                    continue
                yield {
                    k: _compact(v) if k in features and v is not None else v for k, v in row.items()
                }


def _failed(row: Row, codes: Collection[str] | None) -> bool:
    code = row.get("error_code")
    return code is not None and (codes is None or code in codes)


def _compact(value: Any) -> str:
    """A JSON Lines feature value back in the row's text form (see :func:`.rows.result_row`)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _pyarrow(module: str = "") -> Any:
    """``pyarrow`` (or ``pyarrow.<module>``), which comes with the ``ray`` extra."""
    name = f"pyarrow.{module}" if module else "pyarrow"
    return import_optional(name, extra="ray", purpose="write Parquet (--format jsonl needs none)")
