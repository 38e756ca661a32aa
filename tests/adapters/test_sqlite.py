"""SQLite specifics: schema versioning, pragmas, durability, and refusals leaving the
database byte-for-byte unchanged."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from subacct import SYSTEM, FixedClock, Settings, Subacct, SubacctError
from subacct.cli import DEMO_TIME, build_demo
from subacct.domain import AccountId
from subacct.errors import ConcurrentModification, IdempotencyConflict, StorageError
from subacct.money import Money
from subacct.pricing import BillingPeriod, UsageRecord
from subacct.pricing.ledger import TopUp, Wallet
from subacct.pricing.profiles import QuotaReservation
from subacct.storage.collections import AUDIT_RECORDS, QUOTA_RESERVATIONS
from subacct.storage.records import dump_record
from subacct.storage.sql import (
    RETIRED_COLLECTIONS,
    USAGE_DDL,
    record_index_ddl,
    record_table_ddl,
    record_tables_after,
)
from subacct.storage.sql_ledger import LEDGER_DDL
from subacct.storage.sqlite import MIGRATIONS, SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "subacct.db")
    yield s
    s.close()


def test_schema_is_created_versioned_with_wal_and_foreign_keys(store: SqliteStore) -> None:
    assert store.schema_version() == len(MIGRATIONS)
    with store.unit_of_work() as uow:
        conn = uow.connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "x.db")
    Subacct(first).accounts.create_master("Kept", account_id="m1", by=SYSTEM)
    first.close()
    second = SqliteStore(tmp_path / "x.db")
    assert Subacct(second).accounts.get("m1", by=SYSTEM).name == "Kept"
    assert second.schema_version() == len(MIGRATIONS)
    second.close()


def _back_to_version_9(path: Path) -> None:
    """Undo the versions after 9 in a database file: no API key uses (10), no send holds
    (11)."""
    conn = sqlite3.connect(path)
    for table in record_tables_after(9):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()


def _back_to_version_8(path: Path) -> None:
    """Undo versions 10 and 9 in a database file: audit records without their sequence
    numbers (the indexes of version 7 again)."""
    _back_to_version_9(path)
    conn = sqlite3.connect(path)
    for field in AUDIT_RECORDS.indexes:
        conn.execute(f"DROP INDEX rec_audit_records_{field}")
    conn.execute("DROP INDEX rec_audit_records_by_seq")
    conn.execute("ALTER TABLE rec_audit_records DROP COLUMN seq")
    for field in AUDIT_RECORDS.indexes:
        conn.execute(record_index_ddl(AUDIT_RECORDS, field))
    conn.execute("PRAGMA user_version = 8")
    conn.commit()
    conn.close()


def _back_to_version_7(path: Path) -> None:
    """Undo versions 10 to 8 in a database file: audit records without their sequence
    numbers (the indexes of version 7 again), and the ledger's operations and transfers
    and the usage records without scopes (empty)."""
    _back_to_version_8(path)
    conn = sqlite3.connect(path)
    for table in ("ledger_transfers", "ledger_operations", "usage_records"):
        conn.execute(f"DROP TABLE {table}")
    for statement in [*LEDGER_DDL, *USAGE_DDL]:
        if any(t in statement for t in ("ledger_operations", "ledger_transfers", "usage_")):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()


def _back_to_version_6(path: Path) -> None:
    """Undo versions 10 to 7 in a database file: no policy version, usage back in
    rec_usage."""
    _back_to_version_7(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE policy_version")
    conn.execute("DROP TABLE usage_records")
    for statement in record_table_ddl(RETIRED_COLLECTIONS["usage"]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()


def test_a_version_3_database_upgrades(tmp_path: Path) -> None:
    """Version 4 runs nothing on SQLite (its statements are PostgreSQL's), version 5 adds
    the status history, version 6 the invoiced accounts, version 7 the policy version
    and the usage table, version 8 the scoped keys, version 9 the audit records'
    sequence, version 10 the API key uses, version 12 the thresholds and version 13 the
    wider usage totals index: a version 3 file gets them all and keeps its data."""
    path = tmp_path / "v3.db"
    first = SqliteStore(path)
    Subacct(first).accounts.create_master("Kept", account_id="m1", by=SYSTEM)
    first.close()
    _back_to_version_6(path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE rec_status_history")
    conn.execute("DROP TABLE rec_invoiced_accounts")
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    second = SqliteStore(path)
    assert second.schema_version() == len(MIGRATIONS) == 17
    app = Subacct(second)
    assert app.accounts.get("m1", by=SYSTEM).name == "Kept"
    assert [r.action for r in app.audit.records("m1", by=SYSTEM)] == ["accounts.create_master"]
    second.close()


def test_version_7_moves_the_usage_records_into_their_table(tmp_path: Path) -> None:
    """Usage records of a version 6 file (JSON in rec_usage) come out of the usage
    repository exactly, totals included, and rec_usage is gone."""
    path = tmp_path / "v6.db"
    SqliteStore(path).close()
    _back_to_version_6(path)
    jan = BillingPeriod(2026, 1)
    kept = [
        UsageRecord("a1", jan, "sms", 10**15, "k1", label="news"),
        UsageRecord("a1", jan, "email", 7, "k2"),
    ]
    retired = RETIRED_COLLECTIONS["usage"]
    conn = sqlite3.connect(path)
    for record in kept:
        conn.execute(
            "INSERT INTO rec_usage (k, body, i_account_id, i_period) VALUES (?, ?, ?, ?)",
            (retired.key_of(record), dump_record(retired, record), "a1", str(jan)),
        )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    with store.unit_of_work() as uow:
        assert uow.usage.for_period(jan) == kept
        assert uow.usage.totals(jan) == {"a1": 10**15 + 7}
        tables = uow.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    assert "rec_usage" not in {t[0] for t in tables}
    store.close()


def test_version_8_scopes_the_keys_stored_before(tmp_path: Path) -> None:
    """A version 7 file with a top-up, usage and a quota reservation, each under a key
    of its time: after the upgrade a retry of each is still answered (the ledger's old
    keys stay ledger-wide, usage and reservations become their account's own)."""
    path = tmp_path / "v7.db"
    store = SqliteStore(path)
    app = Subacct(store, Settings(clock=FixedClock(DEMO_TIME), currency="EUR"))
    app.accounts.create_master("M", account_id="m", by=SYSTEM)
    app.accounts.create_master("Other", account_id="o", by=SYSTEM)
    for owner in ("m", "o"):
        app.credits.open_wallet(Wallet(owner), by=SYSTEM)
    store.close()
    _back_to_version_7(path)
    jan = BillingPeriod(2026, 1)
    at = DEMO_TIME.isoformat(timespec="microseconds")
    reserved = QuotaReservation(jan, "send-1", "m", 40)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO ledger_operations VALUES ('EUR', 'buy', 'top_up', ?, '[]')",
        (TopUp(account_id="m", amount=Money(10, "EUR"), key="buy", at=DEMO_TIME).fingerprint(),),
    )
    conn.execute(
        "INSERT INTO ledger_transfers VALUES "
        "('EUR', 'buy', 0, 1, 'top_up', 'external:m', 'wallet:m', '10', ?, '')",
        (at,),
    )
    conn.executemany(
        "INSERT INTO ledger_balances VALUES ('EUR', ?, ?, 1)",
        [("wallet:m", "10"), ("external:m", "-10")],
    )
    conn.execute("INSERT INTO usage_records VALUES ('2026-01', 'u1', 'm', 'sms', 5, NULL)")
    # two sends whose keys of version 8 would meet halfway through a row-by-row re-key:
    # o's key "m/x" becomes "o/m/x", while m's "x" becomes "m/x"
    crossing = [QuotaReservation(jan, "x", "m", 3), QuotaReservation(jan, "m/x", "o", 2)]
    for old in [reserved, *crossing]:
        conn.execute(
            "INSERT INTO rec_quota_reservations (k, body) VALUES (?, ?)",
            (f"{jan}/{old.key}", dump_record(QUOTA_RESERVATIONS, old)),
        )
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    app = Subacct(store, Settings(clock=FixedClock(DEMO_TIME), currency="EUR"))
    buy = TopUp(account_id="m", amount=Money(10, "EUR"), key="buy", at=DEMO_TIME)
    assert app.credits.execute(buy, by=SYSTEM).replayed  # a retry after the upgrade
    with pytest.raises(IdempotencyConflict):  # an old key stays ledger-wide
        app.credits.execute(attrs.evolve(buy, account_id="o"), by=SYSTEM)
    fresh = TopUp(account_id="o", amount=Money(3, "EUR"), key="buy2", at=DEMO_TIME)
    assert app.credits.execute(fresh, by=SYSTEM).scope == "o"
    assert app.credits.balance("wallet:m", by=SYSTEM) == Money(10, "EUR")
    again = UsageRecord("m", jan, "sms", 5, "u1")
    assert app.billing.record_usage([again, UsageRecord("o", jan, "sms", 2, "u1")], by=SYSTEM) == 1
    assert app.billing.release_send("m", jan, "send-1", by=SYSTEM) == reserved
    assert app.billing.release_send("o", jan, "m/x", by=SYSTEM) == crossing[1]
    assert app.billing.release_send("m", jan, "x", by=SYSTEM) == crossing[0]
    with store.unit_of_work() as uow:
        assert uow.usage.totals(jan) == {"m": 5, "o": 2}
        assert uow.records(QUOTA_RESERVATIONS).all() == []
    store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StorageError, match="newer than this library"):
        SqliteStore(path)


def test_foreign_keys_guard_the_database_itself(store: SqliteStore) -> None:
    with store.unit_of_work() as uow, pytest.raises(sqlite3.IntegrityError):
        uow.connection.execute(
            "INSERT INTO memberships VALUES ('ghost', 'ghost', 'r', '2026-01-01', 1)"
        )


BAD_CALLS: list[Callable[[Subacct], object]] = [
    lambda s: s.accounts.create_master(" ", by=SYSTEM),
    lambda s: s.members.create_user(" Owner@AgencyDemo.example ", "Duplicate", by=SYSTEM),
    lambda s: s.accounts.create_sub("nope", "X", by=SYSTEM),
    lambda s: s.accounts.attach("agencydemo", "agency1", by=SYSTEM),
    lambda s: s.accounts.create_sub("agency1", "Too deep", by=SYSTEM),
    lambda s: s.accounts.resume("agency1", by=SYSTEM),
    lambda s: s.accounts.attach("agency1", "agency2", by=SYSTEM),
    lambda s: s.accounts.close("agencydemo", by=SYSTEM),
    lambda s: s.accounts.move("agency2", "ghost", by=SYSTEM),
    lambda s: s.members.remove("u_owner", "agency1", by=SYSTEM),
]


@pytest.mark.parametrize("bad_call", BAD_CALLS)
def test_refused_operation_leaves_database_byte_for_byte_unchanged(
    tmp_path: Path, bad_call: Callable[[Subacct], object]
) -> None:
    path = tmp_path / "demo.db"
    store = SqliteStore(path)
    build_demo(Subacct(store, Settings(clock=FixedClock(DEMO_TIME))))
    store.close()  # checkpoint WAL into the main file
    before_bytes = path.read_bytes()
    store = SqliteStore(path)
    svc = Subacct(store, Settings(clock=FixedClock(DEMO_TIME)))
    before_dump = store.dump()
    with pytest.raises(SubacctError):
        bad_call(svc)
    assert store.dump() == before_dump
    store.close()
    assert path.read_bytes() == before_bytes


@pytest.mark.parametrize("path", [None, 5, "", b"x.db"])
def test_a_path_that_is_not_a_path_is_refused_and_creates_nothing(
    path: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SubacctError) as info:
        SqliteStore(path)  # type: ignore[arg-type]
    assert (info.value.code, info.value.details["field"]) == ("invalid_input", "path")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_or_a_file_that_is_no_database_is_a_storage_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(StorageError) as missing:
        SqliteStore(tmp_path / "nowhere" / "x.db")
    assert missing.value.details["path"].endswith("x.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database " * 100)
    with pytest.raises(StorageError):
        SqliteStore(garbage)
    assert garbage.read_bytes() == b"not a database " * 100  # left as it was


def test_a_fixed_clock_needs_an_aware_datetime_and_a_timedelta() -> None:
    from datetime import datetime

    for start in (None, "2026-01-01", datetime(2026, 1, 1)):
        with pytest.raises(SubacctError):
            FixedClock(start)  # type: ignore[arg-type]
    clock = FixedClock(DEMO_TIME)
    with pytest.raises(SubacctError):
        clock.advance(5)  # type: ignore[arg-type]
    assert clock.now() == DEMO_TIME


def test_a_read_only_unit_refuses_a_snapshot_of_another_policy_version(tmp_path: Path) -> None:
    """A read-only unit reads the policy version on its own; if a policy write commits
    before its next read begins the transaction, that read raises
    ``ConcurrentModification`` (``Subacct`` runs the call again), so nothing it reads
    can be of another version than the one it read."""
    reader, writer = SqliteStore(tmp_path / "v.db"), SqliteStore(tmp_path / "v.db")
    with reader.unit_of_work(read_only=True) as uow:
        seen = uow.policy_version()
        assert uow.accounts.all() == []  # the same version: the read goes on
    with reader.unit_of_work(read_only=True) as uow:
        assert uow.policy_version() == seen
        Subacct(writer).accounts.create_master("M", account_id="m", by=SYSTEM)
        with pytest.raises(ConcurrentModification):
            uow.accounts.all()
    app = Subacct(reader)
    assert [a.id for a in app.accounts.tree(by=SYSTEM)] == ["m"]
    reader.close()
    writer.close()


def test_batches_fit_the_999_parameters_of_older_sqlite(tmp_path: Path) -> None:
    """SQLite before 3.32 binds at most 999 parameters per statement: the multi-row
    inserts and IN lists stay under that."""
    from subacct.domain import UserId
    from subacct.domain.events import EventId, ShareRevoked
    from subacct.domain.events._base import EventMeta
    from subacct.policy import SEND_MESSAGES, Decision, Reason, Scope, audit_record

    store = SqliteStore(tmp_path / "old.db")
    jan = BillingPeriod(2026, 1)
    with store.unit_of_work() as uow:
        uow.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        records = [UsageRecord("a1", jan, "sms", 1, f"k{n}") for n in range(2000)]
        uow.usage.add(records)
        keys = [(r.account_id, r.idempotency_key) for r in records]
        assert len(uow.usage.find(jan, keys)) == 2000
        assert uow.usage.totals(jan, [AccountId(f"a{n}") for n in range(1500)]) == {"a1": 2000}
        meta = [EventMeta(EventId(f"ev{n}"), DEMO_TIME, None) for n in range(600)]
        uow.events.append_many(
            [ShareRevoked(**m.about("a1"), share_id="s", resource_id="r") for m in meta]
        )
        allowed = Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL, role_id="sub_admin")
        audits = [
            audit_record(f"aud{n}", DEMO_TIME, UserId("u"), SEND_MESSAGES, "a1", allowed)
            for n in range(600)
        ]
        uow.records(AUDIT_RECORDS).add_many(audits)  # numbered, several statements
        uow.commit()
    with store.unit_of_work(read_only=True) as uow:
        assert len(uow.events.since(0)) == 600
        assert uow.records(AUDIT_RECORDS).list_by("account_id", "a1") == audits
    store.close()


def test_a_read_only_unit_does_not_nest_either(store: SqliteStore) -> None:
    with store.unit_of_work(read_only=True):
        with pytest.raises(StorageError):
            store.unit_of_work(read_only=True).__enter__()
        with pytest.raises(StorageError):
            store.unit_of_work().__enter__()
    with store.unit_of_work() as uow:  # the store is usable again
        assert uow.accounts.all() == []


def test_numbering_an_audit_record_reads_the_index_end_not_the_whole_table(
    store: SqliteStore,
) -> None:
    """The number of a new audit record comes from the end of the index on seq: a plan
    that scans the table (or its index) would make every insert slower as the log grows."""
    from subacct.storage.collections import AUDIT_RECORDS as AUDIT
    from subacct.storage.sql import SqlRecords

    with store.unit_of_work() as uow:
        sql, params = SqlRecords(uow, AUDIT)._insert([("k", "{}", "a", None, None)], "")
        plan = [row[3] for row in uow.connection.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    assert any(step.startswith("SEARCH rec_audit_records") for step in plan), plan
    assert not any(step.startswith("SCAN rec_audit_records") for step in plan), plan


def test_finding_usage_keys_looks_each_up_in_the_primary_key(store: SqliteStore) -> None:
    """A batch's stored keys are looked up pair by pair in the primary key (period,
    account, key): a plan that reads the whole period would make every batch slower as
    the month fills."""
    from subacct.storage.sql import SqlUsage

    found: list[str] = []
    with store.unit_of_work() as uow:
        conn = uow.connection
        conn.set_trace_callback(found.append)
        SqlUsage(uow).find(BillingPeriod(2026, 1), [(AccountId("a"), "k1"), (AccountId("b"), "k2")])
        conn.set_trace_callback(None)
        (sql,) = [s for s in found if s.startswith("SELECT")]
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    assert any("(period=? AND account_id=? AND idempotency_key=?)" in step for step in plan), plan


def test_report_totals_are_read_from_the_totals_index_alone(store: SqliteStore) -> None:
    """The sums a report reads (per account, channel, dimensions, label and owner) come
    from the covering totals index in its order: no table read, no sort."""
    from subacct.storage.sql import SqlUsage

    for accounts in (None, [AccountId("a"), AccountId("b")]):
        found: list[str] = []
        with store.unit_of_work() as uow:
            conn = uow.connection
            conn.set_trace_callback(found.append)
            SqlUsage(uow).report_totals(BillingPeriod(2026, 1), accounts)
            conn.set_trace_callback(None)
            (sql,) = [s for s in found if s.startswith("SELECT")]
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert any("USING COVERING INDEX usage_records_totals" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan


def test_a_replay_reads_its_operation_by_the_primary_keys(store: SqliteStore) -> None:
    """Answering a retried key reads its operation and its transfers by their primary
    keys, never the ledger's whole log (ordered by seq, SQLite would scan it)."""
    from subacct.pricing.ledger import allow_all
    from subacct.storage.ledger_writes import plan_and_write

    buy = TopUp(account_id="m", amount=Money(5, "EUR"), key="t1", at=DEMO_TIME)
    with store.unit_of_work() as uow:
        uow.ledger("EUR").put_wallet(Wallet("m"))
        plan_and_write(uow.ledger("EUR"), buy, allow_all)
        uow.commit()
    seen: list[str] = []
    with store.unit_of_work() as uow:
        uow.connection.set_trace_callback(seen.append)
        assert plan_and_write(uow.ledger("EUR"), buy, allow_all).replayed
        uow.connection.set_trace_callback(None)
        reads = [s for s in seen if "FROM ledger_operations" in s or "FROM ledger_transfers" in s]
        plans = [
            row[3] for sql in reads for row in uow.connection.execute(f"EXPLAIN QUERY PLAN {sql}")
        ]
    assert len(reads) == 2, reads
    assert all(step.startswith("SEARCH") and "scope=? AND op_key=?" in step for step in plans)
    assert not any("TEMP B-TREE" in step for step in plans), plans
