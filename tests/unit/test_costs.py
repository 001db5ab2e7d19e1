"""The cost model on worked examples checked by hand."""

from __future__ import annotations

import pytest

from localvision.advisor.costs import (
    HOURS_PER_MONTH,
    HardwareProfile,
    PriceEntry,
    Tier,
    break_even,
    cloud_cost,
    local_cost,
    parse_volume,
    price_for,
    with_overrides,
)
from localvision.errors import InvalidParameterError

GOOGLE_LABELS = price_for("google", "labels")


def test_google_labels_ten_million_images() -> None:
    # 1,000 free, 4,999,000 at $1.50 per 1,000, 5,000,000 at $1.00 per 1,000.
    assert cloud_cost(GOOGLE_LABELS, 10_000_000) == pytest.approx(4_999 * 1.50 + 5_000 * 1.00)
    assert cloud_cost(GOOGLE_LABELS, 10_000_000) == pytest.approx(12_498.50)


def test_the_free_tier_and_prorating_of_the_last_block() -> None:
    assert cloud_cost(GOOGLE_LABELS, 1_000) == 0.0
    assert cloud_cost(GOOGLE_LABELS, 0) == 0.0
    assert cloud_cost(GOOGLE_LABELS, 1_500) == pytest.approx(0.75)  # 500 units: half a block
    assert cloud_cost(price_for("google", "objects"), 3_000) == pytest.approx(2 * 2.25)


def test_aws_group_two_tiers() -> None:
    aws = price_for("aws", "labels")
    assert cloud_cost(aws, 1_000_000) == pytest.approx(1_000.0)
    # 1M at $1.00, 4M at $0.80, 5M at $0.60 per 1,000.
    assert cloud_cost(aws, 10_000_000) == pytest.approx(1_000 + 3_200 + 3_000)
    assert cloud_cost(aws, 40_000_000) == pytest.approx(1_000 + 3_200 + 18_000 + 1_250)


def test_break_even_between_a_flat_local_cost_and_a_tiered_cloud() -> None:
    flat = PriceEntry("test", "labels", 0, (Tier(None, 1.0),), "test", "today")
    # A flat $500 a month against $1 per 1,000 images: even at 500,000 images.
    volume = break_even(lambda v: 500.0, lambda v: cloud_cost(flat, v))
    assert volume == pytest.approx(500_000, rel=1e-6)
    assert break_even(lambda v: 500.0, lambda v: 0.0) is None  # free cloud never loses
    assert break_even(lambda v: 0.0, lambda v: 1.0) == 1.0  # cheaper from the start


def test_local_cost_scales_in_whole_machines() -> None:
    profile = HardwareProfile(
        purchase_price=3600,
        lifetime_months=36,
        power_watts=100,
        electricity_per_kwh=0.2,
        ops_hours_per_month=1,
        ops_hourly_rate=50,
        utilisation=0.5,
    )
    machine = 100 + 0.1 * HOURS_PER_MONTH * 0.2
    capacity = 10 * HOURS_PER_MONTH * 3600 * 0.5  # 10 images/s at half load
    assert local_cost(profile, 1, 10) == pytest.approx(machine + 50)
    assert local_cost(profile, capacity, 10) == pytest.approx(machine + 50)
    assert local_cost(profile, capacity + 1, 10) == pytest.approx(2 * machine + 50)
    rented = HardwareProfile(hourly_rate=0.5, power_watts=0, ops_hours_per_month=0)
    assert local_cost(rented, 1, 10) == pytest.approx(0.5 * HOURS_PER_MONTH)


@pytest.mark.parametrize(
    ("text", "per_month"),
    [
        ("2000000/month", 2e6),
        ("2M/month", 2e6),
        ("2m", 2e6),
        ("50k/day", 50e3 * 365 / 12),
        ("1_000/hour", 1000 * HOURS_PER_MONTH),
        ("3,000/month", 3000),
    ],
)
def test_volumes(text: str, per_month: float) -> None:
    assert parse_volume(text) == pytest.approx(per_month)


@pytest.mark.parametrize("text", ["lots", "2M/fortnight", "", "-5/month"])
def test_bad_volumes(text: str) -> None:
    with pytest.raises(InvalidParameterError, match="volume"):
        parse_volume(text)


def test_missing_price_names_the_entry() -> None:
    with pytest.raises(InvalidParameterError, match="provider 'aws' and feature 'crop_hints'"):
        price_for("aws", "crop_hints")


def test_overrides_replace_and_add_entries() -> None:
    table = with_overrides(
        [
            {"provider": "google", "feature": "labels", "tiers": [{"per_1000": 1.0}]},
            {"provider": "onprem-vendor", "feature": "text", "free_units": 10,
             "tiers": [{"up_to": 1000, "per_1000": 3.0}, {"per_1000": 2.0}]},
        ]
    )  # fmt: skip
    assert cloud_cost(price_for("google", "labels", table), 2000) == pytest.approx(2.0)
    vendor = price_for("onprem-vendor", "text", table)
    assert cloud_cost(vendor, 2010) == pytest.approx(0.99 * 3.0 + 1.01 * 2.0)
    assert price_for("aws", "labels", table) == price_for("aws", "labels")  # untouched


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"provider": "x", "feature": "labels"}, "is not a price"),
        ({"provider": "x", "feature": "labels", "tiers": []}, "tiers must exist"),
        ({"provider": "x", "feature": "labels", "tiers": [{"per_1000": -1}]}, "non-negative"),
        (
            {"provider": "x", "feature": "labels",
             "tiers": [{"per_1000": 1}, {"up_to": 5, "per_1000": 1}]},
            "only the last may be unbounded",
        ),
    ],
)  # fmt: skip
def test_bad_overrides_name_the_entry(entry: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        with_overrides([entry])
