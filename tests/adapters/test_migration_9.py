"""Schema version 9 from a version 8 database, on SQLite and PostgreSQL: audit records
already stored get sequence numbers in their best order (time, then the number ending the
key), stored logins are normalized (or the migration refuses, changing nothing), stored
names lose the characters version 9 refuses, and the event log written before still reads.

A version 8 database is made the way the other migration tests make old ones: a current
store, its versions 11, 10 and 9 undone (the API key uses; the ``seq`` column, the sequence,
the function), rows then written in the shapes version 8 wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from subacct import SYSTEM, FixedClock, SequentialIds, Settings, Subacct
from subacct.errors import DuplicateLogin, StorageError
from subacct.policy import SEND_MESSAGES, Decision, Grant, Reason, Role, Scope, audit_record
from subacct.storage import Store
from subacct.storage.collections import AUDIT_RECORDS
from subacct.storage.records import dump_record
from subacct.storage.sql import SEQUENCED_BY_MIGRATION, record_index_ddl

from .old_databases import OldDatabase, PostgresDatabase, SqliteDatabase, database
from .test_migration_11 import UNDO_11

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_INDEXES = dict(SEQUENCED_BY_MIGRATION[9])["audit_records"]
_V8_INDEXES = [record_index_ddl(AUDIT_RECORDS, field) for field in _INDEXES]


def wide(text: str) -> str:
    """The full-width form of printable ASCII (what NFKC folds back to ASCII)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _sqlite(old: SqliteDatabase) -> Iterator[OldDatabase]:
    _seed(old.open())
    old.close_stores()
    for statement in UNDO_11:  # version 11 undone
        old.run(statement, ())
    old.run("DROP TABLE rec_api_key_uses", ())  # version 10 undone
    for field in _INDEXES:
        old.run(f"DROP INDEX rec_audit_records_{field}", ())
    old.run("DROP INDEX rec_audit_records_by_seq", ())
    old.run("ALTER TABLE rec_audit_records DROP COLUMN seq", ())
    for statement in _V8_INDEXES:
        old.run(statement, ())
    old.set_version(8)
    yield old
    old.close_stores()


def _postgres(old: PostgresDatabase) -> Iterator[OldDatabase]:
    _seed(old.open())
    old.close_stores()
    for statement in UNDO_11:  # version 11 undone
        old.run(statement, ())
    old.run("DROP TABLE rec_api_key_uses", ())  # version 10 undone
    old.run("DROP FUNCTION subacct_sequence_block(text, bigint)", ())
    old.run("DROP SEQUENCE rec_audit_records_numbers", ())
    old.run("ALTER TABLE rec_audit_records DROP COLUMN seq", ())  # and the indexes on it
    for statement in _V8_INDEXES:
        old.run(statement, ())
    old.set_version(8)
    yield old
    old.close_stores()


@pytest.fixture(params=["sqlite", "postgres"])
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OldDatabase]:
    fresh = database(request, tmp_path)
    yield from _sqlite(fresh) if isinstance(fresh, SqliteDatabase) else _postgres(fresh)


def _app(store: Store) -> Subacct:
    """The app after the migration: random ids (``UuidIds``), all at one clock reading."""
    return Subacct(store, Settings(clock=FixedClock(T0)))


def _seed(store: Store) -> None:
    """What a version 8 database held: an account renamed 30 times at one clock reading
    (32 audit records: audit_2 ... audit_64, events taking the odd numbers), two users,
    a custom role."""
    app = Subacct(store, Settings(clock=FixedClock(T0), ids=SequentialIds()))
    app.accounts.create_master("Team X", account_id="m", by=SYSTEM)
    for n in range(30):
        app.accounts.rename("m", f"Team {n}", by=SYSTEM)
    app.accounts.rename("m", "Team X", by=SYSTEM)
    app.members.create_user("ann@x.test", "Ann", user_id="ann", by=SYSTEM)
    app.members.create_user("pam@y.test", "Pam", user_id="pam", by=SYSTEM)
    app.policy.define_role(Role("clerk", "Clerk", (Grant(SEND_MESSAGES),)), by=SYSTEM)


def _old_record(old: OldDatabase, record_id: str, at: datetime) -> None:
    allowed = Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL, role_id="parent_admin")
    record = audit_record(record_id, at, "ann", SEND_MESSAGES, "m", allowed)  # type: ignore[arg-type]
    old.run(
        "INSERT INTO rec_audit_records (k, body, i_account_id, i_acting_user_id, "
        "i_impersonated_account_id) VALUES (?, ?, ?, ?, ?)",
        (record_id, dump_record(AUDIT_RECORDS, record), "m", "ann", None),
    )


def test_stored_audit_records_are_numbered_by_time_then_the_number_ending_their_key(
    old: OldDatabase,
) -> None:
    """Version 8 read them in key text order (audit_11 before audit_3). Version 9 numbers
    them by time, then by the number ending the key: a record of an earlier time first
    whatever its key, one half a second later last, the 32 of one clock reading in the
    order they were written; a record written after the migration comes after all."""
    _old_record(old, "audit_9999", T0 - timedelta(days=1))
    _old_record(old, "audit_0", T0 + timedelta(milliseconds=500))  # ".500000+00:00"
    _old_record(old, "audit_x", T0)  # no number: after the numbered ones of its time
    app = _app(old.open())
    assert old.version() == 17
    got = [r.id for r in app.audit.records("m", by=SYSTEM)]
    written = [f"audit_{n}" for n in range(2, 65, 2)]
    assert got == ["audit_9999", *written, "audit_x", "audit_0"]
    app.accounts.rename("m", "Team Y", by=SYSTEM)
    after = app.audit.records("m", by=SYSTEM)
    assert [r.id for r in after[:-1]] == got
    assert after[-1].id not in got  # the new one (a random id, the same time) comes last


def test_stored_logins_are_normalized_and_found(old: OldDatabase) -> None:
    """Version 8 stored logins case folded only: a full-width one stayed full-width, so
    it was another user than its plain look-alike. Version 9 rewrites it; looking it up
    by any of its forms finds the user, and the plain form is taken."""
    old.run("UPDATE users SET login = ? WHERE id = 'pam'", (wide("pam@y") + ".test",))
    app = _app(old.open())
    for form in ("pam@y.test", "Pam@Y.test", wide("PAM@y") + ".test"):
        found = app.members.find_user_by_login(form, by=SYSTEM)
        assert found is not None
        assert found.id == "pam"
    assert app.members.get_user("pam", by=SYSTEM).login == "pam@y.test"
    with pytest.raises(DuplicateLogin):
        app.members.create_user("PAM@y.test", "Impostor", by=SYSTEM)
    assert ("pam", "pam@y.test") in {(r[0], r[1]) for r in old.rows("users")}


def test_logins_that_cannot_be_normalized_stop_the_migration_and_change_nothing(
    old: OldDatabase,
) -> None:
    """A stored login with a zero-width space, and two stored logins that become one:
    the store does not open, the database stays at version 8 as it was, and the error
    names the users. Once they are removed, it opens."""
    old.run("UPDATE users SET login = ? WHERE id = 'ann'", ("ann\u200b@x.test",))
    old.run(
        "INSERT INTO users (id, login, display_name, created_at, version) VALUES (?, ?, ?, ?, 1)",
        ("pam2", wide("pam") + "@y.test", "Pam again", T0.isoformat()),
    )
    old.run("UPDATE accounts SET name = ? WHERE id = 'm'", ("Team\u200dX",))
    tables = ("users", "accounts", "rec_audit_records", "rec_roles")
    before = {table: old.rows(table) for table in tables}
    with pytest.raises(StorageError) as refused:
        old.open()
    assert refused.value.details["refused_logins"] == ["ann"]
    assert refused.value.details["shared_logins"] == [["pam", "pam2"]]
    assert "Nothing was changed" in refused.value.message
    assert "\u200b" not in refused.value.message
    assert old.version() == 8
    assert {table: old.rows(table) for table in tables} == before
    old.run("DELETE FROM users WHERE id IN ('ann', 'pam2')", ())
    app = _app(old.open())
    assert old.version() == 17
    assert app.accounts.get("m", by=SYSTEM).name == "TeamX"


def test_stored_names_lose_the_characters_version_8_refuses(old: OldDatabase) -> None:
    """Names version 8 accepted but version 9 refuses still load: format characters are
    dropped, a line separator becomes a space, a name of nothing else becomes its id. The
    events logged with such a name keep it and still read."""
    old.run("UPDATE accounts SET name = ? WHERE id = 'm'", ("\u202eTeam\u200dX",))
    old.run("UPDATE users SET display_name = ? WHERE id = 'ann'", ("Ann\u2028Smith",))
    old.run("UPDATE users SET display_name = ? WHERE id = 'pam'", ("\u200b\ufeff",))
    body = old.run("SELECT body FROM rec_roles WHERE k = 'clerk'", ())[0][0]
    role = json.loads(body)
    role["name"] = "Cl\u00aderk"  # a soft hyphen
    old.run(
        "UPDATE rec_roles SET body = ? WHERE k = 'clerk'",
        (json.dumps(role, sort_keys=True, separators=(",", ":")),),
    )
    logged = json.dumps({"x": "Team\u200dX"})[7:-2]  # the name as the log's JSON spells it
    renamed = "SELECT seq, body FROM audit_log WHERE body LIKE ? ORDER BY seq DESC"
    seq, text = old.run(renamed, ("%account_renamed%",))[0]
    old.run("UPDATE audit_log SET body = ? WHERE seq = ?", (text.replace("Team X", logged), seq))
    app = _app(old.open())
    assert app.accounts.get("m", by=SYSTEM).name == "TeamX"
    assert app.members.get_user("ann", by=SYSTEM).display_name == "Ann Smith"
    assert app.members.get_user("pam", by=SYSTEM).display_name == "pam"
    assert {r.id: r.name for r in app.policy.roles(by=SYSTEM)}["clerk"] == "Clerk"
    events = app.events.for_account("m", by=SYSTEM, limit=100)
    assert events[-1].event.new_name == "Team\u200dX"  # type: ignore[attr-defined]
