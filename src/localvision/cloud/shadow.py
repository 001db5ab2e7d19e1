"""Shadow mode: sampled second opinions, in the background, on answers already given.

A share (``shadow_fraction``) of answered requests is sent to the ``shadow`` route (``local``
or a provider) for the features it did not answer itself. The comparison runs on one worker
thread with at most 64 waiting (the rest are skipped, so a slow shadow route sheds instead of
queueing without end); the answer returned to the caller is never delayed or changed. A cloud
shadow obeys the same privacy check, budgets and cool-down as a route. The agreement of the two
answers is stored in the audit database, next to the egress records.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from ..annotator import Annotator
from ..config import LOCAL_ROUTE
from ..metrics.agreement import agreement
from ..types import AnnotateRequest, AnnotateResult, FeatureRequest
from .audit import AuditLog, calling_as
from .budgets import Budgets
from .health import Health, is_failure
from .privacy import PrivacyCheck
from .providers import CloudProvider

__all__ = ["Shadow"]

log = logging.getLogger("localvision.cloud.shadow")

_MAX_PENDING = 64


def _log_failure(future: Future[None]) -> None:
    """A shadow comparison that broke is logged; it never touched an answer."""
    error = future.exception()
    if error is not None:
        log.warning("shadow comparison failed: %s", error)


class Shadow:
    """Second opinions from ``route`` on a sampled ``fraction`` of the router's answers."""

    def __init__(
        self,
        route: str,
        fraction: float,
        *,
        local: Annotator,
        providers: Mapping[str, CloudProvider],
        privacy: PrivacyCheck,
        budgets: Budgets,
        health: Health,
        audit: AuditLog,
        clock: Callable[[], float],
    ) -> None:
        self.route = route
        self.fraction = fraction
        self.local = local
        self.providers = providers
        self.privacy = privacy
        self.budgets = budgets
        self.health = health
        self.audit = audit
        self.clock = clock
        self._sample = random.Random()
        self._lock = threading.Lock()
        self._pending: list[Future[None]] = []
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="lv-shadow")

    def offer(
        self, request: AnnotateRequest, result: AnnotateResult, private: bool, key: str | None
    ) -> None:
        """Queue a second opinion on ``result`` if this request is sampled; never blocks."""
        routes: dict[str, str] = result.extra.get("routes", {})
        features = [
            f
            for f in request.features
            if routes.get(f.feature.value) not in (None, self.route, "refused")
        ]
        if not features or result.error is not None:
            return
        if self._sample.random() >= self.fraction:
            return
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]  # let finished ones go
            if len(self._pending) >= _MAX_PENDING:
                return
            future = self._worker.submit(self._compare, request, features, result, private, key)
            future.add_done_callback(_log_failure)
            self._pending.append(future)

    def drain(self) -> None:
        """Wait for the comparisons queued so far."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Finish the queued comparisons and stop the worker."""
        self._worker.shutdown(wait=True)

    def _compare(
        self,
        request: AnnotateRequest,
        features: list[FeatureRequest],
        primary: AnnotateResult,
        private: bool,
        key: str | None = None,
    ) -> None:
        """Ask the shadow route and record how its answer agrees with ``primary``."""
        answer = self._ask(request, features, private, key)
        if answer is None or answer.error is not None:
            return
        routes = primary.extra.get("routes", {})
        answered_by = ",".join(sorted({routes[f.feature.value] for f in features}))
        self.audit.record_shadow(
            self.clock(),
            answered_by,
            self.route,
            sorted(f.feature.value for f in features),
            agreement([primary], [answer]),
        )

    def _ask(
        self,
        request: AnnotateRequest,
        features: list[FeatureRequest],
        private: bool,
        key: str | None,
    ) -> AnnotateResult | None:
        """The shadow route's answer, or None when a cloud shadow may not be asked (cooling
        down, a private image, over a budget) or failed."""
        sub = AnnotateRequest(request.image, features, request.name)
        if self.route == LOCAL_ROUTE:
            (answer,) = self.local.annotate([sub])
            return answer
        if (
            self.health.cooling(self.route)
            or self.privacy.reasons(request, caller_private=private)
            or self.budgets.over_budget(self.route, features)
            or self.budgets.over_key_budget(key, self.route, features)
        ):
            return None
        with calling_as(key):
            (answer,) = self.providers[self.route].annotate([sub])
        if is_failure(answer.error):
            self.health.failed(self.route)
            return None
        if answer.error is None:
            self.budgets.count(self.route, features, key)
        return answer
