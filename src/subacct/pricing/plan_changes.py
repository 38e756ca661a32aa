"""Plan changes (seed 001): reviewed upgrades, downgrades next period, pause and cancel.

* An upgrade request starts ``PENDING`` and is ``APPROVED`` or ``REJECTED`` by the
  platform. Approval needs the prerequisites the ``UpgradePolicy`` sets for the target
  plan (for example ``{"spf_verified", "dkim_verified"}`` from 30,000 messages up); a
  missing one raises ``PrerequisitesMissing``. An approved upgrade applies at once; the
  period is charged the price difference, as a mid-month upgrade (``upgrade_charge``).
* A downgrade needs no review: it is approved on request and takes effect next period.
* An account has at most one open change: a pending upgrade or a downgrade scheduled for
  a later period (``open_change``); withdraw it (``cancel``) to ask for another.
* The reviewer of an approval or rejection is recorded (``reviewed_by``, ``reviewed_at``).
* Pause (seasonal hold), resume and cancel follow the account lifecycle of
  ``subacct.domain`` (``follow_account``; ``ForbiddenTransition`` otherwise). Only an
  active subscription can request a change; closing cancels every open change
  (``open_changes``). ``billable`` is true for ``ACTIVE`` and ``SUSPENDED`` (a platform
  hold does not stop the plan), false for a paused (seasonal hold) or closed account.
* ``period_plan`` tells the billing which plan a period starts on and which upgrades it
  carries, from the approved changes: the plan of a period is its floor, an upgrade
  approved during the period adds the difference as its own line (seed 001: "as if you
  would have manually upgraded your account mid-month"), a downgrade counts from the
  period it takes effect in.

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
from datetime import datetime

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import utc_timestamp
from subacct.domain.accounts import ALLOWED_TRANSITIONS, AccountStatus
from subacct.domain.ids import AccountId
from subacct.errors import (
    ForbiddenTransition,
    InvalidBillingStructure,
    InvalidInput,
    PlanChangeError,
    PrerequisitesMissing,
    quoted,
)
from subacct.money import Money
from subacct.pricing import _checks
from subacct.pricing.ladder import Plan, PlanLadder
from subacct.pricing.period import BillingPeriod

__all__ = [
    "ChangeKind",
    "ChangeStatus",
    "PlanChange",
    "Subscription",
    "UpgradePolicy",
    "UpgradeRule",
    "PeriodPlan",
    "apply_change",
    "approve",
    "cancel",
    "check_price_keeps_plans",
    "follow_account",
    "open_change",
    "open_changes",
    "period_plan",
    "reject",
    "request_change",
    "subscription_in",
    "unschedule",
    "upgrade_charge",
]


class ChangeKind(enum.Enum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


class ChangeStatus(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


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


def _reviewer(v: object) -> str | None:
    return None if v is None else _checks.text(v, field="reviewed_by")


def _reviewed_at(v: object) -> datetime | None:
    return None if v is None else utc_timestamp(v, field="reviewed_at")


def _request_id(v: object) -> str:
    return _checks.text(v, field="request_id")


@attrs.frozen
class PlanChange:
    """A request to move ``account_id`` from one plan to another."""

    request_id: str = attrs.field(converter=_request_id)
    account_id: AccountId = attrs.field(converter=_checks.account)
    from_plan: str = attrs.field(converter=_plan)
    to_plan: str = attrs.field(converter=_plan)
    kind: ChangeKind = attrs.field(validator=instance_of(ChangeKind))
    requested_in: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    status: ChangeStatus = attrs.field(
        default=ChangeStatus.PENDING, validator=instance_of(ChangeStatus)
    )
    effective_from: BillingPeriod | None = None
    note: str | None = None
    reviewed_by: str | None = attrs.field(default=None, converter=_reviewer)
    reviewed_at: datetime | None = attrs.field(default=None, converter=_reviewed_at)

    def is_open_in(self, period: BillingPeriod) -> bool:
        """Pending, or approved and taking effect after ``period`` (a scheduled downgrade)."""
        if self.status is ChangeStatus.PENDING:
            return True
        return (
            self.status is ChangeStatus.APPROVED
            and self.effective_from is not None
            and self.effective_from > period
        )


def _status(value: object) -> AccountStatus:
    if not isinstance(value, AccountStatus):
        raise InvalidInput(f"status must be an AccountStatus, got {quoted(value)}", field="status")
    return value


@attrs.frozen
class Subscription:
    """An account's plan, its lifecycle status and a downgrade scheduled for later."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    plan: str = attrs.field(converter=_plan)
    status: AccountStatus = attrs.field(default=AccountStatus.ACTIVE, converter=_status)
    scheduled: PlanChange | None = None
    since: BillingPeriod | None = attrs.field(
        default=None, validator=attrs.validators.optional(instance_of(BillingPeriod))
    )

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
                f"subscription of {quoted(self.account_id)} cannot go from {self.status.value} to "
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


def open_change(changes: Iterable[PlanChange], period: BillingPeriod) -> PlanChange | None:
    """The account's open change in ``period`` (see ``PlanChange.is_open_in``), if any."""
    return next((c for c in changes if c.is_open_in(period)), None)


def open_changes(changes: Iterable[PlanChange], period: BillingPeriod) -> list[PlanChange]:
    """Every change still open in ``period``: what closing the account cancels."""
    return [c for c in changes if c.is_open_in(period)]


def request_change(
    subscription: Subscription,
    ladder: PlanLadder,
    to_plan: str,
    period: BillingPeriod,
    *,
    request_id: str,
    changes: Iterable[PlanChange] = (),
) -> PlanChange:
    """Ask to move to ``to_plan``: a pending upgrade, or a downgrade due next period.
    ``changes`` are the account's changes so far: one still open refuses the request."""
    blocking = open_change(changes, period) if isinstance(period, BillingPeriod) else None
    if blocking is not None:
        raise PlanChangeError(
            f"account {quoted(subscription.account_id)} already has the open change "
            f"{quoted(blocking.request_id)} ({blocking.status.value}); cancel it first",
            account_id=subscription.account_id,
            request_id=blocking.request_id,
        )
    if subscription.status is not AccountStatus.ACTIVE:
        raise PlanChangeError(
            f"account {quoted(subscription.account_id)} is {subscription.status.value}; only an "
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
            f"account {quoted(subscription.account_id)} is already on plan {quoted(to_plan)}",
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
            f"plan change {quoted(change.request_id)} is {change.status.value}, not pending",
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
    reviewed_by: str = "system",
    reviewed_at: datetime | None = None,
) -> PlanChange:
    """Approve a pending upgrade in ``period`` if every prerequisite is ``satisfied``;
    ``reviewed_by`` and ``reviewed_at`` record the review."""
    _require_pending(change)
    if not isinstance(period, BillingPeriod) or period < change.requested_in:
        raise InvalidInput("an upgrade cannot be approved before it was requested")
    missing = sorted(policy.requirements(ladder, change.to_plan) - set(satisfied))
    if missing:
        raise PrerequisitesMissing(
            f"upgrade {quoted(change.request_id)} to {quoted(change.to_plan)} needs {missing} "
            f"first",
            request_id=change.request_id,
            missing=missing,
        )
    return attrs.evolve(
        change,
        status=ChangeStatus.APPROVED,
        effective_from=period,
        reviewed_by=reviewed_by,
        reviewed_at=reviewed_at,
    )


def reject(
    change: PlanChange,
    *,
    reason: str,
    reviewed_by: str = "system",
    reviewed_at: datetime | None = None,
) -> PlanChange:
    """Reject a pending upgrade, saying why."""
    _require_pending(change)
    return attrs.evolve(
        change,
        status=ChangeStatus.REJECTED,
        note=_checks.text(reason, field="reason"),
        reviewed_by=reviewed_by,
        reviewed_at=reviewed_at,
    )


def cancel(change: PlanChange, period: BillingPeriod, *, reason: str) -> PlanChange:
    """Withdraw a change that is still open in ``period`` (a pending upgrade, or a
    scheduled downgrade not yet in effect)."""
    if not isinstance(change, PlanChange) or not change.is_open_in(period):
        raise PlanChangeError(
            "only a pending change, or an approved one not yet in effect, can be cancelled",
            request_id=getattr(change, "request_id", None),
        )
    return attrs.evolve(
        change, status=ChangeStatus.CANCELLED, note=_checks.text(reason, field="reason")
    )


def unschedule(subscription: Subscription, change: PlanChange) -> Subscription:
    """The subscription once ``change`` is withdrawn: a cancelled downgrade it had
    scheduled is dropped; anything else leaves it as it is."""
    due = subscription.scheduled
    withdrawn = change.status is ChangeStatus.CANCELLED
    if withdrawn and due is not None and due.request_id == change.request_id:
        return attrs.evolve(subscription, scheduled=None)
    return subscription


def follow_account(subscription: Subscription, status: AccountStatus) -> Subscription:
    """The subscription after its account moved to ``status`` (a subscription follows its
    account: paused, suspended, resumed with it; closing cancels it and drops a scheduled
    downgrade)."""
    if subscription.status is status:
        return subscription
    return subscription.with_status(status)


def apply_change(subscription: Subscription, change: PlanChange) -> Subscription:
    """Apply an approved change: an upgrade now, a downgrade scheduled for its period."""
    if not isinstance(change, PlanChange) or change.status is not ChangeStatus.APPROVED:
        raise PlanChangeError("only an approved plan change can be applied")
    if change.account_id != subscription.account_id or change.from_plan != subscription.plan:
        raise PlanChangeError(
            f"plan change {quoted(change.request_id)} was made for {quoted(change.account_id)} "
            f"on plan "
            f"{quoted(change.from_plan)}; the subscription is {quoted(subscription.account_id)} on "
            f"{quoted(subscription.plan)}",
            request_id=change.request_id,
        )
    if subscription.status is not AccountStatus.ACTIVE:
        raise PlanChangeError(
            f"account {quoted(subscription.account_id)} is {subscription.status.value}",
            account_id=subscription.account_id,
        )
    if change.kind is ChangeKind.UPGRADE:
        return attrs.evolve(subscription, plan=change.to_plan, scheduled=None)
    return attrs.evolve(subscription, scheduled=change)


def check_price_keeps_plans(
    price: object, subscription: Subscription | None, changes: Iterable[PlanChange]
) -> None:
    """Refuse a new price for a subscribed payer that could not bill it: a subscription
    (and the changes it was billed with, and any still open) names plans, so the price
    must stay a ``PlanLadder`` that has each of them (``InvalidBillingStructure``, field
    ``price``). A payer with no subscription may take any price."""
    if subscription is None:
        return
    named = {subscription.plan} | {
        n for c in changes if c.status in (ChangeStatus.APPROVED, ChangeStatus.PENDING)
        for n in (c.from_plan, c.to_plan)
    }  # fmt: skip
    if not isinstance(price, PlanLadder):
        raise InvalidBillingStructure(
            f"{quoted(subscription.account_id)} is subscribed to a plan: its price must stay "
            "a plan ladder",
            account_id=subscription.account_id,
            field="price",
        )
    have = {plan.name for plan in price.plans}
    missing = sorted(named - have)
    if missing:
        raise InvalidBillingStructure(
            f"the new ladder has no plan {quoted(missing[0])}, which the subscription of "
            f"{quoted(subscription.account_id)} is billed on",
            account_id=subscription.account_id,
            field="price",
            missing=missing,
        )


def upgrade_charge(ladder: PlanLadder, change: PlanChange) -> Money:
    """What an approved upgrade adds to its period: the new plan's price minus the old one's."""
    if change.kind is not ChangeKind.UPGRADE or change.status is not ChangeStatus.APPROVED:
        raise PlanChangeError("only an approved upgrade has an upgrade charge")
    return ladder.plan_named(change.to_plan).price - ladder.plan_named(change.from_plan).price


@attrs.frozen
class PeriodPlan:
    """The plan a period starts on, and the plans upgraded to during it (in order)."""

    plan: Plan
    upgrades: tuple[Plan, ...] = ()


def period_plan(
    subscription: Subscription,
    changes: Iterable[PlanChange],
    ladder: PlanLadder,
    period: BillingPeriod,
) -> PeriodPlan | None:
    """What the subscription bills in ``period`` (``None`` before it started).

    ``changes`` are the account's plan changes (any status: only approved ones count). A
    change approved for an earlier period is in force; a downgrade effective from this
    period counts from its start; an upgrade effective in this period is one of its
    ``upgrades``. Each approved change starts from the plan before it, so the chain gives
    the plan of any period, also after later changes.

    >>> from subacct.money import Money
    >>> ladder = PlanLadder([Plan("12,000", 12000, Money("60", "USD")),
    ...                      Plan("30,000", 30000, Money("135", "USD"))])
    >>> jan = BillingPeriod(2026, 1)
    >>> up = PlanChange("up", "acme", "12,000", "30,000", ChangeKind.UPGRADE, jan,
    ...                 ChangeStatus.APPROVED, jan)
    >>> sub = Subscription("acme", "30,000", since=jan)
    >>> p = period_plan(sub, [up], ladder, jan)
    >>> p.plan.name, [u.name for u in p.upgrades]
    ('12,000', ['30,000'])
    >>> period_plan(sub, [up], ladder, jan.next()).plan.name
    '30,000'
    """
    names = _plans_in(subscription, changes, period)
    if names is None:
        return None
    plan, upgrades = names
    return PeriodPlan(ladder.plan_named(plan), tuple(ladder.plan_named(u) for u in upgrades))


def subscription_in(
    subscription: Subscription, changes: Iterable[PlanChange], period: BillingPeriod
) -> Subscription | None:
    """The subscription as it stands at the end of ``period`` (``None`` before it
    started): the plan of ``period_plan`` after the period's upgrades, and a downgrade
    asked for by then that takes effect later, as scheduled. ``status`` is the account's
    current one."""
    names = _plans_in(subscription, changes, period)
    if names is None:
        return None
    plan, upgrades = names
    later = next(
        (
            c
            for c in changes
            if c.status is ChangeStatus.APPROVED
            and c.kind is ChangeKind.DOWNGRADE
            and c.requested_in <= period
            and c.effective_from is not None
            and c.effective_from > period
        ),
        None,
    )
    return attrs.evolve(subscription, plan=upgrades[-1] if upgrades else plan, scheduled=later)


def _plans_in(
    subscription: Subscription, changes: Iterable[PlanChange], period: BillingPeriod
) -> tuple[str, tuple[str, ...]] | None:
    """The plan ``period`` starts on and the plans it is upgraded to, by name."""
    if subscription.since is not None and period < subscription.since:
        return None
    approved = sorted(
        (c for c in changes if c.status is ChangeStatus.APPROVED and c.effective_from),
        key=lambda c: (c.effective_from, c.reviewed_at or c.requested_in.start, c.request_id),
    )
    plan = approved[0].from_plan if approved else subscription.plan
    upgrades: list[str] = []
    for change in approved:
        assert change.effective_from is not None
        if change.effective_from > period:
            break
        if change.effective_from < period or change.kind is ChangeKind.DOWNGRADE:
            plan = change.to_plan
        else:
            upgrades.append(change.to_plan)
    return plan, tuple(upgrades)
