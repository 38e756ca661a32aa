"""``app.plans``: subscriptions and reviewed plan changes (seed 001).

An account billed on a plan ladder subscribes to one of its plans; the plan's price is
the floor of each month's invoice. An upgrade request waits for the platform's review;
approval needs the prerequisites the settings' ``UpgradePolicy`` sets for the target plan
(SPF and DKIM verified, say), recorded per account with ``record_prerequisite``, and is
billed from the month it is approved in (the difference as its own invoice line). A
downgrade is approved on request and takes effect next month. An account has one open
change at a time. The subscription follows the account's lifecycle; closing cancels
every open change.

* ``subscribe``, ``record_prerequisite``, ``approve_change``, ``reject_change``: the
  system (the platform's review; the reviewer is recorded);
* ``request_change``, ``cancel_change``: ``billing.manage`` in the account, or the system;
* reads: ``billing.view`` in the account.

>>> import subacct
>>> from subacct import BillingPeriod, Money, Plan, PlanLadder, Settings, UpgradePolicy, UpgradeRule
>>> app = subacct.Subacct(subacct.MemoryStore(), Settings(upgrade_policy=UpgradePolicy(
...     [UpgradeRule(30000, {"spf_verified", "dkim_verified"})])))
>>> S, jan = subacct.SYSTEM, BillingPeriod(2026, 1)
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> _ = app.billing.set_profile("agencydemo", PlanLadder([
...     Plan("12,000", 12000, Money("60", "USD")), Plan("30,000", 30000, Money("135", "USD"))]),
...     by=S)
>>> _ = app.plans.subscribe("agencydemo", "12,000", by=S, period=jan)
>>> app.plans.request_change("agencydemo", "30,000", by=S, request_id="chg-1").status.value
'pending'
>>> try:
...     app.plans.approve_change("chg-1", by=S)
... except subacct.PrerequisitesMissing as err:
...     print(err.details["missing"])
['dkim_verified', 'spf_verified']
"""

from __future__ import annotations

from subacct.domain import AccountId
from subacct.domain.events import (
    PlanChangeApproved,
    PlanChangeCancelled,
    PlanChangeRejected,
    PlanChangeRequested,
    PrerequisiteRecorded,
    SubscriptionStarted,
)
from subacct.errors import AlreadyExists, InvalidBillingStructure, NotFound, quoted
from subacct.policy import MANAGE_BILLING, VIEW_BILLING, Action
from subacct.pricing import (
    BillingPeriod,
    PlanChange,
    PlanLadder,
    Subscription,
    apply_change,
    approve,
    reject,
    request_change,
)
from subacct.pricing.plan_changes import (
    ChangeStatus,
    cancel,
    subscription_in,
    unschedule,
)
from subacct.pricing.profiles import Prerequisites
from subacct.principals import Actor, principal_label
from subacct.services import _adjustments, _args
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import (
    BILLING_PROFILES,
    PLAN_CHANGES,
    PREREQUISITES,
    SUBSCRIPTIONS,
)

__all__ = ["Plans"]

_SUBSCRIBE = Action("plans.subscribe")
_PREREQUISITE = Action("plans.record_prerequisite")
_REVIEW = Action("plans.review")


def _ladder(unit: Unit, account_id: str) -> PlanLadder:
    profile = unit.uow.records(BILLING_PROFILES).find(account_id)
    if profile is None or not isinstance(profile.price, PlanLadder):
        raise InvalidBillingStructure(
            f"{quoted(account_id)} is not billed on a plan ladder", account_id=account_id
        )
    return profile.price


def _period(unit: Unit, given: BillingPeriod | None) -> BillingPeriod:
    return given if given is not None else BillingPeriod.of(unit.now)


def _requested(unit: Unit, change: PlanChange) -> PlanChangeRequested:
    return PlanChangeRequested(
        **unit.meta().about(change.account_id),
        request_id=change.request_id,
        kind=change.kind.value,
        from_plan=change.from_plan,
        to_plan=change.to_plan,
        status=change.status.value,
        effective_from=None if change.effective_from is None else str(change.effective_from),
    )


class Plans:
    """Subscriptions and reviewed plan changes (``app.plans``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    @command
    def subscribe(
        self, account_id: str, plan: str, *, by: Actor, period: BillingPeriod | str | None = None
    ) -> Subscription:
        """Put a payer billed on a plan ladder on one of its plans from ``period`` (default:
        this month); the system only."""
        who, where, name = (
            _args.actor(by),
            _args.ident(account_id, "account_id"),
            _args.text(plan, "plan"),
        )
        since = _args.optional_period(period)

        def work(unit: Unit) -> Subscription:
            account = unit.uow.accounts.get(AccountId(where))
            account.require_open()
            unit.require_system(_SUBSCRIBE, account.id)
            _ladder(unit, account.id).plan_named(name)
            repo = unit.uow.records(SUBSCRIPTIONS)
            if repo.find(account.id) is not None:
                raise AlreadyExists(
                    f"{quoted(account.id)} has a subscription already; change its plan instead",
                    account_id=account.id,
                )
            subscription = Subscription(
                account.id, name, account.status, since=_period(unit, since)
            )
            repo.add(subscription)
            unit.emit(SubscriptionStarted(**unit.meta().about(account.id), plan=name))
            return subscription

        return self._runner.command(who, work)

    @query
    def subscription(
        self, account_id: str, *, by: Actor, period: BillingPeriod | str | None = None
    ) -> Subscription:
        """The account's subscription; with ``period``, as it stood at the end of that
        month (the plan it was billed on after any upgrade then, a later downgrade still
        scheduled). ``NotFound`` before it started."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        when = _args.optional_period(period)

        def work(unit: Unit) -> Subscription:
            unit.uow.accounts.get(AccountId(where))
            unit.require(VIEW_BILLING, where)
            found = unit.uow.records(SUBSCRIPTIONS).get(where)
            if when is None:
                return found
            changes = unit.uow.records(PLAN_CHANGES).list_by("account_id", where)
            then = subscription_in(found, changes, when)
            if then is None:
                raise NotFound(
                    f"account {quoted(where)} had no subscription in {when}",
                    account_id=where,
                    period=str(when),
                )
            return then

        return self._runner.query(who, work)

    @command
    def record_prerequisite(self, account_id: str, name: str, *, by: Actor) -> Prerequisites:
        """Record that the account meets a prerequisite (``"spf_verified"``); the system."""
        who, where, label = (
            _args.actor(by),
            _args.ident(account_id, "account_id"),
            _args.text(name, "name"),
        )

        def work(unit: Unit) -> Prerequisites:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require_system(_PREREQUISITE, account.id)
            repo = unit.uow.records(PREREQUISITES)
            stored = repo.find(account.id)
            updated = Prerequisites(account.id, {label, *(stored.satisfied if stored else ())})
            if stored is None:
                repo.add(updated)
            else:
                repo.update(updated)
            unit.emit(PrerequisiteRecorded(**unit.meta().about(account.id), name=label))
            return updated

        return self._runner.command(who, work)

    @query
    def prerequisites(self, account_id: str, *, by: Actor) -> frozenset[str]:
        """The prerequisites the account has met."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> frozenset[str]:
            unit.uow.accounts.get(AccountId(where))
            unit.require(VIEW_BILLING, where)
            stored = unit.uow.records(PREREQUISITES).find(where)
            return frozenset() if stored is None else stored.satisfied

        return self._runner.query(who, work)

    @command
    def request_change(
        self,
        account_id: str,
        to_plan: str,
        *,
        by: Actor,
        request_id: str | None = None,
    ) -> PlanChange:
        """Ask to move to ``to_plan`` this month (by the app's clock): a pending upgrade,
        or a downgrade approved for the next month and scheduled."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        target = _args.text(to_plan, "to_plan")
        given = _args.optional_ident(request_id, "request_id")

        def work(unit: Unit) -> PlanChange:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require(MANAGE_BILLING, account.id)
            subs = unit.uow.records(SUBSCRIPTIONS)
            current = BillingPeriod.of(unit.now)
            subscription = subs.get(account.id).in_period(current)
            change = request_change(
                subscription,
                _ladder(unit, account.id),
                target,
                current,
                request_id=unit.new_id(given, "change"),
                changes=unit.uow.records(PLAN_CHANGES).list_by("account_id", account.id),
            )
            unit.uow.records(PLAN_CHANGES).add(change)
            if change.status is ChangeStatus.APPROVED:  # a downgrade: scheduled now
                subs.update(apply_change(subscription, change))
            unit.emit(_requested(unit, change))
            return change

        return self._runner.command(who, work)

    @command
    def approve_change(self, request_id: str, *, by: Actor) -> PlanChange:
        """Approve a pending upgrade (prerequisites checked): it is billed from this month
        (by the app's clock), the difference as its own line. The system's review; the
        reviewer is recorded."""
        who, wanted = _args.actor(by), _args.ident(request_id, "request_id")

        def work(unit: Unit) -> PlanChange:
            unit.refuse_unless_system(_REVIEW)
            changes = unit.uow.records(PLAN_CHANGES)
            change = changes.get(wanted)
            unit.require_system(_REVIEW, change.account_id)
            current = BillingPeriod.of(unit.now)
            satisfied = unit.uow.records(PREREQUISITES).find(change.account_id)
            approved = approve(
                change,
                ladder=_ladder(unit, change.account_id),
                policy=unit.settings.upgrade_policy,
                satisfied=satisfied.satisfied if satisfied else (),
                period=current,
                reviewed_by=principal_label(unit.actor),
                reviewed_at=unit.now,
            )
            subs = unit.uow.records(SUBSCRIPTIONS)
            subs.update(apply_change(subs.get(change.account_id).in_period(current), approved))
            changes.update(approved)
            # its upgrade line, for a month already invoiced: an adjustment
            _adjustments.note_if_late(unit, *unit.chain(change.account_id), current)
            assert approved.effective_from is not None
            assert approved.reviewed_by is not None
            unit.emit(
                PlanChangeApproved(
                    **unit.meta().about(approved.account_id),
                    request_id=approved.request_id,
                    to_plan=approved.to_plan,
                    effective_from=str(approved.effective_from),
                    reviewed_by=approved.reviewed_by,
                )
            )
            return approved

        return self._runner.command(who, work)

    @command
    def reject_change(self, request_id: str, *, reason: str, by: Actor) -> PlanChange:
        """Reject a pending upgrade, saying why (the system's review)."""
        who, wanted, why = (
            _args.actor(by),
            _args.ident(request_id, "request_id"),
            _args.text(reason, "reason"),
        )

        def work(unit: Unit) -> PlanChange:
            unit.refuse_unless_system(_REVIEW)
            changes = unit.uow.records(PLAN_CHANGES)
            change = changes.get(wanted)
            unit.require_system(_REVIEW, change.account_id)
            rejected = reject(
                change, reason=why, reviewed_by=principal_label(unit.actor), reviewed_at=unit.now
            )
            changes.update(rejected)
            assert rejected.reviewed_by is not None
            unit.emit(
                PlanChangeRejected(
                    **unit.meta().about(rejected.account_id),
                    request_id=rejected.request_id,
                    reason=why,
                    reviewed_by=rejected.reviewed_by,
                )
            )
            return rejected

        return self._runner.command(who, work)

    @command
    def cancel_change(
        self,
        request_id: str,
        *,
        by: Actor,
        reason: str = "withdrawn",
    ) -> PlanChange:
        """Withdraw a change still open this month (by the app's clock): a pending
        upgrade, or a scheduled downgrade not yet in effect."""
        who, wanted, why = (
            _args.actor(by),
            _args.ident(request_id, "request_id"),
            _args.text(reason, "reason"),
        )

        def work(unit: Unit) -> PlanChange:
            changes = unit.uow.records(PLAN_CHANGES)
            change = changes.get(wanted)
            unit.require(MANAGE_BILLING, change.account_id)
            cancelled = cancel(change, BillingPeriod.of(unit.now), reason=why)
            changes.update(cancelled)
            subs = unit.uow.records(SUBSCRIPTIONS)
            subscription = subs.get(change.account_id)
            withdrawn = unschedule(subscription, cancelled)
            if withdrawn != subscription:
                subs.update(withdrawn)
            unit.emit(
                PlanChangeCancelled(
                    **unit.meta().about(cancelled.account_id),
                    request_id=cancelled.request_id,
                    reason=why,
                )
            )
            return cancelled

        return self._runner.command(who, work)

    @query
    def changes(self, account_id: str, *, by: Actor) -> list[PlanChange]:
        """The account's plan changes, in request id order."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[PlanChange]:
            unit.uow.accounts.get(AccountId(where))
            unit.require(VIEW_BILLING, where)
            return unit.uow.records(PLAN_CHANGES).list_by("account_id", where)

        return self._runner.query(who, work)
