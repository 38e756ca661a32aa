"""Seed 001 over storage: reviewed upgrades with prerequisites billed from the month they
are approved in, downgrades next period, one open change at a time, the reviewer
recorded, and the lifecycle carried over to the subscription."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from subacct import (
    SYSTEM,
    AccountStatus,
    ActionDenied,
    BillingPeriod,
    FixedClock,
    Money,
    Plan,
    PlanLadder,
    PrerequisitesMissing,
    Store,
    Subacct,
    System,
    UpgradePolicy,
    UpgradeRule,
    UsageRecord,
)
from subacct.errors import InvalidBillingStructure, NotFound, PlanChangeError
from subacct.pricing import LineKind, Tier, TieredPrice, TierMode, true_up
from subacct.testing.conformance import store_state

from .conftest import event_log, make_app, seed_agency

JAN, FEB, MAR = BillingPeriod(2026, 1), BillingPeriod(2026, 2), BillingPeriod(2026, 3)
LADDER = PlanLadder(
    [
        Plan("12,000", 12000, Money("60", "USD")),
        Plan("30,000", 30000, Money("135", "USD")),
        Plan("45,000", 45000, Money("190", "USD")),
    ]
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 10, tzinfo=UTC))


@pytest.fixture
def app(store: Store, clock: FixedClock) -> Subacct:
    policy = UpgradePolicy([UpgradeRule(30000, {"spf_verified", "dkim_verified"})])
    a = seed_agency(make_app(store, clock=clock, upgrade_policy=policy))
    a.billing.set_profile("agencydemo", LADDER, by=SYSTEM)
    a.plans.subscribe("agencydemo", "12,000", by=SYSTEM)
    return a


def verified(app: Subacct) -> None:
    app.plans.record_prerequisite("agencydemo", "spf_verified", by=SYSTEM)
    app.plans.record_prerequisite("agencydemo", "dkim_verified", by=SYSTEM)


def lines(app: Subacct, period: BillingPeriod) -> list[tuple[str, str]]:
    """The master's own lines (its subs, pooled, have usage lines of zero here)."""
    (invoice,) = app.billing.preview_invoices("agencydemo", period, by="owner")
    return [(line.kind.value, str(line.amount)) for line in invoice.lines_for("agencydemo")]


def test_seed001_upgrade_waits_for_spf_and_dkim(app: Subacct) -> None:
    change = app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up-1")
    assert change.status.value == "pending"
    assert app.plans.subscription("agencydemo", by="owner").plan == "12,000"
    before = store_state(app.store)
    with pytest.raises(PrerequisitesMissing) as err:
        app.plans.approve_change("up-1", by=SYSTEM)
    assert err.value.details["missing"] == ["dkim_verified", "spf_verified"]
    assert store_state(app.store) == before
    verified(app)
    assert app.plans.prerequisites("agencydemo", by="owner") == {"spf_verified", "dkim_verified"}
    approved = app.plans.approve_change("up-1", by=System("review:jane"))
    assert (approved.status.value, approved.effective_from) == ("approved", JAN)
    assert (approved.reviewed_by, approved.reviewed_at) == (
        "system:review:jane",
        datetime(2026, 1, 10, tzinfo=UTC),
    )
    assert app.plans.subscription("agencydemo", by="owner").plan == "30,000"
    with pytest.raises(PlanChangeError):
        app.plans.approve_change("up-1", by=SYSTEM)  # not pending any more
    types = [e.event_type for e in event_log(app.store)][-4:]  # type: ignore[attr-defined]
    assert types == [
        "plan_change_requested",
        "prerequisite_recorded",
        "prerequisite_recorded",
        "plan_change_approved",
    ]


def test_an_approved_upgrade_is_billed_from_its_month_with_its_own_line(app: Subacct) -> None:
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 5000, "u1")], by=SYSTEM)
    assert lines(app, JAN) == [("usage", "60.00 USD")]  # the 12,000 plan covers 5,000
    verified(app)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    app.plans.approve_change("up", by=SYSTEM)
    # seed 001: as if upgraded mid-month, the difference between the two plans
    assert lines(app, JAN) == [("usage", "60.00 USD"), ("upgrade", "75.00 USD")]
    (jan,) = app.billing.preview_invoices("agencydemo", JAN, by="owner")
    assert jan.total == Money("135.00", "USD")
    assert lines(app, FEB) == [("usage", "60.00 USD"), ("commitment", "75.00 USD")]


def test_usage_above_the_plan_pays_the_plan_reached_not_the_upgrade_twice(app: Subacct) -> None:
    verified(app)
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 40000, "u1")], by=SYSTEM)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    app.plans.approve_change("up", by=SYSTEM)
    (jan,) = app.billing.preview_invoices("agencydemo", JAN, by="owner")
    assert jan.total == Money("190.00", "USD")  # the 45,000 plan reached; no upgrade line
    assert {line.kind.value for line in jan.lines} == {"usage"}


def test_rejected_upgrade_changes_nothing_and_records_the_reviewer(app: Subacct) -> None:
    app.plans.request_change("agencydemo", "45,000", by="owner", request_id="up-2")
    rejected = app.plans.reject_change("up-2", reason="sending reputation too low", by=SYSTEM)
    assert (rejected.note, rejected.reviewed_by) == ("sending reputation too low", "system")
    assert app.plans.subscription("agencydemo", by="owner").plan == "12,000"
    assert [c.request_id for c in app.plans.changes("agencydemo", by="owner")] == ["up-2"]


def test_reviews_are_the_platforms(app: Subacct) -> None:
    app.plans.request_change("agencydemo", "45,000", by="owner", request_id="up")
    with pytest.raises(ActionDenied):
        app.plans.approve_change("up", by="owner")
    with pytest.raises(ActionDenied):
        app.plans.reject_change("up", reason="no", by="owner")
    with pytest.raises(ActionDenied):  # billing.manage: a sub admin may not ask
        app.plans.request_change("agencydemo", "30,000", by="sam")


def test_downgrade_takes_effect_next_period(app: Subacct, clock: FixedClock) -> None:
    verified(app)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    app.plans.approve_change("up", by=SYSTEM)
    down = app.plans.request_change("agencydemo", "12,000", by="owner", request_id="down")
    assert (down.status.value, down.effective_from) == ("approved", FEB)
    assert app.plans.subscription("agencydemo", by="owner", period=JAN).plan == "30,000"
    assert app.plans.subscription("agencydemo", by="owner", period=FEB).plan == "12,000"
    assert lines(app, FEB) == [("usage", "60.00 USD")]  # the 12,000 plan from February
    assert lines(app, JAN)[-1] == ("upgrade", "75.00 USD")  # January keeps its upgrade


def test_one_open_change_at_a_time(app: Subacct) -> None:
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    with pytest.raises(PlanChangeError) as err:
        app.plans.request_change("agencydemo", "45,000", by="owner")
    assert err.value.details["request_id"] == "up"
    withdrawn = app.plans.cancel_change("up", by="owner")
    assert withdrawn.status.value == "cancelled"
    app.plans.request_change("agencydemo", "45,000", by="owner", request_id="up-again")


def test_a_scheduled_downgrade_is_open_until_it_takes_effect(app: Subacct) -> None:
    verified(app)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    app.plans.approve_change("up", by=SYSTEM)
    app.plans.request_change("agencydemo", "12,000", by="owner", request_id="down")
    with pytest.raises(PlanChangeError):
        app.plans.request_change("agencydemo", "45,000", by="owner")
    app.plans.cancel_change("down", by="owner")
    assert app.plans.subscription("agencydemo", by="owner", period=FEB).plan == "30,000"


def test_pause_and_close_follow_the_account_and_cancel_open_changes(app: Subacct) -> None:
    app.accounts.pause("agencydemo", by=SYSTEM)
    subscription = app.plans.subscription("agencydemo", by="owner")
    assert subscription.status is AccountStatus.PAUSED
    assert not subscription.billable
    with pytest.raises(PlanChangeError):
        app.plans.request_change("agencydemo", "30,000", by="owner")
    app.accounts.resume("agencydemo", by=SYSTEM)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="pending")
    for sub in ("agency1", "agency2"):
        app.accounts.close(sub, by="owner")
    app.accounts.close("agencydemo", by=SYSTEM)
    assert app.plans.subscription("agencydemo", by="owner").status is AccountStatus.CLOSED
    (change,) = app.plans.changes("agencydemo", by="owner")
    assert (change.status.value, change.note) == ("cancelled", "the account was closed")
    assert event_log(app.store)[-1].event_type == "plan_change_cancelled"  # type: ignore[attr-defined]


def test_seed001_fluctuating_volume_true_up() -> None:
    # prepaid 30,000, sent 40,000: charge price(45,000 plan) - price(30,000 plan)
    assert true_up(LADDER, 30000, 40000) == Money("55", "USD")


def test_the_clock_dates_every_change_so_billed_months_stay_as_they_were(
    app: Subacct, clock: FixedClock
) -> None:
    """Nobody passes a period: a downgrade asked for in March takes effect in April, and
    January to March keep the plan they were billed on."""
    verified(app)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    app.plans.approve_change("up", by=SYSTEM)  # January
    before = {p: lines(app, p) for p in (JAN, FEB, MAR)}
    clock.advance(datetime(2026, 3, 20, tzinfo=UTC) - clock.now())
    down = app.plans.request_change("agencydemo", "12,000", by="owner", request_id="down")
    assert down.effective_from == BillingPeriod(2026, 4)
    assert {p: lines(app, p) for p in (JAN, FEB, MAR)} == before
    assert app.plans.subscription("agencydemo", by="owner", period=MAR).plan == "30,000"
    assert app.plans.subscription("agencydemo", by="owner", period=MAR).scheduled == down
    clock.advance(datetime(2026, 4, 2, tzinfo=UTC) - clock.now())
    with pytest.raises(PlanChangeError):  # in effect now: too late to withdraw
        app.plans.cancel_change("down", by="owner")
    april = app.plans.subscription("agencydemo", by="owner", period=BillingPeriod(2026, 4))
    assert (april.plan, april.scheduled) == ("12,000", None)


def test_an_upgrade_approved_a_month_later_is_billed_from_that_month(
    app: Subacct, clock: FixedClock
) -> None:
    verified(app)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")  # January
    clock.advance(datetime(2026, 2, 15, tzinfo=UTC) - clock.now())
    approved = app.plans.approve_change("up", by=SYSTEM)
    assert approved.effective_from == FEB
    assert lines(app, JAN) == [("usage", "60.00 USD")]  # January: the 12,000 plan alone
    assert lines(app, FEB)[-1] == ("upgrade", "75.00 USD")
    assert app.plans.subscription("agencydemo", by="owner", period=JAN).plan == "12,000"
    assert app.plans.subscription("agencydemo", by="owner", period=FEB).plan == "30,000"


def test_a_subscription_before_it_started_is_not_found(store: Store, clock: FixedClock) -> None:
    app = seed_agency(make_app(store, clock=clock))
    app.billing.set_profile("agencydemo", LADDER, by=SYSTEM)
    app.plans.subscribe("agencydemo", "12,000", by=SYSTEM, period=FEB)
    assert app.plans.subscription("agencydemo", by="owner", period=FEB).plan == "12,000"
    with pytest.raises(NotFound):
        app.plans.subscription("agencydemo", by="owner", period=JAN)


def test_only_the_platform_learns_whether_a_change_exists(app: Subacct) -> None:
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    for ghost in ("up", "no-such-change"):
        with pytest.raises(ActionDenied) as err:
            app.plans.approve_change(ghost, by="owner")
        assert err.value.reason == "platform_only"
        with pytest.raises(ActionDenied):
            app.plans.reject_change(ghost, reason="no", by="sam")
    with pytest.raises(NotFound):
        app.plans.approve_change("no-such-change", by=SYSTEM)


def test_a_new_price_must_keep_the_plans_the_subscription_is_billed_on(app: Subacct) -> None:
    before = store_state(app.store)
    smaller = PlanLadder([Plan("30,000", 30000, Money("135", "USD"))])
    with pytest.raises(InvalidBillingStructure) as err:
        app.billing.set_profile("agencydemo", smaller, by=SYSTEM)
    assert (err.value.details["field"], err.value.details["missing"]) == ("price", ["12,000"])
    per_message = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.0125")], "USD")
    with pytest.raises(InvalidBillingStructure):  # a subscription needs a ladder
        app.billing.set_profile("agencydemo", per_message, by=SYSTEM)
    assert store_state(app.store) == before
    assert lines(app, JAN) == [("usage", "60.00 USD")]  # still billable
    bigger = PlanLadder([*LADDER.plans, Plan("90,000", 90000, Money("300", "USD"))])
    app.billing.set_profile("agencydemo", bigger, by=SYSTEM)  # a ladder with more plans: fine


def test_an_upgrade_approved_into_an_issued_month_is_billed_on_the_next(
    app: Subacct, clock: FixedClock
) -> None:
    verified(app)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    issued = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)  # January billed already
    assert app.plans.approve_change("up", by=SYSTEM).effective_from == JAN
    (rerated,) = app.billing.preview_invoices("agencydemo", JAN, by="owner")
    clock.advance(datetime(2026, 2, 1, tzinfo=UTC) - clock.now())
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    (adjustment,) = [line for line in february.lines if line.kind is LineKind.ADJUSTMENT]
    assert adjustment.description == "adjustment for 2026-01: upgrade"
    assert adjustment.amount == rerated.total - issued.total
    assert adjustment.amount.amount > 0


def test_a_months_subscription_reads_the_same_whenever_it_is_asked(
    app: Subacct, clock: FixedClock
) -> None:
    verified(app)
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up")
    app.plans.approve_change("up", by=SYSTEM)
    down = app.plans.request_change("agencydemo", "12,000", by="owner", request_id="down")
    january = app.plans.subscription("agencydemo", by="owner", period=JAN)
    assert (january.plan, january.scheduled) == ("30,000", down)
    clock.advance(datetime(2026, 2, 10, tzinfo=UTC) - clock.now())
    app.plans.request_change("agencydemo", "30,000", by="owner", request_id="up-again")
    app.plans.approve_change("up-again", by=SYSTEM)
    assert app.plans.subscription("agencydemo", by="owner", period=JAN) == january
