"""Invoices: lines per account, the pooled split, rounding, validation before pricing."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.errors import (
    HierarchyCycle,
    InvalidBillingStructure,
    InvalidInput,
    InvalidQuantity,
    PeriodMismatch,
    VolumeAboveLadder,
)
from subacct.money import Money
from subacct.pricing import (
    BillingStructure,
    Channel,
    Invoice,
    InvoiceLine,
    LineKind,
    Payer,
    PlanLadder,
    PriceModel,
    Rounding,
    SetupFeeSchedule,
    Tier,
    TieredPrice,
    TierMode,
    UsageBook,
    UsageRecord,
    build_invoices,
    split_pro_rata,
)
from subacct.testing.pricing_strategies import price_models

from .pricing_helpers import JAN, usd

GRADUATED = TieredPrice(TierMode.GRADUATED, [Tier(1000, "0.0125"), Tier(None, "0.0065")], "USD")


def test_split_uses_largest_remainder_and_sums_exactly() -> None:
    assert split_pro_rata(100, [1, 1, 1]) == [34, 33, 33]
    assert split_pro_rata(100, [0, 0, 0]) == [100, 0, 0]
    assert split_pro_rata(7, [1, 2, 4]) == [1, 2, 4]
    assert split_pro_rata(10, [1, 3]) == [3, 7]  # 2.5 / 7.5: tie goes to the earlier line
    with pytest.raises(InvalidInput):
        split_pro_rata(-1, [1])
    with pytest.raises(InvalidQuantity):
        split_pro_rata(5, [1, -1])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=15))
def test_split_is_exact_and_within_one_unit_of_the_ideal_share(
    total: int, weights: list[int]
) -> None:
    shares = split_pro_rata(total, weights)
    assert sum(shares) == total
    whole = sum(weights)
    if whole:
        for share, weight in zip(shares, weights, strict=True):
            assert abs(Decimal(share) - Decimal(total) * weight / whole) < 1


def test_pool_that_sent_nothing_puts_the_minimum_plan_on_the_payer(ladder: PlanLadder) -> None:
    structure = BillingStructure.pooled("m", ["s"], ladder)
    (invoice,) = build_invoices(structure, {}, JAN)
    assert [(line.account_id, line.amount) for line in invoice.lines] == [
        ("m", usd("15.00")),
        ("s", usd("0.00")),
    ]


def test_lines_are_rounded_half_even_per_line_by_default() -> None:
    structure = BillingStructure([Payer("a", GRADUATED), Payer("b", GRADUATED)])
    a, b = build_invoices(structure, {"a": 1, "b": 3}, JAN)
    assert a.lines[0].amount == usd("0.01")  # 0.0125 -> 0.01 (half-even)
    assert b.lines[0].amount == usd("0.04")  # 0.0375 -> 0.04
    a_milli, _ = build_invoices(structure, {"a": 1, "b": 3}, JAN, rounding=Rounding(digits=3))
    assert a_milli.lines[0].amount == usd("0.012")  # 0.0125 -> 0.012 (half-even, 3 places)
    half_up = Rounding(ROUND_HALF_UP, digits=3)
    a_up, _ = build_invoices(structure, {"a": 1, "b": 3}, JAN, rounding=half_up)
    assert a_up.lines[0].amount == usd("0.013")  # 0.0125 -> 0.013 (half-up, 3 places)
    with pytest.raises(InvalidInput):
        Rounding("ROUND_SOMETIMES")


def test_currency_minor_unit_is_respected() -> None:
    yen = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.5")], "JPY")
    (invoice,) = build_invoices(BillingStructure([Payer("a", yen)]), {"a": 5}, JAN)
    assert invoice.total == Money("2", "JPY")  # 2.5 -> 2 (half-even to whole yen)


def test_usage_of_unknown_accounts_is_refused(ladder: PlanLadder) -> None:
    structure = BillingStructure.pooled("m", ["s"], ladder)
    with pytest.raises(InvalidBillingStructure) as caught:
        build_invoices(structure, {"m": 1, "ghost": 5}, JAN)
    assert caught.value.details["accounts"] == ["ghost"]


def test_bad_usage_values_are_refused(ladder: PlanLadder) -> None:
    structure = BillingStructure.pooled("m", [], ladder)
    with pytest.raises(InvalidQuantity):
        build_invoices(structure, {"m": -5}, JAN)
    with pytest.raises(VolumeAboveLadder):
        build_invoices(structure, {"m": 20_000}, JAN)


def test_a_usage_book_of_another_period_is_refused(ladder: PlanLadder) -> None:
    structure = BillingStructure.pooled("m", [], ladder)
    book = UsageBook(JAN).ingest([UsageRecord("m", JAN, Channel.EMAIL, 3000, "k")])
    (invoice,) = build_invoices(structure, book, JAN)
    assert invoice.total == usd(45)
    with pytest.raises(PeriodMismatch):
        build_invoices(structure, book, JAN.next())


def test_structures_are_validated(ladder: PlanLadder) -> None:
    with pytest.raises(InvalidBillingStructure):
        BillingStructure([Payer("m", ladder)], {"s": "orphan-root"})
    with pytest.raises(HierarchyCycle):
        BillingStructure([Payer("m", ladder)], {"a": "b", "b": "a"})
    with pytest.raises(HierarchyCycle):
        BillingStructure([Payer("m", ladder)], {"m": "m"})
    with pytest.raises(InvalidBillingStructure):
        BillingStructure([Payer("m", ladder), Payer("m", ladder)])
    with pytest.raises(InvalidBillingStructure):
        BillingStructure([])
    with pytest.raises(InvalidBillingStructure):
        Payer("m", "not a model")


def test_nested_pooled_accounts_go_to_the_nearest_payer(ladder: PlanLadder) -> None:
    structure = BillingStructure(
        [Payer("m", ladder), Payer("agency-sub", ladder)],
        {"agency-sub": "m", "client": "agency-sub", "dept": "m", "team": "dept"},
    )
    assert structure.members("m") == ("m", "dept", "team")
    assert structure.members("agency-sub") == ("agency-sub", "client")
    assert structure.payer_of("team") == "m"
    with pytest.raises(InvalidBillingStructure):
        structure.payer_of("nobody")


def test_setup_fee_lines_go_on_the_payers_invoice(ladder: PlanLadder) -> None:
    structure = BillingStructure.pooled("m", ["s1", "s2"], ladder)
    fees = SetupFeeSchedule(usd(30)).lines(["s1", "s2"])
    (invoice,) = build_invoices(structure, {"m": 100}, JAN, extra_lines=fees)
    assert [line.kind for line in invoice.lines][-2:] == [LineKind.SETUP_FEE] * 2
    assert invoice.total == usd(75)
    euro = InvoiceLine("s1", LineKind.ADJUSTMENT, "credit", 1, Money("-5", "EUR"))
    with pytest.raises(InvalidInput):
        build_invoices(structure, {"m": 100}, JAN, extra_lines=[euro])


def test_an_invoice_total_is_derived_from_its_lines() -> None:
    line = InvoiceLine("a", LineKind.USAGE, "x", 1, usd("1.00"))
    credit = InvoiceLine("a", LineKind.ADJUSTMENT, "goodwill", 1, usd("-0.25"))
    assert Invoice("a", JAN, "USD", [line, credit]).total == usd("0.75")
    assert Invoice("a", JAN, "USD", []).total == usd(0)
    with pytest.raises(InvalidInput):
        Invoice("a", JAN, "EUR", [line])
    with pytest.raises(InvalidInput):
        Invoice("a", JAN, "USD", [line, "not a line"])


@st.composite
def pooled_setups(draw: st.DrawFn) -> tuple[BillingStructure, dict[str, int]]:
    models = draw(st.lists(price_models(), min_size=1, max_size=3))
    payers = [Payer(f"p{i}", m) for i, m in enumerate(models)]
    subs = draw(st.lists(st.integers(0, len(payers) - 1), max_size=8))
    parents = {f"s{j}": f"p{i}" for j, i in enumerate(subs)}
    accounts = [p.account_id for p in payers] + list(parents)
    usage = {a: draw(st.integers(0, 60_000)) for a in accounts}
    return BillingStructure(payers, parents), usage


@settings(max_examples=60, deadline=None)
@given(pooled_setups())
def test_invoice_total_equals_the_sum_of_lines_and_the_rounded_pooled_price(
    setup: tuple[BillingStructure, dict[str, int]],
) -> None:
    structure, usage = setup
    rounding = Rounding()
    for invoice in build_invoices(structure, usage, JAN):
        assert invoice.total == Money.sum((line.amount for line in invoice.lines), "USD")
        model: PriceModel = structure.payer(invoice.payer_id).price
        pooled = sum(usage[a] for a in structure.members(invoice.payer_id))
        assert invoice.total == rounding.round(model.price(pooled))
        assert {line.account_id for line in invoice.lines} == set(
            structure.members(invoice.payer_id)
        )
