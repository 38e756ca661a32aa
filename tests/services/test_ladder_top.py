"""Above the ladder (issue 15, item 4): a send or usage that would take the payer's pooled
volume past the top of a plan ladder without an overage rate is refused when it is
checked, reserved, authorized or recorded, postpaid or prepaid; with an overage rate it
is billed. Whatever is accepted can be invoiced."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.services.conftest import T0, make_app, seed_agency, snapshot

from subacct import (
    SYSTEM,
    BillingPeriod,
    FixedClock,
    MemoryStore,
    Money,
    Plan,
    PlanLadder,
    Settings,
    SqliteStore,
    Store,
    Subacct,
    Tier,
    TieredPrice,
    TierMode,
    UsageRecord,
)
from subacct.errors import NoMatchingCharge, VolumeAboveLadder
from subacct.pricing import Charge, PriceList

JAN = BillingPeriod(2026, 1)
LATE_JAN = T0 + timedelta(days=10)


def usd(amount: object) -> Money:
    return Money(amount, "USD")  # type: ignore[arg-type]


def ladder(overage: str | None = None) -> PlanLadder:
    """Seed 000's ladder: it tops at 18,000."""
    plans = [
        Plan("2,500", 2500, usd(15)),
        Plan("8,500", 8500, usd(45)),
        Plan("12,000", 12000, usd(60)),
        Plan("18,000", 18000, usd(90)),
    ]
    return PlanLadder(plans, overage_unit_price=None if overage is None else Decimal(overage))


def seed000(store: Store, price: Any = None) -> Subacct:
    """Seed 000's month: 9,000 + 5,300 + 1,700 = 16,000 pooled on the ladder."""
    app = seed_agency(make_app(store, clock=FixedClock(LATE_JAN), currency="USD"))
    app.billing.set_profile("agencydemo", price or ladder(), by=SYSTEM)
    volumes = {"agencydemo": 9000, "agency1": 5300, "agency2": 1700}
    app.billing.record_usage(
        [UsageRecord(a, JAN, "email", n, f"{a}-month") for a, n in volumes.items()], by=SYSTEM
    )
    return app


def test_seed000_a_pooled_send_that_would_reach_18001_is_refused(store: Store) -> None:
    app = seed000(store)
    assert app.billing.check_send("agency2", JAN, 2000, by=SYSTEM).allowed  # 18,000: the top
    check = app.billing.check_send("agency2", JAN, 2001, by=SYSTEM)
    assert isinstance(check.refusal, VolumeAboveLadder)
    assert check.refusal.code == "volume_above_ladder"
    details = check.refusal.details
    assert (details["field"], details["top"], details["used"]) == ("quantity", 18000, 16000)
    assert (details["payer_id"], details["charge"], details["requested"]) == (
        "agencydemo",
        "all",
        2001,
    )
    with pytest.raises(VolumeAboveLadder):
        app.billing.reserve_send("agency2", JAN, 2001, key="big", by=SYSTEM)
    before = snapshot(store)
    with pytest.raises(VolumeAboveLadder):
        app.billing.record_usage(
            [
                UsageRecord("agency1", JAN, "email", 1000, "fits"),
                UsageRecord("agency2", JAN, "email", 1001, "does-not"),
            ],
            by=SYSTEM,
        )
    assert snapshot(store) == before  # the batch is refused whole
    with pytest.raises(VolumeAboveLadder):
        app.sending.authorize("agency2", "email", 2001, key="send", by=SYSTEM)  # postpaid
    assert snapshot(store) == before
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    assert invoice.total == usd(90)


def test_open_reservations_and_holds_count_until_they_end(store: Store) -> None:
    app = seed000(store)
    app.billing.reserve_send("agency1", JAN, 1500, key="r", by=SYSTEM)
    hold = app.sending.authorize("agency2", "email", 400, key="h", by=SYSTEM)
    assert app.billing.check_send("agencydemo", JAN, 100, by=SYSTEM).allowed
    assert not app.billing.check_send("agencydemo", JAN, 101, by=SYSTEM).allowed
    with pytest.raises(VolumeAboveLadder):
        app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 101, "x")], by=SYSTEM)
    # the reservation settles for less than it reserved: the rest is free again
    app.billing.record_usage([UsageRecord("agency1", JAN, "email", 1000, "r")], by=SYSTEM)
    assert app.billing.check_send("agencydemo", JAN, 600, by=SYSTEM).allowed
    app.sending.release(hold, by=SYSTEM)
    assert app.billing.check_send("agencydemo", JAN, 1000, by=SYSTEM).allowed
    captured = app.sending.authorize("agency2", "email", 1000, key="h2", by=SYSTEM)
    app.sending.capture(captured, 1000, by=SYSTEM)  # 18,000
    assert not app.billing.check_send("agency1", JAN, 1, by=SYSTEM).allowed
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    assert invoice.total == usd(90)


def test_with_an_overage_rate_the_volume_above_the_top_is_billed_at_it(store: Store) -> None:
    app = seed000(store, ladder(overage="0.01"))
    assert app.billing.check_send("agency2", JAN, 2001, by=SYSTEM).allowed
    app.billing.reserve_send("agency2", JAN, 2001, key="big", by=SYSTEM)
    app.billing.record_usage([UsageRecord("agency2", JAN, "email", 2001, "big")], by=SYSTEM)
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    assert invoice.total == usd("90.01")  # the 18,000 plan + 1 over at 0.01
    assert app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM).total == usd("90.01")


def test_a_pooled_subs_user_learns_the_payers_price_is_used_up_not_its_figures(
    store: Store,
) -> None:
    app = seed000(store)
    told = app.billing.check_send("agency1", JAN, 2001, by="sam").refusal  # sub admin
    assert isinstance(told, VolumeAboveLadder)
    assert told.details["payer_id"] == "agencydemo"
    assert "top" not in told.details
    assert "used" not in told.details
    assert "16,000" not in told.message
    assert "18,000" not in told.message
    with pytest.raises(VolumeAboveLadder) as refused:
        app.billing.reserve_send("agency1", JAN, 2001, key="k", by="sam")
    assert "top" not in refused.value.details
    owner = app.billing.check_send("agency1", JAN, 2001, by="owner").refusal  # billing.view
    assert isinstance(owner, VolumeAboveLadder)
    assert owner.details["top"] == 18000


def test_a_sub_with_its_own_profile_counts_against_its_own_price(store: Store) -> None:
    app = seed000(store)
    app.billing.set_profile("agency1", PlanLadder([Plan("100", 100, usd(5))]), by=SYSTEM)
    app.billing.record_usage([UsageRecord("agency1", JAN, "email", 100, "own")], by=SYSTEM)
    assert not app.billing.check_send("agency1", JAN, 1, by=SYSTEM).allowed  # its own top
    assert app.billing.check_send("agency2", JAN, 2000, by=SYSTEM).allowed  # not the master's


def test_a_price_list_applies_each_ladder_charge_to_its_own_volume(store: Store) -> None:
    sms = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.05")], "USD")
    price = PriceList([Charge("email", ladder(), "email"), Charge("sms", sms, "sms")])
    app = seed000(store, price)
    assert app.billing.check_send("agency1", JAN, 2000, by=SYSTEM, channel="email").allowed
    check = app.billing.check_send("agency1", JAN, 2001, by=SYSTEM, channel="email")
    assert isinstance(check.refusal, VolumeAboveLadder)
    assert check.refusal.details["charge"] == "email"
    assert app.billing.check_send("agency1", JAN, 10**6, by=SYSTEM, channel="sms").allowed
    app.billing.record_usage([UsageRecord("agency1", JAN, "sms", 10**6, "s")], by=SYSTEM)
    # named no channel, a price of several charges is checked when the usage is recorded
    app.billing.reserve_send("agency2", JAN, 5000, key="any", by=SYSTEM)
    with pytest.raises(VolumeAboveLadder):
        app.billing.record_usage([UsageRecord("agency2", JAN, "email", 2001, "any")], by=SYSTEM)
    app.billing.record_usage([UsageRecord("agency2", JAN, "email", 2000, "any")], by=SYSTEM)
    with pytest.raises(NoMatchingCharge):
        app.billing.check_send("agency1", JAN, 1, by=SYSTEM, channel="smtp")
    app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)


# -- whatever is accepted can be invoiced ---------------------------------------------------

_ACCOUNTS = st.sampled_from(["agencydemo", "agency1", "agency2"])
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["record", "reserve", "settle", "release", "send", "capture", "end"]),
        _ACCOUNTS,
        st.integers(1, 120),
    ),
    min_size=1,
    max_size=14,
)
_TOPPED = PlanLadder([Plan("50", 50, usd(10)), Plan("200", 200, usd(30))])


@settings(max_examples=40, deadline=None)
@given(steps=_STEPS, nested=st.booleans(), prepaid=st.booleans())
def test_whatever_is_accepted_can_be_invoiced(
    steps: list[tuple[str, str, int]], nested: bool, prepaid: bool
) -> None:
    """Random usage, reservations, settlements, releases, sends and captures on a ladder
    without overage (a sub paying for itself or not; postpaid or prepaid): what is
    refused is refused as ``VolumeAboveLadder``, and invoicing never raises it."""
    app = seed_agency(make_app(MemoryStore(), clock=FixedClock(LATE_JAN), currency="USD"))
    app.billing.set_profile("agencydemo", _TOPPED, prepaid=prepaid, by=SYSTEM)
    if nested:
        app.billing.set_profile("agency2", _TOPPED, by=SYSTEM)
    if prepaid:
        from subacct import TopUp, Wallet
        from subacct.pricing.ledger import Allocation, SetAllocation

        app.credits.open_wallet(Wallet("agencydemo"), by=SYSTEM)
        app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by=SYSTEM)
        draws = SetAllocation(
            sub_id="agency1", allocation=Allocation.unlimited(), key="pool", at=LATE_JAN
        )
        app.credits.execute(draws, by=SYSTEM)
        top_up = TopUp(account_id="agencydemo", amount=usd(10**6), key="t", at=LATE_JAN)
        app.credits.execute(top_up, by=SYSTEM)
    reserved: list[tuple[str, str]] = []
    holds: list[Any] = []
    for i, (what, account, n) in enumerate(steps):
        try:
            if what == "record":
                record = UsageRecord(account, JAN, "email", n, f"u{i}")
                app.billing.record_usage([record], by=SYSTEM)
            elif what == "reserve":
                app.billing.reserve_send(account, JAN, n, key=f"r{i}", by=SYSTEM)
                reserved.append((account, f"r{i}"))
            elif what in ("settle", "release") and reserved:
                where, key = reserved.pop(n % len(reserved))
                if what == "release":
                    app.billing.release_send(where, JAN, key, by=SYSTEM)
                else:
                    settled = UsageRecord(where, JAN, "email", n, key)
                    app.billing.record_usage([settled], by=SYSTEM)
            elif what == "send" and (not prepaid or nested or account != "agency2"):
                # (a prepaid pool's agency2 has no wallet)
                holds.append(app.sending.authorize(account, "email", n, key=f"h{i}", by=SYSTEM))
            elif what in ("capture", "end") and holds:
                hold = holds.pop(n % len(holds))
                if what == "end":
                    app.sending.release(hold, by=SYSTEM)
                else:
                    app.sending.capture(hold, n % (hold.quantity + 1), by=SYSTEM)
        except VolumeAboveLadder:
            continue
    app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)  # never VolumeAboveLadder
    app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)


# -- races: the check and the write are one unit of work --------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_usage_and_sends_never_pass_the_top(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """8 threads, each with its own application over one database, race reservations,
    usage and postpaid sends into a pool 300 messages below the top: what is accepted
    reaches the top at most, and the month can be invoiced."""
    import threading

    def open_store() -> Any:
        if kind == "sqlite":
            return SqliteStore(tmp_path / "race.db", timeout=30)
        from subacct.storage.postgres import PostgresStore

        cluster = request.getfixturevalue("pg_cluster")
        return PostgresStore(cluster.conninfo(), schema=schema, max_size=2)

    schema = request.getfixturevalue("pg_schema") if kind == "postgres" else ""
    first = open_store()
    app = seed_agency(make_app(first, clock=FixedClock(LATE_JAN), currency="USD"))
    app.billing.set_profile("agencydemo", ladder(), by=SYSTEM)
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 17700, "base")], by=SYSTEM)
    stores = [open_store() for _ in range(8)]
    accepted: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        mine = Subacct(stores[n], Settings(clock=FixedClock(LATE_JAN), max_attempts=100))
        account = ("agency1", "agency2", "agencydemo")[n % 3]
        for i in range(5):
            size = 7 + (n * 5 + i) % 13
            key = f"w{n}-{i}"
            try:
                if i % 3 == 0:
                    mine.billing.record_usage(
                        [UsageRecord(account, JAN, "email", size, key)], by=SYSTEM
                    )
                elif i % 3 == 1:
                    mine.billing.reserve_send(account, JAN, size, key=key, by=SYSTEM)
                    mine.billing.record_usage(
                        [UsageRecord(account, JAN, "email", size, key)], by=SYSTEM
                    )
                else:
                    hold = mine.sending.authorize(account, "email", size, key=key, by=SYSTEM)
                    mine.sending.capture(hold, size, by=SYSTEM)
            except VolumeAboveLadder:
                continue
            with lock:
                accepted.append(size)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    book = app.billing.usage_book(JAN, by=SYSTEM)
    total = sum(book.total(a) for a in ("agencydemo", "agency1", "agency2"))
    assert total == 17700 + sum(accepted) <= 18000
    assert sum(accepted) > 0
    assert app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM).total == usd(90)
    for store in [first, *stores]:
        store.close()
