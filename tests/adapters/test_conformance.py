"""The conformance kit, run against every reference adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from subacct.storage import MemoryStore, SqliteStore, Store
from subacct.testing.conformance import StoreConformance
from subacct.testing.ledger_conformance import LedgerConformance
from subacct.testing.pgcluster import TempCluster


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        return MemoryStore


class TestSqliteStore(StoreConformance):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        opened: list[SqliteStore] = []
        counter = iter(range(1_000_000))

        def make() -> Store:
            store = SqliteStore(tmp_path / f"db{next(counter)}.sqlite")
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


class TestSqliteMemoryDatabase(StoreConformance):
    """``":memory:"`` shares one connection between threads; the kit must pass there too."""

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        return lambda: SqliteStore(":memory:")


class TestPostgresStore(StoreConformance):
    ledger_machine_examples = 4  # each example takes an empty schema of its own
    hierarchy_examples = 15

    @pytest.fixture
    def store_factory(
        self, pg_cluster: TempCluster, pg_clean_schemas: Callable[[], str]
    ) -> Iterator[Callable[[], Store]]:
        from subacct.storage.postgres import PostgresStore

        opened: list[PostgresStore] = []

        def make() -> Store:
            store = PostgresStore(pg_cluster.conninfo(), schema=pg_clean_schemas(), max_size=8)
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


class TestSqlLedgerWithRowLocks(LedgerConformance):
    """The generic SQL ledger (``SqlLedger`` with ``lock=" FOR UPDATE"``), as an adapter
    for another database with row locks would use it, on PostgreSQL without the server
    function: plan, then lock, check and write from the client."""

    ledger_machine_examples = 3

    @pytest.fixture
    def store_factory(
        self, pg_cluster: TempCluster, pg_clean_schemas: Callable[[], str]
    ) -> Iterator[Callable[[], Store]]:
        from subacct.storage.postgres import PostgresStore, PostgresUnitOfWork
        from subacct.storage.sql_ledger import SqlLedger

        class RowLockUnitOfWork(PostgresUnitOfWork):
            def ledger(self, currency: str) -> Any:
                found = self._ledgers.get(currency)
                if found is None:
                    if self._statements == 0:
                        self._prelude = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
                    found = SqlLedger(self, currency, lock=" FOR UPDATE")
                    self._ledgers[currency] = found  # type: ignore[assignment]
                return found

        class RowLockStore(PostgresStore):
            def unit_of_work(self, *, read_only: bool = False) -> PostgresUnitOfWork:
                return RowLockUnitOfWork(self, read_only=read_only)

        opened: list[PostgresStore] = []

        def make() -> Store:
            store = RowLockStore(pg_cluster.conninfo(), schema=pg_clean_schemas(), max_size=8)
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, store_factory: Callable[[], Store]) -> Store:
        return store_factory()
