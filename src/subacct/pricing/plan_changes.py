"""Plan changes (seed 001): reviewed upgrades, downgrades next period, pause and cancel.

* An upgrade request starts ``PENDING`` and is ``APPROVED`` or ``REJECTED`` by the
  platform. Approval needs the prerequisites the ``UpgradePolicy`` sets for the target
  plan (for example ``{"spf_verified", "dkim_verified"}`` from 30,000 messages up); a
  missing one raises ``PrerequisitesMissing``. An approved upgrade applies at once; the
  period is charged the price difference, as a mid-month upgrade (``upgrade_charge``).
* A downgrade needs no review: it is approved on request and takes effect next period.
* Pause (seasonal hold), resume and cancel follow the account lifecycle of
  ``subacct.domain`` (``ForbiddenTransition`` otherwise). Only an active subscription can
  request a change; cancelling drops a scheduled downgrade. ``billable`` is true for
  ``ACTIVE`` and ``SUSPENDED`` (a platform hold does not stop the plan), false for a
  paused (seasonal hold) or closed account.

>>> from subacct.money import Money
>>> from subacct.pricing import (BillingPeriod, Plan, PlanLadder, Subscription,
...     UpgradePolicy, UpgradeRule, approve, apply_change, request_change)
>>> ladder = PlanLadder([Plan("12,000", 12000, Money("60", "USD")),
...                      Plan("30,000", 30000, Money("135", "USD"))])
>>> policy = UpgradePolicy([UpgradeRule(30000, {"spf_verified", "dkim_verified"})])
>>> jan = BillingPeriod(2026, 1)
>>> sub = Subscription("agencydemo", "12,000")
>>> change = request_change(sub, ladder, "30,000", jan, request_id="chg-1")
>>> change.status.value
'pending'
>>> ok = approve(change, ladder=ladder, policy=policy,
...              satisfied={"spf_verified", "dkim_verified"}, period=jan)
>>> apply_change(sub, ok).plan
'30,000'
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from subacct.domain.accounts import ALLOWED_TRANSITIONS, AccountStatus
from subacct.domain.ids import AccountId
from subacct.errors import (
    ForbiddenTransition,
    InvalidInput,
    PlanChangeError,
    PrerequisitesMissing,
)
from subacct.money import Money
from subacct.pricing import _checks
from subacct.pricing.ladder import PlanLadder
from subacct.pricing.period import BillingPeriod

__all__ = [
    "ChangeKind",
    "ChangeStatus",
    "PlanChange",
    "Subscription",
    "UpgradePolicy",
    "UpgradeRule",
    "apply_change",
    "approve",
    "reject",
    "request_change",
    "upgrade_charge",
]


class ChangeKind(enum.Enum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


class ChangeStatus(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def _names(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("requires must be a set of prerequisite names", field="requires")
    return frozenset(_checks.text(v, field="prerequisite") for v in value)


def _min_included(v: object) -> int:
    return _checks.quantity(v, field="min_included")


@attrs.frozen
class UpgradeRule:
    """Upgrades to a plan including at least ``min_included`` messages need ``requires``."""

    min_included: int = attrs.field(converter=_min_included)
    requires: frozenset[str] = attrs.field(converter=_names)


def _rules(value: object) -> tuple[UpgradeRule, ...]:
    if not isinstance(value, Iterable):
        raise InvalidInput("rules must be a list of UpgradeRule", field="rules")
    rules = tuple(value)
    for rule in rules:
        if not isinstance(rule, UpgradeRule):
            raise InvalidInput(f"expected an UpgradeRule, got {type(rule).__name__}")
    return rules


@attrs.frozen
class UpgradePolicy:
    """The prerequisites of upgrades, by target plan size (none by default)."""

    rules: tuple[UpgradeRule, ...] = attrs.field(default=(), converter=_rules)

    def requirements(self, ladder: PlanLadder, plan_name: str) -> frozenset[str]:
        """Everything an upgrade to ``plan_name`` needs."""
        plan = ladder.plan_named(plan_name)
        out: frozenset[str] = frozenset()
        for rule in self.rules:
            if plan.included >= rule.min_included:
                out |= rule.requires
        return out


def _plan(v: object) -> str:
    return _checks.text(v, field="plan")


def _request_id(v: object) -> str:
    return _checks.text(v, field="request_id")


@attrs.frozen
class PlanChange:
    """A request to move ``account_id`` from one plan to another."""

    request_id: str = attrs.field(converter=_request_id)
    account_id: AccountId = attrs.field(converter=_checks.account)
    from_plan: str = attrs.field(converter=_plan)
    to_plan: str = attrs.field(converter=_plan)
    kind: ChangeKind = attrs.field(validator=_checks.is_a(ChangeKind))
    requested_in: BillingPeriod = attrs.field(validator=_checks.is_a(BillingPeriod))
    status: ChangeStatus = attrs.field(
        default=ChangeStatus.PENDING, validator=_checks.is_a(ChangeStatus)
    )
    effective_from: BillingPeriod | None = None
    note: str | None = None


def _status(value: object) -> AccountStatus:
    if not isinstance(value, AccountStatus):
        raise InvalidInput(f"status must be an AccountStatus, got {value!r}", field="status")
    return value


@attrs.frozen
class Subscription:
    """An account's plan, its lifecycle status and a downgrade scheduled for later."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    plan: str = attrs.field(converter=_plan)
    status: AccountStatus = attrs.field(default=AccountStatus.ACTIVE, converter=_status)
    scheduled: PlanChange | None = None

    @property
    def billable(self) -> bool:
        """Whether the plan is charged this period (see the module docstring)."""
        return self.status in (AccountStatus.ACTIVE, AccountStatus.SUSPENDED)

    def in_period(self, period: BillingPeriod) -> Subscription:
        """The subscription as it stands in ``period`` (a due downgrade applied)."""
        due = self.scheduled
        if due is not None and due.effective_from is not None and period >= due.effective_from:
            return attrs.evolve(self, plan=due.to_plan, scheduled=None)
        return self

    def with_status(self, status: AccountStatus) -> Subscription:
        """Follow the account lifecycle (``ForbiddenTransition`` when it does not allow it)."""
        target = _status(status)
        if target not in ALLOWED_TRANSITIONS[self.status]:
            raise ForbiddenTransition(
                f"subscription of {self.account_id!r} cannot go from {self.status.value} to "
                f"{target.value}",
                account_id=self.account_id,
                from_status=self.status.value,
                to_status=target.value,
            )
        scheduled = None if target is AccountStatus.CLOSED else self.scheduled
        return attrs.evolve(self, status=target, scheduled=scheduled)

    def paused(self) -> Subscription:
        return self.with_status(AccountStatus.PAUSED)

    def resumed(self) -> Subscription:
        return self.with_status(AccountStatus.ACTIVE)

    def cancelled(self) -> Subscription:
        return self.with_status(AccountStatus.CLOSED)


def request_change(
    subscription: Subscription,
    ladder: PlanLadder,
    to_plan: str,
    period: BillingPeriod,
    *,
    request_id: str,
) -> PlanChange:
    """Ask to move to ``to_plan``: a pending upgrade, or a downgrade due next period."""
    if subscription.status is not AccountStatus.ACTIVE:
        raise PlanChangeError(
            f"account {subscription.account_id!r} is {subscription.status.value}; only an "
            "active account can change plan",
            account_id=subscription.account_id,
            status=subscription.status.value,
        )
    if not isinstance(period, BillingPeriod):
        raise InvalidInput("period must be a BillingPeriod", field="period")
    current = ladder.plan_named(subscription.plan)
    target = ladder.plan_named(to_plan)
    if target == current:
        raise PlanChangeError(
            f"account {subscription.account_id!r} is already on plan {to_plan!r}",
            account_id=subscription.account_id,
        )
    if target.included > current.included:
        return PlanChange(
            request_id, subscription.account_id, current.name, target.name,
            ChangeKind.UPGRADE, period,
        )  # fmt: skip
    return PlanChange(
        request_id, subscription.account_id, current.name, target.name,
        ChangeKind.DOWNGRADE, period, ChangeStatus.APPROVED, period.next(),
    )  # fmt: skip


def _require_pending(change: PlanChange) -> None:
    if not isinstance(change, PlanChange):
        raise InvalidInput("change must be a PlanChange", field="change")
    if change.status is not ChangeStatus.PENDING:
        raise PlanChangeError(
            f"plan change {change.request_id!r} is {change.status.value}, not pending",
            request_id=change.request_id,
            status=change.status.value,
        )


def approve(
    change: PlanChange,
    *,
    ladder: PlanLadder,
    policy: UpgradePolicy,
    satisfied: Iterable[str],
    period: BillingPeriod,
) -> PlanChange:
    """Approve a pending upgrade in ``period`` if every prerequisite is ``satisfied``."""
    _require_pending(change)
    if not isinstance(period, BillingPeriod) or period < change.requested_in:
        raise InvalidInput("an upgrade cannot be approved before it was requested")
    missing = sorted(policy.requirements(ladder, change.to_plan) - set(satisfied))
    if missing:
        raise PrerequisitesMissing(
            f"upgrade {change.request_id!r} to {change.to_plan!r} needs {missing} first",
            request_id=change.request_id,
            missing=missing,
        )
    return attrs.evolve(change, status=ChangeStatus.APPROVED, effective_from=period)


def reject(change: PlanChange, *, reason: str) -> PlanChange:
    """Reject a pending upgrade, saying why."""
    _require_pending(change)
    return attrs.evolve(
        change, status=ChangeStatus.REJECTED, note=_checks.text(reason, field="reason")
    )


def apply_change(subscription: Subscription, change: PlanChange) -> Subscription:
    """Apply an approved change: an upgrade now, a downgrade scheduled for its period."""
    if not isinstance(change, PlanChange) or change.status is not ChangeStatus.APPROVED:
        raise PlanChangeError("only an approved plan change can be applied")
    if change.account_id != subscription.account_id or change.from_plan != subscription.plan:
        raise PlanChangeError(
            f"plan change {change.request_id!r} was made for {change.account_id!r} on plan "
            f"{change.from_plan!r}; the subscription is {subscription.account_id!r} on "
            f"{subscription.plan!r}",
            request_id=change.request_id,
        )
    if subscription.status is not AccountStatus.ACTIVE:
        raise PlanChangeError(
            f"account {subscription.account_id!r} is {subscription.status.value}",
            account_id=subscription.account_id,
        )
    if change.kind is ChangeKind.UPGRADE:
        return attrs.evolve(subscription, plan=change.to_plan, scheduled=None)
    return attrs.evolve(subscription, scheduled=change)


def upgrade_charge(ladder: PlanLadder, change: PlanChange) -> Money:
    """What an approved upgrade adds to its period: the new plan's price minus the old one's."""
    if change.kind is not ChangeKind.UPGRADE or change.status is not ChangeStatus.APPROVED:
        raise PlanChangeError("only an approved upgrade has an upgrade charge")
    return ladder.plan_named(change.to_plan).price - ladder.plan_named(change.from_plan).price
