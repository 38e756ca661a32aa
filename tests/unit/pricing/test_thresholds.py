"""Thresholds: what a crossing is, given the figures before and after a change and what
was stored (``subacct.pricing.thresholds``), against simple models."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.errors import InvalidInput
from subacct.money import Money
from subacct.pricing import AutoTopUp, BillingPeriod, QuotaThresholds, WalletAlerts
from subacct.pricing.thresholds import (
    QuotaThresholdsReached,
    WalletAlertState,
    quota_crossings,
    quota_percents,
    reached_after,
    reached_at,
    wallet_crossings,
)
from subacct.serialization import converter, structure

JAN = BillingPeriod(2026, 1)


def eur(n: int | str) -> Money:
    return Money(n, "EUR")


# -- settings ------------------------------------------------------------------------------


def test_percents_are_sorted_unique_and_bounded() -> None:
    assert QuotaThresholds("a", [100, 80, 100]).percents == (80, 100)
    assert quota_percents([1, 1000]) == (1, 1000)


@pytest.mark.parametrize(
    "bad", [[], [0], [1001], [-5], [80.0], ["80"], [True], None, "80", 80, range(1, 22)]
)
def test_bad_percents_name_the_field(bad: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        quota_percents(bad)
    assert refused.value.details["field"] == "percents"


def test_wallet_alerts_are_of_the_wallets_currency() -> None:
    with pytest.raises(InvalidInput) as refused:
        WalletAlerts("a", "EUR", low_credit=Money(5, "USD"))
    assert refused.value.details["field"] == "low_credit"
    with pytest.raises(InvalidInput) as refused:
        WalletAlerts("a", "EUR", auto_top_up=AutoTopUp(Money(5, "USD"), Money(5, "USD")))
    assert refused.value.details["field"] == "auto_top_up"
    with pytest.raises(InvalidInput):
        WalletAlerts("a", "EUR", low_credit=eur(-1))
    assert WalletAlerts("a", "eur").is_empty


@pytest.mark.parametrize(
    "record",
    [
        QuotaThresholds("agency1", [80, 100]),
        QuotaThresholdsReached("agency1", JAN, [80]),
        WalletAlerts("agency1", "EUR", eur("10.50"), AutoTopUp(eur(5), eur(50))),
        WalletAlertState("agency1", "EUR", Decimal("10.50"), None, version=3),
    ],
)
def test_records_round_trip_as_plain_json(record: object) -> None:
    data = converter.unstructure(record)
    assert data["schema"] == 1
    assert structure(data, type(record)) == record


# -- quota crossings -------------------------------------------------------------------------


def test_reaching_is_exact_integer_arithmetic() -> None:
    assert not reached_at(80, 999, 799)  # 79.98 %
    assert reached_at(80, 999, 800)  # 80.08 %
    assert reached_at(80, 0, 0)  # a zero limit is always reached: never crossed
    assert quota_crossings([80], 0, 0, 5, frozenset()) == ()


def test_a_crossing_goes_from_below_to_at_or_above() -> None:
    assert quota_crossings([80, 100], 1000, 799, 800, frozenset()) == (80,)
    assert quota_crossings([80, 100], 1000, 800, 900, frozenset()) == ()  # already above
    assert quota_crossings([80, 100], 1000, 0, 1200, frozenset()) == (80, 100)
    assert quota_crossings([80, 100], 1000, 0, 1200, frozenset({80})) == (100,)
    assert quota_crossings([80], 1000, 900, 100, frozenset()) == ()  # going down


def test_what_was_reached_accumulates_with_the_next_version() -> None:
    first = reached_after(None, "a", JAN, [80])
    assert (first.percents, first.version) == ((80,), 1)
    second = reached_after(first, "a", JAN, [100])
    assert (second.percents, second.version) == ((80, 100), 2)


@settings(max_examples=200)
@given(
    percents=st.lists(st.integers(1, 1000), min_size=1, max_size=5),
    limit=st.integers(0, 2000),
    steps=st.lists(st.integers(-300, 300), max_size=30),
)
def test_each_threshold_is_told_once_the_first_time_the_volume_reaches_it(
    percents: list[int], limit: int, steps: list[int]
) -> None:
    """Model: a percentage is told at the first change after which the volume is at or
    above it (from a month that starts at zero), never again that month."""
    wanted = quota_percents(percents)
    used, reached = 0, frozenset[int]()
    told: list[tuple[int, int]] = []  # (step, percent)
    for n, step in enumerate(steps):
        before, used = used, max(0, used + step)
        crossed = quota_crossings(wanted, limit, before, used, reached)
        reached |= set(crossed)
        told += [(n, p) for p in crossed]
    model: list[tuple[int, int]] = []
    volume = 0
    for n, step in enumerate(steps):
        volume = max(0, volume + step)
        for p in wanted:
            first = p not in {q for _, q in model}
            if first and volume * 100 >= p * limit and not p * limit <= 0:
                model.append((n, p))
    assert told == model


# -- wallet crossings ------------------------------------------------------------------------

_ALERTS = WalletAlerts("a", "EUR", eur(10), AutoTopUp(eur(5), eur(50)))


def test_falling_below_tells_once_until_back_at_the_line() -> None:
    fell = wallet_crossings(_ALERTS, None, Decimal(12), Decimal(4))
    assert (fell.credit_low, fell.top_up, fell.changed) == (True, True, True)
    assert (fell.state.low_below, fell.state.top_up_below) == (Decimal(10), Decimal(5))
    still = wallet_crossings(_ALERTS, fell.state, Decimal(4), Decimal(3))
    assert (still.credit_low, still.top_up, still.changed) == (False, False, False)
    back = wallet_crossings(_ALERTS, fell.state, Decimal(3), Decimal(10))
    assert (back.state.low_below, back.state.top_up_below, back.state.version) == (None, None, 2)
    again = wallet_crossings(_ALERTS, back.state, Decimal(10), Decimal("9.99"))
    assert (again.credit_low, again.top_up) == (True, False)


def test_a_line_drawn_below_the_balance_is_not_a_crossing() -> None:
    found = wallet_crossings(_ALERTS, None, Decimal(3), Decimal(2))
    assert (found.credit_low, found.top_up, found.changed) == (False, False, False)


def test_a_line_fired_under_before_is_not_this_line() -> None:
    """A state written under a line changed since fires again under the new line."""
    old = WalletAlertState("a", "EUR", low_below=Decimal(50))
    found = wallet_crossings(_ALERTS, old, Decimal(20), Decimal(8))
    assert found.credit_low
    assert found.state.low_below == Decimal(10)


@settings(max_examples=200)
@given(
    line=st.integers(0, 100),
    balances=st.lists(st.integers(-50, 150), min_size=1, max_size=40),
)
def test_credit_low_is_told_at_each_fall_below_the_line(line: int, balances: list[int]) -> None:
    """Model: told exactly at the steps whose balance is below the line and whose
    previous balance was at or above it."""
    alerts = WalletAlerts("a", "EUR", low_credit=eur(line))
    stored: WalletAlertState | None = None
    told = []
    for n, (before, after) in enumerate(itertools.pairwise(balances)):
        found = wallet_crossings(alerts, stored, Decimal(before), Decimal(after))
        if found.changed:
            assert found.state.version == (1 if stored is None else stored.version + 1)
            stored = found.state
        if found.credit_low:
            told.append(n)
    model = [n for n, (b, a) in enumerate(itertools.pairwise(balances)) if b >= line > a]
    assert told == model


def test_changing_the_alerts_re_arms_them() -> None:
    fired = WalletAlertState("a", "EUR", Decimal(10), Decimal(5), version=4)
    rearmed = fired.rearmed()
    assert rearmed == WalletAlertState("a", "EUR", None, None, version=5)
    assert rearmed.rearmed() is None
