"""Merging concurrent callers' model runs into shared batches, without a timer.

Several threads calling one engine at once (a web framework's worker threads, a thread pool
over a folder) would each run the model on their own images, all at once. A
:class:`RunCoalescer` lets one run be in flight at a time per model: a caller that finds the
model idle runs its own items at once (a lone caller never waits), and callers that arrive
while a run is in flight queue up and go together as the next run, as one batch. Batches
therefore grow with load and shrink back when it passes, and no caller ever waits for company
that may not come (the server's ``max_queue_delay_ms`` is the knob for that, in
:mod:`localvision.server.batching`).

Whoever is free when the model becomes idle runs the next batch for everybody in it (the
*leader*); the others sleep until their items are done. So ``run`` executes on the leader's
thread for other callers' items too, a leader whose own items did not fit in the batch it ran
runs again (its call can take two runs or more), and ``run`` must not submit to the same
coalescer (it would wait on itself). Where merging pays is for the engine to decide
(:func:`localvision.engine.merges_runs`): it trades the overlap of one caller's decoding with
another's model run for bigger batches.

Example::

    coalescer = RunCoalescer(lambda items: model_run(items), max_items=16)
    coalescer.submit(my_items)   # returns once my_items have run (in some batch)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["RunCoalescer"]

T = TypeVar("T")


@dataclass(eq=False)
class _Group(Generic[T]):
    """One caller's items, waiting to be run."""

    items: Sequence[T]
    done: bool = False
    error: BaseException | None = None


class RunCoalescer(Generic[T]):
    """Runs ``run(items)`` with one call in flight at a time, merging callers who wait.

    ``run`` receives the items of one or more callers, oldest first, and must handle them all
    (it reports per-item failures its own way, on the items); an exception it raises is raised
    to every caller whose items were in that call. A caller's items are never split across
    runs, and a run takes callers in arrival order until the next caller's items would pass
    ``max_items`` (a caller with more items than that still runs, alone).
    """

    def __init__(self, run: Callable[[list[T]], None], *, max_items: int) -> None:
        self._run = run
        self.max_items = max(1, max_items)
        self._cond = threading.Condition()
        self._queue: deque[_Group[T]] = deque()
        self._busy = False

    @property
    def waiting(self) -> int:
        """Items queued behind the run in flight (a snapshot)."""
        with self._cond:
            return sum(len(group.items) for group in self._queue)

    @property
    def busy(self) -> bool:
        """Whether a run is in flight (a snapshot)."""
        with self._cond:
            return self._busy

    def submit(self, items: Sequence[T]) -> None:
        """Run ``items`` (in a batch with whatever else waits) and return once they have run.

        Raises what ``run`` raised for the batch holding them (the same exception object in
        every caller of that batch); an interrupt (``KeyboardInterrupt``...) while running
        other callers' items is raised here at once, and they get a ``RuntimeError`` for it.
        """
        if not items:
            return
        group = _Group(items)
        with self._cond:
            self._queue.append(group)
        try:
            self._until_done(group)
        except BaseException:  # interrupted: nobody will want this caller's items any more
            with self._cond:
                if group in self._queue:
                    self._queue.remove(group)
            raise
        if group.error is not None:
            raise group.error

    def _until_done(self, group: _Group[T]) -> None:
        """Wait for ``group`` to run, leading runs (its own or older ones) when free."""
        while True:
            leading, finished = False, False
            taken: list[_Group[T]] = []
            try:
                with self._cond:
                    while self._busy and not group.done:
                        self._cond.wait()
                    if group.done:
                        return
                    self._busy = leading = True
                    taken = self._take()  # never empty: this caller's group is still queued
                self._execute(taken)
                finished = True
            finally:
                if leading:  # whatever happened, the model is free again and nobody hangs
                    with self._cond:
                        for member in taken:
                            if not finished and member.error is None:
                                member.error = RuntimeError("The run was interrupted.")
                            member.done = True
                        self._busy = False
                        self._cond.notify_all()

    def _take(self) -> list[_Group[T]]:
        """The next run's groups (under the lock): oldest first, up to ``max_items``."""
        taken = [self._queue.popleft()]
        count = len(taken[0].items)
        while self._queue and count + len(self._queue[0].items) <= self.max_items:
            group = self._queue.popleft()
            taken.append(group)
            count += len(group.items)
        return taken

    def _execute(self, groups: list[_Group[T]]) -> None:
        merged = [item for group in groups for item in group.items]
        try:
            self._run(merged)
        except Exception as exc:  # each caller whose items were in it raises it
            for group in groups:
                group.error = exc
        # An interrupt (BaseException) propagates: the leader raises it, and the others get a
        # RuntimeError from _until_done's clean-up.
