"""Sends through ``app.sending`` against a raw ``sqlite3`` floor, and races (issue 14).

    pip install -e '.[test,bench]'
    python bench/send_bench.py            # the sizes below, about two minutes on 2 cores
    python bench/send_bench.py --quick    # small sizes, a few seconds

The last line printed is one JSON object. On SQLite (WAL, ``synchronous=NORMAL``), in
one run, alternated three times (the best of each is reported):

* ``authorize_capture_per_s_sqlite``: ``--sends`` (3,000) sends of 1 to 5 SMS from a
  prepaid master's pooled sub-account, each ``app.sending.authorize(...)`` then
  ``app.sending.capture(...)`` by a sub administrator (two units of work: the policy
  check, the lifecycle up the tree, the quotas of both accounts, the credit held on the
  master's wallet and spent, the usage row, the events and audit records).
* ``send_floor_per_s``: the same sends in raw ``sqlite3``, one transaction each doing
  the same writes: both quota counters (guarded by the limits), the credit hold (guarded
  by the balance) and its capture, the usage row; priced in plain Python.
* ``send_ratio``: the first over the second; ``rows_written_per_send_app`` and
  ``rows_written_per_send_floor``: the rows each wrote per send (SQLite's
  ``total_changes``: inserts, updates and deletes).

The races run ``--workers`` (8) threads, then 8 processes, each with its own app over one
SQLite file, sending on one account with a quota of ``--race-quota`` (300) messages, once
with credit for twice that (the quota binds) and once for 80% of it (the credit binds),
until refused: ``over_quota_sends`` and ``over_credit_sends`` count captured sends past
the quota or the credit (in commit order), ``refused_*`` the typed refusals,
``race_consistency_errors`` stored figures that disagree (usage against the quota
counter, credit spent against the sum charged, balances below zero).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from _machine import machine
from subacct import (
    SYSTEM,
    FixedClock,
    InsufficientCredit,
    Money,
    Quota,
    QuotaExceeded,
    SetAllocation,
    Settings,
    SqliteStore,
    Subacct,
    Tier,
    TieredPrice,
    TierMode,
    TopUp,
    Wallet,
)
from subacct.pricing.ledger import Allocation, LedgerAccount
from subacct.storage.collections import QUOTA_COUNTERS

T0 = datetime(2026, 1, 20, tzinfo=UTC)
PRICE = Decimal("0.075")
SMS = TieredPrice(TierMode.GRADUATED, [Tier(None, PRICE)], "EUR")


def eur(amount: Any) -> Money:
    return Money(amount, "EUR")


def app_over(path: Path, **settings: Any) -> Subacct:
    return Subacct(SqliteStore(path, timeout=60), Settings(clock=FixedClock(T0), **settings))


def shop(path: Path, *, credit: int, quota: int) -> Subacct:
    """A prepaid master ``shop`` (SMS at 0.075 EUR) with ``credit`` on its wallet, and a
    pooled sub ``dept`` with a quota of ``quota``, administered by ``ann``."""
    app = app_over(path, currency="EUR")
    app.accounts.create_master("Shop", account_id="shop", by=SYSTEM)
    app.accounts.create_sub("shop", "Dept", account_id="dept", by=SYSTEM)
    app.members.create_user("ann@example.test", "Ann", user_id="ann", by=SYSTEM)
    app.members.add("ann", "dept", "sub_admin", by=SYSTEM)
    app.billing.set_profile("shop", SMS, prepaid=True, by=SYSTEM)
    app.billing.set_quota("dept", Quota(quota), by=SYSTEM)
    app.credits.open_wallet(Wallet("shop"), by=SYSTEM)
    app.credits.open_wallet(Wallet("dept", master_id="shop"), by=SYSTEM)
    pool = SetAllocation(sub_id="dept", allocation=Allocation.unlimited(), key="pool", at=T0)
    app.credits.execute(pool, by=SYSTEM)
    if credit:
        top_up = TopUp(account_id="shop", amount=eur(credit), key="t", at=T0)
        app.credits.execute(top_up, by=SYSTEM)
    return app


def sizes(count: int) -> list[int]:
    return [1 + (i * 7) % 5 for i in range(count)]


# -- throughput ------------------------------------------------------------------------------


def through_app(path: Path, count: int) -> tuple[float, float]:
    """Sends per second, and rows written per send."""
    app = shop(path, credit=10**6, quota=10**9)
    store: Any = app.store
    written = store._connection().total_changes  # this thread's connection
    gc.collect()
    began = time.perf_counter()
    for i, n in enumerate(sizes(count)):
        hold = app.sending.authorize("dept", "sms", n, key=f"s{i}", by="ann")
        app.sending.capture(hold, n if i % 10 else n - 1, by="ann")
    elapsed = time.perf_counter() - began
    rows = (store._connection().total_changes - written) / count
    store.close()
    return count / elapsed, rows


FLOOR_DDL = [
    "CREATE TABLE counters (account TEXT PRIMARY KEY, used INTEGER NOT NULL, lim INTEGER NOT NULL)",
    "CREATE TABLE balances (account TEXT PRIMARY KEY, amount TEXT NOT NULL)",
    "CREATE TABLE holds (k TEXT PRIMARY KEY, account TEXT, quantity INTEGER, amount TEXT, "
    "status TEXT, delivered INTEGER)",
    "CREATE TABLE usage (account TEXT, k TEXT, quantity INTEGER, PRIMARY KEY (account, k))",
]


def floor(path: Path, count: int) -> tuple[float, float]:
    """One raw transaction per send: both counters, the hold and its capture, the usage."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for statement in FLOOR_DDL:
        conn.execute(statement)
    conn.executemany("INSERT INTO counters VALUES (?, 0, ?)", [("dept", 10**9), ("shop", 10**9)])
    conn.executemany(
        "INSERT INTO balances VALUES (?, ?)",
        [("wallet:shop", "1000000"), ("reserved:dept", "0"), ("spent:dept", "0")],
    )
    written = conn.total_changes
    gc.collect()
    began = time.perf_counter()
    for i, n in enumerate(sizes(count)):
        done = n if i % 10 else n - 1
        held, charged = PRICE * n, PRICE * done
        conn.execute("BEGIN IMMEDIATE")
        counted = conn.execute(
            "UPDATE counters SET used = used + ? WHERE account IN ('dept', 'shop') "
            "AND used + ? <= lim",
            (n, n),
        ).rowcount
        (wallet,) = conn.execute(
            "SELECT amount FROM balances WHERE account = 'wallet:shop'"
        ).fetchone()
        if counted != 2 or Decimal(wallet) < held:
            conn.execute("ROLLBACK")
            continue
        key = f"s{i}"
        conn.execute(
            "UPDATE balances SET amount = ? WHERE account = 'wallet:shop'",
            (str(Decimal(wallet) - charged),),
        )
        conn.execute(
            "INSERT INTO holds VALUES (?, 'dept', ?, ?, 'held', NULL)", (key, n, str(held))
        )
        (spent,) = conn.execute(
            "SELECT amount FROM balances WHERE account = 'spent:dept'"
        ).fetchone()
        conn.execute(
            "UPDATE balances SET amount = ? WHERE account = 'spent:dept'",
            (str(Decimal(spent) + charged),),
        )
        conn.execute(
            "UPDATE counters SET used = used - ? WHERE account IN ('dept', 'shop')", (n - done,)
        )
        conn.execute("INSERT INTO usage VALUES ('dept', ?, ?)", (key, done))
        conn.execute("UPDATE holds SET status = 'captured', delivered = ? WHERE k = ?", (done, key))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    rows = (conn.total_changes - written) / count
    conn.close()
    return count / elapsed, rows


def run_throughput(args: argparse.Namespace) -> dict[str, Any]:
    app_rates, floor_rates, app_rows, floor_rows = [], [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(3):
            rate, app_rows = through_app(Path(tmp) / f"app{round_}.db", args.sends)
            app_rates.append(rate)
            rate, floor_rows = floor(Path(tmp) / f"floor{round_}.db", args.sends)
            floor_rates.append(rate)
    best_app, best_floor = max(app_rates), max(floor_rates)
    return {
        "sends": args.sends,
        "authorize_capture_per_s_sqlite": round(best_app),
        "send_floor_per_s": round(best_floor),
        "send_ratio": round(best_app / best_floor, 3),
        "rows_written_per_send_app": round(app_rows, 1),
        "rows_written_per_send_floor": round(floor_rows, 1),
    }


# -- races -----------------------------------------------------------------------------------


def racer(path: str, worker: int, tries: int) -> list[tuple[str, int, int]]:
    """Send until refused ``tries`` times in a row or done; each outcome (what, asked,
    delivered)."""
    app = app_over(Path(path), currency="EUR", max_attempts=100)
    out = []
    for i in range(tries):
        n = 1 + (worker + i) % 3
        try:
            hold = app.sending.authorize("dept", "sms", n, key=f"w{worker}-{i}", by="ann")
        except QuotaExceeded:
            out.append(("refused_quota", n, 0))
            continue
        except InsufficientCredit:
            out.append(("refused_credit", n, 0))
            continue
        app.sending.capture(hold, n, by="ann")
        out.append(("sent", n, n))
    app.store.close()  # type: ignore[attr-defined]
    return out


def _process(path: str, worker: int, tries: int, queue: Any) -> None:
    queue.put(racer(path, worker, tries))


def race(args: argparse.Namespace, kind: str, bound: str) -> dict[str, Any]:
    """A race where the quota binds (credit for twice the quota) or the credit does
    (credit for 80% of the quota)."""
    share = Decimal("2") if bound == "quota" else Decimal("0.8")
    quota, credit = args.race_quota, Decimal(args.race_quota) * share * PRICE
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "race.db"
        app = shop(path, credit=0, quota=quota)
        top_up = TopUp(account_id="shop", amount=eur(credit), key="race", at=T0)
        app.credits.execute(top_up, by=SYSTEM)
        tries = args.race_tries
        outcomes: list[tuple[str, int, int]] = []
        began = time.perf_counter()
        if kind == "threads":
            lock = threading.Lock()

            def thread(worker: int) -> None:
                got = racer(str(path), worker, tries)
                with lock:
                    outcomes.extend(got)

            threads = [threading.Thread(target=thread, args=(w,)) for w in range(args.workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            procs = [
                ctx.Process(target=_process, args=(str(path), w, tries, queue))
                for w in range(args.workers)
            ]
            for p in procs:
                p.start()
            for _ in procs:
                outcomes.extend(queue.get())
            for p in procs:
                p.join()
        elapsed = time.perf_counter() - began
        figures = race_figures(app, quota, eur(credit), outcomes)
        app.store.close()  # type: ignore[attr-defined]
    return {**figures, "s": round(elapsed, 2)}


def race_figures(
    app: Subacct, quota: int, credit: Money, outcomes: list[tuple[str, int, int]]
) -> dict[str, int]:
    """What the race left: captured sends past the quota or the credit, in commit order
    (the event log's), refusals, and stored figures that disagree."""
    captured, seq = [], 0
    while page := app.events.since(seq, by=SYSTEM, limit=10_000):
        captured += [e.event for e in page if e.event.event_type == "send_captured"]
        seq = page[-1].seq
    over_quota = over_credit = 0
    messages, spent = 0, Money.zero("EUR")
    for event in captured:
        messages += event.delivered  # type: ignore[union-attr]
        spent = spent + event.charged  # type: ignore[union-attr,operator]
        over_quota += messages > quota
        over_credit += spent > credit
    book = app.billing.usage_book("2026-01", by=SYSTEM)
    balance = app.credits.balance
    errors = 0
    errors += book.total("dept") != messages
    with app.store.unit_of_work() as uow:
        counter = uow.records(QUOTA_COUNTERS).find("dept/2026-01")
    errors += (0 if counter is None else counter.used) != messages
    errors += balance(LedgerAccount.parse("spent:dept"), by=SYSTEM) != spent
    errors += balance(LedgerAccount.parse("wallet:shop"), by=SYSTEM) != credit - spent
    errors += balance(LedgerAccount.parse("reserved:dept"), by=SYSTEM) != Money.zero("EUR")
    errors += sum(d for what, _, d in outcomes if what == "sent") != messages
    return {
        "over_quota_sends": over_quota,
        "over_credit_sends": over_credit,
        "sent": len(captured),
        "refused_quota": sum(what == "refused_quota" for what, _, _ in outcomes),
        "refused_credit": sum(what == "refused_credit" for what, _, _ in outcomes),
        "race_consistency_errors": errors,
    }


SUMMED = ("over_quota_sends", "over_credit_sends", "race_consistency_errors")


def run_races(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("threads", "processes"):
        for bound in ("quota", "credit"):
            figures = race(args, kind, bound)
            for key, value in figures.items():
                if key in SUMMED:
                    out[key] = out.get(key, 0) + value
                else:
                    out[f"race_{kind}_{bound}_bound_{key}"] = value
    return out


PHASES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "throughput": run_throughput,
    "races": run_races,
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds")
    parser.add_argument("--only", choices=sorted(PHASES), action="append")
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--race-quota", type=int, default=300)
    parser.add_argument("--race-tries", type=int, default=40)
    args = parser.parse_args(argv)
    if args.quick:
        args.sends, args.race_quota, args.race_tries = 300, 60, 12
    result: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    for name in args.only or list(PHASES):
        began = time.perf_counter()
        result.update(PHASES[name](args))
        result[f"{name}_phase_s"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
