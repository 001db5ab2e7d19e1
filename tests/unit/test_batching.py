"""The dynamic batcher: merging, splitting, errors, shedding and time limits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

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
        b = batcher(engine, max_queue_delay_ms=200, max_batch_size=4)
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
    engine = RecordingEngine(delay=0.2)

    async def go() -> None:
        b = batcher(engine, timeout_s=0.05)
        with pytest.raises(RequestTimeoutError):
            await b.annotate(calls(1)[0])
        await asyncio.sleep(0.3)

    asyncio.run(go())
    assert engine.batches == [1]
