"""Period close benchmark: ``app.billing.close_period`` over 100,000 accounts on SQLite,
against finalizing the same invoices one by one.

    PYTHONPATH=src python bench/close_period_bench.py            # the last line is JSON
    PYTHONPATH=src python bench/close_period_bench.py --quick    # a small smoke run

The world (``--accounts``, 100,000): ``--trees`` masters (1,900) with ``--subs`` subs each
(50), two subs of each tree billed on their own (a billing profile of their own: a
standalone invoice), and the rest of the accounts standalone masters with no subs; every
payer on one plan ladder, every account with one month of usage. It is written straight
through the storage adapter in one unit of work (``build_s``, not measured: the app's
path would take minutes), then copied, so both runs start from the same file.

* ``close_period_s``: ``close_period(JAN)``: every payer's invoice finalized, one unit
  of work per top-level tree (its payers priced once).
* ``one_by_one_s``: on the copy, ``finalize_invoice(payer, JAN)`` for every payer, in
  payer order: one unit of work per invoice, each pricing its tree.
* ``ratio``: ``one_by_one_s / close_period_s`` (above 1: the close is faster).

Both runs give the same numbers (``same_numbers``). No floor: the work is the unit of
work per tree and its writes (invoice, number, invoiced accounts, events, audit), which
no few-line loop does more cheaply without dropping one of them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _machine import machine
from subacct import SYSTEM, FixedClock, Money, Plan, PlanLadder, Settings, SqliteStore, Subacct
from subacct.domain import HierarchyRules, new_master, plan_new_sub
from subacct.pricing import BillingPeriod, UsageRecord
from subacct.pricing.profiles import BillingProfile
from subacct.storage.collections import BILLING_PROFILES

JAN = BillingPeriod(2026, 1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LADDER = PlanLadder(
    [
        Plan("2,500", 2500, Money(15, "USD")),
        Plan("8,500", 8500, Money(45, "USD")),
        Plan("18,000", 18000, Money(90, "USD")),
    ],
    overage_unit_price="0.004",
)


def build(path: Path, accounts: int, trees: int, subs: int) -> list[str]:
    """The world, written through the adapter in one unit of work; the payers."""
    store = SqliteStore(path)
    rules = HierarchyRules()
    payers: list[str] = []
    profiles: list[BillingProfile] = []
    usage: list[UsageRecord] = []
    with store.unit_of_work() as uow:
        made = 0
        for t in range(trees):
            master = new_master(f"t{t:05d}", f"Tree {t}", T0)
            uow.accounts.add(master)
            payers.append(master.id)
            profiles.append(BillingProfile(master.id, LADDER))
            usage.append(UsageRecord(master.id, JAN, "email", 1000 + t % 900, "u"))
            for s in range(subs):
                sub = plan_new_sub(f"{master.id}s{s:02d}", f"Sub {s}", master, [], rules, T0)
                uow.accounts.add(sub)
                usage.append(UsageRecord(sub.id, JAN, "sms", 100 + (t * s) % 400, "u"))
                if s < 2:  # billed on its own
                    payers.append(sub.id)
                    profiles.append(BillingProfile(sub.id, LADDER))
            made += 1 + subs
        for n in range(accounts - made):
            master = new_master(f"solo{n:05d}", f"Solo {n}", T0)
            uow.accounts.add(master)
            payers.append(master.id)
            profiles.append(BillingProfile(master.id, LADDER))
            usage.append(UsageRecord(master.id, JAN, "email", 500 + n % 3000, "u"))
        uow.records(BILLING_PROFILES).add_many(profiles)
        for first in range(0, len(usage), 5000):
            uow.usage.add(usage[first : first + 5000])
        uow.commit()
    store.close()
    return sorted(payers)


def app_on(path: Path) -> tuple[Subacct, SqliteStore]:
    store = SqliteStore(path)
    clock = FixedClock(datetime(2026, 2, 1, tzinfo=UTC))
    return Subacct(store, Settings(clock=clock)), store


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--trees", type=int, default=1_900)
    parser.add_argument("--subs", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="2,000 accounts: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.trees, args.subs = 2_000, 38, 50
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp) / "a.db", Path(tmp) / "b.db"
        began = time.perf_counter()
        payers = build(first, args.accounts, args.trees, args.subs)
        build_s = time.perf_counter() - began
        shutil.copy(first, second)

        app, store = app_on(first)
        began = time.perf_counter()
        closed = app.billing.close_period(JAN, by=SYSTEM)
        close_s = time.perf_counter() - began
        store.close()

        app, store = app_on(second)
        began = time.perf_counter()
        numbers = [app.billing.finalize_invoice(p, JAN, by=SYSTEM).number for p in payers]
        loop_s = time.perf_counter() - began
        store.close()
    result = {
        "bench": "close_period",
        "accounts": args.accounts,
        "payers": len(payers),
        "trees": args.trees + args.accounts - args.trees * (1 + args.subs),
        "build_s": round(build_s, 2),
        "close_period_s": round(close_s, 3),
        "one_by_one_s": round(loop_s, 3),
        "ratio": round(loop_s / close_s, 2),
        "per_invoice_ms_close": round(1000 * close_s / len(payers), 3),
        "per_invoice_ms_one_by_one": round(1000 * loop_s / len(payers), 3),
        "same_numbers": sorted(closed.numbers) == sorted(str(n) for n in numbers),
        "machine": machine(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
