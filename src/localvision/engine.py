"""The local engine: answers annotate requests with local models.

Decoding and pre-processing run on a thread pool (Pillow and NumPy release the GIL) while the
previous batch runs through the model, so the model rarely waits for JPEG decoding. Images are
decoded at reduced scale when every requested task needs fewer pixels than the image holds.
One bad image never stops the others: its error goes on its own result. Any exception while
decoding, pre- or post-processing one image is that image's error, and a batch whose model run
fails is run again one image at a time, so only the image that breaks it fails.

Threads may share one engine. Where a model runs on an accelerator, while it runs other
callers' images for it wait and go together as its next batch (:mod:`localvision.coalescing`),
so concurrent single-image calls batch themselves without a timer and a lone call never waits;
on the CPU each call runs its own batches side by side (see :func:`merges_runs`).

Example::

    with LocalEngine({Feature.LABELS: model}) as engine:
        for result in engine.annotate_iter(requests):
            print(result.name, result.labels)
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .coalescing import RunCoalescer
from .errors import ImageDecodeError, InferenceError, LocalVisionError
from .imaging.decode import DEFAULT_LIMITS, ImageLimits, decode_image, describe_source
from .models.model import Model
from .tasks import registry
from .tasks.base import Task
from .types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest

__all__ = ["BUILTIN_FEATURES", "LocalEngine", "merges_runs", "task_for"]

BUILTIN_FEATURES = registry.BUILTIN_FEATURES
"""Features answered without a user model (faces and text with their extras installed)."""


def task_for(feature: Feature, model: Model) -> Task:
    """The task answering ``feature`` with ``model`` (see :mod:`localvision.tasks.registry`)."""
    return registry.build_model_task(feature, model)


@dataclass
class _Prepared:
    """One request after decoding and pre-processing, waiting for its batch."""

    result: AnnotateResult
    work: list[tuple[FeatureRequest, Task, Any]] = field(default_factory=list)


_Entry = tuple[_Prepared, FeatureRequest, Any]
"""One image's share of a task's batch: its request, the feature asked, its model input."""


class LocalEngine:
    """An :class:`~localvision.annotator.Annotator` running models on this machine.

    ``models`` maps each feature to the model answering it; the features in
    :data:`BUILTIN_FEATURES` need none. ``batch_size`` caps how many images
    run through a model at once; ``decode_workers`` sizes the decoding pool (default: the CPU
    count, at most 4); ``on_batch(feature, size)`` is called before each model run (metrics).
    It is thread-safe. ``coalesce`` says whether concurrent calls' model runs merge into shared
    batches (:mod:`localvision.coalescing`) or each call runs its own, side by side: None (the
    default) merges where the model runs on an accelerator, see :func:`merges_runs`.
    """

    def __init__(
        self,
        models: Mapping[Feature, Model],
        *,
        limits: ImageLimits = DEFAULT_LIMITS,
        batch_size: int = 16,
        decode_workers: int | None = None,
        on_batch: Callable[[Feature, int], None] | None = None,
        coalesce: bool | None = None,
    ) -> None:
        self._tasks: dict[Feature, Task] = registry.build_builtin_tasks()
        self._tasks.update({f: task_for(f, m) for f, m in models.items()})
        self._on_batch = on_batch
        self.limits = limits
        self.batch_size = max(1, batch_size)
        self._coalescers: dict[int, RunCoalescer[_Entry]] = {
            id(task): RunCoalescer(
                functools.partial(self._run_task, task), max_items=self.batch_size
            )
            for feature, task in self._tasks.items()
            if merges_runs(task, models.get(feature), coalesce)
        }
        workers = decode_workers or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lv-decode")

    @property
    def features(self) -> frozenset[Feature]:
        return frozenset(self._tasks)

    @property
    def waiting_images(self) -> int:
        """Model inputs (one per image and merging task) waiting for a run in flight (a
        snapshot); always 0 where runs do not merge."""
        return sum(coalescer.waiting for coalescer in self._coalescers.values())

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        if len(requests) == 1:  # nothing to overlap: skip the hop to the decoding pool
            prepared = [self._prepare(requests[0])]
            self._run(prepared)
            return [prepared[0].result]
        return list(self.annotate_iter(requests))

    def annotate_iter(self, requests: Iterable[AnnotateRequest]) -> Iterator[AnnotateResult]:
        """Yield results in request order as batches finish; requests may be a lazy stream."""
        pending: deque[Future[_Prepared]] = deque()
        source = iter(requests)
        prefetch = self.batch_size * 2

        def fill() -> None:
            while len(pending) < prefetch:
                request = next(source, None)
                if request is None:
                    return
                pending.append(self._pool.submit(self._prepare, request))

        fill()
        while pending:
            chunk = [pending.popleft() for _ in range(min(self.batch_size, len(pending)))]
            fill()  # the pool decodes the next batch while this one runs
            prepared = [future.result() for future in chunk]
            self._run(prepared)
            for item in prepared:
                yield item.result

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _prepare(self, request: AnnotateRequest) -> _Prepared:
        """Decode and pre-process one request; every failure lands on its own result.

        Never raises: an exception here would surface from ``future.result()`` in
        :meth:`annotate_iter` and fail the whole batch, other callers' images included.
        """
        try:
            name = request.name or describe_source(request.image)
        except Exception:  # an exotic image object whose description fails still gets a result
            name = "<image>"
        prepared = _Prepared(AnnotateResult(name=name))
        try:
            self._decode_and_pre_process(request, prepared)
        except Exception as exc:  # a bug in this method itself: still only this image's error
            prepared.work.clear()
            _fail(prepared.result, _as_error(exc, f"Preparing image {name} failed"))
        return prepared

    def _decode_and_pre_process(self, request: AnnotateRequest, prepared: _Prepared) -> None:
        name = prepared.result.name
        tasks: list[tuple[FeatureRequest, Task]] = []
        for feature_request in request.features:
            task = self._tasks.get(feature_request.feature)
            if task is None:
                _fail(prepared.result, registry.unavailable_error(feature_request.feature))
            else:
                tasks.append((feature_request, task))
        if not tasks:
            return
        sides = [task.min_side for _, task in tasks]
        min_side = None if None in sides else max(s for s in sides if s is not None)
        try:
            image = decode_image(request.image, limits=self.limits, min_side=min_side, name=name)
        except LocalVisionError as exc:
            _fail(prepared.result, exc)
            return
        except Exception as exc:  # decode_image promises its own errors; belt and braces
            _fail(prepared.result, ImageDecodeError(f"Image {name} cannot be decoded: {exc}."))
            return
        prepared.result.width, prepared.result.height = image.width, image.height
        for feature_request, task in tasks:
            try:
                prepared.work.append((feature_request, task, task.pre_process(image)))
            except Exception as exc:  # one image a task cannot prepare fails alone
                _fail(prepared.result, _as_error(exc, _step(task, "preparing", name)))

    def _run(self, prepared: list[_Prepared]) -> None:
        """Run each task over these images; a model's runs merge with other callers' waiting."""
        by_task: dict[int, list[_Entry]] = {}
        tasks: dict[int, Task] = {}
        for item in prepared:
            for feature_request, task, tensor in item.work:
                by_task.setdefault(id(task), []).append((item, feature_request, tensor))
                tasks[id(task)] = task
        for key, entries in by_task.items():
            coalescer = self._coalescers.get(key)
            if coalescer is None:
                self._run_task(tasks[key], entries)
            else:
                coalescer.submit(entries)

    def _run_task(self, task: Task, entries: list[_Entry]) -> None:
        """One batch of ``task``: counted (``on_batch``), then forwarded."""
        if self._on_batch is not None:
            self._on_batch(task.feature, len(entries))
        self._forward(task, entries)

    def _forward(self, task: Task, entries: list[_Entry]) -> None:
        """Run one task's batch and post-process each output onto its own result.

        The batch may hold other callers' images too (see :mod:`localvision.coalescing`).
        When the batch as a whole fails and holds more than one image, each image runs again
        alone: a batch never fails because of one member, so only the image that breaks the
        model gets the error (a runtime that is down fails each image with its own error).
        """
        try:
            outputs = task.forward([tensor for _, _, tensor in entries])
            if len(outputs) != len(entries):
                raise InferenceError(
                    f"{task.feature.value} returned {len(outputs)} outputs "
                    f"for {len(entries)} images."
                )
        except Exception as exc:  # a runtime bug must not take the other images down
            if len(entries) > 1:
                for entry in entries:
                    self._forward(task, [entry])
                return
            ((item, _, _),) = entries
            _fail(item.result, _as_error(exc, f"Running {task.feature.value} failed"))
            return
        for (item, feature_request, _), raw in zip(entries, outputs, strict=True):
            size = (item.result.width or 0, item.result.height or 0)
            try:
                task.post_process(raw, size, feature_request, item.result)
            except Exception as exc:  # one output a task cannot read fails alone
                _fail(
                    item.result,
                    _as_error(exc, _step(task, "reading the output for", item.result.name)),
                )


def merges_runs(task: Task, model: Model | None, coalesce: bool | None) -> bool:
    """Whether concurrent callers' runs of ``task`` (answered by ``model``) merge.

    Only tasks whose forward is one model run over the batch merge at all. ``coalesce`` None
    merges those whose model's first device is an accelerator (:attr:`Model.on_accelerator`),
    where batching is the main lever, and keeps runs apart on the CPU: there, runs side by side
    overlap one caller's decoding with another's model run, and measured 4-12 % more images a
    second at 16 threads than merged runs, for about 5 % more CPU an image
    (``docs/benchmarks.md``, "Issue 17: merged runs"; the GPU side is not measured yet). True
    or False decides for every such task.
    """
    if not task.runs_batches:
        return False
    if coalesce is not None:
        return coalesce
    return model is not None and model.on_accelerator


def _fail(result: AnnotateResult, error: LocalVisionError) -> None:
    if result.error is None:  # the first error is the one worth reporting
        result.error = error


def _step(task: Task, doing: str, name: str | None) -> str:
    """What failed, for a message: ``colors failed while preparing image x.jpg``."""
    return f"{task.feature.value} failed while {doing} image {name or '<image>'}"


def _as_error(exc: Exception, what: str) -> LocalVisionError:
    """``exc`` as a LocalVisionError: ours pass through, anything else is an InferenceError.

    A foreign exception from a task or runtime is a bug or an input it cannot handle; either
    way it concerns the images it was given, so it goes on their results (status 500) instead
    of escaping and failing everyone else's.
    """
    if isinstance(exc, LocalVisionError):
        return exc
    return InferenceError(f"{what}: {type(exc).__name__}: {exc}.")
