"""Replaying a key returns the first result and moves nothing; other parameters conflict."""

from __future__ import annotations

import attrs
import pytest

from subacct.errors import IdempotencyConflict, InsufficientCredit
from subacct.pricing.ledger import (
    Commit,
    Distribute,
    Expire,
    Ledger,
    Reclaim,
    Reserve,
    Spend,
    TopUp,
)

from .helpers import at, balance, eur


def test_replay_returns_the_first_receipt_and_moves_nothing(book: Ledger) -> None:
    request = Distribute(sub_id="agency1", amount=eur("30"), key="d1", at=at(1))
    first = book.execute(request)
    log_size = len(book.transfers())
    again = book.execute(attrs.evolve(request, at=at(2)))  # a retry, a minute later
    assert again.replayed
    assert not first.replayed
    assert attrs.evolve(again, replayed=False) == first
    assert len(book.transfers()) == log_size
    assert balance(book, "wallet:agency1") == eur("30")


def test_equal_amounts_written_differently_are_the_same_parameters(book: Ledger) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur("30.00"), key="d1", at=at(1)))
    assert book.execute(Distribute(sub_id="agency1", amount=eur("30"), key="d1", at=at(1))).replayed


@pytest.mark.parametrize(
    "changed",
    [
        {"amount": eur("30.01")},
        {"sub_id": "agency2"},
        {"reference": "other"},
    ],
)
def test_same_key_with_other_parameters_is_a_conflict(
    book: Ledger, changed: dict[str, object]
) -> None:
    request = Distribute(sub_id="agency1", amount=eur("30"), key="d1", at=at(1))
    book.execute(request)
    before = book.balances()
    with pytest.raises(IdempotencyConflict) as refused:
        book.execute(attrs.evolve(request, **changed))
    assert refused.value.code == "idempotency_conflict"
    assert refused.value.details["key"] == "d1"
    assert book.balances() == before


def test_a_key_belongs_to_one_operation(book: Ledger) -> None:
    book.execute(TopUp(account_id="agencydemo", amount=eur("5"), key="k", at=at(1)))
    with pytest.raises(IdempotencyConflict):
        book.execute(Spend(account_id="agencydemo", amount=eur("5"), key="k", at=at(1)))


def test_a_refused_call_records_nothing_so_its_retry_runs(book: Ledger) -> None:
    request = Spend(account_id="agency1", amount=eur("2"), key="s1", at=at(1))
    with pytest.raises(InsufficientCredit):
        book.execute(request)
    book.execute(Distribute(sub_id="agency1", amount=eur("2"), key="d1", at=at(2)))
    assert not book.execute(request).replayed
    assert balance(book, "spent:agency1") == eur("2")


def test_reclaim_all_replays_the_amount_it_first_took(book: Ledger) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur("9"), key="d1", at=at(1)))
    first = book.execute(Reclaim(sub_id="agency1", key="r1", at=at(2)))
    book.execute(Distribute(sub_id="agency1", amount=eur("4"), key="d2", at=at(3)))
    again = book.execute(Reclaim(sub_id="agency1", key="r1", at=at(4)))
    assert again.transfers == first.transfers
    assert balance(book, "wallet:agency1") == eur("4")


def test_replayed_commit_after_the_reservation_closed_returns_the_first_result(
    book: Ledger,
) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur("9"), key="d1", at=at(1)))
    book.execute(
        Reserve(
            reservation_id="r",
            account_id="agency1",
            amount=eur("3"),
            expires_at=at(5),
            key="res",
            at=at(1),
        )
    )
    first = book.execute(Commit(reservation_id="r", amount=eur("2"), key="c", at=at(2)))
    book.execute(Expire(key="sweep", at=at(9)))
    again = book.execute(Commit(reservation_id="r", amount=eur("2"), key="c", at=at(10)))
    assert again.replayed
    assert again.transfers == first.transfers
