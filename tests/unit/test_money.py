import operator
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subacct import InvalidInput, Money
from subacct.errors import AmountOutOfBounds
from subacct.money import (
    FINEST_AMOUNT,
    MAX_AMOUNT,
    MAX_INTEGER_DIGITS,
    MAX_SCALE,
    MIN_AMOUNT,
    MONEY_PRECISION,
    add,
    canonical_text,
    multiply,
    quantized,
    subtract,
    to_decimal,
)
from subacct.testing.strategies import money_amounts


def test_money_is_exact_decimal() -> None:
    assert Money("0.1", "USD") + Money("0.2", "USD") == Money("0.3", "usd")


def test_float_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        Money(0.1, "USD")  # type: ignore[arg-type]
    assert err.value.code == "invalid_input"


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "abc", ""])
def test_non_finite_or_garbage_amount_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        Money(bad, "USD")


@pytest.mark.parametrize("bad", ["US", "DOLLAR", "12$", ""])
def test_bad_currency_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        Money("1", bad)


def test_mixing_currencies_is_refused() -> None:
    with pytest.raises(InvalidInput):
        Money("1", "USD") + Money("1", "EUR")
    with pytest.raises(InvalidInput):
        _ = Money("1", "USD") < Money("1", "EUR")


def test_rounding_is_half_even_to_minor_unit_by_default() -> None:
    assert Money("0.125", "USD").rounded().amount == Decimal("0.12")
    assert Money("0.135", "USD").rounded().amount == Decimal("0.14")
    assert Money("0.125", "USD").rounded(ROUND_HALF_UP).amount == Decimal("0.13")
    assert Money("1234.5", "JPY").rounded().amount == Decimal("1234")
    assert Money("1.2345", "KWD").rounded().amount == Decimal("1.234")


@given(st.lists(st.decimals(min_value=-(10**6), max_value=10**6, places=4), max_size=20))
def test_sum_is_exact(amounts: list[Decimal]) -> None:
    total = Money.sum((Money(a, "EUR") for a in amounts), "EUR")
    assert total.amount == sum(amounts, Decimal(0))


# -- bounds and exact arithmetic (issue 13) ----------------------------------------------------


def test_the_bounds() -> None:
    assert (MAX_INTEGER_DIGITS, MAX_SCALE, MONEY_PRECISION) == (18, 12, 60)
    assert str(MAX_AMOUNT) == "999999999999999999.999999999999"
    assert str(MIN_AMOUNT) == "-999999999999999999.999999999999"
    assert str(FINEST_AMOUNT) == "1E-12"
    for amount in (MAX_AMOUNT, MIN_AMOUNT, FINEST_AMOUNT, FINEST_AMOUNT.copy_negate(), 0):
        assert Money(amount, "EUR").amount == amount


@pytest.mark.parametrize(
    ("value", "bound"),
    [
        (10**18, "integer_digits"),
        (-(10**18), "integer_digits"),
        ("1000000000000000000.5", "integer_digits"),
        (Decimal("1e30"), "integer_digits"),
        ("1e999999", "integer_digits"),
        ("1e-13", "scale"),
        ("0.1234567890123456789012345678", "scale"),
        (Decimal("-1E-999999"), "scale"),
    ],
)
def test_out_of_bounds_is_refused_naming_the_field_and_the_bound(value: object, bound: str) -> None:
    with pytest.raises(AmountOutOfBounds) as refused:
        to_decimal(value, field="unit_price")
    err = refused.value
    assert (err.code, err.field, err.details["bound"]) == (
        "amount_out_of_bounds",
        "unit_price",
        bound,
    )
    assert err.details["limit"] == {"integer_digits": 18, "scale": 12}[bound]
    assert err.message.startswith("unit_price ")
    assert ("18 digits" if bound == "integer_digits" else "12 decimal places") in err.message
    with pytest.raises(AmountOutOfBounds):
        Money(value, "EUR")  # type: ignore[arg-type]


def test_the_same_amount_in_another_form_is_accepted() -> None:
    assert str(to_decimal("1.50000000000000000000")) == "1.500000000000"  # zeros past 12 dropped
    assert str(to_decimal("0E-30")) == "0E-12"
    assert str(to_decimal(Decimal("2E+3"))) == "2000"  # an exponent written out
    assert str(to_decimal("60.00")) == "60.00"  # within the scale: kept as written


def test_money_arithmetic_is_exact_past_28_digits_whatever_the_ambient_context() -> None:
    big, tiny = Money(MAX_AMOUNT, "EUR"), Money(FINEST_AMOUNT, "EUR")
    with localcontext(prec=5):  # a host's own context plays no part
        assert (big - tiny).amount == Decimal("999999999999999999.999999999998")
        assert (big - tiny + tiny) == big
        assert -big == Money(MIN_AMOUNT, "EUR")
        assert Money.sum([big, -tiny, tiny, -big], "EUR").is_zero()
        assert big.rounded(exponent=12) == big
        assert (tiny * 3).amount == Decimal("3E-12")
    with pytest.raises(AmountOutOfBounds) as refused:
        big + tiny
    assert refused.value.details["bound"] == "integer_digits"
    assert Money.sum([big, big, -big], "EUR") == big  # exact throughout, bounded at the end
    with pytest.raises(AmountOutOfBounds):
        Money.sum([big, tiny, tiny], "EUR")


def test_products_round_only_when_asked() -> None:
    fee = Money("0.99", "USD")
    with pytest.raises(AmountOutOfBounds) as refused:
        Money(FINEST_AMOUNT, "USD") * Decimal("0.5")  # 5E-13: finer than any amount
    assert refused.value.details["bound"] == "scale"
    assert fee.multiplied(Decimal("0.25")) == Money("0.25", "USD")  # 0.2475, half-even
    assert fee.multiplied(Decimal("0.25"), ROUND_HALF_UP, 3) == Money("0.248", "USD")
    half = Money(MAX_AMOUNT, "EUR").multiplied(Decimal("0.5"), exponent=12)
    assert half.amount == Decimal("500000000000000000")  # ...999.5 to even, once
    assert Money("3E-12", "EUR").multiplied(Decimal("0.5"), exponent=12).amount == Decimal("2E-12")
    assert quantized(Decimal("0.125"), 2) == Decimal("0.12")


def test_arithmetic_that_would_round_raises() -> None:
    third = Decimal(1) / Decimal(3)  # 28 digits from the default context
    square = multiply(third, third)  # 56 digits: exact in 60
    assert Fraction(square) == Fraction(third) ** 2
    with pytest.raises(AmountOutOfBounds) as refused:
        multiply(square, third)  # 84 digits: it would round
    assert refused.value.details["bound"] == "precision"
    assert add(MAX_AMOUNT, MAX_AMOUNT) == Decimal("1999999999999999999.999999999998")
    assert subtract(MIN_AMOUNT, MAX_AMOUNT) == Decimal("-1999999999999999999.999999999998")
    assert canonical_text(Decimal("10.000")) == "10"


@given(money_amounts(), money_amounts())
def test_sums_and_differences_are_exact_or_refused(a: Decimal, b: Decimal) -> None:
    for op, exact in (
        (operator.add, Fraction(a) + Fraction(b)),
        (operator.sub, Fraction(a) - Fraction(b)),
    ):
        if abs(exact) > MAX_AMOUNT:
            with pytest.raises(AmountOutOfBounds, match="18 digits before the decimal point"):
                op(Money(a, "EUR"), Money(b, "EUR"))
        else:
            assert Fraction(op(Money(a, "EUR"), Money(b, "EUR")).amount) == exact


@given(money_amounts(min_value=0), st.integers(0, 10**15))
def test_a_price_times_a_quantity_is_exact_or_refused(price: Decimal, quantity: int) -> None:
    product = multiply(price, quantity)
    assert Fraction(product) == Fraction(price) * quantity
    if product > MAX_AMOUNT:
        with pytest.raises(AmountOutOfBounds):
            Money(price, "USD") * quantity
    else:
        assert (Money(price, "USD") * quantity).amount == product


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_decimal_is_an_amount_or_refused_for_its_bound(value: Decimal) -> None:
    if value.copy_abs() > MAX_AMOUNT:
        with pytest.raises(AmountOutOfBounds, match="18 digits before"):
            to_decimal(value)
    elif Fraction(value) * 10**MAX_SCALE % 1:  # finer than the finest amount
        with pytest.raises(AmountOutOfBounds, match="more than 12 decimal places"):
            to_decimal(value)
    else:
        assert to_decimal(value) == value
