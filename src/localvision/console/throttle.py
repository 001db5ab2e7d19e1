"""Failed console logins, counted per client address, so keys cannot be guessed at speed.

An API key is long and random, so guessing one is hopeless anyway; this keeps a script from
trying at network speed and filling the logs. After ``limit`` failed logins from one address
within ``window_s`` seconds, that address is refused (429 with Retry-After) until the oldest
failure leaves the window. A successful login does not clear the count: the failures still
happened. Memory is bounded whatever the callers do.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LoginThrottle"]

MOST_ADDRESSES = 10_000


class LoginThrottle:
    """Failed logins per address within a sliding window; safe to share between threads."""

    def __init__(
        self,
        *,
        limit: int = 10,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def wait_s(self, address: str) -> float:
        """Seconds before ``address`` may try again (0: it may now)."""
        with self._lock:
            failures = self._recent(address)
            if len(failures) < self.limit:
                return 0.0
            return max(failures[0] + self.window_s - self.clock(), 0.0)

    def failed(self, address: str) -> None:
        """Count one failed login from ``address``."""
        with self._lock:
            failures = self._recent(address)
            failures.append(self.clock())
            self._failures[address] = failures
            self._failures.move_to_end(address)
            while len(self._failures) > MOST_ADDRESSES:
                self._failures.popitem(last=False)

    def _recent(self, address: str) -> deque[float]:
        """The failures of ``address`` still in the window (call with the lock held)."""
        failures = self._failures.get(address, deque())
        cutoff = self.clock() - self.window_s
        while failures and failures[0] <= cutoff:
            failures.popleft()
        return failures
