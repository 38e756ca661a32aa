"""Driver errors as subacct's storage errors (used by the SQLite and PostgreSQL adapters).

No ``sqlite3``, ``psycopg`` or ``psycopg_pool`` exception leaves a public call: the
adapters pass what their driver raised through these functions, which pick the kind by
the driver's result code (SQLite) or SQLSTATE (PostgreSQL) and keep the driver's error as
``__cause__``. docs/errors.md has the table.

* ``StorageUnavailable``: cannot open or reach the storage, or cannot write it (a lost
  connection, a server shutting down, a missing folder, a read-only file, a full disk).
* ``StorageCorrupt``: not a database, malformed, truncated.
* ``StorageTimeout``: a lock wait beyond the busy timeout, a statement beyond
  ``statement_timeout``, no pooled connection within the pool timeout.
* ``StorageError`` itself: any other driver error (a bug, a schema changed by hand).

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "garbage.db"
>>> _ = path.write_bytes(b"not a database " * 100)
>>> try:
...     sqlite3.connect(path).execute("PRAGMA user_version").fetchall()
... except sqlite3.Error as err:
...     fault = sqlite_fault(err, str(path))
>>> fault.code, fault.reason, fault.outcome
('storage_corrupt', 'not_a_database', 'not_committed')
"""

from __future__ import annotations

import sqlite3
from typing import Final

from subacct.errors import (
    StorageCorrupt,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
    quoted,
)

__all__ = [
    "CONNECTION_LOST",
    "NOT_COMMITTED",
    "OUTCOME_UNKNOWN",
    "pool_fault",
    "postgres_fault",
    "rerun_safe",
    "sqlite_fault",
]

#: ``outcome``: the unit of work surely did not commit (running it again is safe).
NOT_COMMITTED: Final = "not_committed"
#: ``outcome``: the connection was lost while the commit was under way; it may have landed.
OUTCOME_UNKNOWN: Final = "unknown"
#: ``reason`` of a connection that worked and then failed (the unit may run again at once).
CONNECTION_LOST: Final = "connection_lost"

_Kind = tuple[type[StorageError], str, str]

# SQLite primary result codes (https://sqlite.org/rescode.html): kind, reason, what it means
_SQLITE: Final[dict[int, _Kind]] = {
    3: (StorageUnavailable, "permission_denied", "access to the file is denied"),  # PERM
    5: (StorageTimeout, "locked", "the database stayed locked by another connection"),  # BUSY
    6: (StorageTimeout, "locked", "a table stayed locked by another connection"),  # LOCKED
    7: (StorageUnavailable, "out_of_memory", "SQLite ran out of memory"),  # NOMEM
    8: (StorageUnavailable, "read_only", "the database cannot be written (read-only)"),
    10: (StorageUnavailable, "io_error", "the disk failed to read or write"),  # IOERR
    11: (StorageCorrupt, "malformed", "the database file is damaged (malformed or truncated)"),
    13: (StorageUnavailable, "disk_full", "the disk is full"),  # FULL
    14: (  # CANTOPEN
        StorageUnavailable,
        "cannot_open",
        "the file cannot be opened (a missing folder, a directory, no permission)",
    ),
    15: (StorageTimeout, "locked", "the database's lock could not be taken"),  # PROTOCOL
    23: (StorageUnavailable, "permission_denied", "access to the database is denied"),  # AUTH
    26: (StorageCorrupt, "not_a_database", "the file is not a SQLite database"),  # NOTADB
}


def _driver_name(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _said(exc: BaseException) -> str:
    """The first line of what the driver said, cut short."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def sqlite_fault(err: sqlite3.Error, path: str, *, timeout: float | None = None) -> StorageError:
    """The storage error for a ``sqlite3`` error on the database at ``path`` (``timeout``:
    the busy timeout, named in a lock timeout's message). An error SQLite returns leaves
    nothing committed, so ``outcome`` is always ``"not_committed"``.

    >>> fault = sqlite_fault(sqlite3.OperationalError("database is locked"), "app.db")
    >>> fault.code  # no result code on a hand-made error: the generic kind
    'storage_error'
    """
    code = getattr(err, "sqlite_errorcode", None)
    kind = _SQLITE.get(code & 0xFF) if isinstance(code, int) else None
    if kind is None and isinstance(err, sqlite3.ProgrammingError) and "closed" in str(err):
        kind = (StorageUnavailable, "closed", "the store was closed")
    details = {
        "adapter": "sqlite",
        "path": path,
        "driver_error": _driver_name(err),
        "sqlite_error": getattr(err, "sqlite_errorname", None),
    }
    if kind is None:
        return StorageError(
            f"SQLite failed on {quoted(path)}: {_said(err)}",
            reason="driver_error",
            outcome=NOT_COMMITTED,
            **details,
        )
    cls, reason, meaning = kind
    if reason == "locked" and timeout is not None:
        meaning += f" longer than the busy timeout ({timeout:g} s)"
    return cls(
        f"SQLite database {quoted(path)}: {meaning} ({_said(err)})",
        reason=reason,
        outcome=NOT_COMMITTED,
        **details,
    )


# SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_PG_TIMEOUT: Final[dict[str, str]] = {
    "57014": "statement_timeout",  # query_canceled: statement_timeout (or a cancel)
    "55P03": "lock_timeout",  # lock_not_available
    "25P03": "idle_in_transaction_timeout",
    "25P04": "transaction_timeout",
    "57P05": "idle_session_timeout",
}
_PG_SHUTDOWN: Final = frozenset({"57P01", "57P02", "57P03"})  # admin/crash shutdown, starting
_PG_CORRUPT: Final = frozenset({"XX001", "XX002"})  # data_corrupted, index_corrupted


def postgres_fault(exc: Exception, *, lost: bool, committing: bool) -> StorageError:
    """The storage error for a ``psycopg`` error that is not a race (integrity,
    serialization and deadlock errors are ``ConcurrentModification``, mapped before).
    ``lost``: the connection is closed after it; ``committing``: the COMMIT (or a
    statement that commits on its own) was sent, so a lost connection leaves the outcome
    unknown.

    >>> class Terminated(Exception):
    ...     sqlstate = "57P01"
    >>> fault = postgres_fault(Terminated("terminating connection"), lost=False, committing=False)
    >>> fault.code, fault.reason, fault.outcome
    ('storage_unavailable', 'connection_lost', 'not_committed')
    """
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    details = {"adapter": "postgres", "sqlstate": sqlstate, "driver_error": _driver_name(exc)}
    said = _said(exc)
    if lost or (sqlstate is not None and (sqlstate[:2] == "08" or sqlstate in _PG_SHUTDOWN)):
        if committing:
            return StorageUnavailable(
                "the connection to PostgreSQL was lost while committing: the unit of work "
                "may or may not have been written (outcome unknown; repeat the call only "
                f"if it is idempotent, e.g. carries an idempotency key): {said}",
                reason=CONNECTION_LOST,
                outcome=OUTCOME_UNKNOWN,
                **details,
            )
        return StorageUnavailable(
            f"the connection to PostgreSQL was lost before the commit; nothing was written: {said}",
            reason=CONNECTION_LOST,
            outcome=NOT_COMMITTED,
            **details,
        )
    if sqlstate in _PG_TIMEOUT:  # after the lost connection: an idle timeout ends it
        reason = _PG_TIMEOUT[sqlstate]
        return StorageTimeout(
            f"PostgreSQL stopped the statement ({reason.replace('_', ' ')}): {said}",
            reason=reason,
            outcome=NOT_COMMITTED,
            **details,
        )
    if sqlstate in _PG_CORRUPT:
        return StorageCorrupt(
            f"PostgreSQL found damaged data: {said}",
            reason="malformed",
            outcome=NOT_COMMITTED,
            **details,
        )
    unavailable = {"53": "server_resources", "58": "server_error"}.get((sqlstate or "")[:2])
    if sqlstate == "25006":  # read_only_sql_transaction: a standby, or a read-only server
        unavailable = "read_only"
    if unavailable is not None:
        return StorageUnavailable(
            f"PostgreSQL cannot do the work now ({unavailable.replace('_', ' ')}): {said}",
            reason=unavailable,
            outcome=NOT_COMMITTED,
            **details,
        )
    return StorageError(
        f"PostgreSQL failed: {said}", reason="driver_error", outcome=NOT_COMMITTED, **details
    )


def pool_fault(exc: Exception, *, exhausted: bool | None, timeout: float) -> StorageError:
    """The storage error for a ``psycopg_pool`` error when asking for a connection.
    ``exhausted``: every connection the pool may open is in use (a timeout is then
    ``StorageTimeout``); ``False``: the pool had room but could not connect in time
    (``StorageUnavailable``); ``None``: not known (a host's pool, which other code may
    use too: ``StorageTimeout``, saying both causes)."""
    name = type(exc).__name__
    details = {"adapter": "postgres", "driver_error": _driver_name(exc), "timeout": timeout}
    if name == "PoolClosed":
        return StorageUnavailable(
            "the PostgreSQL store is closed", reason="closed", outcome=NOT_COMMITTED, **details
        )
    if exhausted or name == "TooManyRequests":
        return StorageTimeout(
            f"no pooled PostgreSQL connection became free within {timeout:g} s (every "
            "connection is in use: raise max_size, or hold units of work for less time)",
            reason="pool_exhausted",
            outcome=NOT_COMMITTED,
            **details,
        )
    if exhausted is None:
        return StorageTimeout(
            f"no connection from the pool within {timeout:g} s: every connection is in use, "
            "or the pool cannot connect to the server",
            reason="pool_timeout",
            outcome=NOT_COMMITTED,
            **details,
        )
    return StorageUnavailable(
        f"could not connect to PostgreSQL within {timeout:g} s (the server is down, "
        "unreachable or refusing connections; the pool's log names the error)",
        reason="cannot_connect",
        outcome=NOT_COMMITTED,
        **details,
    )


def rerun_safe(exc: BaseException) -> bool:
    """True for a lost connection before the commit: nothing was written and the next
    attempt gets a fresh connection, so the service layer runs the unit of work again."""
    return (
        isinstance(exc, StorageUnavailable)
        and exc.reason == CONNECTION_LOST
        and exc.outcome == NOT_COMMITTED
    )
