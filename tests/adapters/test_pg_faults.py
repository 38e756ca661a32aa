"""PostgreSQL faults: lost connections, a server stopped and started again, a full pool,
timeouts as settings. Every failure is a typed ``StorageError``; a connection lost before
the commit runs the unit again, one lost while committing does not.

The server that is stopped is a cluster of this module's own (``own_cluster``), so the
session's shared cluster never goes away under other tests. Time bounds only catch
hangs; waits for another thread or the server use conditions and polling with a
deadline, never a fixed sleep.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from subacct import SYSTEM, Settings, Subacct
from subacct.errors import (
    InvalidInput,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
)
from subacct.storage.postgres import PostgresStore
from subacct.testing.pgcluster import TempCluster

from .test_storage_faults import HANG, add_directly, assert_typed, stored_ids

_apps = itertools.count(1)


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[TempCluster]:
    with TempCluster(max_connections=30) as cluster:
        yield cluster


def _until(done: Callable[[], bool], what: str, deadline: float = 60.0) -> None:
    """Poll ``done`` until it holds (a hang guard, not a timing assertion)."""
    give_up = time.monotonic() + deadline
    pause = threading.Event()
    while not done():
        assert time.monotonic() < give_up, f"gave up waiting for {what}"
        pause.wait(0.02)


def _tagged(cluster: TempCluster) -> tuple[str, str]:
    """A conninfo whose connections carry an application name of their own."""
    name = f"faults_app_{next(_apps)}"
    return f"{cluster.conninfo()} application_name={name}", name


_SLEEPING = "wait_event = 'PgSleep' AND starts_with(query, %s)"


def _terminate(cluster: TempCluster, application: str, sleeping_in: str | None = None) -> int:
    """Terminate the backends of ``application`` (only the one sleeping in a statement
    starting with ``sleeping_in``, if given), and wait until they are gone."""
    where, params = ("true", ()) if sleeping_in is None else (_SLEEPING, (sleeping_in,))
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND " + where,
            (application, *params),
        ).fetchall()
        pids = [r[0] for r in rows]
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        _until(
            lambda: (
                not admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
                ).fetchall()
            ),
            "the terminated backends to exit",
        )
    return len(pids)


def test_a_connection_killed_between_two_calls_is_replaced(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    """The pool's only connection is terminated while idle: the next call gets it, loses
    it at its first statement (nothing sent to commit), and runs again on a new one."""
    conninfo, name = _tagged(pg_cluster)
    store = PostgresStore(conninfo, schema=pg_schema, min_size=1, max_size=1)
    app = Subacct(store)
    app.accounts.create_master("Before", account_id="m1", by=SYSTEM)
    assert _terminate(pg_cluster, name) == 1
    app.accounts.create_master("After", account_id="m2", by=SYSTEM)
    assert stored_ids(store) == {"m1", "m2"}

    # the port itself reports the loss as it is, and the next unit has a fresh connection
    assert _terminate(pg_cluster, name) == 1
    with pytest.raises(StorageError) as lost, store.unit_of_work() as uow:
        uow.accounts.all()
    assert type(lost.value) is StorageUnavailable
    assert (lost.value.reason, lost.value.outcome) == ("connection_lost", "not_committed")
    assert isinstance(lost.value.__cause__, psycopg.OperationalError)
    add_directly(store, "m3")
    assert stored_ids(store) == {"m1", "m2", "m3"}
    store.close()


def _backends(cluster: TempCluster, application: str) -> int:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application,)
        ).fetchall()
    return int(rows[0][0])


def test_after_every_pooled_connection_died_one_more_run_is_enough(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    """As after a server restart, every idle connection of the pool is dead: the first
    loss drops them all (the pool opens new ones), so the second run gets a live one,
    with fewer attempts than there were dead connections."""
    conninfo, name = _tagged(pg_cluster)
    store = PostgresStore(conninfo, schema=pg_schema, min_size=4, max_size=4)
    app = Subacct(store, Settings(max_attempts=2))
    app.accounts.create_master("Before", account_id="m1", by=SYSTEM)
    _until(lambda: _backends(pg_cluster, name) == 4, "the pool to open its four connections")
    assert _terminate(pg_cluster, name) == 4
    app.accounts.create_master("After", account_id="m2", by=SYSTEM)
    assert stored_ids(store) == {"m1", "m2"}
    store.close()


def test_a_lost_connection_counts_against_the_retry_budget(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    """With ``max_attempts=1`` there is no second run: the loss is raised as it is."""
    conninfo, name = _tagged(pg_cluster)
    store = PostgresStore(conninfo, schema=pg_schema, min_size=1, max_size=1)
    app = Subacct(store, Settings(max_attempts=1))
    app.accounts.create_master("Before", account_id="m1", by=SYSTEM)
    _terminate(pg_cluster, name)
    with pytest.raises(StorageUnavailable) as lost:
        app.accounts.create_master("Lost", account_id="m2", by=SYSTEM)
    assert lost.value.details["outcome"] == "not_committed"
    assert stored_ids(store) == {"m1"}
    store.close()


def _slow_trigger(store: PostgresStore, cluster: TempCluster, *, deferred: bool) -> None:
    """The first insert into accounts from now on sleeps (at the insert, or deferred to
    the COMMIT), long enough to be terminated; later ones do not. ``trigger_runs`` counts
    the runs (a sequence: it survives the rollback)."""
    schema = store.schema
    timing = "DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE SEQUENCE {schema}.trigger_runs")
        admin.execute(
            f"""CREATE FUNCTION {schema}.slow_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('{schema}.trigger_runs') = 1 THEN
                    PERFORM pg_sleep(60);
                END IF;
                RETURN NULL;
            END $$"""
        )
        admin.execute(
            f"CREATE CONSTRAINT TRIGGER slow_once AFTER INSERT ON {schema}.accounts {timing} "
            f"FOR EACH ROW EXECUTE FUNCTION {schema}.slow_once()"
        )


def _trigger_runs(store: PostgresStore, cluster: TempCluster) -> int:
    with psycopg.connect(cluster.conninfo()) as admin:
        row = admin.execute(f"SELECT last_value FROM {store.schema}.trigger_runs").fetchone()
    assert row is not None
    return int(row[0])


def _kill_when_sleeping(cluster: TempCluster, application: str, query: str) -> None:
    """Once a backend of ``application`` sleeps in the trigger during ``query`` (a prefix),
    terminate it."""

    def sleeping() -> bool:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
            return bool(
                admin.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND " + _SLEEPING,
                    (application, query),
                ).fetchall()
            )

    _until(sleeping, f"a backend sleeping in {query}")
    assert _terminate(cluster, application, query) == 1


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # the test inspects it
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_connection_lost_before_the_commit_runs_the_unit_again(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    """Killed while its INSERT runs (no COMMIT sent): nothing was written, the unit runs
    again on a new connection and the call succeeds, once."""
    conninfo, name = _tagged(pg_cluster)
    store = PostgresStore(conninfo, schema=pg_schema, max_size=2)
    _slow_trigger(store, pg_cluster, deferred=False)
    app = Subacct(store)
    thread, result = _in_thread(
        lambda: app.accounts.create_master("Once", account_id="m1", by=SYSTEM)
    )
    _kill_when_sleeping(pg_cluster, name, "INSERT")
    thread.join(HANG)
    assert not thread.is_alive()
    assert [a.id for a in result] == ["m1"]  # type: ignore[attr-defined]
    assert _trigger_runs(store, pg_cluster) == 2  # the killed run and the second one
    assert stored_ids(store) == {"m1"}
    store.close()


def test_a_connection_lost_while_committing_is_not_run_again(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    """Killed during its COMMIT (a deferred trigger runs there): the outcome is unknown
    to the client, so the call is not run again; the error says so."""
    conninfo, name = _tagged(pg_cluster)
    store = PostgresStore(conninfo, schema=pg_schema, max_size=2)
    _slow_trigger(store, pg_cluster, deferred=True)
    app = Subacct(store)
    thread, result = _in_thread(
        lambda: app.accounts.create_master("Maybe", account_id="m1", by=SYSTEM)
    )
    _kill_when_sleeping(pg_cluster, name, "COMMIT")
    thread.join(HANG)
    assert not thread.is_alive()
    [err] = result
    assert type(err) is StorageUnavailable
    assert (err.reason, err.outcome) == ("connection_lost", "unknown")
    assert "outcome unknown" in err.message
    assert _trigger_runs(store, pg_cluster) == 1  # run once: no second attempt
    assert stored_ids(store) == set()  # here the commit did not happen (the trigger died)
    store.close()


def test_pool_exhaustion_is_storage_timeout_within_the_pool_timeout(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    store = PostgresStore(pg_cluster.conninfo(), schema=pg_schema, max_size=1, pool_timeout=0.5)
    app = Subacct(store)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.unit_of_work():
            holding.set()
            release.wait(HANG)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(HANG)
    started = time.monotonic()
    with pytest.raises(StorageError) as refused:
        app.accounts.create_master("Waits", account_id="m1", by=SYSTEM)
    assert time.monotonic() - started < HANG
    assert_typed(refused.value, StorageTimeout)
    assert refused.value.details["reason"] == "pool_exhausted"
    release.set()
    holder.join(HANG)
    app.accounts.create_master("Served", account_id="m1", by=SYSTEM)
    store.close()


def test_statement_timeout_on_a_hosts_pool_is_set_per_transaction(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    pool = ConnectionPool(pg_cluster.conninfo(), min_size=1, max_size=2, open=True)
    store = PostgresStore(pool=pool, schema=pg_schema, statement_timeout=0.2)
    with store.unit_of_work() as uow:
        assert uow.query("SELECT current_setting('statement_timeout')") == [("200ms",)]
        with pytest.raises(StorageError) as slow:
            uow.query("SELECT pg_sleep(30)")
    assert_typed(slow.value, StorageTimeout)
    assert slow.value.details["reason"] == "statement_timeout"
    with pool.connection() as conn:  # the host's session setting is left alone
        row = conn.execute("SELECT current_setting('statement_timeout')").fetchone()
    assert row == ("0",)
    store.close()
    pool.close()


def test_calls_while_the_server_is_down_fail_fast_and_calls_after_it_is_back_succeed(
    own_cluster: TempCluster,
) -> None:
    store = PostgresStore(own_cluster.conninfo(), schema="down_up", pool_timeout=0.5)
    app = Subacct(store)
    app.accounts.create_master("Before", account_id="m0", by=SYSTEM)
    own_cluster.stop_server()
    try:
        calls: list[Callable[[], object]] = [
            lambda: app.accounts.create_master("Down", account_id="m1", by=SYSTEM),
            lambda: app.accounts.get("m0", by=SYSTEM),
            lambda: list(app.accounts.tree(by=SYSTEM)),
            lambda: app.accounts.rename("m0", "Renamed", by=SYSTEM),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StorageError) as down:
                call()
            assert time.monotonic() - started < HANG
            assert_typed(down.value, StorageUnavailable)
    finally:
        own_cluster.start_server()
    back: list[BaseException] = []

    def served() -> bool:  # the pool reconnects on its own; until then: typed errors
        try:
            app.accounts.create_master("Back", account_id="m1", by=SYSTEM)
            return True
        except StorageUnavailable as exc:
            back.append(exc)
            return False

    _until(served, "the first call after the restart to succeed")
    assert all(e.details["reason"] == "cannot_connect" for e in back)
    for i in range(2, 6):
        app.accounts.create_master("After", account_id=f"m{i}", by=SYSTEM)
    assert stored_ids(store) == {"m0", "m1", "m2", "m3", "m4", "m5"}
    store.close()


def test_the_server_stopped_and_restarted_under_a_writer(own_cluster: TempCluster) -> None:
    """A thread writes without pause while the server stops (its sessions terminated) and
    starts again. Every failed call is ``StorageUnavailable``; every call that returned
    is stored; every call whose error says ``not_committed`` is not."""
    store = PostgresStore(own_cluster.conninfo(), schema="mid_run", pool_timeout=1, max_size=2)
    app = Subacct(store)
    results: dict[str, object] = {}
    changed = threading.Condition()
    finish = threading.Event()
    slowest = [0.0]

    def write() -> None:
        for i in itertools.count():
            if finish.is_set():
                return
            account = f"w{i}"
            started = time.monotonic()
            try:
                app.accounts.create_master("Writer", account_id=account, by=SYSTEM)
                outcome: object = "ok"
            except Exception as exc:  # the test inspects it
                outcome = exc
            slowest[0] = max(slowest[0], time.monotonic() - started)
            with changed:
                results[account] = outcome
                changed.notify_all()

    def count(after: int, ok: bool) -> int:
        return sum((r == "ok") == ok for r in list(results.values())[after:])

    def wait_for(what: Callable[[], bool]) -> None:
        with changed:
            assert changed.wait_for(what, timeout=120), "the writer stopped making progress"

    writer = threading.Thread(target=write)
    writer.start()
    down = False
    try:
        wait_for(lambda: count(0, ok=True) >= 3)
        own_cluster.stop_server()
        down, stopped_at = True, len(results)
        wait_for(lambda: count(stopped_at, ok=False) >= 3)
        own_cluster.start_server()
        down, started_at = False, len(results)
        wait_for(lambda: count(started_at, ok=True) >= 3)
    finally:
        finish.set()
        writer.join(HANG * 3)
        if down:
            own_cluster.start_server()
    assert not writer.is_alive()
    failures = [r for r in results.values() if r != "ok"]
    assert failures
    for failure in failures:
        assert type(failure) is StorageUnavailable, repr(failure)
    assert slowest[0] < HANG
    stored = stored_ids(store)
    for account, outcome in results.items():
        if outcome == "ok":
            assert account in stored, account
        elif isinstance(outcome, StorageUnavailable) and outcome.outcome == "not_committed":
            assert account not in stored, account
    store.close()


def test_a_closed_store_is_unavailable(pg_cluster: TempCluster, pg_schema: str) -> None:
    store = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    app = Subacct(store)
    store.close()
    with pytest.raises(StorageError) as closed:
        app.accounts.create_master("Late", by=SYSTEM)
    assert_typed(closed.value, StorageUnavailable)
    assert closed.value.details["reason"] == "closed"


BAD_TIMEOUTS: list[tuple[str, Any]] = [
    ("connect_timeout", 0),
    ("connect_timeout", -5),
    ("pool_timeout", 0.0),
    ("pool_timeout", float("inf")),
    ("pool_timeout", True),
    ("statement_timeout", "30s"),
    ("statement_timeout", float("nan")),
    ("statement_timeout", 0),
    ("statement_timeout", 1e10),  # more milliseconds than the server's setting holds
]


@pytest.mark.parametrize(("field", "value"), BAD_TIMEOUTS)
def test_bad_timeouts_are_refused_before_connecting(field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        PostgresStore("host=127.0.0.1 port=1 user=nobody", **{field: value})
    assert refused.value.details["field"] == field
