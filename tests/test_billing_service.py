"""Billing over storage: the seed examples end to end, idempotent usage, quotas,
invoices issued once, setup fees and agency commissions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from subacct import (
    BillingMode,
    BillingPeriod,
    BillingService,
    FixedClock,
    IdempotencyConflict,
    MemoryStore,
    Money,
    Plan,
    PlanLadder,
    Quota,
    QuotaExceeded,
    SequentialIds,
    SetupDiscount,
    SetupFeeSchedule,
    SqliteStore,
    Store,
    UsageRecord,
)
from subacct.errors import QuotaCapExceedsParent
from subacct.testing.conformance import store_state

JAN = BillingPeriod(2026, 1)


def usd(amount: str | int) -> Money:
    return Money(amount, "USD")


SEED000_LADDER = PlanLadder(
    [
        Plan("2,500", 2500, usd(15)),
        Plan("8,500", 8500, usd(45)),
        Plan("12,000", 12000, usd(60)),
        Plan("18,000", 18000, usd(90)),
    ]
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        s = SqliteStore(tmp_path / "b.db")
        yield s
        s.close()


@pytest.fixture
def svc(store: Store) -> BillingService:
    s = BillingService(
        store, clock=FixedClock(datetime(2026, 1, 15, tzinfo=UTC)), ids=SequentialIds()
    )
    s.create_master("Agency Demo", account_id="agencydemo")
    s.create_sub("agencydemo", "Company X", account_id="agency1")
    s.create_sub("agencydemo", "Company Y", account_id="agency2")
    s.set_billing_profile("agencydemo", SEED000_LADDER)
    return s


def seed000_usage(svc: BillingService) -> None:
    svc.record_usage(
        [
            UsageRecord("agencydemo", JAN, "email", 9000, "m-1"),
            UsageRecord("agency1", JAN, "smtp", 5300, "x-1", "promo"),
            UsageRecord("agency2", JAN, "sms", 1700, "y-1"),
        ]
    )


def test_seed000_pooled_bill_is_90_not_120(svc: BillingService) -> None:
    seed000_usage(svc)
    comparison = svc.compare("agencydemo", JAN)
    assert dict(comparison.standalone) == {
        "agencydemo": usd(60),
        "agency1": usd(45),
        "agency2": usd(15),
    }
    assert comparison.standalone_total == usd(120)
    assert comparison.pooled_volume == 16000
    assert comparison.pooled_total == usd(90)
    assert comparison.saving == usd(30)
    assert comparison.cheaper is BillingMode.POOLED
    (invoice,) = svc.preview_invoices("agencydemo", JAN)
    assert invoice.total == usd("90.00")
    assert [line.account_id for line in invoice.lines] == ["agencydemo", "agency1", "agency2"]
    assert sum((line.amount for line in invoice.lines), usd(0)) == invoice.total


def test_sub_with_own_payment_details_gets_its_own_invoice(svc: BillingService) -> None:
    seed000_usage(svc)
    svc.set_billing_profile("agency1", SEED000_LADDER)
    invoices = {i.payer_id: i for i in svc.preview_invoices("agencydemo", JAN)}
    assert invoices["agency1"].total == usd("45.00")
    assert invoices["agencydemo"].total == usd("60.00")  # 10,700 pooled: the 12,000 plan


def test_usage_is_idempotent_and_conflicts_write_nothing(svc: BillingService) -> None:
    seed000_usage(svc)
    assert svc.record_usage([UsageRecord("agency1", JAN, "smtp", 5300, "x-1", "promo")]) == 0
    before = svc.usage_book(JAN).totals()
    state = store_state(svc.store)
    with pytest.raises(IdempotencyConflict):
        svc.record_usage(
            [
                UsageRecord("agency2", JAN, "sms", 10, "y-2"),
                UsageRecord("agency1", JAN, "smtp", 9999, "x-1"),  # same key, other content
            ]
        )
    assert svc.usage_book(JAN).totals() == before
    assert store_state(svc.store) == state
    assert svc.usage_by_label("agency1", JAN) == {"promo": 5300}
    assert svc.subtree_usage("agencydemo", JAN) == 16000


def test_invoice_is_issued_once_with_one_event(svc: BillingService) -> None:
    seed000_usage(svc)
    first = svc.issue_invoice("agencydemo", JAN)
    again = svc.issue_invoice("agencydemo", JAN)
    assert first == again
    assert svc.invoices("agencydemo") == [first]
    with svc.store.unit_of_work() as uow:
        issued = [
            x.event
            for x in uow.events.since(0, limit=1000)
            if x.event.event_type == "invoice_issued"
        ]
    assert len(issued) == 1
    assert issued[0].total == usd("90.00")  # type: ignore[union-attr]


def test_quotas_refuse_over_quota_sends_unless_overage_is_allowed(svc: BillingService) -> None:
    svc.set_quota("agencydemo", Quota(10000))
    svc.set_quota("agency1", Quota(6000))
    with pytest.raises(QuotaCapExceedsParent):
        svc.set_quota("agency2", Quota(12000))
    svc.reserve_send("agency1", JAN, 5000, key="s1")
    assert svc.reserve_send("agency1", JAN, 5000, key="s1").allowed  # a retry counts once
    with pytest.raises(QuotaExceeded) as err:
        svc.reserve_send("agency1", JAN, 2000, key="s2")
    assert err.value.code == "over_quota"
    assert err.value.details["limit"] == 6000
    with pytest.raises(QuotaExceeded) as err:
        svc.reserve_send("agency2", JAN, 5001, key="s3")  # the master's 10,000 covers both
    assert err.value.details["limited_by"] == "agencydemo"
    svc.release_send(JAN, "s1")
    assert svc.check_send("agency1", JAN, 6000).allowed
    svc.set_quota("agency1", Quota(6000, allow_overage=True))
    svc.set_quota("agencydemo", Quota(10000, allow_overage=True))
    assert svc.reserve_send("agency1", JAN, 7000, key="s4").overage == 1000
    with pytest.raises(IdempotencyConflict):
        svc.reserve_send("agency1", JAN, 1, key="s4")


def test_setup_fees_with_a_volume_discount(svc: BillingService) -> None:
    svc.set_billing_profile(
        "agencydemo",
        SEED000_LADDER,
        setup_fees=SetupFeeSchedule(usd(30), [SetupDiscount(3, Decimal(50))]),
    )
    svc.create_sub("agencydemo", "Company Z", account_id="agency3")
    seed000_usage(svc)
    (invoice,) = svc.preview_invoices("agencydemo", JAN)
    fees = [line.amount for line in invoice.lines if line.kind.value == "setup_fee"]
    assert fees == [usd(30), usd(30), usd(15)]


def test_agency_earns_25_percent_of_linked_client_subscription(svc: BillingService) -> None:
    svc.set_billing_profile("agencydemo", SEED000_LADDER, commission_rate="0.25")
    svc.create_master("Client Co", account_id="client")
    svc.link_client("agencydemo", "client", "Client Co")
    svc.set_billing_profile("client", SEED000_LADDER)
    svc.record_usage([UsageRecord("client", JAN, "email", 8000, "c-1")])
    assert svc.issue_invoice("client", JAN).total == usd("45.00")
    statement = svc.commission_statement("agencydemo", JAN)
    assert statement.total == usd("11.25")
    assert svc.preview_invoices("agencydemo", JAN)[0].payer_id == "agencydemo"  # not pooled
