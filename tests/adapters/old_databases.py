"""Databases of an older schema version, for the migration tests: raw statements on a
SQLite file or a PostgreSQL schema (``?`` placeholders), and fresh stores over it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from subacct.storage import Store
from subacct.storage.sql import undone_by_18
from subacct.testing.pgcluster import TempCluster


class OldDatabase:
    """Raw statements (``run``), stores opened on it (``open``; ``close_stores`` closes
    them) and its schema version (``version``)."""

    def __init__(self) -> None:
        self.opened: list[Store] = []

    def run(self, sql: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def store(self) -> Store:
        raise NotImplementedError

    def version(self) -> int:
        raise NotImplementedError

    def open(self) -> Store:
        store = self.store()
        self.opened.append(store)
        return store

    def close_stores(self) -> None:
        for store in self.opened:
            store.close()

    def rows(self, table: str) -> list[Any]:
        return sorted(map(tuple, self.run(f"SELECT * FROM {table}", ())), key=repr)


class SqliteDatabase(OldDatabase):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def run(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with sqlite3.connect(self.path) as conn:  # commits
            rows = conn.execute(sql, params).fetchall()
        conn.close()
        return rows

    def store(self) -> Store:
        from subacct.storage.sqlite import SqliteStore

        return SqliteStore(self.path)

    def version(self) -> int:
        return int(self.run("PRAGMA user_version", ())[0][0])

    def set_version(self, version: int) -> None:
        for statement in undone_by_18(version):  # the version every old database predates
            self.run(statement, ())
        self.run(f"PRAGMA user_version = {version}", ())


class PostgresDatabase(OldDatabase):
    def __init__(self, cluster: TempCluster, schema: str) -> None:
        super().__init__()
        self.cluster, self.schema = cluster, schema

    def run(self, sql: str, params: Sequence[Any]) -> list[Any]:
        import psycopg

        with psycopg.connect(self.cluster.conninfo()) as conn:  # commits
            conn.execute(f"SET search_path TO {self.schema}")
            cursor = conn.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def store(self) -> Store:
        from subacct.storage.postgres import PostgresStore

        return PostgresStore(self.cluster.conninfo(), schema=self.schema, max_size=2)

    def version(self) -> int:
        return int(self.run("SELECT max(version) FROM subacct_schema_version", ())[0][0])

    def set_version(self, version: int) -> None:
        for statement in undone_by_18(version):
            self.run(statement, ())
        self.run("DELETE FROM subacct_schema_version WHERE version > ?", (version,))


def database(request: Any, tmp_path: Path) -> SqliteDatabase | PostgresDatabase:
    """An empty database of the fixture's kind (``request.param``: sqlite or postgres)."""
    if request.param == "sqlite":
        return SqliteDatabase(tmp_path / "old.db")
    cluster = request.getfixturevalue("pg_cluster")
    return PostgresDatabase(cluster, request.getfixturevalue("pg_schema"))


def undone(
    old: SqliteDatabase | PostgresDatabase, statements: Sequence[str], version: int
) -> Iterator[OldDatabase]:
    """``old`` made at the current version with one master account ``m``, then taken
    back to ``version`` by ``statements`` (a migration test's fixture body)."""
    from subacct import SYSTEM, FixedClock, Settings, Subacct

    app = Subacct(old.open(), Settings(clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC))))
    app.accounts.create_master("Team X", account_id="m", by=SYSTEM)
    old.close_stores()
    for statement in statements:
        old.run(statement, ())
    old.set_version(version)
    yield old
    old.close_stores()
