"""Schema version 13 from a version 12 database, on SQLite and PostgreSQL: the usage
totals index gains the label and the sending user (what reports sum by); rows stored
before are summed per label and owner like new ones.

A version 12 database is made the way the other migration tests make old ones: a current
store, its version 13 undone (``UNDO_13``), rows then written in the shape version 12
wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest

from subacct import SYSTEM, FixedClock, Settings, Subacct
from subacct.pricing import BillingPeriod, Channel, Dimensions, UsageRecord
from subacct.storage.sql import record_tables_after
from subacct.storage.sqlite import MIGRATIONS

from .old_databases import OldDatabase, database, undone

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JAN = BillingPeriod(2026, 1)

UNDO_13: Final = [
    "DROP INDEX usage_records_totals",
    "CREATE INDEX usage_records_totals ON usage_records"
    "(period, account_id, channel, dimensions, quantity)",
    *(f"DROP TABLE {table}" for table in record_tables_after(13)),  # credit grants (17)
]
"""What takes a database at version 13 back to version 12 (before its version is set
back)."""


@pytest.fixture(params=["sqlite", "postgres"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldDatabase]:
    yield from undone(database(request, tmp_path), UNDO_13, 12)


def test_rows_stored_before_are_summed_per_label_and_owner(old: OldDatabase) -> None:
    assert old.version() == 12
    old.run(
        "INSERT INTO usage_records (period, idempotency_key, account_id, channel, quantity, "
        "label, dimensions, owner_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("2026-01", "old-1", "m", "sms", 700, "promo", "{}", "bob"),
    )
    store = old.open()
    assert old.version() == len(MIGRATIONS) == 17
    app = Subacct(store, Settings(clock=FixedClock(T0)))
    new = UsageRecord("m", JAN, "sms", 300, "new-1", label="promo", owner_id="bob")
    other = UsageRecord("m", JAN, "sms", 5, "new-2", dimensions={"country": "DE"})
    assert app.billing.record_usage([new, other], by=SYSTEM) == 2
    with store.unit_of_work(read_only=True) as uow:
        got = uow.usage.report_totals(JAN)
        totals = uow.usage.totals(JAN)
    assert got == {
        ("m", "promo", "bob", Channel.SMS, Dimensions()): 1000,
        ("m", None, None, Channel.SMS, Dimensions({"country": "DE"})): 5,
    }
    assert totals == {"m": 1005}
