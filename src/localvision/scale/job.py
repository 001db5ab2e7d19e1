"""What a batch job is, and the one loop that turns its inputs into rows.

A :class:`BatchJob` is a plain, picklable description: the features asked for, the model
answering each feature that needs one (by path or name, resolved where the job runs) and the
settings. :class:`JobRunner` loads those models into one engine and annotates inputs into rows;
the in-process path runs one runner, the Ray path one per actor. Everything that decides what a
row holds (reading the input, the engine, :func:`~.rows.result_row`) happens in here, so both
paths give the same row for the same input.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ..api import engine_for, resolve_model
from ..config import Settings
from ..engine import LocalEngine
from ..errors import LocalVisionError
from ..models.model import Model
from ..storage import is_storage_uri, read_object
from ..types import AnnotateRequest, Feature, FeatureRequest
from .rows import Row, result_row

__all__ = ["BatchJob", "JobRunner"]


@dataclass(frozen=True)
class BatchJob:
    """A batch job: ``features`` asked of every input, ``models`` naming the model (a path, a
    configured or registered name) for each feature that needs one, read with ``settings``.

    ``labels`` is a labels file applied to those models (``--labels``).
    """

    features: tuple[FeatureRequest, ...]
    settings: Settings
    models: Mapping[Feature, str] = field(default_factory=dict)
    labels: str | None = None

    @property
    def feature_list(self) -> list[Feature]:
        """The features, in the order asked (the row's column order)."""
        return [request.feature for request in self.features]

    def for_cpus(self, cpus: float) -> BatchJob:
        """This job with the model threads and decoders sized to ``cpus`` (a Ray actor's
        share), unless the settings fix them: an actor using every core of its node would
        fight the other actors there."""
        count = max(1, math.ceil(cpus))
        settings = self.settings.model_copy(
            update={
                "threads": self.settings.threads or count,
                "decode_workers": self.settings.decode_workers or count,
            }
        )
        return BatchJob(self.features, settings, self.models, self.labels)

    def load_models(self) -> dict[Feature, Model]:
        """Load each model once (two features naming one model share it); raises the model's
        own error when one does not load, after closing those already loaded."""
        loaded: dict[str, Model] = {}
        try:
            for ref in dict.fromkeys(self.models.values()):
                loaded[ref] = resolve_model(ref, self.settings, labels=self.labels)
        except LocalVisionError:
            for model in loaded.values():
                model.close()
            raise
        return {feature: loaded[ref] for feature, ref in self.models.items()}


class JobRunner:
    """One engine for a job; :meth:`rows` annotates inputs into rows, in input order.

    ``models`` lets a caller hand in models it already loaded (checked before the job
    starts); otherwise they load here. Close it (or use ``with``) to release them.
    """

    def __init__(self, job: BatchJob, models: Mapping[Feature, Model] | None = None) -> None:
        self.job = job
        self._models = dict(models) if models is not None else job.load_models()
        self.engine: LocalEngine = engine_for(self._models, job.settings)

    def rows(self, items: Iterable[str]) -> Iterator[Row]:
        """One row per input item (a path or a storage URI), in order, as results finish.

        An item that cannot be read (missing, too large, storage refused) gets a row with its
        error, as does one that does not decode; the others are unaffected.
        """
        pending: deque[tuple[str, int | None, LocalVisionError | None]] = deque()
        features = self.job.feature_list

        def requests() -> Iterator[AnnotateRequest]:
            for item in items:
                image, size, error = self._read(item)
                pending.append((item, size, error))
                # An item that could not be read asks for nothing: the engine hands back an
                # empty result in its place, keeping the order, and the error goes on it below.
                wanted = () if error is not None else self.job.features
                yield AnnotateRequest(image=image, features=wanted, name=item)

        for result in self.engine.annotate_iter(requests()):
            item, size, error = pending.popleft()
            if error is not None:
                result.error = error
            yield result_row(item, size, result, features)

    def _read(self, item: str) -> tuple[str | bytes, int | None, LocalVisionError | None]:
        """What the engine is given for ``item``, its size, or the error reading it.

        A local file goes to the engine as a path (it checks limits before reading and
        decodes JPEGs at reduced scale); an object in storage is read here, bounded by
        ``max_image_bytes``.
        """
        if not is_storage_uri(item):
            try:
                size: int | None = os.stat(item).st_size
            except OSError:
                size = None  # the engine reports the missing file as the image's error
            return item, size, None
        try:
            data = read_object(item, max_bytes=self.job.settings.max_image_bytes)
        except LocalVisionError as exc:
            return b"", None, exc
        return data, len(data), None

    def close(self) -> None:
        self.engine.close()
        for model in {id(m): m for m in self._models.values()}.values():
            model.close()

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
