"""The cost model: local cost from hardware and measured throughput, and break-even volumes
against the cloud's list prices (:mod:`localvision.cloud.prices`, re-exported here for the
advisor's callers). Pure arithmetic, no I/O.

Local: enough machines to carry the volume at the measured throughput and a stated utilisation
(at least one), each costing its purchase price spread over its lifetime (or its hourly rent)
plus the power it draws around the clock, plus the operations hours the deployment needs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cloud.prices import PRICES, PriceEntry, Tier, cloud_cost, price_for, with_overrides
from ..errors import InvalidParameterError

__all__ = [
    "HOURS_PER_MONTH",
    "PRICES",
    "HardwareProfile",
    "PriceEntry",
    "Tier",
    "break_even",
    "cloud_cost",
    "local_cost",
    "parse_volume",
    "price_for",
    "with_overrides",
]

HOURS_PER_MONTH = 730.0  # 365 * 24 / 12
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


@dataclass(frozen=True)
class HardwareProfile:
    """What running locally costs, besides the images: stated, not measured.

    Either ``purchase_price`` over ``lifetime_months`` or an ``hourly_rate`` (rented).
    """

    name: str = "a modest 2-core server (default assumption: override with --hardware)"
    purchase_price: float = 2000.0
    lifetime_months: float = 36.0
    hourly_rate: float | None = None
    power_watts: float = 150.0
    electricity_per_kwh: float = 0.20
    ops_hours_per_month: float = 2.0
    ops_hourly_rate: float = 60.0
    utilisation: float = 0.5
    extra: Mapping[str, Any] = field(default_factory=dict)

    def machine_per_month(self) -> float:
        """One machine for a month: hardware (or rent) plus power around the clock."""
        hardware = (
            self.hourly_rate * HOURS_PER_MONTH
            if self.hourly_rate is not None
            else self.purchase_price / self.lifetime_months
        )
        power = self.power_watts / 1000 * HOURS_PER_MONTH * self.electricity_per_kwh
        return hardware + power

    def to_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "name",
                "purchase_price",
                "lifetime_months",
                "hourly_rate",
                "power_watts",
                "electricity_per_kwh",
                "ops_hours_per_month",
                "ops_hourly_rate",
                "utilisation",
            )
        }


def local_cost(profile: HardwareProfile, units: float, images_per_second: float) -> float:
    """USD a month to process ``units`` images locally at the measured throughput."""
    if images_per_second <= 0:
        raise InvalidParameterError("Measured throughput must be positive.")
    capacity = images_per_second * SECONDS_PER_MONTH * profile.utilisation
    machines = max(1, math.ceil(units / capacity))
    return machines * profile.machine_per_month() + (
        profile.ops_hours_per_month * profile.ops_hourly_rate
    )


def break_even(
    cheaper_at_scale: Callable[[float], float],
    cheaper_when_small: Callable[[float], float],
    *,
    low: float = 1.0,
    high: float = 1e10,
) -> float | None:
    """The smallest monthly volume from which ``cheaper_at_scale`` costs no more than
    ``cheaper_when_small`` (None if it never does in [low, high])."""

    def gap(v: float) -> float:
        return cheaper_at_scale(v) - cheaper_when_small(v)

    if gap(low) <= 0:
        return low
    points = [float(low * (high / low) ** (i / 400)) for i in range(401)]
    previous = float(low)
    for point in points[1:]:
        if gap(point) <= 0:
            lo, hi = previous, point
            for _ in range(60):
                middle = (lo + hi) / 2
                lo, hi = (lo, middle) if gap(middle) <= 0 else (middle, hi)
            return hi
        previous = point
    return None


_VOLUME = re.compile(r"^\s*([\d_.,]+)\s*([kKmM]?)\s*(?:/\s*(month|day|hour|second|s))?\s*$")
_PER_MONTH = {
    None: 1.0,
    "month": 1.0,
    "day": 365 / 12,
    "hour": HOURS_PER_MONTH,
    "second": SECONDS_PER_MONTH,
    "s": SECONDS_PER_MONTH,
}


def parse_volume(text: str) -> float:
    """Images a month from ``2000000/month``, ``2M/month``, ``50k/day`` or ``10/second``."""
    match = _VOLUME.match(text)
    if not match:
        raise InvalidParameterError(
            f"Cannot read the volume {text!r}.",
            hint="Write e.g. 2000000/month, 2M/month or 50k/day.",
        )
    number = float(match[1].replace("_", "").replace(",", ""))
    number *= {"": 1, "k": 1e3, "m": 1e6}[match[2].lower()]
    return number * _PER_MONTH[match[3]]
