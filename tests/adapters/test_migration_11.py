"""Schema version 11 from a version 10 database, on SQLite and PostgreSQL: usage records
gain their dimensions and the user who sent; rows stored before read with no dimensions
and no owner, and the month's sums per (account, channel, dimensions) include them.

A version 10 database is made the way the other migration tests make old ones: a current
store, its version 11 undone (``UNDO_11``), rows then written in the shape version 10
wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest

from subacct import SYSTEM, FixedClock, Settings, Subacct
from subacct.domain import AccountId
from subacct.pricing import BillingPeriod, Channel, Dimensions, UsageRecord
from subacct.storage.sql import record_tables_after
from subacct.storage.sqlite import MIGRATIONS

from .old_databases import OldDatabase, database, undone

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JAN = BillingPeriod(2026, 1)

UNDO_11: Final = [
    *(f"DROP TABLE {table}" for table in record_tables_after(10)),  # send holds, volumes
    "DROP INDEX usage_records_totals",
    "ALTER TABLE usage_records DROP COLUMN owner_id",
    "ALTER TABLE usage_records DROP COLUMN dimensions",
    "CREATE INDEX usage_records_totals ON usage_records(period, account_id, quantity)",
]
"""What takes a database at version 11 back to version 10 (before its version is set
back)."""


@pytest.fixture(params=["sqlite", "postgres"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldDatabase]:
    yield from undone(database(request, tmp_path), UNDO_11, 10)


def test_old_usage_rows_read_with_no_dimensions_and_no_owner(old: OldDatabase) -> None:
    assert old.version() == 10
    old.run(
        "INSERT INTO usage_records (period, idempotency_key, account_id, channel, quantity, "
        "label) VALUES (?, ?, ?, ?, ?, ?)",
        ("2026-01", "old-1", "m", "sms", 700, "promo"),
    )
    store = old.open()
    assert old.version() == len(MIGRATIONS)
    app = Subacct(store, Settings(clock=FixedClock(T0)))
    new = UsageRecord("m", JAN, "sms", 300, "new-1", dimensions={"country": "DE"}, owner_id="ann")
    assert app.billing.record_usage([new], by=SYSTEM) == 1
    with store.unit_of_work(read_only=True) as uow:
        stored = uow.usage.for_account(AccountId("m"))
        slices = uow.usage.slice_totals(JAN)
        totals = uow.usage.totals(JAN)
    assert stored == [UsageRecord("m", JAN, "sms", 300, "new-1", None, {"country": "DE"}, "ann"),
                      UsageRecord("m", JAN, "sms", 700, "old-1", "promo")]  # fmt: skip
    assert stored[1].dimensions == {}
    assert stored[1].owner_id is None
    assert slices == {
        "m": {(Channel.SMS, Dimensions()): 700, (Channel.SMS, Dimensions({"country": "DE"})): 300}
    }
    assert totals == {"m": 1000}
