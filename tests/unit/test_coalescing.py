"""RunCoalescer: one run in flight, waiting callers merged into the next run, in order."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from localvision.coalescing import RunCoalescer

from ..conftest import WAIT_S, join_all, wait_until


class GatedRun:
    """A run function that records each call and holds the first until released."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items: list[str]) -> None:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.started.set()
            assert self.release.wait(WAIT_S)
        if self.fail_on in items:
            raise RuntimeError(f"cannot run {self.fail_on}")


def in_thread(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def body() -> None:
        try:
            target()
        except BaseException as exc:  # handed to the test to assert on
            errors.append(exc)

    thread = threading.Thread(target=body, daemon=True)  # a hang fails the test, not pytest
    thread.start()
    return thread, errors


def hold_first_run(coalescer: RunCoalescer[str], run: GatedRun) -> threading.Thread:
    thread, _ = in_thread(lambda: coalescer.submit(["first"]))
    assert run.started.wait(WAIT_S)
    return thread


def test_a_lone_caller_runs_at_once_and_alone() -> None:
    calls: list[list[str]] = []
    coalescer: RunCoalescer[str] = RunCoalescer(calls.append, max_items=8)
    coalescer.submit(["a", "b"])
    coalescer.submit(["c"])
    coalescer.submit([])
    assert calls == [["a", "b"], ["c"]]
    assert not coalescer.busy and coalescer.waiting == 0


def test_callers_arriving_during_a_run_go_together_in_arrival_order() -> None:
    run = GatedRun()
    coalescer: RunCoalescer[str] = RunCoalescer(run, max_items=16)
    first = hold_first_run(coalescer, run)
    threads = []
    for n in range(5):  # one at a time, so the arrival order is known
        threads.append(in_thread(lambda n=n: coalescer.submit([f"x{n}", f"y{n}"]))[0])
        wait_until(lambda n=n: coalescer.waiting == 2 * (n + 1), f"caller {n} to queue")
    run.release.set()
    join_all([first, *threads])
    assert run.calls == [["first"], [f"{c}{n}" for n in range(5) for c in "xy"]]
    assert not coalescer.busy and coalescer.waiting == 0


def test_runs_hold_at_most_max_items_and_never_split_a_caller() -> None:
    run = GatedRun()
    coalescer: RunCoalescer[str] = RunCoalescer(run, max_items=4)
    first = hold_first_run(coalescer, run)
    groups = [["a1", "a2"], ["b1", "b2"], ["c1", "c2", "c3"], ["d1"], [f"e{n}" for n in range(5)]]
    threads = []
    queued = 0
    for group in groups:
        threads.append(in_thread(lambda group=group: coalescer.submit(group))[0])
        queued += len(group)
        wait_until(lambda q=queued: coalescer.waiting == q, "the caller to queue")
    run.release.set()
    join_all([first, *threads])
    assert run.calls == [
        ["first"],
        ["a1", "a2", "b1", "b2"],
        ["c1", "c2", "c3", "d1"],
        ["e0", "e1", "e2", "e3", "e4"],  # larger than max_items: runs, alone
    ]


def test_a_failing_run_fails_its_callers_only_and_the_next_run_goes_on() -> None:
    run = GatedRun(fail_on="bad")
    coalescer: RunCoalescer[str] = RunCoalescer(run, max_items=2)
    first = hold_first_run(coalescer, run)
    outcomes = []
    for queued, group in enumerate((["ok1"], ["bad"], ["ok2"]), start=1):
        outcomes.append(in_thread(lambda group=group: coalescer.submit(group)))
        wait_until(lambda q=queued: coalescer.waiting == q, "the caller to queue")
    run.release.set()
    join_all([first, *(t for t, _ in outcomes)])
    assert run.calls == [["first"], ["ok1", "bad"], ["ok2"]]
    (ok1_errors, bad_errors, ok2_errors) = (errors for _, errors in outcomes)
    assert [str(e) for e in ok1_errors] == ["cannot run bad"]  # shared the failing run
    assert [str(e) for e in bad_errors] == ["cannot run bad"]
    assert ok2_errors == []
    coalescer.submit(["after"])
    assert run.calls[-1] == ["after"]


def test_a_caller_gets_the_exception_of_its_own_run() -> None:
    def run(items: list[int]) -> None:
        raise ValueError("broken")

    coalescer: RunCoalescer[int] = RunCoalescer(run, max_items=4)
    with pytest.raises(ValueError, match="broken"):
        coalescer.submit([1])
    assert not coalescer.busy


def test_an_interrupt_reaches_its_leader_and_nobody_is_left_waiting() -> None:
    def run(items: list[str]) -> None:
        if "stop" in items:
            raise KeyboardInterrupt

    coalescer: RunCoalescer[str] = RunCoalescer(run, max_items=4)
    with pytest.raises(KeyboardInterrupt):
        coalescer.submit(["stop"])
    assert not coalescer.busy and coalescer.waiting == 0
    coalescer.submit(["fine"])  # still serving


def test_an_interrupted_merged_run_fails_the_other_callers_plainly() -> None:
    gate = GatedRun()

    def run(items: list[str]) -> None:
        gate(items)
        if "a" in items:
            raise KeyboardInterrupt

    coalescer: RunCoalescer[str] = RunCoalescer(run, max_items=2)
    first = hold_first_run(coalescer, gate)
    callers = []
    for queued, item in enumerate("ab", start=1):
        callers.append(in_thread(lambda item=item: coalescer.submit([item])))
        wait_until(lambda q=queued: coalescer.waiting == q, "the caller to queue")
    gate.release.set()
    join_all([first, *(t for t, _ in callers)])
    assert gate.calls == [["first"], ["a", "b"]]
    raised = sorted(type(errors[0]).__name__ for _, errors in callers)
    assert raised == ["KeyboardInterrupt", "RuntimeError"]  # the leader, and the other
    assert not coalescer.busy and coalescer.waiting == 0
