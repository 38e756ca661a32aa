"""Any sequence of requests from the exported strategies keeps the ledger's invariants,
with amounts at the bounds of money too: the balances sum to exactly zero, equal a replay
of the transfer log and stay within ``MAX_AMOUNT``."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.errors import SubacctError
from subacct.money import MAX_AMOUNT, MIN_AMOUNT, exact_sum
from subacct.pricing.ledger import (
    Ledger,
    LedgerAccountKind,
    LedgerRequest,
    TopUp,
    Wallet,
    allow_all,
    replay_balances,
)
from subacct.testing.ledger_strategies import (
    bounded_credit_amounts,
    ledger_requests,
    ledger_setups,
)

from .helpers import T0, eur


@settings(max_examples=60, deadline=None)
@given(
    setup=ledger_setups().flatmap(
        lambda wallets: st.tuples(
            st.just(wallets),
            st.lists(
                ledger_requests(wallets, amounts=bounded_credit_amounts()), min_size=5, max_size=40
            ),
        )
    )
)
def test_random_requests_keep_the_invariants(
    setup: tuple[list[Wallet], list[LedgerRequest]],
) -> None:
    wallets, requests = setup
    book = Ledger("EUR", authorize=allow_all)
    for wallet in wallets:
        book.open_wallet(wallet)
    book.execute(TopUp(account_id="master", amount=eur(300), key="seed", at=T0))
    for request in requests:
        before = (book.balances(), book.transfers(), book.reservations(), book.wallets())
        try:
            receipt = book.execute(request)
        except SubacctError:
            assert (
                book.balances(),
                book.transfers(),
                book.reservations(),
                book.wallets(),
            ) == before
            continue
        if receipt.replayed:
            assert (book.balances(), book.transfers()) == before[:2]
    balances = {a: m.amount for a, m in book.balances().items()}
    assert exact_sum(balances.values()) == 0
    assert all(MIN_AMOUNT <= b <= MAX_AMOUNT for b in balances.values())
    replayed = replay_balances(book.transfers())
    assert {a: b for a, b in balances.items() if b} == {a: b for a, b in replayed.items() if b}
    floors = {w.wallet_account: w.floor for w in book.wallets()}
    for account, amount in balances.items():
        if account.kind is LedgerAccountKind.EXTERNAL:
            assert amount <= 0
        else:
            assert amount >= floors.get(account, Decimal(0))
