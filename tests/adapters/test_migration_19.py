"""Schema version 19 from a version 13 database, on SQLite and PostgreSQL: the tables of
invitations, their tokens and seat limits are created (versions 14 to 18 hold nothing yet);
what was stored before is kept, and invitations work at once.

A version 13 database is made the way the other migration tests make old ones: a current
store with one master ``m``, the tables of version 19 dropped (``UNDO_19``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from subacct import SYSTEM, Subacct
from subacct.storage.sql import record_tables_after
from subacct.storage.sqlite import MIGRATIONS

from .old_databases import OldDatabase, database, undone

UNDO_19: Final = [f"DROP TABLE {table}" for table in record_tables_after(13)]
"""What takes a database at version 19 back to version 13 (before its version is set
back)."""


@pytest.fixture(params=["sqlite", "postgres"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldDatabase]:
    yield from undone(database(request, tmp_path), UNDO_19, 13)


def test_a_version_13_database_gets_invitations_and_keeps_its_accounts(old: OldDatabase) -> None:
    assert old.version() == 13
    later = {"rec_invitations", "rec_invitation_tokens", "rec_seat_limits"}
    assert later <= set(record_tables_after(13))
    store = old.open()
    assert old.version() == len(MIGRATIONS)
    app = Subacct(store)
    assert app.accounts.get("m", by=SYSTEM).name == "Team X"
    app.members.set_seat_limit("m", 2, by=SYSTEM)
    sent = app.invitations.invite("ann@example.com", "m", "parent_admin", by=SYSTEM)
    ann = app.invitations.accept(sent.token, display_name="Ann", by=SYSTEM)
    assert [m.user_id for m in app.members.members_of("m", by=SYSTEM)] == [ann.user_id]
    assert app.members.seat_limit("m", by=SYSTEM).limit == 2  # type: ignore[union-attr]
