"""The plan API a store runs inside its transaction: plan, then write the plan atomically."""

from __future__ import annotations

from decimal import Decimal

import pytest

from subacct.errors import ConcurrentModification, InvalidInput
from subacct.pricing.ledger import (
    BalanceChange,
    Distribute,
    Ledger,
    LedgerAccount,
    Reserve,
    Spend,
    TopUp,
    Wallet,
    allow_all,
    plan,
)

from .helpers import at, balance, eur


def test_a_plan_lists_transfers_changes_with_floors_and_the_record(book: Ledger) -> None:
    book.open_wallet(Wallet("agency1", master_id="agencydemo", overdraft_limit=eur("2")))
    book.execute(Distribute(sub_id="agency1", amount=eur("5"), key="d1", at=at(1)))
    request = Spend(account_id="agency1", amount=eur("6"), key="s1", at=at(2))
    planned = plan(book, request, allow_all)
    assert planned.changes == (
        BalanceChange(LedgerAccount.wallet("agency1"), Decimal(-6), Decimal(-2)),
        BalanceChange(LedgerAccount.spent("agency1"), Decimal(6), None),
    )
    assert planned.transfers == planned.receipt.transfers
    assert len(planned.transfers) == 1
    record = planned.record
    assert record is not None
    assert record.key == "s1"
    assert record.fingerprint == request.fingerprint()
    assert balance(book, "wallet:agency1") == eur("5")  # planning writes nothing


def test_a_replay_plan_writes_nothing(book: Ledger) -> None:
    request = TopUp(account_id="agencydemo", amount=eur("1"), key="t2", at=at(1))
    book.execute(request)
    planned = plan(book, request, allow_all)
    assert planned.replayed
    assert planned.record is None
    assert planned.transfers == ()
    assert planned.changes == ()


def test_a_stale_plan_is_refused_whole(book: Ledger) -> None:
    first = plan(
        book, Spend(account_id="agencydemo", amount=eur("80"), key="a", at=at(1)), allow_all
    )
    second = plan(
        book, Spend(account_id="agencydemo", amount=eur("80"), key="b", at=at(1)), allow_all
    )
    book.apply(first)
    before = (book.balances(), book.transfers())
    with pytest.raises(ConcurrentModification):
        book.apply(second)  # planned against 100.00, only 20.00 left: the guard holds
    assert (book.balances(), book.transfers()) == before
    with pytest.raises(ConcurrentModification):
        book.apply(first)  # its key is taken now


def test_a_stale_reservation_plan_is_refused(book: Ledger) -> None:
    def hold(key: str) -> Reserve:
        return Reserve(
            reservation_id="r",
            account_id="agencydemo",
            amount=eur("1"),
            expires_at=at(5),
            key=key,
            at=at(1),
        )

    first, second = plan(book, hold("k1"), allow_all), plan(book, hold("k2"), allow_all)
    book.apply(first)
    with pytest.raises(ConcurrentModification):
        book.apply(second)
    assert balance(book, "reserved:agencydemo") == eur("1")


def test_plan_refuses_what_is_not_a_request(book: Ledger) -> None:
    with pytest.raises(InvalidInput):
        plan(book, "top up please", allow_all)  # type: ignore[arg-type]


def test_a_ledger_needs_an_explicit_authorizer() -> None:
    with pytest.raises(TypeError):
        Ledger("EUR")  # type: ignore[call-arg]
    with pytest.raises(InvalidInput):
        Ledger("EUR", authorize=None)  # type: ignore[arg-type]
    assert Ledger("eur", authorize=allow_all).currency == "EUR"
