"""SQLite adapter (standard library ``sqlite3``): the embedded default.

* The schema is created on first use and versioned with ``PRAGMA user_version``; the
  migrations in ``MIGRATIONS`` a database has not had yet run once, in order, in one
  transaction. An empty database gets the schema those migrations make in one go: they
  are run once per process on a private in-memory database, and its schema and rows are
  copied (``fresh_schema``): a new database skips the migrations' intermediate steps.
* WAL journal, foreign keys on, a busy timeout so writers queue instead of failing.
* One transaction per unit of work, begun with ``BEGIN IMMEDIATE``: writers are serialized
  by SQLite's write lock, so a read-modify-write inside a unit can never lose an update.
* One connection per thread and store; a store object is safe to share between threads.
* No ``sqlite3`` error leaves a public call: a file that is not a database or is damaged
  is ``StorageCorrupt``, one that cannot be opened or written (a missing folder, a
  directory, a read-only file, a full disk) ``StorageUnavailable``, a write lock held by
  another connection beyond the busy timeout (``timeout=``) ``StorageTimeout``
  (``subacct.storage.faults``).
* The credit ledger (``uow.ledger(currency)``) writes each operation in the unit of work's
  one transaction. ``BEGIN IMMEDIATE`` already makes concurrent operations take turns; the
  ledger's compare-and-set guards are checked all the same, like on every adapter.

>>> import tempfile, pathlib
>>> from subacct.storage.sqlite import SqliteStore
>>> store = SqliteStore(pathlib.Path(tempfile.mkdtemp()) / "subacct.db")
>>> with store.unit_of_work() as uow:
...     uow.accounts.all()
[]
>>> store.schema_version() == len(MIGRATIONS)
True
>>> store.close()
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from functools import cache, cached_property
from os import PathLike
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from subacct._validators import timeout_seconds
from subacct.errors import ConcurrentModification, InvalidInput, StorageError
from subacct.storage.faults import sqlite_fault
from subacct.storage.records import Collection
from subacct.storage.sql import MIGRATIONS as SHARED_MIGRATIONS
from subacct.storage.sql import (
    MigrationStep,
    PolicyVersion,
    SqlAccounts,
    SqlEventLog,
    SqlLinks,
    SqlMemberships,
    SqlRecords,
    SqlUsage,
    SqlUsers,
    move_usage_records,
    number_records,
    rekey_quota_reservations,
)
from subacct.storage.sql_ledger import SqlLedger

T = TypeVar("T")

__all__ = ["MIGRATIONS", "SqliteStore", "SqliteUnitOfWork"]

_VERSION: Final = "SELECT version FROM policy_version WHERE id = 1"

# SQLite-only statements, by the schema version (shared with PostgreSQL) they end
_SQLITE_ONLY: Final[dict[int, list[str]]] = {
    7: move_usage_records("json_extract(body, '$.{name}')"),
    8: rekey_quota_reservations("json_extract(body, '$.{name}')", "instr(k, '/')"),
    # ISO 8601 times in UTC, as the converter writes them, sort as text
    9: number_records("rec_audit_records", "json_extract(body, '$.at')"),
}
MIGRATIONS: Final[list[list[str | MigrationStep]]] = [
    [*statements, *_SQLITE_ONLY.get(number, [])]
    for number, statements in enumerate(SHARED_MIGRATIONS, start=1)
]
"""``subacct.storage.sql.MIGRATIONS`` plus what only SQLite runs (version 7 moves the
usage records with SQLite's JSON functions; version 8 re-keys the quota reservations;
version 9 numbers the audit records already stored, reading their times with them)."""


class _Migrating:
    """The ``SqlRunner`` a migration step gets: the migration's connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount


def _run_migrations(conn: sqlite3.Connection, current: int) -> None:
    """Every migration after version ``current``, in the caller's transaction."""
    for number in range(current, len(MIGRATIONS)):
        for statement in MIGRATIONS[number]:
            if isinstance(statement, str):
                conn.execute(statement)
            else:
                statement(_Migrating(conn))
        conn.execute(f"PRAGMA user_version = {number + 1}")


@cache
def fresh_schema() -> tuple[str, ...]:
    """The SQL that gives an empty database what ``MIGRATIONS`` make of it: every table
    with the rows the migrations insert, then every index and trigger (what
    ``sqlite3.Connection.iterdump`` writes of an in-memory database migrated once per
    process)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        _run_migrations(conn, 0)
        conn.execute("COMMIT")
        dumped = [s for s in conn.iterdump() if s not in ("BEGIN TRANSACTION;", "COMMIT;")]
    finally:
        conn.close()
    return tuple(dumped)


class SqliteUnitOfWork(PolicyVersion):
    """One SQLite transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``/``ROLLBACK``; a
    read-only unit begins a deferred transaction, which does not wait for writers)."""

    def __init__(self, store: SqliteStore, *, read_only: bool = False) -> None:
        self._store = store
        self._read_only = read_only
        self._begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        self._version_outside = False  # policy_version read before the transaction began
        self._conn: sqlite3.Connection | None = None
        self._ledgers: dict[str, SqlLedger] = {}

    # the repositories, made when first used (a unit of work uses a few)
    @cached_property
    def accounts(self) -> SqlAccounts:
        return SqlAccounts(self)

    @cached_property
    def links(self) -> SqlLinks:
        return SqlLinks(self)

    @cached_property
    def users(self) -> SqlUsers:
        return SqlUsers(self)

    @cached_property
    def memberships(self) -> SqlMemberships:
        return SqlMemberships(self)

    @cached_property
    def events(self) -> SqlEventLog:
        return SqlEventLog(self)

    @cached_property
    def usage(self) -> SqlUsage:
        return SqlUsage(self)

    def records(self, coll: Collection[T]) -> SqlRecords[T]:
        return SqlRecords(self, coll)

    def ledger(self, currency: str) -> SqlLedger:
        found = self._ledgers.get(currency)
        if found is None:
            found = SqlLedger(self, currency)  # writers take turns: no row locks needed
            self._ledgers[currency] = found
        return found

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        try:
            return self.connection.execute(sql, params).fetchall()
        except sqlite3.Error as err:
            raise self._store._fault(err) from err

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self.connection.execute(sql, params).rowcount
        except sqlite3.Error as err:
            raise self._store._fault(err) from err

    def execute_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        return [self.execute(sql, params) for sql, params in statements]

    def numbering(self, table: str, count: int) -> tuple[str, Sequence[Any]]:
        """One above the table's largest number: writers take turns (``BEGIN IMMEDIATE``),
        so numbers grow in commit order, without gaps. A scalar subquery, so that SQLite
        reads the largest ``seq`` from its index's end (``coalesce(max(seq), 0)`` over the
        table, inside the INSERT's CTE, scans the whole index: slower the longer the log)."""
        return f"SELECT coalesce((SELECT max(seq) FROM {table}), 0) AS start", ()

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection; a new transaction starts after a commit or rollback."""
        if self._conn is None:
            raise StorageError("the unit of work is not open; use it in a with block")
        if not self._conn.in_transaction:
            try:
                self._conn.execute(self._begin)
                row = self._conn.execute(_VERSION).fetchone() if self._version_outside else None
            except sqlite3.Error as err:
                raise self._store._fault(err) from err
            if row is not None:  # the snapshot must be of the version already read
                self._version_outside = False
                if int(row[0]) != self._policy_seen:
                    raise ConcurrentModification(
                        "the policy changed while this read began; run it again"
                    )
        return self._conn

    def policy_version(self) -> int | None:
        """A read-only unit reads the version on its own (autocommit, one statement: all
        a call answered from the policy cache needs); its first other read then begins
        the transaction and checks that the version is still that one."""
        conn = self._conn
        if (
            self._read_only
            and self._policy_seen is None
            and conn is not None
            and not conn.in_transaction
        ):
            try:
                self._policy_seen = int(conn.execute(_VERSION).fetchone()[0])
            except sqlite3.Error as err:
                raise self._store._fault(err) from err
            self._version_outside = True
            return self._policy_seen
        return super().policy_version()

    def __enter__(self) -> Self:
        conn = self._store._acquire()
        try:
            if conn.in_transaction or getattr(self._store._local, "open", False):
                raise StorageError("units of work do not nest; finish the open one first")
            if not self._read_only:  # a read-only unit begins with its first read
                conn.execute(self._begin)
        except sqlite3.Error as err:
            self._store._release()
            raise self._store._fault(err) from err
        except BaseException:
            self._store._release()
            raise
        self._conn = conn
        self._store._local.open = True
        return self

    def commit(self) -> None:
        conn = self.connection
        self._ledgers.clear()  # what a ledger read belongs to this transaction
        self._policy_done()
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as err:  # SQLite committed nothing (a busy COMMIT stays open)
            raise self._store._fault(err) from err

    def rollback(self) -> None:
        self._ledgers.clear()
        self._policy_done()
        self._version_outside = False
        if self._conn is not None and self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as err:
                raise self._store._fault(err) from err

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        except StorageError:
            if exc is None:  # else the error that ended the block is the one to see
                raise
        finally:
            self._conn = None
            self._store._local.open = False
            self._store._release()


class SqliteStore:
    """A SQLite database file.

    ``":memory:"`` gives a private in-process database whose one connection is shared by
    all threads, with units of work taking turns. ``timeout`` is the busy timeout in
    seconds: how long a writer waits for another connection's write lock before
    ``StorageTimeout``.
    """

    def __init__(self, path: str | PathLike[str], *, timeout: float = 30.0) -> None:
        if not isinstance(path, str | PathLike) or not str(path):
            raise InvalidInput(
                "path must be a file path (str or os.PathLike) or ':memory:'", field="path"
            )
        self._timeout = timeout_seconds(timeout, "timeout")
        self._path = str(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._memory_lock = threading.RLock() if self._path == ":memory:" else None
        self._shared: sqlite3.Connection | None = None
        try:
            self._migrate()
        except BaseException:  # a missing folder, a file that is not a database...
            self.close()
            raise

    @property
    def path(self) -> str:
        return self._path

    def _fault(self, err: sqlite3.Error) -> StorageError:
        return sqlite_fault(err, self._path, timeout=self._timeout)

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            if self._memory_lock is None:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as err:
            if conn is not None:
                conn.close()
            raise self._fault(err) from err
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._memory_lock is not None:
            if self._shared is None:
                self._shared = self._open()
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _acquire(self) -> sqlite3.Connection:
        if self._memory_lock is None:
            return self._connection()
        self._memory_lock.acquire()
        try:
            return self._connection()
        except BaseException:
            self._memory_lock.release()
            raise

    def _release(self) -> None:
        if self._memory_lock is not None:
            self._memory_lock.release()

    def _migrate(self) -> None:
        conn = self._connection()
        try:
            self._apply_migrations(conn)
        except sqlite3.Error as err:
            raise self._fault(err) from err

    def _apply_migrations(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > len(MIGRATIONS):
                raise StorageError(
                    f"database schema version {current} is newer than this library "
                    f"({len(MIGRATIONS)}); upgrade subacct",
                    schema_version=current,
                )
            empty = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            if current == 0 and empty:
                for statement in fresh_schema():
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            else:
                _run_migrations(conn, current)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        try:
            return int(self._connection().execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as err:
            raise self._fault(err) from err

    def unit_of_work(self, *, read_only: bool = False) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self, read_only=read_only)

    def dump(self) -> str:
        """Every row of every table as SQL text (for backups and byte-for-byte checks)."""
        try:
            return "\n".join(self._connection().iterdump())
        except sqlite3.Error as err:
            raise self._fault(err) from err

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        self._shared = None
