"""Seed 001's over-quota flow and seed 003's prepaid-SMS flow through ``app.sending``,
over memory and SQLite: the events and audit records each send leaves, and that a
refused send leaves nothing (docs/sending.md runs the same flows as examples)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.services.conftest import audit_log, event_log, make_app, refused

from subacct import (
    SYSTEM,
    BillingPeriod,
    Commitment,
    Distribute,
    FixedClock,
    Grant,
    InsufficientCredit,
    Money,
    Plan,
    PlanLadder,
    Quota,
    QuotaExceeded,
    Store,
    Subacct,
    Tier,
    TieredPrice,
    TierMode,
    TopUp,
    Wallet,
)
from subacct.domain.events import (
    CreditLow,
    CreditsMoved,
    QuotaReserved,
    QuotaThresholdReached,
    SendAuthorized,
    SendCaptured,
    SendReleased,
    TopUpRequested,
)
from subacct.errors import HoldNotFound
from subacct.policy import SEND_MESSAGES, PrincipalKind
from subacct.pricing import AutoTopUp, Charge, HoldStatus, PriceList
from subacct.pricing.ledger import Allocation, SetAllocation

JAN = BillingPeriod(2026, 1)
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def usd(amount: Any) -> Money:
    return Money(amount, "USD")


def eur(amount: Any) -> Money:
    return Money(amount, "EUR")


JANGO = PlanLadder(
    [
        Plan("2,500", 2_500, usd(15)),
        Plan("8,500", 8_500, usd(45)),
        Plan("12,000", 12_000, usd(60)),
        Plan("18,000", 18_000, usd(90)),
        Plan("30,000", 30_000, usd(135)),
        Plan("45,000", 45_000, usd(190)),
    ]
)


def per_sms(unit: str) -> TieredPrice:
    return TieredPrice(TierMode.GRADUATED, [Tier(None, Decimal(unit))], "EUR")


def events_since(store: Store, seen: int) -> list[Any]:
    return event_log(store)[seen:]


def types(events: list[Any]) -> list[str]:
    return [e.event_type for e in events]


# -- seed 001: a monthly limit, and the fluctuating-volume option ---------------------------


def jangomail(store: Store) -> tuple[Subacct, FixedClock]:
    """Acme prepays the 30,000 plan with a limit of 30,000 a month; ann sends."""
    clock = FixedClock(T0)
    app = make_app(store, clock=clock)
    app.accounts.create_master("Acme", account_id="acme", by=SYSTEM)
    app.members.create_user("ann@acme.test", "Ann", user_id="ann", by=SYSTEM)
    app.members.add("ann", "acme", "advanced_user", by=SYSTEM)
    commitment = Commitment(30_000, prepaid=True)
    app.billing.set_profile("acme", JANGO, commitment=commitment, by=SYSTEM)
    app.billing.set_quota("acme", Quota(30_000), by=SYSTEM)
    app.thresholds.set_quota_thresholds("acme", [80, 100, 150], by=SYSTEM)
    return app, clock


def test_seed001_a_send_past_the_monthly_limit_is_refused_and_holds_nothing(
    store: Store,
) -> None:
    app, _ = jangomail(store)
    seen = len(event_log(store))
    newsletter = app.sending.authorize("acme", "email", 25_000, key="newsletter-1", by="ann")
    told = events_since(store, seen)
    assert types(told) == [
        "quota_threshold_reached",
        "quota_reserved",
        "send_authorized",
    ]
    reached, _, authorized = told
    assert isinstance(reached, QuotaThresholdReached)
    assert (reached.percent, reached.used, reached.limit) == (80, 25_000, 30_000)
    assert isinstance(authorized, SendAuthorized)
    assert (authorized.actor, authorized.account_id, authorized.hold_id) == (
        "ann",
        "acme",
        newsletter.id,
    )
    assert (authorized.quantity, authorized.payer_id, authorized.amount) == (25_000, "acme", None)

    seen = len(event_log(store))
    app.sending.capture(newsletter, 24_000, by="ann")
    assert types(events_since(store, seen)) == ["quota_released", "usage_recorded", "send_captured"]
    promo = app.sending.authorize("acme", "email", 5_000, key="promo-1", by="ann")
    seen = len(event_log(store))
    app.sending.release(promo, by="ann")
    (*_, released) = events_since(store, seen)
    assert isinstance(released, SendReleased)
    assert not released.expired

    over = refused(
        store,
        QuotaExceeded,
        lambda: app.sending.authorize("acme", "email", 7_000, key="promo-2", by="ann"),
    )
    assert over.code == "over_quota"
    assert (over.details["limited_by"], over.details["used"], over.details["requested"]) == (
        "acme",
        24_000,
        7_000,
    )
    refused(store, HoldNotFound, lambda: app.sending.hold("acme", "promo-2", by="ann"))
    assert app.billing.check_send("acme", JAN, 6_000, by="ann").allowed

    sends = [
        (r.action, r.account_id, r.allowed, r.acting_user_id)
        for r in audit_log(store)
        if r.action == SEND_MESSAGES
    ]
    assert sends == [(SEND_MESSAGES, "acme", True, "ann")] * 4  # two sends settled twice


def test_seed001_fluctuating_volume_sends_past_the_limit_and_the_true_up_bills_it(
    store: Store,
) -> None:
    app, clock = jangomail(store)
    first = app.sending.authorize("acme", "email", 24_000, key="newsletter-1", by="ann")
    app.sending.capture(first, 24_000, by="ann")
    app.billing.set_quota("acme", Quota(30_000, allow_overage=True), by=SYSTEM)

    seen = len(event_log(store))
    promo = app.sending.authorize("acme", "email", 16_000, key="promo-2", by="ann")
    assert (promo.status, promo.overage) == (HoldStatus.HELD, 10_000)
    told = events_since(store, seen)
    reserved = [e for e in told if isinstance(e, QuotaReserved)]
    assert [(e.quantity, e.overage) for e in reserved] == [(16_000, 10_000)]
    reached = [e.percent for e in told if isinstance(e, QuotaThresholdReached)]
    assert reached == [100]  # 40,000 of 30,000 is 133 %: not yet 150
    part = app.sending.capture(promo, 15_000, by="ann")  # 1,000 bounced
    assert (part.delivered, part.charged) == (15_000, None)

    assert app.billing.usage_book(JAN, by=SYSTEM).total("acme") == 39_000
    clock.advance(timedelta(days=27))  # February 1
    invoice = app.billing.finalize_invoice("acme", JAN, by=SYSTEM)
    assert [line.amount for line in invoice.lines] == [usd(190), usd(-135)]
    assert invoice.total == usd(55)  # the 45,000 plan minus the 30,000 plan prepaid


# -- seed 003: prepaid SMS credit -----------------------------------------------------------


def sms77(store: Store) -> Subacct:
    """shop pays for berlin (credit distributed to it) and hamburg (an unlimited
    allocation) at 0.075 EUR per SMS to Germany, 0.09 elsewhere; clinic pays for itself."""
    app = make_app(store, clock=FixedClock(T0), currency="EUR")
    app.accounts.create_master("Shop", account_id="shop", by=SYSTEM)
    for sub in ("berlin", "hamburg", "clinic"):
        app.accounts.create_sub("shop", sub.title(), account_id=sub, by=SYSTEM)
    for user, account, role in [
        ("olga", "shop", "parent_admin"),
        ("max", "berlin", "basic_user"),
        ("hana", "hamburg", "sub_admin"),
    ]:
        app.members.create_user(f"{user}@shop.test", user.title(), user_id=user, by=SYSTEM)
        app.members.add(user, account, role, by=SYSTEM)
    sms = PriceList(
        [
            Charge("sms", per_sms("0.09"), "sms"),
            Charge("sms_de", per_sms("0.075"), "sms", {"country": "DE"}),
        ]
    )
    app.billing.set_profile("shop", sms, prepaid=True, by=SYSTEM)
    app.credits.open_wallet(Wallet("shop"), by="olga")
    app.credits.open_wallet(Wallet("berlin", master_id="shop"), by="olga")
    app.credits.open_wallet(Wallet("hamburg", master_id="shop"), by="olga")
    app.credits.execute(TopUp(account_id="shop", amount=eur(100), key="buy-1", at=T0), by="olga")
    app.credits.execute(Distribute(sub_id="berlin", amount=eur(10), key="d-1", at=T0), by="olga")
    pool = SetAllocation(sub_id="hamburg", allocation=Allocation.unlimited(), key="p-1", at=T0)
    app.credits.execute(pool, by="olga")
    return app


def balance(app: Subacct, ledger_account: str) -> Money:
    return app.credits.balance(ledger_account, by=SYSTEM)


def test_seed003_a_sub_spends_the_credit_its_master_distributed(store: Store) -> None:
    app = sms77(store)
    app.thresholds.set_low_credit("berlin", eur(3), by="olga")
    seen = len(event_log(store))
    de = {"country": "DE"}
    hold = app.sending.authorize("berlin", "sms", 100, key="c-1", dimensions=de, by="max")
    assert (hold.payer_id, hold.charge, hold.base, hold.amount) == ("shop", "sms_de", 0, eur("7.5"))
    assert types(events_since(store, seen)) == [
        "quota_reserved",
        "credits_reserved",
        "credit_low",  # 10 -> 2.5 once the hold is taken
        "send_authorized",
    ]
    low = events_since(store, seen)[2]
    assert isinstance(low, CreditLow)
    assert low.balance == eur("2.5")

    seen = len(event_log(store))
    captured = app.sending.capture(hold, 98, by="max")
    assert captured.charged == eur("7.350")
    told = events_since(store, seen)
    moved = [e for e in told if isinstance(e, CreditsMoved)]
    assert [(e.operation, e.from_account_id, e.to_account_id, e.amount) for e in moved] == [
        ("commit", "berlin", None, eur("7.35"))
    ]
    (done,) = [e for e in told if isinstance(e, SendCaptured)]
    assert (done.delivered, done.charged, done.actor) == (98, eur("7.35"), "max")
    assert balance(app, "wallet:berlin") == eur("2.65")
    assert balance(app, "spent:berlin") == eur("7.35")
    assert app.billing.usage_book(JAN, by=SYSTEM).total("berlin") == 98

    err = refused(
        store,
        InsufficientCredit,
        lambda: app.sending.authorize("berlin", "sms", 50, key="c-2", dimensions=de, by="max"),
    )
    assert (err.details["ledger_account"], err.details["requested"]) == ("wallet:berlin", "3.750")


def test_seed003_a_pooled_sub_draws_on_the_master_through_keys_and_sessions(
    store: Store,
) -> None:
    app = sms77(store)
    _key, secret = app.policy.create_api_key("hamburg", "CRM", [Grant(SEND_MESSAGES)], by="hana")
    by_key = app.policy.authenticate_api_key(secret, by=SYSTEM)
    hold = app.sending.authorize("hamburg", "sms", 200, key="promo-1", by=by_key)
    assert (hold.charge, hold.amount, hold.owner_id) == ("sms", eur(18), "hana")
    assert balance(app, "wallet:shop") == eur(72)  # 100 - 10 distributed - 18 held
    assert balance(app, "reserved:hamburg") == eur(18)

    session = app.policy.start_impersonation("hamburg", reason="support", by="olga")
    app.sending.capture(hold, 200, by=session)
    again = app.sending.authorize("hamburg", "sms", 100, key="promo-2", by=session)
    assert (again.base, again.amount, again.owner_id) == (200, eur(9), "olga")
    app.sending.release(again, by=by_key)
    assert balance(app, "spent:hamburg") == eur(18)
    assert balance(app, "wallet:shop") == eur(72)

    kinds = [
        (r.principal_kind, r.acting_user_id, r.api_key_id is not None)
        for r in audit_log(store)
        if r.action == SEND_MESSAGES and r.account_id == "hamburg"
    ]
    assert kinds == [
        (PrincipalKind.API_KEY, "hana", True),
        (PrincipalKind.IMPERSONATION, "olga", False),
        (PrincipalKind.IMPERSONATION, "olga", False),
        (PrincipalKind.API_KEY, "hana", True),
    ]


def test_seed003_a_sub_with_its_own_payment_details_tops_itself_up(store: Store) -> None:
    app = sms77(store)
    app.billing.set_profile("clinic", per_sms("0.08"), prepaid=True, by=SYSTEM)
    app.credits.open_wallet(Wallet("clinic", master_id="shop", own_payment_method=True), by="olga")
    card = TopUp(account_id="clinic", amount=eur(5), key="card-1", at=T0)
    app.credits.execute(card, by=SYSTEM)  # the host's payment code charged the card
    rule = AutoTopUp(below=eur(2), amount=eur(10))
    app.thresholds.set_auto_top_up("clinic", rule, by="olga")

    seen = len(event_log(store))
    hold = app.sending.authorize("clinic", "sms", 40, key="r-1", by=SYSTEM)
    assert (hold.payer_id, hold.amount) == ("clinic", eur("3.20"))
    (asked,) = [e for e in events_since(store, seen) if isinstance(e, TopUpRequested)]
    assert (asked.account_id, asked.amount, asked.balance) == ("clinic", eur(10), eur("1.80"))
    app.sending.capture(hold, 40, by=SYSTEM)
    app.credits.execute(TopUp(account_id="clinic", amount=eur(10), key="auto-1", at=T0), by=SYSTEM)
    assert balance(app, "wallet:clinic") == eur("11.80")
    assert balance(app, "wallet:shop") == eur(90)  # the master's credit untouched

    sizes = [1, 50, 37]
    for i, size in enumerate(sizes):
        sent = app.sending.authorize("clinic", "sms", size, key=f"r-{i + 2}", by=SYSTEM)
        app.sending.capture(sent, size, by=SYSTEM)
    assert balance(app, "spent:clinic") == eur(Decimal("0.08") * (40 + sum(sizes)))
    total = sum((m.amount for m in app.credits.balances(by=SYSTEM).values()), Decimal(0))
    assert total == 0
