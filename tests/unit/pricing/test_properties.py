"""Invariants of the price models, checked on generated ladders, tiers and volumes."""

from __future__ import annotations

from bisect import bisect_right

from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.pricing import (
    Commitment,
    PackagePrice,
    PlanLadder,
    PriceModel,
    Tier,
    TieredPrice,
    TierMode,
    commitment_charge,
    true_up,
)
from subacct.testing.pricing_strategies import (
    amounts,
    package_prices,
    plan_ladders,
    tiered_prices,
)

VOLUMES = st.integers(0, 250_000)


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        plan_ladders(overage=True),
        tiered_prices(mode=TierMode.GRADUATED),
        package_prices(),
    ),
    VOLUMES,
    VOLUMES,
)
def test_more_usage_never_costs_less(model: PriceModel, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert model.amount(low) <= model.amount(high)


@settings(max_examples=60, deadline=None)
@given(plan_ladders(overage=False), st.data())
def test_more_usage_never_costs_less_inside_a_capped_ladder(
    ladder: PlanLadder, data: st.DataObject
) -> None:
    top = ladder.top.included
    low = data.draw(st.integers(0, top))
    high = data.draw(st.integers(low, top))
    assert ladder.price(low) <= ladder.price(high)


def test_volume_tiers_can_make_more_usage_cost_less() -> None:
    # Stripe warns about this: the whole quantity moves to the cheaper rate.
    steep = TieredPrice(TierMode.VOLUME, [Tier(10, "10"), Tier(None, "1")], "USD")
    assert steep.amount(10) == 100
    assert steep.amount(11) == 11


@settings(max_examples=100, deadline=None)
@given(amounts(5, places=4), amounts(50), VOLUMES)
def test_graduated_equals_volume_with_a_single_tier(unit: object, fee: object, v: int) -> None:
    tiers = [Tier(None, unit, fee)]
    graduated = TieredPrice(TierMode.GRADUATED, tiers, "USD")
    volume = TieredPrice(TierMode.VOLUME, tiers, "USD")
    assert graduated.amount(v) == volume.amount(v)


@settings(max_examples=100, deadline=None)
@given(st.one_of(plan_ladders(overage=True), tiered_prices()), VOLUMES)
def test_pieces_describe_the_price_exactly(model: PriceModel, v: int) -> None:
    pieces = model.pieces()
    assert pieces is not None
    piece = pieces[bisect_right([p.lo for p in pieces], v) - 1]
    assert piece.lo <= v
    assert piece.hi is None or v <= piece.hi
    assert piece.at(v) == model.amount(v)


@settings(max_examples=60, deadline=None)
@given(plan_ladders(overage=True), VOLUMES, VOLUMES)
def test_commitment_bill_is_max_of_base_and_reached_and_true_up_adds_up(
    ladder: PlanLadder, committed: int, used: int
) -> None:
    charge = commitment_charge(ladder, Commitment(committed), used)
    assert charge.charge == max(ladder.price(committed), ladder.price(used), key=lambda m: m.amount)
    assert charge.top_up.amount >= 0
    assert ladder.price(committed) + true_up(ladder, committed, used) == charge.charge


@settings(max_examples=60, deadline=None)
@given(package_prices(), VOLUMES)
def test_package_price_counts_started_packages(model: PackagePrice, v: int) -> None:
    n = model.packages(v)
    assert (n - 1) * model.package_size < v <= n * model.package_size or v == n == 0
