"""Top-up, distribute, reclaim, spend and refund with exact amounts (seed 003)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from subacct.errors import (
    AllocationError,
    InsufficientCredit,
    InvalidInput,
    OverdraftInUse,
    PaymentMethodRequired,
    RefundExceedsSpent,
    WalletNotFound,
)
from subacct.money import Money
from subacct.pricing.ledger import (
    Distribute,
    Ledger,
    LedgerAccount,
    OperationKind,
    Reclaim,
    Refund,
    Spend,
    TopUp,
    Wallet,
    allow_all,
)

from .helpers import T0, at, balance, eur


def total(book: Ledger) -> Decimal:
    return sum((m.amount for m in book.balances().values()), Decimal(0))


def test_seed003_main_account_distributes_credits_to_subs(book: Ledger) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur("30.00"), key="d1", at=at(1)))
    book.execute(Distribute(sub_id="agency2", amount=eur("12.50"), key="d2", at=at(2)))
    assert balance(book, "wallet:agencydemo") == eur("57.50")
    assert balance(book, "wallet:agency1") == eur("30.00")
    assert balance(book, "wallet:agency2") == eur("12.50")
    assert balance(book, "external:agencydemo") == eur("-100.00")
    assert total(book) == 0


def test_seed003_sub_with_own_payment_details_tops_up_itself(book: Ledger) -> None:
    receipt = book.execute(TopUp(account_id="clinic", amount=eur("25.00"), key="c1", at=at(1)))
    (transfer,) = receipt.transfers
    assert (str(transfer.source), str(transfer.destination)) == ("external:clinic", "wallet:clinic")
    assert transfer.amount == eur("25.00")
    assert transfer.operation is OperationKind.TOP_UP
    assert balance(book, "wallet:clinic") == eur("25.00")
    assert balance(book, "wallet:agencydemo") == eur("100.00")  # the master paid nothing


def test_seed003_sub_without_payment_details_cannot_top_up(book: Ledger) -> None:
    with pytest.raises(PaymentMethodRequired) as refused:
        book.execute(TopUp(account_id="agency1", amount=eur("5"), key="x", at=at(1)))
    assert refused.value.code == "payment_method_required"
    assert balance(book, "wallet:agency1") == eur(0)
    assert book.idempotency("x", "agency1") is None  # a refusal records nothing


def test_reclaim_returns_unused_credit_to_the_master(book: Ledger) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur("30"), key="d1", at=at(1)))
    book.execute(Spend(account_id="agency1", amount=eur("4.25"), key="s1", at=at(2)))
    book.execute(Reclaim(sub_id="agency1", amount=eur("5"), key="r1", at=at(3)))
    assert balance(book, "wallet:agency1") == eur("20.75")
    receipt = book.execute(Reclaim(sub_id="agency1", key="r2", at=at(4)))  # all of it
    assert [t.amount for t in receipt.transfers] == [eur("20.75")]
    assert balance(book, "wallet:agency1") == eur(0)
    assert balance(book, "wallet:agencydemo") == eur("95.75")
    assert book.execute(Reclaim(sub_id="agency1", key="r3", at=at(5))).transfers == ()


def test_reclaim_more_than_the_sub_has_is_refused(book: Ledger) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur("3"), key="d1", at=at(1)))
    with pytest.raises(InsufficientCredit):
        book.execute(Reclaim(sub_id="agency1", amount=eur("3.01"), key="r1", at=at(2)))
    with pytest.raises(AllocationError):  # a master has no master to give credit back to
        book.execute(Reclaim(sub_id="agencydemo", key="r2", at=at(2)))


def test_spend_moves_credit_to_spent_and_refund_gives_it_back(book: Ledger) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur("10"), key="d1", at=at(1)))
    book.execute(Spend(account_id="agency1", amount=eur("0.075"), key="sms-1", at=at(2)))
    assert balance(book, "wallet:agency1") == eur("9.925")
    assert balance(book, "spent:agency1") == eur("0.075")
    book.execute(Refund(account_id="agency1", amount=eur("0.075"), key="rf-1", at=at(3)))
    assert balance(book, "wallet:agency1") == eur("10")
    with pytest.raises(RefundExceedsSpent) as refused:
        book.execute(Refund(account_id="agency1", amount=eur("0.01"), key="rf-2", at=at(4)))
    assert refused.value.details["spent"] == "0.000"


def test_insufficient_credit_is_a_typed_refusal_with_the_figures(book: Ledger) -> None:
    book.execute(Distribute(sub_id="agency2", amount=eur("1.00"), key="d1", at=at(1)))
    before = book.balances()
    with pytest.raises(InsufficientCredit) as refused:
        book.execute(Spend(account_id="agency2", amount=eur("1.01"), key="s1", at=at(2)))
    err = refused.value
    assert err.code == "insufficient_credit"
    assert err.details == {
        "account_id": "agency2",
        "ledger_account": "wallet:agency2",
        "requested": "1.01",
        "available": "1.00",
        "currency": "EUR",
    }
    assert book.balances() == before


def test_distribution_never_exceeds_the_masters_credit(book: Ledger) -> None:
    with pytest.raises(InsufficientCredit):
        book.execute(Distribute(sub_id="agency1", amount=eur("100.01"), key="d1", at=at(1)))
    book.execute(Distribute(sub_id="agency1", amount=eur("100.00"), key="d2", at=at(1)))
    assert balance(book, "wallet:agencydemo") == eur(0)


def test_overdraft_lets_sends_go_below_zero_down_to_the_limit() -> None:
    book = Ledger("EUR", authorize=allow_all)
    book.open_wallet(Wallet("acme", overdraft_limit=eur("5.00")))
    book.execute(TopUp(account_id="acme", amount=eur("2.00"), key="t1", at=T0))
    book.execute(Spend(account_id="acme", amount=eur("6.50"), key="s1", at=at(1)))
    assert balance(book, "wallet:acme") == eur("-4.50")
    with pytest.raises(InsufficientCredit) as refused:
        book.execute(Spend(account_id="acme", amount=eur("0.51"), key="s2", at=at(2)))
    assert refused.value.details["available"] == "0.50"
    book.execute(Spend(account_id="acme", amount=eur("0.50"), key="s3", at=at(3)))
    assert balance(book, "wallet:acme") == eur("-5.00")


def test_overdraft_is_for_sends_only_not_for_distributing() -> None:
    book = Ledger("EUR", authorize=allow_all)
    book.open_wallet(Wallet("m", overdraft_limit=eur("50")))
    book.open_wallet(Wallet("s", master_id="m"))
    with pytest.raises(InsufficientCredit):
        book.execute(Distribute(sub_id="s", amount=eur("1"), key="d1", at=T0))


def test_overdraft_limit_cannot_drop_below_the_current_debt() -> None:
    book = Ledger("EUR", authorize=allow_all)
    book.open_wallet(Wallet("acme", overdraft_limit=eur("5")))
    book.execute(Spend(account_id="acme", amount=eur("3"), key="s1", at=T0))
    with pytest.raises(OverdraftInUse):
        book.open_wallet(Wallet("acme", overdraft_limit=eur("2.99")))
    assert book.open_wallet(Wallet("acme", overdraft_limit=eur("3"))).floor == Decimal(-3)


def test_wallets_must_exist_and_keep_their_master(book: Ledger) -> None:
    with pytest.raises(WalletNotFound):
        book.execute(Spend(account_id="ghost", amount=eur("1"), key="s1", at=T0))
    with pytest.raises(WalletNotFound):
        book.open_wallet(Wallet("orphan", master_id="ghost"))
    with pytest.raises(AllocationError):
        book.open_wallet(Wallet("agency1", master_id="clinic"))


def test_other_currencies_are_refused(book: Ledger) -> None:
    with pytest.raises(InvalidInput) as refused:
        book.execute(TopUp(account_id="agencydemo", amount=Money("1", "USD"), key="t", at=T0))
    assert refused.value.field == "currency"


def test_transfers_carry_key_reference_and_time(book: Ledger) -> None:
    receipt = book.execute(
        Distribute(
            sub_id="agency1", amount=eur("7"), key="d-7", at=at(9), reference="invoice 2026-01"
        )
    )
    (transfer,) = receipt.transfers
    assert transfer.id == "d-7/0"
    assert transfer.reference == "invoice 2026-01"
    assert transfer.at == at(9)
    assert transfer.source == LedgerAccount.wallet("agencydemo")
