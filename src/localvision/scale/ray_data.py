"""The Ray Data batch path: the same rows as in-process, from actors across a cluster.

The pipeline is ``from_items(paths) -> map_batches(Annotate) -> iter_batches`` into the part
writer both paths share:

* the inputs go in as their paths, not their bytes: each actor reads its images with the same
  code as the in-process path (:class:`~.job.JobRunner`), so a missing, unreadable or oversized
  input gives the same error row on both paths, and object-storage inputs are read with the
  storage layer's limits and credentials;
* :class:`Annotate` is a callable class, so each actor loads the models once and keeps one
  engine; actors reserve ``[ray] actor_cpus`` / ``actor_gpus`` each, and the engine's threads
  are sized to that share. An actor that dies is restarted and its batch retried by Ray Data,
  which hands each finished block on once: no row is lost or repeated;
* the rows (a few hundred bytes each) stream back to this process and are written by the same
  :class:`~.writer.PartWriter` as in-process, so the output folder is on the machine that ran
  the command (also through Ray Client), a Ctrl-C keeps what was answered, and no write task
  competes with the actors for a CPU.

The models are loaded once on a worker before the job starts (:func:`~.cluster.check_on_worker`),
so a model that does not load there is one error, not a job whose actors fail in turn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import ray
import ray.data

from ..optional import import_optional
from .cluster import check_on_worker, cluster_cpus
from .job import BatchJob, JobRunner
from .output import BatchOutput
from .rows import Row
from .summary import BatchSummary
from .writer import PartWriter

__all__ = ["Annotate", "run_on_ray"]

BLOCKS_PER_ACTOR = 4
"""Blocks of input per actor at least, so that actors finishing early take more work."""
ROWS_PER_BLOCK = 256
"""Inputs per block at most: one actor call each, so a retried block repeats little and rows
come back steadily."""


class Annotate:
    """The ``map_batches`` callable: one engine per actor, a pyarrow table of paths in, a
    pyarrow table of rows out."""

    def __init__(self, job: BatchJob, output: BatchOutput) -> None:
        self.runner = JobRunner(job)
        self.schema = output.arrow_schema()
        self.table = import_optional("pyarrow", extra="ray", purpose="run batch on Ray").Table

    def __call__(self, batch: Any) -> Any:
        paths = [str(p) for p in batch.column("path").to_pylist()]
        rows = list(self.runner.rows(paths))
        return self.table.from_pylist(rows, schema=self.schema)


def run_on_ray(
    job: BatchJob,
    todo: Sequence[str],
    output: BatchOutput,
    *,
    on_row: Callable[[Row], None] | None = None,
    annotate: type[Annotate] = Annotate,
) -> BatchSummary:
    """Annotate ``todo`` on the Ray this process has joined (:func:`~.cluster.connected`) and
    write their rows into ``output`` (prepared); models are checked on a worker first.

    ``on_row`` is called with each row as it arrives (a progress bar); ``annotate`` is the
    actors' class (a subclass that misbehaves lets the tests kill an actor).
    """
    summary = BatchSummary(listed=len(todo))
    if not todo:
        return summary
    settings = job.settings.ray
    actor_job = job.for_cpus(settings.actor_cpus)
    check_on_worker(
        _ModelsLoad(actor_job), num_cpus=settings.actor_cpus, num_gpus=settings.actor_gpus
    )
    actors = settings.actors or max(1, int(cluster_cpus(ray) // settings.actor_cpus))
    actors = min(actors, len(todo))
    blocks = min(len(todo), max(actors * BLOCKS_PER_ACTOR, math.ceil(len(todo) / ROWS_PER_BLOCK)))
    # This module's caller shows its own progress (rows as they arrive): Ray Data's bars
    # would draw over it.
    ray.data.DataContext.get_current().enable_progress_bars = False
    paths = ray.data.from_items([{"path": p} for p in todo], override_num_blocks=blocks)
    rows = paths.map_batches(
        annotate,
        fn_constructor_kwargs={"job": actor_job, "output": output},
        # A whole block per call: the engine then overlaps decoding with the model across
        # the block, in batches of [settings] batch_size, as it does in-process.
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=settings.actor_cpus,
        num_gpus=settings.actor_gpus or None,
    )
    with PartWriter(output, summary, on_row=on_row) as writer:
        for table in rows.iter_batches(batch_size=None, batch_format="pyarrow"):
            arrow: Any = table  # a pyarrow Table, as batch_format asks
            for row in arrow.to_pylist():
                writer.add(row)
    return summary


class _ModelsLoad:
    """Load a job's models and close them again: the check run on a worker."""

    def __init__(self, job: BatchJob) -> None:
        self.job = job

    def __call__(self) -> None:
        for model in self.job.load_models().values():
            model.close()
