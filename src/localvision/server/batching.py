"""Dynamic batching and admission control: the one queue every protocol's work goes through.

Work arrives as *calls*: a list of items (one per image) and the function that runs a list of
such items. Calls that share a *key* (every engine call does; Open Inference calls to the same
model do) are merged into one run of up to ``max_batch_size`` images; a call larger than that is
split and runs a batch at a time, so its images are decoded a batch at a time and never all at
once. Requests that arrive while a batch runs wait together and go as the next batch;
``max_queue_delay_ms`` (Triton's name) lets a batch wait a little for company even when the
engine is idle. On a CPU, running one batch at a time with every core on it beats running
several single-image calls that fight over the cores; see ``docs/benchmarks.md``.

A worker thread that finishes a batch takes the next one itself, without a round trip through
the event loop: under overload the loop is busy refusing requests, and the engine must not sit
idle waiting for it between batches (that wait, not the refusing, is what made goodput collapse).

Admission is charged by images, not calls: a call is shed at once with
:class:`~localvision.errors.OverloadedError` when the images already waiting plus its own would
pass ``max_queue`` (plus one per worker, for the batch about to start), so a request of 64
images meets the shedding that 64 single-image requests would. A call only ever waits on an
empty queue when it is larger than the whole bound. :meth:`Batcher.admit` takes a place for a
request before its body is even read (or sheds it then, at almost no cost): under overload the
server does not read and parse requests it would refuse once parsed, and requests do not race
each other for the last place while their bodies are read.

A call that has not been answered within the request time limit gets
:class:`~localvision.errors.RequestTimeoutError`; a call whose caller stops waiting (time limit,
client gone) is taken off the queue, and what is left of it never runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread

from ..errors import InferenceError, OverloadedError, RequestTimeoutError
from ..types import AnnotateRequest, AnnotateResult
from .dispatch import Dispatcher
from .metrics import Metrics

__all__ = ["Batcher", "Run", "Ticket"]

Annotate = Callable[[Sequence[AnnotateRequest]], list[AnnotateResult]]
Run = Callable[[Sequence[Any]], list[Any]]
"""Runs a list of items on a worker thread; one result per item, in order."""

_ENGINE = "engine"


@dataclass(eq=False)
class _Call:
    """One caller's work: its items, and how far through them the batches have got.

    ``taken``, ``finished`` and ``results`` change under the batcher's lock; ``future`` belongs
    to ``loop`` and is only settled there.
    """

    key: Hashable
    run: Run
    items: Sequence[Any]
    unit: int
    """Images each item stands for: 1, or a whole tensor's batch for an unsplittable call."""
    deadline: float
    """``time.monotonic()`` past which the call is dropped unrun."""
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Any]]
    results: list[Any] = field(default_factory=list)
    taken: int = 0
    """Items handed to a batch so far."""
    finished: int = 0
    """Items whose batch has returned."""

    @property
    def waiting(self) -> int:
        """Images of this call not yet handed to a batch."""
        return (len(self.items) - self.taken) * self.unit

    def settle(self, result: list[Any] | BaseException) -> None:
        """Answer the caller from any thread (nothing happens once it has stopped waiting)."""

        def on_loop() -> None:
            if self.future.done():
                return
            if isinstance(result, BaseException):
                self.future.set_exception(result)
            else:
                self.future.set_result(result)

        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to answer
            self.loop.call_soon_threadsafe(on_loop)


@dataclass(frozen=True)
class _Piece:
    """A slice of one call's items inside a batch."""

    call: _Call
    start: int
    stop: int


class Ticket:
    """One image's place in the queue, held for a request while its body is read and parsed.

    :meth:`Batcher.submit` turns it into the request's own places; :meth:`release` gives it back
    (both are safe to repeat), for a request that fails before it submits anything.
    """

    def __init__(self, batcher: Batcher) -> None:
        self._batcher: Batcher | None = batcher

    def release(self) -> None:
        """Give the place back (once; later calls do nothing)."""
        if self._batcher is not None:
            with self._batcher._lock:
                self._batcher._held -= 1
            self._batcher = None


class Batcher:
    """Queues calls, sheds by images past the bound, and runs merged batches on worker threads
    (``dispatcher.workers`` of them)."""

    def __init__(
        self,
        annotate: Annotate,
        dispatcher: Dispatcher,
        *,
        max_batch_size: int,
        max_queue_delay_ms: float,
        max_queue: int,
        timeout_s: float,
        metrics: Metrics | None = None,
    ) -> None:
        self._annotate = annotate
        self._dispatcher = dispatcher
        self.max_batch_size = max(1, max_batch_size)
        self.max_queue_delay_s = max(0.0, max_queue_delay_ms) / 1000
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self._metrics = metrics
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._arrived_on_loop = asyncio.Event()
        self._queue: deque[_Call] = deque()
        self._queued_images = 0
        self._held = 0
        self._runners: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ admission

    @property
    def bound(self) -> int:
        """Images that may wait before new calls are shed."""
        return self.max_queue + self._dispatcher.workers

    @property
    def queued(self) -> int:
        """Images admitted and not yet handed to a batch."""
        return self._queued_images

    @property
    def held(self) -> int:
        """Places held by requests admitted before their body was read, not yet submitted."""
        return self._held

    @property
    def waiting(self) -> int:
        """Calls admitted with images not yet handed to a batch."""
        return len(self._queue)

    @property
    def full(self) -> bool:
        """Whether a request for one image would be shed now. Read without the lock, so only
        a hint (for refusing early and cheaply); :meth:`admit` decides."""
        return self._sheds(1)

    def _sheds(self, images: int) -> bool:
        taken = self._queued_images + self._held
        return bool(taken) and taken + images > self.bound

    def refuse_if_full(self, images: int = 1) -> None:
        """Raise :class:`OverloadedError` when a call of ``images`` would be shed now (places
        held by :meth:`admit` count as taken)."""
        if self._sheds(images):
            taken = self._queued_images + self._held
            raise OverloadedError(
                f"The server is busy ({taken} images waiting).",
                hint="Retry after a short wait.",
            )

    def admit(self) -> Ticket:
        """A place for a request whose body is still to be read, or :class:`OverloadedError`.

        Cheap enough to call first thing: a server that is already full spends nothing on
        reading, parsing or decoding what it would refuse anyway. Pass the ticket to
        :meth:`submit`, and release it when the request ends.
        """
        with self._lock:
            self.refuse_if_full(1)
            self._held += 1
        return Ticket(self)

    # ------------------------------------------------------------------ calls

    async def annotate(
        self, requests: Sequence[AnnotateRequest], *, ticket: Ticket | None = None
    ) -> list[AnnotateResult]:
        """Results for ``requests``, run by the engine together with whatever else waits."""
        results: list[AnnotateResult] = await self.submit(
            requests, run=self._annotate, key=_ENGINE, ticket=ticket
        )
        return results

    async def submit(
        self,
        items: Sequence[Any],
        *,
        run: Run,
        key: Hashable | None = None,
        unit: int = 1,
        ticket: Ticket | None = None,
    ) -> list[Any]:
        """Queue ``items`` and wait for ``run``'s results for them, one per item.

        Calls with the same ``key`` must have equivalent ``run`` functions: they are merged and
        split freely, a batch at a time. ``key=None`` never merges with anything; ``unit`` is
        the number of images each item stands for, charged at admission (an unsplittable
        tensor of 8 images is one item of unit 8). ``ticket``: the place :meth:`admit` held for
        this request, which becomes one of its own.
        """
        if ticket is not None:
            ticket.release()
        if not items:
            return []
        loop = asyncio.get_running_loop()
        call = _Call(
            key=key if key is not None else object(),
            run=run,
            items=items,
            unit=max(1, unit),
            deadline=time.monotonic() + self.timeout_s,
            loop=loop,
            future=loop.create_future(),
            results=[None] * len(items),
        )
        with self._lock:
            self.refuse_if_full(call.waiting)
            self._queue.append(call)
            self._queued_images += call.waiting
            self._arrived.notify_all()
        self._arrived_on_loop.set()
        self._observe()
        self._ensure_runners()
        try:
            with anyio.fail_after(self.timeout_s):
                return await asyncio.shield(call.future)
        except TimeoutError:
            raise _timed_out(self.timeout_s) from None
        finally:  # answered, timed out or cancelled (the client went away): nothing more runs
            if not call.future.done():
                call.future.cancel()
            with self._lock:
                self._withdraw(call)
            self._observe()

    def _withdraw(self, call: _Call) -> None:
        """Take what is left of ``call`` off the queue (under the lock)."""
        if call.waiting and call in self._queue:
            self._queue.remove(call)
            self._queued_images -= call.waiting
        call.taken = len(call.items)

    # ------------------------------------------------------------------ running

    def _ensure_runners(self) -> None:
        self._runners = [task for task in self._runners if not task.done()]
        while len(self._runners) < self._dispatcher.workers:
            self._runners.append(asyncio.get_running_loop().create_task(self._run()))

    async def _run(self) -> None:
        """One worker: the first batch after an idle spell is taken here, on the event loop,
        so that whatever arrived together goes together; the thread then keeps going."""
        while self._queue:
            if self.max_queue_delay_s and self._queued_images < self.max_batch_size:
                await self._wait_for_company()
            with self._lock:
                pieces = self._take()
            if pieces:
                await anyio.to_thread.run_sync(self._drive, pieces)

    async def _wait_for_company(self) -> None:
        deadline = anyio.current_time() + self.max_queue_delay_s
        while self._queued_images < self.max_batch_size:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                return
            self._arrived_on_loop.clear()
            with anyio.move_on_after(remaining):
                await self._arrived_on_loop.wait()

    def _drive(self, pieces: list[_Piece]) -> None:
        """On a worker thread: run batches back to back until the queue is empty."""
        while pieces:
            self._run_batch(pieces)
            with self._lock:
                if self.max_queue_delay_s and self._queue:
                    until = time.monotonic() + self.max_queue_delay_s
                    while self._queued_images < self.max_batch_size:
                        left = until - time.monotonic()
                        if left <= 0 or not self._arrived.wait(left):
                            break
                pieces = self._take()
            self._observe()

    def _take(self) -> list[_Piece]:
        """The next batch (under the lock): the oldest call's key, its calls in order, up to
        the batch size; calls past their deadline are dropped and answered first."""
        now = time.monotonic()
        for call in [c for c in self._queue if now >= c.deadline]:
            self._withdraw(call)
            call.settle(_timed_out(self.timeout_s))
        if not self._queue:
            return []
        key = self._queue[0].key
        pieces: list[_Piece] = []
        room = self.max_batch_size
        for call in list(self._queue):
            if call.key != key:
                continue
            count = min(len(call.items) - call.taken, room // call.unit)
            if not pieces:
                count = max(1, count)  # the oldest call always makes progress
            if count <= 0:
                break
            pieces.append(_Piece(call, call.taken, call.taken + count))
            call.taken += count
            self._queued_images -= count * call.unit
            room -= count * call.unit
            if not call.waiting:
                self._queue.remove(call)
            if room <= 0:
                break
        return pieces

    def _run_batch(self, pieces: list[_Piece]) -> None:
        """On a worker thread: run one batch and answer each call whose last piece it was."""
        pieces = [p for p in pieces if not p.call.future.done()]  # given up since taken
        if not pieces:
            return
        merged = [item for p in pieces for item in p.call.items[p.start : p.stop]]
        try:
            results = self._dispatcher.call(pieces[0].call.run, merged)
            if len(results) != len(merged):
                raise InferenceError(f"A batch of {len(merged)} gave {len(results)} results.")
        except Exception as exc:
            with self._lock:
                for piece in pieces:
                    self._withdraw(piece.call)
            for piece in pieces:
                piece.call.settle(exc)
            return
        offset = 0
        for piece in pieces:
            call, size = piece.call, piece.stop - piece.start
            with self._lock:
                call.results[piece.start : piece.stop] = results[offset : offset + size]
                call.finished += size
                complete = call.finished == len(call.items)
            offset += size
            if complete:
                call.settle(call.results)

    def _observe(self) -> None:
        if self._metrics is not None:
            self._metrics.queue_depth.set(self._queued_images)


def _timed_out(timeout_s: float) -> RequestTimeoutError:
    return RequestTimeoutError(
        f"The request did not finish within {timeout_s:g} s.",
        hint="Send fewer or smaller images per request, or raise request_timeout_s.",
    )
