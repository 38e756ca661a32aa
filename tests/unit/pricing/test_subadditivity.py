"""Pooling never costs more exactly when the price is subadditive; the check is exact."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.money import Money
from subacct.pricing import (
    BillingMode,
    PackagePrice,
    Plan,
    PlanLadder,
    PriceModel,
    Tier,
    TieredPrice,
    TierMode,
    compare,
    is_subadditive,
    subadditivity_witness,
)
from subacct.testing.pricing_strategies import (
    package_prices,
    plan_ladders,
    subadditive_ladders,
    tiered_prices,
)

from .pricing_helpers import usd


def falling_but_not_subadditive() -> PlanLadder:
    # 1 cent a message, then 0.3 cents a message: the price per message falls...
    return PlanLadder([Plan("1,000", 1000, usd(10)), Plan("10,000", 10000, usd(30))])


def test_counter_example_pooling_costs_more_although_price_per_message_falls() -> None:
    ladder = falling_but_not_subadditive()
    result = compare(ladder, {"a": 1000, "b": 1000})
    assert result.standalone_total == usd(20)
    assert result.pooled_total == usd(30)
    assert result.saving == usd(-10)
    assert result.cheaper is BillingMode.STANDALONE
    assert subadditivity_witness(ladder) == (1, 1000)
    assert not is_subadditive(ladder)


def test_seed000_ladder_itself_is_not_subadditive(ladder: PlanLadder) -> None:
    # Two accounts at 2,500 each: $15 + $15 standalone, but 5,000 pooled needs the $45 plan.
    assert compare(ladder, {"a": 2500, "b": 2500}).cheaper is BillingMode.STANDALONE
    assert subadditivity_witness(ladder) == (1, 2500)


def test_a_subadditive_ladder_is_recognised() -> None:
    ladder = PlanLadder(
        [Plan("1,000", 1000, usd(10)), Plan("2,000", 2000, usd(18)), Plan("3,000", 3000, usd(25))]
    )
    assert subadditivity_witness(ladder) is None
    assert compare(ladder, {"a": 1, "b": 1}).cheaper is BillingMode.POOLED


def test_equal_prices_name_no_cheaper_structure() -> None:
    flat = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.01")], "USD")
    assert compare(flat, {"a": 100, "b": 300}).cheaper is None


def test_overage_rate_above_a_plans_average_breaks_subadditivity() -> None:
    plans = [Plan("1,000", 1000, usd(10))]  # 1 cent a message on the plan
    assert is_subadditive(PlanLadder(plans, overage_unit_price="0.01"))
    witness = subadditivity_witness(PlanLadder(plans, overage_unit_price="0.02"))
    assert witness is not None
    model = PlanLadder(plans, overage_unit_price="0.02")
    a, b = witness
    assert model.amount(a + b) > model.amount(a) + model.amount(b)


def test_volume_tiers_with_falling_rates_and_no_flat_fee_are_subadditive() -> None:
    stripe = [Tier(5, "7"), Tier(10, "6.5"), Tier(None, "6")]
    assert is_subadditive(TieredPrice(TierMode.VOLUME, stripe, "USD"))
    assert is_subadditive(TieredPrice(TierMode.GRADUATED, stripe, "USD"))


def test_rising_graduated_rates_are_not_subadditive() -> None:
    rising = TieredPrice(TierMode.GRADUATED, [Tier(10, "1"), Tier(None, "2")], "USD")
    assert subadditivity_witness(rising) == (1, 10)


def test_package_pricing_is_always_subadditive() -> None:
    assert is_subadditive(PackagePrice(1000, "1", "USD"))


def brute_force_witness(model: PriceModel, top: int) -> tuple[int, int] | None:
    for total in range(top + 1):
        for a in range(total // 2 + 1):
            b = total - a
            if model.amount(total) > model.amount(a) + model.amount(b):
                return (a, b)
    return None


@st.composite
def small_ladders(draw: st.DrawFn) -> PlanLadder:
    volumes = sorted(draw(st.sets(st.integers(1, 24), min_size=1, max_size=4)))
    steps = draw(st.lists(st.integers(0, 20), min_size=len(volumes), max_size=len(volumes)))
    plans, price = [], 0
    for volume, step in zip(volumes, steps, strict=True):
        price += step
        plans.append(Plan(str(volume), volume, Money(price, "USD")))
    rate = draw(st.one_of(st.none(), st.sampled_from(["0", "0.5", "1", "3"])))
    return PlanLadder(plans, overage_unit_price=rate)


@settings(max_examples=150, deadline=None)
@given(small_ladders())
def test_ladder_check_agrees_with_exhaustive_search(ladder: PlanLadder) -> None:
    # With overage, for a > top the gap p(a+b) - p(a) - p(b) no longer depends on a (it is
    # r*b - p(b), or r*top - c_top when b > top too), so a counter-example exists iff one
    # exists with a, b <= top + 1: searching sums up to 2 * top + 2 is exhaustive.
    top = ladder.top.included if ladder.overage_unit_price is None else 2 * ladder.top.included + 2
    expected = brute_force_witness(ladder, top)
    found = subadditivity_witness(ladder)
    assert (found is None) == (expected is None)
    if found is not None:
        a, b = found
        assert ladder.amount(a + b) > ladder.amount(a) + ladder.amount(b)


@st.composite
def small_tier_lists(draw: st.DrawFn) -> TieredPrice:
    bounds = sorted(draw(st.sets(st.integers(1, 12), max_size=3)))
    count = len(bounds) + 1
    units = draw(st.lists(st.integers(0, 9), min_size=count, max_size=count))
    fees = draw(st.lists(st.integers(0, 9), min_size=count, max_size=count))
    ups: list[int | None] = [*bounds, None]
    tiers = [Tier(u, p, f) for u, p, f in zip(ups, units, fees, strict=True)]
    return TieredPrice(draw(st.sampled_from(TierMode)), tiers, "USD")


@settings(max_examples=150, deadline=None)
@given(small_tier_lists())
def test_tier_check_agrees_with_exhaustive_search(model: TieredPrice) -> None:
    # Piece endpoints are <= 13, so every candidate point has a + b <= 26 < 40.
    expected = brute_force_witness(model, 40)
    assert (subadditivity_witness(model) is None) == (expected is None)


@settings(max_examples=60, deadline=None)
@given(st.one_of(plan_ladders(), tiered_prices()))
def test_a_witness_is_always_a_real_counter_example(model: PriceModel) -> None:
    witness = subadditivity_witness(model)
    if witness is not None:
        a, b = witness
        assert model.amount(a + b) > model.amount(a) + model.amount(b)
        result = compare(model, {"a": a, "b": b})
        assert result.cheaper is BillingMode.STANDALONE


@settings(max_examples=80, deadline=None)
@given(subadditive_ladders(), st.lists(st.integers(0, 20_000), min_size=1, max_size=12))
def test_pooled_bill_never_exceeds_standalone_on_a_subadditive_ladder(
    ladder: PlanLadder, volumes: list[int]
) -> None:
    assert is_subadditive(ladder)
    cap = ladder.max_volume
    if cap is not None:  # pooling beyond the top plan is refused, not cheaper: stay inside
        volumes = [min(v, cap // len(volumes)) for v in volumes]
    result = compare(ladder, {f"acc{i}": v for i, v in enumerate(volumes)})
    assert result.pooled_total <= result.standalone_total
    assert result.cheaper in (BillingMode.POOLED, None)


@settings(max_examples=40, deadline=None)
@given(package_prices(), st.lists(st.integers(0, 50_000), min_size=1, max_size=8))
def test_package_pooling_never_costs_more(model: PackagePrice, volumes: list[int]) -> None:
    result = compare(model, {f"acc{i}": v for i, v in enumerate(volumes)})
    assert result.pooled_total.amount <= result.standalone_total.amount + Decimal(0)
