"""Seed 001 over storage: reviewed upgrades with prerequisites, downgrades next period,
the lifecycle carried over to the subscription, and the fluctuating-volume true-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from subacct import AccountStatus, MemoryStore, Money, SqliteStore, Store
from subacct.errors import PlanChangeError, PrerequisitesMissing
from subacct.plan_service import PlanService
from subacct.pricing import (
    BillingPeriod,
    Plan,
    PlanLadder,
    UpgradePolicy,
    UpgradeRule,
    true_up,
)
from subacct.testing.conformance import store_state

JAN, FEB = BillingPeriod(2026, 1), BillingPeriod(2026, 2)
LADDER = PlanLadder(
    [
        Plan("12,000", 12000, Money("60", "USD")),
        Plan("30,000", 30000, Money("135", "USD")),
        Plan("45,000", 45000, Money("190", "USD")),
    ]
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        s = SqliteStore(tmp_path / "plans.db")
        yield s
        s.close()


@pytest.fixture
def svc(store: Store) -> PlanService:
    s = PlanService(
        store, upgrade_policy=UpgradePolicy([UpgradeRule(30000, {"spf_verified", "dkim_verified"})])
    )
    s.create_master("Agency Demo", account_id="agencydemo")
    s.set_billing_profile("agencydemo", LADDER)
    s.subscribe("agencydemo", "12,000")
    return s


def test_seed001_upgrade_waits_for_spf_and_dkim(svc: PlanService) -> None:
    change = svc.request_plan_change("agencydemo", "30,000", JAN, request_id="up-1")
    assert change.status.value == "pending"
    assert svc.subscription("agencydemo").plan == "12,000"
    before = store_state(svc.store)
    with pytest.raises(PrerequisitesMissing) as err:
        svc.approve_plan_change("up-1", JAN)
    assert err.value.details["missing"] == ["dkim_verified", "spf_verified"]
    assert store_state(svc.store) == before
    svc.record_prerequisite("agencydemo", "spf_verified")
    svc.record_prerequisite("agencydemo", "dkim_verified")
    approved = svc.approve_plan_change("up-1", JAN)
    assert (approved.status.value, approved.effective_from) == ("approved", JAN)
    assert svc.subscription("agencydemo").plan == "30,000"
    with pytest.raises(PlanChangeError):
        svc.approve_plan_change("up-1", JAN)  # not pending any more


def test_rejected_upgrade_changes_nothing(svc: PlanService) -> None:
    svc.request_plan_change("agencydemo", "45,000", JAN, request_id="up-2")
    rejected = svc.reject_plan_change("up-2", reason="sending reputation too low")
    assert rejected.note == "sending reputation too low"
    assert svc.subscription("agencydemo").plan == "12,000"
    assert [c.request_id for c in svc.plan_changes("agencydemo")] == ["up-2"]


def test_downgrade_takes_effect_next_period(svc: PlanService) -> None:
    svc.record_prerequisite("agencydemo", "spf_verified")
    svc.record_prerequisite("agencydemo", "dkim_verified")
    svc.request_plan_change("agencydemo", "30,000", JAN, request_id="up")
    svc.approve_plan_change("up", JAN)
    down = svc.request_plan_change("agencydemo", "12,000", JAN, request_id="down")
    assert (down.status.value, down.effective_from) == ("approved", FEB)
    assert svc.subscription("agencydemo", JAN).plan == "30,000"
    assert svc.subscription("agencydemo", FEB).plan == "12,000"


def test_pause_and_cancel_follow_the_account(svc: PlanService) -> None:
    svc.pause("agencydemo")
    assert svc.subscription("agencydemo").status is AccountStatus.PAUSED
    assert not svc.subscription("agencydemo").billable
    with pytest.raises(PlanChangeError):
        svc.request_plan_change("agencydemo", "30,000", JAN)
    svc.resume("agencydemo")
    svc.close("agencydemo")
    assert svc.subscription("agencydemo").status is AccountStatus.CLOSED


def test_seed001_fluctuating_volume_true_up() -> None:
    # prepaid 30,000, sent 40,000: charge price(45,000 plan) - price(30,000 plan)
    assert true_up(LADDER, 30000, 40000) == Money("55", "USD")
