"""What a plan rests on, and why a store may apply it to a state that moved meanwhile.

A store that checks a plan on the stored rows (the PostgreSQL adapter's server function)
adds each change's delta to the balance as it then finds it. That is sound when the
plan's guards (key new, pinned balances exact, floors held, reservations as expected,
wallets unchanged) imply that planning again against that state would make the same
plan: the property at the end checks exactly that against the reference ``Ledger``.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.errors import ConcurrentModification, SubacctError
from subacct.pricing.ledger import (
    BalanceChange,
    Distribute,
    Expire,
    Ledger,
    LedgerAccount,
    LedgerRequest,
    Reclaim,
    ResetPeriod,
    SetAllocation,
    Spend,
    TopUp,
    Wallet,
    allow_all,
    plan,
)
from subacct.pricing.ledger.planning import Draft
from subacct.testing.ledger_strategies import idempotency_keys, ledger_requests, ledger_setups

from .helpers import T0, at, balance, eur


def test_a_balance_an_amount_was_computed_from_is_pinned(book: Ledger) -> None:
    book.execute(Distribute(sub_id="agency1", amount=eur(30), key="d1", at=at(1)))
    everything = plan(book, Reclaim(sub_id="agency1", key="r1", at=at(2)), allow_all)
    assert everything.pinned == ((LedgerAccount.wallet("agency1"), Decimal(30)),)
    book.execute(Distribute(sub_id="agency1", amount=eur(1), key="d2", at=at(3)))
    with pytest.raises(ConcurrentModification):  # 30 is no longer "everything"
        book.apply(everything)
    assert balance(book, "wallet:agency1") == eur(31)
    assert book.idempotency("r1", "agencydemo") is None  # a reclaim: the master's key


def test_a_fixed_amount_pins_nothing_and_applies_to_a_moved_balance(book: Ledger) -> None:
    give = plan(book, Distribute(sub_id="agency1", amount=eur(30), key="d1", at=at(1)), allow_all)
    assert give.pinned == ()
    book.execute(Distribute(sub_id="agency2", amount=eur(50), key="d2", at=at(2)))
    book.apply(give)  # 100 - 50 still covers 30: the same plan as planning now
    assert balance(book, "wallet:agencydemo") == eur(20)
    too_much = plan(
        book, Distribute(sub_id="agency1", amount=eur(20), key="d3", at=at(3)), allow_all
    )
    book.execute(Spend(account_id="agencydemo", amount=eur(1), key="s1", at=at(4)))
    with pytest.raises(ConcurrentModification):  # 19 left: below the floor
        book.apply(too_much)
    assert balance(book, "wallet:agencydemo") == eur(19)


def test_an_account_that_goes_down_then_up_keeps_the_floor_of_its_lowest_point(
    book: Ledger,
) -> None:
    """Out 30 (floor 0), then back 30: the net change is zero, but the plan needed 30
    to start with, so that is its guard."""
    master, sub = LedgerAccount.wallet("agencydemo"), LedgerAccount.wallet("agency1")
    give = Distribute(sub_id="agency1", amount=eur(30), key="x", at=at(1))
    draft = Draft(book, give, "agencydemo")
    draft.move(master, sub, Decimal(30), Decimal(0))
    draft.move(sub, master, Decimal(30), Decimal(0))
    planned = draft.finish()
    assert planned.changes == (
        BalanceChange(master, Decimal(0), Decimal(30)),
        BalanceChange(sub, Decimal(0), Decimal(0)),
    )
    book.execute(Spend(account_id="agencydemo", amount=eur(75), key="s1", at=at(2)))
    with pytest.raises(ConcurrentModification):  # 25 left: the first move no longer fits
        book.apply(planned)
    assert balance(book, "wallet:agencydemo") == eur(25)


def _book(wallets: list[Wallet], history: list[LedgerRequest]) -> Ledger:
    book = Ledger("EUR", authorize=allow_all)
    for wallet in wallets:
        book.open_wallet(wallet)
    book.execute(TopUp(account_id="master", amount=eur(300), key="seed", at=T0))
    for request in history:
        with contextlib.suppress(SubacctError):
            book.execute(request)
    return book


def _state(book: Ledger) -> tuple[object, ...]:
    return (book.balances(), book.transfers(), book.reservations(), book.wallets())


def _cases(
    wallets: list[Wallet],
) -> st.SearchStrategy[
    tuple[list[Wallet], list[LedgerRequest], LedgerRequest, list[LedgerRequest]]
]:
    requests = ledger_requests(wallets, keys=idempotency_keys())  # built once per draw
    return st.tuples(
        st.just(wallets),
        st.lists(requests, max_size=8),
        # a sweep covers the holds it saw; the other requests name what they touch.
        # Half are requests whose amounts come from a balance (pinned).
        requests.filter(lambda r: not isinstance(r, Expire))
        | requests.filter(lambda r: isinstance(r, (Reclaim, ResetPeriod, SetAllocation))),
        # wallets changed meanwhile are a store's guard (tested on each adapter)
        st.lists(requests.filter(lambda r: not isinstance(r, SetAllocation)), max_size=6),
    )


@settings(max_examples=60, deadline=None)  # about 2 s; the ledger state machine covers more
@given(case=ledger_setups().flatmap(_cases))
def test_a_plan_whose_guards_hold_is_the_plan_the_moved_state_would_make(
    case: tuple[list[Wallet], list[LedgerRequest], LedgerRequest, list[LedgerRequest]],
) -> None:
    wallets, history, request, meanwhile = case
    planned_on, fresh = _book(wallets, history), _book(wallets, history)
    try:
        planned = plan(planned_on, request, allow_all)
    except SubacctError:
        return
    for other in meanwhile:  # the same moves on both books
        for book in (planned_on, fresh):
            with contextlib.suppress(SubacctError):
                book.execute(other)
    before = _state(planned_on)
    try:
        planned_on.apply(planned)
    except ConcurrentModification:
        assert _state(planned_on) == before  # refused whole
        return
    fresh.execute(request)  # planning again now succeeds...
    assert _state(planned_on) == _state(fresh)  # ...and writes exactly the same
