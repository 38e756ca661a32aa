"""Ownership of top-level accounts (issue 16, item 4): the last member holding
``Settings.owner_role`` (parent_admin) cannot be removed, demoted or deleted, whatever the
path; ``members.transfer_ownership`` hands the role over; two concurrent removals of the
two last administrators never both succeed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from subacct import SYSTEM, FixedClock, Settings, SqliteStore, Store, Subacct
from subacct.domain.events import OwnershipTransferred
from subacct.errors import (
    ActionDenied,
    Conflict,
    InvalidInput,
    LastAdmin,
    MembershipNotFound,
    SeatLimitReached,
    SubacctError,
)
from subacct.testing.pgcluster import TempCluster

from .conftest import T0, event_log, make_app, refused, seed_agency

S = SYSTEM


@pytest.fixture
def app(store: Store) -> Subacct:
    return seed_agency(make_app(store))


def roles(app: Subacct, account: str) -> dict[str, str]:
    return {m.user_id: m.role for m in app.members.members_of(account, by=S)}


def test_the_last_admin_of_a_master_stays_whatever_the_path(app: Subacct, store: Store) -> None:
    for call in (
        lambda: app.members.remove("owner", "agencydemo", by=S),
        lambda: app.members.change_role("owner", "agencydemo", "advanced_user", by=S),
        lambda: app.members.remove_user("owner", by=S),
    ):
        err = refused(store, LastAdmin, call)
        assert err.code == "last_admin"
        assert err.details == {
            "account_id": "agencydemo",
            "user_id": "owner",
            "role": "parent_admin",
        }
    app.members.change_role("owner", "agencydemo", "parent_admin", by=S)  # same role: fine


def test_with_a_second_admin_either_may_go_but_not_both(app: Subacct, store: Store) -> None:
    app.members.add("new", "agencydemo", "parent_admin", by="owner")
    app.members.change_role("new", "agencydemo", "advanced_user", by="owner")
    app.members.change_role("new", "agencydemo", "parent_admin", by="owner")
    app.members.remove("owner", "agencydemo", by="new")
    refused(store, LastAdmin, lambda: app.members.remove("new", "agencydemo", by=S))
    assert roles(app, "agencydemo") == {"new": "parent_admin"}


def test_sub_accounts_are_administered_from_above(app: Subacct) -> None:
    app.members.remove("sam", "agency1", by="owner")  # agency1's only sub admin
    app.members.add("sam", "agency1", "parent_admin", by="owner")
    app.members.remove("sam", "agency1", by="owner")
    assert "sam" not in roles(app, "agency1")


def test_a_master_transfers_to_a_new_member_and_the_owner_steps_down(
    app: Subacct, store: Store
) -> None:
    taken = app.members.transfer_ownership(
        "agencydemo", "new", by="owner", then_role="advanced_user"
    )
    assert (taken.user_id, taken.role) == ("new", "parent_admin")
    assert roles(app, "agencydemo") == {"new": "parent_admin", "owner": "advanced_user"}
    last = event_log(store)[-1]
    assert isinstance(last, OwnershipTransferred)
    assert (last.from_user_id, last.to_user_id, last.then_role) == ("owner", "new", "advanced_user")
    # the owner who leaves (no then_role) is removed; a member moves up
    app.members.transfer_ownership("agencydemo", "owner", by="new")
    assert roles(app, "agencydemo") == {"owner": "parent_admin"}


def test_only_an_owner_or_the_system_transfers(app: Subacct, store: Store) -> None:
    app.members.add("new", "agencydemo", "advanced_user", by="owner")
    err = refused(
        store, ActionDenied, lambda: app.members.transfer_ownership("agencydemo", "new", by="new")
    )
    assert err.details["reason"] in {"role_lacks_action", "not_an_owner"}
    refused(
        store, ActionDenied, lambda: app.members.transfer_ownership("agencydemo", "sam", by="sam")
    )
    refused(
        store,
        InvalidInput,
        lambda: app.members.transfer_ownership("agencydemo", "owner", by="owner"),
    )
    refused(
        store,
        InvalidInput,
        lambda: app.members.transfer_ownership("agencydemo", "new", by="owner", from_user_id="bob"),
    )
    refused(store, Conflict, lambda: app.members.transfer_ownership("agency1", "bob", by=S))
    refused(
        store,
        MembershipNotFound,  # bob is no member of the master
        lambda: app.members.transfer_ownership("agencydemo", "new", by=S, from_user_id="bob"),
    )
    refused(
        store,
        Conflict,  # new holds no owner role in the master
        lambda: app.members.transfer_ownership("agencydemo", "yara", by=S, from_user_id="new"),
    )
    # the system gives a master to someone (the owner is gone), or moves it from one
    app.members.transfer_ownership("agencydemo", "yara", by=S)
    app.members.transfer_ownership(
        "agencydemo", "new", by=S, from_user_id="yara", then_role="basic_user"
    )
    assert roles(app, "agencydemo") == {
        "owner": "parent_admin",
        "new": "parent_admin",
        "yara": "basic_user",
    }


def test_a_transfer_to_a_newcomer_needs_a_free_seat(app: Subacct, store: Store) -> None:
    app.members.set_seat_limit("agencydemo", 1, by=S)
    refused(
        store,
        SeatLimitReached,
        lambda: app.members.transfer_ownership("agencydemo", "new", by="owner"),
    )


def test_a_custom_owner_role(store: Store) -> None:
    app = seed_agency(make_app(store, owner_role="sub_admin"))
    app.members.remove("owner", "agencydemo", by=S)  # parent_admin is no owner role now
    app.members.add("sam", "agencydemo", "sub_admin", by=S)
    refused(store, LastAdmin, lambda: app.members.remove("sam", "agencydemo", by=S))
    with pytest.raises(InvalidInput) as info:
        Settings(owner_role="nobody")
    assert info.value.field == "owner_role"


# -- races: two removals of the two last admins ------------------------------------------


def _race(stores: list[Any]) -> list[str]:
    """Two threads, each with its own application over its own store, remove ann and bea
    from master ``m`` at once; what each got."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def remove(n: int, user: str) -> None:
        mine = Subacct(stores[n], Settings(clock=FixedClock(T0), max_attempts=100))
        barrier.wait()
        try:
            mine.members.remove(user, "m", by=S)
            got = "removed"
        except SubacctError as err:
            got = err.code
        with lock:
            outcomes.append(got)

    threads = [threading.Thread(target=remove, args=(n, u)) for n, u in enumerate(("ann", "bea"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_concurrent_removals_of_the_two_last_admins_never_both_succeed(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    schema = request.getfixturevalue("pg_schema") if kind == "postgres" else ""

    def open_store() -> Any:
        if kind == "sqlite":
            return SqliteStore(tmp_path / "race.db", timeout=30)
        from subacct.storage.postgres import PostgresStore

        cluster: TempCluster = request.getfixturevalue("pg_cluster")
        return PostgresStore(cluster.conninfo(), schema=schema, max_size=2)

    first = open_store()
    app = Subacct(first, Settings(clock=FixedClock(T0)))
    app.accounts.create_master("Agency Demo", account_id="m", by=S)
    for user in ("ann", "bea"):
        app.members.create_user(f"{user}@example.test", user.title(), user_id=user, by=S)
        app.members.add(user, "m", "parent_admin", by=S)
    for round_ in range(3):
        stores = [open_store() for _ in range(2)]
        outcomes = _race(stores)
        assert sorted(outcomes) == ["last_admin", "removed"], round_
        left = app.members.members_of("m", by=S)
        assert [m.role for m in left] == ["parent_admin"]
        gone = ({"ann", "bea"} - {m.user_id for m in left}).pop()
        app.members.add(gone, "m", "parent_admin", by=S)  # two admins again
        for store in stores:
            store.close()
    first.close()
