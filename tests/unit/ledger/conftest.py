"""Shared set-up for the ledger tests: an sms77-style master with three subs (seed 003)."""

from __future__ import annotations

import pytest

from subacct.pricing.ledger import Ledger, TopUp, Wallet, allow_all

from .helpers import T0, eur


@pytest.fixture
def book() -> Ledger:
    """Master ``agencydemo`` with 100.00 EUR bought; subs ``agency1`` and ``agency2`` are
    funded by the master; ``clinic`` has its own payment details."""
    ledger = Ledger("EUR", authorize=allow_all)
    ledger.open_wallet(Wallet("agencydemo"))
    ledger.open_wallet(Wallet("agency1", master_id="agencydemo"))
    ledger.open_wallet(Wallet("agency2", master_id="agencydemo"))
    ledger.open_wallet(Wallet("clinic", master_id="agencydemo", own_payment_method=True))
    ledger.execute(TopUp(account_id="agencydemo", amount=eur("100.00"), key="buy-1", at=T0))
    return ledger
