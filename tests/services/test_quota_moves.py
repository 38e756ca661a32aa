"""Quotas follow the tree: a move, attach or detach carries the subtree's counts of the
month to its new ancestors and refuses a cap its new ancestors' limits do not allow."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct import (
    SYSTEM,
    BillingPeriod,
    FixedClock,
    MemoryStore,
    Quota,
    Store,
    Subacct,
    SubacctError,
    UsageRecord,
)
from subacct.domain import HierarchyRules
from subacct.errors import QuotaCapExceedsParent
from subacct.storage.collections import QUOTA_COUNTERS, QUOTA_RESERVATIONS
from subacct.testing.conformance import store_state

from .conftest import make_app

JAN = BillingPeriod(2026, 1)
NOW = datetime(2026, 1, 15, tzinfo=UTC)


def world(store: Store) -> Subacct:
    """Masters m and n; a and b under m, c under n; three levels allowed."""
    app = make_app(store, clock=FixedClock(NOW), hierarchy=HierarchyRules(3))
    app.accounts.create_master("M", account_id="m", by=SYSTEM)
    app.accounts.create_master("N", account_id="n", by=SYSTEM)
    for sub, parent in (("a", "m"), ("b", "m"), ("c", "n")):
        app.accounts.create_sub(parent, sub.upper(), account_id=sub, by=SYSTEM)
    return app


def counted(app: Subacct, account_id: str) -> int:
    with app.store.unit_of_work() as uow:
        found = uow.records(QUOTA_COUNTERS).find(f"{account_id}/{JAN}")
    return 0 if found is None else found.used


def send(app: Subacct, account_id: str, quantity: int, key: str) -> None:
    app.billing.record_usage([UsageRecord(account_id, JAN, "email", quantity, key)], by=SYSTEM)


def test_a_detached_sub_takes_its_counts_with_it(store: Store) -> None:
    app = world(store)
    app.billing.set_quota("m", Quota(6000), by=SYSTEM)
    send(app, "a", 5000, "a-1")
    assert not app.billing.check_send("m", JAN, 1001, by=SYSTEM).allowed
    app.accounts.detach("a", by=SYSTEM)
    assert (counted(app, "m"), counted(app, "a")) == (0, 5000)
    assert app.billing.check_send("m", JAN, 6000, by=SYSTEM).allowed
    app.accounts.attach("a", "n", by=SYSTEM)
    assert (counted(app, "n"), counted(app, "a")) == (5000, 5000)


def test_a_move_under_a_smaller_limit_is_refused_and_changes_nothing(store: Store) -> None:
    app = world(store)
    app.billing.set_quota("n", Quota(5000), by=SYSTEM)
    app.billing.set_quota("a", Quota(9000), by=SYSTEM)
    send(app, "a", 100, "a-1")
    before = store_state(app.store), counted(app, "m"), counted(app, "n")
    with pytest.raises(QuotaCapExceedsParent) as err:
        app.accounts.move("a", "n", by=SYSTEM)
    assert err.value.details["parent_id"] == "n"
    assert (store_state(app.store), counted(app, "m"), counted(app, "n")) == before
    assert app.billing.check_send("a", JAN, 1, by=SYSTEM).allowed  # nothing was bricked


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["send", "reserve", "release", "move", "move", "detach", "attach"]),
        st.integers(0, 9),
        st.integers(0, 9),
        st.integers(1, 500),
    ),
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(ops=_OPS)
def test_every_count_is_its_subtree_usage_and_holds_whatever_moves(
    ops: list[tuple[str, int, int, int]],
) -> None:
    """Random sends, reservations, releases and moves: each account's count of the month
    is the usage plus the open reservations of its subtree as it stands at the end."""
    app = world(MemoryStore())
    app.accounts.create_sub("a", "D", account_id="d", by=SYSTEM)  # a third level
    ids = ["m", "n", "a", "b", "c", "d"]
    held: list[tuple[str, str]] = []
    for n, (op, i, j, quantity) in enumerate(ops):
        tree = app.accounts.tree(by=SYSTEM)
        subs = [a.id for a in tree if a.parent_id is not None]
        tops = [a.id for a in tree if a.parent_id is None]
        try:
            if op == "send":
                send(app, ids[i % len(ids)], quantity, f"k{n}")
            elif op == "reserve":
                where = ids[i % len(ids)]
                app.billing.reserve_send(where, JAN, quantity, key=f"r{n}", by=SYSTEM)
                held.append((where, f"r{n}"))
            elif op == "release" and held:
                where, key = held.pop(i % len(held))
                app.billing.release_send(where, JAN, key, by=SYSTEM)
            elif op == "move" and subs:
                app.accounts.move(subs[i % len(subs)], ids[j % len(ids)], by=SYSTEM)
            elif op == "detach" and subs:
                app.accounts.detach(subs[i % len(subs)], by=SYSTEM)
            elif op == "attach" and len(tops) > 1:
                app.accounts.attach(tops[i % len(tops)], ids[j % len(ids)], by=SYSTEM)
        except SubacctError:
            continue
    tree = app.accounts.tree(by=SYSTEM)
    with app.store.unit_of_work() as uow:
        records = uow.usage.for_period(JAN)
        holds = uow.records(QUOTA_RESERVATIONS).all()
    own = {a: sum(r.quantity for r in records if r.account_id == a) for a in ids}
    for hold in holds:
        own[hold.account_id] += hold.quantity
    for account in ids:
        subtree = [account, *tree.descendants(account)]
        assert counted(app, account) == sum(own[a] for a in subtree), (account, ops)


@settings(max_examples=25)
@given(
    sends=st.lists(
        st.tuples(
            st.sampled_from(["m", "n", "a", "b", "c"]),
            st.integers(1, 3000),
            st.integers(0, 12),  # the key: repeats are retries
        ),
        max_size=25,
    ),
    reserved=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 12)), max_size=5),
)
def test_a_batch_counts_exactly_as_its_records_one_by_one(
    sends: list[tuple[str, int, int]], reserved: list[tuple[str, int]]
) -> None:
    """One ``record_usage`` call with many records (read and counted in one state) leaves
    the same counters, reservations and usage as one call per record."""
    batch = {f"k{key}": UsageRecord(a, JAN, "sms", n, f"k{key}") for a, n, key in sends}
    records = list(batch.values())

    def run(one_by_one: bool) -> dict[str, object]:
        store = MemoryStore()
        app = world(store)
        app.billing.set_quota("m", Quota(40_000, allow_overage=True), by=SYSTEM)
        for account, key in reserved:
            with contextlib.suppress(SubacctError):  # a repeated key conflicts
                app.billing.reserve_send(account, JAN, 10, key=f"k{key}", by=SYSTEM)
        if one_by_one:
            for record in records:
                app.billing.record_usage([record], by=SYSTEM)
        else:
            assert app.billing.record_usage([*records, *records], by=SYSTEM) == len(records)
        with store.unit_of_work() as uow:
            return {
                "counters": {c.account_id: c.used for c in uow.records(QUOTA_COUNTERS).all()},
                "held": sorted(r.key for r in uow.records(QUOTA_RESERVATIONS).all()),
                "usage": uow.usage.totals(JAN),
            }

    assert run(one_by_one=False) == run(one_by_one=True)
