"""Running engine work off the event loop, with a bounded queue and a time limit.

At most ``workers`` calls run at once on worker threads; at most ``max_queue`` more wait for a
worker. A call beyond that is shed at once with :class:`~localvision.errors.OverloadedError`
(each protocol renders it as its own "slow down": 429, ``ThrottlingException``, 503), so a
burst never grows an unbounded backlog. A call that takes longer than ``timeout_s`` from arrival
answers :class:`~localvision.errors.RequestTimeoutError`.

The server runs everything through the :class:`~localvision.server.batching.Batcher`, which
keeps ``workers`` threads of its own busy and only takes its worker count and
:meth:`Dispatcher.call` (batches in flight, for the metrics) from here: admission by images,
and the queue-depth metric, live in the batcher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from ..errors import OverloadedError, RequestTimeoutError
from .metrics import Metrics

__all__ = ["Dispatcher"]

T = TypeVar("T")


class Dispatcher:
    """A bounded worker pool shared by every protocol's handlers."""

    def __init__(
        self, *, workers: int, max_queue: int, timeout_s: float, metrics: Metrics | None = None
    ) -> None:
        self.workers = workers
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self._limiter = anyio.CapacityLimiter(workers)
        self._admitted = 0
        self._metrics = metrics

    @property
    def queued(self) -> int:
        """Calls admitted but not yet running."""
        return max(0, self._admitted - int(self._limiter.borrowed_tokens))

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on a worker thread, or refuse at once when the queue is full."""
        if self._admitted >= self.workers + self.max_queue:
            raise OverloadedError(
                f"The server is busy ({self._admitted} requests in progress or queued).",
                hint="Retry after a short wait.",
            )
        self._admitted += 1
        try:
            with anyio.fail_after(self.timeout_s):
                return await anyio.to_thread.run_sync(
                    self._counted, fn, *args, limiter=self._limiter, abandon_on_cancel=True
                )
        except TimeoutError:
            raise RequestTimeoutError(
                f"The request did not finish within {self.timeout_s:g} s.",
                hint="Send fewer or smaller images per request, or raise request_timeout_s.",
            ) from None
        finally:
            self._admitted -= 1

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the calling (worker) thread, counted as in flight."""
        return self._counted(fn, *args)

    def _counted(self, fn: Callable[..., T], *args: object) -> T:
        if self._metrics is not None:
            self._metrics.in_flight.inc()
        try:
            return fn(*args)
        finally:
            if self._metrics is not None:
                self._metrics.in_flight.dec()
