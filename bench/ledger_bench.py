"""Credit ledger benchmark (issues 5 and 7): speed and safety of the double-entry ledger.

    PYTHONPATH=src python bench/ledger_bench.py   # ~1 minute; the last line is one JSON object

Every phase runs random distribute / spend / reclaim operations (``workload``) on one
master and ``--subs`` (16) shared sub wallets, then checks the result (``check``):

* ``memory``: ``--ops`` (200,000) operations through the in-memory ``Ledger.execute``
  (plan + apply), one thread. The requests are built first; that setup state is moved out
  of the garbage collector's way with ``gc.freeze()`` before timing (a host can do the
  same with its long-lived state). ``transfers_per_s_memory_unfrozen`` is the same run
  without it.
* ``sqlite``: ``--sqlite-ops`` (20,000) operations on a SQLite file through the ledger port,
  one thread: per operation one unit of work (``BEGIN IMMEDIATE``), ``plan`` against
  ``uow.ledger(currency)``, ``write_plan`` (compare-and-set guarded), commit.
* ``sqlite_service``: ``--service-ops`` (5,000) operations on a SQLite file through
  ``Subacct.credits.execute(..., by=SYSTEM)``, which also appends a ``CreditsMoved`` event
  per movement (what a host calling the service gets), one thread.
* ``sqlite_threads``: ``--workers`` (8) threads, each running ``--worker-ops`` (2,000)
  operations of its own on the shared wallets in one SQLite file, through the port.
* ``postgres``: ``--workers`` (8) processes (``spawn``), each running ``--worker-ops``
  operations on the shared wallets of one PostgreSQL database (a throwaway cluster the
  bench starts, ``subacct.testing.pgcluster.TempCluster``), through the port: each process
  plans from its store's cache and the server checks and writes the plan with the commit
  (``subacct.storage.pg_ledger``); a unit of work whose plan the server refused (a stale
  cache entry met a floor, a pinned balance or a used key) is re-run
  (``postgres_retries``).
* ``postgres_service``: the same with ``--postgres-service-ops`` (500) operations per
  process through ``Subacct.credits.execute(..., by=SYSTEM)`` (a ``CreditsMoved`` event per
  movement, so each operation also appends to the audit log, whose appends take turns).

``check``: ``lost_updates`` counts ledger accounts whose stored balance differs from a
replay of the stored transfer log, plus transfers acknowledged to a caller (a receipt)
missing from the log, plus logged transfers no caller was acknowledged;
``conservation_violations`` counts ledgers whose stored or replayed balances do not sum
to zero, plus balances below their floor. ``lost_updates`` and
``conservation_violations`` in the JSON sum every phase but PostgreSQL's two, which sum
into ``postgres_lost_updates`` and ``postgres_conservation_violations``. The port phase
also reports where the CPU went:
``postgres_client_cpu_us_per_operation`` (the worker processes' own CPU time) next to
``postgres_machine_cpu_us_per_operation`` (all the machine's CPUs times the wall time; the
server and the operating system take the difference when the CPUs are saturated).

Throughput is transfers written per second of wall time (``transfers_per_s_*``), next to
operations per second (about 9% of the operations are refusals that write nothing).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from _machine import machine
from subacct import SYSTEM, Settings, Subacct
from subacct.errors import ConcurrentModification, SubacctError
from subacct.money import Money, exact_sum
from subacct.pricing.ledger import (
    Distribute,
    Ledger,
    LedgerAccount,
    LedgerAccountKind,
    LedgerRequest,
    Receipt,
    Reclaim,
    Spend,
    TopUp,
    Transfer,
    Wallet,
    allow_all,
    configure_wallet,
    plan,
    replay_balances,
)
from subacct.runtime import FixedClock, SequentialIds, UuidIds
from subacct.storage.ledger_writes import plan_and_write
from subacct.storage.ports import Store
from subacct.storage.sqlite import SqliteStore

CURRENCY = "EUR"
MASTER = "master"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)


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


def check(
    balances: Mapping[LedgerAccount, Decimal],
    transfers: Iterable[Transfer],
    floors: Mapping[LedgerAccount, Decimal],
    acknowledged: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Compare stored balances with a replay of the transfer log, and (given what callers
    were acknowledged: per idempotency key, the number of transfers in its receipt) the
    log with what callers were told.

    ``lost_updates``: ledger accounts whose stored balance differs from the replay, plus
    per key the difference between acknowledged and logged transfers (the funding top-up
    excepted). ``conservation_violations``: the stored or replayed
    balances do not sum to zero, plus balances below their floor (``floors``; other
    non-external accounts have floor 0, external accounts none).
    """
    log = list(transfers)
    replayed = replay_balances(log)
    accounts = set(balances) | set(replayed)
    lost = sum(1 for a in accounts if balances.get(a, ZERO) != replayed.get(a, ZERO))
    if acknowledged is not None:
        logged = Counter(t.key for t in log if t.key != "bench-funding")
        for key in set(logged) | set(acknowledged):
            lost += abs(logged.get(key, 0) - acknowledged.get(key, 0))
    violations = int(exact_sum(balances.values()) != 0) + int(exact_sum(replayed.values()) != 0)
    for account, amount in balances.items():
        if account.kind is not LedgerAccountKind.EXTERNAL and amount < floors.get(account, ZERO):
            violations += 1
    return {"lost_updates": lost, "conservation_violations": violations}


# -- the in-memory core ---------------------------------------------------------------------


def run_memory(args: argparse.Namespace) -> dict[str, Any]:
    """The pure core in memory: ``Ledger.execute`` (plan + apply) per operation; the
    same run without ``gc.freeze()`` is reported too (``..._unfrozen``)."""
    unfrozen = memory_run(args, freeze=False)
    figures = memory_run(args, freeze=True)
    figures["transfers_per_s_memory_unfrozen"] = unfrozen["transfers_per_s_memory"]
    for key in SUMMED:
        figures[key] += unfrozen[key]
    return figures


def memory_run(args: argparse.Namespace, *, freeze: bool) -> dict[str, Any]:
    book = Ledger(CURRENCY, authorize=allow_all)
    for wallet in wallets(args.subs):
        book.open_wallet(wallet)
    book.execute(funding())
    requests = workload(random.Random(args.seed), args.ops, args.subs)
    execute, refused = book.execute, 0
    told: dict[str, int] = {}
    logged = len(book.transfers())
    gc.collect()
    if freeze:  # the setup state (requests, wallets) is long-lived: out of the GC's way
        gc.freeze()
    started = time.perf_counter()
    for request in requests:
        try:
            receipt = execute(request)
        except SubacctError:
            refused += 1
            continue
        told[receipt.key] = len(receipt.transfers)
    elapsed = time.perf_counter() - started
    gc.unfreeze()
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
        **check(balances, transfers, floors, told),
    }


# -- stores ---------------------------------------------------------------------------------


def store_execute(store: Store, request: LedgerRequest) -> tuple[Receipt, int]:
    """One operation in one unit of work through the ledger port (``plan_and_write``:
    a plan gone stale before it wrote anything is planned again in the unit), the unit
    re-run on ``ConcurrentModification``. Returns the receipt and the re-runs."""
    retries = 0
    while True:
        try:
            with store.unit_of_work() as uow:
                planned = plan_and_write(uow.ledger(CURRENCY), request, allow_all)
                uow.commit()
            return planned.receipt, retries
        except ConcurrentModification:
            retries += 1


def prepare(store: Store, subs: int) -> None:
    """Open the wallets and buy the master's credit."""
    with store.unit_of_work() as uow:
        ledger = uow.ledger(CURRENCY)
        for wallet in wallets(subs):
            ledger.put_wallet(configure_wallet(ledger, wallet, allow_all))
        ledger.write_plan(plan(ledger, funding(), allow_all))
        uow.commit()


def run_requests(
    execute: Callable[[LedgerRequest], tuple[Receipt, int]], requests: Sequence[LedgerRequest]
) -> dict[str, Any]:
    """Run ``requests`` in order; what a worker reports back."""
    told: dict[str, int] = {}
    refused = retries = 0
    for request in requests:
        try:
            receipt, again = execute(request)
        except SubacctError:
            refused += 1
            continue
        retries += again
        told[receipt.key] = len(receipt.transfers)
    return {"acknowledged": told, "refused": refused, "retries": retries}


def store_figures(store: Store, acknowledged: Mapping[str, int]) -> dict[str, Any]:
    with store.unit_of_work() as uow:
        ledger = uow.ledger(CURRENCY)
        balances = ledger.balances()
        transfers = ledger.transfers()
        floors = {LedgerAccount.wallet(w.account_id): w.floor for w in ledger.wallets()}
    figures = check(balances, transfers, floors, acknowledged)
    figures["transfers"] = len(transfers) - 1  # the funding top-up came before the clock
    return figures


def run_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    """One thread on a SQLite file through the ledger port."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "ledger.db")
        prepare(store, args.subs)
        requests = workload(random.Random(args.seed), args.sqlite_ops, args.subs)
        started = time.perf_counter()
        done = run_requests(lambda r: store_execute(store, r), requests)
        elapsed = time.perf_counter() - started
        figures = store_figures(store, done["acknowledged"])
        store.close()
    return {
        "transfers_per_s_sqlite": round(figures["transfers"] / elapsed),
        "operations_per_s_sqlite": round(len(requests) / elapsed),
        "sqlite_operations": len(requests),
        "sqlite_transfers": figures["transfers"],
        "sqlite_refused": done["refused"],
        "lost_updates": figures["lost_updates"],
        "conservation_violations": figures["conservation_violations"],
    }


def service_over(store: Store, *, max_attempts: int = 5, shared: bool = False) -> Subacct:
    """A ``Subacct`` over ``store`` (the bench's fixed clock, the ``CURRENCY`` ledger).
    Event ids are sequential, or (``shared``: several processes append to one log) random
    UUIDs."""
    ids = UuidIds() if shared else SequentialIds()
    settings = Settings(clock=FixedClock(T0), ids=ids, currency=CURRENCY, max_attempts=max_attempts)
    return Subacct(store, settings)


def prepare_service(store: Store, subs: int) -> Subacct:
    """The accounts, the wallets and the master's credit, through ``Subacct``; the
    application, to go on with (its sequential event ids continue after the setup's)."""
    app = service_over(store)
    app.accounts.create_master("Master", account_id=MASTER, by=SYSTEM)
    for wallet in wallets(subs):
        if wallet.master_id is not None:
            app.accounts.create_sub(
                MASTER, wallet.account_id, account_id=wallet.account_id, by=SYSTEM
            )
        app.credits.open_wallet(wallet, by=SYSTEM)
    app.credits.execute(funding(), by=SYSTEM)
    return app


def run_sqlite_service(args: argparse.Namespace) -> dict[str, Any]:
    """One thread on a SQLite file through ``Subacct.credits`` (with its events)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "service.db")
        app = prepare_service(store, args.subs)
        requests = workload(random.Random(args.seed), args.service_ops, args.subs)
        started = time.perf_counter()
        done = run_requests(lambda r: (app.credits.execute(r, by=SYSTEM), 0), requests)
        elapsed = time.perf_counter() - started
        figures = store_figures(store, done["acknowledged"])
        store.close()
    return {
        "transfers_per_s_sqlite_service": round(figures["transfers"] / elapsed),
        "sqlite_service_operations": len(requests),
        "sqlite_service_refused": done["refused"],
        "lost_updates": figures["lost_updates"],
        "conservation_violations": figures["conservation_violations"],
    }


def run_sqlite_threads(args: argparse.Namespace) -> dict[str, Any]:
    """``--workers`` threads on shared wallets in one SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "threads.db")
        prepare(store, args.subs)
        loads = [
            workload(random.Random(args.seed * 1000 + n), args.worker_ops, args.subs, f"t{n}")
            for n in range(args.workers)
        ]
        results: list[dict[str, Any]] = [{} for _ in loads]
        barrier = threading.Barrier(args.workers + 1)

        def worker(n: int) -> None:
            barrier.wait()
            results[n] = run_requests(lambda r: store_execute(store, r), loads[n])

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.workers)]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        told = {k: n for r in results for k, n in r["acknowledged"].items()}
        figures = store_figures(store, told)
        store.close()
    return {
        "threads": args.workers,
        "transfers_per_s_sqlite_threads": round(figures["transfers"] / elapsed),
        "sqlite_threads_operations": sum(len(load) for load in loads),
        "sqlite_threads_transfers": figures["transfers"],
        "sqlite_threads_retries": sum(r["retries"] for r in results),
        "lost_updates": figures["lost_updates"],
        "conservation_violations": figures["conservation_violations"],
    }


def postgres_worker(
    conninfo: str,
    schema: str,
    service: bool,
    load: list[LedgerRequest],
    barrier: Any,
    results: Any,
) -> None:
    """One process: its own store (one connection), its own operations, through the
    ledger port or (``service``) through ``Subacct.credits``."""
    from subacct.storage.postgres import PostgresStore

    store = PostgresStore(conninfo, schema=schema, min_size=1, max_size=1)
    if service:  # a host would raise max_attempts for a hot ledger like this one
        app = service_over(store, max_attempts=100, shared=True)

        def execute(request: LedgerRequest) -> tuple[Receipt, int]:
            return app.credits.execute(request, by=SYSTEM), 0
    else:

        def execute(request: LedgerRequest) -> tuple[Receipt, int]:
            return store_execute(store, request)

    barrier.wait()
    started = time.process_time()
    done = run_requests(execute, load)
    done["cpu_s"] = time.process_time() - started
    store.close()
    results.put(done)


def postgres_processes(
    args: argparse.Namespace, *, service: bool, ops: int
) -> tuple[dict[str, Any], float, list[dict[str, Any]], int]:
    """``--workers`` processes, ``ops`` operations each, on shared wallets in one
    PostgreSQL database: the checked figures, the wall time, each worker's report and
    the number of operations."""
    from subacct.storage.postgres import PostgresStore
    from subacct.testing.pgcluster import TempCluster

    with TempCluster(max_connections=args.workers + 20) as cluster:
        store = PostgresStore(cluster.conninfo(), schema="bench")
        if service:
            prepare_service(store, args.subs)
        else:
            prepare(store, args.subs)
        loads = [
            workload(random.Random(args.seed * 1000 + n), ops, args.subs, f"p{n}")
            for n in range(args.workers)
        ]
        spawn = multiprocessing.get_context("spawn")
        barrier = spawn.Barrier(args.workers + 1)
        queue = spawn.Queue()
        processes = [
            spawn.Process(
                target=postgres_worker,
                args=(cluster.conninfo(), "bench", service, load, barrier, queue),
            )
            for load in loads
        ]
        for process in processes:
            process.start()
        barrier.wait()
        started = time.perf_counter()
        results = [queue.get() for _ in processes]
        elapsed = time.perf_counter() - started
        for process in processes:
            process.join()
        told = {k: n for r in results for k, n in r["acknowledged"].items()}
        figures = store_figures(store, told)
        store.close()
    return figures, elapsed, results, sum(len(load) for load in loads)


def run_postgres(args: argparse.Namespace) -> dict[str, Any]:
    """``--workers`` processes on shared wallets in one PostgreSQL database, through the
    ledger port."""
    figures, elapsed, results, operations = postgres_processes(
        args, service=False, ops=args.worker_ops
    )
    return {
        "processes": args.workers,
        "transfers_per_s_postgres": round(figures["transfers"] / elapsed),
        "postgres_operations": operations,
        "postgres_transfers": figures["transfers"],
        "postgres_retries": sum(r["retries"] for r in results),
        # where the machine's CPU time went, per operation: the client processes' own,
        # and all of it (CPUs x wall time: the server, the clients and the rest)
        "postgres_client_cpu_us_per_operation": round(
            sum(r["cpu_s"] for r in results) / operations * 1e6
        ),
        "postgres_machine_cpu_us_per_operation": round(
            (os.cpu_count() or 1) * elapsed / operations * 1e6
        ),
        "postgres_lost_updates": figures["lost_updates"],
        "postgres_conservation_violations": figures["conservation_violations"],
    }


def run_postgres_service(args: argparse.Namespace) -> dict[str, Any]:
    """The same through ``Subacct.credits.execute(..., by=SYSTEM)`` (with its events)."""
    figures, elapsed, _results, operations = postgres_processes(
        args, service=True, ops=args.postgres_service_ops
    )
    return {
        "transfers_per_s_postgres_service": round(figures["transfers"] / elapsed),
        "postgres_service_operations": operations,
        "postgres_lost_updates": figures["lost_updates"],
        "postgres_conservation_violations": figures["conservation_violations"],
    }


PHASES: list[tuple[str, Callable[[argparse.Namespace], dict[str, Any]]]] = [
    ("memory", run_memory),
    ("sqlite", run_sqlite),
    ("sqlite_service", run_sqlite_service),
    ("sqlite_threads", run_sqlite_threads),
    ("postgres", run_postgres),
    ("postgres_service", run_postgres_service),
]
SUMMED = ("lost_updates", "conservation_violations")
PG_SUMMED = ("postgres_lost_updates", "postgres_conservation_violations")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000, help="operations in memory")
    parser.add_argument("--sqlite-ops", type=int, default=20_000, help="one-thread SQLite")
    parser.add_argument("--service-ops", type=int, default=5_000, help="through the service")
    parser.add_argument("--workers", type=int, default=8, help="threads, then processes")
    parser.add_argument("--worker-ops", type=int, default=2_000, help="operations per worker")
    parser.add_argument(
        "--postgres-service-ops", type=int, default=500, help="per process, through the service"
    )
    parser.add_argument("--subs", type=int, default=16, help="sub-account wallets")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--phases", default=",".join(name for name, _ in PHASES), help="comma-separated"
    )
    args = parser.parse_args(argv)
    chosen = set(args.phases.split(","))
    result: dict[str, Any] = {"benchmark": "ledger", "machine": machine()}
    totals = dict.fromkeys(SUMMED + PG_SUMMED, 0)
    for name, phase in PHASES:
        if name not in chosen:
            continue
        figures = phase(args)
        for key in SUMMED + PG_SUMMED:
            totals[key] += figures.pop(key, 0)
        result.update(figures)
        print(f"{name}: {figures}", file=sys.stderr)
    result.update(totals)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
