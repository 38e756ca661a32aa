"""PostgreSQL specifics: migrations, schemas, pools passed in by the host."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from subacct import AccountService, StorageError
from subacct.storage.postgres import MIGRATIONS, PostgresStore
from subacct.testing.pgcluster import TempCluster


def test_schema_is_versioned_and_migrations_run_once(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    first = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    AccountService(first).create_master("Kept", account_id="m1")
    first.close()
    second = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    assert second.schema_version() == len(MIGRATIONS)
    assert AccountService(second).get_account("m1").name == "Kept"
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
    AccountService(one).create_master("Only in one", account_id="m1")
    assert [a.id for a in AccountService(two).tree()] == []
    one.close()
    two.close()


def test_bad_schema_name_is_refused(pg_cluster: TempCluster) -> None:
    with pytest.raises(StorageError):
        PostgresStore(pg_cluster.conninfo(), schema="x; DROP TABLE accounts")


def test_host_supplied_pool(pg_cluster: TempCluster, pg_schema: str) -> None:
    pool = ConnectionPool(pg_cluster.conninfo(), min_size=1, max_size=2, open=True)
    store = PostgresStore(pool=pool, schema=pg_schema)
    svc = AccountService(store)
    svc.create_master("Pooled", account_id="p1")
    svc.rename("p1", "Pooled again")
    with store.unit_of_work() as uow:
        level = uow.query("SHOW transaction_isolation")
    assert level == [("serializable",)]
    assert svc.get_account("p1").name == "Pooled again"
    store.close()  # the host's pool stays open, its connections keep their settings
    with pool.connection() as conn:
        assert conn.execute("SHOW search_path").fetchone() == ('"$user", public',)
        row = conn.execute(f"SELECT name FROM {pg_schema}.accounts WHERE id = 'p1'").fetchone()
    assert row == ("Pooled again",)
    pool.close()
