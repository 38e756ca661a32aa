"""Prices and invoices at the bounds of money (issue 13): unit prices as fine as the finest
amount, amounts with 18 integer digits, computed exactly or refused, never rounded
except where an invoice rounds on purpose."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.errors import AmountOutOfBounds
from subacct.money import FINEST_AMOUNT, MAX_AMOUNT, Money, exact_sum
from subacct.pricing import (
    BillingPeriod,
    BillingStructure,
    PackagePrice,
    Payer,
    Plan,
    PlanLadder,
    Rounding,
    SetupDiscount,
    SetupFeeSchedule,
    Tier,
    TieredPrice,
    TierMode,
    build_invoices,
    commission_statement,
)
from subacct.pricing.usage import MAX_QUANTITY
from subacct.testing.strategies import money_amounts

JAN = BillingPeriod(2026, 1)
prices = money_amounts(min_value=0, max_value=10**6)
fees = money_amounts(min_value=0, max_value=MAX_AMOUNT)
volumes = st.one_of(st.integers(0, 10**6), st.integers(0, MAX_QUANTITY), st.just(MAX_QUANTITY))


@pytest.mark.parametrize(
    "build",
    [
        lambda p: Tier(None, p),
        lambda p: Tier(None, 0, flat_fee=p),
        lambda p: PackagePrice(1000, p, "USD"),
        lambda p: PlanLadder([Plan("1", 1, Money(1, "USD"))], overage_unit_price=p),
    ],
)
@pytest.mark.parametrize(("price", "bound"), [("1E-13", "scale"), ("1E+18", "integer_digits")])
def test_a_price_outside_the_bounds_is_refused(build: object, price: str, bound: str) -> None:
    with pytest.raises(AmountOutOfBounds) as refused:
        build(price)  # type: ignore[operator]
    assert refused.value.details["bound"] == bound
    assert refused.value.field in ("unit_price", "flat_fee", "package_price", "overage_unit_price")


def _reference(
    mode: TierMode, tiers: list[tuple[int | None, Decimal, Decimal]], v: int
) -> Fraction:
    """The price of ``v`` units with fractions (no decimal context at all)."""
    if v == 0:
        return Fraction(0)
    if mode is TierMode.VOLUME:
        for up_to, unit, fee in tiers:
            if up_to is None or v <= up_to:
                return v * Fraction(unit) + Fraction(fee)
    total, below = Fraction(0), 0
    for up_to, unit, fee in tiers:
        top = v if up_to is None else min(v, up_to)
        total += (top - below) * Fraction(unit) + Fraction(fee)
        if up_to is None or v <= up_to:
            break
        below = up_to
    return total


@settings(max_examples=150)
@given(
    mode=st.sampled_from(TierMode),
    bounds=st.lists(st.integers(1, MAX_QUANTITY), max_size=3, unique=True).map(sorted),
    rates=st.lists(prices, min_size=4, max_size=4),
    flat=st.lists(fees, min_size=4, max_size=4),
    volume=volumes,
)
def test_tiered_prices_are_exact_at_any_magnitude(
    mode: TierMode,
    bounds: list[int],
    rates: list[Decimal],
    flat: list[Decimal],
    volume: int,
) -> None:
    """Up to 10**15 messages at a price with 12 decimals, plus flat fees up to the largest
    amount: ``amount`` is exact (the old sums rounded past 28 digits), and ``price`` is
    Money exactly when that is within the bounds."""
    ups: list[int | None] = [*bounds, None]
    rows = list(zip(ups, rates, flat, strict=False))
    model = TieredPrice(mode, [Tier(u, r, f) for u, r, f in rows], "USD")
    exact = _reference(mode, rows, volume)
    assert Fraction(model.amount(volume)) == exact
    if exact > MAX_AMOUNT:
        with pytest.raises(AmountOutOfBounds):
            model.price(volume)
    else:
        assert Fraction(model.price(volume).amount) == exact
    for piece in model.pieces():
        if piece.lo <= volume and (piece.hi is None or volume <= piece.hi):
            assert Fraction(piece.at(volume)) == exact


@given(price=prices, extra=volumes, base=fees)
def test_ladder_overage_is_exact(price: Decimal, extra: int, base: Decimal) -> None:
    ladder = PlanLadder([Plan("top", 10, Money(base, "USD"))], overage_unit_price=price)
    exact = Fraction(base) + extra * Fraction(price)
    assert Fraction(ladder.amount(10 + extra)) == exact
    (piece,) = [p for p in ladder.pieces() if p.hi is None]
    assert Fraction(piece.at(10 + extra)) == exact


def test_a_pooled_invoice_at_twelve_digits_is_exact() -> None:
    """A bill of 30 significant digits, rounded to 12 places and split pro rata: the old
    code could not even round it (``quantize`` past 28 digits raised InvalidOperation)."""
    rate = Decimal("999999.999999999999")
    model = TieredPrice(TierMode.VOLUME, [Tier(None, rate)], "USD")
    structure = BillingStructure([Payer("m", model)], {"a": "m", "b": "m"})
    usage = {"m": 10**12 - 3, "a": 1, "b": 1}  # (10**6 - 10**-12) * (10**12 - 1)
    (invoice,) = build_invoices(structure, usage, JAN, rounding=Rounding(digits=12))
    assert invoice.total.amount == Decimal("999999999998999999.000000000001")
    assert exact_sum(line.amount.amount for line in invoice.lines) == invoice.total.amount
    assert [line.amount.amount for line in invoice.lines_for("a")] == [rate]
    cents = build_invoices(structure, usage, JAN)[0]
    assert cents.total.amount == Decimal("999999999998999999.00")
    assert exact_sum(line.amount.amount for line in cents.lines) == cents.total.amount
    top = PlanLadder([Plan("top", 1, Money(MAX_AMOUNT, "USD"))])
    with pytest.raises(AmountOutOfBounds):  # in cents it rounds up past the largest amount
        build_invoices(BillingStructure.pooled("m", [], top), {"m": 1}, JAN)


def test_fees_and_commissions_round_once_at_the_bounds() -> None:
    """A discount with 12 decimals on a fee of 20 digits, a commission rate with 12 on a
    subscription of 20: the exact product (34 digits) is rounded once, to the cent."""
    largest_fee = Money("999999999999999999.99", "USD")
    fees = SetupFeeSchedule(largest_fee, [SetupDiscount(2, "12.345678901234")])
    assert fees.fee_for(1) == largest_fee
    assert fees.fee_for(2) == Money("876543210987659999.99", "USD")  # ...9999.99123...
    ladder = PlanLadder([Plan("top", 1, Money("999999999999999998.99", "USD"))])
    invoices = build_invoices(BillingStructure.pooled("client", [], ladder), {"client": 1}, JAN)
    statement = commission_statement(
        "agency", JAN, "0.333333333333", invoices, linked_clients={"client"}
    )
    assert statement.total == Money("333333333332999999.66", "USD")  # ...9999.6633...
    finest = SetupFeeSchedule(Money(FINEST_AMOUNT, "USD"), [SetupDiscount(1, 50)])
    assert finest.fee_for(1).is_zero()  # half of the finest amount, rounded to the cent
