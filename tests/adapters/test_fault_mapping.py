"""The mapping table of ``subacct.storage.faults``, row by row, with the drivers' own
exception classes (the integration tests in test_storage_faults.py and test_pg_faults.py
raise the common rows for real)."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
import pytest

from subacct.errors import StorageCorrupt, StorageError, StorageTimeout, StorageUnavailable
from subacct.storage.faults import pool_fault, postgres_fault, rerun_safe, sqlite_fault

SQLITE_ROWS: list[tuple[int, type[StorageError], str]] = [
    (3, StorageUnavailable, "permission_denied"),
    (5, StorageTimeout, "locked"),
    (6, StorageTimeout, "locked"),
    (7, StorageUnavailable, "out_of_memory"),
    (8, StorageUnavailable, "read_only"),
    (8 | (1 << 8), StorageUnavailable, "read_only"),  # an extended code: SQLITE_READONLY_RECOVERY
    (10, StorageUnavailable, "io_error"),
    (11, StorageCorrupt, "malformed"),
    (13, StorageUnavailable, "disk_full"),
    (14, StorageUnavailable, "cannot_open"),
    (26, StorageCorrupt, "not_a_database"),
    (19, StorageError, "driver_error"),  # SQLITE_CONSTRAINT: no race on SQLite, a bug
    (1, StorageError, "driver_error"),  # SQLITE_ERROR
]


@pytest.mark.parametrize(("code", "kind", "reason"), SQLITE_ROWS)
def test_sqlite_result_codes(code: int, kind: type[StorageError], reason: str) -> None:
    err = sqlite3.OperationalError("what SQLite said")
    err.sqlite_errorcode = code  # type: ignore[attr-defined]
    err.sqlite_errorname = f"CODE_{code}"  # type: ignore[attr-defined]
    fault = sqlite_fault(err, "app.db", timeout=2)
    assert type(fault) is kind
    assert (fault.reason, fault.outcome) == (reason, "not_committed")
    assert fault.details["path"] == "app.db"
    assert fault.details["sqlite_error"] == f"CODE_{code}"
    assert "what SQLite said" in fault.message
    assert not rerun_safe(fault)


def test_a_closed_sqlite_connection_is_unavailable() -> None:
    conn = sqlite3.connect(":memory:")
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError) as raw:
        conn.execute("SELECT 1")
    fault = sqlite_fault(raw.value, ":memory:")
    assert (type(fault), fault.reason) == (StorageUnavailable, "closed")


PG_ROWS: list[tuple[str, bool, bool, type[StorageError], str, str]] = [
    # sqlstate, lost, committing -> kind, reason, outcome
    ("57P01", False, False, StorageUnavailable, "connection_lost", "not_committed"),
    ("57P01", False, True, StorageUnavailable, "connection_lost", "unknown"),
    ("57P02", False, False, StorageUnavailable, "connection_lost", "not_committed"),
    ("57P03", False, False, StorageUnavailable, "connection_lost", "not_committed"),
    ("08006", False, False, StorageUnavailable, "connection_lost", "not_committed"),
    ("08003", False, True, StorageUnavailable, "connection_lost", "unknown"),
    ("57014", False, False, StorageTimeout, "statement_timeout", "not_committed"),
    ("57014", False, True, StorageTimeout, "statement_timeout", "not_committed"),
    ("55P03", False, False, StorageTimeout, "lock_timeout", "not_committed"),
    # the server ended the session (idle in a transaction too long): lost, run again
    ("25P03", True, False, StorageUnavailable, "connection_lost", "not_committed"),
    ("25P03", False, False, StorageTimeout, "idle_in_transaction_timeout", "not_committed"),
    ("XX001", False, False, StorageCorrupt, "malformed", "not_committed"),
    ("XX002", False, False, StorageCorrupt, "malformed", "not_committed"),
    ("53100", False, False, StorageUnavailable, "server_resources", "not_committed"),
    ("53300", False, False, StorageUnavailable, "server_resources", "not_committed"),
    ("58030", False, False, StorageUnavailable, "server_error", "not_committed"),
    ("25006", False, False, StorageUnavailable, "read_only", "not_committed"),
    ("42P01", False, False, StorageError, "driver_error", "not_committed"),
    ("22003", False, False, StorageError, "driver_error", "not_committed"),
]


@pytest.mark.parametrize(("sqlstate", "lost", "committing", "kind", "reason", "outcome"), PG_ROWS)
def test_postgres_sqlstates(
    sqlstate: str,
    lost: bool,
    committing: bool,
    kind: type[StorageError],
    reason: str,
    outcome: str,
) -> None:
    err = psycopg.errors.lookup(sqlstate)("what the server said")
    fault = postgres_fault(err, lost=lost, committing=committing)
    assert type(fault) is kind
    assert (fault.reason, fault.outcome) == (reason, outcome)
    assert fault.details["sqlstate"] == sqlstate
    assert rerun_safe(fault) == (reason == "connection_lost" and outcome == "not_committed")


def test_a_client_side_failure_on_a_closed_connection_is_a_lost_connection() -> None:
    """No SQLSTATE (libpq's "server closed the connection unexpectedly"): the connection
    being closed afterwards is what tells."""
    err = psycopg.OperationalError("server closed the connection unexpectedly")
    assert postgres_fault(err, lost=True, committing=False).reason == "connection_lost"
    assert postgres_fault(err, lost=False, committing=False).reason == "driver_error"


@pytest.mark.parametrize(
    ("error", "exhausted", "kind", "reason"),
    [
        (psycopg_pool.PoolTimeout("no connection"), True, StorageTimeout, "pool_exhausted"),
        (psycopg_pool.PoolTimeout("no connection"), False, StorageUnavailable, "cannot_connect"),
        (psycopg_pool.PoolTimeout("no connection"), None, StorageTimeout, "pool_timeout"),
        (psycopg_pool.TooManyRequests("queue full"), False, StorageTimeout, "pool_exhausted"),
        (psycopg_pool.PoolClosed("closed"), False, StorageUnavailable, "closed"),
    ],
)
def test_pool_errors(
    error: Exception, exhausted: bool | None, kind: type[StorageError], reason: str
) -> None:
    fault = pool_fault(error, exhausted=exhausted, timeout=1.5)
    assert (type(fault), fault.reason, fault.outcome) == (kind, reason, "not_committed")
    assert fault.details["timeout"] == 1.5
