"""Plan changes: review of upgrades, downgrades next period, pause and cancel."""

from __future__ import annotations

import pytest

from subacct.domain import AccountStatus
from subacct.errors import (
    ForbiddenTransition,
    InvalidInput,
    PlanChangeError,
    PlanNotFound,
)
from subacct.pricing import (
    ChangeKind,
    ChangeStatus,
    PlanLadder,
    Subscription,
    UpgradePolicy,
    apply_change,
    approve,
    reject,
    request_change,
    upgrade_charge,
)

from .pricing_helpers import JAN, usd

NO_RULES = UpgradePolicy()


def test_downgrade_needs_no_review_and_takes_effect_next_period(big_ladder: PlanLadder) -> None:
    sub = Subscription("acme", "30,000")
    change = request_change(sub, big_ladder, "12,000", JAN, request_id="d1")
    assert (change.kind, change.status) == (ChangeKind.DOWNGRADE, ChangeStatus.APPROVED)
    assert change.effective_from == JAN.next()
    sub = apply_change(sub, change)
    assert sub.plan == "30,000"
    assert sub.in_period(JAN).plan == "30,000"
    assert sub.in_period(JAN.next()).plan == "12,000"
    assert sub.in_period(JAN.next()).scheduled is None


def test_rejected_upgrade_keeps_its_reason_and_cannot_be_approved_later(
    big_ladder: PlanLadder,
) -> None:
    change = request_change(Subscription("acme", "2,500"), big_ladder, "8,500", JAN, request_id="u")
    rejected = reject(change, reason="sending reputation too low")
    assert (rejected.status, rejected.note) == (ChangeStatus.REJECTED, "sending reputation too low")
    with pytest.raises(PlanChangeError) as caught:
        approve(rejected, ladder=big_ladder, policy=NO_RULES, satisfied=(), period=JAN)
    assert caught.value.code == "plan_change_refused"
    with pytest.raises(PlanChangeError):
        apply_change(Subscription("acme", "2,500"), rejected)
    with pytest.raises(PlanChangeError):
        reject(rejected, reason="again")


def test_upgrade_charge_is_the_price_difference(big_ladder: PlanLadder) -> None:
    change = request_change(Subscription("a", "8,500"), big_ladder, "18,000", JAN, request_id="u")
    ok = approve(change, ladder=big_ladder, policy=NO_RULES, satisfied=(), period=JAN)
    assert ok.effective_from == JAN
    assert upgrade_charge(big_ladder, ok) == usd(45)
    with pytest.raises(PlanChangeError):
        upgrade_charge(big_ladder, change)  # still pending


def test_only_active_subscriptions_change_plan(big_ladder: PlanLadder) -> None:
    paused = Subscription("acme", "8,500").paused()
    assert not paused.billable
    with pytest.raises(PlanChangeError):
        request_change(paused, big_ladder, "12,000", JAN, request_id="x")
    resumed = paused.resumed()
    assert resumed.billable
    assert request_change(resumed, big_ladder, "12,000", JAN, request_id="x").to_plan == "12,000"


def test_a_stale_change_cannot_be_applied(big_ladder: PlanLadder) -> None:
    sub = Subscription("acme", "8,500")
    up = request_change(sub, big_ladder, "12,000", JAN, request_id="u")
    ok = approve(up, ladder=big_ladder, policy=NO_RULES, satisfied=(), period=JAN)
    moved = apply_change(sub, ok)
    with pytest.raises(PlanChangeError):
        apply_change(moved, ok)  # already on 12,000: the change was for 8,500
    with pytest.raises(PlanChangeError):
        apply_change(Subscription("other", "8,500"), ok)


def test_cancel_follows_the_lifecycle_and_drops_a_scheduled_downgrade(
    big_ladder: PlanLadder,
) -> None:
    sub = Subscription("acme", "30,000")
    sub = apply_change(sub, request_change(sub, big_ladder, "8,500", JAN, request_id="d"))
    assert sub.scheduled is not None
    closed = sub.cancelled()
    assert (closed.status, closed.scheduled, closed.billable) == (AccountStatus.CLOSED, None, False)
    with pytest.raises(ForbiddenTransition):
        closed.resumed()
    suspended = Subscription("b", "8,500").with_status(AccountStatus.SUSPENDED)
    assert suspended.billable


def test_bad_requests_are_refused(big_ladder: PlanLadder) -> None:
    sub = Subscription("acme", "8,500")
    with pytest.raises(PlanNotFound):
        request_change(sub, big_ladder, "99,999", JAN, request_id="x")
    with pytest.raises(PlanChangeError):
        request_change(sub, big_ladder, "8,500", JAN, request_id="x")
    up = request_change(sub, big_ladder, "12,000", JAN, request_id="x")
    with pytest.raises(InvalidInput):
        approve(up, ladder=big_ladder, policy=NO_RULES, satisfied=(), period=JAN.previous())
    with pytest.raises(InvalidInput):
        Subscription("acme", "")
