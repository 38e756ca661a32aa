"""Helpers shared by the ledger tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from subacct.money import Money
from subacct.pricing.ledger import Ledger, LedgerAccount

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def eur(amount: str | int) -> Money:
    return Money(amount, "EUR")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def balance(book: Ledger, text: str) -> Money:
    """The balance of a ledger account written ``kind:owner``."""
    return book.balance_of(LedgerAccount.parse(text))
