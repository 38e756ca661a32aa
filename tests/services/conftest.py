"""Shared fixtures for the tests of the composed application (``subacct.Subacct``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from subacct import (
    SYSTEM,
    FixedClock,
    Grant,
    MemoryStore,
    Role,
    SequentialIds,
    Settings,
    SqliteStore,
    Store,
    Subacct,
)
from subacct.errors import ActionDenied, SubacctError
from subacct.policy import MANAGE_CONTACTS, MANAGE_TEMPLATES, SEND_MESSAGES, VIEW_REPORTS
from subacct.storage.collections import AUDIT_RECORDS, RESOURCES, SHARES
from subacct.testing.conformance import store_state

T0 = datetime(2026, 1, 15, tzinfo=UTC)
DESIGNER = Role(
    "designer",
    "Template designer (sub)",
    [Grant(SEND_MESSAGES), Grant(MANAGE_TEMPLATES), Grant(MANAGE_CONTACTS), Grant(VIEW_REPORTS)],
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        s = SqliteStore(tmp_path / "app.db")
        yield s
        s.close()


def make_app(store: Store, **settings: object) -> Subacct:
    clock = settings.pop("clock", FixedClock(T0))
    return Subacct(store, Settings(clock=clock, ids=SequentialIds(), **settings))  # type: ignore[arg-type]


def seed_agency(app: Subacct) -> Subacct:
    """Seed 000/004: ``agencydemo`` with ``agency1`` and ``agency2``; owner (parent admin),
    sam (sub admin) and bob (basic) in agency1, yara (advanced) in agency2, and a
    newcomer with no membership."""
    app.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Company X", account_id="agency1", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Company Y", account_id="agency2", by=SYSTEM)
    for user, account, role in [
        ("owner", "agencydemo", "parent_admin"),
        ("sam", "agency1", "sub_admin"),
        ("bob", "agency1", "basic_user"),
        ("yara", "agency2", "advanced_user"),
    ]:
        app.members.create_user(f"{user}@example.test", user.title(), user_id=user, by=SYSTEM)
        app.members.add(user, account, role, by=SYSTEM)
    app.members.create_user("new@example.test", "Newcomer", user_id="new", by=SYSTEM)
    return app


def seed_agency_with_roles(app: Subacct) -> Subacct:
    """Seed 000/004: agencydemo with agency1 and agency2; an unrelated master; a linked
    client (seed 002). owner: parent admin and vic: advanced user of agencydemo; sam: sub
    admin, ada: advanced, bob: basic and dee: a custom template designer, all in agency1;
    yara: sub admin of agency2; otto: parent admin of othermaster; cleo: parent admin of
    the linked client."""
    app.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Agency 1", account_id="agency1", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Agency 2", account_id="agency2", by=SYSTEM)
    app.accounts.create_master("Other Master", account_id="othermaster", by=SYSTEM)
    app.accounts.create_master("Client Co", account_id="client", by=SYSTEM)
    app.links.accept(
        app.links.request("agencydemo", "Client", client_id="client", by=SYSTEM)[1], by=SYSTEM
    )
    app.policy.define_role(DESIGNER, by=SYSTEM)
    for user, account, role in [
        ("owner", "agencydemo", "parent_admin"),
        ("sam", "agency1", "sub_admin"),
        ("ada", "agency1", "advanced_user"),
        ("bob", "agency1", "basic_user"),
        ("dee", "agency1", "designer"),
        ("vic", "agencydemo", "advanced_user"),
        ("yara", "agency2", "sub_admin"),
        ("otto", "othermaster", "parent_admin"),
        ("cleo", "client", "parent_admin"),
    ]:
        app.members.create_user(f"{user}@example.test", user.title(), user_id=user, by=SYSTEM)
        app.members.add(user, account, role, by=SYSTEM)
    return app


def event_log(store: Store) -> list[object]:
    with store.unit_of_work() as uow:
        return [x.event for x in uow.events.since(0, limit=100_000)]


def audit_log(store: Store) -> list[object]:
    """Every audit record in the order written (storage numbers them)."""
    with store.unit_of_work() as uow:
        return list(uow.records(AUDIT_RECORDS).all())


def snapshot(store: Store) -> dict[str, Any]:
    """Everything a refused call could have touched: accounts, users, memberships, links,
    resources, shares, audit records and the event log."""
    state = store_state(store)
    with store.unit_of_work() as uow:
        for coll in (RESOURCES, SHARES, AUDIT_RECORDS):
            state[coll.name] = uow.records(coll).all()
        state["events"] = uow.events.since(0, limit=10_000)
    return state


def refused(store: Store, error: type[SubacctError], call: Callable[[], object]) -> SubacctError:
    """``call`` raises ``error`` and leaves storage as it was, except that a refusal by the
    policy (``ActionDenied`` and its subclasses) appends exactly one audit record: the
    denied decision on the refused action in the refused account. Any other refusal
    writes nothing at all."""
    before = snapshot(store)
    with pytest.raises(error) as info:
        call()
    after = snapshot(store)
    old_audit, new_audit = before.pop(AUDIT_RECORDS.name), after.pop(AUDIT_RECORDS.name)
    assert after == before
    kept = {r.id: r for r in new_audit}
    assert all(kept.get(r.id) == r for r in old_audit)  # nothing rewritten or dropped
    old_ids = {r.id for r in old_audit}
    added = [r for r in new_audit if r.id not in old_ids]
    err = info.value
    if isinstance(err, ActionDenied):
        assert [(r.action, r.account_id, r.allowed, r.reason.value) for r in added] == [
            (err.details["action"], err.details["account_id"], False, err.details["reason"])
        ]
    else:
        assert added == []
    return err
