"""Plan ladders, tier models and package pricing: documented examples and validation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from subacct.errors import (
    InvalidPricing,
    InvalidQuantity,
    PlanNotFound,
    SubacctError,
    VolumeAboveLadder,
)
from subacct.money import Money
from subacct.pricing import PackagePrice, Plan, PlanLadder, Tier, TieredPrice, TierMode

from .pricing_helpers import usd

# Stripe's tiered-pricing example ("Typographic" fonts), from
# https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing
# tiers: 1-5 at 7 USD, 6-10 at 6.5 USD, 11+ at 6 USD.
STRIPE_TIERS = [Tier(5, "7"), Tier(10, "6.5"), Tier(None, "6")]


@pytest.mark.parametrize(
    ("fonts", "total"),
    # Stripe's volume-based table, verbatim: 1 -> 7, 5 -> 35, 6 -> 39, 20 -> 120, 25 -> 150.
    [(1, "7"), (5, "35"), (6, "39"), (20, "120"), (25, "150")],
)
def test_stripe_volume_example(fonts: int, total: str) -> None:
    assert TieredPrice(TierMode.VOLUME, STRIPE_TIERS, "USD").price(fonts) == usd(total)


@pytest.mark.parametrize(
    ("fonts", "total"),
    # Stripe's graduated section: 5 fonts cost the same 35 USD as volume pricing; above the
    # first tier each tier's units are charged at that tier's rate: 6 -> 35 + 6.5 = 41.5,
    # 20 -> 35 + 32.5 + 60 = 127.5, 25 -> 35 + 32.5 + 90 = 157.5.
    [(1, "7"), (5, "35"), (6, "41.5"), (20, "127.5"), (25, "157.5")],
)
def test_stripe_graduated_example(fonts: int, total: str) -> None:
    assert TieredPrice(TierMode.GRADUATED, STRIPE_TIERS, "USD").price(fonts) == usd(total)


def test_lago_volume_example_with_flat_fee() -> None:
    # https://getlago.com/docs/guide/plans/charges/charge-models/volume
    # 65,000 API calls -> 65,000 x $0.0006 + $10 = $49.
    rows = [
        (0, 10_000, "0.0010", 10),
        (10_001, 50_000, "0.0008", 10),
        (50_001, 100_000, "0.0006", 10),
        (100_001, None, "0.0004", 10),
    ]
    price = TieredPrice.from_ranges(TierMode.VOLUME, rows, "USD")
    assert price.price(65_000) == usd(49)


def test_package_price_rounds_up_to_whole_packages() -> None:
    # https://docs.flexprice.io/docs/product-catalogue/plans/billing-models/tiered
    # 4,500 calls in packages of 1,000 at $1.00 -> 5 packages -> $5.
    price = PackagePrice(1000, "1.00", "USD")
    assert price.packages(4500) == 5
    assert price.price(4500) == usd(5)
    assert price.price(4000) == usd(4)
    assert price.price(0) == usd(0)


def test_graduated_flat_fee_is_charged_once_per_tier_entered() -> None:
    price = TieredPrice(
        TierMode.GRADUATED, [Tier(100, "1", flat_fee="5"), Tier(None, "0.5", flat_fee="3")], "USD"
    )
    assert price.amount(0) == 0  # no tier reached: nothing charged
    assert price.amount(100) == Decimal(105)
    assert price.amount(101) == Decimal("108.5")


def test_amounts_are_exact_not_rounded() -> None:
    price = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.0065")], "USD")
    assert price.amount(3) == Decimal("0.0195")


def test_ladder_overage_rate_prices_volume_above_the_top_plan(ladder: PlanLadder) -> None:
    with_overage = PlanLadder(ladder.plans, overage_unit_price="0.005")
    assert with_overage.price(20_000) == usd(100)  # $90 + 2,000 x $0.005
    assert with_overage.plan_for(20_000).name == "18,000"
    assert "2000 over" in with_overage.describe(20_000)
    assert with_overage.max_volume is None


def test_ladder_without_overage_refuses_volume_above_the_top_plan(ladder: PlanLadder) -> None:
    assert ladder.price(18_000) == usd(90)
    with pytest.raises(VolumeAboveLadder) as caught:
        ladder.price(18_001)
    assert caught.value.code == "volume_above_ladder"
    assert caught.value.details["top_included"] == 18_000


def test_zero_volume_pays_the_smallest_plan(ladder: PlanLadder) -> None:
    assert ladder.price(0) == usd(15)


def test_plan_lookup_by_name(ladder: PlanLadder) -> None:
    assert ladder.plan_named("8,500").included == 8500
    with pytest.raises(PlanNotFound):
        ladder.plan_named("9,999")


def plan(name: str, included: int, price: str, currency: str = "USD") -> Plan:
    return Plan(name, included, Money(price, currency))


@pytest.mark.parametrize(
    ("plans", "reason"),
    [
        ([plan("a", 100, "5"), plan("b", 100, "6")], "bounds_not_ascending"),
        ([plan("a", 200, "5"), plan("b", 100, "6")], "bounds_not_ascending"),
        ([plan("a", 100, "5"), plan("b", 200, "4")], "price_decreasing"),
        ([plan("a", 100, "5"), plan("a", 200, "6")], "duplicate_name"),
        ([plan("a", 100, "5"), plan("b", 200, "6", "EUR")], "mixed_currency"),
    ],
)
def test_invalid_ladders_are_refused_with_a_reason(plans: list[Plan], reason: str) -> None:
    with pytest.raises(InvalidPricing) as caught:
        PlanLadder(plans)
    assert caught.value.details["reason"] == reason


@pytest.mark.parametrize(
    "build",
    [
        lambda: PlanLadder([]),
        lambda: Plan("a", -1, Money("5", "USD")),
        lambda: Plan("a", 10, Money("-5", "USD")),
        lambda: Plan("", 10, Money("5", "USD")),
        lambda: PlanLadder([plan("a", 1, "1")], overage_unit_price="-0.1"),
        lambda: PlanLadder([plan("a", 1, "1")], overage_unit_price=0.1),
    ],
)
def test_bad_plans_raise_typed_errors(build: object) -> None:
    with pytest.raises(SubacctError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("tiers", "reason"),
    [
        ([], "empty"),
        ([Tier(10, "1"), Tier(10, "1"), Tier(None, "1")], "overlap"),
        ([Tier(10, "1"), Tier(5, "1"), Tier(None, "1")], "overlap"),
        ([Tier(None, "1"), Tier(None, "1")], "overlap"),
        ([Tier(10, "1")], "last_tier_bounded"),
    ],
)
def test_invalid_tier_lists_are_refused(tiers: list[Tier], reason: str) -> None:
    with pytest.raises(InvalidPricing) as caught:
        TieredPrice(TierMode.VOLUME, tiers, "USD")
    assert caught.value.details["reason"] == reason


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([(1, 10, 1, 0), (12, None, 1, 0)], "gap"),
        ([(1, 10, 1, 0), (10, None, 1, 0)], "overlap"),
        ([(5, 10, 1, 0), (11, None, 1, 0)], "gap"),
    ],
)
def test_ranges_with_gaps_or_overlaps_are_refused(
    rows: list[tuple[int, int | None, int, int]], reason: str
) -> None:
    with pytest.raises(InvalidPricing) as caught:
        TieredPrice.from_ranges(TierMode.GRADUATED, rows, "USD")
    assert caught.value.details["reason"] == reason


@pytest.mark.parametrize(
    "build",
    [
        lambda: Tier(10, "-1"),
        lambda: Tier(10, "1", flat_fee="-1"),
        lambda: Tier(0, "1"),
        lambda: Tier(10, 1.5),
        lambda: TieredPrice(TierMode.VOLUME, [Tier(None, "1")], "dollars"),
        lambda: TieredPrice("volume", [Tier(None, "1")], "USD"),
        lambda: PackagePrice(0, "1", "USD"),
        lambda: PackagePrice(10, "-1", "USD"),
    ],
)
def test_bad_tiers_raise_invalid_pricing(build: object) -> None:
    with pytest.raises(InvalidPricing):
        build()  # type: ignore[operator]


@pytest.mark.parametrize("volume", [-1, 1.0, Decimal(3), True, "7"])
def test_bad_volumes_are_refused(ladder: PlanLadder, volume: object) -> None:
    with pytest.raises(InvalidQuantity):
        ladder.price(volume)  # type: ignore[arg-type]
    with pytest.raises(InvalidQuantity):
        TieredPrice(TierMode.VOLUME, STRIPE_TIERS, "USD").price(volume)  # type: ignore[arg-type]
