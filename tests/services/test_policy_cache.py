"""The policy state each ``Subacct`` keeps in memory (``docs/performance.md``): checked
against the store's policy version on every call, so a change made through another
application over the same database is obeyed on the very next call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from subacct import SYSTEM, FixedClock, Settings, Subacct
from subacct.domain import AccountId, Membership, RoleId, UserId
from subacct.errors import ActionDenied, UserNotFound
from subacct.policy import SEND_MESSAGES, VIEW_BILLING, Grant
from subacct.services._runner import Unit
from subacct.storage.memory import MemoryStore
from subacct.storage.ports import Store
from subacct.storage.sqlite import SqliteStore
from subacct.testing.pgcluster import TempCluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _app(store: Store, **settings: int) -> Subacct:
    return Subacct(store, Settings(clock=FixedClock(T0), **settings))  # type: ignore[arg-type]


def _tree(app: Subacct) -> None:
    app.accounts.create_master("M", account_id="m", by=SYSTEM)
    app.accounts.create_sub("m", "S", account_id="s", by=SYSTEM)
    app.members.create_user("o@x.test", "O", user_id="o", by=SYSTEM)
    app.members.invite("o", "m", "parent_admin", by=SYSTEM)


@pytest.fixture(params=["sqlite", "postgres"])
def two_apps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Subacct, Subacct]]:
    """Two applications, each with its own store object, over one database."""
    opened: list[object] = []
    make: Callable[[], Store]
    if request.param == "sqlite":

        def make() -> Store:
            return SqliteStore(tmp_path / "shared.db")

    else:
        cluster: TempCluster = request.getfixturevalue("pg_cluster")
        schema: str = request.getfixturevalue("pg_schema")
        from subacct.storage.postgres import PostgresStore

        def make() -> Store:
            return PostgresStore(cluster.conninfo(), schema=schema, max_size=2)

    first, second = make(), make()
    opened += [first, second]
    yield _app(first), _app(second)
    for store in (first, second):
        store.close()  # type: ignore[attr-defined]


def test_a_revoked_key_is_refused_on_the_next_check_in_the_other_app(
    two_apps: tuple[Subacct, Subacct],
) -> None:
    here, there = two_apps
    _tree(here)
    key, _secret = here.policy.create_api_key("s", "ci", [Grant(SEND_MESSAGES)], by="o")
    for _ in range(3):  # the other app now holds the key, the chain and the index
        assert there.policy.check(SEND_MESSAGES, "s", by=key).allowed
    here.policy.revoke_api_key(key.id, by="o")
    decision = there.policy.check(SEND_MESSAGES, "s", by=key)
    assert not decision.allowed
    assert decision.code == "api_key_revoked"


def test_a_removed_membership_and_a_new_one_are_seen_at_once_in_the_other_app(
    two_apps: tuple[Subacct, Subacct],
) -> None:
    here, there = two_apps
    _tree(here)
    assert there.policy.check(VIEW_BILLING, "s", by="o").allowed
    here.members.remove("o", "m", by=SYSTEM)
    assert not there.policy.check(VIEW_BILLING, "s", by="o").allowed
    with pytest.raises(ActionDenied):
        there.accounts.create_sub("m", "T", by="o")
    assert not there.policy.check(SEND_MESSAGES, "s", by="o").allowed
    here.members.invite("o", "s", "sub_admin", by=SYSTEM)
    assert there.policy.check(SEND_MESSAGES, "s", by="o").allowed
    here.members.remove_user("o", by=SYSTEM)
    with pytest.raises(UserNotFound):
        there.policy.check(SEND_MESSAGES, "s", by="o")


def test_a_rolled_back_policy_write_leaves_nothing_in_the_cache() -> None:
    """A command that wrote policy data and then failed: its reads after the write were
    of its own uncommitted state, and none of them is kept."""
    app = _app(MemoryStore())
    _tree(app)
    app.members.create_user("sam@x.test", "Sam", user_id="sam", by=SYSTEM)
    assert not app.policy.check(SEND_MESSAGES, "s", by="sam").allowed

    def invite_then_fail(unit: Unit) -> None:
        unit.uow.memberships.add(Membership(UserId("sam"), AccountId("s"), RoleId("sub_admin"), T0))
        assert unit.snapshot() is None  # after its own policy write, it reads storage
        assert unit.decide(SEND_MESSAGES, "s").allowed  # ... and sees that write
        raise RuntimeError("the host's step after the write failed")

    with pytest.raises(RuntimeError):
        app.members._runner.command(SYSTEM, invite_then_fail)
    assert not app.policy.check(SEND_MESSAGES, "s", by="sam").allowed


@pytest.mark.parametrize("size", [0, 1, 10_000])
def test_answers_do_not_depend_on_the_cache_size(size: int) -> None:
    app = _app(MemoryStore(), policy_cache_size=size)
    _tree(app)
    app.accounts.create_sub("m", "T", account_id="t", by=SYSTEM)
    app.members.create_user("b@x.test", "B", user_id="b", by=SYSTEM)
    app.members.invite("b", "t", "basic_user", by=SYSTEM)
    wanted = {
        ("o", "s"): True,
        ("o", "t"): True,
        ("b", "t"): False,  # basic users do not see billing
        ("b", "s"): False,
    }
    for _ in range(2):
        got = {
            (who, where): app.policy.check(VIEW_BILLING, where, by=who).allowed
            for who, where in wanted
        }
        assert got == wanted
        assert app.policy.check(SEND_MESSAGES, "t", by="b").allowed


def test_a_check_in_an_unknown_account_is_not_found_for_everyone() -> None:
    from subacct.errors import AccountNotFound

    app = _app(MemoryStore())
    _tree(app)
    for _ in range(2):  # the second time with the cache filled
        for who in ("o", SYSTEM):
            with pytest.raises(AccountNotFound):
                app.policy.check(SEND_MESSAGES, "nowhere", by=who)
        assert app.policy.check(SEND_MESSAGES, "s", by="o").allowed
