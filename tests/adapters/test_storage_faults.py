"""Storage faults: every driver error is a typed ``StorageError``, on every SQL adapter.

The cases that apply to both SQL adapters run on each through a small harness (how to
make a store with short timeouts, hold its write lock from another connection, open
storage that is not there). SQLite's bad files follow; PostgreSQL's lost connections,
server restarts and pool exhaustion are in test_pg_faults.py.

Time bounds here only catch hangs (a call that should fail in about a second must fail
in under ``HANG``); nothing asserts how fast anything is.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import subacct
from subacct import SYSTEM, Subacct
from subacct.domain import AccountId, new_master
from subacct.errors import (
    InvalidInput,
    StorageCorrupt,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
)
from subacct.storage.ports import Store
from subacct.storage.sqlite import SqliteStore

HANG = 20.0  # seconds: far beyond any timeout configured here; only a hang takes this long
T0 = datetime(2026, 1, 1, tzinfo=UTC)
_names = itertools.count(1)


def assert_typed(err: BaseException, kind: type[StorageError]) -> None:
    """``err`` is ``kind`` with a reason and an outcome, and keeps the driver's error."""
    assert type(err) is kind, repr(err)
    assert isinstance(err, StorageError)
    assert err.details["reason"]
    assert err.details["outcome"] == "not_committed"
    cause = err.__cause__
    assert cause is not None
    assert type(cause).__module__.split(".")[0] in {"sqlite3", "psycopg", "psycopg_pool"}


def add_directly(store: Store, account_id: str) -> None:
    """A master added through the port itself, no service layer."""
    with store.unit_of_work() as uow:
        uow.accounts.add(new_master(AccountId(account_id), "Direct", T0))
        uow.commit()


def stored_ids(store: Store) -> set[str]:
    with store.unit_of_work(read_only=True) as uow:
        return {a.id for a in uow.accounts.all()}


class SqliteHarness:
    name = "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def store(self) -> Store:
        return SqliteStore(self.tmp_path / f"faults{next(_names)}.db", timeout=0.2)

    @contextmanager
    def write_lock_held(self, store: Store) -> Iterator[None]:
        """Another connection holds SQLite's write lock (``BEGIN IMMEDIATE``)."""
        assert isinstance(store, SqliteStore)
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()

    def open_unavailable(self) -> Store:
        return SqliteStore(self.tmp_path / "no such folder" / "x.db")


class PostgresHarness:
    name = "postgres"

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def store(self) -> Store:
        from subacct.storage.postgres import PostgresStore

        return PostgresStore(
            self.cluster.conninfo(),
            schema=f"faults{next(_names)}",
            max_size=2,
            pool_timeout=1,
            statement_timeout=0.3,
        )

    @contextmanager
    def write_lock_held(self, store: Store) -> Iterator[None]:
        """Another connection holds exclusive locks on the accounts, users and policy
        version tables."""
        import psycopg

        schema = store.schema  # type: ignore[attr-defined]
        tables = ", ".join(f"{schema}.{t}" for t in ("accounts", "users", "policy_version"))
        with psycopg.connect(self.cluster.conninfo()) as other:
            other.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
            yield
            other.rollback()

    def open_unavailable(self) -> Store:
        """A server that is not there: a loopback port nothing listens on."""
        from subacct.storage.postgres import PostgresStore

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return PostgresStore(
            f"host=127.0.0.1 port={port} user=postgres dbname=postgres", pool_timeout=1
        )


Harness = SqliteHarness | PostgresHarness


@pytest.fixture(params=["sqlite", "postgres"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "sqlite":
        return SqliteHarness(tmp_path)
    return PostgresHarness(request.getfixturevalue("pg_cluster"))


# -- every SQL adapter -------------------------------------------------------------------


WRITES: list[Callable[[Subacct], object]] = [
    lambda app: app.accounts.create_master("Blocked", account_id="m2", by=SYSTEM),
    lambda app: app.accounts.create_sub("m1", "Blocked sub", account_id="s2", by=SYSTEM),
    lambda app: app.accounts.rename("m1", "Renamed", by=SYSTEM),
    lambda app: app.members.create_user("pam@example.test", "Pam", by=SYSTEM),
]


def test_a_write_lock_held_beyond_the_timeout_is_storage_timeout(harness: Harness) -> None:
    """Another connection holds the lock longer than the store waits (SQLite's busy
    timeout, PostgreSQL's statement_timeout): each write fails with ``StorageTimeout``,
    writes nothing, and goes through once the lock is released."""
    store = harness.store()
    app = Subacct(store)
    app.accounts.create_master("Kept", account_id="m1", by=SYSTEM)
    before = stored_ids(store)
    with harness.write_lock_held(store):
        for write in WRITES:
            started = time.monotonic()
            with pytest.raises(StorageError) as refused:
                write(app)
            assert time.monotonic() - started < HANG
            assert_typed(refused.value, StorageTimeout)
        with pytest.raises(StorageTimeout):
            add_directly(store, "m3")
    assert stored_ids(store) == before
    for write in WRITES:
        write(app)
    assert stored_ids(store) == before | {"m2", "s2"}
    store.close()


def test_storage_that_is_not_there_is_unavailable_at_open(harness: Harness) -> None:
    """A SQLite file in a folder that does not exist; a PostgreSQL server that does not
    answer: the store refuses to open with ``StorageUnavailable``, in bounded time."""
    started = time.monotonic()
    with pytest.raises(StorageError) as refused:
        harness.open_unavailable()
    assert time.monotonic() - started < HANG
    assert_typed(refused.value, StorageUnavailable)


# -- SQLite: bad files -------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is no database, just bytes " * 200)


def _truncated(path: Path) -> None:
    """A real subacct database cut to a third of its pages."""
    store = SqliteStore(path)
    app = Subacct(store)
    for i in range(200):
        app.accounts.create_master(f"Master {i} " + "x" * 150, account_id=f"m{i}", by=SYSTEM)
    store.close()  # checkpoints the WAL into the file
    data = path.read_bytes()
    assert len(data) > 20 * 4096
    path.write_bytes(data[: len(data) // 3])


def _directory(path: Path) -> None:
    path.mkdir()


def _missing_folder(path: Path) -> Path:
    return path.parent / "missing" / path.name


BAD_FILES: list[tuple[str, Callable[[Path], object], type[StorageError]]] = [
    ("garbage bytes", _garbage, StorageCorrupt),
    ("a truncated database", _truncated, StorageCorrupt),
    ("a directory", _directory, StorageUnavailable),
    ("a missing folder", _missing_folder, StorageUnavailable),
]


@pytest.mark.parametrize(("case", "make", "kind"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_sqlite_file_raises_its_kind_at_open_or_first_use(
    tmp_path: Path, case: str, make: Callable[[Path], object], kind: type[StorageError]
) -> None:
    path = tmp_path / "bad.db"
    made = make(path)
    path = made if isinstance(made, Path) else path

    def use() -> None:
        store = SqliteStore(path)
        try:
            app = Subacct(store)
            list(app.accounts.tree(by=SYSTEM))
            app.accounts.create_master("New", account_id="new", by=SYSTEM)
            list(app.accounts.tree(by=SYSTEM))
        finally:
            store.close()

    with pytest.raises(StorageError) as refused:
        use()
    assert_typed(refused.value, kind)
    assert refused.value.details["path"] == str(path)


def test_a_full_database_is_storage_unavailable_and_keeps_what_it_had(tmp_path: Path) -> None:
    """SQLite's "database or disk is full" (here: the database may grow no more pages)."""
    store = SqliteStore(tmp_path / "full.db")
    app = Subacct(store)
    app.accounts.create_master("Kept", account_id="m0", by=SYSTEM)
    with store.unit_of_work() as uow:
        pages = uow.connection.execute("PRAGMA page_count").fetchone()[0]
        uow.connection.execute(f"PRAGMA max_page_count = {pages}")

    def fill() -> None:
        for i in range(1, 2000):  # the pages fill up long before
            app.accounts.create_master("Filler " + "x" * 150, account_id=f"m{i}", by=SYSTEM)

    with pytest.raises(StorageError) as refused:
        fill()
    assert_typed(refused.value, StorageUnavailable)
    assert refused.value.details["reason"] == "disk_full"
    assert "m0" in stored_ids(store)
    store.close()


_READ_ONLY_SCRIPT = """
import json, sys
from subacct import SYSTEM, Subacct
from subacct.errors import StorageError
from subacct.storage.sqlite import SqliteStore

store = SqliteStore(sys.argv[1])
app = Subacct(store)
seen = [a.id for a in app.accounts.tree(by=SYSTEM)]
try:
    app.accounts.create_master("New", account_id="new", by=SYSTEM)
    outcome = {"written": True}
except StorageError as err:
    cause = type(err.__cause__)
    outcome = {"code": err.code, "reason": err.details["reason"],
               "cause": f"{cause.__module__}.{cause.__qualname__}"}
except Exception as err:
    outcome = {"raw": repr(err)}
print(json.dumps({"seen": seen, **outcome}))
"""


def _unprivileged() -> list[str]:
    """A command prefix that runs without the right to bypass file permissions (root
    keeps its uid but loses CAP_DAC_OVERRIDE), or nothing for a user who has none."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root: setpriv (util-linux) is needed to drop CAP_DAC_OVERRIDE"
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, "--inh-caps=-all", f"--bounding-set={caps}", "--"]


def test_a_read_only_file_reads_and_refuses_a_write_as_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    store = SqliteStore(path)
    Subacct(store).accounts.create_master("Kept", account_id="m1", by=SYSTEM)
    store.close()
    path.chmod(0o444)
    src = str(Path(subacct.__file__).resolve().parents[1])
    result = subprocess.run(
        [*_unprivileged(), sys.executable, "-c", _READ_ONLY_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": src},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        "seen": ["m1"],
        "code": "storage_unavailable",
        "reason": "read_only",
        "cause": "sqlite3.OperationalError",
    }


def test_a_write_lock_held_at_open_is_storage_timeout(tmp_path: Path) -> None:
    """Opening runs the migrations in ``BEGIN IMMEDIATE``: a writer holding the lock past
    the busy timeout makes the open fail with ``StorageTimeout``, not ``sqlite3``'s
    "database is locked"."""
    path = tmp_path / "locked.db"
    SqliteStore(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StorageError) as refused:
        SqliteStore(path, timeout=0.1)
    assert_typed(refused.value, StorageTimeout)
    assert refused.value.details["reason"] == "locked"
    assert "busy timeout (0.1 s)" in refused.value.message
    other.execute("ROLLBACK")
    other.close()
    SqliteStore(path, timeout=0.1).close()


@pytest.mark.parametrize("timeout", [0, -1, True, "5", float("nan"), float("inf"), 1e10, None])
def test_a_bad_busy_timeout_is_refused(tmp_path: Path, timeout: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        SqliteStore(tmp_path / "x.db", timeout=timeout)  # type: ignore[arg-type]
    assert refused.value.details["field"] == "timeout"
    assert list(tmp_path.iterdir()) == []
