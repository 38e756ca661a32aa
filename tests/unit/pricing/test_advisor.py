"""The pooling advisor (issue 15, item 5): exact worked examples, the exact answer
against brute force, and the heuristic's guarantee."""

from __future__ import annotations

from decimal import Decimal
from itertools import combinations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from subacct.errors import InvalidInput, VolumeAboveLadder
from subacct.money import Money
from subacct.pricing import (
    Advice,
    Charge,
    PackagePrice,
    Plan,
    PlanLadder,
    PriceList,
    PriceModel,
    Tier,
    TieredPrice,
    TierMode,
    advise_pooling,
    advise_pooling_charges,
)

from .pricing_helpers import seed000_ladder, usd

ISSUE_LADDER = PlanLadder([Plan("10", 10, usd(10)), Plan("21", 21, usd(30))])


def test_seed000_advice_is_pool_all_for_90() -> None:
    advice = advise_pooling(seed000_ladder(), 9000, {"agency1": 5300, "agency2": 1700})
    assert advice.pooled == ("agency1", "agency2")
    assert advice.standalone == ()
    assert advice.total == usd(90) == advice.pooled_total == advice.all_pooled_total
    assert advice.all_standalone_total == usd(120)
    assert advice.saving == usd(30)
    assert advice.exact
    assert advice.method == "enumeration"


def test_issue_example_two_accounts_of_10_bill_standalone_for_20() -> None:
    # The issue's "two accounts of 10 messages" are the payer (its own 10 messages are
    # always on its pooled invoice) and one sub-account: pooled 20 messages need the
    # $30 plan, standalone each fits the $10 plan.
    advice = advise_pooling(ISSUE_LADDER, 10, {"s1": 10})
    assert advice.pooled == ()
    assert advice.standalone == (("s1", usd(10)),)
    assert advice.total == usd(20) == advice.all_standalone_total
    assert advice.all_pooled_total == usd(30)
    assert advice.pooled_total == usd(10)
    assert advice.exact


def test_a_payer_that_sends_nothing_still_pays_its_smallest_plan() -> None:
    # Read instead as two subs of a silent payer: the payer's invoice costs $10 anyway,
    # so pooling one sub into it is free and the other stays standalone: $20 again.
    advice = advise_pooling(ISSUE_LADDER, 0, {"s1": 10, "s2": 10})
    assert advice.total == usd(20)
    assert len(advice.pooled) == 1
    assert advice.all_standalone_total == usd(30) == advice.all_pooled_total


def test_a_subadditive_price_pools_everything_at_once() -> None:
    graduated = TieredPrice(TierMode.GRADUATED, [Tier(100, "1"), Tier(None, "0.5")], "USD")
    advice = advise_pooling(graduated, 50, {f"s{i:02}": 70 for i in range(30)})
    assert advice.method == "subadditive"
    assert advice.exact
    assert len(advice.pooled) == 30
    assert advice.total == advice.all_pooled_total
    package = PackagePrice(100, "3", "USD")
    assert advise_pooling(package, 0, {"a": 1, "b": 1}).total == usd(3)


def test_a_pool_above_the_ladder_is_not_an_option() -> None:
    advice = advise_pooling(seed000_ladder(), 9000, {"a": 9000, "b": 9000})
    assert advice.all_pooled_total is None
    assert advice.total == usd(90 + 60)  # one pooled with the payer (18,000), one alone
    assert advice.pooled in {("a",), ("b",)}
    with pytest.raises(VolumeAboveLadder):
        advise_pooling(seed000_ladder(), 0, {"a": 18001})


def test_a_price_list_is_advised_per_charge() -> None:
    price = PriceList([Charge("email", ISSUE_LADDER, "email"), Charge("sms", ISSUE_LADDER, "sms")])
    advice = advise_pooling_charges(
        price, {"email": 10, "sms": 0}, {"s1": {"email": 10}, "s2": {"sms": 10}}
    )
    email, sms = dict(advice.by_charge)["email"], dict(advice.by_charge)["sms"]
    # Standalone, an account pays each charge's smallest plan even without usage of it
    # (as ``compare_charges`` prices it), so a silent account is pooled for free.
    assert email.pooled == ("s2",)
    assert email.total == usd(20)
    assert sms.pooled == ("s1", "s2")
    assert sms.total == usd(10)
    assert advice.total == usd(30)
    assert advice.exact
    assert advice.method == "per_charge"
    assert advice.pooled == ("s2",)
    assert [a for a, _ in advice.standalone] == ["s1"]
    with pytest.raises(InvalidInput):
        advise_pooling(price, 0, {})  # type: ignore[arg-type]


def brute_force(model: PriceModel, payer: int, volumes: dict[str, int]) -> Decimal | None:
    best: Decimal | None = None
    cap = model.max_volume
    ids = sorted(volumes)
    for k in range(len(ids) + 1):
        for pooled in combinations(ids, k):
            pool = payer + sum(volumes[a] for a in pooled)
            if cap is not None and pool > cap:
                continue
            total = model.amount(pool) + sum(volumes_price(model, volumes, a, pooled) for a in ids)
            best = total if best is None or total < best else best
    return best


def volumes_price(
    model: PriceModel, volumes: dict[str, int], a: str, pooled: tuple[str, ...]
) -> Decimal:
    return Decimal(0) if a in pooled else model.amount(volumes[a])


@st.composite
def models(draw: st.DrawFn) -> PriceModel:
    if draw(st.booleans()):
        sizes = draw(st.lists(st.integers(1, 60), min_size=1, max_size=5, unique=True))
        steps = draw(st.lists(st.integers(0, 40), min_size=len(sizes), max_size=len(sizes)))
        prices, total = [], 0
        for step in steps:
            total += step
            prices.append(total)
        overage = draw(st.sampled_from([None, Decimal("0.5"), Decimal("3")]))
        plans = [Plan(str(q), q, usd(p)) for q, p in zip(sorted(sizes), prices, strict=True)]
        return PlanLadder(plans, overage)
    mode = draw(st.sampled_from(TierMode))
    bounds = sorted(draw(st.lists(st.integers(1, 60), max_size=3, unique=True)))
    rates = draw(st.lists(st.sampled_from(["0", "0.25", "1", "2"]), min_size=len(bounds) + 1,
                          max_size=len(bounds) + 1))  # fmt: skip
    fees = draw(st.lists(st.sampled_from(["0", "5", "20"]), min_size=len(rates),
                         max_size=len(rates)))  # fmt: skip
    ups: list[int | None] = [*bounds, None]
    return TieredPrice(
        mode, [Tier(u, r, f) for u, r, f in zip(ups, rates, fees, strict=True)], "USD"
    )


trees = st.tuples(
    st.integers(0, 40),
    st.dictionaries(st.sampled_from([f"s{i}" for i in range(9)]), st.integers(0, 40), max_size=8),
)


def check_extremes(advice: Advice) -> None:
    assert advice.total <= advice.all_standalone_total
    if advice.all_pooled_total is not None:
        assert advice.total <= advice.all_pooled_total
    standalone = Money.sum((m for _, m in advice.standalone), advice.total.currency)
    assert advice.pooled_total + standalone == advice.total
    assert isinstance(advice.total.amount, Decimal)


def feasible(model: PriceModel, payer: int, volumes: dict[str, int]) -> bool:
    cap = model.max_volume
    return cap is None or max([payer, *volumes.values()]) <= cap


@settings(max_examples=120, deadline=None)
@given(models(), trees)
def test_the_exact_advice_is_the_brute_force_optimum(
    model: PriceModel, tree: tuple[int, dict[str, int]]
) -> None:
    payer, volumes = tree
    assume(feasible(model, payer, volumes))
    advice = advise_pooling(model, payer, volumes)
    assert advice.exact
    assert advice.gap_bound is not None
    assert advice.gap_bound.is_zero()
    assert advice.total.amount == brute_force(model, payer, volumes)
    check_extremes(advice)


@settings(max_examples=120, deadline=None)
@given(models(), trees)
def test_the_heuristic_is_never_worse_than_either_extreme_nor_better_than_exact(
    model: PriceModel, tree: tuple[int, dict[str, int]]
) -> None:
    payer, volumes = tree
    assume(feasible(model, payer, volumes))
    heuristic = advise_pooling(model, payer, volumes, exact_limit=0)
    exact = advise_pooling(model, payer, volumes)
    check_extremes(heuristic)
    assert heuristic.total >= exact.total
    assert heuristic.gap_bound is not None
    assert heuristic.total - exact.total <= heuristic.gap_bound  # the bound holds
    if heuristic.exact:
        assert heuristic.total == exact.total


def test_twenty_sub_accounts_are_exact_and_above_twenty_a_heuristic() -> None:
    ladder = seed000_ladder()
    volumes = {f"s{i:02}": 137 * i % 2600 for i in range(20)}
    advice = advise_pooling(ladder, 900, volumes)
    assert advice.exact
    assert advice.method == "enumeration"
    check_extremes(advice)
    more = advise_pooling(ladder, 900, {**volumes, "s20": 50})
    assert more.method == "local_search"
    assert more.gap_bound is not None
    check_extremes(more)


def test_twelve_sub_accounts_match_brute_force_across_both_halves() -> None:
    ladder = PlanLadder(
        [Plan("5", 5, usd(4)), Plan("12", 12, usd(9)), Plan("30", 30, usd(30))], "1.5"
    )
    volumes = {f"s{i:02}": (7 * i + 3) % 13 for i in range(12)}
    advice = advise_pooling(ladder, 2, volumes)
    assert advice.total.amount == brute_force(ladder, 2, volumes)
    assert advice.exact
    heuristic = advise_pooling(ladder, 2, volumes, exact_limit=0)
    assert advice.total <= heuristic.total <= advice.total + heuristic.gap_bound
