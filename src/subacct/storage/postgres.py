"""PostgreSQL adapter (psycopg 3), for hosts that run many application processes.

Install with the ``postgres`` extra: ``pip install 'subacct[postgres]'``.

* Every unit of work is one SERIALIZABLE transaction on a pooled connection. PostgreSQL
  then aborts any interleaving that no serial order could produce (a lost update, or
  write skew such as closing a master while a sub is being created under it); the
  adapter reports that, a deadlock, or a racing insert caught by a unique constraint as
  ``ConcurrentModification``, and the service layer re-runs the whole unit of work.
  Writes also carry optimistic versions (``UPDATE ... WHERE version = ?``).
* A unit of work that asks for the credit ledger first runs READ COMMITTED instead, and
  its plans are checked and written by a server function, usually with the commit in
  one round trip (``subacct.storage.pg_ledger``).
* Audit log appends take turns under an advisory lock, one call of a server function
  each, so sequence numbers follow commit order. Audit records take their numbers under
  the same lock (``subacct_sequence_block``), in commit order too.
* The schema lives in one PostgreSQL schema (``public`` by default, any other with
  ``schema=``), is created on first use and versioned in ``subacct_schema_version``;
  migrations run under an advisory lock, so many processes may start at once.
* Pass your own ``psycopg_pool.ConnectionPool`` or let the store create one from a
  connection string.
* No ``psycopg`` or ``psycopg_pool`` error leaves a public call (``subacct.storage.faults``):
  a lost connection, a server shutting down or down is ``StorageUnavailable``, a
  statement or lock beyond its timeout and a pool with no free connection in time
  ``StorageTimeout``. A connection lost before the commit was sent leaves nothing
  written; the service layer runs the unit again on a fresh connection. Lost while
  committing, the outcome is unknown and the error says so (``outcome="unknown"``).
  ``connect_timeout``, ``pool_timeout`` and ``statement_timeout`` bound every wait.

    store = PostgresStore("postgresql://app@db/app", schema="subacct", max_size=20)
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, TypeVar

from subacct._validators import timeout_seconds
from subacct.domain.events import DomainEvent
from subacct.errors import (
    AlreadyExists,
    ConcurrentModification,
    StorageError,
    quoted,
)
from subacct.storage.faults import CONNECTION_LOST, pool_fault, postgres_fault
from subacct.storage.pg_ledger import LEDGER_APPLY_DDL, STALE_SQLSTATE, LedgerCache, PgLedger
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
    event_json,
    move_usage_records,
    number_records,
    rekey_quota_reservations,
)

if TYPE_CHECKING:
    from subacct.storage.pg_ledger import _Pending

T = TypeVar("T")

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["MIGRATIONS", "PostgresStore", "PostgresUnitOfWork"]

_AUDIT_LOCK: Final = 5942433  # advisory lock key that serializes audit log appends

# One round trip per append: take the lock, then (in a snapshot taken after it, under
# READ COMMITTED) number the event one above the last and insert it. 0: the id is logged.
AUDIT_APPEND_DDL: Final = [
    f"""CREATE OR REPLACE FUNCTION subacct_audit_append(
        p_event_id TEXT, p_account_id TEXT, p_body TEXT) RETURNS BIGINT
    LANGUAGE plpgsql AS $$
    DECLARE
        v_seq BIGINT;
    BEGIN
        PERFORM pg_advisory_xact_lock({_AUDIT_LOCK});
        SELECT coalesce(max(seq), 0) + 1 INTO v_seq FROM audit_log;
        INSERT INTO audit_log (seq, event_id, account_id, body)
        VALUES (v_seq, p_event_id, p_account_id, p_body)
        ON CONFLICT (event_id) DO NOTHING;
        IF NOT FOUND THEN
            RETURN 0;
        END IF;
        RETURN v_seq;
    END
    $$""",
]

# Many events in one call, when their sequence numbers are not needed (sent with the
# commit): a taken event id raises (unique violation), failing the commit.
AUDIT_APPEND_ALL_DDL: Final = [
    f"""CREATE OR REPLACE FUNCTION subacct_audit_append_all(p_events JSONB) RETURNS BIGINT
    LANGUAGE plpgsql AS $$
    DECLARE
        v_seq BIGINT;
        v_event JSONB;
    BEGIN
        PERFORM pg_advisory_xact_lock({_AUDIT_LOCK});
        SELECT coalesce(max(seq), 0) INTO v_seq FROM audit_log;
        FOR v_event IN SELECT * FROM jsonb_array_elements(p_events) LOOP
            v_seq := v_seq + 1;
            INSERT INTO audit_log (seq, event_id, account_id, body)
            VALUES (v_seq, v_event ->> 0, v_event ->> 1, v_event ->> 2);
        END LOOP;
        RETURN v_seq;
    END
    $$""",
]

# The numbers of a sequenced record table's new rows, in one call: under the lock that
# orders audit appends (held until the transaction ends, so numbers follow commit
# order), ``p_count`` numbers of the table's sequence, above all taken before (a
# sequence, unlike max(seq), needs no snapshot that a SERIALIZABLE unit may hold from
# before the lock). The number before the first.
SEQUENCE_BLOCK_DDL: Final = [
    f"""CREATE OR REPLACE FUNCTION subacct_sequence_block(
        p_sequence TEXT, p_count BIGINT) RETURNS BIGINT
    LANGUAGE plpgsql AS $$
    DECLARE
        v_first BIGINT;
    BEGIN
        PERFORM pg_advisory_xact_lock({_AUDIT_LOCK});
        v_first := nextval(p_sequence::regclass);
        IF p_count > 1 THEN
            PERFORM setval(p_sequence::regclass, v_first + p_count - 1);
        END IF;
        RETURN v_first - 1;
    END
    $$""",
]


def _sequence_ddl(table: str) -> list[str]:
    """Version 8 on PostgreSQL, after the shared statements and the numbering of the
    rows already there: ``seq`` required, and the sequence new rows take from."""
    return [
        f"ALTER TABLE {table} ALTER COLUMN seq SET NOT NULL",
        f"CREATE SEQUENCE {table}_numbers",
        f"SELECT setval('{table}_numbers', (SELECT coalesce(max(seq), 0) + 1 FROM {table}), false)",
    ]


# PostgreSQL-only statements, by the schema version (shared with SQLite) they belong to
_POSTGRES_ONLY: Final[dict[int, list[str]]] = {
    4: [*LEDGER_APPLY_DDL, *AUDIT_APPEND_DDL],
    7: [*move_usage_records("(body::json ->> '{name}')"), *AUDIT_APPEND_ALL_DDL],
    8: [
        *rekey_quota_reservations("(body::json ->> '{name}')", "strpos(k, '/')"),
        *LEDGER_APPLY_DDL,
    ],
    9: [
        *number_records("rec_audit_records", "(body::json ->> 'at')::timestamptz", ' COLLATE "C"'),
        *_sequence_ddl("rec_audit_records"),
        *SEQUENCE_BLOCK_DDL,
    ],
}
MIGRATIONS: Final[list[list[str | MigrationStep]]] = [
    [*statements, *_POSTGRES_ONLY.get(number, [])]
    for number, statements in enumerate(SHARED_MIGRATIONS, start=1)
]
"""``subacct.storage.sql.MIGRATIONS`` plus what only PostgreSQL runs (version 4: the
functions ``subacct_ledger_apply`` and ``subacct_audit_append``; version 7: moving the
usage records with PostgreSQL's JSON operators; version 8: re-keying quota reservations and
``subacct_ledger_apply`` again, writing each key's scope and refusing a balance past
``subacct.money.MAX_AMOUNT``; version 9: numbering the audit
records already stored, their sequence and ``subacct_sequence_block``): the same version
numbers as SQLite."""


class _Migrating:
    """The ``SqlRunner`` a migration step gets: the migration's connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(self._conn.execute(sql.replace("?", "%s"), params).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._conn.execute(sql.replace("?", "%s"), params).rowcount)


_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_MIGRATION_LOCK = 0x5B_AC_C7  # advisory lock key for migrations


class PgEventLog(SqlEventLog):
    """The audit log, each append one call of ``subacct_audit_append``: sequence numbers
    follow commit order (the lock is held until the append's transaction ends)."""

    def __init__(self, uow: PostgresUnitOfWork) -> None:
        super().__init__(uow)
        self._uow = uow

    def append(self, event: DomainEvent) -> int:
        body = event_json(event)
        rows = self._db.query(
            "SELECT subacct_audit_append(?, ?, ?)", (event.event_id, event.account_id, body)
        )
        seq = int(rows[0][0])
        if seq == 0:
            raise AlreadyExists(f"event {quoted(event.event_id)} is logged already")
        return seq

    def append_many(self, events: Sequence[DomainEvent]) -> None:
        """All of them in one call of ``subacct_audit_append_all``, sent with the commit
        (``PostgresUnitOfWork.later``): the lock that orders appends is then held for the
        end of the transaction only."""
        if not events:
            return
        rows = [
            [
                event.event_id,
                event.account_id,
                event_json(event),
            ]
            for event in events
        ]
        self._uow.later("SELECT subacct_audit_append_all(?::jsonb)", (json.dumps(rows),))


def _import_psycopg() -> Any:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise StorageError(
            "the PostgreSQL adapter needs the 'postgres' extra: pip install 'subacct[postgres]'"
        ) from exc
    return psycopg, psycopg_pool


class PostgresUnitOfWork(PolicyVersion):
    """One PostgreSQL transaction on a connection borrowed from the pool."""

    def __init__(self, store: PostgresStore, *, read_only: bool = False) -> None:
        self._store = store
        self._conn: psycopg.Connection[Any] | None = None
        self.accounts = SqlAccounts(self)
        self.links = SqlLinks(self)
        self.users = SqlUsers(self)
        self.memberships = SqlMemberships(self)
        # appends take a transaction-scoped lock, so sequence numbers follow commit order
        self.events = PgEventLog(self)
        self.usage = SqlUsage(self)
        self._ledgers: dict[str, PgLedger] = {}
        self._statements = 0  # run in the current transaction
        self._prelude: str | None = None  # sent with the transaction's first statement
        self._pending: _Pending | None = None  # a ledger plan, sent with the next statement
        self._later: list[tuple[str, Sequence[Any]]] = []  # sent with the next statement
        self._read_committed = False  # a ledger unit: each statement its own snapshot
        self._lost = False  # the connection was lost: discard it, never reuse it
        self._got_at = 0.0  # when the connection was taken from the pool

    def records(self, coll: Collection[T]) -> SqlRecords[T]:
        return SqlRecords(self, coll)

    def ledger(self, currency: str) -> PgLedger:
        """The credit ledger. Asked for before any other statement, it makes this
        transaction READ COMMITTED: the ledger's writes lock their rows (in one global
        order, inside the server) and re-check them, so a concurrent write waits instead
        of aborting the unit, and what the unit then reads is the latest committed state
        (see ``subacct.storage.pg_ledger``)."""
        found = self._ledgers.get(currency)
        if found is None:
            if self._statements == 0:
                self._prelude = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
                self._read_committed = True
            found = PgLedger(self, currency, self._store._ledger_cache(currency))
            self._ledgers[currency] = found
        return found

    def numbering(self, table: str, count: int) -> tuple[str, Sequence[Any]]:
        """``subacct_sequence_block``: numbers in commit order, whoever writes."""
        return "SELECT subacct_sequence_block(?, ?) AS start", (f"{table}_numbers", count)

    def later(self, sql: str, params: Sequence[Any]) -> None:
        """Send a statement whose result is not needed with the transaction's next
        statement or its commit (``append_many``, ``add_many``): one round trip for the
        writes of the end of a unit of work. Its failure fails that statement or the
        commit (``ConcurrentModification`` for a unique violation)."""
        self._later.append((sql, params))

    def defer(self, pending: _Pending) -> None:
        """Send ``pending`` (a ledger plan) with the next statement or the commit; one
        already waiting is sent first."""
        if self._pending is not None:
            self._pipelined([])
        self._pending = pending

    @property
    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise StorageError("the unit of work is not open; use it in a with block")
        return self._conn

    @contextmanager
    def _translated(
        self, pending: _Pending | None = None, *, committing: bool = False
    ) -> Iterator[None]:
        """The driver's integrity, serialization and deadlock errors, and a ledger plan
        the server found stale (``pending``), as ``ConcurrentModification`` (the service
        layer re-runs the unit of work); any other driver error as a storage error
        (``committing``: the statements commit, so a lost connection leaves the outcome
        unknown)."""
        psycopg = self._store._psycopg
        conn = self._conn  # a commit sent on a connection known dead commits nothing
        committing = committing and conn is not None and not conn.closed and not self._lost
        try:
            yield
        except psycopg.errors.IntegrityError as exc:
            raise ConcurrentModification(
                f"a concurrent write got there first: {exc.diag.message_primary}"
            ) from exc
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            raise ConcurrentModification(f"retry the unit of work: {exc}") from exc
        except psycopg.Error as exc:
            if exc.sqlstate != STALE_SQLSTATE or pending is None:
                raise self._fault(exc, committing=committing) from exc
            pending.failed(json.loads(exc.diag.message_detail or "{}"))
            raise ConcurrentModification(
                f"retry the unit of work: {exc.diag.message_primary}"
            ) from exc

    def _fault(self, exc: Exception, *, committing: bool) -> StorageError:
        conn = self._conn
        fault = postgres_fault(exc, lost=conn is None or conn.closed, committing=committing)
        if fault.reason == CONNECTION_LOST:
            self._lost = True
        return fault

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        if self._prelude is not None or self._pending is not None or self._later:
            return self._pipelined([(sql, params)])[-1]  # send them along
        self._statements += 1
        with self._translated():
            return self.connection.execute(sql.replace("?", "%s"), params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return list(self._run(sql, params).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._run(sql, params).rowcount)

    def execute_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """The statements in one pipeline: one round trip to the server."""
        cursors = self._pipelined(statements)
        return [int(c.rowcount) for c in cursors[len(cursors) - len(statements) :]]

    def _pipelined(
        self, statements: Sequence[tuple[str, Sequence[Any]]], *, commit: bool = False
    ) -> list[Any]:
        """The transaction's prelude and a pending ledger plan (if any), ``statements``
        and (``commit``) the commit, in one round trip."""
        conn = self.connection
        psycopg = self._store._psycopg
        prelude, self._prelude = self._prelude, None
        pending, self._pending = self._pending, None
        statements = [*self._later, *statements]
        self._later = []
        applied, cursors, failed = None, [], None
        with self._translated(pending, committing=commit):
            try:
                with conn.pipeline():
                    try:
                        if prelude is not None:
                            conn.execute(prelude)
                        if pending is not None:
                            applied = conn.execute(pending.sql, pending.params)
                        self._statements += len(statements) + (applied is not None)
                        for sql, params in statements:
                            cursors.append(conn.execute(sql.replace("?", "%s"), params))
                        if commit:  # a statement: the pipeline skips it after an error
                            conn.execute("COMMIT")
                    except psycopg.Error as exc:  # raised once the pipeline is closed
                        failed = exc
            except psycopg.errors.PipelineAborted:
                if failed is None:
                    raise
            except psycopg.Error:
                if conn.closed or conn.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF:
                    raise  # the server's answer (a stale plan...), or a connection gone
                # still in pipeline mode ("cannot exit pipeline mode while busy": the server
                # went away with results still due): the connection cannot be used again,
                # and what the pipeline raised first, if anything, says why
                conn.close()
                if failed is None:
                    raise
            if failed is not None:
                raise failed
        if pending is not None and applied is not None:
            row = applied.fetchone()
            if row is None:  # pragma: no cover - the function always returns one row
                raise StorageError("subacct_ledger_apply returned nothing")
            pending.done(json.loads(row[0]))
        return cursors

    def __enter__(self) -> Self:
        if getattr(self._store._local, "open", False):
            raise StorageError("units of work do not nest; finish the open one first")
        self._conn = self._store._getconn()
        self._got_at = time.monotonic()
        self._lost = False
        self._store._local.open = True
        try:
            self._begin()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def reads_one_snapshot(self) -> bool:
        return not self._read_committed

    def _begin(self) -> None:
        self._statements = 0
        self._prelude = None
        self._read_committed = False
        self._policy_done()
        if not self._store._owns_pool:  # a host's pool: set up this transaction only
            with self._translated():
                for statement in self._store._transaction_setup:
                    self.connection.execute(statement)

    def _alone(self) -> bool:
        """True when nothing has run in this transaction yet (no BEGIN sent): a
        statement can then run on its own, as its own transaction."""
        conn = self.connection
        return not self._statements and conn.info.transaction_status == self._store._idle

    def _autocommit(self, sql: str, params: Sequence[Any], pending: _Pending | None) -> Any:
        """One statement as its own transaction (autocommit), at the session's isolation
        level: READ COMMITTED on the store's own connections."""
        conn = self.connection
        conn.autocommit = True
        try:  # a ledger plan commits on its own: lost in flight, its outcome is unknown
            with self._translated(pending, committing=pending is not None):
                return conn.execute(sql, params).fetchall()
        finally:
            if not conn.closed:
                conn.autocommit = False

    def query_alone(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """``query``, run as its own statement when nothing else has run in this
        transaction (one round trip, no BEGIN, nothing left to roll back): its rows are
        one snapshot either way."""
        if self._pending is not None or not self._alone():
            return self.query(sql, params)
        return list(self._autocommit(sql.replace("?", "%s"), params, None))

    def _commit_pending(self) -> None:
        """Send the pending ledger plan and the statements for later, and commit, in one
        round trip. When nothing else ran in this transaction (planning read only the
        cache) and nothing waits, the plan's function call is the whole transaction, run
        on its own."""
        if not self._alone() or self._later:
            self._pipelined([], commit=True)
            return
        pending, self._pending = self._pending, None
        assert pending is not None
        rows = self._autocommit(pending.sql, pending.params, pending)
        pending.done(json.loads(rows[0][0]))

    def commit(self) -> None:
        try:
            if self._pending is not None or self._later:  # all with the commit: one trip
                self._commit_pending()
            else:
                conn = self.connection
                with self._translated(committing=True):
                    conn.commit()
        finally:
            self._ledgers.clear()  # what a ledger read belongs to this transaction
        try:
            self._begin()
        except StorageError as err:
            if err.reason != CONNECTION_LOST:
                raise
            # committed; the next statement of this unit (if any) reports the loss

    def rollback(self) -> None:
        self._ledgers.clear()
        self._pending = None
        self._later = []
        if self._conn is not None:
            conn = self._conn
            with self._translated():
                conn.rollback()
            self._begin()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        self._ledgers.clear()
        self._pending = None  # never sent: rolled back with the rest
        self._later = []
        self._store._local.open = False
        if conn is not None:
            self._store._putconn(conn, lost=self._lost, got_at=self._got_at)


class PostgresStore:
    """The storage ports on a PostgreSQL server.

    Every wait is bounded: ``connect_timeout`` (seconds) for opening a connection,
    ``pool_timeout`` for getting one from the pool (the server down, or every connection
    in use), ``statement_timeout`` (``None``: the server's setting) for each statement.
    With a pool passed in (``pool=``) the host's pool connects: ``connect_timeout`` and
    ``min_size``/``max_size`` are the host's business, and ``statement_timeout`` is set
    per transaction (``SET LOCAL``).
    """

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: ConnectionPool[Any] | None = None,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        ledger_cache_size: int = 100_000,
        connect_timeout: float = 5.0,
        pool_timeout: float = 5.0,
        statement_timeout: float | None = None,
    ) -> None:
        self._psycopg, psycopg_pool = _import_psycopg()
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StorageError(f"schema name {quoted(schema)} must match {_SCHEMA_NAME.pattern}")
        self._connect_timeout = timeout_seconds(connect_timeout, "connect_timeout")
        self._pool_timeout = timeout_seconds(pool_timeout, "pool_timeout")
        self._statement_timeout = (
            None
            if statement_timeout is None
            else timeout_seconds(statement_timeout, "statement_timeout")
        )
        self._schema = schema
        self._local = threading.local()
        self._owns_pool = pool is None
        # what each transaction on a host's pool sets first (its own connections: _configure)
        self._transaction_setup = [
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            f"SET LOCAL search_path TO {schema}",
            *([] if self._statement_timeout is None else [f"SET LOCAL {self._timeout_setting}"]),
        ]
        self._lent = 0  # connections this store holds now (a full pool: all of them)
        self._drained_at = 0.0  # when the pool's idle connections were last dropped
        self._lent_lock = threading.Lock()
        if pool is None:
            if conninfo is None:
                raise StorageError("PostgresStore needs a conninfo string or a pool")
            pool = psycopg_pool.ConnectionPool(
                conninfo,
                kwargs={"connect_timeout": math.ceil(self._connect_timeout)},
                min_size=min_size,
                max_size=max_size,
                configure=self._configure,
                timeout=self._pool_timeout,
                # A server down: the pool retries with a growing delay; a short series
                # (then a new one on demand) keeps the wait after it is back near this.
                reconnect_timeout=max(2.0, 2 * self._pool_timeout),
                open=True,
            )
        self._pool: ConnectionPool[Any] = pool
        self._idle = self._psycopg.pq.TransactionStatus.IDLE
        self._ledger_caches: dict[str, LedgerCache] = {}
        self._ledger_cache_size = ledger_cache_size
        try:
            self._migrate()
        except BaseException:
            self.close()  # no pool left trying to connect in the background
            raise

    @property
    def _timeout_setting(self) -> str:
        milliseconds = max(1, round((self._statement_timeout or 0) * 1000))
        return f"statement_timeout = {milliseconds}"

    def _getconn(self) -> psycopg.Connection[Any]:
        """A connection from the pool within ``pool_timeout``, or the storage error saying
        why not: every connection in use (``StorageTimeout``), or none could be opened
        (``StorageUnavailable``)."""
        try:
            conn: psycopg.Connection[Any] = self._pool.getconn(timeout=self._pool_timeout)
        except self._psycopg.Error as exc:  # PoolTimeout, PoolClosed, TooManyRequests
            exhausted = self._lent >= self._pool.max_size if self._owns_pool else None
            raise pool_fault(exc, exhausted=exhausted, timeout=self._pool_timeout) from exc
        with self._lent_lock:
            self._lent += 1
        return conn

    def _putconn(self, conn: psycopg.Connection[Any], *, lost: bool, got_at: float) -> None:
        """Give a connection back, its transaction rolled back. A lost one is closed, so
        the pool discards it, and then the pool's idle connections are dropped too (they
        are likely as dead, after a server restart): the next unit gets a fresh one."""
        try:
            if lost and not conn.closed:
                conn.close()
            elif not conn.closed and conn.info.transaction_status != self._idle:
                try:
                    conn.rollback()
                except self._psycopg.Error:
                    conn.close()  # a closed connection rolls back on the server
        finally:
            lost = lost or conn.closed
            with self._lent_lock:
                self._lent -= 1
                drain = lost and got_at > self._drained_at  # none dropped since it was lent
                if drain:
                    self._drained_at = time.monotonic()
            self._pool.putconn(conn)
        if drain:
            getattr(self._pool, "drain", self._pool.check)()

    @contextmanager
    def _borrowed(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection for the store's own work (migrations), driver errors as
        storage errors."""
        conn = self._getconn()
        got_at = time.monotonic()
        try:
            yield conn
        except self._psycopg.Error as exc:
            raise postgres_fault(exc, lost=conn.closed, committing=False) from exc
        finally:
            self._putconn(conn, lost=conn.closed, got_at=got_at)

    def _ledger_cache(self, currency: str) -> LedgerCache:
        found = self._ledger_caches.get(currency)
        if found is None:
            found = self._ledger_caches.setdefault(currency, LedgerCache(self._ledger_cache_size))
        return found

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"SET search_path TO {self._schema}")
        # statements run on their own (a ledger plan's function call) run READ COMMITTED
        conn.execute("SET default_transaction_isolation TO 'read committed'")
        if self._statement_timeout is not None:
            conn.execute(f"SET {self._timeout_setting}")
        conn.commit()
        conn.isolation_level = self._psycopg.IsolationLevel.SERIALIZABLE

    def _migrate(self) -> None:
        with self._borrowed() as conn:
            # A session lock, taken in its own transaction, so that the migration
            # transaction's snapshot starts after the previous holder committed. Waiting
            # for another process's migration, or migrating, is not bound by
            # statement_timeout.
            conn.execute("SET LOCAL statement_timeout = 0")
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            conn.commit()
            try:
                self._apply_migrations(conn)
            finally:
                conn.rollback()
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
                conn.commit()

    def _apply_migrations(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("SET LOCAL statement_timeout = 0")
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
            batch: list[str] = []  # SQL text, sent together (no parameters: one round trip)
            for statement in MIGRATIONS[number]:
                if isinstance(statement, str):
                    batch.append(statement)
                    continue
                if batch:
                    conn.execute(";\n".join(batch))
                    batch = []
                statement(_Migrating(conn))
            if batch:
                conn.execute(";\n".join(batch))
            conn.execute("INSERT INTO subacct_schema_version VALUES (%s)", (number + 1,))
        conn.commit()

    @property
    def schema(self) -> str:
        return self._schema

    def schema_version(self) -> int:
        with self._borrowed() as conn:
            conn.execute(f"SET LOCAL search_path TO {self._schema}")
            row = conn.execute("SELECT max(version) FROM subacct_schema_version").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    def unit_of_work(self, *, read_only: bool = False) -> PostgresUnitOfWork:
        # every unit is one SERIALIZABLE transaction (a read-only one too: its reads
        # are then one snapshot, which is all ``read_only`` would buy)
        return PostgresUnitOfWork(self, read_only=read_only)

    def close(self) -> None:
        """Close the pool if this store created it."""
        if self._owns_pool:
            self._pool.close()
