"""Exact money at every magnitude through ``app.credits`` (issue 13, item 1), on each store.

The issue's repros: a Distribute finer than any amount (28 decimal places) left the
balances summing to -2.2E-27, and on SQLite a TopUp of 1e30 followed by a Distribute of
0.075 left the master's balance where it was while the sub gained 0.075. Amounts outside
``subacct.money``'s bounds are now refused (nothing moves); at the bounds every balance
moves exactly and the balances sum to exactly zero.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from subacct import (
    SYSTEM,
    Distribute,
    FixedClock,
    Money,
    SequentialIds,
    Settings,
    Spend,
    Store,
    Subacct,
    TopUp,
    Wallet,
)
from subacct.errors import AmountOutOfBounds, BalanceOutOfBounds, InvalidInput
from subacct.money import FINEST_AMOUNT, MAX_AMOUNT, exact_sum, subtract
from subacct.pricing.ledger import replay_balances
from subacct.testing.conformance import store_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def eur(amount: str | int | Decimal) -> Money:
    return Money(amount, "EUR")


@pytest.fixture
def app(store: Store) -> Subacct:
    """Master ``m`` with sub ``s`` funded by it, an EUR ledger, nothing bought yet."""
    app = Subacct(store, Settings(clock=FixedClock(T0), ids=SequentialIds(), currency="EUR"))
    app.accounts.create_master("M", account_id="m", by=SYSTEM)
    app.accounts.create_sub("m", "S", account_id="s", by=SYSTEM)
    app.credits.open_wallet(Wallet("m"), by=SYSTEM)
    app.credits.open_wallet(Wallet("s", master_id="m"), by=SYSTEM)
    return app


def top_up(app: Subacct, amount: Money, key: str = "buy") -> None:
    app.credits.execute(TopUp(account_id="m", amount=amount, key=key, at=T0), by=SYSTEM)


def distribute(app: Subacct, amount: Money, key: str = "give") -> None:
    app.credits.execute(Distribute(sub_id="s", amount=amount, key=key, at=T0), by=SYSTEM)


def balances(app: Subacct) -> dict[str, Decimal]:
    return {str(a): m.amount for a, m in app.credits.balances(by=SYSTEM).items()}


def assert_exact(app: Subacct) -> None:
    """The balances sum to exactly zero and equal a replay of the transfer log."""
    found = app.credits.balances(by=SYSTEM)
    assert exact_sum(m.amount for m in found.values()) == 0
    replayed = replay_balances(app.credits.transfers(by=SYSTEM))
    assert {a: m.amount for a, m in found.items() if m.amount} == {
        a: b for a, b in replayed.items() if b
    }


def test_issue13_a_distribution_finer_than_any_amount_is_refused(app: Subacct) -> None:
    top_up(app, eur(100))
    with pytest.raises(AmountOutOfBounds) as refused:
        distribute(app, eur("0.1234567890123456789012345678"))
    assert refused.value.code == "amount_out_of_bounds"
    assert isinstance(refused.value, InvalidInput)
    assert refused.value.details["field"] == "amount"
    assert refused.value.details["bound"] == "scale"
    assert refused.value.details["limit"] == 12
    assert "12 decimal places" in refused.value.message
    assert balances(app) == {"external:m": -100, "wallet:m": 100}


def test_issue13_a_top_up_of_1e30_is_refused(app: Subacct) -> None:
    with pytest.raises(AmountOutOfBounds) as refused:
        top_up(app, eur(Decimal("1e30")))
    assert refused.value.details["bound"] == "integer_digits"
    assert refused.value.details["limit"] == 18
    assert "18 digits" in refused.value.message
    for huge in ("1e999999", "-1e30", 10**18, "1000000000000000000.5"):
        with pytest.raises(AmountOutOfBounds):
            eur(huge)
    with pytest.raises(AmountOutOfBounds):
        eur("1e-30")
    assert balances(app) == {}


def test_finest_moves_exactly_beside_the_largest_balance(app: Subacct) -> None:
    """Past 28 significant digits (the default ``decimal`` context) every move is exact:
    the old code rounded the master's 30-digit balance and made money."""
    top_up(app, eur(MAX_AMOUNT))
    distribute(app, eur("0.123456789012"))
    distribute(app, eur(FINEST_AMOUNT), key="give-finest")
    distribute(app, eur("0.075"), key="give-sms")
    assert balances(app) == {
        "external:m": MAX_AMOUNT.copy_negate(),
        "wallet:m": Decimal("999999999999999999.801543210986"),
        "wallet:s": Decimal("0.198456789013"),
    }
    app.credits.execute(
        Spend(account_id="s", amount=eur(FINEST_AMOUNT), key="sms", at=T0), by=SYSTEM
    )
    assert app.credits.balance("spent:s", by=SYSTEM) == eur(FINEST_AMOUNT)
    assert_exact(app)


def test_a_balance_cannot_pass_the_largest_amount(app: Subacct, store: Store) -> None:
    """A ledger balance is an amount too: an operation that would take one past
    ``MAX_AMOUNT`` (either way) is refused with nothing written. (``external:m`` counts
    everything ``m`` ever bought, so it reaches the bound first.)"""
    top_up(app, eur(subtract(MAX_AMOUNT, Decimal(1))))
    before = store_state(store)
    with pytest.raises(BalanceOutOfBounds) as refused:
        top_up(app, eur(2), key="one-more")
    assert refused.value.code == "balance_out_of_bounds"
    assert isinstance(refused.value, AmountOutOfBounds)
    assert refused.value.details["ledger_account"] == "external:m"
    assert store_state(store) == before  # nothing moved, the key is still free
    top_up(app, eur(1), key="one-more")  # up to the bound exactly: the same key works
    assert balances(app) == {"external:m": MAX_AMOUNT.copy_negate(), "wallet:m": MAX_AMOUNT}
    distribute(app, eur(MAX_AMOUNT))
    assert_exact(app)
