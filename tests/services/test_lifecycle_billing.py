"""The account's lifecycle reaches its invoices (docs/billing.md, "Lifecycle and
invoices"): a month paused throughout bills the hold fee only, a partial month is a whole
month, a closed account gets a final invoice for its usage up to closing and nothing
after, a suspension does not stop the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subacct import (
    SYSTEM,
    AccountStatus,
    BillingPeriod,
    FixedClock,
    Money,
    NotFound,
    Plan,
    PlanLadder,
    Store,
    Subacct,
    UsageRecord,
)

from .conftest import make_app

JAN, FEB, MAR, APR = (BillingPeriod(2026, m) for m in (1, 2, 3, 4))
SEED000_LADDER = PlanLadder(
    [
        Plan("2,500", 2500, Money(15, "USD")),
        Plan("8,500", 8500, Money(45, "USD")),
        Plan("12,000", 12000, Money(60, "USD")),
        Plan("18,000", 18000, Money(90, "USD")),
    ]
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def app(store: Store, clock: FixedClock) -> Subacct:
    a = make_app(store, clock=clock)
    a.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
    a.accounts.create_sub("agencydemo", "Company X", account_id="agency1", by=SYSTEM)
    a.billing.set_profile("agencydemo", SEED000_LADDER, by=SYSTEM)
    return a


def at(clock: FixedClock, when: datetime) -> None:
    clock.advance(when - clock.now())


def invoice_of(app: Subacct, period: BillingPeriod) -> list[tuple[str, str, str]]:
    invoices = app.billing.preview_invoices("agencydemo", period, by=SYSTEM)
    return [(i.payer_id, line.kind.value, str(line.amount)) for i in invoices for line in i.lines]


def test_a_month_paused_throughout_bills_the_hold_fee_only(app: Subacct, clock: FixedClock) -> None:
    at(clock, datetime(2026, 1, 20, tzinfo=UTC))
    app.accounts.pause("agencydemo", by=SYSTEM)
    at(clock, datetime(2026, 3, 3, tzinfo=UTC))
    app.accounts.resume("agencydemo", by=SYSTEM)
    assert invoice_of(app, JAN)[0] == ("agencydemo", "usage", "15.00 USD")  # partly paused
    assert invoice_of(app, FEB) == [("agencydemo", "hold", "0.00 USD")]  # was $15 before
    assert invoice_of(app, MAR)[0] == ("agencydemo", "usage", "15.00 USD")
    app.billing.set_profile("agencydemo", SEED000_LADDER, hold_fee=Money(5, "USD"), by=SYSTEM)
    assert invoice_of(app, FEB) == [("agencydemo", "hold", "5.00 USD")]
    issued = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert issued.total == Money("5.00", "USD")


def test_the_status_history_is_kept_with_its_times(app: Subacct, clock: FixedClock) -> None:
    at(clock, datetime(2026, 1, 20, tzinfo=UTC))
    app.accounts.pause("agency1", by=SYSTEM)
    at(clock, datetime(2026, 2, 1, tzinfo=UTC))
    app.accounts.resume("agency1", by=SYSTEM)
    history = app.accounts.status_history("agency1", by=SYSTEM)
    assert [(c.at.day, c.status) for c in history.changes] == [
        (20, AccountStatus.PAUSED),
        (1, AccountStatus.ACTIVE),
    ]


def test_a_suspension_does_not_stop_the_plan(app: Subacct, clock: FixedClock) -> None:
    app.accounts.suspend("agencydemo", by=SYSTEM)
    at(clock, datetime(2026, 2, 10, tzinfo=UTC))
    assert invoice_of(app, FEB)[0] == ("agencydemo", "usage", "15.00 USD")


def test_a_closed_account_gets_a_final_invoice_and_nothing_after(
    app: Subacct, clock: FixedClock
) -> None:
    at(clock, datetime(2026, 3, 5, tzinfo=UTC))
    app.billing.record_usage([UsageRecord("agencydemo", MAR, "email", 9000, "m")], by=SYSTEM)
    app.billing.record_usage([UsageRecord("agency1", MAR, "email", 5300, "x")], by=SYSTEM)
    at(clock, datetime(2026, 3, 20, tzinfo=UTC))
    app.accounts.close("agency1", by=SYSTEM)
    app.accounts.close("agencydemo", by=SYSTEM)
    (march,) = app.billing.preview_invoices("agencydemo", MAR, by=SYSTEM)
    assert march.total == Money("90.00", "USD")  # 14,300 pooled: usage up to closing
    at(clock, datetime(2026, 4, 1, tzinfo=UTC))  # the billing run, once March is over
    assert app.billing.finalize_invoice("agencydemo", MAR, by=SYSTEM).lines == march.lines
    assert app.billing.preview_invoices("agencydemo", APR, by=SYSTEM) == ()
    with pytest.raises(NotFound):
        app.billing.finalize_invoice("agencydemo", APR, by=SYSTEM)


def test_a_closed_sub_leaves_the_pool_from_the_next_month(app: Subacct, clock: FixedClock) -> None:
    at(clock, datetime(2026, 1, 10, tzinfo=UTC))
    app.accounts.close("agency1", by=SYSTEM)
    assert {line[0] for line in invoice_of(app, JAN)} == {"agencydemo"}
    (jan,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    assert [line.account_id for line in jan.lines] == ["agencydemo", "agency1"]
    (feb,) = app.billing.preview_invoices("agencydemo", FEB, by=SYSTEM)
    assert [line.account_id for line in feb.lines] == ["agencydemo"]


def test_an_account_is_not_billed_before_it_existed(app: Subacct, clock: FixedClock) -> None:
    at(clock, datetime(2026, 3, 1, tzinfo=UTC))
    app.accounts.create_master("Late Co", account_id="late", by=SYSTEM)
    app.billing.set_profile("late", SEED000_LADDER, by=SYSTEM)
    assert app.billing.preview_invoices("late", FEB, by=SYSTEM) == ()
    assert len(app.billing.preview_invoices("late", MAR, by=SYSTEM)) == 1


def test_the_subscribed_plan_is_the_floor_of_each_month(app: Subacct, clock: FixedClock) -> None:
    app.plans.subscribe("agencydemo", "8,500", by=SYSTEM)
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 1000, "m")], by=SYSTEM)
    (jan,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    assert [(line.kind.value, str(line.amount)) for line in jan.lines_for("agencydemo")] == [
        ("usage", "15.00 USD"),
        ("commitment", "30.00 USD"),
    ]
    assert jan.total == Money("45.00", "USD")
    at(clock, clock.now() + timedelta(days=40))
    app.accounts.pause("agencydemo", by=SYSTEM)
    at(clock, datetime(2026, 4, 1, tzinfo=UTC))
    assert invoice_of(app, MAR) == [("agencydemo", "hold", "0.00 USD")]  # no floor when held


def test_a_self_paying_sub_under_a_paused_master_is_held_too(
    app: Subacct, clock: FixedClock
) -> None:
    """agency1 pays for itself; its master pauses for all of February: agency1 cannot
    send then, so February bills it its hold fee, not its plan."""
    app.billing.set_profile("agency1", SEED000_LADDER, hold_fee=Money(2, "USD"), by=SYSTEM)
    at(clock, datetime(2026, 1, 25, tzinfo=UTC))
    app.accounts.pause("agencydemo", by=SYSTEM)
    at(clock, datetime(2026, 3, 2, tzinfo=UTC))
    app.accounts.resume("agencydemo", by=SYSTEM)
    assert invoice_of(app, FEB) == [
        ("agency1", "hold", "2.00 USD"),
        ("agencydemo", "hold", "0.00 USD"),
    ]
    assert ("agency1", "usage", "15.00 USD") in invoice_of(app, MAR)  # active again


def test_a_month_paused_then_closed_bills_the_hold_fee_only(
    app: Subacct, clock: FixedClock
) -> None:
    app.billing.set_profile("agencydemo", SEED000_LADDER, hold_fee=Money(5, "USD"), by=SYSTEM)
    at(clock, datetime(2026, 2, 27, tzinfo=UTC))
    app.accounts.close("agency1", by=SYSTEM)
    app.accounts.pause("agencydemo", by=SYSTEM)
    at(clock, datetime(2026, 3, 15, tzinfo=UTC))
    app.accounts.close("agencydemo", by=SYSTEM)
    assert invoice_of(app, FEB)[0] == ("agencydemo", "usage", "15.00 USD")  # active till the 27th
    assert invoice_of(app, MAR) == [("agencydemo", "hold", "5.00 USD")]  # never active in March
    assert invoice_of(app, APR) == []


def test_the_comparison_counts_the_accounts_the_invoice_bills(
    app: Subacct, clock: FixedClock
) -> None:
    """agency1 closes in January: February's invoice leaves it out, and so does the
    pooled-against-standalone comparison (no $15 floor for an account gone)."""
    at(clock, datetime(2026, 1, 10, tzinfo=UTC))
    app.accounts.close("agency1", by=SYSTEM)
    at(clock, datetime(2026, 2, 5, tzinfo=UTC))
    app.billing.record_usage([UsageRecord("agencydemo", FEB, "email", 9000, "m")], by=SYSTEM)
    comparison = app.billing.compare("agencydemo", FEB, by=SYSTEM)
    assert dict(comparison.standalone) == {"agencydemo": Money(60, "USD")}
    assert comparison.pooled_total == Money(60, "USD")
    (invoice,) = app.billing.preview_invoices("agencydemo", FEB, by=SYSTEM)
    assert invoice.total == comparison.pooled_total
    assert "agency1" in dict(app.billing.compare("agencydemo", JAN, by=SYSTEM).standalone)
