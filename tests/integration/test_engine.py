"""The engine with a real (tiny) ONNX model: batching, ordering, per-image errors."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from localvision.config import Settings
from localvision.engine import LocalEngine, merges_runs
from localvision.errors import FeatureNotAvailableError, ImageDecodeError, InferenceError
from localvision.models import CardFields, Model, load_model
from localvision.models.runtime import TensorSpec
from localvision.tasks import registry
from localvision.tasks.base import Task
from localvision.types import AnnotateRequest, AnnotateResult, DecodedImage, Feature, FeatureRequest

from ..builders import colour_classifier_onnx, poison_images
from ..conftest import WAIT_S, join_all, solid_jpeg, wait_until

LABELS = FeatureRequest(Feature.LABELS, max_results=2)
COLORS = FeatureRequest(Feature.COLORS)
COLOURS = {"red": (230, 20, 20), "green": (20, 200, 30), "blue": (10, 20, 240), "gray": (128,) * 3}


@pytest.fixture(scope="module")
def colour_model(colour_model_path: Path, settings: Settings) -> Model:
    # on the CPU whatever ONNX Runtime is installed: the tests below depend on where it runs
    return load_model(
        colour_model_path, settings=settings.model_copy(update={"providers": ["cpu"]})
    )


def requests(names: Sequence[str]) -> list[AnnotateRequest]:
    return [
        AnnotateRequest(solid_jpeg(COLOURS[n]), [LABELS], name=f"{i}-{n}")
        for i, n in enumerate(names)
    ]


def test_sidecar_card_is_applied(colour_model: Model) -> None:
    assert colour_model.card.labels == ("red", "green", "blue", "gray")
    assert colour_model.card.provenance["labels"] == "card"
    assert colour_model.card.provenance["input_size"] == "model"
    assert colour_model.card.mean is None


def test_results_come_back_in_order_across_batches(colour_model: Model) -> None:
    names = ["red", "green", "blue", "gray", "blue", "red", "green"]
    with LocalEngine({Feature.LABELS: colour_model}, batch_size=3, decode_workers=2) as engine:
        results = engine.annotate(requests(names))
    assert [r.name for r in results] == [f"{i}-{n}" for i, n in enumerate(names)]
    assert [r.labels[0].name for r in results if r.labels] == names
    assert all(r.ok and (r.width, r.height) == (64, 48) for r in results)
    assert len(results[0].labels or []) == 2


def test_a_corrupt_image_fails_alone(colour_model: Model) -> None:
    batch = requests(["red", "blue"])
    batch.insert(1, AnnotateRequest(b"not an image", [LABELS], name="bad.jpg"))
    with LocalEngine({Feature.LABELS: colour_model}) as engine:
        results = engine.annotate(batch)
    assert isinstance(results[1].error, ImageDecodeError)
    assert results[1].labels is None
    assert [results[0].labels[0].name, results[2].labels[0].name] == ["red", "blue"]  # type: ignore[index]


def test_a_feature_without_model_is_an_error_on_the_image_but_others_are_answered(
    colour_model: Model,
) -> None:
    request = AnnotateRequest(
        solid_jpeg(COLOURS["green"]), [FeatureRequest(Feature.OBJECTS), LABELS]
    )
    with LocalEngine({Feature.LABELS: colour_model}) as engine:
        (result,) = engine.annotate([request])
    assert isinstance(result.error, FeatureNotAvailableError)
    assert "objects" in result.error.message
    assert result.labels is not None and result.labels[0].name == "green"


def test_requests_may_be_a_lazy_stream(colour_model: Model) -> None:
    stream = (r for r in requests(["red"] * 40))
    with LocalEngine({Feature.LABELS: colour_model}, batch_size=4) as engine:
        seen = [r.labels[0].name for r in engine.annotate_iter(stream) if r.labels]
    assert seen == ["red"] * 40


def test_fixed_batch_models_run_one_image_at_a_time(tmp_path: Path, settings: Settings) -> None:
    pytest.importorskip("onnx", reason="building test ONNX graphs needs the onnx package")
    path = tmp_path / "fixed.onnx"
    colour_classifier_onnx(path, batch=1)
    model = load_model(
        path, settings=settings, labels=["r", "g", "b", "k"], card={"input_range": "0..1"}
    )
    assert model.max_batch == 1
    with LocalEngine({Feature.LABELS: model}) as engine:
        results = engine.annotate(requests(["blue", "red", "green"]))
    assert [r.labels[0].name for r in results if r.labels] == ["b", "r", "g"]


class FailingRuntime:
    """A runtime that fails every run, as a crashed session would."""

    format = "onnx"
    inputs = [TensorSpec("image", (None, 3, 16, 16), np.dtype(np.float32))]
    outputs = [TensorSpec("logits", (None, 4), np.dtype(np.float32))]
    max_batch = None
    device = "test"

    def hints(self) -> CardFields:
        return CardFields()

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        raise InferenceError("the session crashed")

    def close(self) -> None:
        pass


def test_inference_failure_marks_the_batch_and_the_engine_keeps_going(colour_model: Model) -> None:
    broken = Model(
        "broken", colour_model.path, colour_model.format, FailingRuntime(), colour_model.card
    )
    with LocalEngine({Feature.LABELS: broken}) as engine:
        first = engine.annotate(requests(["red", "blue"]))
        assert all(isinstance(r.error, InferenceError) for r in first)
    with LocalEngine({Feature.LABELS: colour_model}) as engine:
        assert engine.annotate(requests(["blue"]))[0].ok


def test_poison_images_fail_alone_and_the_good_images_of_the_batch_are_answered(
    colour_model: Model,
) -> None:
    # Issue 12, item 5: one truncated interlaced PNG in a merged batch failed every image in it.
    poison = sorted(poison_images().items())
    colours = ["red", "green", "blue", "gray"]
    batch: list[AnnotateRequest] = []
    for i, (name, data) in enumerate(poison):
        colour = colours[i % len(colours)]
        batch.append(AnnotateRequest(solid_jpeg(COLOURS[colour]), [LABELS], name=f"{i}-{colour}"))
        batch.append(AnnotateRequest(data, [LABELS, FeatureRequest(Feature.COLORS)], name=name))
    with LocalEngine({Feature.LABELS: colour_model}, batch_size=4, decode_workers=2) as engine:
        results = engine.annotate(batch)
        streamed = list(engine.annotate_iter(iter(batch)))
    for answers in (results, streamed):
        assert [r.name for r in answers] == [r.name for r in batch]
        for request, result in zip(batch, answers, strict=True):
            name = request.name or ""
            if name in dict(poison):
                assert isinstance(result.error, ImageDecodeError), (name, result.error)
                assert name in result.error.message
                assert result.labels is None and result.colors is None
            else:
                assert result.ok, (name, result.error)
                assert result.labels and result.labels[0].name == name.split("-")[1]


class FlakyTask:
    """A built-in task that fails, with plain Python exceptions, on images named for it."""

    feature = Feature.COLORS
    runs_batches = True
    min_side = None

    def pre_process(self, image: DecodedImage) -> str:
        if (image.name or "").startswith("pre-fails"):
            raise ValueError("cannot prepare this one")
        return image.name or ""

    def forward(self, items: Sequence[Any]) -> list[Any]:
        if any(item.startswith("forward-fails") for item in items):
            raise RuntimeError("a tensor of the wrong shape in the batch")
        return list(items)

    def post_process(
        self, raw: Any, image_size: tuple[int, int], request: FeatureRequest, result: AnnotateResult
    ) -> None:
        if raw.startswith("post-fails"):
            raise KeyError("no such output")
        result.colors = []


@pytest.mark.parametrize("coalesce", [None, True])
def test_a_task_failing_on_one_image_fails_that_image_only(
    monkeypatch: pytest.MonkeyPatch, coalesce: bool | None
) -> None:
    """The same whether the task's runs go straight or through the run coalescer."""

    def builtin_tasks() -> dict[Feature, Task]:
        return {Feature.COLORS: FlakyTask()}

    monkeypatch.setattr(registry, "build_builtin_tasks", builtin_tasks)
    names = ["good-1", "pre-fails", "good-2", "forward-fails", "good-3", "post-fails", "good-4"]
    batch = [
        AnnotateRequest(solid_jpeg(COLOURS["red"]), [FeatureRequest(Feature.COLORS)], name=n)
        for n in names
    ]
    sizes: list[int] = []
    with LocalEngine(
        {}, batch_size=8, on_batch=lambda _, size: sizes.append(size), coalesce=coalesce
    ) as engine:
        results = engine.annotate(batch)
        (alone,) = engine.annotate(batch[3:4])
    assert [r.name for r in results] == names
    for result in results:
        name = result.name or ""
        if name.startswith("good"):
            assert result.ok and result.colors == [], (name, result.error)
        else:
            assert isinstance(result.error, InferenceError), (name, result.error)
            assert result.colors is None
    assert results[1].error is not None and "pre-fails" in results[1].error.message
    assert "ValueError: cannot prepare this one" in results[1].error.message
    assert results[3].error is not None and "RuntimeError" in results[3].error.message
    assert results[5].error is not None and "post-fails" in results[5].error.message
    assert sizes == [6, 1]  # one batch (the pre-process failure never reached it), then one
    assert isinstance(alone.error, InferenceError)


def test_concurrent_callers_share_model_runs(colour_model: Model) -> None:
    """Single-image calls from many threads, runs merged (as on a GPU by default): those
    arriving during a run go as one batch."""
    started, release = threading.Event(), threading.Event()
    sizes: list[int] = []

    def on_batch(_: Feature, size: int) -> None:  # runs inside the model's run: hold the first
        sizes.append(size)
        if len(sizes) == 1:
            started.set()
            assert release.wait(WAIT_S)

    names = ["red", "green", "blue", "gray", "red", "blue"]
    results: dict[int, AnnotateResult] = {}
    with LocalEngine(
        {Feature.LABELS: colour_model}, batch_size=8, on_batch=on_batch, coalesce=True
    ) as engine:

        def call(i: int, request: AnnotateRequest) -> None:
            (results[i],) = engine.annotate([request])

        threads = [threading.Thread(daemon=True, target=call, args=(0, requests(names[:1])[0]))]
        threads[0].start()
        assert started.wait(WAIT_S)
        for i, request in enumerate(requests(names)[1:], start=1):
            threads.append(threading.Thread(daemon=True, target=call, args=(i, request)))
            threads[-1].start()
        wait_until(lambda: engine.waiting_images == len(names) - 1, "the callers to queue")
        release.set()
        join_all(threads)
    assert sizes == [1, len(names) - 1]
    for i, name in enumerate(names):
        assert results[i].ok and results[i].labels, (i, results[i].error)
        assert results[i].labels[0].name == name, (i, results[i].labels)


def test_on_the_cpu_concurrent_callers_run_apart_by_default(colour_model: Model) -> None:
    """The CPU default: while one call's run is held, the others run and finish on their own."""
    assert not colour_model.on_accelerator
    started, release = threading.Event(), threading.Event()
    sizes: list[int] = []

    def on_batch(_: Feature, size: int) -> None:
        sizes.append(size)
        if len(sizes) == 1:
            started.set()
            assert release.wait(WAIT_S)

    names = ["red", "green", "blue", "gray"]
    results: dict[int, AnnotateResult] = {}
    with LocalEngine({Feature.LABELS: colour_model}, on_batch=on_batch) as engine:

        def call(i: int, request: AnnotateRequest) -> None:
            (results[i],) = engine.annotate([request])

        batch = requests(names)
        held = threading.Thread(daemon=True, target=call, args=(0, batch[0]))
        held.start()
        assert started.wait(WAIT_S)
        others = [
            threading.Thread(daemon=True, target=call, args=(i, batch[i])) for i in range(1, 4)
        ]
        for thread in others:
            thread.start()
        join_all(others)  # finished while the first run was still held
        assert engine.waiting_images == 0 and 0 not in results
        release.set()
        join_all([held])
    assert sizes == [1, 1, 1, 1]
    assert [results[i].labels[0].name for i in range(4)] == names  # type: ignore[index]


@pytest.mark.parametrize(
    ("runs_batches", "on_accelerator", "coalesce", "merged"),
    [
        (True, True, None, True),
        (True, False, None, False),
        (True, False, True, True),
        (True, True, False, False),
        (False, True, None, False),
        (False, True, True, False),
    ],
)
def test_runs_merge_by_default_on_accelerators_only(
    runs_batches: bool, on_accelerator: bool, coalesce: bool | None, merged: bool
) -> None:
    task: Any = SimpleNamespace(runs_batches=runs_batches)
    model: Any = SimpleNamespace(on_accelerator=on_accelerator)
    assert merges_runs(task, model, coalesce) is merged
    assert merges_runs(task, None, None) is False  # a built-in task: no model to put anywhere


class SideBySideTask:
    """Per-image work (``runs_batches`` False): its forward waits to see another one running."""

    feature = Feature.COLORS
    runs_batches = False
    min_side = None

    def __init__(self) -> None:
        self.inside = threading.Barrier(2, timeout=WAIT_S)

    def pre_process(self, image: DecodedImage) -> str:
        return image.name or ""

    def forward(self, items: Sequence[Any]) -> list[Any]:
        self.inside.wait()  # breaks (an error on the results) if the calls were serialised
        return list(items)

    def post_process(
        self, raw: Any, image_size: tuple[int, int], request: FeatureRequest, result: AnnotateResult
    ) -> None:
        result.colors = []


def test_per_image_tasks_of_concurrent_callers_run_side_by_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task = SideBySideTask()
    monkeypatch.setattr(registry, "build_builtin_tasks", lambda: {Feature.COLORS: task})
    results: list[AnnotateResult] = []
    with LocalEngine({}, coalesce=True) as engine:  # runs_batches alone keeps them apart

        def call(name: str) -> None:
            image = solid_jpeg(COLOURS["red"])
            results.extend(engine.annotate([AnnotateRequest(image, [COLORS], name=name)]))

        threads = [threading.Thread(daemon=True, target=call, args=(n,)) for n in ("a", "b")]
        for thread in threads:
            thread.start()
        join_all(threads)
    assert sorted(r.name or "" for r in results) == ["a", "b"]
    assert all(r.ok for r in results), [r.error for r in results]
