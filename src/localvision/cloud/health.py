"""Provider health: which cloud providers are failing, and which are cooling down.

A provider that fails ``failures_to_cool`` times in a row (an error, throttling, a timeout, a
credential error) is skipped for ``cooldown_s`` seconds, so a provider that is down costs one
failed call per cool-down instead of one per request. Errors about the image itself (it does
not decode, a feature the provider lacks) are answers, not failures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import AuthenticationError, OverloadedError, ProviderError, RequestTimeoutError

__all__ = ["FAILURES", "Health", "is_failure"]

FAILURES = (ProviderError, OverloadedError, AuthenticationError, RequestTimeoutError)
"""The errors that count against a provider (and move a request on to the next route)."""


def is_failure(error: BaseException | None) -> bool:
    """Whether an answer's ``error`` means the provider failed, rather than the image."""
    return isinstance(error, FAILURES)


@dataclass
class _State:
    failures: int = 0
    cooled_until: float = 0.0


class Health:
    """Failures in a row and cool-downs of each named provider; safe across threads."""

    def __init__(
        self,
        names: Iterable[str],
        *,
        failures_to_cool: int,
        cooldown_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.failures_to_cool = failures_to_cool
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._state = {name: _State() for name in names}
        self._lock = threading.Lock()

    def cooling(self, name: str) -> bool:
        """Whether ``name`` is being skipped after repeated failures."""
        return self._state[name].cooled_until > self.clock()

    def failed(self, name: str) -> None:
        """Count a failure of ``name``; enough in a row start its cool-down."""
        with self._lock:
            state = self._state[name]
            state.failures += 1
            if state.failures >= self.failures_to_cool:
                state.cooled_until = self.clock() + self.cooldown_s
                state.failures = 0

    def answered(self, name: str) -> None:
        """``name`` answered: its run of failures is over."""
        with self._lock:
            self._state[name].failures = 0
