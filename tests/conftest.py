"""Shared fixtures: a throwaway PostgreSQL cluster for the PostgreSQL adapter tests.

The cluster starts once per test session, only when a test asks for it. A machine
without the server binaries fails those tests loudly (see scripts/install-postgres).

Temporary files go to /dev/shm when it has room (``pytest_configure``).

Hypothesis runs without deadlines and without the "too slow" health check: the suite
must pass on a shared, busy machine, where any example can take ten times as long.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator

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
