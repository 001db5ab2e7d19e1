"""The router: an Annotator that chooses, per request and feature, between the local engine
and the cloud providers, under the privacy, budget and fallback policies of
``[cloud.router]``.

For each feature the configured routes are tried in order. A cloud route is skipped when the
image is private (see :mod:`localvision.cloud.privacy`), when the provider's monthly budget would be
exceeded by this request (:mod:`localvision.cloud.budgets`), or while the provider is cooling
down after repeated failures (:mod:`localvision.cloud.health`); a provider that fails (error,
timeout, throttling) hands the request to the next route. When no cloud route answers, the
local engine does, or the request is refused with the reason, as configured. Every refusal is
written to the audit log next to the requests that left, so the log proves what did *not*
leave too. Work that ends up local is sent to the engine as one batch, unless the local queue
is long and a *burst* provider may take it (same privacy and budget rules). A *shadow* route
can give sampled second opinions in the background (:mod:`localvision.cloud.shadow`).

The settings are checked when they are read (:class:`~localvision.config.RouterSettings`);
what is left to check here is that every provider they name can be opened.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..annotator import Annotator
from ..config import LOCAL_ROUTE, Settings
from ..errors import ConfigError, EgressDeniedError, LocalVisionError
from ..types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest
from .audit import AuditLog, EgressRecord, calling_as, costing, redacting
from .budgets import Budgets
from .health import Health, is_failure
from .prices import PRICES, PriceEntry
from .privacy import PrivacyCheck
from .providers import CloudProvider, open_provider
from .redaction import redact
from .shadow import Shadow

__all__ = ["Router"]

LOCAL = LOCAL_ROUTE
_FIELDS = ("labels", "colors", "quality", "crop_hints", "objects", "faces", "text")


@dataclass
class _Work:
    """One request's features that share a route chain, and where they ended up."""

    index: int
    features: list[FeatureRequest]
    chain: list[str]
    answered_by: str | None = None
    result: AnnotateResult | None = None
    redacted: list[str] = field(default_factory=list)
    refusal: LocalVisionError | None = None
    key: str | None = None


class Router:
    """Routes requests between ``local`` and the configured cloud providers."""

    def __init__(
        self,
        settings: Settings,
        local: Annotator,
        providers: Mapping[str, CloudProvider] | None = None,
        *,
        audit: AuditLog | None = None,
        prices: Sequence[PriceEntry] = PRICES,
        clock: Callable[[], float] = time.time,
        load: Callable[[], int] = lambda: 0,
    ) -> None:
        config = settings.cloud.router
        self.load = load
        self.local = local
        self.config = config
        self.prices = prices
        self.clock = clock
        self.routes = config.feature_routes()
        named = config.named_providers
        patterns = [re.compile(p) for p in config.patterns]
        self.privacy = PrivacyCheck(local, frozenset(config.privacy), patterns)
        if providers is None:
            providers = {name: open_provider(name, settings) for name in sorted(named)}
        missing = named - set(providers)
        if missing:
            raise ConfigError(f"[cloud.router] routes name unknown providers: {sorted(missing)}.")
        self.providers = dict(providers)
        self.audit = audit or AuditLog.for_settings(settings)
        self.health = Health(
            self.providers,
            failures_to_cool=config.failures_to_cool,
            cooldown_s=config.cooldown_s,
            clock=clock,
        )
        self.budgets = Budgets(config, self.audit, prices, clock)
        self.shadow: Shadow | None = None
        if config.shadow is not None and config.shadow_fraction > 0:
            self.shadow = Shadow(
                config.shadow,
                config.shadow_fraction,
                local=local,
                providers=self.providers,
                privacy=self.privacy,
                budgets=self.budgets,
                health=self.health,
                audit=self.audit,
                clock=clock,
            )

    @property
    def features(self) -> frozenset[Feature]:
        routed = {f for f, chain in self.routes.items() if LOCAL not in chain}
        return frozenset(self.local.features | routed)

    def spent(self, name: str) -> float:
        """USD spent on ``name`` this month, priced from the price table."""
        return self.budgets.spent(name)

    def spent_by_key(self, key: str) -> float:
        """USD the calls of ``key`` cost this month at each entry's first paid tier."""
        return self.budgets.spent_by_key(key)

    def close(self) -> None:
        """Finish queued shadow comparisons, then close the providers."""
        if self.shadow is not None:
            self.shadow.close()
        for provider in self.providers.values():
            provider.close()

    def drain(self) -> None:
        """Wait for the shadow comparisons queued so far."""
        if self.shadow is not None:
            self.shadow.drain()

    def annotate(
        self,
        requests: Sequence[AnnotateRequest],
        private: Sequence[bool] | None = None,
        *,
        key: str | None = None,
    ) -> list[AnnotateResult]:
        """Answer every request; ``private[i]`` is the caller saying request ``i`` must stay,
        ``key`` the caller's key id (audit records and ``key_budgets``)."""
        flags = list(private) if private is not None else [False] * len(requests)
        work: list[_Work] = []
        reasons: dict[int, list[str]] = {}
        for index, request in enumerate(requests):
            chains: dict[tuple[str, ...], list[FeatureRequest]] = {}
            for feature in request.features:
                chain = tuple(self.routes.get(feature.feature, [LOCAL]))
                chains.setdefault(chain, []).append(feature)
            for chain, features in chains.items():
                item = _Work(index, features, list(chain), key=key)
                if chain != (LOCAL,) and index not in reasons:
                    reasons[index] = self.privacy.reasons(request, caller_private=flags[index])
                self._try_cloud(item, request, reasons.get(index, []))
                if item.answered_by == LOCAL and self._bursting():
                    if index not in reasons:
                        reasons[index] = self.privacy.reasons(request, caller_private=flags[index])
                    if not reasons[index]:
                        assert self.config.burst is not None
                        self._send(self.config.burst, item, request)
                work.append(item)
        self._answer_locally(requests, [w for w in work if w.answered_by == LOCAL])
        results = self._merge(requests, work, reasons)
        if self.shadow is not None:
            for index, (request, result) in enumerate(zip(requests, results, strict=True)):
                self.shadow.offer(request, result, flags[index], key)
        return results

    def _bursting(self) -> bool:
        """Whether the local queue is long enough to overflow to the burst provider."""
        return self.config.burst is not None and self.load() > self.config.burst_queue

    # ------------------------------------------------------------------ one route chain

    def _try_cloud(self, item: _Work, request: AnnotateRequest, private: list[str]) -> None:
        """Try ``item``'s cloud routes in order; mark it local, answered or refused."""
        budget_refused = False
        for name in item.chain:
            if name == LOCAL:
                break
            if private:
                self._refused(name, item, f"private ({', '.join(private)})")
                if self.config.private == "refuse":
                    item.refusal = EgressDeniedError(
                        f"Not sent to {name}: the image is private ({', '.join(private)}).",
                        hint="Private images are answered locally or refused, never sent.",
                    )
                    return
                continue
            outcome = self._send(name, item, request)
            if outcome == "answered":
                return
            budget_refused = budget_refused or outcome == "budget"
        if budget_refused and self.config.over_budget == "refuse" and LOCAL not in item.chain:
            item.refusal = EgressDeniedError("Not sent: the monthly cloud budget is spent.")
            return
        item.answered_by = LOCAL

    def _send(self, name: str, item: _Work, request: AnnotateRequest) -> str:
        """Try provider ``name`` for ``item``: ``answered``, or why not (``cooling``,
        ``budget``, ``redaction``, ``failed``)."""
        if self.health.cooling(name):
            return "cooling"
        over = self.budgets.refusal(name, item.features, item.key)
        if over is not None:
            self._refused(name, item, over)
            return "budget"
        image, item.redacted = request.image, []  # what an earlier route blurred is not this
        if self.config.redact.get(name):
            try:
                image, item.redacted = redact(request, self.local, self.config.redact[name])
            except LocalVisionError as exc:
                self._refused(name, item, f"cannot redact ({exc.message})")
                return "redaction"
        marginal = self.budgets.marginal(name, item.features)
        estimate = sum(marginal.values()) if marginal is not None else None
        # the provider's audit record says what was blurred, for whom, and what it cost
        with redacting(item.redacted), calling_as(item.key), costing(estimate):
            (answer,) = self.providers[name].annotate(
                [AnnotateRequest(image, item.features, request.name)]
            )
        if is_failure(answer.error):
            self.health.failed(name)
            return "failed"
        self.health.answered(name)
        if answer.error is None:
            self.budgets.count(name, item.features, item.key)
        item.answered_by, item.result = name, answer
        return "answered"

    def _refused(self, name: str, item: _Work, reason: str) -> None:
        """Write the audit record of a call not made (nothing sent) and why."""
        self.audit.record(
            EgressRecord(
                time=self.clock(),
                provider=name,
                endpoint="router",
                features=sorted(f.feature.value for f in item.features),
                images=0,
                bytes_sent=0,
                sha256=[],
                outcome=f"refused: {reason}",
                duration_ms=0.0,
                key_id=item.key,
            )
        )

    # ------------------------------------------------------------------ local work and merging

    def _answer_locally(self, requests: Sequence[AnnotateRequest], work: list[_Work]) -> None:
        """Answer every piece of local work in one batch of the engine."""
        if not work:
            return
        answers = self.local.annotate(
            [
                AnnotateRequest(requests[w.index].image, w.features, requests[w.index].name)
                for w in work
            ]
        )
        for item, answer in zip(work, answers, strict=True):
            item.result = answer

    @staticmethod
    def _merge(
        requests: Sequence[AnnotateRequest], work: list[_Work], reasons: dict[int, list[str]]
    ) -> list[AnnotateResult]:
        """One result per request from its pieces, saying where each feature was answered
        (``extra["routes"]``), what was blurred and why an image was kept."""
        results = [AnnotateResult(name=r.name) for r in requests]
        for item in work:
            result = results[item.index]
            routes = result.extra.setdefault("routes", {})
            for feature in item.features:
                routes[feature.feature.value] = item.answered_by or "refused"
            if item.redacted:
                result.extra["redacted"] = item.redacted
            if item.refusal is not None:
                result.error = result.error or item.refusal
                continue
            answer = item.result
            assert answer is not None
            result.width = result.width or answer.width
            result.height = result.height or answer.height
            for name in _FIELDS:
                value = getattr(answer, name)
                if value is not None:
                    setattr(result, name, value)
            result.error = result.error or answer.error
        for index, found in reasons.items():
            results[index].extra["private"] = found
        return results
