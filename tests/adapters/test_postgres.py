"""PostgreSQL specifics: migrations, schemas, pools passed in by the host."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from subacct import SYSTEM, Subacct
from subacct.domain import AccountId
from subacct.errors import CreditReservationClosed, StorageError
from subacct.money import Money
from subacct.pricing import BillingPeriod, UsageRecord
from subacct.pricing.ledger import (
    Commit,
    LedgerAccount,
    LedgerAction,
    Release,
    Reserve,
    Spend,
    TopUp,
    Wallet,
    allow_all,
    plan,
)
from subacct.storage.collections import AUDIT_RECORDS
from subacct.storage.ledger_writes import plan_and_write
from subacct.storage.postgres import MIGRATIONS, PostgresStore
from subacct.storage.records import dump_record
from subacct.storage.sql import (
    RETIRED_COLLECTIONS,
    record_index_ddl,
    record_table_ddl,
    record_tables_after,
)
from subacct.testing.pgcluster import TempCluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_schema_is_versioned_and_migrations_run_once(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    first = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    Subacct(first).accounts.create_master("Kept", account_id="m1", by=SYSTEM)
    first.close()
    second = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    assert second.schema_version() == len(MIGRATIONS)
    assert Subacct(second).accounts.get("m1", by=SYSTEM).name == "Kept"
    second.close()


def test_a_version_3_database_upgrades_to_the_ledger_functions_and_lifecycle(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    """A database left at version 3 (before the server functions and the status history)
    with ledger data and a usage record in it: the next store adds versions 4 to 10 and
    the ledger goes on from the stored state (a retry of the key stored before version 8
    is still answered)."""
    retired = RETIRED_COLLECTIONS["usage"]
    usage = UsageRecord("m", BillingPeriod(2026, 1), "sms", 10**15, "k1", label="x")
    first = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    Subacct(first).accounts.create_master("M", account_id="m", by=SYSTEM)  # event 1
    with first.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        ledger.put_wallet(Wallet("m"))
        plan_and_write(
            ledger, TopUp(account_id="m", amount=Money(10, "EUR"), key="t", at=T0), allow_all
        )
        uow.commit()
    first.close()
    with psycopg.connect(pg_cluster.conninfo()) as conn:
        # version 9 undone: the audit records' sequence (dropping seq drops its indexes)
        conn.execute(f"DROP FUNCTION {pg_schema}.subacct_sequence_block(text, bigint)")
        conn.execute(f"DROP SEQUENCE {pg_schema}.rec_audit_records_numbers")
        conn.execute(f"ALTER TABLE {pg_schema}.rec_audit_records DROP COLUMN seq")
        # version 8 undone: keys without scopes
        for statement in (
            "ALTER TABLE ledger_transfers DROP COLUMN scope",  # with its keys
            "ALTER TABLE ledger_operations DROP COLUMN scope",
            "ALTER TABLE ledger_operations ADD PRIMARY KEY (currency, op_key)",
            "ALTER TABLE ledger_transfers ADD PRIMARY KEY (currency, op_key, idx)",
            "ALTER TABLE ledger_transfers ADD FOREIGN KEY (currency, op_key) "
            "REFERENCES ledger_operations (currency, op_key)",
        ):
            conn.execute(
                statement.replace("TABLE ", f"TABLE {pg_schema}.", 1).replace(
                    "REFERENCES ", f"REFERENCES {pg_schema}."
                )
            )
        conn.execute(f"DROP FUNCTION {pg_schema}.subacct_ledger_apply(jsonb)")
        conn.execute(f"DROP FUNCTION {pg_schema}.subacct_audit_append(text, text, text)")
        conn.execute(f"DROP TABLE {pg_schema}.rec_status_history")
        conn.execute(f"DROP TABLE {pg_schema}.rec_invoiced_accounts")
        for table in record_tables_after(9):
            conn.execute(f"DROP TABLE {pg_schema}.{table}")
        conn.execute(f"DROP TABLE {pg_schema}.policy_version")
        conn.execute(f"DROP TABLE {pg_schema}.usage_records")
        conn.execute(f"SET search_path TO {pg_schema}")
        for statement in record_table_ddl(RETIRED_COLLECTIONS["usage"]):
            conn.execute(statement)
        for field in AUDIT_RECORDS.indexes:
            conn.execute(record_index_ddl(AUDIT_RECORDS, field))
        conn.execute(
            "INSERT INTO rec_usage (k, body, i_account_id, i_period) VALUES (%s, %s, %s, %s)",
            (retired.key_of(usage), dump_record(retired, usage), "m", "2026-01"),
        )
        conn.execute(f"DELETE FROM {pg_schema}.subacct_schema_version WHERE version >= 4")
    second = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    assert second.schema_version() == len(MIGRATIONS) == 17
    with second.unit_of_work() as uow:  # version 7 moved the usage record into its table
        assert uow.usage.for_account(AccountId("m")) == [usage]
        assert uow.usage.totals(usage.period) == {"m": 10**15}
    retry = TopUp(account_id="m", amount=Money(10, "EUR"), key="t", at=T0)
    assert Subacct(second).credits.execute(retry, by=SYSTEM).replayed
    Subacct(second).credits.execute(_spend(4, "s"), by=SYSTEM)  # appends a CreditsMoved
    with second.unit_of_work() as uow:
        assert uow.ledger("EUR").balance(LedgerAccount.wallet("m")) == 6
        assert [e.event.event_type for e in uow.events.since()] == [
            "account_created",
            "credits_moved",
        ]
    audited = Subacct(second).audit.records("m", by=SYSTEM)  # version 9 numbered the first
    assert [r.action for r in audited][:1] == ["accounts.create_master"]
    assert len(audited) == 3  # the account, the retried top-up's check, the spend's
    second.close()


def test_many_processes_starting_at_once_migrate_once(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    stores: list[PostgresStore] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        stores.append(PostgresStore(pg_cluster.conninfo(), schema=pg_schema, max_size=2))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores) == 4
    with psycopg.connect(pg_cluster.conninfo()) as conn:
        rows = conn.execute(f"SELECT version FROM {pg_schema}.subacct_schema_version").fetchall()
    assert sorted(r[0] for r in rows) == list(range(1, len(MIGRATIONS) + 1))
    for store in stores:
        store.close()


def test_a_newer_schema_is_refused(pg_cluster: TempCluster, pg_schema: str) -> None:
    PostgresStore(pg_cluster.conninfo(), schema=pg_schema).close()
    with psycopg.connect(pg_cluster.conninfo()) as conn:
        conn.execute(
            f"INSERT INTO {pg_schema}.subacct_schema_version VALUES (%s)", (len(MIGRATIONS) + 1,)
        )
    with pytest.raises(StorageError, match="newer than this library"):
        PostgresStore(pg_cluster.conninfo(), schema=pg_schema)


def test_schemas_keep_stores_apart(pg_cluster: TempCluster, pg_schema: str) -> None:
    one = PostgresStore(pg_cluster.conninfo(), schema=f"{pg_schema}_a")
    two = PostgresStore(pg_cluster.conninfo(), schema=f"{pg_schema}_b")
    Subacct(one).accounts.create_master("Only in one", account_id="m1", by=SYSTEM)
    assert [a.id for a in Subacct(two).accounts.tree(by=SYSTEM)] == []
    one.close()
    two.close()


def test_bad_schema_name_is_refused(pg_cluster: TempCluster) -> None:
    with pytest.raises(StorageError):
        PostgresStore(pg_cluster.conninfo(), schema="x; DROP TABLE accounts")


def test_host_supplied_pool(pg_cluster: TempCluster, pg_schema: str) -> None:
    pool = ConnectionPool(pg_cluster.conninfo(), min_size=1, max_size=2, open=True)
    store = PostgresStore(pool=pool, schema=pg_schema)
    svc = Subacct(store)
    svc.accounts.create_master("Pooled", account_id="p1", by=SYSTEM)
    svc.accounts.rename("p1", "Pooled again", by=SYSTEM)
    with store.unit_of_work() as uow:
        level = uow.query("SHOW transaction_isolation")
    assert level == [("serializable",)]
    assert svc.accounts.get("p1", by=SYSTEM).name == "Pooled again"
    store.close()  # the host's pool stays open, its connections keep their settings
    with pool.connection() as conn:
        assert conn.execute("SHOW search_path").fetchone() == ('"$user", public',)
        row = conn.execute(f"SELECT name FROM {pg_schema}.accounts WHERE id = 'p1'").fetchone()
    assert row == ("Pooled again",)
    pool.close()


def _ledger_store(pg_cluster: TempCluster, schema: str, **kwargs: Any) -> PostgresStore:
    store = PostgresStore(pg_cluster.conninfo(), schema=schema, **kwargs)
    with store.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        ledger.put_wallet(Wallet("m"))
        top_up = TopUp(account_id="m", amount=Money(10, "EUR"), key="t", at=T0)
        ledger.write_plan(plan(ledger, top_up, allow_all))
        uow.commit()
    return store


def _spend(amount: int, key: str) -> Spend:
    return Spend(account_id="m", amount=Money(amount, "EUR"), key=key, at=T0)


def test_ledger_units_run_read_committed(pg_cluster: TempCluster, pg_schema: str) -> None:
    store = _ledger_store(pg_cluster, pg_schema)
    with store.unit_of_work() as uow:
        uow.ledger("EUR")
        assert uow.query("SHOW transaction_isolation") == [("read committed",)]
        uow.commit()  # the next transaction of the unit is a plain one again
        assert uow.query("SHOW transaction_isolation") == [("serializable",)]
    with store.unit_of_work() as uow:  # asked for after another statement: serializable
        uow.accounts.all()
        uow.ledger("EUR")
        assert uow.query("SHOW transaction_isolation") == [("serializable",)]
    store.close()
    pool = ConnectionPool(pg_cluster.conninfo(), min_size=1, max_size=1, open=True)
    hosted = PostgresStore(pool=pool, schema=pg_schema)
    with hosted.unit_of_work() as uow:
        assert uow.ledger("EUR").balance(LedgerAccount.wallet("m")) == 10
        assert uow.query("SHOW transaction_isolation") == [("read committed",)]
    hosted.close()
    pool.close()


def test_a_refusal_is_planned_again_when_its_reads_disagree(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    """Each read of a READ COMMITTED unit sees the latest commit: a release that read its
    hold (open) before a commit of it and the held credit (gone) after plans on reads that
    disagree. Its refusal is checked (confirm_reads) and, the hold having changed, planned
    again: the answer is the right one, the hold is closed."""
    store = _ledger_store(pg_cluster, pg_schema, max_size=2)
    hold = Reserve(
        reservation_id="r",
        account_id="m",
        amount=Money(4, "EUR"),
        expires_at=datetime(2026, 1, 2, tzinfo=UTC),
        key="hold",
        at=T0,
    )
    with store.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        plan_and_write(ledger, hold, allow_all)
        uow.commit()
    read, committed, seen = threading.Event(), threading.Event(), []

    def pausing(action: LedgerAction, account_id: AccountId) -> None:
        """Allows; the first time (the hold is read, the held credit not yet) it lets
        the commit happen first."""
        if not read.is_set():
            read.set()
            committed.wait()

    def release() -> None:
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            try:
                plan_and_write(ledger, Release(reservation_id="r", key="rel", at=T0), pausing)
            except CreditReservationClosed:
                seen.append("closed")

    thread = threading.Thread(target=release)
    thread.start()
    read.wait()
    with store.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        commit = Commit(reservation_id="r", amount=Money(4, "EUR"), key="c", at=T0)
        plan_and_write(ledger, commit, allow_all)
        uow.commit()
    committed.set()
    thread.join()
    assert seen == ["closed"]
    store.close()
