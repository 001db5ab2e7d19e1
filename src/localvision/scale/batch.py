"""``localvision batch`` as a function: inputs in, rows into an output folder, resumable.

Example::

    from localvision.config import Settings
    from localvision.scale import BatchJob, BatchOutput, list_inputs, run_batch
    from localvision.types import Feature, FeatureRequest

    settings = Settings.load()
    job = BatchJob((FeatureRequest(Feature.LABELS),), settings, {Feature.LABELS: "mobilenet"})
    output = BatchOutput("labels.parquet", job.feature_list)
    summary = run_batch(job, list_inputs(["photos/"]), output)           # here
    summary = run_batch(job, list_inputs(["photos/"]), output, ray="")   # on Ray
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from ..errors import (
    OverloadedError,
    RequestTimeoutError,
    ServerUnavailableError,
    StorageUnavailableError,
)
from ..models.model import Model
from ..types import Feature
from .job import BatchJob
from .output import BatchOutput
from .rows import Row
from .summary import BatchSummary

__all__ = ["TRANSIENT_CODES", "run_batch"]

TRANSIENT_CODES = frozenset(
    error.code
    for error in (
        StorageUnavailableError,
        RequestTimeoutError,
        OverloadedError,
        ServerUnavailableError,
    )
)
"""Error codes of failures that may pass: a rerun tries those images again by itself."""


def run_batch(
    job: BatchJob,
    items: Sequence[str],
    output: BatchOutput,
    *,
    ray: str | None = None,
    models: Mapping[Feature, Model] | None = None,
    on_row: Callable[[Row], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    retry_failed: bool = False,
) -> BatchSummary:
    """Annotate every item not yet in ``output`` and write their rows there.

    ``ray``: None runs in this process (with ``models`` when already loaded, which this call
    closes); otherwise the Ray address (``""``: ``[ray] address`` or a local Ray; see
    :mod:`.cluster`), and the job runs on Ray Data. ``on_row`` is called with each row as it
    is written (a progress bar; an exception it raises stops the run, rows kept).
    ``on_start(todo, skipped)`` is called once the inputs already in ``output`` are known.
    Items listed twice are annotated once. Images whose rows in ``output`` hold a passing
    error (:data:`TRANSIENT_CODES`) are annotated again; with ``retry_failed``, every image
    whose row holds an error is.
    """
    handed = False
    try:
        with _ray_for(job, ray) as on_ray:
            output.prepare()
            with output.lock():
                output.remove_leftovers()
                output.drop_failed(None if retry_failed else TRANSIENT_CODES)
                done = output.done()
                unique = list(dict.fromkeys(items))
                todo = [item for item in unique if item not in done]
                skipped = len(unique) - len(todo)
                if on_start is not None:
                    on_start(len(todo), skipped)
                if on_ray:
                    from .ray_data import run_on_ray

                    summary = run_on_ray(job, todo, output, on_row=on_row)
                else:
                    from .local import run_local

                    handed = True  # the run's engine closes them from here on
                    summary = run_local(job, todo, output, models=models, on_row=on_row)
    finally:
        if models is not None and not handed:
            for model in {id(m): m for m in models.values()}.values():
                model.close()
    summary.skipped = skipped
    return summary


@contextmanager
def _ray_for(job: BatchJob, address: str | None) -> Iterator[bool]:
    """Joined to Ray for the block when ``address`` is not None (yields whether it is)."""
    if address is None:
        yield False
        return
    from .cluster import connected

    with connected(address, job.settings.ray):
        yield True
