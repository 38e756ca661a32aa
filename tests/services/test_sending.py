"""``app.sending``: authorize, capture, release and expire sends over every store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.services.conftest import T0, make_app, seed_agency

from subacct import (
    SYSTEM,
    AccountNotActive,
    ActionDenied,
    FixedClock,
    Grant,
    IdempotencyConflict,
    InsufficientCredit,
    MemoryStore,
    Money,
    PackagePrice,
    Quota,
    QuotaExceeded,
    Settings,
    SqliteStore,
    Store,
    Subacct,
    Tier,
    TieredPrice,
    TierMode,
    TopUp,
    Wallet,
)
from subacct.errors import (
    HoldClosed,
    HoldNotFound,
    InvalidInput,
    InvalidPricing,
    InvalidQuantity,
    NoMatchingCharge,
    UnknownChannel,
    VolumeAboveLadder,
)
from subacct.policy import SEND_MESSAGES
from subacct.pricing import (
    DEFAULT_CHANNELS,
    BillingPeriod,
    Charge,
    Hold,
    HoldStatus,
    Plan,
    PlanLadder,
    PriceList,
)
from subacct.pricing.ledger import Allocation, LedgerAccount, SetAllocation
from subacct.testing.pgcluster import TempCluster

JAN = BillingPeriod(2026, 1)
SMS = TieredPrice(TierMode.GRADUATED, [Tier(1000, Decimal("0.08")), Tier(None, "0.05")], "EUR")


def eur(amount: Any) -> Money:
    return Money(amount, "EUR")


@pytest.fixture(params=["memory", "sqlite"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from _store(request, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def every_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Memory, SQLite and PostgreSQL, for the tests of what each database must keep
    (the others run on two: the conformance kit covers the adapters)."""
    yield from _store(request, tmp_path)


def _store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        store: Any = SqliteStore(tmp_path / "app.db")
    else:
        cluster: TempCluster = request.getfixturevalue("pg_cluster")
        from subacct.storage.postgres import PostgresStore

        store = PostgresStore(
            cluster.conninfo(), schema=request.getfixturevalue("pg_clean_schema"), max_size=2
        )
    yield store
    store.close()


def agency(store: Store, *, prepaid: bool = False, credit: int = 0) -> tuple[Subacct, FixedClock]:
    """Seed 000/004's agency; ``agencydemo`` pays for the tree (prepaid: on SMS prices,
    from its wallet, which ``agency1`` draws on through an unlimited allocation)."""
    clock = FixedClock(T0)
    app = seed_agency(make_app(store, clock=clock, currency="EUR"))
    if prepaid:
        app.billing.set_profile("agencydemo", SMS, prepaid=True, by=SYSTEM)
        app.credits.open_wallet(Wallet("agencydemo"), by=SYSTEM)
        app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by=SYSTEM)
        unlimited = SetAllocation(
            sub_id="agency1", allocation=Allocation.unlimited(), key="pool", at=T0
        )
        app.credits.execute(unlimited, by=SYSTEM)
        if credit:
            top_up = TopUp(account_id="agencydemo", amount=eur(credit), key="t1", at=T0)
            app.credits.execute(top_up, by=SYSTEM)
    else:
        ladder = PlanLadder([Plan("2,500", 2500, Money(15, "USD"))])
        app.billing.set_profile("agencydemo", ladder, by=SYSTEM)
    return app, clock


def _counted(app: Subacct, account_id: str) -> int:
    with app.store.unit_of_work() as uow:
        from subacct.storage.collections import QUOTA_COUNTERS

        found = uow.records(QUOTA_COUNTERS).find(f"{account_id}/{JAN}")
        return 0 if found is None else found.used


def balance(app: Subacct, text: str) -> Money:
    return app.credits.balance(LedgerAccount.parse(text), by=SYSTEM)


# -- postpaid ----------------------------------------------------------------------------


def test_a_send_is_held_then_captured_as_usage_of_what_was_delivered(every_store: Store) -> None:
    app, _ = agency(every_store)
    hold = app.sending.authorize("agency1", "email", 500, key="m-1", by="bob", label="promo")
    assert (hold.status, hold.quantity, hold.payer_id) == (HoldStatus.HELD, 500, "agencydemo")
    assert (hold.owner_id, hold.amount, hold.label) == ("bob", None, "promo")
    assert _counted(app, "agency1") == _counted(app, "agencydemo") == 500

    captured = app.sending.capture(hold, 480, by="bob")

    assert (captured.status, captured.delivered, captured.charged) == (
        HoldStatus.CAPTURED,
        480,
        None,
    )
    assert _counted(app, "agency1") == _counted(app, "agencydemo") == 480
    book = app.billing.usage_book(JAN, by=SYSTEM)
    assert book.total("agency1") == 480
    assert book.by_label("agency1") == {"promo": 480}
    assert app.sending.hold("agency1", "m-1", by="sam") == captured
    types = [e.event.event_type for e in app.events.since(by=SYSTEM)]
    assert types[-3:] == ["quota_released", "usage_recorded", "send_captured"]


def test_the_same_key_answers_the_same_hold_and_other_content_conflicts(
    any_store: Store,
) -> None:
    app, _ = agency(any_store)
    first = app.sending.authorize("agency1", "sms", 10, key="k", by="bob")
    assert app.sending.authorize("agency1", "sms", 10, key="k", by="bob") == first
    assert _counted(app, "agency1") == 10  # counted once
    with pytest.raises(IdempotencyConflict):
        app.sending.authorize("agency1", "sms", 11, key="k", by="bob")
    with pytest.raises(IdempotencyConflict):
        app.sending.authorize("agency1", "email", 10, key="k", by="bob")
    other = app.sending.authorize("agency2", "sms", 11, key="k", by="yara")  # its own key
    assert other.id != first.id

    captured = app.sending.capture(first, 7, by="bob")
    assert app.sending.capture(first, 7, by="bob") == captured  # a retry
    with pytest.raises(IdempotencyConflict):
        app.sending.capture(first, 8, by="bob")
    assert app.sending.authorize("agency1", "sms", 10, key="k", by="bob") == captured
    assert app.billing.usage_book(JAN, by=SYSTEM).total("agency1") == 7


def test_release_gives_the_quota_back_and_closes_the_hold(any_store: Store) -> None:
    app, _ = agency(any_store)
    hold = app.sending.authorize("agency1", "sms", 10, key="k", by="bob")
    released = app.sending.release(hold, by="bob")
    assert released.status is HoldStatus.RELEASED
    assert _counted(app, "agency1") == 0
    assert app.sending.release(hold, by="bob") == released  # a retry
    with pytest.raises(HoldClosed) as closed:
        app.sending.capture(hold, 10, by="bob")
    assert closed.value.details["status"] == "released"
    assert app.billing.usage_book(JAN, by=SYSTEM).total("agency1") == 0


def test_nothing_delivered_captures_nothing_and_releases_the_quota(any_store: Store) -> None:
    app, _ = agency(any_store)
    hold = app.sending.authorize("agency1", "sms", 10, key="k", by="bob")
    assert app.sending.capture(hold, 0, by="bob").delivered == 0
    assert _counted(app, "agency1") == 0
    assert app.billing.usage_book(JAN, by=SYSTEM).total("agency1") == 0
    with pytest.raises(HoldClosed):
        app.sending.release(hold, by="bob")


def test_holds_past_their_time_are_expired_by_the_sweep(every_store: Store) -> None:
    app, clock = agency(every_store, prepaid=True, credit=100)
    old = app.sending.authorize("agency1", "sms", 100, key="old", by="bob")
    clock.advance(timedelta(minutes=10))
    young = app.sending.authorize("agency1", "sms", 100, key="young", by="bob")
    clock.advance(timedelta(minutes=6))  # old is 16 minutes old; the default is 15
    with pytest.raises(HoldClosed) as late:
        app.sending.capture(old, 100, by="bob")
    assert late.value.details["status"] == "expired"
    with pytest.raises(ActionDenied):
        app.sending.expire_holds(by="owner")  # the system's (a scheduler's) job

    expired = app.sending.expire_holds(by=SYSTEM)

    assert [h.id for h in expired] == [old.id]
    assert expired[0].status is HoldStatus.EXPIRED
    assert app.sending.expire_holds(by=SYSTEM) == []
    assert _counted(app, "agency1") == 100  # young's only
    assert balance(app, "wallet:agencydemo") == eur(100) - young.amount  # type: ignore[operator]
    assert app.sending.capture(young, 100, by="bob").charged == young.amount


# -- refusals: typed, and nothing held ------------------------------------------------------


def test_refusals_are_typed_and_hold_nothing(every_store: Store) -> None:
    app, _ = agency(every_store, prepaid=True, credit=1)
    with pytest.raises(ActionDenied):
        app.sending.authorize("agency1", "sms", 1, key="a", by="new")
    with pytest.raises(ActionDenied):
        app.sending.authorize("agency1", "sms", 1, key="a", by="yara")  # a sibling's user
    app.billing.set_quota("agency1", Quota(100), by="owner")
    with pytest.raises(QuotaExceeded) as over:
        app.sending.authorize("agency1", "sms", 101, key="a", by="bob")
    assert over.value.details["limited_by"] == "agency1"
    with pytest.raises(InsufficientCredit):
        app.sending.authorize("agency1", "sms", 13, key="a", by="bob")  # 1.04 EUR > 1
    app.accounts.pause("agencydemo", by=SYSTEM)
    with pytest.raises(AccountNotActive):
        app.sending.authorize("agency1", "sms", 1, key="a", by="bob")
    app.accounts.resume("agencydemo", by=SYSTEM)

    with pytest.raises(HoldNotFound):
        app.sending.hold("agency1", "a", by="bob")
    assert _counted(app, "agency1") == _counted(app, "agencydemo") == 0
    assert balance(app, "wallet:agencydemo") == eur(1)
    assert app.credits.reservations(by=SYSTEM) == []
    ok = app.sending.authorize("agency1", "sms", 12, key="a", by="bob")  # 0.96 EUR fits
    assert ok.amount == eur("0.96")


def test_a_parent_cap_refuses_the_send_and_names_the_limit(any_store: Store) -> None:
    app, _ = agency(any_store)
    app.billing.set_quota("agencydemo", Quota(50), by=SYSTEM)
    app.sending.authorize("agency2", "sms", 40, key="a", by="yara")
    with pytest.raises(QuotaExceeded) as over:
        app.sending.authorize("agency1", "sms", 11, key="b", by="sam")
    assert over.value.details["limited_by"] == "agencydemo"


def test_bad_input_names_the_field_and_changes_nothing(any_store: Store) -> None:
    app, _ = agency(any_store)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"channel": "pigeon"}, "channel"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"key": ""}, "key"),
        ({"label": 7}, "label"),
    ]
    for change, field in cases:
        args: dict[str, Any] = {"channel": "sms", "quantity": 1, "key": "k", **change}
        with pytest.raises(InvalidInput) as bad:
            app.sending.authorize(
                "agency1", args["channel"], args["quantity"], key=args["key"],
                label=args.get("label"), by="bob",
            )  # fmt: skip
        assert bad.value.details["field"] == field, change
    hold = app.sending.authorize("agency1", "sms", 5, key="k", by="bob")
    with pytest.raises(InvalidQuantity) as bad_delivery:
        app.sending.capture(hold, 6, by="bob")
    assert bad_delivery.value.details["field"] == "delivered"
    with pytest.raises(InvalidInput):
        app.sending.capture("k", 1, by="bob")  # type: ignore[arg-type]
    assert app.sending.hold("agency1", "k", by="bob").status is HoldStatus.HELD


# -- prepaid: the price held and spent ------------------------------------------------------


def test_a_prepaid_send_holds_its_price_on_the_wallet_the_ledger_names(every_store: Store) -> None:
    app, _ = agency(every_store, prepaid=True, credit=100)
    hold = app.sending.authorize("agency1", "sms", 600, key="c1", by="bob")
    assert (hold.amount, hold.base, hold.charge) == (eur("48.00"), 0, "all")
    assert balance(app, "wallet:agencydemo") == eur("52.00")  # agency1 draws on its master
    assert balance(app, "reserved:agency1") == eur("48.00")

    second = app.sending.authorize("agency1", "sms", 600, key="c2", by="bob")
    # nothing captured yet: it may be captured first, at 0.08 a message
    assert (second.base, second.amount) == (0, eur("48.00"))

    assert app.sending.capture(hold, 600, by="bob").charged == eur("48.00")
    partial = app.sending.capture(second, 300, by="bob")
    assert partial.charged == eur("24.00")  # 300 at 0.08 after the 600 captured
    assert balance(app, "wallet:agencydemo") == eur("28.00")
    assert balance(app, "spent:agency1") == eur("72.00")
    assert balance(app, "reserved:agency1") == eur(0)


def test_when_every_send_is_delivered_the_period_spends_the_price_of_its_volume(
    any_store: Store,
) -> None:
    app, _ = agency(any_store, prepaid=True, credit=1000)
    sizes = [300, 450, 1, 999, 250, 1200]
    for i, size in enumerate(sizes):
        account, user = ("agency1", "bob") if i % 2 else ("agencydemo", "owner")
        hold = app.sending.authorize(account, "sms", size, key=f"s{i}", by=user)
        app.sending.capture(hold, size, by=user)
    spent = balance(app, "spent:agency1") + balance(app, "spent:agencydemo")
    assert spent == eur(SMS.amount(sum(sizes)))
    assert balance(app, "wallet:agencydemo") == eur(1000) - spent


def test_holds_ended_out_of_order_still_spend_the_price_of_what_was_delivered(
    every_store: Store,
) -> None:
    """A release, a partial capture or an expiry before a later hold is settled moves no
    price: the period spends exactly the price of the volume delivered, on a ladder
    (a jump at 2,500) and on falling tiers alike."""
    app, _ = agency(every_store, prepaid=True, credit=1000)
    ladder = PlanLadder([Plan("2,500", 2500, eur(15)), Plan("8,500", 8500, eur(45))])
    app.billing.set_profile("agencydemo", ladder, prepaid=True, by=SYSTEM)
    a = app.sending.authorize("agency1", "sms", 2500, key="a", by="bob")
    b = app.sending.authorize("agency1", "sms", 1, key="b", by="bob")
    # each may be captured after the other: either may cross into the 8,500 plan
    assert (a.amount, b.amount) == (eur(30), eur(30))
    app.sending.release(a, by="bob")
    assert app.sending.capture(b, 1, by="bob").charged == eur(15)  # the first captured
    c = app.sending.authorize("agency1", "sms", 2000, key="c", by="bob")
    assert app.sending.capture(c, 2000, by="bob").charged == eur(0)
    assert balance(app, "spent:agency1") == eur(ladder.amount(2001))

    app.billing.set_profile("agency2", SMS, prepaid=True, by=SYSTEM)  # falling tiers
    app.credits.open_wallet(Wallet("agency2"), by=SYSTEM)
    app.credits.execute(TopUp(account_id="agency2", amount=eur(100), key="t2", at=T0), by=SYSTEM)
    first = app.sending.authorize("agency2", "sms", 600, key="x", by="yara")
    second = app.sending.authorize("agency2", "sms", 600, key="y", by="yara")
    app.sending.release(first, by="yara")
    assert app.sending.capture(second, 600, by="yara").charged == eur("48.00")
    assert balance(app, "spent:agency2") == eur(SMS.amount(600))


def test_a_send_is_priced_by_the_model_quoted_when_it_was_authorized(any_store: Store) -> None:
    app, _ = agency(any_store, prepaid=True, credit=100)
    hold = app.sending.authorize("agency1", "sms", 100, key="q", by="bob")
    dearer = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.10")], "EUR")
    app.billing.set_profile("agencydemo", dearer, prepaid=True, by=SYSTEM)
    assert app.sending.capture(hold, 98, by="bob").charged == eur("7.84")  # 98 at 0.08
    later = app.sending.authorize("agency1", "sms", 10, key="r", by="bob")
    assert later.amount == eur("1.00")


def test_a_release_gives_the_credit_and_the_volume_back(any_store: Store) -> None:
    app, _ = agency(any_store, prepaid=True, credit=100)
    hold = app.sending.authorize("agency1", "sms", 600, key="c1", by="bob")
    app.sending.release(hold, by="sam")
    assert balance(app, "wallet:agencydemo") == eur(100)
    again = app.sending.authorize("agency1", "sms", 600, key="c2", by="bob")
    assert (again.base, again.amount) == (0, eur("48.00"))


def test_a_postpaid_sub_of_a_prepaid_master_holds_no_credit(any_store: Store) -> None:
    app, _ = agency(any_store, prepaid=True, credit=10)
    ladder = PlanLadder([Plan("2,500", 2500, Money(15, "EUR"))])
    app.billing.set_profile("agency2", ladder, by=SYSTEM)  # agency2 pays its own invoice
    hold = app.sending.authorize("agency2", "sms", 2000, key="x", by="yara")
    assert (hold.payer_id, hold.amount) == ("agency2", None)
    assert balance(app, "wallet:agencydemo") == eur(10)


# -- races: never past the quota, never past the credit -------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_sends_never_pass_the_quota_or_the_credit(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """8 threads, each with its own application over one database, race sends on one
    account with a quota of 60 messages and 4 EUR of credit (50 SMS at 0.08)."""
    import threading

    def open_store() -> Any:
        if kind == "sqlite":
            return SqliteStore(tmp_path / "race.db", timeout=30)
        from subacct.storage.postgres import PostgresStore

        cluster: TempCluster = request.getfixturevalue("pg_cluster")
        return PostgresStore(cluster.conninfo(), schema=schema, max_size=2)

    schema = request.getfixturevalue("pg_clean_schema") if kind == "postgres" else ""
    first = open_store()
    app, _ = agency(first, prepaid=True, credit=4)
    app.billing.set_quota("agency1", Quota(60), by="owner")
    stores = [open_store() for _ in range(8)]
    outcomes: list[tuple[str, int, int]] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        settings = Settings(clock=FixedClock(T0), currency="EUR", max_attempts=100)
        mine = Subacct(stores[n], settings)  # UuidIds: ids unique across the apps
        for i in range(5):
            size = 1 + (n + i) % 3
            try:
                hold = mine.sending.authorize("agency1", "sms", size, key=f"t{n}-{i}", by="bob")
            except (QuotaExceeded, InsufficientCredit) as refused:
                with lock:
                    outcomes.append((refused.code, size, 0))
                continue
            delivered = size if i % 4 else size - 1
            mine.sending.capture(hold, delivered, by="bob")
            with lock:
                outcomes.append(("sent", size, delivered))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    delivered = sum(d for code, _, d in outcomes if code == "sent")
    assert len(outcomes) == 40
    assert delivered == app.billing.usage_book(JAN, by=SYSTEM).total("agency1")
    assert delivered == _counted(app, "agency1") <= 60
    spent = balance(app, "spent:agency1")
    assert spent == eur(Decimal("0.08") * delivered) <= eur(4)
    assert balance(app, "wallet:agencydemo") == eur(4) - spent
    assert balance(app, "reserved:agency1") == eur(0)
    assert {code for code, _, _ in outcomes} <= {"sent", "over_quota", "insufficient_credit"}
    for store in [first, *stores]:
        store.close()


# -- channels, charges, principals, thresholds ---------------------------------------------


def test_a_send_is_priced_by_the_charge_its_channel_and_dimensions_pick(any_store: Store) -> None:
    app, _ = agency(any_store, prepaid=True, credit=100)
    per_message = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.05")], "EUR")
    to_germany = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.09")], "EUR")
    mail = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.001")], "EUR")
    prices = PriceList(
        [
            Charge("sms", per_message, channel="sms"),
            Charge("sms_de", to_germany, channel="sms", dimensions={"country": "DE"}),
            Charge("email", mail, channel="email"),
        ]
    )
    app.billing.set_profile("agencydemo", prices, prepaid=True, by=SYSTEM)

    de = app.sending.authorize(
        "agency1", "sms", 10, key="a", by="bob", dimensions={"country": "DE"}
    )
    fr = app.sending.authorize(
        "agency1", "sms", 10, key="b", by="bob", dimensions={"country": "FR"}
    )
    news = app.sending.authorize("agency1", "email", 1000, key="c", by="bob")

    assert [(h.charge, h.amount) for h in (de, fr, news)] == [
        ("sms_de", eur("0.90")),
        ("sms", eur("0.50")),
        ("email", eur("1.000")),
    ]
    with pytest.raises(IdempotencyConflict):  # the key's send had other dimensions
        app.sending.authorize("agency1", "sms", 10, key="a", by="bob", dimensions={"country": "FR"})
    with pytest.raises(NoMatchingCharge):  # SMTP is in the catalog, but nothing prices it
        app.sending.authorize("agency1", "smtp", 1, key="d", by="bob")
    with pytest.raises(UnknownChannel):
        app.sending.authorize("agency1", "whatsapp", 1, key="d", by="bob")
    with pytest.raises(HoldNotFound):
        app.sending.hold("agency1", "d", by="bob")
    app.sending.capture(de, 10, by="bob")
    book = app.billing.usage_book(JAN, by=SYSTEM)
    (record,) = [r for r in book.records() if r.idempotency_key == "a"]
    assert (record.dimensions, record.owner_id, record.quantity) == ({"country": "DE"}, "bob", 10)


def test_a_host_channel_is_sent_once_the_catalog_has_it(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    channels = DEFAULT_CHANNELS.with_channels("whatsapp")
    app = seed_agency(make_app(SqliteStore(tmp_path / "c.db"), clock=clock, channels=channels))
    app.billing.set_profile("agencydemo", PlanLadder([Plan("1k", 1000, eur(5))]), by=SYSTEM)
    hold = app.sending.authorize("agency1", "whatsapp", 2, key="w", by="bob")
    assert app.sending.capture(hold, 2, by="bob").channel == "whatsapp"


def test_api_keys_and_impersonation_sessions_send_as_users_do(any_store: Store) -> None:
    app, _ = agency(any_store)
    key, _secret = app.policy.create_api_key("agency1", "ci", [Grant(SEND_MESSAGES)], by="sam")
    by_key = app.sending.authorize("agency1", "sms", 1, key="k", by=key)
    assert by_key.owner_id == "sam"  # a personal key acts for its creator
    session = app.policy.start_impersonation("agency1", reason="support", by="owner")
    by_session = app.sending.authorize("agency1", "sms", 1, key="i", by=session)
    assert by_session.owner_id == "owner"
    app.sending.capture(by_key, 1, by=key)
    app.policy.revoke_api_key(key.id, by="sam")
    with pytest.raises(ActionDenied):
        app.sending.release(by_session, by=key)  # revoked at once
    with pytest.raises(ActionDenied):
        app.sending.capture(by_session, 1, by="yara")  # another tenant's hold
    assert app.sending.capture(by_session, 1, by=session).delivered == 1


def test_a_send_captured_after_its_month_is_invoiced_is_an_adjustment(any_store: Store) -> None:
    app, clock = agency(any_store)
    clock.advance(timedelta(days=16, hours=23, minutes=55))  # Jan 31, 23:55
    hold = app.sending.authorize("agency1", "sms", 5, key="late", by="bob")
    clock.advance(timedelta(minutes=10))  # February: January is billed
    issued = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    assert app.sending.capture(hold, 5, by="bob").status is HoldStatus.CAPTURED
    assert app.sending.capture(hold, 5, by="bob").status is HoldStatus.CAPTURED  # a retry
    assert app.billing.invoices("agencydemo", by=SYSTEM) == [issued]
    (february,) = app.billing.preview_invoices("agencydemo", BillingPeriod(2026, 2), by=SYSTEM)
    assert [(x.account_id, x.description, x.quantity) for x in february.lines[-1:]] == [
        ("agency1", "adjustment for 2026-01: usage", 5)
    ]


def test_a_send_tells_each_threshold_it_crosses_once(any_store: Store) -> None:
    app, _ = agency(any_store, prepaid=True, credit=10)
    app.billing.set_quota("agency1", Quota(100), by="owner")
    app.thresholds.set_quota_thresholds("agency1", [80], by="owner")
    app.thresholds.set_low_credit("agencydemo", eur(5), by=SYSTEM)

    first = app.sending.authorize("agency1", "sms", 70, key="a", by="bob")  # 5.60 EUR held
    again = app.sending.authorize("agency1", "sms", 70, key="a", by="bob")  # a retry
    app.sending.capture(first, 70, by="bob")
    second = app.sending.authorize("agency1", "sms", 15, key="b", by="bob")
    app.sending.release(second, by="bob")
    app.sending.authorize("agency1", "sms", 15, key="c", by="bob")

    assert again == first
    told = [e.event for e in app.events.since(by=SYSTEM, limit=10_000)]
    reached = [e for e in told if e.event_type == "quota_threshold_reached"]
    low = [e for e in told if e.event_type == "credit_low"]
    assert [(e.percent, e.used) for e in reached] == [(80, 85)]  # type: ignore[attr-defined]
    assert [e.balance for e in low] == [eur("4.40")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_retries_of_one_key_answer_one_hold(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """8 apps over one database authorize the same send at once (a host's retries after
    a timeout): one hold, counted once, and every caller gets it."""
    import threading

    schema = request.getfixturevalue("pg_clean_schema") if kind == "postgres" else ""

    def open_store() -> Any:
        if kind == "sqlite":
            return SqliteStore(tmp_path / "retry.db", timeout=30)
        from subacct.storage.postgres import PostgresStore

        cluster: TempCluster = request.getfixturevalue("pg_cluster")
        return PostgresStore(cluster.conninfo(), schema=schema, max_size=2)

    first = open_store()
    app, _ = agency(first, prepaid=True, credit=10)
    stores = [open_store() for _ in range(8)]
    holds: list[Any] = []
    barrier = threading.Barrier(8)

    def retry(n: int) -> None:
        settings = Settings(clock=FixedClock(T0), currency="EUR", max_attempts=100)
        mine = Subacct(stores[n], settings)
        barrier.wait()
        holds.append(mine.sending.authorize("agency1", "sms", 20, key="same", by="bob"))

    threads = [threading.Thread(target=retry, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(holds) == 8
    assert len({h.id for h in holds}) == 1
    assert _counted(app, "agency1") == 20
    assert balance(app, "wallet:agencydemo") == eur(10) - eur("1.60")
    for store in [first, *stores]:
        store.close()


_MODELS = [
    SMS,
    PlanLadder(
        [Plan("2,500", 2500, eur(15)), Plan("8,500", 8500, eur(45)), Plan("20k", 20_000, eur(90))]
    ),
    TieredPrice(
        TierMode.VOLUME, [Tier(100, "0.05"), Tier(1000, "0.07", 1), Tier(None, "0.08")], "EUR"
    ),
    PackagePrice(10, Decimal(1), "EUR"),
]
_SIZES = st.one_of(
    st.sampled_from([1, 99, 100, 101, 999, 1000, 2499, 2500, 2501, 6000]), st.integers(1, 3000)
)
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["send", "send", "capture", "release"]),
        _SIZES,
        st.sampled_from([0, 1, 50, 99, 100]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(_MODELS), steps=_STEPS)
def test_whatever_the_order_the_period_spends_the_price_of_what_was_delivered(
    model: Any, steps: list[tuple[str, int, int]]
) -> None:
    """Random sends, partial captures and releases on a prepaid payer: no capture needs
    more than its hold, and the credit spent is the price of the volume delivered."""
    app, _ = agency(MemoryStore(), prepaid=True, credit=10**6)
    app.billing.set_profile("agencydemo", model, prepaid=True, by=SYSTEM)
    open_holds: list[Any] = []
    delivered = 0
    for i, (what, size, share) in enumerate(steps):
        if what == "send" or not open_holds:
            try:
                hold = app.sending.authorize("agency1", "sms", size, key=f"k{i}", by="bob")
            except VolumeAboveLadder:  # the top plan, with the open holds: nothing held
                continue
            open_holds.append(hold)
            continue
        hold = open_holds.pop(share % len(open_holds))
        if what == "release":
            app.sending.release(hold, by="bob")
            continue
        done = hold.quantity * share // 100
        captured = app.sending.capture(hold, done, by="bob")
        assert captured.charged <= hold.amount
        delivered += done
    spent = balance(app, "spent:agency1")
    assert spent == (eur(model.amount(delivered)) if delivered else eur(0))
    held = sum((h.amount for h in open_holds), eur(0))
    assert balance(app, "reserved:agency1") == held
    assert balance(app, "wallet:agencydemo") == eur(10**6) - spent - held


def test_prepaid_prices_that_fall_are_refused_and_packages_are_held_whole(
    any_store: Store,
) -> None:
    app, _ = agency(any_store, prepaid=True, credit=100)
    cheaper_in_bulk = TieredPrice(TierMode.VOLUME, [Tier(10, "1"), Tier(None, "0.1")], "EUR")
    with pytest.raises(InvalidPricing) as falls:
        app.billing.set_profile("agencydemo", cheaper_in_bulk, prepaid=True, by=SYSTEM)
    assert falls.value.details["field"] == "price"
    app.billing.set_profile("agencydemo", cheaper_in_bulk, by=SYSTEM)  # postpaid: fine

    packages = PackagePrice(10, Decimal(1), "EUR")
    app.billing.set_profile("agencydemo", packages, prepaid=True, by=SYSTEM)
    first = app.sending.authorize("agency1", "sms", 5, key="p1", by="bob")
    app.sending.capture(first, 5, by="bob")  # the first package
    second = app.sending.authorize("agency1", "sms", 5, key="p2", by="bob")
    third = app.sending.authorize("agency1", "sms", 1, key="p3", by="bob")
    assert (second.amount, third.amount) == (eur(1), eur(1))  # either may open a package
    app.sending.capture(second, 5, by="bob")
    assert app.sending.capture(third, 1, by="bob").charged == eur(1)
    assert balance(app, "spent:agency1") == eur(2)  # 11 messages: two packages
    assert balance(app, "wallet:agencydemo") == eur(98)


def test_a_top_plan_without_overage_refuses_sends_past_it_with_the_open_holds(
    any_store: Store,
) -> None:
    app, _ = agency(any_store, prepaid=True, credit=100)
    app.billing.set_profile(
        "agencydemo", PlanLadder([Plan("100", 100, eur(10))]), prepaid=True, by=SYSTEM
    )
    first = app.sending.authorize("agency1", "sms", 100, key="a", by="bob")
    with pytest.raises(VolumeAboveLadder) as full:
        app.sending.authorize("agency1", "sms", 1, key="b", by="bob")
    assert full.value.details["field"] == "quantity"
    app.sending.release(first, by="bob")
    again = app.sending.authorize("agency1", "sms", 100, key="c", by="bob")
    assert app.sending.capture(again, 100, by="bob").charged == eur(10)


def test_an_outsider_learns_nothing_of_which_holds_exist(any_store: Store) -> None:
    app, _ = agency(any_store)
    real = app.sending.authorize("agency1", "sms", 1, key="real", by="bob")
    ghost = Hold("h", "agency1", "ghost", "sms", 1, JAN, T0, T0 + timedelta(minutes=15))
    for hold in (real, ghost):  # the same refusal whether the hold exists or not
        with pytest.raises(ActionDenied):
            app.sending.capture(hold, 1, by="yara")
        with pytest.raises(ActionDenied):
            app.sending.release(hold, by="yara")
        with pytest.raises(ActionDenied):
            app.sending.hold("agency1", hold.key, by="yara")
    with pytest.raises(HoldNotFound):
        app.sending.capture(ghost, 1, by="bob")
