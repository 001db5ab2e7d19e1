"""The router: an Annotator that chooses, per request and feature, between the local engine
and the cloud providers, under the privacy, budget and fallback policies of
``[cloud.router]``.

For each feature the configured routes are tried in order. A cloud route is skipped when the
image is private (see :mod:`localvision.cloud.privacy`), when the provider's monthly budget would be
exceeded by this request, or while the provider is cooling down after repeated failures; a
provider that fails (error, timeout, throttling) hands the request to the next route. When no
cloud route answers, the local engine does, or the request is refused with the reason, as
configured. Every refusal is written to the audit log next to the requests that left, so the
log proves what did *not* leave too. Work that ends up local is sent to the engine as one batch,
unless the local queue is long and a *burst* provider may take it (same privacy and budget
rules). A *shadow* route can give sampled second opinions in the background, their agreement
recorded and the answers untouched.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ..advisor.costs import PRICES, PriceEntry, cloud_cost, price_for
from ..annotator import Annotator
from ..config import Settings
from ..errors import (
    AuthenticationError,
    ConfigError,
    EgressDeniedError,
    LocalVisionError,
    OverloadedError,
    ProviderError,
    RequestTimeoutError,
)
from ..metrics.agreement import agreement
from ..types import AnnotateRequest, AnnotateResult, Feature, FeatureRequest
from .audit import AuditLog, EgressRecord, calling_as, costing, redacting, units_sent
from .privacy import CHECKS, PrivacyCheck
from .providers import CloudProvider, open_provider
from .redaction import REDACTABLE, redact

__all__ = ["Router"]

log = logging.getLogger("localvision.cloud.router")

LOCAL = "local"
_FAILURES = (ProviderError, OverloadedError, AuthenticationError, RequestTimeoutError)
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


def _log_failure(future: Future[None]) -> None:
    """A shadow comparison that broke is logged; it never touched an answer."""
    error = future.exception()
    if error is not None:
        log.warning("shadow comparison failed: %s", error)


@dataclass
class _Health:
    failures: int = 0
    cooled_until: float = 0.0


@dataclass
class _Spend:
    month: str = ""
    units: dict[tuple[str, str], int] = field(default_factory=dict)
    by_key: dict[tuple[str, str, str], int] = field(default_factory=dict)


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
        self.routes = self._check_routes(config.routes)
        named = {name for chain in self.routes.values() for name in chain} - {LOCAL}
        if config.shadow is not None and config.shadow != LOCAL:
            named.add(config.shadow)
        if config.burst == LOCAL:
            raise ConfigError("[cloud.router] burst must name a cloud provider, not 'local'.")
        if config.burst is not None:
            named.add(config.burst)
        for key in config.budgets:
            _, _, feature = key.partition("/")
            if feature:
                try:
                    Feature.parse(feature)
                except ValueError as exc:
                    raise ConfigError(f"[cloud.router] budgets.{key!r}: {exc}") from exc
        unknown_budgets = {k for k in config.budgets if k.partition("/")[0] not in named}
        if unknown_budgets:
            raise ConfigError(
                f"[cloud.router] budgets name providers no route uses: {sorted(unknown_budgets)}."
            )
        for name, what in config.redact.items():
            if name not in named:
                raise ConfigError(f"[cloud.router] redact names a provider no route uses: {name}.")
            if set(what) - REDACTABLE:
                raise ConfigError(
                    f"[cloud.router] redact.{name}: {sorted(set(what) - REDACTABLE)} cannot be "
                    f"redacted; choose from {sorted(REDACTABLE)}."
                )
        bad_checks = set(config.privacy) - CHECKS
        if bad_checks:
            raise ConfigError(
                f"Unknown privacy checks {sorted(bad_checks)}; the checks are {sorted(CHECKS)}."
            )
        try:
            patterns = [re.compile(p) for p in config.patterns]
        except re.error as exc:
            raise ConfigError(f"A privacy pattern does not compile: {exc}.") from exc
        self.privacy = PrivacyCheck(local, frozenset(config.privacy), patterns)
        if providers is None:
            providers = {name: open_provider(name, settings) for name in sorted(named)}
        missing = named - set(providers)
        if missing:
            raise ConfigError(f"[cloud.router] routes name unknown providers: {sorted(missing)}.")
        self.providers = dict(providers)
        self.audit = audit or AuditLog.for_settings(settings)
        self._health = {name: _Health() for name in self.providers}
        self._spend = _Spend()
        self._lock = threading.RLock()
        self._sample = random.Random()
        self._shadows: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        if config.shadow is not None and config.shadow_fraction > 0:
            self._shadows = ThreadPoolExecutor(1, thread_name_prefix="lv-shadow")

    @staticmethod
    def _check_routes(routes: Mapping[str, list[str]]) -> dict[Feature, list[str]]:
        checked: dict[Feature, list[str]] = {}
        for name, chain in routes.items():
            try:
                feature = Feature.parse(name)
            except ValueError as exc:
                raise ConfigError(f"[cloud.router] routes: {exc}") from exc
            if not chain or len(set(chain)) != len(chain):
                raise ConfigError(
                    f"[cloud.router] routes.{name} must list each route once: {chain}."
                )
            if LOCAL in chain[:-1]:
                raise ConfigError(
                    f"[cloud.router] routes.{name}: {LOCAL!r} always answers, so routes after "
                    "it would never be tried; put it last."
                )
            checked[feature] = list(chain)
        return checked

    @property
    def features(self) -> frozenset[Feature]:
        routed = {f for f, chain in self.routes.items() if LOCAL not in chain}
        return frozenset(self.local.features | routed)

    def close(self) -> None:
        """Finish queued shadow comparisons, then close the providers."""
        if self._shadows is not None:
            self._shadows.shutdown(wait=True)
        for provider in self.providers.values():
            provider.close()

    def drain(self) -> None:
        """Wait for the shadow comparisons queued so far."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.result()

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
        if self._shadows is not None:
            for index, (request, result) in enumerate(zip(requests, results, strict=True)):
                self._maybe_shadow(request, result, flags[index], key)
        return results

    def _bursting(self) -> bool:
        """Whether the local queue is long enough to overflow to the burst provider."""
        return self.config.burst is not None and self.load() > self.config.burst_queue

    # ------------------------------------------------------------------ one route chain

    def _try_cloud(self, item: _Work, request: AnnotateRequest, private: list[str]) -> None:
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
        if self._health[name].cooled_until > self.clock():
            return "cooling"
        if self._over_budget(name, item.features):
            self._refused(name, item, "budget")
            return "budget"
        if self._over_key_budget(item.key, name, item.features):
            self._refused(name, item, "key budget")
            return "budget"
        image, item.redacted = request.image, []  # what an earlier route blurred is not this
        if self.config.redact.get(name):
            try:
                image, item.redacted = redact(request, self.local, self.config.redact[name])
            except LocalVisionError as exc:
                self._refused(name, item, f"cannot redact ({exc.message})")
                return "redaction"
        marginal = self._marginal(name, item.features)
        estimate = sum(marginal.values()) if marginal is not None else None
        # the provider's audit record says what was blurred, for whom, and what it cost
        with redacting(item.redacted), calling_as(item.key), costing(estimate):
            (answer,) = self.providers[name].annotate(
                [AnnotateRequest(image, item.features, request.name)]
            )
        if isinstance(answer.error, _FAILURES):
            self._failed(name)
            return "failed"
        with self._lock:
            self._health[name].failures = 0
        if answer.error is None:
            self._count(name, item.features, item.key)
        item.answered_by, item.result = name, answer
        return "answered"

    def _failed(self, name: str) -> None:
        with self._lock:
            health = self._health[name]
            health.failures += 1
            if health.failures >= self.config.failures_to_cool:
                health.cooled_until = self.clock() + self.config.cooldown_s
                health.failures = 0

    def _refused(self, name: str, item: _Work, reason: str) -> None:
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

    # ------------------------------------------------------------------ budgets

    def _month(self) -> str:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).strftime("%Y-%m")

    def _units(self) -> dict[tuple[str, str], int]:
        """Images sent per (provider, feature) this calendar month (UTC), from the audit log
        the first time and whenever the month changes (the clock may jump)."""
        month = self._month()
        with self._lock:
            return self._units_for(month)

    def _units_for(self, month: str) -> dict[tuple[str, str], int]:
        if self._spend.month != month:
            start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC).timestamp()
            spend = _Spend(month)
            for (key, provider, feature), count in units_sent(self.audit.entries(start)).items():
                pair = (provider, feature)
                spend.units[pair] = spend.units.get(pair, 0) + count
                if key is not None:
                    spend.by_key[(key, *pair)] = count
            self._spend = spend
        return self._spend.units

    def _count(self, name: str, features: Sequence[FeatureRequest], key: str | None) -> None:
        with self._lock:
            units = self._units()
            by_key = self._spend.by_key
            for feature in {f.feature.value for f in features}:
                units[(name, feature)] = units.get((name, feature), 0) + 1
                if key is not None:
                    by_key[(key, name, feature)] = by_key.get((key, name, feature), 0) + 1

    def spent_by_key(self, key: str) -> float:
        """USD the calls of ``key`` cost this month at each entry's first paid tier: volume
        tiers and free units belong to the account, so no single key is credited with them."""
        self._units()
        return sum(
            count * self._list_price(provider, feature)
            for (owner, provider, feature), count in self._spend.by_key.items()
            if owner == key
        )

    def _list_price(self, provider: str, feature: str) -> float:
        tiers = price_for(provider, feature, self.prices).tiers
        paid = [t.per_1000 for t in tiers if t.per_1000 > 0]
        return (paid[0] if paid else 0.0) / 1000

    def spent(self, name: str) -> float:
        """USD spent on ``name`` this month, priced from the price table."""
        total = 0.0
        for (provider, feature), count in self._units().items():
            if provider == name:
                total += cloud_cost(price_for(provider, feature, self.prices), count)
        return total

    def _over_key_budget(
        self, key: str | None, name: str, features: Sequence[FeatureRequest]
    ) -> bool:
        if key is None or key not in self.config.key_budgets:
            return False
        cap = self.config.key_budgets[key]
        try:
            extra = sum(self._list_price(name, f) for f in {x.feature.value for x in features})
        except LocalVisionError:
            return True
        return self.spent_by_key(key) + extra > cap

    def _marginal(self, name: str, features: Sequence[FeatureRequest]) -> dict[str, float] | None:
        """What one more image costs on ``name`` for each feature, given this month's volume
        (free units and tiers included); None when a feature has no price."""
        units = self._units()
        out: dict[str, float] = {}
        for feature in {f.feature.value for f in features}:
            try:
                entry = price_for(name, feature, self.prices)
            except LocalVisionError:
                return None
            done = units.get((name, feature), 0)
            out[feature] = cloud_cost(entry, done + 1) - cloud_cost(entry, done)
        return out

    def _over_budget(self, name: str, features: Sequence[FeatureRequest]) -> bool:
        """Whether this call's marginal price would pass the provider's monthly cap, or the
        cap of one of its features (``budgets = { google = 50, "google/text" = 20 }``)."""
        wanted = {Feature.parse(f.feature).value for f in features}
        caps = {
            feature: self.config.budgets.get(f"{name}/{feature}")
            for feature in wanted
            if f"{name}/{feature}" in self.config.budgets
        }
        total_cap = self.config.budgets.get(name)
        if total_cap is None and not caps:
            return False
        extra = self._marginal(name, features)
        if extra is None:
            return True  # an unpriced call cannot be shown to fit the budget
        units = self._units()
        for feature, cap in caps.items():
            spent = cloud_cost(price_for(name, feature, self.prices), units.get((name, feature), 0))
            if cap is not None and spent + extra[feature] > cap:
                return True
        return total_cap is not None and self.spent(name) + sum(extra.values()) > total_cap

    # ------------------------------------------------------------------ shadow

    def _maybe_shadow(
        self, request: AnnotateRequest, result: AnnotateResult, private: bool, key: str | None
    ) -> None:
        """Queue a second opinion for a sampled request; never blocks the answer."""
        shadow = self.config.shadow
        assert shadow is not None and self._shadows is not None
        routes: dict[str, str] = result.extra.get("routes", {})
        features = [
            f
            for f in request.features
            if routes.get(f.feature.value) not in (None, shadow, "refused")
        ]
        if not features or result.error is not None:
            return
        if self._sample.random() >= self.config.shadow_fraction:
            return
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]  # let finished ones go
            if len(self._pending) >= 64:  # a slow shadow route sheds, never queues without end
                return
            future = self._shadows.submit(self._shadow, request, features, result, private, key)
            future.add_done_callback(_log_failure)
            self._pending.append(future)

    def _shadow(
        self,
        request: AnnotateRequest,
        features: list[FeatureRequest],
        primary: AnnotateResult,
        private: bool,
        key: str | None = None,
    ) -> None:
        shadow = self.config.shadow
        assert shadow is not None
        sub = AnnotateRequest(request.image, features, request.name)
        if shadow == LOCAL:
            (answer,) = self.local.annotate([sub])
        else:
            health = self._health[shadow]
            if (
                health.cooled_until > self.clock()
                or self.privacy.reasons(request, caller_private=private)
                or self._over_budget(shadow, features)
                or self._over_key_budget(key, shadow, features)
            ):
                return
            with calling_as(key):
                (answer,) = self.providers[shadow].annotate([sub])
            if isinstance(answer.error, _FAILURES):
                self._failed(shadow)
                return
            if answer.error is None:
                self._count(shadow, features, key)
        if answer.error is not None:
            return
        routes = primary.extra.get("routes", {})
        answered_by = ",".join(sorted({routes[f.feature.value] for f in features}))
        self.audit.record_shadow(
            self.clock(),
            answered_by,
            shadow,
            sorted(f.feature.value for f in features),
            agreement([primary], [answer]),
        )

    # ------------------------------------------------------------------ local work and merging

    def _answer_locally(self, requests: Sequence[AnnotateRequest], work: list[_Work]) -> None:
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
