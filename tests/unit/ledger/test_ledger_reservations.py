"""Two-phase sends: reserve, then commit the actual amount or release; expiry releases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from subacct.errors import (
    AlreadyExists,
    CreditReservationClosed,
    CreditReservationNotFound,
    InsufficientCredit,
    InvalidInput,
    ReservationNotFound,
)
from subacct.pricing.ledger import (
    Commit,
    Distribute,
    Expire,
    Ledger,
    Release,
    Reservation,
    ReservationStatus,
    Reserve,
)

from .helpers import at, balance, eur


@pytest.fixture
def funded(book: Ledger) -> Ledger:
    book.execute(Distribute(sub_id="agency1", amount=eur("10.00"), key="d1", at=at(0)))
    return book


def reserve(book: Ledger, rid: str, amount: str, *, expires: int = 10, now: int = 1) -> None:
    book.execute(
        Reserve(
            reservation_id=rid,
            account_id="agency1",
            amount=eur(amount),
            expires_at=at(expires),
            key=f"reserve-{rid}",
            at=at(now),
        )
    )


def hold_of(book: Ledger, rid: str) -> Reservation:
    hold = book.reservation(rid)
    assert hold is not None
    return hold


def test_reserve_for_n_messages_holds_the_credit(funded: Ledger) -> None:
    price, messages = eur("0.075"), 40
    reserve(funded, "batch-1", str((price * messages).amount))
    assert balance(funded, "wallet:agency1") == eur("7.000")
    assert balance(funded, "reserved:agency1") == eur("3.000")
    hold = funded.reservation("batch-1")
    assert hold is not None
    assert hold.status is ReservationStatus.OPEN
    assert hold.funding_id == "agency1"


def test_commit_spends_the_actual_amount_and_releases_the_rest(funded: Ledger) -> None:
    reserve(funded, "batch-1", "3.00")
    receipt = funded.execute(
        Commit(reservation_id="batch-1", amount=eur("2.25"), key="c1", at=at(2))
    )
    assert [(str(t.source), str(t.destination), t.amount) for t in receipt.transfers] == [
        ("reserved:agency1", "spent:agency1", eur("2.25")),
        ("reserved:agency1", "wallet:agency1", eur("0.75")),
    ]
    assert balance(funded, "wallet:agency1") == eur("7.75")
    assert balance(funded, "reserved:agency1") == eur(0)
    assert balance(funded, "spent:agency1") == eur("2.25")
    hold = funded.reservation("batch-1")
    assert hold is not None
    assert hold.committed == eur("2.25")


def test_commit_above_the_hold_draws_the_difference_from_the_wallet(funded: Ledger) -> None:
    reserve(funded, "batch-1", "3.00")
    funded.execute(Commit(reservation_id="batch-1", amount=eur("3.40"), key="c1", at=at(2)))
    assert balance(funded, "wallet:agency1") == eur("6.60")
    assert balance(funded, "spent:agency1") == eur("3.40")


def test_commit_above_the_hold_is_refused_when_the_wallet_cannot_cover_it(
    funded: Ledger,
) -> None:
    reserve(funded, "batch-1", "10.00")
    with pytest.raises(InsufficientCredit):
        funded.execute(Commit(reservation_id="batch-1", amount=eur("10.01"), key="c", at=at(2)))
    assert hold_of(funded, "batch-1").is_open


def test_commit_zero_releases_everything(funded: Ledger) -> None:
    reserve(funded, "batch-1", "3.00")
    funded.execute(Commit(reservation_id="batch-1", amount=eur(0), key="c1", at=at(2)))
    assert balance(funded, "wallet:agency1") == eur("10.00")
    assert balance(funded, "spent:agency1") == eur(0)


def test_release_returns_the_whole_hold(funded: Ledger) -> None:
    reserve(funded, "batch-1", "3.00")
    funded.execute(Release(reservation_id="batch-1", key="rel-1", at=at(2)))
    assert balance(funded, "wallet:agency1") == eur("10.00")
    assert hold_of(funded, "batch-1").status is ReservationStatus.RELEASED


def test_a_closed_reservation_cannot_be_committed_or_released_again(funded: Ledger) -> None:
    reserve(funded, "batch-1", "3.00")
    funded.execute(Commit(reservation_id="batch-1", amount=eur("1"), key="c1", at=at(2)))
    with pytest.raises(CreditReservationClosed) as refused:
        funded.execute(Commit(reservation_id="batch-1", amount=eur("1"), key="c2", at=at(3)))
    assert refused.value.details["status"] == "committed"
    with pytest.raises(CreditReservationClosed):
        funded.execute(Release(reservation_id="batch-1", key="rel", at=at(3)))


def test_expire_releases_reservations_past_their_expiry(funded: Ledger) -> None:
    reserve(funded, "a", "1.00", expires=5)
    reserve(funded, "b", "2.00", expires=6)
    reserve(funded, "c", "3.00", expires=7)
    receipt = funded.execute(Expire(key="sweep-1", at=at(6)))
    assert receipt.reservation_ids == ("a", "b")  # expires_at <= at, oldest first
    assert balance(funded, "reserved:agency1") == eur("3.00")
    assert balance(funded, "wallet:agency1") == eur("7.00")
    assert hold_of(funded, "a").status is ReservationStatus.EXPIRED
    assert funded.execute(Expire(key="sweep-2", at=at(6))).transfers == ()


def test_a_reservation_past_its_expiry_cannot_be_committed(funded: Ledger) -> None:
    reserve(funded, "a", "1.00", expires=5)
    with pytest.raises(CreditReservationClosed):
        funded.execute(Commit(reservation_id="a", amount=eur("1"), key="c1", at=at(5)))
    funded.execute(
        Commit(reservation_id="a", amount=eur("1"), key="c2", at=at(5) - timedelta(0, 1))
    )


def test_a_send_that_cannot_be_covered_is_refused(funded: Ledger) -> None:
    with pytest.raises(InsufficientCredit) as refused:
        reserve(funded, "big", "10.01")
    assert refused.value.details["ledger_account"] == "wallet:agency1"
    assert funded.reservation("big") is None


def test_reservation_ids_are_unique_and_must_exist(funded: Ledger) -> None:
    reserve(funded, "a", "1.00")
    with pytest.raises(AlreadyExists):
        funded.execute(
            Reserve(
                reservation_id="a",
                account_id="agency1",
                amount=eur("1"),
                expires_at=at(10),
                key="other-key",
                at=at(1),
            )
        )
    with pytest.raises(CreditReservationNotFound) as missing:
        funded.execute(Release(reservation_id="nope", key="r", at=at(2)))
    assert isinstance(missing.value, ReservationNotFound)


def test_a_reservation_must_expire_after_it_is_made() -> None:
    with pytest.raises(InvalidInput) as refused:
        Reserve(
            reservation_id="a",
            account_id="agency1",
            amount=eur("1"),
            expires_at=at(1),
            key="k",
            at=at(1),
        )
    assert refused.value.field == "expires_at"
