"""The application path against floors written in a few lines (issue 12).

    pip install -e '.[test,bench]'
    python bench/app_bench.py            # the sizes below, under 10 minutes on 2 cores
    python bench/app_bench.py --quick    # small sizes, about a minute

The last line printed is one JSON object. Every contender runs next to its floor in the
same run, on the same machine and the same durability settings (SQLite: WAL,
``synchronous=NORMAL``); figures are ratios. Each phase runs in a fresh process, so its
``*_peak_rss_mb`` is its own.

* ``check``: one master, ``--subs`` (1,000) sub-accounts with 4 users each (a sub
  administrator, an advanced user, a basic user, and a user of a custom role), 3 parent
  administrators, 2 custom roles, ceilings on 5% of the subs, all made through the app
  in a SQLite file. The same ``--checks`` (20,000) mixed checks run through
  ``Subacct.policy.check(..., by=user)`` (a unit of work each: the policy version read,
  the principal, the decision) and through ``PolicyIndex.check`` on an index of the whole
  world, alternated three times. ``check_app_sqlite_us`` is the best warm pass (policy
  cache filled), ``check_app_sqlite_cold_us`` the first pass (every pair new to the
  cache); ``check_mismatches`` counts checks where the two disagree.
* ``billing``: ``--masters`` (1,000) masters with ``--subs-per-master`` (100) subs each
  (100,000 accounts), each master a payer on one plan ladder, made through the app in a
  SQLite file; ``--records`` (1,000,000) usage records recorded through
  ``Subacct.billing.record_usage`` in batches of ``--batch`` (5,000), each of one
  master's tree (``usage_ingest_per_s``), in January. ``billing_month_s``: issuing every
  master's January invoice through ``Subacct.billing.finalize_invoice`` (one unit of work
  each) in February; ``billing_preview_s``: previewing them first. The floor reads the
  same usage rows with one SQL query (joined to each account's master, streamed) and
  prices them in plain Python: sum per payer, ``bisect`` on the ladder, ``Decimal``
  overage. ``billing_growth``: February, with 10x the records on the same accounts,
  issued in March, over January's time (``billing_growth_floor``: the same for the
  floor). ``billing_peak_rss_mb``: the phase process's peak memory (the floor streams
  its rows, so the peak is the app's).
* ``ledger_sqlite``: ``--ledger-ops`` (20,000) random distribute / spend / reclaim
  operations (``ledger_bench.workload``) through ``Subacct.credits.execute(..., by=SYSTEM)``
  on a SQLite file, against a raw ``sqlite3`` transaction per operation doing the same
  double-entry write: a guarded debit ``UPDATE``, the credit ``UPDATE``, an ``INSERT``
  into a transfer log. A second floor, ``same_rows_floor``, writes in raw ``sqlite3`` the
  rows the app writes (idempotency row, balances, transfer, event, audit record) in the
  app's own schema: ``ledger_sqlite_same_rows_floor_ratio`` is what those rows cost
  over the bare floor, ``ledger_sqlite_ratio_to_same_rows`` the app over them.
* ``ledger_pg``: the same through the app with 1 and with 8 processes (``--pg-ops`` each)
  on one PostgreSQL database (a throwaway cluster), against 8 raw ``psycopg`` clients
  calling one plpgsql function per transfer (autocommit: one round trip; it locks both
  balances in account order, then the guarded debit, the credit and the log insert). A
  second floor, ``PG_ROWS_DDL``, is one plpgsql function writing the rows the app writes
  in its own schema (``ledger_pg_same_rows_floor_ratio``, ``ledger_pg_ratio_to_same_rows``).
* ``memory``: usage recorded through the app over ``MemoryStore``, 20,000 records then
  200,000 (batches of 100, on 10 trees of 101 accounts); ``memory_store_growth`` is the
  ratio of the times, ``memory_store_growth_gc_off`` the same with Python's garbage
  collector off (its full passes walk the whole growing heap at a steady rate, so they
  grow with it). The floor, ``memory_floor``, is plain Python keeping in dicts, sets and
  a list what the app keeps per record and per account of a batch
  (``memory_store_floor_growth``, ``memory_store_floor_growth_gc_off``).

``lost_updates`` and ``conservation_violations`` sum the checks of every ledger phase
(``ledger_bench.check``: stored balances against a replay of the transfer log, against
what callers were acknowledged, balances summing to zero and above their floors).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import multiprocessing
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import ledger_bench as lb
from _machine import machine
from subacct import SYSTEM, FixedClock, SequentialIds, Settings, Subacct
from subacct.money import Money
from subacct.policy import (
    DEFAULT_CATALOG,
    SEND_MESSAGES,
    VIEW_INBOX,
    VIEW_REPORTS,
    Ceiling,
    Grant,
    Role,
)
from subacct.pricing import DEFAULT_CHANNELS, BillingPeriod, Plan, PlanLadder, UsageRecord
from subacct.pricing.ledger import LedgerRequest, Receipt
from subacct.storage.memory import MemoryStore
from subacct.storage.sqlite import SqliteStore

PERIOD = JAN = BillingPeriod(2026, 1)
FEB = BillingPeriod(2026, 2)
NOW = datetime(2026, 1, 20, tzinfo=UTC)
ACTIONS = sorted(DEFAULT_CATALOG.names)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def in_process(
    phase: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    """Run ``phase`` in a fresh process (its own peak memory), return its figures."""
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    process = spawn.Process(target=_child, args=(phase.__name__, args, queue))
    process.start()
    figures = queue.get()
    process.join()
    if "error" in figures:
        raise RuntimeError(f"{phase.__name__} failed: {figures['error']}")
    return figures  # type: ignore[no-any-return]


def _child(name: str, args: argparse.Namespace, queue: Any) -> None:
    try:
        queue.put(globals()[name](args))
    except BaseException as exc:  # reported to the parent, which stops
        import traceback

        queue.put({"error": f"{exc!r}\n{traceback.format_exc()}"})


def app_over(store: Any) -> Subacct:
    return Subacct(store, Settings(clock=FixedClock(NOW), ids=SequentialIds()))


# -- checks -------------------------------------------------------------------------------

CUSTOM = (
    Role("clerk", "Clerk", (Grant(SEND_MESSAGES), Grant(VIEW_INBOX))),
    Role("analyst", "Analyst", (Grant(VIEW_REPORTS),)),
)
SUB_ROLES = ("sub_admin", "advanced_user", "basic_user", "clerk")


def check_world(
    app: Subacct, rng: random.Random, subs: int
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """The world through the app; returns the subs, (user, home sub) pairs, master staff."""
    for role in CUSTOM:
        app.policy.define_role(role, by=SYSTEM)
    app.accounts.create_master("Master", account_id="m", by=SYSTEM)
    staff = []
    for k, role in enumerate(("parent_admin",) * 3 + ("analyst", "basic_user")):
        user = f"staff{k}"
        app.members.create_user(f"{user}@m.test", user, user_id=user, by=SYSTEM)
        app.members.add(user, "m", role, by=SYSTEM)
        staff.append(user)
    names = [f"s{i:05d}" for i in range(subs)]
    people = []
    for sub in names:
        app.accounts.create_sub("m", sub, account_id=sub, by=SYSTEM)
        for j, role in enumerate(SUB_ROLES):
            user = f"{sub}u{j}"
            app.members.create_user(f"{user}@x.test", user, user_id=user, by=SYSTEM)
            app.members.add(user, sub, role, by=SYSTEM)
            people.append((user, sub))
        if rng.random() < 0.05:
            app.policy.set_ceiling(Ceiling(sub, "m", [SEND_MESSAGES, VIEW_REPORTS]), by="staff0")
    return names, people, staff


def make_checks(
    rng: random.Random, subs: list[str], people: list[tuple[str, str]], staff: list[str], n: int
) -> list[tuple[str, str, str]]:
    checks = []
    for _ in range(n):
        roll = rng.random()
        user, home = rng.choice(people)
        if roll < 0.40:
            checks.append((user, rng.choice(ACTIONS), home))
        elif roll < 0.55:
            checks.append((user, rng.choice(ACTIONS), rng.choice(subs)))
        elif roll < 0.60:
            checks.append((user, rng.choice(ACTIONS), "m"))
        elif roll < 0.90:
            checks.append((rng.choice(staff[:3]), rng.choice(ACTIONS), rng.choice(subs)))
        else:
            checks.append((rng.choice(staff), rng.choice(ACTIONS), rng.choice([*subs[:10], "m"])))
    return checks


def run_check(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "check.db")
        app = app_over(store)
        subs, people, staff = check_world(app, rng, args.subs)
        checks = make_checks(rng, subs, people, staff, args.checks)
        index = app.policy.index(by=SYSTEM)

        def through_index() -> list[bool]:
            return [index.check(u, a, s).allowed for u, a, s in checks]

        def through_app() -> list[bool]:
            check = app.policy.check
            return [check(a, s, by=u).allowed for u, a, s in checks]

        app_times, index_times = [], []
        answers: list[bool] = []
        for _ in range(3):
            gc.collect()
            started = time.perf_counter()
            answers = through_app()
            app_times.append(time.perf_counter() - started)
            gc.collect()
            started = time.perf_counter()
            expected = through_index()
            index_times.append(time.perf_counter() - started)
        store.close()
    n = len(checks)
    app_us = min(app_times[1:]) / n * 1e6
    index_us = min(index_times) / n * 1e6
    return {
        "check_app_sqlite_us": round(app_us, 2),
        "check_app_sqlite_cold_us": round(app_times[0] / n * 1e6, 2),
        "check_index_us": round(index_us, 3),
        "check_ratio": round(app_us / index_us, 1),
        "check_mismatches": sum(a != b for a, b in zip(answers, expected, strict=True)),
        "check_allowed_share": round(sum(expected) / n, 2),
        "checks": n,
        "check_accounts": len(subs) + 1,
        "check_users": len(people) + len(staff),
    }


# -- billing ------------------------------------------------------------------------------

LADDER_PLANS = [(2_500, 15), (8_500, 45), (12_000, 60), (18_000, 90), (30_000, 135), (45_000, 190)]
OVERAGE = Decimal("0.004")


def ladder() -> PlanLadder:
    return PlanLadder(
        [Plan(f"{n:,}", n, Money(price, "USD")) for n, price in LADDER_PLANS],
        overage_unit_price=str(OVERAGE),
    )


def billing_world(app: Subacct, masters: int, subs: int) -> list[str]:
    price = ladder()
    tops = []
    for m in range(masters):
        master = f"m{m:04d}"
        app.accounts.create_master(master, account_id=master, by=SYSTEM)
        app.billing.set_profile(master, price, by=SYSTEM)
        for s in range(subs):
            app.accounts.create_sub(
                master, f"{master}s{s:03d}", account_id=f"{master}s{s:03d}", by=SYSTEM
            )
        tops.append(master)
    return tops


def batches(
    rng: random.Random,
    trees: Sequence[Sequence[str]],
    period: BillingPeriod,
    count: int,
    start: int,
    batch: int,
) -> Iterator[list[UsageRecord]]:
    """``count`` usage records in batches, tree by tree (a host flushes each tenant's
    usage: every batch holds records of one master's tree, on random accounts of it),
    keys numbered from ``start``."""
    channels = list(DEFAULT_CHANNELS)
    each = count // len(trees)
    serial = start
    for tree in trees:
        n = len(tree)
        for first in range(0, each, batch):
            size = min(batch, each - first)
            yield [
                UsageRecord(
                    tree[rng.randrange(n)],
                    period,
                    channels[i % 3],
                    rng.randrange(1, 40),
                    f"send-{i}",
                )
                for i in range(serial, serial + size)
            ]
            serial += size


def ingest(app: Subacct, records: Iterable[list[UsageRecord]]) -> float:
    """Record each batch of ``records`` through the app; the seconds it took."""
    began = time.perf_counter()
    for batch in records:
        app.billing.record_usage(batch, by=SYSTEM)
    return time.perf_counter() - began


def billing_floor(path: Path, period: BillingPeriod) -> dict[str, Decimal]:
    """One SQL query for the month's usage rows (streamed), priced in plain Python."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    rows = conn.execute(
        "SELECT coalesce(a.parent_id, a.id), u.quantity FROM usage_records u "
        "JOIN accounts a ON a.id = u.account_id WHERE u.period = ?",
        (str(period),),
    )
    volume: dict[str, int] = {}
    for payer, quantity in rows:
        volume[payer] = volume.get(payer, 0) + quantity
    conn.close()
    sizes = [n for n, _ in LADDER_PLANS]
    bills = {}
    for payer, used in volume.items():
        at = bisect.bisect_left(sizes, used)
        if at < len(sizes):
            bills[payer] = Decimal(LADDER_PLANS[at][1])
        else:
            bills[payer] = Decimal(LADDER_PLANS[-1][1]) + (used - sizes[-1]) * OVERAGE
    return bills


def month_through_app(
    app: Subacct, masters: Sequence[str], period: BillingPeriod, issue: bool
) -> dict[str, Decimal]:
    totals = {}
    for master in masters:
        if issue:
            invoice = app.billing.finalize_invoice(master, period, by=SYSTEM)
        else:
            (invoice,) = app.billing.preview_invoices(master, period, by=SYSTEM)
        totals[master] = invoice.total.amount
    return totals


def timed(run: Callable[[], Any]) -> tuple[Any, float]:
    gc.collect()
    began = time.perf_counter()
    result = run()
    return result, time.perf_counter() - began


def run_billing(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = Path(tmp) / "billing.db"
        store = SqliteStore(path)
        app = Subacct(store, Settings(clock=clock, ids=SequentialIds()))
        began = time.perf_counter()
        masters = billing_world(app, args.masters, args.subs_per_master)
        world_s = time.perf_counter() - began
        with store.unit_of_work(read_only=True) as uow:
            accounts = [a.id for a in uow.accounts.all()]
            trees = [[m, *(a.id for a in uow.accounts.descendants(m))] for m in masters]
        clock.advance(timedelta(days=19))  # January 20th
        ingest_s = ingest(app, batches(rng, trees, JAN, args.records, 0, args.batch))
        clock.advance(timedelta(days=31))  # February 20th: January is billed
        preview, preview_s = timed(lambda: month_through_app(app, masters, JAN, False))
        floor, floor_s = timed(lambda: billing_floor(path, JAN))
        issued, issue_s = timed(lambda: month_through_app(app, masters, JAN, True))
        floor_again, floor_again_s = timed(lambda: billing_floor(path, JAN))
        month_floor = min(floor_s, floor_again_s)
        app_rss = peak_rss_mb()
        pairs = [(preview, floor), (issued, floor_again)]
        figures: dict[str, Any] = {}
        if args.growth:  # February: 10x the records, on the same accounts
            more_s = ingest(
                app, batches(rng, trees, FEB, args.records * 10, args.records, args.batch)
            )
            clock.advance(timedelta(days=28))  # March 20th
            grown_floor, grown_floor_s = timed(lambda: billing_floor(path, FEB))
            grown, grown_s = timed(lambda: month_through_app(app, masters, FEB, True))
            pairs.append((grown, grown_floor))
            figures = {
                "billing_growth_records": args.records * 10,
                "billing_growth": round(grown_s / issue_s, 2),
                "billing_growth_floor": round(grown_floor_s / month_floor, 2),
                "billing_growth_month_s": round(grown_s, 2),
                "usage_ingest_10x_per_s": round(args.records * 10 / more_s),
            }
            app_rss = peak_rss_mb()
        store.close()
    # totals within a cent per invoice line (the invoice rounds each sub's pro rata share)
    cents = Decimal("0.01") * (args.subs_per_master + 1)
    mismatched = sum(abs(got[m] - want[m]) > cents for got, want in pairs for m in masters)
    return {
        "billing_accounts": len(accounts),
        "billing_records": args.records,
        "billing_month_s": round(issue_s, 2),
        "billing_floor_s": round(month_floor, 2),
        "billing_ratio": round(issue_s / month_floor, 1),
        "billing_preview_s": round(preview_s, 2),
        "billing_preview_ratio": round(preview_s / month_floor, 1),
        **figures,
        "billing_peak_rss_mb": app_rss,
        "billing_mismatches": mismatched,
        "billing_world_s": round(world_s, 1),
        "usage_ingest_per_s": round(args.records / ingest_s),
    }


# -- ledger, SQLite -------------------------------------------------------------------------

FLOOR_DDL = [
    "CREATE TABLE balances (account TEXT PRIMARY KEY, amount INTEGER NOT NULL)",
    "CREATE TABLE transfers (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, "
    "source TEXT, destination TEXT, amount INTEGER, at TEXT)",
]


def floor_moves(requests: Sequence[LedgerRequest]) -> list[tuple[str, str, str, int, str]]:
    """Each request as one move (key, from, to, amount in thousandths) for the floors: a
    reclaim of everything takes a fixed part."""
    moves = []
    for r in requests:
        kind = type(r).__name__
        amount = getattr(r, "amount", None)
        milli = 5000 if amount is None else int(amount.amount * 1000)
        if kind == "Distribute":
            moves.append((r.key, f"w:{lb.MASTER}", f"w:{r.sub_id}", milli, r.at.isoformat()))
        elif kind == "Spend":
            moves.append((r.key, f"w:{r.account_id}", "spent", milli, r.at.isoformat()))
        else:
            moves.append((r.key, f"w:{r.sub_id}", f"w:{lb.MASTER}", milli, r.at.isoformat()))
    return moves


def sqlite_floor(path: Path, moves: Sequence[tuple[str, str, str, int, str]], subs: int) -> int:
    """A raw sqlite3 transaction per move; returns the transfers written."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for statement in FLOOR_DDL:
        conn.execute(statement)
    conn.execute("INSERT INTO balances VALUES (?, ?)", (f"w:{lb.MASTER}", 10**12))
    conn.executemany(
        "INSERT INTO balances VALUES (?, 0)",
        [(f"w:sub{i:03d}",) for i in range(subs)] + [("spent",)],
    )
    written = 0
    for key, source, destination, amount, at in moves:
        conn.execute("BEGIN IMMEDIATE")
        if (
            conn.execute(
                "UPDATE balances SET amount = amount - ? WHERE account = ? AND amount >= ?",
                (amount, source, amount),
            ).rowcount
            != 1
        ):
            conn.execute("ROLLBACK")
            continue
        conn.execute(
            "UPDATE balances SET amount = amount + ? WHERE account = ?", (amount, destination)
        )
        conn.execute(
            "INSERT INTO transfers (key, source, destination, amount, at) VALUES (?, ?, ?, ?, ?)",
            (key, source, destination, amount, at),
        )
        conn.execute("COMMIT")
        written += 1
    conn.close()
    return written


EVENT_BODY = '{"account_id":"%s","actor":null,"amount":{"amount":"%s","currency":"EUR"},' + (
    '"event_id":"%s","from_account_id":"%s","idempotency_key":"%s","occurred_at":"%s",'
    '"operation":"distribute","schema":1,"to_account_id":"%s","type":"credits_moved"}'
)
AUDIT_BODY = '{"account_id":"%s","acting_user_id":null,"action":"credits.top_up",' + (
    '"allowed":true,"api_key_id":null,"at":"%s","ceiling_account_id":null,"id":"%s",'
    '"impersonated_account_id":null,"impersonation_id":null,"inherited_from":null,'
    '"note":null,"principal_kind":"system","reason":"allowed_as_system","role_id":null,'
    '"schema":1,"scope":"all"}'
)


def same_rows_floor(path: Path, moves: Sequence[tuple[str, str, str, int, str]], subs: int) -> int:
    """Raw sqlite3 writing the rows the app writes per operation, in the app's own tables
    and indexes (an idempotency row, the balances compare-and-set, a transfer, an event
    and a decision's audit record), with the app's reads before them; returns the
    transfers written. What is left between this and the app is the library's Python."""
    SqliteStore(path).close()  # the app's schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    names = [f"wallet:{lb.MASTER}"] + [f"wallet:sub{i:03d}" for i in range(subs)]
    conn.executemany(
        "INSERT INTO ledger_wallets VALUES ('EUR', ?, '{}')", [(n[7:],) for n in names]
    )
    conn.executemany(
        "INSERT INTO ledger_balances VALUES ('EUR', ?, ?, 0)",
        [(n, "1000000000" if i == 0 else "0") for i, n in enumerate(names)],
    )
    balances = {n: 10**12 if i == 0 else 0 for i, n in enumerate(names)}
    written = seq = 0
    for key, source, destination, amount, at in moves:
        source, destination = source.replace("w:", "wallet:"), destination.replace("w:", "wallet:")
        if destination == "spent":
            destination = "spent:" + source[7:]
            if destination not in balances:
                conn.execute(
                    "INSERT INTO ledger_balances VALUES ('EUR', ?, '0', 0)", (destination,)
                )
                balances[destination] = 0
        owner = source[7:]
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "SELECT body FROM ledger_wallets WHERE currency = 'EUR' AND account_id = ?", (owner,)
        )
        conn.execute(
            "SELECT operation FROM ledger_operations "
            "WHERE currency = 'EUR' AND scope IN (?, '') AND op_key = ?",
            (owner, key),
        )
        got = {}
        for account in (source, destination):
            row = conn.execute(
                "SELECT balance, seq FROM ledger_balances WHERE currency = 'EUR' AND account = ?",
                (account,),
            ).fetchone()
            got[account] = row[0]
        if balances[source] < amount:
            conn.execute("ROLLBACK")
            continue
        balances[source] -= amount
        balances[destination] += amount
        seq += 1
        conn.execute(
            "INSERT INTO ledger_operations VALUES ('EUR', ?, ?, 'distribute', ?, '[]')",
            (owner, key, f"distribute|amount={amount}"),
        )
        conn.execute(
            "UPDATE ledger_balances SET balance = CASE account WHEN ? THEN ? WHEN ? THEN ? END, "
            "seq = ? WHERE currency = 'EUR' AND ((account = ? AND balance = ?) "
            "OR (account = ? AND balance = ?))",
            (
                source,
                str(balances[source]),
                destination,
                str(balances[destination]),
                seq,
                source,
                got[source],
                destination,
                got[destination],
            ),
        )
        conn.execute(
            "INSERT INTO ledger_transfers VALUES ('EUR', ?, ?, 0, ?, 'distribute', ?, ?, ?, ?, '')",
            (owner, key, seq, source, destination, str(amount), at),
        )
        (event_seq,) = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM audit_log").fetchone()
        conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?)",
            (
                event_seq,
                f"event_{seq}",
                owner,
                EVENT_BODY % (owner, amount, f"event_{seq}", owner, key, at, destination),
            ),
        )
        conn.execute(  # numbered as the library numbers it (schema version 9)
            "INSERT INTO rec_audit_records (k, body, i_account_id, seq) "
            "SELECT ?, ?, ?, coalesce(max(seq), 0) + 1 FROM rec_audit_records",
            (f"audit_{seq}", AUDIT_BODY % (owner, at, f"audit_{seq}"), owner),
        )
        conn.execute("COMMIT")
        written += 1
    conn.close()
    return written


def run_ledger_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    requests = lb.workload(random.Random(args.seed), args.ledger_ops, args.ledger_subs)
    moves = floor_moves(requests)
    app_rates, floor_rates, rows_rates, figures = [], [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(2):
            store = SqliteStore(Path(tmp) / f"app{round_}.db")
            app = lb.prepare_service(store, args.ledger_subs)
            gc.collect()
            began = time.perf_counter()
            done = lb.run_requests(
                lambda r, app=app: (app.credits.execute(r, by=SYSTEM), 0), requests
            )
            elapsed = time.perf_counter() - began
            figures = lb.store_figures(store, done["acknowledged"])
            app_rates.append(figures["transfers"] / elapsed)
            store.close()
            gc.collect()
            began = time.perf_counter()
            written = sqlite_floor(Path(tmp) / f"floor{round_}.db", moves, args.ledger_subs)
            floor_rates.append(written / (time.perf_counter() - began))
            gc.collect()
            began = time.perf_counter()
            written = same_rows_floor(Path(tmp) / f"rows{round_}.db", moves, args.ledger_subs)
            rows_rates.append(written / (time.perf_counter() - began))
    app_rate, floor_rate, rows_rate = max(app_rates), max(floor_rates), max(rows_rates)
    return {
        "ledger_sqlite_per_s": round(app_rate),
        "ledger_sqlite_floor_per_s": round(floor_rate),
        "ledger_sqlite_ratio": round(app_rate / floor_rate, 2),
        "ledger_sqlite_same_rows_floor_per_s": round(rows_rate),
        "ledger_sqlite_same_rows_floor_ratio": round(rows_rate / floor_rate, 2),
        "ledger_sqlite_ratio_to_same_rows": round(app_rate / rows_rate, 2),
        "ledger_sqlite_operations": len(requests),
        "lost_updates": figures["lost_updates"],
        "conservation_violations": figures["conservation_violations"],
    }


# -- ledger, PostgreSQL ---------------------------------------------------------------------

PG_FLOOR_DDL = [
    "CREATE TABLE floor_balances (account TEXT PRIMARY KEY, amount BIGINT NOT NULL)",
    "CREATE TABLE floor_transfers (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL UNIQUE, "
    "source TEXT, destination TEXT, amount BIGINT, at TEXT)",
    """CREATE FUNCTION floor_move(p_key TEXT, p_from TEXT, p_to TEXT, p_amount BIGINT, p_at TEXT)
    RETURNS BOOLEAN LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM floor_balances WHERE account IN (p_from, p_to)
        ORDER BY account FOR UPDATE;  -- both rows, in one global order: no deadlock
        UPDATE floor_balances SET amount = amount - p_amount
        WHERE account = p_from AND amount >= p_amount;
        IF NOT FOUND THEN RETURN FALSE; END IF;
        UPDATE floor_balances SET amount = amount + p_amount WHERE account = p_to;
        INSERT INTO floor_transfers (key, source, destination, amount, at)
        VALUES (p_key, p_from, p_to, p_amount, p_at);
        RETURN TRUE;
    END $$""",
]


PG_ROWS_DDL = """CREATE FUNCTION rows.rows_move(
    p_scope TEXT, p_key TEXT, p_from TEXT, p_to TEXT, p_amount NUMERIC, p_at TEXT,
    p_event TEXT, p_audit TEXT) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN  -- the rows a ledger call writes, in the library's schema, in one call
    SET LOCAL search_path TO rows;
    PERFORM 1 FROM ledger_balances WHERE currency = 'EUR' AND account IN (p_from, p_to)
    ORDER BY account FOR UPDATE;
    UPDATE ledger_balances SET balance = (balance::numeric - p_amount)::text, seq = seq + 1
    WHERE currency = 'EUR' AND account = p_from AND balance::numeric >= p_amount;
    IF NOT FOUND THEN RETURN FALSE; END IF;
    UPDATE ledger_balances SET balance = (balance::numeric + p_amount)::text, seq = seq + 1
    WHERE currency = 'EUR' AND account = p_to;
    INSERT INTO ledger_operations VALUES ('EUR', p_scope, p_key, 'distribute', p_key, '[]');
    INSERT INTO ledger_transfers VALUES
        ('EUR', p_scope, p_key, 0, 0, 'distribute', p_from, p_to, p_amount::text, p_at, '');
    PERFORM pg_advisory_xact_lock(5942433);  -- the event log's order, as the library's
    INSERT INTO audit_log (seq, event_id, account_id, body)
    SELECT coalesce(max(seq), 0) + 1, 'e:' || p_key, p_scope, p_event FROM audit_log;
    INSERT INTO rec_audit_records (k, body, i_account_id, seq)
    VALUES ('a:' || p_key, p_audit, p_scope, nextval('rec_audit_records_numbers'));
    RETURN TRUE;
END $$"""


def pg_rows_worker(
    conninfo: str, moves: list[tuple[str, str, str, int, str]], barrier: Any, results: Any
) -> None:
    """One ``rows_move`` call per move (autocommit: one round trip)."""
    import psycopg

    conn = psycopg.connect(conninfo, autocommit=True)
    barrier.wait()
    written = 0
    for key, source, destination, milli, at in moves:
        source = source.replace("w:", "wallet:")
        owner = source[7:]
        destination = "spent:" + owner if destination == "spent" else destination
        destination = destination.replace("w:", "wallet:")
        amount = Decimal(milli) / 1000
        event = EVENT_BODY % (owner, amount, "e:" + key, owner, key, at, destination)
        audit = AUDIT_BODY % (owner, at, "a:" + key)
        row = conn.execute(
            "SELECT rows.rows_move(%s, %s, %s, %s, %s, %s, %s, %s)",
            (owner, key, source, destination, amount, at, event, audit),
        ).fetchone()
        written += bool(row and row[0])
    conn.close()
    results.put({"written": written})


def _worker(name: str, conninfo: str, load: Any, barrier: Any, results: Any) -> None:
    """Run the worker ``name``; its failure is reported (the parent would wait forever)."""
    try:
        globals()[name](conninfo, load, barrier, results)
    except BaseException as exc:
        import traceback

        barrier.abort()
        results.put({"error": f"{exc!r}\n{traceback.format_exc()}"})


def pg_floor_worker(
    conninfo: str, moves: list[tuple[str, str, str, int, str]], barrier: Any, results: Any
) -> None:
    import psycopg

    conn = psycopg.connect(conninfo, autocommit=True)
    barrier.wait()
    written = 0
    for move in moves:
        if conn.execute("SELECT floor_move(%s, %s, %s, %s, %s)", move).fetchone()[0]:  # type: ignore[index]
            written += 1
    conn.close()
    results.put({"written": written})


def pg_app_worker(conninfo: str, load: list[LedgerRequest], barrier: Any, results: Any) -> None:
    from subacct.storage.postgres import PostgresStore

    store = PostgresStore(conninfo, schema="bench", min_size=1, max_size=1)
    app = lb.service_over(store, max_attempts=100, shared=True)

    def execute(request: LedgerRequest) -> tuple[Receipt, int]:
        return app.credits.execute(request, by=SYSTEM), 0

    barrier.wait()
    done = lb.run_requests(execute, load)
    store.close()
    results.put(done)


def processes(
    target: Callable[..., None], loads: Sequence[Any], conninfo: str
) -> tuple[list[dict[str, Any]], float]:
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(len(loads) + 1)
    queue = spawn.Queue()
    started = [
        spawn.Process(target=target, args=(conninfo, load, barrier, queue)) for load in loads
    ]
    for process in started:
        process.start()
    barrier.wait()
    began = time.perf_counter()
    results = [queue.get() for _ in started]
    elapsed = time.perf_counter() - began
    failed = [r["error"] for r in results if "error" in r]
    if failed:
        raise RuntimeError(f"a worker failed: {failed[0]}")
    for process in started:
        process.join()
    return results, elapsed


def run_ledger_pg(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from subacct.storage.postgres import PostgresStore
    from subacct.testing.pgcluster import TempCluster

    out: dict[str, Any] = {}
    lost = violations = 0
    with TempCluster(max_connections=40) as cluster:
        conninfo = cluster.conninfo()
        for workers in (1, 8):
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
            store = PostgresStore(conninfo, schema="bench")
            lb.prepare_service(store, args.ledger_subs)
            loads = [
                lb.workload(
                    random.Random(args.seed * 1000 + n), args.pg_ops, args.ledger_subs, f"p{n}"
                )
                for n in range(workers)
            ]
            results, elapsed = processes(pg_app_worker, loads, conninfo)
            told = {k: n for r in results for k, n in r["acknowledged"].items()}
            figures = lb.store_figures(store, told)
            store.close()
            lost += figures["lost_updates"]
            violations += figures["conservation_violations"]
            out[f"ledger_pg_{workers}p_per_s"] = round(figures["transfers"] / elapsed)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for statement in PG_FLOOR_DDL:
                conn.execute(statement)
            conn.execute("INSERT INTO floor_balances VALUES (%s, %s)", (f"w:{lb.MASTER}", 10**15))
            for account in [f"w:sub{i:03d}" for i in range(args.ledger_subs)] + ["spent"]:
                conn.execute("INSERT INTO floor_balances VALUES (%s, 0)", (account,))
        loads = [
            floor_moves(
                lb.workload(
                    random.Random(args.seed * 1000 + n), args.pg_ops, args.ledger_subs, f"f{n}"
                )
            )
            for n in range(8)
        ]
        results, elapsed = processes(pg_floor_worker, loads, conninfo)
        out["ledger_pg_floor_8p_per_s"] = round(sum(r["written"] for r in results) / elapsed)
        # the same moves writing the app's rows in its schema, one server call each
        PostgresStore(conninfo, schema="rows").close()
        names = [f"wallet:{lb.MASTER}"] + [f"wallet:sub{i:03d}" for i in range(args.ledger_subs)]
        names += [f"spent:sub{i:03d}" for i in range(args.ledger_subs)]
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(PG_ROWS_DDL)
            for name in names:
                start = str(10**15) if name == f"wallet:{lb.MASTER}" else "0"
                conn.execute(
                    "INSERT INTO rows.ledger_balances VALUES ('EUR', %s, %s, 0)", (name, start)
                )
        results, elapsed = processes(pg_rows_worker, loads, conninfo)
        out["ledger_pg_same_rows_floor_8p_per_s"] = round(
            sum(r["written"] for r in results) / elapsed
        )
    out["ledger_pg_ratio"] = round(out["ledger_pg_8p_per_s"] / out["ledger_pg_floor_8p_per_s"], 2)
    rows = out["ledger_pg_same_rows_floor_8p_per_s"]
    out["ledger_pg_same_rows_floor_ratio"] = round(rows / out["ledger_pg_floor_8p_per_s"], 2)
    out["ledger_pg_ratio_to_same_rows"] = round(out["ledger_pg_8p_per_s"] / rows, 2)
    out["ledger_pg_8p_over_1p"] = round(out["ledger_pg_8p_per_s"] / out["ledger_pg_1p_per_s"], 2)
    out["ledger_pg_operations_per_process"] = args.pg_ops
    out["lost_updates"] = lost
    out["conservation_violations"] = violations
    return out


# -- the memory store -----------------------------------------------------------------------


def memory_trees() -> list[list[str]]:
    return [[f"m{m}"] + [f"m{m}s{i:03d}" for i in range(100)] for m in range(10)]


def memory_ingest(count: int, seed: int) -> float:
    app = app_over(MemoryStore())
    for master, *subs in memory_trees():
        app.accounts.create_master(master, account_id=master, by=SYSTEM)
        for sub in subs:
            app.accounts.create_sub(master, sub, account_id=sub, by=SYSTEM)
    return ingest(app, batches(random.Random(seed), memory_trees(), PERIOD, count, 0, 100))


class Kept:
    """An object kept per record by the floor (the app keeps attrs instances)."""

    __slots__ = ("account", "quantity", "seq")

    def __init__(self, account: str, quantity: int, seq: int) -> None:
        self.account, self.quantity, self.seq = account, quantity, seq


def memory_floor(count: int, seed: int) -> float:
    """Plain Python keeping what the app keeps over ``MemoryStore`` per record (the record
    under its key, in its period's and its account's key sets, a running total) and per
    account of a batch (an event, its log entry, an audit record); the seconds it took."""
    usage: dict[tuple[str, str, str], UsageRecord] = {}
    by_period: dict[str, set[tuple[str, str, str]]] = {}
    by_account: dict[str, set[tuple[str, str, str]]] = {}
    totals: dict[tuple[str, str], int] = {}
    log: list[tuple[int, Kept]] = []
    audit: dict[str, Kept] = {}
    began = time.perf_counter()
    for records in batches(random.Random(seed), memory_trees(), PERIOD, count, 0, 100):
        summed: dict[str, int] = {}
        for r in records:
            key = (str(r.period), r.account_id, r.idempotency_key)
            if key in usage:
                raise AssertionError(f"{key} twice")
            usage[key] = r
            by_period.setdefault(key[0], set()).add(key)
            by_account.setdefault(r.account_id, set()).add(key)
            totals[key[:2]] = totals.get(key[:2], 0) + r.quantity
            summed[r.account_id] = summed.get(r.account_id, 0) + r.quantity
        for account, quantity in summed.items():
            log.append((len(log), Kept(account, quantity, len(log))))
            audit[f"audit_{len(audit)}"] = Kept(account, quantity, len(audit))
    return time.perf_counter() - began


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    figures = {}
    for gc_on in (True, False):  # off: without the collector's full passes over the heap
        gc.enable() if gc_on else gc.disable()
        try:
            small = memory_ingest(args.memory_records // 10, args.seed)
            large = memory_ingest(args.memory_records, args.seed)
            small_floor = memory_floor(args.memory_records // 10, args.seed)
            large_floor = memory_floor(args.memory_records, args.seed)
        finally:
            gc.enable()
        suffix = "" if gc_on else "_gc_off"
        figures[f"memory_store_growth{suffix}"] = round(large / small, 2)
        figures[f"memory_store_floor_growth{suffix}"] = round(large_floor / small_floor, 2)
        if gc_on:
            figures["memory_store_per_s"] = round(args.memory_records / large)
            figures["memory_store_peak_rss_mb"] = peak_rss_mb()
    return {"memory_store_records": args.memory_records, **figures}


PHASES = {
    "check": run_check,
    "billing": run_billing,
    "ledger_sqlite": run_ledger_sqlite,
    "ledger_pg": run_ledger_pg,
    "memory": run_memory,
}
SUMMED = ("lost_updates", "conservation_violations")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--only", action="append", choices=sorted(PHASES), help="run these phases")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--subs", type=int, default=1000, help="check: sub-accounts")
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--masters", type=int, default=1000)
    parser.add_argument("--subs-per-master", type=int, default=100)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000, help="usage records per call")
    parser.add_argument(
        "--no-growth", dest="growth", action="store_false", help="skip the 10x records run"
    )
    parser.add_argument("--ledger-ops", type=int, default=20_000)
    parser.add_argument("--ledger-subs", type=int, default=16)
    parser.add_argument("--pg-ops", type=int, default=1500, help="per process")
    parser.add_argument("--memory-records", type=int, default=200_000)
    parser.add_argument("--tmp", default=None, help="folder for the billing database")
    args = parser.parse_args(argv)
    if args.quick:
        args.subs, args.checks, args.masters, args.subs_per_master = 100, 3000, 40, 25
        args.records, args.ledger_ops, args.pg_ops, args.memory_records = 20_000, 3000, 300, 20_000
    out: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    totals = dict.fromkeys(SUMMED, 0)
    for name in args.only or list(PHASES):
        began = time.perf_counter()
        figures = in_process(PHASES[name], args)
        for key in SUMMED:
            totals[key] += figures.pop(key, 0)
        out |= figures
        out[f"{name}_phase_s"] = round(time.perf_counter() - began, 1)
        print(name, json.dumps(figures), file=sys.stderr, flush=True)
    out |= totals
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
