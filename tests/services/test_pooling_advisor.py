"""``app.billing.advise_pooling``: the advisor on the stored usage of a payer's pool
(issue 15, item 5), on every adapter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from subacct import (
    SYSTEM,
    BillingPeriod,
    FixedClock,
    Money,
    Plan,
    PlanLadder,
    Store,
    Subacct,
    UsageRecord,
)
from subacct.errors import PermissionDenied
from subacct.pricing import Charge, PriceList

from .conftest import T0, make_app, seed_agency

JAN = BillingPeriod(2026, 1)
SEED000_LADDER = PlanLadder(
    [
        Plan("2,500", 2500, Money(15, "USD")),
        Plan("8,500", 8500, Money(45, "USD")),
        Plan("12,000", 12000, Money(60, "USD")),
        Plan("18,000", 18000, Money(90, "USD")),
    ]
)
ISSUE_LADDER = PlanLadder([Plan("10", 10, Money(10, "USD")), Plan("21", 21, Money(30, "USD"))])


@pytest.fixture
def app(store: Store) -> Subacct:
    a = seed_agency(make_app(store, clock=FixedClock(T0 - timedelta(days=14))))
    a.billing.set_profile("agencydemo", SEED000_LADDER, by=SYSTEM)
    return a


def usage(app: Subacct, **volumes: int) -> None:
    records = [UsageRecord(a, JAN, "email", v, f"u-{a}") for a, v in volumes.items()]
    app.billing.record_usage(records, by=SYSTEM)


def test_seed000_advice_is_pool_all_for_90(app: Subacct) -> None:
    usage(app, agencydemo=9000, agency1=5300, agency2=1700)
    advice = app.billing.advise_pooling("agencydemo", JAN, by="owner")
    assert advice.pooled == ("agency1", "agency2")
    assert advice.total == Money(90, "USD")
    assert advice.all_standalone_total == Money(120, "USD")
    assert advice.exact
    assert app.billing.compare("agencydemo", JAN, by="owner").pooled_total == advice.total


def test_a_sub_account_cannot_see_its_payers_advice(app: Subacct) -> None:
    usage(app, agencydemo=9000)
    with pytest.raises(PermissionDenied):
        app.billing.advise_pooling("agencydemo", JAN, by="yara")


def test_issue_example_standalone_for_20(app: Subacct) -> None:
    app.billing.set_profile("agencydemo", ISSUE_LADDER, by=SYSTEM)
    usage(app, agencydemo=10, agency1=10)
    advice = app.billing.advise_pooling("agencydemo", JAN, by="owner")
    # agency2 sent nothing: pooling it is free (the payer's $10 plan covers 10 + 0).
    assert advice.pooled == ("agency2",)
    assert [a for a, _ in advice.standalone] == ["agency1"]
    assert advice.total == Money(20, "USD")
    assert advice.all_pooled_total == Money(30, "USD")


def test_a_nested_payer_and_its_accounts_are_left_out(app: Subacct) -> None:
    app.billing.set_profile("agency1", SEED000_LADDER, by=SYSTEM)  # agency1 pays for itself
    usage(app, agencydemo=9000, agency1=5300, agency2=1700)
    advice = app.billing.advise_pooling("agencydemo", JAN, by=SYSTEM)
    assert advice.pooled == ("agency2",)
    assert advice.standalone == ()
    assert advice.total == Money(60, "USD")  # 10,700 pooled: the 12,000 plan


def test_a_price_list_is_advised_per_charge(app: Subacct) -> None:
    price = PriceList([Charge("email", ISSUE_LADDER, "email"), Charge("sms", ISSUE_LADDER, "sms")])
    app.billing.set_profile("agencydemo", price, by=SYSTEM)
    app.billing.record_usage(
        [
            UsageRecord("agencydemo", JAN, "email", 10, "m-1"),
            UsageRecord("agency1", JAN, "email", 10, "x-1"),
            UsageRecord("agency2", JAN, "sms", 10, "y-1"),
        ],
        by=SYSTEM,
    )
    advice = app.billing.advise_pooling("agencydemo", JAN, by="owner")
    charges = dict(advice.by_charge)
    assert charges["email"].pooled == ("agency2",)  # payer 10 + agency1 10: apart
    assert charges["sms"].pooled == ("agency1", "agency2")  # 10 pooled: one $10 plan
    assert advice.total == Money(30, "USD")
    comparison = app.billing.compare("agencydemo", JAN, by="owner")
    assert advice.all_pooled_total == comparison.pooled_total == Money(40, "USD")
    assert advice.all_standalone_total == comparison.standalone_total == Money(60, "USD")
