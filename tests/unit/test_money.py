from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subacct import InvalidInput, Money


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
