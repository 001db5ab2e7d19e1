"""Cloud list prices: each provider's price per feature, with free and volume tiers, where and
when it was read, and what a month's units cost on it. Pure arithmetic, no I/O.

Each price entry bands the month's units: the first ``free_units`` cost nothing, then each
tier's price per 1,000 applies to the units inside its band, prorated (a last partial block of
1,000 costs its share). Bands are absolute: Google's "1,001 - 5,000,000 at $1.50" is the band
from 1,000 to 5,000,000 units.

The router's budgets count spend with these prices; the advisor compares them with local cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameterError

__all__ = ["PRICES", "PriceEntry", "Tier", "cloud_cost", "price_for", "with_overrides"]


@dataclass(frozen=True)
class Tier:
    """Units up to ``up_to`` (cumulative for the month; None: no upper bound) cost
    ``per_1000`` USD per 1,000."""

    up_to: int | None
    per_1000: float


@dataclass(frozen=True)
class PriceEntry:
    """One provider's list price for one feature, with where and when it was read."""

    provider: str
    feature: str
    free_units: int
    tiers: tuple[Tier, ...]
    source: str
    date: str
    verified: bool = True
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "feature": self.feature,
            "free_units": self.free_units,
            "tiers": [{"up_to": t.up_to, "per_1000": t.per_1000} for t in self.tiers],
            "source": self.source,
            "date": self.date,
            "verified": self.verified,
            "note": self.note,
        }


def _google(feature: str, first: float, second: float | None, note: str = "") -> PriceEntry:
    tiers = (Tier(5_000_000, first),) + ((Tier(None, second),) if second is not None else ())
    return PriceEntry(
        "google",
        feature,
        1000,
        tiers,
        "cloud.google.com/vision/pricing (stored copies; capture date unknown; "
        "2026 secondary sources agree)",
        "2026-05-28",
        True,
        note,
    )


_AWS_GROUP2 = (
    Tier(1_000_000, 1.00),
    Tier(5_000_000, 0.80),
    Tier(35_000_000, 0.60),
    Tier(None, 0.25),
)
_AWS_SOURCE = "aws.amazon.com/rekognition/pricing (first tier via a 2026-10-07 transcription)"
_AZURE_SOURCE = "azure.microsoft.com/pricing (not in the stored corpus: from memory)"

PRICES: tuple[PriceEntry, ...] = (
    _google("labels", 1.50, 1.00),
    _google("text", 1.50, 0.60),
    _google("document_text", 1.50, 0.60),
    _google("faces", 1.50, 0.60),
    _google("colors", 1.50, 0.60),
    _google("crop_hints", 1.50, 0.60, "free with IMAGE_PROPERTIES on the same image"),
    _google("objects", 2.25, 1.50),
    *(
        PriceEntry(
            "aws",
            feature,
            0,
            _AWS_GROUP2,
            _AWS_SOURCE,
            "2026-10-07",
            False,
            "only the first tier is confirmed; new accounts also get a 12-month free tier",
        )
        for feature in ("labels", "text", "faces", "objects")
    ),
    PriceEntry(
        "aws",
        "colors",
        0,
        (Tier(None, 0.75),),
        _AWS_SOURCE,
        "2026-10-07",
        True,
        "DetectLabels IMAGE_PROPERTIES, first 1M images; later tiers unknown",
    ),
    *(
        PriceEntry(
            "azure",
            feature,
            5000,
            (
                Tier(1_000_000, 1.00),
                Tier(10_000_000, 0.65),
                Tier(100_000_000, 0.60),
                Tier(None, 0.40),
            ),
            _AZURE_SOURCE,
            "unknown",
            False,
            "F0 free tier: 5,000 calls a month at 20 per minute",
        )
        for feature in ("labels", "objects", "colors", "crop_hints")
    ),
    *(
        PriceEntry(
            "azure",
            feature,
            5000,
            (Tier(1_000_000, 1.50), Tier(100_000_000, 0.60), Tier(None, 0.40)),
            _AZURE_SOURCE,
            "unknown",
            False,
            "Read (OCR)",
        )
        for feature in ("text", "document_text")
    ),
)


def price_for(provider: str, feature: str, table: Sequence[PriceEntry] = PRICES) -> PriceEntry:
    """The entry for ``provider`` and ``feature``, or an error naming what is missing."""
    for entry in table:
        if entry.provider == provider and entry.feature == feature:
            return entry
    raise InvalidParameterError(
        f"The price table has no entry for provider {provider!r} and feature {feature!r}.",
        hint="Add it to the prices file you pass with --prices.",
    )


def with_overrides(
    entries: Sequence[Mapping[str, Any]], table: Sequence[PriceEntry] = PRICES
) -> list[PriceEntry]:
    """``table`` with the user's ``entries`` (dicts as read from a prices file) replacing the
    entries for the same provider and feature, or added. Each entry needs ``provider``,
    ``feature`` and ``tiers`` (``[{up_to, per_1000}]``, the last ``up_to`` absent or null);
    ``free_units``, ``source`` and ``date`` are optional."""
    replaced: dict[tuple[str, str], PriceEntry] = {(e.provider, e.feature): e for e in table}
    for index, raw in enumerate(entries):
        where = f"prices entry {index + 1}"
        try:
            tiers = tuple(
                Tier(None if t.get("up_to") is None else int(t["up_to"]), float(t["per_1000"]))
                for t in raw["tiers"]
            )
            entry = PriceEntry(
                provider=str(raw["provider"]),
                feature=str(raw["feature"]),
                free_units=int(raw.get("free_units", 0)),
                tiers=tiers,
                source=str(raw.get("source", "user override")),
                date=str(raw.get("date", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidParameterError(
                f"{where} is not a price: {exc!r}.",
                hint="Give provider, feature and tiers = [{ up_to = 5000000, per_1000 = 1.5 }].",
            ) from None
        if not tiers or any(t.per_1000 < 0 for t in tiers) or entry.free_units < 0:
            raise InvalidParameterError(f"{where}: tiers must exist and prices be non-negative.")
        bounds = [t.up_to for t in tiers[:-1]]
        if None in bounds or bounds != sorted(b for b in bounds if b is not None):
            raise InvalidParameterError(
                f"{where}: tiers must rise, and only the last may be unbounded."
            )
        replaced[(entry.provider, entry.feature)] = entry
    return list(replaced.values())


def cloud_cost(entry: PriceEntry, units: float) -> float:
    """USD for ``units`` in one month on ``entry``'s tiers, after its free units."""
    if units < 0:
        raise InvalidParameterError(f"Units must not be negative; got {units}.")
    cost = 0.0
    lower = float(entry.free_units)
    for tier in entry.tiers:
        upper = math.inf if tier.up_to is None else float(tier.up_to)
        inside = max(0.0, min(units, upper) - lower)
        cost += inside * tier.per_1000 / 1000
        lower = max(lower, upper)
        if units <= upper:
            break
    return cost
