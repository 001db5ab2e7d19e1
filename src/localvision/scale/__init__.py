"""Beyond one machine: batch jobs in-process or on Ray Data, and the server on Ray Serve.

The batch side (``localvision batch``, :func:`run_batch`) turns folders, globs, list files and
storage prefixes (:mod:`.inputs`, :mod:`.storage_prefix`) into one row per image (:mod:`.rows`),
written by one writer (:mod:`.writer`) into an output folder of part files (:mod:`.output`),
either in this process (:mod:`.local`) or on Ray Data (:mod:`.ray_data`), through the same
loop (:mod:`.job`), so both give the same rows; a rerun resumes. :mod:`.ray_serve` runs the
server's own app as a Ray Serve deployment (``serve --ray``); :mod:`.cluster` joins Ray.
Nothing here imports Ray until a Ray path runs.
"""

from __future__ import annotations

from .batch import run_batch
from .inputs import list_inputs
from .job import BatchJob, JobRunner
from .output import FORMATS, BatchOutput, OutputFormat
from .rows import Row, result_row
from .summary import BatchSummary

__all__ = [
    "FORMATS",
    "BatchJob",
    "BatchOutput",
    "BatchSummary",
    "JobRunner",
    "OutputFormat",
    "Row",
    "list_inputs",
    "result_row",
    "run_batch",
]
