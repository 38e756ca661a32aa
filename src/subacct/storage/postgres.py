"""PostgreSQL adapter (psycopg 3), for hosts that run many application processes.

Install with the ``postgres`` extra: ``pip install 'subacct[postgres]'``.

* Every unit of work is one SERIALIZABLE transaction on a pooled connection. PostgreSQL
  then aborts any interleaving that no serial order could produce (a lost update, or
  write skew such as closing a master while a sub is being created under it); the
  adapter reports that, a deadlock, or a racing insert caught by a unique constraint as
  ``ConcurrentModification``, and the service layer re-runs the whole unit of work.
  Writes also carry optimistic versions (``UPDATE ... WHERE version = ?``).
* The schema lives in one PostgreSQL schema (``public`` by default, any other with
  ``schema=``), is created on first use and versioned in ``subacct_schema_version``;
  migrations run under an advisory lock, so many processes may start at once.
* Pass your own ``psycopg_pool.ConnectionPool`` or let the store create one from a
  connection string.

    store = PostgresStore("postgresql://app@db/app", schema="subacct", max_size=20)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from subacct.errors import ConcurrentModification, StorageError
from subacct.storage.records import Collection
from subacct.storage.sql import (
    MIGRATIONS,
    SqlAccounts,
    SqlEventLog,
    SqlLinks,
    SqlMemberships,
    SqlRecords,
    SqlUsers,
)
from subacct.storage.sql_ledger import SqlLedger

T = TypeVar("T")

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["MIGRATIONS", "PostgresStore", "PostgresUnitOfWork"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MIGRATION_LOCK = 0x5B_AC_C7  # advisory lock key for migrations
_AUDIT_LOCK_SQL = "SELECT pg_advisory_xact_lock(5942433)"  # serializes audit log appends


def _import_psycopg() -> Any:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise StorageError(
            "the PostgreSQL adapter needs the 'postgres' extra: pip install 'subacct[postgres]'"
        ) from exc
    return psycopg, psycopg_pool


class PostgresUnitOfWork:
    """One PostgreSQL transaction on a connection borrowed from the pool."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._conn: psycopg.Connection[Any] | None = None
        self.accounts = SqlAccounts(self)
        self.links = SqlLinks(self)
        self.users = SqlUsers(self)
        self.memberships = SqlMemberships(self)
        # appends take a transaction-scoped lock, so sequence numbers follow commit order
        self.events = SqlEventLog(self, before_append=_AUDIT_LOCK_SQL)
        self._ledgers: dict[str, SqlLedger] = {}
        self._statements = 0  # run in the current transaction
        self._prelude: str | None = None  # sent with the transaction's first statement

    def records(self, coll: Collection[T]) -> SqlRecords[T]:
        return SqlRecords(self, coll)

    def ledger(self, currency: str) -> SqlLedger:
        """The credit ledger. Asked for before any other statement, it makes this
        transaction READ COMMITTED: the ledger's writes lock their rows (in one global
        order) and re-check them, so a concurrent write waits instead of aborting the
        unit, and what the unit then reads is the latest committed state."""
        found = self._ledgers.get(currency)
        if found is None:
            if self._statements == 0:
                self._prelude = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
            found = SqlLedger(self, currency, lock=" FOR UPDATE")
            self._ledgers[currency] = found
        return found

    @property
    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise StorageError("the unit of work is not open; use it in a with block")
        return self._conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The driver's integrity, serialization and deadlock errors as
        ``ConcurrentModification`` (the service layer re-runs the unit of work)."""
        psycopg = self._store._psycopg
        try:
            yield
        except psycopg.errors.IntegrityError as exc:
            raise ConcurrentModification(
                f"a concurrent write got there first: {exc.diag.message_primary}"
            ) from exc
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            raise ConcurrentModification(f"retry the unit of work: {exc}") from exc

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        if self._prelude is not None:  # with the transaction's first statement
            return self._pipelined([(sql, params)])[0]
        self._statements += 1
        with self._translated():
            return self.connection.execute(sql.replace("?", "%s"), params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(self._run(sql, params).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._run(sql, params).rowcount)

    def execute_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """The statements in one pipeline: one round trip to the server."""
        return [int(c.rowcount) for c in self._pipelined(statements)]

    def _pipelined(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        conn = self.connection
        prelude, self._prelude = self._prelude, None
        with self._translated(), conn.pipeline():
            if prelude is not None:
                conn.execute(prelude)
            self._statements += len(statements)
            return [conn.execute(sql.replace("?", "%s"), params) for sql, params in statements]

    def __enter__(self) -> Self:
        if getattr(self._store._local, "open", False):
            raise StorageError("units of work do not nest; finish the open one first")
        self._conn = self._store._pool.getconn()
        self._store._local.open = True
        self._begin()
        return self

    def _begin(self) -> None:
        self._statements = 0
        self._prelude = None
        if not self._store._owns_pool:  # a host's pool: set up this transaction only
            self.connection.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            self.connection.execute(f"SET LOCAL search_path TO {self._store.schema}")

    def commit(self) -> None:
        psycopg = self._store._psycopg
        self._ledgers.clear()  # what a ledger read belongs to this transaction
        try:
            self.connection.commit()
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            raise ConcurrentModification(f"retry the unit of work: {exc}") from exc
        self._begin()

    def rollback(self) -> None:
        self._ledgers.clear()
        if self._conn is not None:
            self._conn.rollback()
            self._begin()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        self._ledgers.clear()
        self._store._local.open = False
        if conn is not None:
            try:
                conn.rollback()
            finally:
                self._store._pool.putconn(conn)


class PostgresStore:
    """The storage ports on a PostgreSQL server."""

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: ConnectionPool[Any] | None = None,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
    ) -> None:
        self._psycopg, psycopg_pool = _import_psycopg()
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StorageError(f"schema name {schema!r} must match {_SCHEMA_NAME.pattern}")
        self._schema = schema
        self._local = threading.local()
        self._owns_pool = pool is None
        if pool is None:
            if conninfo is None:
                raise StorageError("PostgresStore needs a conninfo string or a pool")
            pool = psycopg_pool.ConnectionPool(
                conninfo,
                min_size=min_size,
                max_size=max_size,
                configure=self._configure,
                open=True,
            )
        self._pool: ConnectionPool[Any] = pool
        self._migrate()

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"SET search_path TO {self._schema}")
        conn.commit()
        conn.isolation_level = self._psycopg.IsolationLevel.SERIALIZABLE

    def _migrate(self) -> None:
        with self._pool.connection() as conn:
            # A session lock, taken in its own transaction, so that the migration
            # transaction's snapshot starts after the previous holder committed.
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            conn.commit()
            try:
                self._apply_migrations(conn)
            finally:
                conn.rollback()
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
                conn.commit()

    def _apply_migrations(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema}")
        conn.execute(f"SET LOCAL search_path TO {self._schema}")
        conn.execute("CREATE TABLE IF NOT EXISTS subacct_schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM subacct_schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > len(MIGRATIONS):
            raise StorageError(
                f"database schema version {current} is newer than this library "
                f"({len(MIGRATIONS)}); upgrade subacct",
                schema_version=current,
            )
        for number in range(current, len(MIGRATIONS)):
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            conn.execute("INSERT INTO subacct_schema_version VALUES (%s)", (number + 1,))
        conn.commit()

    @property
    def schema(self) -> str:
        return self._schema

    def schema_version(self) -> int:
        with self._pool.connection() as conn:
            conn.execute(f"SET LOCAL search_path TO {self._schema}")
            row = conn.execute("SELECT max(version) FROM subacct_schema_version").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    def unit_of_work(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self)

    def close(self) -> None:
        """Close the pool if this store created it."""
        if self._owns_pool:
            self._pool.close()
