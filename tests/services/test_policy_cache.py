"""The policy state each ``Subacct`` keeps in memory (``docs/performance.md``): checked
against the store's policy version on every call, so a change made through another
application over the same database is obeyed on the very next call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from subacct import SYSTEM, FixedClock, Settings, Subacct
from subacct.domain import AccountId, Membership, RoleId, UserId
from subacct.errors import ActionDenied, UserNotFound
from subacct.policy import SEND_MESSAGES, VIEW_BILLING, Grant
from subacct.services._policy_cache import _MISSING
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
    app.members.add("o", "m", "parent_admin", by=SYSTEM)


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
        schema: str = request.getfixturevalue("pg_clean_schema")
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
    here.members.create_user("p@x.test", "P", user_id="p", by=SYSTEM)
    here.members.add("p", "m", "parent_admin", by=SYSTEM)  # o is not the last admin
    assert there.policy.check(VIEW_BILLING, "s", by="o").allowed
    here.members.remove("o", "m", by=SYSTEM)
    assert not there.policy.check(VIEW_BILLING, "s", by="o").allowed
    with pytest.raises(ActionDenied):
        there.accounts.create_sub("m", "T", by="o")
    assert not there.policy.check(SEND_MESSAGES, "s", by="o").allowed
    here.members.add("o", "s", "sub_admin", by=SYSTEM)
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
    app.members.add("b", "t", "basic_user", by=SYSTEM)
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


def test_an_older_version_empties_the_cache_and_a_read_only_view_keeps_nothing() -> None:
    """A store put back from a backup reads lower versions, which climb again to numbers
    the cache has seen: the first lower version read empties the cache. A unit whose
    reads are not one snapshot reads the cache through a view that stages what it reads,
    kept only once the version is confirmed."""
    from subacct.services._policy_cache import PolicyCache

    cache = PolicyCache(10)
    kept = cache.at(5)
    kept.principals.put(("user", "u"), True)
    assert cache.at(5) is kept
    older = cache.at(3)
    assert older is not kept
    assert older.principals.get(("user", "u")) is _MISSING
    again = cache.at(5)
    assert again is not kept
    assert again.principals.get(("user", "u")) is _MISSING
    staged: list[tuple[str, object, object]] = []
    view = again.staged(staged)
    view.principals.put(("user", "v"), True)
    assert view.principals.get(("user", "v")) is _MISSING  # staged, not kept
    again.principals.put(("user", "w"), True)
    assert view.principals.get(("user", "w")) is True  # it reads what is kept
    again.keep(staged)  # once confirmed
    assert again.principals.get(("user", "v")) is True


def test_a_read_committed_ledger_unit_keeps_its_reads_only_when_no_policy_change_came(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """PostgreSQL's ledger units read each statement at the latest commit: what they
    read is kept only when the policy version is unchanged afterwards."""
    from subacct.storage.postgres import PostgresStore

    store = PostgresStore(pg_cluster.conninfo(), schema=pg_clean_schema, max_size=2)
    app = _app(store)
    _tree(app)
    app.accounts.create_sub("m", "U", account_id="u", by=SYSTEM)
    runner = app.members._runner
    assert runner.cache is not None

    def read_chain(unit: Unit) -> None:
        assert not unit.uow.reads_one_snapshot()
        unit.chain("s")

    runner.query(SYSTEM, read_chain, ledger="EUR")
    with store.unit_of_work(read_only=True) as uow:
        version = uow.policy_version()
    assert version is not None
    assert runner.cache.at(version).chains.get(AccountId("s")) is not _MISSING  # kept

    def read_then_change(unit: Unit) -> None:
        unit.chain("u")  # staged; then another writer commits a policy change
        other = threading.Thread(
            target=lambda: app.accounts.create_master("X", account_id="x", by=SYSTEM)
        )
        other.start()
        other.join()

    runner.query(SYSTEM, read_then_change, ledger="EUR")
    assert runner.cache.at(version).chains.get(AccountId("u")) is _MISSING
    store.close()


def test_a_demotion_or_removal_in_one_app_changes_a_personal_key_in_the_other(
    two_apps: tuple[Subacct, Subacct],
) -> None:
    from subacct.errors import ApiKeyRevoked
    from subacct.policy import MANAGE_WEBHOOKS

    here, there = two_apps
    _tree(here)
    here.members.create_user("s@x.test", "S", user_id="sam", by=SYSTEM)
    here.members.add("sam", "s", "sub_admin", by=SYSTEM)
    grants = [Grant(SEND_MESSAGES), Grant(MANAGE_WEBHOOKS)]
    key, _secret = here.policy.create_api_key("s", "crm", grants, by="sam")
    for _ in range(2):  # cached there
        assert there.policy.check(MANAGE_WEBHOOKS, "s", by=key).allowed
    here.members.change_role("sam", "s", "basic_user", by="o")
    assert there.policy.check(MANAGE_WEBHOOKS, "s", by=key).code == "api_key_creator_lacks_action"
    assert there.policy.check(SEND_MESSAGES, "s", by=key).allowed
    here.members.remove("sam", "s", by="o")
    with pytest.raises(ApiKeyRevoked):
        there.policy.require(SEND_MESSAGES, "s", by=key)


def test_a_rotation_in_one_app_retires_the_old_secret_in_the_other(
    two_apps: tuple[Subacct, Subacct],
) -> None:
    from subacct.errors import ApiKeySecretRotated

    here, there = two_apps
    _tree(here)
    key, old = here.policy.create_api_key("s", "ci", [Grant(SEND_MESSAGES)], by="o")
    assert there.policy.authenticate_api_key(old, by=SYSTEM) == key
    _key, new = here.policy.rotate_api_key(key.id, by="o")  # no overlap: old stops now
    with pytest.raises(ApiKeySecretRotated):
        there.policy.authenticate_api_key(old, by=SYSTEM)
    assert there.policy.authenticate_api_key(new, by=SYSTEM) == key


def test_a_keys_use_in_one_app_leaves_the_others_cache_in_place(
    two_apps: tuple[Subacct, Subacct],
) -> None:
    """Recording a key's last use writes outside the policy data: the policy version
    stays, so the other application keeps answering from the snapshot it holds."""
    here, there = two_apps
    _tree(here)
    key, _secret = here.policy.create_api_key("s", "ci", [Grant(SEND_MESSAGES)], by="o")
    cache = there.members._runner.cache
    assert cache is not None
    assert there.policy.check(VIEW_BILLING, "s", by="o").allowed
    kept = cache._latest
    assert kept is not None
    with there.store.unit_of_work(read_only=True) as uow:
        version = uow.policy_version()
    assert here.policy.check(SEND_MESSAGES, "s", by=key).allowed  # its first use: written
    assert there.policy.api_key_last_used(key.id, by="o") == T0
    assert there.policy.check(VIEW_BILLING, "s", by="o").allowed
    assert cache._latest is kept  # the same snapshot: no policy version went by
    with there.store.unit_of_work(read_only=True) as uow:
        assert uow.policy_version() == version
