"""Allocation policies per sub, as SendGrid gives subusers: unlimited, recurring,
non-recurring."""

from __future__ import annotations

import pytest

from subacct.errors import AllocationError, InsufficientCredit, InvalidInput
from subacct.pricing.ledger import (
    Allocation,
    Commit,
    Distribute,
    Ledger,
    Refund,
    Reserve,
    ResetMode,
    ResetPeriod,
    SetAllocation,
    Spend,
    Wallet,
)

from .helpers import at, balance, eur


def allocate(book: Ledger, sub: str, allocation: Allocation | None, key: str) -> None:
    book.execute(SetAllocation(sub_id=sub, allocation=allocation, key=key, at=at(0)))


def test_unlimited_sub_spends_from_the_masters_wallet(book: Ledger) -> None:
    allocate(book, "agency1", Allocation.unlimited(), "a1")
    book.execute(Spend(account_id="agency1", amount=eur("12.00"), key="s1", at=at(1)))
    assert balance(book, "wallet:agencydemo") == eur("88.00")
    assert balance(book, "wallet:agency1") == eur(0)
    assert balance(book, "spent:agency1") == eur("12.00")  # usage stays the sub's


def test_unlimited_sub_reservations_and_refunds_use_the_masters_wallet(book: Ledger) -> None:
    allocate(book, "agency1", Allocation.unlimited(), "a1")
    book.execute(
        Reserve(
            reservation_id="r",
            account_id="agency1",
            amount=eur("5"),
            expires_at=at(10),
            key="r",
            at=at(1),
        )
    )
    assert balance(book, "wallet:agencydemo") == eur("95")
    assert balance(book, "reserved:agency1") == eur("5")
    book.execute(Commit(reservation_id="r", amount=eur("2"), key="c", at=at(2)))
    book.execute(Refund(account_id="agency1", amount=eur("2"), key="rf", at=at(3)))
    assert balance(book, "wallet:agencydemo") == eur("100")


def test_unlimited_sub_is_refused_when_the_master_runs_dry(book: Ledger) -> None:
    allocate(book, "agency1", Allocation.unlimited(), "a1")
    with pytest.raises(InsufficientCredit) as refused:
        book.execute(Spend(account_id="agency1", amount=eur("100.01"), key="s1", at=at(1)))
    assert refused.value.details["ledger_account"] == "wallet:agencydemo"


def test_unlimited_returns_the_subs_unused_credit_and_takes_no_distributions(
    book: Ledger,
) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur("8"), key="d1", at=at(0)))
    allocate(book, "agency1", Allocation.unlimited(), "a1")
    assert balance(book, "wallet:agency1") == eur(0)
    assert balance(book, "wallet:agencydemo") == eur("100")
    with pytest.raises(AllocationError):
        book.execute(Distribute(sub_id="agency1", amount=eur("1"), key="d2", at=at(1)))


def test_recurring_resets_to_the_amount_and_returns_unused_credit(book: Ledger) -> None:
    allocate(book, "agency1", Allocation.recurring(eur("20.00")), "a1")
    assert balance(book, "wallet:agency1") == eur("20.00")
    book.execute(Spend(account_id="agency1", amount=eur("6.40"), key="s1", at=at(1)))
    receipt = book.execute(ResetPeriod(sub_id="agency1", key="2026-02", at=at(60)))
    assert [(str(t.source), str(t.destination), t.amount) for t in receipt.transfers] == [
        ("wallet:agency1", "wallet:agencydemo", eur("13.60")),
        ("wallet:agencydemo", "wallet:agency1", eur("20.00")),
    ]
    assert balance(book, "wallet:agency1") == eur("20.00")
    assert balance(book, "wallet:agencydemo") == eur("73.60")  # 100 - 20 + 13.60 - 20


def test_recurring_with_expiry_lets_unused_credit_lapse(book: Ledger) -> None:
    allocate(book, "agency1", Allocation.recurring(eur("20"), on_reset=ResetMode.EXPIRE), "a1")
    book.execute(Spend(account_id="agency1", amount=eur("5"), key="s1", at=at(1)))
    book.execute(ResetPeriod(sub_id="agency1", key="2026-02", at=at(60)))
    assert balance(book, "expired:agency1") == eur("15")
    assert balance(book, "wallet:agency1") == eur("20")
    assert balance(book, "wallet:agencydemo") == eur("60")


def test_recurring_reset_settles_an_overdrawn_sub(book: Ledger) -> None:
    book.open_wallet(Wallet("agency1", master_id="agencydemo", overdraft_limit=eur("5")))
    allocate(book, "agency1", Allocation.recurring(eur("10")), "a1")
    book.execute(Spend(account_id="agency1", amount=eur("13"), key="s1", at=at(1)))
    book.execute(ResetPeriod(sub_id="agency1", key="2026-02", at=at(60)))
    assert balance(book, "wallet:agency1") == eur("10")
    assert balance(book, "wallet:agencydemo") == eur("77")  # 100 - 10 - 13


def test_recurring_reset_is_refused_when_the_master_cannot_fund_it(book: Ledger) -> None:
    allocate(book, "agency1", Allocation.recurring(eur("60")), "a1")
    book.execute(Spend(account_id="agency1", amount=eur("60"), key="s1", at=at(1)))
    with pytest.raises(InsufficientCredit):
        book.execute(ResetPeriod(sub_id="agency1", key="2026-02", at=at(60)))
    assert balance(book, "wallet:agency1") == eur(0)


def test_non_recurring_is_a_one_time_amount(book: Ledger) -> None:
    allocate(book, "agency1", Allocation.non_recurring(eur("15")), "a1")
    assert balance(book, "wallet:agency1") == eur("15")
    with pytest.raises(AllocationError):
        book.execute(ResetPeriod(sub_id="agency1", key="2026-02", at=at(60)))


def test_allocations_are_for_subs_funded_by_their_master(book: Ledger) -> None:
    with pytest.raises(AllocationError):
        allocate(book, "clinic", Allocation.recurring(eur("5")), "a1")
    with pytest.raises(AllocationError):
        allocate(book, "agencydemo", Allocation.unlimited(), "a2")
    with pytest.raises(AllocationError):  # only SetAllocation changes an allocation
        book.open_wallet(
            Wallet("agency2", master_id="agencydemo", allocation=Allocation.unlimited())
        )


def test_removing_an_allocation_leaves_the_credit_in_place(book: Ledger) -> None:
    allocate(book, "agency1", Allocation.recurring(eur("20")), "a1")
    allocate(book, "agency1", None, "a2")
    assert balance(book, "wallet:agency1") == eur("20")
    with pytest.raises(AllocationError):
        book.execute(ResetPeriod(sub_id="agency1", key="2026-02", at=at(60)))


def test_allocation_values_are_validated() -> None:
    with pytest.raises(InvalidInput):
        Allocation(Allocation.unlimited().kind, eur("5"))
    with pytest.raises(InvalidInput):
        Allocation.recurring(eur("-1"))
    with pytest.raises(InvalidInput):
        Wallet("s", master_id="m", own_payment_method=True, allocation=Allocation.unlimited())
