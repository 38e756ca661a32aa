"""Report benchmark: a month's priced report of stored usage on SQLite, against decoding
the month's records.

    PYTHONPATH=src python bench/report_bench.py   # ~1 min; the last line is one JSON object

The world: one master (on a plan ladder) with ``--subs`` sub-accounts (50) and
``--records`` usage records (100,000) written through ``app.billing.record_usage`` in
batches of 5,000, spread over the subs, two channels, ``--labels`` labels (5) and
``--users`` sending users (20), from ``random.Random(seed)``.

* ``report_totals_ms``: ``UsageRepository.report_totals(period)``, the sums storage
  computes per (account, label, owner, channel, dimensions) (``groups`` of them);
* ``usage_ms``: ``app.reports.usage(master, period, Grouping.LABEL)``, the whole call:
  the policy, the sums, the period's invoices and the cost of every line;
* ``preview_invoices_ms``: ``app.billing.preview_invoices`` for the same month, for scale;
* ``for_period_ms``: what reading every record would cost instead
  (``UsageRepository.for_period``, decoding each).

Each is the best of ``--repeat`` runs (5; 2 for ``for_period_ms``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _machine import machine
from subacct import (
    SYSTEM,
    BillingPeriod,
    FixedClock,
    Money,
    Plan,
    PlanLadder,
    Settings,
    Subacct,
    UsageRecord,
)
from subacct.pricing.reports import Grouping
from subacct.storage.sqlite import SqliteStore

JAN = BillingPeriod(2026, 1)


def best_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return round(min(times) * 1000, 1)


def main(argv: list[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--subs", type=int, default=50)
    parser.add_argument("--labels", type=int, default=5)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        app = Subacct(store, Settings(clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC))))
        app.accounts.create_master("Master", account_id="m", by=SYSTEM)
        subs = [f"s{i}" for i in range(args.subs)]
        for sub in subs:
            app.accounts.create_sub("m", sub, account_id=sub, by=SYSTEM)
        ladder = PlanLadder([Plan("all", 10**12, Money(1000, "USD"))])
        app.billing.set_profile("m", ladder, by=SYSTEM)
        records = [
            UsageRecord(
                rng.choice(subs),
                JAN,
                rng.choice(["email", "sms"]),
                rng.randint(1, 9),
                f"k{i}",
                label=f"label{rng.randrange(args.labels)}",
                owner_id=f"user{rng.randrange(args.users)}",
            )
            for i in range(args.records)
        ]
        for i in range(0, len(records), 5000):
            app.billing.record_usage(records[i : i + 5000], by=SYSTEM)
        with store.unit_of_work(read_only=True) as uow:
            groups = len(uow.usage.report_totals(JAN))
            totals_ms = best_ms(lambda: uow.usage.report_totals(JAN), args.repeat)
            decode_ms = best_ms(lambda: uow.usage.for_period(JAN), 2)
        usage_ms = best_ms(
            lambda: app.reports.usage("m", JAN, Grouping.LABEL, by=SYSTEM), args.repeat
        )
        preview_ms = best_ms(lambda: app.billing.preview_invoices("m", JAN, by=SYSTEM), args.repeat)
        store.close()
    return {
        "machine": machine(),
        "records": args.records,
        "accounts": args.subs + 1,
        "groups": groups,
        "report_totals_ms": totals_ms,
        "usage_ms": usage_ms,
        "preview_invoices_ms": preview_ms,
        "for_period_ms": decode_ms,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
