"""Every operation asks the caller's policy engine first (seed 004 roles)."""

from __future__ import annotations

import functools

import pytest

from subacct.domain import Account, AccountKind, Membership
from subacct.errors import PermissionDenied
from subacct.policy import PolicyIndex
from subacct.pricing.ledger import (
    POLICY_ACTIONS,
    Allocation,
    Authorizer,
    Distribute,
    Expire,
    Ledger,
    LedgerAction,
    LedgerRequest,
    Reclaim,
    Refund,
    Reserve,
    SetAllocation,
    Spend,
    TopUp,
    Wallet,
    allow_all,
    authorizer_from,
    policy_authorizer,
)

from .helpers import T0, at, balance, eur

INDEX = PolicyIndex.build(
    [
        Account("parent", "Parent", AccountKind.MASTER, T0),
        Account("marketing", "Marketing", AccountKind.SUB, T0, parent_id="parent"),
    ],
    [
        Membership("alice", "parent", "parent_admin", T0),
        Membership("sam", "marketing", "sub_admin", T0),
        Membership("bob", "marketing", "basic_user", T0),
    ],
)


def acting(user: str) -> Authorizer:
    return policy_authorizer(functools.partial(INDEX.require, user))


@pytest.fixture
def book() -> Ledger:
    ledger = Ledger("EUR", authorize=acting("nobody"))  # every call below names its actor
    ledger.open_wallet(Wallet("parent"), authorize=allow_all)
    ledger.open_wallet(Wallet("marketing", master_id="parent"), authorize=allow_all)
    ledger.execute(
        TopUp(account_id="parent", amount=eur("50"), key="t0", at=T0), authorize=allow_all
    )
    return ledger


def test_seed004_parent_admin_tops_up_distributes_and_reclaims(book: Ledger) -> None:
    alice = acting("alice")
    book.execute(TopUp(account_id="parent", amount=eur("5"), key="t1", at=at(1)), authorize=alice)
    book.execute(
        Distribute(sub_id="marketing", amount=eur("20"), key="d1", at=at(2)), authorize=alice
    )
    book.execute(Reclaim(sub_id="marketing", amount=eur("5"), key="r1", at=at(3)), authorize=alice)
    book.execute(
        SetAllocation(sub_id="marketing", allocation=Allocation.unlimited(), key="a1", at=at(4)),
        authorize=alice,
    )
    assert balance(book, "wallet:parent") == eur("55")


@pytest.mark.parametrize("user", ["sam", "bob", "nobody"])
def test_seed004_only_the_parent_admin_moves_credit(book: Ledger, user: str) -> None:
    before = book.balances()
    requests: list[LedgerRequest] = [
        TopUp(account_id="parent", amount=eur("5"), key="t1", at=at(1)),
        Distribute(sub_id="marketing", amount=eur("20"), key="d1", at=at(1)),
        Reclaim(sub_id="marketing", key="r1", at=at(1)),
        Refund(account_id="marketing", amount=eur("1"), key="rf", at=at(1)),
    ]
    for request in requests:
        with pytest.raises(PermissionDenied):
            book.execute(request, authorize=acting(user))
    assert book.balances() == before


def test_seed004_users_who_send_may_spend_their_own_accounts_credit(book: Ledger) -> None:
    book.execute(
        Distribute(sub_id="marketing", amount=eur("3"), key="d1", at=at(1)), authorize=allow_all
    )
    book.execute(
        Spend(account_id="marketing", amount=eur("1"), key="s1", at=at(2)), authorize=acting("bob")
    )
    with pytest.raises(PermissionDenied) as refused:  # bob sends only in his own sub
        book.execute(
            Spend(account_id="parent", amount=eur("1"), key="s2", at=at(2)), authorize=acting("bob")
        )
    assert refused.value.code == "action_denied"
    assert refused.value.details["reason"] == "no_membership"
    assert balance(book, "spent:marketing") == eur("1")


def test_expire_asks_for_each_reservation_it_releases(book: Ledger) -> None:
    book.execute(
        Reserve(
            reservation_id="r",
            account_id="parent",
            amount=eur("1"),
            expires_at=at(5),
            key="res",
            at=at(1),
        ),
        authorize=allow_all,
    )
    asked: list[tuple[LedgerAction, str]] = []

    def recording(action: LedgerAction, account_id: str, /) -> None:
        asked.append((action, account_id))

    book.execute(Expire(key="sweep", at=at(6)), authorize=recording)
    assert asked == [(LedgerAction.EXPIRE, "parent")]


def test_authorizer_from_maps_names_and_refuses_unmapped_actions() -> None:
    seen: list[tuple[str, str]] = []

    def check(name: str, account: str) -> bool:
        seen.append((name, account))
        return True

    authorize = authorizer_from(check, {LedgerAction.TOP_UP: "prepaid_top_up"})
    authorize(LedgerAction.TOP_UP, "m")
    assert seen == [("prepaid_top_up", "m")]
    with pytest.raises(PermissionDenied) as refused:
        authorize(LedgerAction.SPEND, "m")
    assert refused.value.details == {"action": "credits.spend", "account_id": "m"}


def test_every_ledger_action_has_a_policy_action() -> None:
    assert set(POLICY_ACTIONS) == set(LedgerAction)
    assert set(POLICY_ACTIONS.values()) <= set(INDEX.catalog.names)
