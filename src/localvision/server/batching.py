"""Dynamic batching: concurrent annotate calls merged into one engine run.

Requests that arrive while a batch runs wait together and go as the next batch, up to
``max_batch_size`` images; ``max_queue_delay_ms`` (Triton's names) lets a batch wait a little
for company even when the engine is idle. On a CPU, running one batch at a time with every core
on it beats running several single-image calls that fight over the cores; see
``docs/benchmarks.md`` for the measurements behind the defaults.

Admission control lives here too: when ``max_queue`` calls are already waiting, a new one is
shed at once with :class:`~localvision.errors.OverloadedError`, and a call that has not been
answered within the request time limit gets :class:`~localvision.errors.RequestTimeoutError`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from ..errors import OverloadedError, RequestTimeoutError
from ..types import AnnotateRequest, AnnotateResult
from .dispatch import Dispatcher

__all__ = ["Batcher"]

Annotate = Callable[[Sequence[AnnotateRequest]], list[AnnotateResult]]


@dataclass
class _Call:
    requests: Sequence[AnnotateRequest]
    future: asyncio.Future[list[AnnotateResult]]


class Batcher:
    """Queues annotate calls and runs them in merged batches on the dispatcher."""

    def __init__(
        self,
        annotate: Annotate,
        dispatcher: Dispatcher,
        *,
        max_batch_size: int,
        max_queue_delay_ms: float,
        max_queue: int,
        timeout_s: float,
    ) -> None:
        self._annotate = annotate
        self._dispatcher = dispatcher
        self.max_batch_size = max(1, max_batch_size)
        self.max_queue_delay_s = max(0.0, max_queue_delay_ms) / 1000
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self._queue: deque[_Call] = deque()
        self._queued_images = 0
        self._arrived = asyncio.Event()
        self._runners: list[asyncio.Task[None]] = []

    async def annotate(self, requests: Sequence[AnnotateRequest]) -> list[AnnotateResult]:
        """Results for ``requests``, run together with whatever else is waiting."""
        if len(self._queue) >= self.max_queue + self._dispatcher.workers:
            raise OverloadedError(
                f"The server is busy ({len(self._queue)} requests waiting).",
                hint="Retry after a short wait.",
            )
        call = _Call(requests, asyncio.get_running_loop().create_future())
        self._queue.append(call)
        self._queued_images += len(requests)
        self._arrived.set()
        self._ensure_runners()
        try:
            with anyio.fail_after(self.timeout_s):
                return await asyncio.shield(call.future)
        except TimeoutError:
            raise RequestTimeoutError(
                f"The request did not finish within {self.timeout_s:g} s.",
                hint="Send fewer or smaller images per request, or raise request_timeout_s.",
            ) from None

    def _ensure_runners(self) -> None:
        self._runners = [task for task in self._runners if not task.done()]
        while len(self._runners) < self._dispatcher.workers:
            self._runners.append(asyncio.get_running_loop().create_task(self._run()))

    async def _run(self) -> None:
        while self._queue:
            if self.max_queue_delay_s and self._queued_images < self.max_batch_size:
                await self._wait_for_company()
            batch = self._take()
            if not batch:
                continue
            merged = [request for call in batch for request in call.requests]
            try:
                results = await self._dispatcher.run(self._annotate, merged)
            except Exception as exc:
                for call in batch:
                    if not call.future.done():
                        call.future.set_exception(exc)
                continue
            offset = 0
            for call in batch:
                part = results[offset : offset + len(call.requests)]
                offset += len(call.requests)
                if not call.future.done():
                    call.future.set_result(part)

    async def _wait_for_company(self) -> None:
        deadline = anyio.current_time() + self.max_queue_delay_s
        while self._queued_images < self.max_batch_size:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                return
            self._arrived.clear()
            with anyio.move_on_after(remaining):
                await self._arrived.wait()

    def _take(self) -> list[_Call]:
        batch: list[_Call] = []
        size = 0
        while self._queue:
            call = self._queue[0]
            if batch and size + len(call.requests) > self.max_batch_size:
                break
            self._queue.popleft()
            self._queued_images -= len(call.requests)
            if call.future.done():  # its caller gave up (timed out)
                continue
            batch.append(call)
            size += len(call.requests)
        return batch
