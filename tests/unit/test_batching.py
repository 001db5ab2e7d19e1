"""The dynamic batcher: merging, splitting, errors, shedding and time limits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from localvision.errors import InferenceError, OverloadedError, RequestTimeoutError
from localvision.server.batching import Batcher
from localvision.server.dispatch import Dispatcher
from localvision.types import AnnotateRequest, AnnotateResult


class RecordingEngine:
    """Answers each request with its own name after ``delay``; records batch sizes."""

    def __init__(self, delay: float = 0.02, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        with self.lock:
            self.batches.append(len(requests))
        time.sleep(self.delay)
        if self.fail:
            raise InferenceError("engine down")
        return [AnnotateResult(name=r.name) for r in requests]


def batcher(engine: RecordingEngine, **kw: float) -> Batcher:
    options = {"max_batch_size": 8, "max_queue_delay_ms": 0, "max_queue": 64, "timeout_s": 5.0}
    options.update(kw)
    dispatcher = Dispatcher(workers=1, max_queue=64, timeout_s=5)
    return Batcher(engine.annotate, dispatcher, **options)  # type: ignore[arg-type]


def calls(n: int, per_call: int = 1) -> list[list[AnnotateRequest]]:
    return [[AnnotateRequest(b"", [], name=f"{i}.{j}") for j in range(per_call)] for i in range(n)]


async def run_all(b: Batcher, groups: list[list[AnnotateRequest]]) -> list[list[AnnotateResult]]:
    return await asyncio.gather(*(b.annotate(g) for g in groups))


def test_concurrent_calls_are_merged_and_answered_in_their_own_order() -> None:
    engine = RecordingEngine()
    results = asyncio.run(run_all(batcher(engine), calls(6, per_call=2)))
    assert [[r.name for r in rs] for rs in results] == [[f"{i}.0", f"{i}.1"] for i in range(6)]
    assert sum(engine.batches) == 12
    assert len(engine.batches) < 6  # merged, not one engine run per call
    assert max(engine.batches) <= 8


def test_max_batch_size_one_runs_calls_one_by_one() -> None:
    engine = RecordingEngine(delay=0.001)
    asyncio.run(run_all(batcher(engine, max_batch_size=1), calls(5)))
    assert engine.batches == [1, 1, 1, 1, 1]


def test_queue_delay_gathers_a_fuller_batch() -> None:
    engine = RecordingEngine(delay=0.001)

    async def staggered() -> None:
        # The delay only has to outlast the staggering, however slow the machine: a full
        # batch runs at once, so a long one costs nothing.
        b = batcher(engine, max_queue_delay_ms=60_000, max_batch_size=4)
        tasks = []
        for group in calls(4):
            tasks.append(asyncio.create_task(b.annotate(group)))
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)

    asyncio.run(staggered())
    assert engine.batches == [4]  # full before the delay ran out


def test_an_engine_failure_reaches_every_caller_of_that_batch() -> None:
    engine = RecordingEngine(fail=True)

    async def go() -> list[object]:
        b = batcher(engine)
        return await asyncio.gather(*(b.annotate(g) for g in calls(3)), return_exceptions=True)

    assert all(isinstance(r, InferenceError) for r in asyncio.run(go()))


def test_a_full_queue_sheds_new_calls() -> None:
    engine = RecordingEngine(delay=0.05)

    async def go() -> list[object]:
        b = batcher(engine, max_queue=2, max_batch_size=1)
        return await asyncio.gather(*(b.annotate(g) for g in calls(6)), return_exceptions=True)

    outcomes = asyncio.run(go())
    assert sum(isinstance(o, OverloadedError) for o in outcomes) == 3  # 1 running + 2 waiting
    assert sum(isinstance(o, list) for o in outcomes) == 3


def test_callers_past_the_time_limit_are_answered_and_the_batch_still_finishes() -> None:
    engine = GatedEngine()  # holds the batch until the caller has been answered

    async def go() -> None:
        # Long enough for the batch to reach the engine on a busy machine (a call that times
        # out while still queued never runs: see the test below).
        b = batcher(engine, timeout_s=2)
        with pytest.raises(RequestTimeoutError):
            await b.annotate(calls(1)[0])
        assert engine.started.is_set(), "the batch never reached the engine"
        engine.gate.set()
        await until(lambda: all(t.done() for t in b._runners))

    asyncio.run(go())
    assert engine.batches == [1] and engine.names == ["0.0"]


# ------------------------------------------------------ admission by images, giving up, keys


class GatedEngine(RecordingEngine):
    """Holds every batch until ``gate`` is set; records the names it was given."""

    def __init__(self) -> None:
        super().__init__(delay=0)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.names: list[str | None] = []

    def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        with self.lock:
            self.names.extend(r.name for r in requests)
        self.started.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().annotate(requests)


async def until(condition: Callable[[], bool]) -> None:
    """Wait (generously) for ``condition``: an event to happen, not a time to pass."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def running(engine: GatedEngine, b: Batcher, name: str = "first") -> asyncio.Task[object]:
    """Start a one-image call and wait until the engine holds it (the queue is then empty)."""
    task = asyncio.create_task(b.annotate([AnnotateRequest(b"", [], name=name)]))
    assert await asyncio.to_thread(engine.started.wait, 30)
    assert b.queued == 0
    return task


def named(prefix: str, n: int) -> list[AnnotateRequest]:
    return [AnnotateRequest(b"", [], name=f"{prefix}{i}") for i in range(n)]


def test_admission_is_charged_by_images_not_calls() -> None:
    engine = GatedEngine()

    async def go() -> None:
        b = batcher(
            engine, max_queue=4, max_batch_size=16, timeout_s=60
        )  # bound: 4 + 1 worker = 5 images
        first = await running(engine, b)
        three = asyncio.create_task(b.annotate(named("a", 3)))
        await until(lambda: b.queued == 3)
        with pytest.raises(OverloadedError):
            await b.annotate(named("b", 3))  # 3 + 3 > 5, though only one call waits
        two = asyncio.create_task(b.annotate(named("c", 2)))  # 3 + 2 fits
        await until(lambda: b.queued == 5)
        with pytest.raises(OverloadedError):
            b.refuse_if_full()  # what the routes ask before reading a body
        engine.gate.set()
        await asyncio.gather(first, three, two)

    asyncio.run(go())
    assert not any(str(name).startswith("b") for name in engine.names)


def test_a_call_larger_than_the_bound_runs_when_nothing_waits() -> None:
    engine = RecordingEngine(delay=0)
    results = asyncio.run(batcher(engine, max_queue=2).annotate(named("x", 20)))
    assert [r.name for r in results] == [f"x{i}" for i in range(20)]


def test_a_large_call_runs_a_batch_at_a_time() -> None:
    engine = RecordingEngine(delay=0)
    results = asyncio.run(batcher(engine, max_batch_size=8).annotate(named("x", 20)))
    assert [r.name for r in results] == [f"x{i}" for i in range(20)]
    assert engine.batches == [8, 8, 4]


def test_a_queued_call_past_its_time_limit_is_dropped_and_never_runs() -> None:
    engine = GatedEngine()

    async def go() -> None:
        b = batcher(engine, timeout_s=60)
        first = await running(engine, b, "first0")
        b.timeout_s = 0.2  # for calls from now on: only the late one can run out of time
        with pytest.raises(RequestTimeoutError):
            await b.annotate(named("late", 3))
        assert b.queued == 0  # off the queue as soon as its caller was answered
        engine.gate.set()  # only now can the engine take anything else
        await first
        await until(lambda: not any(not t.done() for t in b._runners))

    asyncio.run(go())
    assert engine.names == ["first0"]


def test_a_cancelled_call_leaves_the_queue_and_never_runs() -> None:
    engine = GatedEngine()

    async def go() -> None:
        b = batcher(engine, timeout_s=60)
        first = await running(engine, b)
        gone = asyncio.create_task(b.annotate(named("gone", 4)))
        stays = asyncio.create_task(b.annotate(named("stays", 1)))
        await until(lambda: b.queued == 5)
        gone.cancel()  # what a client disconnecting does to its handler's wait
        await until(lambda: b.queued == 1)
        engine.gate.set()
        await asyncio.gather(first, stays)
        assert gone.cancelled()

    asyncio.run(go())
    assert engine.names == ["first", "stays0"]


def test_calls_merge_by_key_and_each_run_sees_only_its_own_kind() -> None:
    engine = GatedEngine()
    seen: list[list[str]] = []

    def run(items: Sequence[str]) -> list[str]:
        seen.append(list(items))
        return [item.upper() for item in items]

    async def go() -> list[object]:
        b = batcher(engine, timeout_s=60)
        first = await running(engine, b)
        calls = [
            b.submit(["a", "b"], run=run, key="k"),
            b.annotate(named("e", 1)),
            b.submit(["c"], run=run, key="k"),
            b.submit(["d"], run=run),  # no key: runs alone
        ]
        tasks = [asyncio.create_task(c) for c in calls]
        await until(lambda: b.queued == 5)
        engine.gate.set()
        await first
        return list(await asyncio.gather(*tasks))

    ab, e, c, d = asyncio.run(go())
    assert ab == ["A", "B"] and c == ["C"] and d == ["D"]
    assert [r.name for r in e] == ["e0"]  # type: ignore[attr-defined]
    assert seen == [["a", "b", "c"], ["d"]]
    assert engine.names == ["first", "e0"]


def test_places_held_before_bodies_are_read_count_until_used_or_released() -> None:
    engine = RecordingEngine(delay=0)

    async def go() -> None:
        b = batcher(engine, max_queue=1)  # bound: 1 + 1 worker = 2 images
        first, second = b.admit(), b.admit()
        with pytest.raises(OverloadedError):
            b.admit()  # both places are held by requests still reading their bodies
        first.release()
        first.release()  # safe to repeat: gives back one place, once
        third = b.admit()
        results = await b.annotate(named("x", 1), ticket=second)  # the place becomes its own
        assert [r.name for r in results] == ["x0"]
        second.release()  # already used: nothing to give back
        fourth = b.admit()
        with pytest.raises(OverloadedError):
            b.admit()
        third.release()
        fourth.release()
        assert b.queued == 0 and b.admit() is not None

    asyncio.run(go())
