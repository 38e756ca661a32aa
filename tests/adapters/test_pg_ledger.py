"""The PostgreSQL ledger's protocol: plans from a per-store cache, checked by the server.

Two ``PostgresStore`` objects on one schema stand for two application processes: each
has its own cache, so each plans from what it last saw while the other moves credit.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from subacct.domain import AccountId
from subacct.errors import ConcurrentModification, OverdraftInUse, StalePlan, SubacctError
from subacct.money import MAX_AMOUNT, Money, subtract
from subacct.pricing.ledger import (
    Distribute,
    LedgerAccount,
    LedgerAccountKind,
    LedgerRequest,
    Reclaim,
    Spend,
    TopUp,
    Wallet,
    allow_all,
    configure_wallet,
    replay_balances,
)
from subacct.storage.ledger_writes import plan_and_write
from subacct.storage.pg_ledger import LedgerCache
from subacct.storage.postgres import PostgresStore
from subacct.testing.pgcluster import TempCluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _eur(amount: int | str) -> Money:
    return Money(amount, "EUR")


def _stores(cluster: TempCluster, schema: str, count: int = 2) -> list[PostgresStore]:
    """``count`` stores on one schema, with a master ``m`` (100 EUR) and its sub ``s``."""
    stores = [PostgresStore(cluster.conninfo(), schema=schema, max_size=4) for _ in range(count)]
    with stores[0].unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        for wallet in (Wallet("m"), Wallet("s", master_id="m")):
            ledger.put_wallet(configure_wallet(ledger, wallet, allow_all))
        plan_and_write(ledger, TopUp(account_id="m", amount=_eur(100), key="buy", at=T0), allow_all)
        uow.commit()
    return stores


def _run(store: PostgresStore, request: LedgerRequest) -> tuple[str, ...]:
    """One unit of work per attempt, as the service runs it: what each attempt did."""
    seen: list[str] = []
    while True:
        try:
            with store.unit_of_work() as uow:
                receipt = plan_and_write(uow.ledger("EUR"), request, allow_all).receipt
                uow.commit()
            return (*seen, "replayed" if receipt.replayed else "written")
        except ConcurrentModification:
            seen.append("conflict")
        except SubacctError as exc:
            return (*seen, exc.code)


def _balance(store: PostgresStore, account: str) -> Decimal:
    with store.unit_of_work() as uow:
        return uow.ledger("EUR").balance(LedgerAccount.parse(account))


def _spend(account: str, amount: int, key: str) -> Spend:
    return Spend(account_id=account, amount=_eur(amount), key=key, at=T0)


def _give(amount: int, key: str) -> Distribute:
    return Distribute(sub_id="s", amount=_eur(amount), key=key, at=T0)


def test_a_warm_plan_sends_nothing_before_the_commit(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    a, b = _stores(pg_cluster, pg_clean_schema)
    assert _run(b, _give(5, "cold")) == ("written",)  # b read from the server, then cached
    assert b._ledger_cache("EUR").balances[LedgerAccount.wallet("m")] == "95"
    with b.unit_of_work() as uow:
        plan_and_write(uow.ledger("EUR"), _give(5, "warm"), allow_all)
        assert uow._statements == 0  # planned from the cache; the plan waits for the commit
        uow.commit()
    assert _balance(a, "wallet:s") == 10


def test_a_stale_balance_that_still_covers_the_move_is_written_first_time(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    a, b = _stores(pg_cluster, pg_clean_schema)
    assert _run(a, _spend("m", 1, "a1")) == ("written",)  # a has seen 99
    assert _run(b, _spend("m", 90, "b1")) == ("written",)  # 9 left
    assert _run(a, _spend("m", 3, "a2")) == ("written",)  # planned from 99: 9 covers 3
    assert _balance(a, "wallet:m") == 6
    assert _balance(a, "spent:m") == 94


def test_a_refusal_planned_from_a_stale_balance_is_checked_first(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    a, b = _stores(pg_cluster, pg_clean_schema)
    assert _run(a, _spend("m", 95, "a1")) == ("written",)  # a has seen 5
    assert _run(b, TopUp(account_id="m", amount=_eur(20), key="b1", at=T0)) == ("written",)
    assert _run(a, _spend("m", 10, "a2")) == ("written",)  # not refused: 25 covers 10
    assert _run(a, _spend("m", 16, "a3")) == ("insufficient_credit",)  # 15 left: refused
    assert _balance(b, "wallet:m") == 15


def test_a_pinned_balance_that_moved_is_planned_again(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """Reclaiming everything rests on the exact balance: planned from a stale one, the
    server refuses the plan, reports the balance it found, and the next plan takes it."""
    a, b = _stores(pg_cluster, pg_clean_schema)
    assert _run(a, _give(10, "a1")) == ("written",)  # a has seen s at 10
    assert _run(b, _give(5, "b1")) == ("written",)  # 15
    assert _run(a, Reclaim(sub_id="s", key="a2", at=T0)) == ("conflict", "written")
    assert _balance(a, "wallet:s") == 0
    assert _balance(a, "wallet:m") == 100


def test_a_key_another_process_used_is_answered_as_a_replay(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    a, b = _stores(pg_cluster, pg_clean_schema)
    assert _run(b, _spend("m", 7, "k")) == ("written",)
    assert _run(a, _spend("m", 7, "k")) == ("conflict", "replayed")
    assert _run(a, _spend("m", 8, "k")) == ("idempotency_conflict",)  # now known used
    assert _run(b, _spend("m", 8, "k2")) == ("written",)
    refused_then_replayed = _spend("m", 500, "k3")  # refused by the rules, key unused
    assert _run(a, refused_then_replayed) == ("insufficient_credit",)
    assert _balance(a, "wallet:m") == 85


def test_a_wallet_another_process_changed_is_read_again(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    a, b = _stores(pg_cluster, pg_clean_schema)
    assert _run(a, _spend("m", 95, "a1")) == ("written",)  # a has seen m without overdraft
    with b.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        ledger.put_wallet(configure_wallet(ledger, Wallet("m", overdraft_limit=_eur(5)), allow_all))
        uow.commit()
    assert _run(a, _spend("m", 8, "a2")) == ("written",)  # refusal checked: -3 is allowed
    with b.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        ledger.put_wallet(configure_wallet(ledger, Wallet("m", overdraft_limit=_eur(3)), allow_all))
        uow.commit()
    # a still plans with the 5 limit: the server finds the wallet changed
    assert _run(a, _spend("m", 1, "a3")) == ("conflict", "insufficient_credit")
    assert _balance(a, "wallet:m") == -3


def test_a_plan_is_sent_with_the_next_statement_of_the_unit(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """``write_plan`` sends nothing yet: the next statement (or the commit) carries the
    plan, sees its writes, and reports a plan the server refused."""
    a, b = _stores(pg_cluster, pg_clean_schema)
    with a.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        plan_and_write(ledger, _spend("m", 4, "x"), allow_all)
        assert ledger.balance(LedgerAccount.wallet("m")) == 96  # this unit's write
        uow.commit()
    with a.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        plan_and_write(ledger, _spend("m", 60, "y"), allow_all)  # planned from 96
        assert _run(b, _spend("m", 50, "z")) == ("written",)  # another process: 46 left
        with pytest.raises(ConcurrentModification):
            ledger.balance(LedgerAccount.wallet("m"))  # sends the plan: 46 cannot cover 60
    assert _balance(a, "wallet:m") == 46  # nothing of the unit was written
    with a.unit_of_work() as uow:
        assert uow.ledger("EUR").idempotency("y", "m") is None


def test_a_plan_the_server_refused_keeps_the_connection(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """A stale plan refused as the commit's pipeline closes (the server waited for a
    row lock meanwhile, so its answer came last) is a ``ConcurrentModification``; the
    connection is fine and goes back to the pool (closing it would make every retry of
    a busy ledger reconnect)."""
    from subacct import SYSTEM, Settings, Subacct

    store = PostgresStore(pg_cluster.conninfo(), schema=pg_clean_schema, max_size=1)
    app = Subacct(store, Settings(currency="EUR", max_attempts=1))
    app.accounts.create_master("M", account_id="m", by=SYSTEM)
    app.credits.open_wallet(Wallet("m"), by=SYSTEM)
    app.credits.execute(TopUp(account_id="m", amount=_eur(100), key="buy", at=T0), by=SYSTEM)

    def backend() -> int:
        with store.unit_of_work() as uow:
            return int(uow.query("SELECT pg_backend_pid()")[0][0])

    before = backend()
    holder = psycopg.connect(pg_cluster.conninfo())
    holder.execute(
        f"SELECT 1 FROM {pg_clean_schema}.ledger_balances WHERE account = 'wallet:m' FOR UPDATE"
    )

    def release() -> None:  # another writer's commit: m now has 49
        time.sleep(0.5)  # the plan waits on the lock meanwhile
        holder.execute(
            f"UPDATE {pg_clean_schema}.ledger_balances SET balance = '49' "
            "WHERE account = 'wallet:m'"
        )
        holder.commit()

    thread = threading.Thread(target=release)
    thread.start()
    late = _spend("m", 90, "late")  # planned from the cached 100
    try:
        with pytest.raises(ConcurrentModification):
            app.credits.execute(late, by=SYSTEM)
    finally:
        thread.join(30)
        holder.close()
    assert backend() == before
    store.close()


def test_a_lone_read_leaves_the_unit_read_committed(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """A refusal's check runs on its own (autocommit); statements after it must still
    run in the unit's READ COMMITTED transaction."""
    (a,) = _stores(pg_cluster, pg_clean_schema, count=1)
    with a.unit_of_work() as uow:
        uow.ledger("EUR")
        assert uow.query_alone("SELECT 1") == [(1,)]
        assert uow.query("SHOW transaction_isolation") == [("read committed",)]


def test_the_cache_forgets_everything_when_full(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    cache = LedgerCache(limit=2)
    for n in range(3):
        cache.balance(LedgerAccount.wallet(f"w{n}"), "1")
    assert list(cache.balances) == [LedgerAccount.wallet("w2")]
    store = PostgresStore(pg_cluster.conninfo(), schema=pg_clean_schema, ledger_cache_size=1)
    with store.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        for wallet in (Wallet("m"), Wallet("s", master_id="m")):
            ledger.put_wallet(configure_wallet(ledger, wallet, allow_all))
        uow.commit()
    assert _run(store, TopUp(account_id="m", amount=_eur(9), key="t", at=T0)) == ("written",)
    assert _run(store, _give(4, "g")) == ("written",)
    assert _balance(store, "wallet:s") == 4


def _workload(rng: random.Random, count: int, prefix: str) -> list[LedgerRequest]:
    requests: list[LedgerRequest] = []
    for n in range(count):
        sub, key, at = f"s{rng.randrange(3)}", f"{prefix}-{n}", T0 + timedelta(seconds=n)
        roll = rng.random()
        if roll < 0.4:
            requests.append(Distribute(sub_id=sub, amount=_eur(rng.randint(1, 9)), key=key, at=at))
        elif roll < 0.8:
            requests.append(Spend(account_id=sub, amount=_eur(rng.randint(1, 6)), key=key, at=at))
        elif roll < 0.9:
            requests.append(Reclaim(sub_id=sub, key=key, at=at))
        else:
            requests.append(Reclaim(sub_id=sub, amount=_eur(rng.randint(1, 5)), key=key, at=at))
    return requests


def test_many_processes_on_shared_wallets_lose_nothing(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """Three stores (three processes' caches), two threads each, on one master and three
    subs: every acknowledged transfer is logged once, the balances are the log's sum,
    credit is conserved and no wallet ends below its floor."""
    stores = [
        PostgresStore(pg_cluster.conninfo(), schema=pg_clean_schema, max_size=2) for _ in "abc"
    ]
    with stores[0].unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        ledger.put_wallet(Wallet("m", overdraft_limit=_eur(10)))
        for n in range(3):
            ledger.put_wallet(Wallet(f"s{n}", master_id="m", overdraft_limit=_eur(2)))
        plan_and_write(ledger, TopUp(account_id="m", amount=_eur(300), key="buy", at=T0), allow_all)
        uow.commit()
    told: dict[str, int] = {}  # per acknowledged key: the transfers its receipt lists
    lock = threading.Lock()

    def worker(store: PostgresStore, prefix: str, seed: int) -> None:
        for request in _workload(random.Random(seed), 60, prefix):
            while True:
                try:
                    with store.unit_of_work() as uow:
                        planned = plan_and_write(uow.ledger("EUR"), request, allow_all)
                        uow.commit()
                except ConcurrentModification:
                    continue
                except SubacctError:
                    break
                with lock:
                    told[request.key] = len(planned.receipt.transfers)
                break

    threads = [
        threading.Thread(target=worker, args=(store, f"{name}{t}", 10 * i + t))
        for i, (name, store) in enumerate(zip("abc", stores, strict=True))
        for t in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with stores[0].unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        balances, transfers = ledger.balances(), ledger.transfers()
        floors = {w.wallet_account: w.floor for w in ledger.wallets()}
    logged = Counter(t.key for t in transfers if t.key != "buy")
    assert logged == Counter({k: n for k, n in told.items() if n})  # as acknowledged
    assert balances == {a: b for a, b in replay_balances(transfers).items() if a in balances}
    assert sum(balances.values(), Decimal(0)) == 0
    for account, amount in balances.items():
        if account.kind is LedgerAccountKind.WALLET:
            assert amount >= floors[account], account
        elif account.kind is not LedgerAccountKind.EXTERNAL:
            assert amount >= 0, account
    assert len(told) > 200  # most of the 360 operations moved credit
    for store in stores:
        store.close()


def test_plans_from_one_balance_both_apply_while_their_floors_hold(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """Two spends planned from the same balance (100): the server adds each delta to the
    balance as it finds it, so both commit without a retry while the floor holds."""
    (a,) = _stores(pg_cluster, pg_clean_schema, count=1)
    done: list[str] = []
    ready = threading.Barrier(2)

    def spend(amount: int, key: str) -> None:
        with a.unit_of_work() as uow:
            plan_and_write(uow.ledger("EUR"), _spend("m", amount, key), allow_all)
            ready.wait()  # both planned from 100
            uow.commit()
            done.append(key)

    threads = [threading.Thread(target=spend, args=args) for args in ((30, "x"), (40, "y"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(done) == ["x", "y"]
    assert _balance(a, "wallet:m") == 30
    assert _balance(a, "spent:m") == 70


def test_a_plan_that_no_longer_fits_is_refused_at_commit_and_nothing_is_written(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """A spend planned from 100, then another commits first and leaves 10: the server
    finds the first below its floor, the whole unit rolls back, and run again it is
    refused."""
    (a,) = _stores(pg_cluster, pg_clean_schema, count=1)
    planned, spent = threading.Event(), threading.Event()
    outcome: list[str] = []

    def late() -> None:
        try:
            with a.unit_of_work() as uow:
                plan_and_write(uow.ledger("EUR"), _spend("m", 20, "late"), allow_all)
                planned.set()
                spent.wait()
                uow.commit()
            outcome.append("written")
        except ConcurrentModification:
            outcome.append("conflict")

    thread = threading.Thread(target=late)
    thread.start()
    planned.wait()
    assert _run(a, _spend("m", 90, "early")) == ("written",)
    spent.set()
    thread.join()
    assert outcome == ["conflict"]
    assert _balance(a, "wallet:m") == 10
    with a.unit_of_work() as uow:
        assert uow.ledger("EUR").idempotency("late", "m") is None
    assert _run(a, _spend("m", 20, "late")) == ("insufficient_credit",)
    assert _run(a, _spend("m", 10, "late")) == ("written",)


def test_a_lower_overdraft_limit_checked_against_a_spend_that_committed_first(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """A spend into the overdraft and lowering that overdraft, at once: each reads what
    the other writes. The spend commits first (down to -3); the new limit, checked under
    row locks against the balance it read (100), finds it moved (StalePlan), and checked
    again it is refused."""
    a, b = _stores(pg_cluster, pg_clean_schema)
    with b.unit_of_work() as uow:
        uow.ledger("EUR").put_wallet(Wallet("m", overdraft_limit=_eur(5)))
        uow.commit()
    checked, spent, seen = threading.Event(), threading.Event(), []

    def lower_the_limit() -> None:
        with b.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            tighter = configure_wallet(ledger, Wallet("m"), allow_all)  # balance 100: fine
            checked.set()
            spent.wait()
            try:
                ledger.put_wallet(tighter)
            except StalePlan:
                seen.append("stale")
            try:
                configure_wallet(ledger, Wallet("m"), allow_all)
            except OverdraftInUse:
                seen.append("overdraft_in_use")

    thread = threading.Thread(target=lower_the_limit)
    thread.start()
    checked.wait()
    assert _run(a, _spend("m", 103, "deep")) == ("written",)
    spent.set()
    thread.join()
    assert seen == ["stale", "overdraft_in_use"]
    assert _balance(a, "wallet:m") == -3
    with a.unit_of_work() as uow:
        assert uow.ledger("EUR").wallet(AccountId("m")) == Wallet("m", overdraft_limit=_eur(5))


def _until_waiting(cluster: TempCluster, timeout: float = 10.0) -> None:
    """Block until some backend waits for a lock."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone() != (0,):
                return
            time.sleep(0.005)
    raise AssertionError("no backend started waiting for a lock")


def test_a_spend_with_the_old_limit_waits_for_the_new_one_then_finds_it_changed(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """A spend planned with the old overdraft limit while the new one is written: the
    server's share lock on the wallet waits for the writer, then finds the wallet changed;
    run again under the new limit, the spend is refused (no write skew)."""
    a, b = _stores(pg_cluster, pg_clean_schema)
    with b.unit_of_work() as uow:
        uow.ledger("EUR").put_wallet(Wallet("m", overdraft_limit=_eur(5)))
        uow.commit()
    outcome: list[tuple[str, ...]] = []
    with b.unit_of_work() as uow:
        ledger = uow.ledger("EUR")
        ledger.put_wallet(configure_wallet(ledger, Wallet("m"), allow_all))  # locks it
        thread = threading.Thread(target=lambda: outcome.append(_run(a, _spend("m", 103, "x"))))
        thread.start()
        _until_waiting(pg_cluster)
        uow.commit()
    thread.join()
    assert outcome == [("conflict", "insufficient_credit")]
    assert _balance(a, "wallet:m") == 100


def test_a_balance_past_the_bound_planned_from_a_stale_cache_is_refused_by_the_server(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    """Planned from the cache, a top-up looks fine; the server finds the stored balance
    it would pass ``MAX_AMOUNT`` (its ledger function checks the bound since version 8),
    the unit is re-run and planning refuses it. Nothing passes the bound."""
    a, b = _stores(pg_cluster, pg_clean_schema)
    assert _run(a, TopUp(account_id="m", amount=_eur(1), key="a1", at=T0)) == ("written",)
    near = subtract(MAX_AMOUNT, Decimal(102))  # external:m ends one below the bound
    assert _run(b, TopUp(account_id="m", amount=_eur(near), key="b1", at=T0)) == ("written",)
    late = TopUp(account_id="m", amount=_eur(2), key="a2", at=T0)  # a has seen 101
    assert _run(a, late) == ("conflict", "balance_out_of_bounds")
    assert _balance(b, "external:m") == subtract(Decimal(1), MAX_AMOUNT)
    assert _run(a, TopUp(account_id="m", amount=_eur(1), key="a2", at=T0)) == ("written",)
    assert _balance(b, "wallet:m") == MAX_AMOUNT
