"""Shared fixtures: a throwaway PostgreSQL cluster for the PostgreSQL adapter tests.

The cluster starts once per test session, only when a test asks for it. A machine
without the server binaries fails those tests loudly (see scripts/install-postgres).
``pg_schema`` names a schema that does not exist yet; ``pg_clean_schema`` (and the
factory ``pg_clean_schemas``) a migrated, empty one, reused between tests: emptied after
each test that left it as the migrations made it, dropped otherwise (a fresh schema costs
every migration, tens of milliseconds of DDL).

Temporary files go to /dev/shm when it has room (``pytest_configure``).

Hypothesis runs without deadlines and without the "too slow" health check: the suite
must pass on a shared, busy machine, where any example can take ten times as long.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from subacct.testing.pgcluster import TempCluster

settings.register_profile("subacct", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("subacct")

_schemas = itertools.count(1)
_SHM = "/dev/shm"


def pytest_configure(config: pytest.Config) -> None:
    """Temporary files (SQLite databases) in memory when /dev/shm has room: the suite
    then waits less on the disk. ``--basetemp`` given on the command line wins."""
    if config.option.basetemp or not os.path.isdir(_SHM):
        return
    free = shutil.disk_usage(_SHM).free
    if free >= 1 << 30:
        config.option.basetemp = tempfile.mkdtemp(prefix="subacct-tests-", dir=_SHM)
        config._subacct_shm = config.option.basetemp  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    made = getattr(config, "_subacct_shm", None)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempCluster]:
    with TempCluster(max_connections=200) as cluster:
        yield cluster


@pytest.fixture
def pg_schema() -> str:
    """A fresh schema name per test (stores in different schemas never see each other)."""
    return f"t{next(_schemas)}"


class CleanSchemas:
    """Migrated PostgreSQL schemas of one test process, handed out empty.

    ``give_back`` empties a schema (every row deleted, the rows the migrations insert put
    back, sequences restarted) when it still has the shape the migrations give (tables,
    columns, indexes, functions, sequences, schema version), and drops it otherwise.
    """

    _SHAPE = """
        SELECT 'column', table_name || '.' || column_name || ':' || data_type
          FROM information_schema.columns WHERE table_schema = %(s)s
        UNION ALL SELECT 'index', indexname || ':' || indexdef
          FROM pg_indexes WHERE schemaname = %(s)s
        UNION ALL SELECT 'routine', routine_name FROM information_schema.routines
          WHERE routine_schema = %(s)s
        UNION ALL SELECT 'sequence', sequence_name FROM information_schema.sequences
          WHERE sequence_schema = %(s)s
        UNION ALL SELECT 'constraint', conname || ':' || pg_get_constraintdef(c.oid)
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
          WHERE n.nspname = %(s)s
        ORDER BY 1, 2"""

    def __init__(self, cluster: TempCluster) -> None:
        self._cluster = cluster
        self._free: list[str] = []
        self._shape: list[tuple[str, str]] | None = None
        self._rows: dict[str, list[tuple[Any, ...]]] = {}  # what the migrations insert
        self._sequences: list[str] = []

    def take(self) -> str:
        if self._free:
            return self._free.pop()
        import psycopg

        from subacct.storage.postgres import PostgresStore

        name = f"c{next(_schemas)}"
        PostgresStore(self._cluster.conninfo(), schema=name, max_size=1).close()
        if self._shape is None:
            with psycopg.connect(self._cluster.conninfo()) as conn:
                self._shape = self._shape_of(conn, name)
                tables = [r[1].split(".")[0] for r in self._shape if r[0] == "column"]
                for table in dict.fromkeys(tables):
                    rows = conn.execute(f"SELECT * FROM {name}.{table}").fetchall()
                    if rows and table != "subacct_schema_version":
                        self._rows[table] = rows
                self._sequences = [r[1] for r in self._shape if r[0] == "sequence"]
        return name

    def _shape_of(self, conn: Any, name: str) -> list[tuple[str, str]]:
        rows = conn.execute(self._SHAPE, {"s": name}).fetchall()
        return [(kind, text.replace(f"{name}.", "")) for kind, text in rows]

    def give_back(self, names: list[str]) -> None:
        import psycopg

        with psycopg.connect(self._cluster.conninfo()) as conn:
            for name in names:
                try:
                    with conn.transaction():
                        self._empty(conn, name)
                    self._free.append(name)
                except psycopg.Error:
                    conn.rollback()
                    conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
                    conn.commit()

    def _empty(self, conn: Any, name: str) -> None:
        import psycopg

        conn.execute("SET LOCAL lock_timeout = '5s'")
        if self._shape_of(conn, name) != self._shape:
            raise psycopg.DataError(f"schema {name} was changed")
        conn.execute("SET LOCAL session_replication_role = replica")  # no FK checks
        tables = {r[1].split(".")[0] for r in self._shape or [] if r[0] == "column"}
        for table in sorted(tables - {"subacct_schema_version"}):
            conn.execute(f"DELETE FROM {name}.{table}")
        for table, rows in self._rows.items():
            marks = ", ".join(["%s"] * len(rows[0]))
            conn.cursor().executemany(f"INSERT INTO {name}.{table} VALUES ({marks})", rows)
        for sequence in self._sequences:
            conn.execute(f"ALTER SEQUENCE {name}.{sequence} RESTART")


@pytest.fixture(scope="session")
def _clean_schemas(pg_cluster: TempCluster) -> CleanSchemas:
    return CleanSchemas(pg_cluster)


@pytest.fixture
def pg_clean_schemas(_clean_schemas: CleanSchemas) -> Iterator[Callable[[], str]]:
    """``take()``: a migrated, empty schema of its own for this test, as many as asked."""
    taken: list[str] = []

    def take() -> str:
        taken.append(_clean_schemas.take())
        return taken[-1]

    yield take
    _clean_schemas.give_back(taken)


@pytest.fixture
def pg_clean_schema(pg_clean_schemas: Callable[[], str]) -> str:
    """A migrated, empty schema for this test."""
    return pg_clean_schemas()
