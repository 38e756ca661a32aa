"""Shared fixtures: a throwaway PostgreSQL cluster for the PostgreSQL adapter tests.

The cluster starts once per test session, only when a test asks for it. A machine
without the server binaries fails those tests loudly (see scripts/install-postgres).

Hypothesis runs without deadlines and without the "too slow" health check: the suite
must pass on a shared, busy machine, where any example can take ten times as long.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from subacct.testing.pgcluster import TempCluster

settings.register_profile("subacct", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("subacct")

_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempCluster]:
    with TempCluster(max_connections=200) as cluster:
        yield cluster


@pytest.fixture
def pg_schema() -> str:
    """A fresh schema name per test (stores in different schemas never see each other)."""
    return f"t{next(_schemas)}"
