"""Schema version 15 from a version 13 database, on SQLite and PostgreSQL: the late
periods' table (``LATE_PERIODS``) is created (version 14 runs nothing), and a month
invoiced before takes late usage as an adjustment on the next invoice.

A version 13 database is made the way the other migration tests make old ones: a current
store, its versions 14 and 15 undone (``UNDO_15``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest

from subacct import SYSTEM, FixedClock, Money, Plan, PlanLadder, Settings, Subacct
from subacct.pricing import BillingPeriod, LineKind, UsageRecord
from subacct.storage.sql import record_tables_after
from subacct.storage.sqlite import MIGRATIONS

from .old_databases import OldDatabase, database, undone

JAN, FEB = BillingPeriod(2026, 1), BillingPeriod(2026, 2)

UNDO_15: Final = [f"DROP TABLE {table}" for table in record_tables_after(13)]
"""What takes a database at version 15 back to version 13 (before its version is set
back)."""


@pytest.fixture(params=["sqlite", "postgres"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldDatabase]:
    yield from undone(database(request, tmp_path), UNDO_15, 13)


def test_a_month_invoiced_before_takes_late_usage_after(old: OldDatabase) -> None:
    assert old.version() == 13
    store = old.open()
    assert old.version() == len(MIGRATIONS)
    clock = FixedClock(datetime(2026, 2, 1, tzinfo=UTC))
    app = Subacct(store, Settings(clock=clock))
    ladder = PlanLadder([Plan("100", 100, Money(1, "USD")), Plan("200", 200, Money(2, "USD"))])
    app.billing.set_profile("m", ladder, by=SYSTEM)
    app.billing.record_usage([UsageRecord("m", JAN, "email", 100, "a")], by=SYSTEM)
    assert app.billing.finalize_invoice("m", JAN, by=SYSTEM).total == Money("1.00", "USD")
    app.billing.record_usage([UsageRecord("m", JAN, "email", 50, "b")], by=SYSTEM)
    february = app.billing.finalize_invoice("m", FEB, by=SYSTEM)
    (line,) = [x for x in february.lines if x.kind is LineKind.ADJUSTMENT]
    assert line.description == "adjustment for 2026-01: usage"
    assert line.amount == Money("1.00", "USD")
