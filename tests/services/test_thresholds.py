"""``app.thresholds``: quota thresholds and wallet alerts, set by the right people, and
their crossings told once each (memory and SQLite; threads over one SQLite file)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct import (
    SYSTEM,
    BillingPeriod,
    Distribute,
    FixedClock,
    MemoryStore,
    Money,
    Quota,
    Settings,
    Spend,
    SqliteStore,
    Store,
    Subacct,
    TopUp,
    UsageRecord,
    Wallet,
)
from subacct.domain.events import CreditLow, QuotaThresholdReached, TopUpRequested
from subacct.errors import (
    AccountNotFound,
    ActionDenied,
    ConcurrentModification,
    InsufficientCredit,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    WalletNotFound,
)
from subacct.pricing import AutoTopUp

from .conftest import T0, event_log, make_app, seed_agency, store_state

JAN, FEB = BillingPeriod(2026, 1), BillingPeriod(2026, 2)
S = SYSTEM


def eur(n: int | str) -> Money:
    return Money(n, "EUR")


def reached(store: Store) -> list[tuple[str, str, int, int, int]]:
    return [
        (e.account_id, e.period, e.percent, e.used, e.limit)
        for e in event_log(store)
        if isinstance(e, QuotaThresholdReached)
    ]


def alerts(store: Store) -> list[tuple[str, str, str, str]]:
    out = []
    for e in event_log(store):
        if isinstance(e, CreditLow):
            out.append(("low", e.account_id, str(e.balance.amount), str(e.threshold.amount)))
        elif isinstance(e, TopUpRequested):
            out.append(("top_up", e.account_id, str(e.balance.amount), str(e.amount.amount)))
    return out


def quota_app(store: Store, **settings: Any) -> Subacct:
    app = seed_agency(make_app(store, **settings))
    app.billing.set_quota("agencydemo", Quota(1000), by=S)
    app.thresholds.set_quota_thresholds("agencydemo", [100, 80], by=S)
    return app


def wallet_app(store: Store, **settings: Any) -> Subacct:
    app = seed_agency(make_app(store, currency="EUR", **settings))
    app.credits.open_wallet(Wallet("agencydemo"), by=S)
    app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=eur(100), key="buy", at=T0), by=S)
    app.thresholds.set_low_credit("agency1", eur(10), by=S)
    return app


def another_app(store: Any) -> Subacct:
    """Another process's app over ``store`` (ids of its own: random)."""
    return Subacct(store, Settings(clock=FixedClock(T0), currency="EUR", max_attempts=100))


def spend(app: Subacct, account: str, amount: int, key: str) -> None:
    app.credits.execute(Spend(account_id=account, amount=eur(amount), key=key, at=T0), by=S)


def give(app: Subacct, amount: int, key: str) -> None:
    app.credits.execute(Distribute(sub_id="agency1", amount=eur(amount), key=key, at=T0), by=S)


# -- quota thresholds ------------------------------------------------------------------


def test_each_quota_threshold_is_told_once_a_month(store: Store) -> None:
    clock = FixedClock(T0)
    app = quota_app(store, clock=clock)
    app.billing.reserve_send("agencydemo", JAN, 700, key="s1", by=S)
    assert reached(store) == []
    app.billing.reserve_send("agency1", JAN, 150, key="s2", by=S)  # the sub counts too
    assert reached(store) == [("agencydemo", "2026-01", 80, 850, 1000)]
    app.billing.reserve_send("agency1", JAN, 150, key="s2", by=S)  # a retry: nothing
    app.billing.release_send("agency1", JAN, "s2", by=S)  # back under 80 %
    app.billing.reserve_send("agency1", JAN, 160, key="s3", by=S)  # reached again: told once
    assert len(reached(store)) == 1
    app.billing.record_usage([UsageRecord("agency2", JAN, "email", 140, "u1")], by=S)
    assert reached(store)[1:] == [("agencydemo", "2026-01", 100, 1000, 1000)]
    with pytest.raises(QuotaExceeded):
        app.billing.reserve_send("agencydemo", JAN, 1, key="s4", by=S)
    clock.advance(timedelta(days=20))
    app.billing.reserve_send("agencydemo", FEB, 999, key="s1", by=S)  # a new month
    assert reached(store)[2:] == [("agencydemo", "2026-02", 80, 999, 1000)]


def test_one_send_past_both_thresholds_tells_both(store: Store) -> None:
    app = quota_app(store)
    app.billing.reserve_send("agencydemo", JAN, 1000, key="all", by=S)
    assert [r[2] for r in reached(store)] == [80, 100]


def test_a_sub_and_its_master_are_told_against_their_own_limits(store: Store) -> None:
    app = quota_app(store)
    app.billing.set_quota("agency1", Quota(100), by=S)
    app.thresholds.set_quota_thresholds("agency1", [50], by="owner")
    app.billing.reserve_send("agency1", JAN, 60, key="a", by=S)
    assert reached(store) == [("agency1", "2026-01", 50, 60, 100)]


def test_a_move_that_carries_volume_under_a_master_tells_its_threshold(store: Store) -> None:
    app = quota_app(store)
    app.accounts.create_master("Other", account_id="other", by=S)
    app.accounts.create_sub("other", "Mover", account_id="mover", by=S)
    app.billing.reserve_send("mover", JAN, 900, key="a", by=S)
    assert reached(store) == []
    app.accounts.move("mover", "agencydemo", by=S)
    assert reached(store) == [("agencydemo", "2026-01", 80, 900, 1000)]


def test_a_threshold_drawn_below_the_volume_is_not_a_crossing(store: Store) -> None:
    app = quota_app(store)
    app.thresholds.remove_quota_thresholds("agencydemo", by=S)
    app.billing.reserve_send("agencydemo", JAN, 850, key="a", by=S)
    app.thresholds.set_quota_thresholds("agencydemo", [80, 90], by=S)
    app.billing.reserve_send("agencydemo", JAN, 10, key="b", by=S)
    assert reached(store) == []
    app.billing.reserve_send("agencydemo", JAN, 50, key="c", by=S)
    assert reached(store) == [("agencydemo", "2026-01", 90, 910, 1000)]


def test_quota_thresholds_are_set_like_the_quota(store: Store) -> None:
    app = quota_app(store)
    # a sub's by its parent's administrators, not its own
    with pytest.raises(ActionDenied):
        app.thresholds.set_quota_thresholds("agency1", [80], by="sam")
    assert app.thresholds.set_quota_thresholds("agency1", [80], by="owner").percents == (80,)
    # a top-level account's by billing.manage in it (its parent admin), not a sub's admin
    with pytest.raises(ActionDenied):
        app.thresholds.remove_quota_thresholds("agencydemo", by="sam")
    assert app.thresholds.quota_thresholds("agencydemo", by="owner") is not None
    with pytest.raises(ActionDenied):
        app.thresholds.quota_thresholds("agencydemo", by="bob")  # no billing.view
    app.thresholds.remove_quota_thresholds("agencydemo", by="owner")
    assert app.thresholds.quota_thresholds("agencydemo", by=S) is None
    with pytest.raises(NotFound):
        app.thresholds.remove_quota_thresholds("agencydemo", by="owner")
    with pytest.raises(AccountNotFound):
        app.thresholds.set_quota_thresholds("nobody", [80], by=S)


@pytest.mark.parametrize(
    "percents", [[], [0], [1001], [80.0], ["80"], [True], "80", 80, list(range(1, 22))]
)
def test_bad_quota_thresholds_are_refused_naming_the_field(store: Store, percents: Any) -> None:
    app = quota_app(store)
    before = store_state(store)
    with pytest.raises(InvalidInput) as refused:
        app.thresholds.set_quota_thresholds("agencydemo", percents, by=S)
    assert refused.value.details["field"] == "percents"
    assert store_state(store) == before


def test_a_refused_setting_changes_nothing_but_its_audit(store: Store) -> None:
    app = quota_app(store)
    before = event_log(store)
    with pytest.raises(ActionDenied):
        app.thresholds.set_quota_thresholds("agency1", [80], by="bob")
    with pytest.raises(ActionDenied):
        app.thresholds.set_low_credit("agency1", eur(5), by="bob")
    assert event_log(store) == before
    assert app.thresholds.quota_thresholds("agency1", by=S) is None


# -- wallet alerts -----------------------------------------------------------------------


def test_credit_low_is_told_once_per_fall_below_the_threshold(store: Store) -> None:
    app = wallet_app(store)
    give(app, 20, "g1")
    spend(app, "agency1", 5, "x1")  # 15
    assert alerts(store) == []
    spend(app, "agency1", 6, "x2")  # 9: below
    assert alerts(store) == [("low", "agency1", "9", "10")]
    spend(app, "agency1", 6, "x2")  # a retry: nothing
    spend(app, "agency1", 1, "x3")  # 8: still below
    give(app, 1, "g2")  # 9: still below
    assert len(alerts(store)) == 1
    give(app, 1, "g3")  # 10: back at the threshold, re-armed
    spend(app, "agency1", 1, "x4")  # 9: below again
    assert alerts(store)[1:] == [("low", "agency1", "9", "10")]


def test_a_distribution_that_drains_the_master_tells_the_master(store: Store) -> None:
    app = wallet_app(store)
    app.thresholds.set_low_credit("agencydemo", eur(50), by="owner")
    give(app, 60, "g1")  # master 100 -> 40
    assert alerts(store) == [("low", "agencydemo", "40", "50")]


def test_auto_top_up_is_requested_once_until_the_balance_recovers(store: Store) -> None:
    app = wallet_app(store)
    app.thresholds.set_low_credit("agencydemo", eur(30), by="owner")
    app.thresholds.set_auto_top_up("agencydemo", AutoTopUp(eur(20), eur(50)), by="owner")
    spend(app, "agencydemo", 85, "x1")  # 15: below both lines, in one operation
    assert alerts(store) == [
        ("low", "agencydemo", "15", "30"),
        ("top_up", "agencydemo", "15", "50"),
    ]
    spend(app, "agencydemo", 1, "x2")
    assert len(alerts(store)) == 2
    # the host's payment code answers the request
    app.credits.execute(TopUp(account_id="agencydemo", amount=eur(50), key="auto1", at=T0), by=S)
    spend(app, "agencydemo", 50, "x3")  # 64 -> 14
    assert alerts(store)[2:] == [
        ("low", "agencydemo", "14", "30"),
        ("top_up", "agencydemo", "14", "50"),
    ]


def test_changing_a_wallets_alerts_re_arms_them(store: Store) -> None:
    app = wallet_app(store)
    give(app, 20, "g1")
    spend(app, "agency1", 15, "x1")  # 5: below 10
    app.thresholds.set_low_credit("agency1", eur(3), by=S)
    app.thresholds.set_low_credit("agency1", eur(10), by=S)
    spend(app, "agency1", 1, "x2")  # still below 10: not a crossing
    give(app, 10, "g2")  # 14
    spend(app, "agency1", 5, "x3")  # 9
    assert [a[2] for a in alerts(store)] == ["5", "9"]


def test_wallet_alerts_are_set_like_the_wallet(store: Store) -> None:
    app = wallet_app(store)
    with pytest.raises(ActionDenied):
        app.thresholds.set_low_credit("agency1", eur(5), by="bob")
    found = app.thresholds.set_auto_top_up("agency1", AutoTopUp(eur(5), eur(20)), by="owner")
    assert found.low_credit == eur(10)
    assert found.auto_top_up == AutoTopUp(eur(5), eur(20))
    assert app.thresholds.wallet_alerts("agency1", by="owner") == found
    with pytest.raises(ActionDenied):
        app.thresholds.wallet_alerts("agency1", by="bob")
    assert app.thresholds.remove_low_credit("agency1", by="owner").low_credit is None
    with pytest.raises(NotFound):
        app.thresholds.remove_low_credit("agency1", by="owner")
    assert app.thresholds.remove_auto_top_up("agency1", by="owner").is_empty
    assert app.thresholds.wallet_alerts("agency1", by=S) is None
    with pytest.raises(WalletNotFound):
        app.thresholds.set_low_credit("agency2", eur(5), by=S)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a: a.thresholds.set_low_credit("agency1", eur(-1), by=S), "threshold"),
        (lambda a: a.thresholds.set_low_credit("agency1", 5, by=S), "threshold"),
        (lambda a: a.thresholds.set_auto_top_up("agency1", eur(5), by=S), "rule"),
        (lambda a: AutoTopUp(eur(5), eur(0)), "amount"),
        (lambda a: AutoTopUp(eur(5), Money(5, "USD")), "amount"),
        (lambda a: AutoTopUp(eur(-5), eur(5)), "below"),
        (lambda a: a.thresholds.remove_low_credit("agency1", by=S, currency="EURO"), "currency"),
    ],
)
def test_bad_wallet_alerts_are_refused_naming_the_field(
    store: Store, call: Callable[[Subacct], object], field: str
) -> None:
    app = wallet_app(store)
    before = store_state(store)
    with pytest.raises(InvalidInput) as refused:
        call(app)
    assert refused.value.details["field"] == field
    assert store_state(store) == before


# -- concurrency: threads over one SQLite file ------------------------------------------


def run_threads(work: Callable[[int], None], count: int = 8) -> None:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_concurrent_sends_tell_each_threshold_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    setup = SqliteStore(path)
    quota_app(setup)
    setup.close()
    stores = [SqliteStore(path) for _ in range(8)]
    apps = [another_app(s) for s in stores]

    def work(n: int) -> None:
        for i in range(5):  # 8 x 5 x 25 = 1000: every threshold is crossed
            apps[n].billing.reserve_send("agency1", JAN, 25, key=f"t{n}-{i}", by=S)
            apps[n].billing.reserve_send("agency1", JAN, 25, key=f"t{n}-{i}", by=S)  # retry

    run_threads(work)
    assert [(r[2], r[4]) for r in reached(stores[0])] == [(80, 1000), (100, 1000)]
    assert [r[3] for r in reached(stores[0])] == [800, 1000]  # at the send that crossed
    for store in stores:
        store.close()


def test_concurrent_spends_tell_credit_low_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    setup = SqliteStore(path)
    app = wallet_app(setup)
    app.thresholds.set_auto_top_up("agencydemo", AutoTopUp(eur(55), eur(50)), by=S)
    give(app, 40, "g1")
    setup.close()
    stores = [SqliteStore(path) for _ in range(8)]
    apps = [another_app(s) for s in stores]

    def work(n: int) -> None:
        for i in range(4):  # 8 x 4 x 1: the sub 40 -> 8
            spend(apps[n], "agency1", 1, f"x{n}-{i}")
            spend(apps[n], "agency1", 1, f"x{n}-{i}")  # a retry
        spend(apps[n], "agencydemo", 1, f"m{n}")  # 8 x 1: the master 60 -> 52

    run_threads(work)
    assert sorted(alerts(stores[0])) == [
        ("low", "agency1", "9", "10"),
        ("top_up", "agencydemo", "54", "50"),
    ]
    for store in stores:
        store.close()


class _LosesCommits:
    """A store whose first ``lose`` commits fail as a lost race (nothing written)."""

    def __init__(self, inner: Store, lose: int) -> None:
        self.inner, self.lose = inner, lose

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextmanager
    def unit_of_work(self, **options: Any) -> Iterator[Any]:
        with self.inner.unit_of_work(**options) as uow:
            yield _Losing(uow, self)


class _Losing:
    def __init__(self, uow: Any, store: _LosesCommits) -> None:
        self._uow, self._store = uow, store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def commit(self) -> None:
        if self._store.lose > 0:
            self._store.lose -= 1
            raise ConcurrentModification("lost a race (test)")
        self._uow.commit()


def test_a_unit_run_again_after_a_lost_race_tells_each_crossing_once(store: Store) -> None:
    seeded = wallet_app(store)
    seeded.billing.set_quota("agencydemo", Quota(1000), by=S)
    seeded.thresholds.set_quota_thresholds("agencydemo", [80], by=S)
    give(seeded, 20, "g1")
    app = another_app(_LosesCommits(store, 2))
    app.billing.reserve_send("agencydemo", JAN, 900, key="a", by=S)
    assert reached(store) == [("agencydemo", "2026-01", 80, 900, 1000)]
    app = another_app(_LosesCommits(store, 2))
    spend(app, "agency1", 15, "x1")
    assert alerts(store) == [("low", "agency1", "5", "10")]


# -- a property: random sends and ledger operations against a model --------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(1, 400)),
        st.tuples(st.just("send"), st.integers(100, 400)),
        st.tuples(st.just("release"), st.integers(0, 30)),
        st.tuples(st.just("spend"), st.integers(1, 40)),
        st.tuples(st.just("top_up"), st.integers(1, 40)),
        st.tuples(st.just("retry"), st.integers(0, 30)),
    ),
    min_size=4,
    max_size=40,
)


@settings(max_examples=40)
@given(ops=_OPS)
def test_random_sends_and_top_ups_tell_exactly_the_crossings_a_model_predicts(
    ops: list[tuple[str, int]],
) -> None:
    """Model: a quota threshold is told the first time the month's volume reaches it; a
    wallet line is told at each operation that takes the balance from at or above it to
    below it. Retries (the same key again) tell nothing and change nothing."""
    store = MemoryStore()
    app = seed_agency(make_app(store, currency="EUR"))
    app.billing.set_quota("agencydemo", Quota(1000, allow_overage=True), by=S)
    app.thresholds.set_quota_thresholds("agencydemo", [50, 80, 100, 150], by=S)
    app.credits.open_wallet(Wallet("agencydemo"), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=eur(50), key="t0", at=T0), by=S)
    app.thresholds.set_low_credit("agencydemo", eur(20), by=S)
    app.thresholds.set_auto_top_up("agencydemo", AutoTopUp(eur(10), eur(30)), by=S)
    used, balance, reached_now = 0, 50, set[int]()
    sends: list[tuple[str, int]] = []  # (key, quantity) of each send still held
    done: list[tuple[str | None, Callable[[], object]]] = []  # (send key, call) to retry
    expected: list[tuple[str, ...]] = []
    for n, (op, value) in enumerate(ops):
        if op == "send":
            key = f"s{n}"

            def send(key: str = key, value: int = value) -> object:
                return app.billing.reserve_send("agency1", JAN, value, key=key, by=S)

            send()
            used += value
            sends.append((key, value))
            done.append((key, send))
            for p in (50, 80, 100, 150):
                if p not in reached_now and used * 100 >= p * 1000:
                    reached_now.add(p)
                    expected.append(("reached", str(p), str(used)))
        elif op == "release" and sends:
            key, quantity = sends.pop(value % len(sends))
            app.billing.release_send("agency1", JAN, key, by=S)
            used -= quantity
        elif op in ("spend", "top_up"):
            cls = Spend if op == "spend" else TopUp
            request = cls(account_id="agencydemo", amount=eur(value), key=f"c{n}", at=T0)
            if op == "spend" and value > balance:
                with pytest.raises(InsufficientCredit):
                    app.credits.execute(request, by=S)
                continue
            app.credits.execute(request, by=S)
            done.append((None, lambda request=request: app.credits.execute(request, by=S)))
            before, balance = balance, balance + (value if op == "top_up" else -value)
            if before >= 20 > balance:
                expected.append(("low", "agencydemo", str(balance), "20"))
            if before >= 10 > balance:
                expected.append(("top_up", "agencydemo", str(balance), "30"))
        elif op == "retry" and done:
            key, call = done[value % len(done)]
            if key is None or key in dict(sends):  # a released send's key is free again
                call()
    told = [("reached", str(r[2]), str(r[3])) for r in reached(store)]
    ledger = alerts(store)
    assert ledger == [e for e in expected if e[0] != "reached"]
    assert told == [e for e in expected if e[0] == "reached"]
