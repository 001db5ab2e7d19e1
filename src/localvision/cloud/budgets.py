"""Monthly cloud budgets: what the router has spent, and whether one more call fits.

Spend is counted in units (images sent per provider and feature, and per caller key) for the
current calendar month (UTC). The count is read back from the audit log the first time it is
needed and again whenever the month changes, so a restarted server knows what it has already
spent; after that, each successful call adds one unit per feature. Units are priced from the
price table: the provider's and provider/feature caps (``budgets``) at the account's marginal
price (free units and volume tiers included), the per-key caps (``key_budgets``) at each
entry's first paid tier, since free units and volume discounts belong to the account, not to
one caller.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..config import RouterSettings
from ..errors import LocalVisionError
from ..types import Feature, FeatureRequest
from .audit import AuditLog, units_sent
from .prices import PriceEntry, cloud_cost, price_for

__all__ = ["Budgets"]


@dataclass
class _Spend:
    """One month's units: per (provider, feature), and per (key, provider, feature)."""

    month: str = ""
    units: dict[tuple[str, str], int] = field(default_factory=dict)
    by_key: dict[tuple[str, str, str], int] = field(default_factory=dict)


def _features(features: Sequence[FeatureRequest]) -> set[str]:
    """The distinct feature names of one call: a call is one unit per feature, not per ask."""
    return {f.feature.value for f in features}


class Budgets:
    """The month's spend ledger and the ``budgets`` / ``key_budgets`` caps of the router."""

    def __init__(
        self,
        config: RouterSettings,
        audit: AuditLog,
        prices: Sequence[PriceEntry],
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.audit = audit
        self.prices = prices
        self.clock = clock
        self._spend = _Spend()
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ the ledger

    def _month(self) -> str:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).strftime("%Y-%m")

    def _current(self) -> _Spend:
        """This month's spend, read from the audit log the first time and whenever the month
        changes (the clock may jump). Call with the lock held."""
        month = self._month()
        if self._spend.month != month:
            start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC).timestamp()
            spend = _Spend(month)
            for (key, provider, feature), count in units_sent(self.audit.entries(start)).items():
                pair = (provider, feature)
                spend.units[pair] = spend.units.get(pair, 0) + count
                if key is not None:
                    spend.by_key[(key, *pair)] = count
            self._spend = spend
        return self._spend

    def units(self) -> dict[tuple[str, str], int]:
        """Images sent per (provider, feature) this calendar month (UTC)."""
        with self._lock:
            return dict(self._current().units)

    def count(self, name: str, features: Sequence[FeatureRequest], key: str | None) -> None:
        """Add a successful call of ``name`` (by caller ``key``) to this month's spend."""
        with self._lock:
            spend = self._current()
            for feature in _features(features):
                spend.units[(name, feature)] = spend.units.get((name, feature), 0) + 1
                if key is not None:
                    owned = (key, name, feature)
                    spend.by_key[owned] = spend.by_key.get(owned, 0) + 1

    # ------------------------------------------------------------------ prices

    def spent(self, name: str) -> float:
        """USD spent on ``name`` this month, priced from the price table."""
        total = 0.0
        for (provider, feature), count in self.units().items():
            if provider == name:
                total += cloud_cost(price_for(provider, feature, self.prices), count)
        return total

    def spent_by_key(self, key: str) -> float:
        """USD the calls of ``key`` cost this month at each entry's first paid tier: volume
        tiers and free units belong to the account, so no single key is credited with them."""
        with self._lock:
            by_key = dict(self._current().by_key)
        return sum(
            count * self.list_price(provider, feature)
            for (owner, provider, feature), count in by_key.items()
            if owner == key
        )

    def list_price(self, provider: str, feature: str) -> float:
        """USD for one unit at the entry's first paid tier (0 when every tier is free)."""
        tiers = price_for(provider, feature, self.prices).tiers
        paid = [t.per_1000 for t in tiers if t.per_1000 > 0]
        return (paid[0] if paid else 0.0) / 1000

    def marginal(self, name: str, features: Sequence[FeatureRequest]) -> dict[str, float] | None:
        """What one more image costs on ``name`` for each feature, given this month's volume
        (free units and tiers included); None when a feature has no price."""
        units = self.units()
        out: dict[str, float] = {}
        for feature in _features(features):
            try:
                entry = price_for(name, feature, self.prices)
            except LocalVisionError:
                return None
            done = units.get((name, feature), 0)
            out[feature] = cloud_cost(entry, done + 1) - cloud_cost(entry, done)
        return out

    # ------------------------------------------------------------------ caps

    def refusal(self, name: str, features: Sequence[FeatureRequest], key: str | None) -> str | None:
        """Why a call of ``name`` by ``key`` may not be made (``budget``, ``key budget``), or
        None when it fits every cap."""
        if self.over_budget(name, features):
            return "budget"
        if self.over_key_budget(key, name, features):
            return "key budget"
        return None

    def over_budget(self, name: str, features: Sequence[FeatureRequest]) -> bool:
        """Whether this call's marginal price would pass the provider's monthly cap, or the
        cap of one of its features (``budgets = { google = 50, "google/text" = 20 }``)."""
        budgets = self.config.budgets
        wanted = {Feature.parse(f.feature).value for f in features}
        caps = {
            feature: budgets.get(f"{name}/{feature}")
            for feature in wanted
            if f"{name}/{feature}" in budgets
        }
        total_cap = budgets.get(name)
        if total_cap is None and not caps:
            return False
        extra = self.marginal(name, features)
        if extra is None:
            return True  # an unpriced call cannot be shown to fit the budget
        units = self.units()
        for feature, cap in caps.items():
            spent = cloud_cost(price_for(name, feature, self.prices), units.get((name, feature), 0))
            if cap is not None and spent + extra[feature] > cap:
                return True
        return total_cap is not None and self.spent(name) + sum(extra.values()) > total_cap

    def over_key_budget(
        self, key: str | None, name: str, features: Sequence[FeatureRequest]
    ) -> bool:
        """Whether this call would pass the monthly cap of the caller's key (priced at list
        price; an unpriced call cannot be shown to fit)."""
        if key is None or key not in self.config.key_budgets:
            return False
        cap = self.config.key_budgets[key]
        try:
            extra = sum(self.list_price(name, f) for f in _features(features))
        except LocalVisionError:
            return True
        return self.spent_by_key(key) + extra > cap
