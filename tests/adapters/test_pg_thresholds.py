"""Thresholds on PostgreSQL: each crossing told once, also under concurrent writers from
several stores (processes) whose units run SERIALIZABLE (quota counters) or READ
COMMITTED with server-checked plans (the ledger)."""

from __future__ import annotations

from tests.services.conftest import T0, seed_agency
from tests.services.test_thresholds import eur, run_threads

from subacct import (
    SYSTEM,
    BillingPeriod,
    Distribute,
    FixedClock,
    Quota,
    Settings,
    Spend,
    Subacct,
    TopUp,
    Wallet,
)
from subacct.domain.events import CreditLow, QuotaThresholdReached, TopUpRequested
from subacct.pricing import AutoTopUp
from subacct.storage.postgres import PostgresStore
from subacct.testing.pgcluster import TempCluster

JAN = BillingPeriod(2026, 1)
S = SYSTEM


def app_over(store: PostgresStore) -> Subacct:
    return Subacct(store, Settings(clock=FixedClock(T0), currency="EUR", max_attempts=100))


def told(app: Subacct) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for logged in app.events.since(0, by=S, limit=10_000):
        e = logged.event
        if isinstance(e, QuotaThresholdReached):
            out.append(("reached", e.account_id, str(e.percent), str(e.used)))
        elif isinstance(e, CreditLow):
            out.append(("low", e.account_id, str(e.balance.amount)))
        elif isinstance(e, TopUpRequested):
            out.append(("top_up", e.account_id, str(e.balance.amount)))
    return out


def _world(cluster: TempCluster, schema: str) -> Subacct:
    app = seed_agency(app_over(PostgresStore(cluster.conninfo(), schema=schema)))
    app.billing.set_quota("agencydemo", Quota(1000), by=S)
    app.thresholds.set_quota_thresholds("agencydemo", [80, 100], by=S)
    app.credits.open_wallet(Wallet("agencydemo"), by=S)
    app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=eur(100), key="buy", at=T0), by=S)
    app.credits.execute(Distribute(sub_id="agency1", amount=eur(40), key="g", at=T0), by=S)
    app.thresholds.set_low_credit("agency1", eur(10), by=S)
    app.thresholds.set_auto_top_up("agencydemo", AutoTopUp(eur(55), eur(50)), by=S)
    return app


def test_each_crossing_is_told_once_and_a_retry_tells_nothing(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    app = _world(pg_cluster, pg_clean_schema)
    app.billing.reserve_send("agency1", JAN, 850, key="a", by=S)
    app.billing.reserve_send("agency1", JAN, 850, key="a", by=S)
    spend = Spend(account_id="agency1", amount=eur(31), key="x", at=T0)
    app.credits.execute(spend, by=S)
    app.credits.execute(spend, by=S)
    assert told(app) == [("reached", "agencydemo", "80", "850"), ("low", "agency1", "9")]
    app.store.close()  # type: ignore[attr-defined]


def test_concurrent_writers_in_several_stores_tell_each_crossing_once(
    pg_cluster: TempCluster, pg_clean_schema: str
) -> None:
    setup = _world(pg_cluster, pg_clean_schema)
    setup.store.close()  # type: ignore[attr-defined]
    stores = [
        PostgresStore(pg_cluster.conninfo(), schema=pg_clean_schema, max_size=4) for _ in "ab"
    ]
    apps = [app_over(stores[n % 2]) for n in range(8)]

    def work(n: int) -> None:
        app = apps[n]
        for i in range(5):  # 8 x 5 x 25 = 1000 messages
            app.billing.reserve_send("agency1", JAN, 25, key=f"t{n}-{i}", by=S)
        for i in range(4):  # 8 x 4 x 1: the sub 40 -> 8
            spend = Spend(account_id="agency1", amount=eur(1), key=f"x{n}-{i}", at=T0)
            app.credits.execute(spend, by=S)
            app.credits.execute(spend, by=S)  # a retry
        app.credits.execute(
            Spend(account_id="agencydemo", amount=eur(1), key=f"m{n}", at=T0), by=S
        )  # 8 x 1: the master 60 -> 52

    run_threads(work)
    assert sorted(told(apps[0])) == [
        ("low", "agency1", "9"),
        ("reached", "agencydemo", "100", "1000"),
        ("reached", "agencydemo", "80", "800"),
        ("top_up", "agencydemo", "54"),
    ]
    for store in stores:
        store.close()
