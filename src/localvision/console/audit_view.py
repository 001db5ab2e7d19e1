"""What the *Cloud* page shows, read from the audit log: records filtered as asked, this month's
spend against each budget, the router's refusals and shadow agreement.

Spend is recomputed from the log the way the router's ledger is (``cloud.budgets``: images sent
successfully, priced from the price table), so the page agrees with what the router enforces,
and shows it even while no router runs.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cloud.audit import AuditLog, EgressRecord, summarise
from ..cloud.budgets import Budgets
from ..cloud.prices import PRICES, cloud_cost, price_for
from ..config import Settings
from ..errors import InvalidParameterError, LocalVisionError

__all__ = ["AuditFilter", "CloudView", "cloud_view", "when"]

MOST_ROWS = 500
"""Rows the page lists, newest first (the totals count them all)."""
OUTCOMES = ("ok", "refused", "failed")


@dataclass(frozen=True)
class AuditFilter:
    """The page's filter form: empty fields filter nothing."""

    provider: str = ""
    outcome: str = ""
    key: str = ""
    since: str = ""
    until: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AuditFilter:
        """The filter from ``?provider=&outcome=&key=&since=&until=`` (dates YYYY-MM-DD)."""
        chosen = cls(**{name: query.get(name, "").strip() for name in cls.__dataclass_fields__})
        for name in ("since", "until"):
            value = getattr(chosen, name)
            if value:
                _day(value, name)  # refuse a malformed date before reading anything
        if chosen.outcome and chosen.outcome not in OUTCOMES:
            raise InvalidParameterError(f"outcome must be one of {', '.join(OUTCOMES)}.")
        return chosen

    def keeps(self, record: EgressRecord) -> bool:
        if self.provider and record.provider != self.provider:
            return False
        if self.outcome and _outcome(record) != self.outcome:
            return False
        if self.key and self.key not in (record.key_id or ""):
            return False
        return not (self.until and record.time >= _day(self.until, "until") + 86400)

    @property
    def start(self) -> float:
        return _day(self.since, "since") if self.since else 0.0


@dataclass
class CloudView:
    """Everything the page renders."""

    records: list[EgressRecord]
    matched: int
    providers: list[str]
    budgets: list[dict[str, Any]] = field(default_factory=list)
    key_budgets: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    refusals: list[tuple[str, int]] = field(default_factory=list)
    shadow: dict[str, Any] = field(default_factory=dict)
    month: str = ""


def cloud_view(settings: Settings, wanted: AuditFilter, *, now: float | None = None) -> CloudView:
    """Read the audit log under ``settings.home`` for the page (blocking)."""
    clock = now if now is not None else time.time()
    month_start = dt.datetime.fromtimestamp(clock, dt.UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    configured = {n for n in ("google", "aws", "azure") if getattr(settings.cloud, n) is not None}
    router = settings.cloud.router
    if not (settings.home / "audit.db").is_file():  # nothing was ever sent or refused
        return CloudView(
            [],
            0,
            sorted(configured),
            budgets=[_row(name, cap, 0.0) for name, cap in sorted(router.budgets.items())],
            key_budgets=[_row(key, cap, 0.0) for key, cap in sorted(router.key_budgets.items())],
            month=month_start.strftime("%Y-%m"),
        )
    log = AuditLog.for_settings(settings)
    try:
        matching = [r for r in log.entries(wanted.start) if wanted.keeps(r)]
        this_month = log.entries(month_start.timestamp())
        shadow = log.shadow_summary(month_start.timestamp())
        ledger = Budgets(router, log, PRICES, lambda: clock)
        budgets = [_budget(ledger, name, cap) for name, cap in sorted(router.budgets.items())]
        key_budgets = [
            _row(key, cap, ledger.spent_by_key(key))
            for key, cap in sorted(router.key_budgets.items())
        ]
    finally:
        log.close()
    refusals = Counter(r.outcome for r in this_month if r.refused)
    return CloudView(
        records=list(reversed(matching))[:MOST_ROWS],
        matched=len(matching),
        providers=sorted(configured | {r.provider for r in this_month}),
        budgets=budgets,
        key_budgets=key_budgets,
        totals=summarise(this_month),
        refusals=refusals.most_common(),
        shadow=shadow,
        month=month_start.strftime("%Y-%m"),
    )


def _budget(ledger: Budgets, name: str, cap: float) -> dict[str, Any]:
    """One ``budgets`` entry: ``provider`` or ``provider/feature``, its cap and spend."""
    provider, _, feature = name.partition("/")
    if not feature:
        spent = ledger.spent(provider)
    else:
        try:
            entry = price_for(provider, feature)
        except LocalVisionError:
            spent = 0.0  # an unpriced feature: the router refuses it, nothing is spent
        else:
            spent = cloud_cost(entry, ledger.units().get((provider, feature), 0))
    return _row(name, cap, spent)


def _row(name: str, cap: float, spent: float) -> dict[str, Any]:
    """A budget as the page shows it: how much of ``cap`` (USD) is ``spent``."""
    return {
        "name": name,
        "cap": cap,
        "spent": spent,
        "share": min(spent / cap, 1.0) if cap else 1.0,
    }


def _outcome(record: EgressRecord) -> str:
    if record.refused:
        return "refused"
    return "ok" if record.outcome == "ok" else "failed"


def _day(text: str, name: str) -> float:
    """Midnight UTC of ``YYYY-MM-DD``."""
    try:
        day = dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidParameterError(f"{name} must be a date, YYYY-MM-DD; got {text!r}.") from None
    return day.timestamp()


def when(timestamp: float) -> str:
    """A record's time as the page prints it (UTC)."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
