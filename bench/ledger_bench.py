"""Credit ledger benchmark (issue 5): speed and safety of the double-entry ledger.

Phases (each a function returning its figures; ``PHASES`` runs them in order):

* ``memory``: random distribute / spend / reclaim operations on shared wallets through the
  in-memory ``Ledger`` (plan + apply per operation, requests built beforehand), then every
  balance is checked against a replay of the transfer log.

A store's phases (SQLite file, threads on one SQLite file) plug in the same way: build the
same workload with ``workload``, run it, then call ``check_against_replay`` with the stored
balances and transfer log; ``lost_updates`` and ``conservation_violations`` are summed over
all phases.

Run: ``PYTHONPATH=src python bench/ledger_bench.py [--ops 200000] [--seed 5]``. The last
line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from subacct.errors import SubacctError
from subacct.money import Money
from subacct.pricing.ledger import (
    Distribute,
    Ledger,
    LedgerAccount,
    LedgerAccountKind,
    LedgerRequest,
    Reclaim,
    Spend,
    TopUp,
    Transfer,
    Wallet,
    allow_all,
    replay_balances,
)

CURRENCY = "EUR"
MASTER = "master"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def wallets(subs: int) -> list[Wallet]:
    """A master and ``subs`` sub-accounts funded by it (manual distributions)."""
    return [Wallet(MASTER)] + [Wallet(f"sub{i:03d}", master_id=MASTER) for i in range(subs)]


def funding(amount: int = 10**9) -> TopUp:
    return TopUp(account_id=MASTER, amount=Money(amount, CURRENCY), key="bench-funding", at=T0)


def workload(rng: random.Random, ops: int, subs: int, prefix: str = "op") -> list[LedgerRequest]:
    """Random operations on shared wallets: 40% distribute (1 to 50), 45% spend (0.001 to
    5), 15% reclaim (all, or part of what a sub may hold). Keys are unique per ``prefix``."""
    requests: list[LedgerRequest] = []
    for n in range(ops):
        sub = f"sub{rng.randrange(subs):03d}"
        key = f"{prefix}-{n}"
        at = T0 + timedelta(milliseconds=n)
        roll = rng.random()
        if roll < 0.40:
            amount = Money(Decimal(rng.randint(100, 5000)) / 100, CURRENCY)
            requests.append(Distribute(sub_id=sub, amount=amount, key=key, at=at))
        elif roll < 0.85:
            amount = Money(Decimal(rng.randint(1, 5000)) / 1000, CURRENCY)
            requests.append(Spend(account_id=sub, amount=amount, key=key, at=at))
        elif roll < 0.92:
            requests.append(Reclaim(sub_id=sub, key=key, at=at))
        else:
            amount = Money(Decimal(rng.randint(1, 2000)) / 100, CURRENCY)
            requests.append(Reclaim(sub_id=sub, amount=amount, key=key, at=at))
    return requests


def check_against_replay(
    balances: Mapping[LedgerAccount, Decimal],
    transfers: Iterable[Transfer],
    floors: Mapping[LedgerAccount, Decimal],
) -> dict[str, int]:
    """Compare stored balances with a replay of the transfer log.

    ``lost_updates``: ledger accounts whose stored balance differs from the replay.
    ``conservation_violations``: the stored or the replayed balances do not sum to zero,
    plus balances below their floor (``floors``; wallets without an entry have floor 0,
    external accounts none).
    """
    replayed = replay_balances(transfers)
    accounts = set(balances) | set(replayed)
    lost = sum(1 for a in accounts if balances.get(a, ZERO) != replayed.get(a, ZERO))
    violations = int(sum(balances.values(), ZERO) != 0) + int(sum(replayed.values(), ZERO) != 0)
    for account, amount in balances.items():
        if account.kind is not LedgerAccountKind.EXTERNAL and amount < floors.get(account, ZERO):
            violations += 1
    return {"lost_updates": lost, "conservation_violations": violations}


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    """The pure core in memory: ``Ledger.execute`` (plan + apply) per operation."""
    book = Ledger(CURRENCY, authorize=allow_all)
    for wallet in wallets(args.subs):
        book.open_wallet(wallet)
    book.execute(funding())
    requests = workload(random.Random(args.seed), args.ops, args.subs)
    execute, refused = book.execute, 0
    logged = len(book.transfers())
    started = time.perf_counter()
    for request in requests:
        try:
            execute(request)
        except SubacctError:
            refused += 1
    elapsed = time.perf_counter() - started
    transfers = book.transfers()
    moved = len(transfers) - logged
    floors = {LedgerAccount.wallet(w.account_id): w.floor for w in book.wallets()}
    balances = {a: m.amount for a, m in book.balances().items()}
    return {
        "transfers_per_s_memory": round(moved / elapsed),
        "operations_per_s_memory": round(len(requests) / elapsed),
        "memory_operations": len(requests),
        "memory_transfers": moved,
        "memory_refused": refused,
        **check_against_replay(balances, transfers, floors),
    }


PHASES: list[tuple[str, Callable[[argparse.Namespace], dict[str, Any]]]] = [
    ("memory", run_memory),
]
SUMMED = ("lost_updates", "conservation_violations")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000, help="operations in memory")
    parser.add_argument("--subs", type=int, default=16, help="sub-account wallets")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"benchmark": "ledger", "machine": machine()}
    totals = dict.fromkeys(SUMMED, 0)
    for name, phase in PHASES:
        figures = phase(args)
        for key in SUMMED:
            totals[key] += figures.pop(key)
        result.update(figures)
        print(f"{name}: {figures}", file=sys.stderr)
    result.update(totals)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
