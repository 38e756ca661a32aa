"""Plan changes over storage (seed 001): reviewed upgrades, downgrades next period.

``PlanService`` extends ``BillingService``. An account on a plan ladder has a
``Subscription`` (its plan, status and any downgrade scheduled for a later period). An
upgrade request waits for the platform's review; approval needs the prerequisites the
``UpgradePolicy`` sets for the target plan (SPF and DKIM verified, say), recorded per
account with ``record_prerequisite``. A downgrade is approved on request and takes effect
next period. Pausing, resuming and closing the account carry over to its subscription.

>>> import subacct
>>> from subacct.money import Money
>>> from subacct.pricing import BillingPeriod, Plan, PlanLadder, UpgradePolicy, UpgradeRule
>>> svc = subacct.PlanService(subacct.MemoryStore(), upgrade_policy=UpgradePolicy(
...     [UpgradeRule(30000, {"spf_verified", "dkim_verified"})]))
>>> _ = svc.create_master("Agency Demo", account_id="agencydemo")
>>> _ = svc.set_billing_profile("agencydemo", PlanLadder([
...     Plan("12,000", 12000, Money("60", "USD")), Plan("30,000", 30000, Money("135", "USD"))]))
>>> _ = svc.subscribe("agencydemo", "12,000")
>>> jan = BillingPeriod(2026, 1)
>>> svc.request_plan_change("agencydemo", "30,000", jan, request_id="chg-1").status.value
'pending'
>>> try:
...     svc.approve_plan_change("chg-1", jan)
... except subacct.PrerequisitesMissing as err:
...     print(err.details["missing"])
['dkim_verified', 'spf_verified']
"""

from __future__ import annotations

from typing import Any

from subacct.billing_service import BillingService
from subacct.domain import Account, AccountId, AccountStatus, HierarchyRules
from subacct.errors import InvalidBillingStructure, PlanChangeError
from subacct.policy import DEFAULT_CATALOG, ActionCatalog
from subacct.pricing import (
    BillingPeriod,
    PlanChange,
    PlanLadder,
    Subscription,
    UpgradePolicy,
    apply_change,
    approve,
    reject,
    request_change,
)
from subacct.pricing.plan_changes import ChangeStatus
from subacct.pricing.profiles import Prerequisites
from subacct.storage.collections import (
    BILLING_PROFILES,
    PLAN_CHANGES,
    PREREQUISITES,
    SUBSCRIPTIONS,
)
from subacct.storage.ports import Clock, IdFactory, Store, UnitOfWork

__all__ = ["PlanService"]


class PlanService(BillingService):
    """``BillingService`` plus subscriptions and reviewed plan changes."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        rules: HierarchyRules | None = None,
        max_attempts: int = 5,
        catalog: ActionCatalog = DEFAULT_CATALOG,
        upgrade_policy: UpgradePolicy | None = None,
        **more: Any,
    ) -> None:
        # ``more`` carries the options of sibling services combined with this one (the
        # ``Subacct`` facade passes ``ledger_currency`` on to ``LedgerService``).
        super().__init__(
            store,
            clock=clock,
            ids=ids,
            rules=rules,
            max_attempts=max_attempts,
            catalog=catalog,
            **more,
        )
        self.upgrade_policy = upgrade_policy or UpgradePolicy()

    def _ladder(self, uow: UnitOfWork, account_id: str) -> PlanLadder:
        profile = uow.records(BILLING_PROFILES).find(account_id)
        if profile is None or not isinstance(profile.price, PlanLadder):
            raise InvalidBillingStructure(
                f"{account_id!r} is not billed on a plan ladder", account_id=account_id
            )
        return profile.price

    def subscribe(self, account_id: str, plan: str) -> Subscription:
        """Put a payer on a plan of its ladder (system level; replaces nothing)."""

        def run(uow: UnitOfWork) -> Subscription:
            account = uow.accounts.get(AccountId(account_id))
            self._ladder(uow, account.id).plan_named(plan)
            subscription = Subscription(account.id, plan, _plan_status(account))
            uow.records(SUBSCRIPTIONS).add(subscription)
            return subscription

        return self._write(run)

    def subscription(self, account_id: str, period: BillingPeriod | None = None) -> Subscription:
        """The account's subscription (as of ``period``: a due downgrade applied)."""
        found = self._read(lambda uow: uow.records(SUBSCRIPTIONS).get(account_id))
        return found if period is None else found.in_period(period)

    def record_prerequisite(self, account_id: str, name: str) -> Prerequisites:
        """Record that the account meets a prerequisite (e.g. ``"spf_verified"``)."""

        def run(uow: UnitOfWork) -> Prerequisites:
            uow.accounts.get(AccountId(account_id))
            repo = uow.records(PREREQUISITES)
            stored = repo.find(account_id)
            updated = Prerequisites(account_id, {name, *(stored.satisfied if stored else ())})
            if stored is None:
                repo.add(updated)
            else:
                repo.update(updated)
            return updated

        return self._write(run)

    def request_plan_change(
        self, account_id: str, to_plan: str, period: BillingPeriod, *, request_id: str | None = None
    ) -> PlanChange:
        """A pending upgrade, or a downgrade approved for next period and scheduled."""
        new_id = self._new_id(request_id, "change")

        def run(uow: UnitOfWork) -> PlanChange:
            repo = uow.records(SUBSCRIPTIONS)
            subscription = repo.get(account_id).in_period(period)
            change = request_change(
                subscription, self._ladder(uow, account_id), to_plan, period, request_id=new_id
            )
            uow.records(PLAN_CHANGES).add(change)
            if change.status is ChangeStatus.APPROVED:  # a downgrade: scheduled now
                repo.update(apply_change(subscription, change))
            return change

        return self._write(run)

    def approve_plan_change(self, request_id: str, period: BillingPeriod) -> PlanChange:
        """Approve a pending upgrade (prerequisites checked); it applies at once."""

        def run(uow: UnitOfWork) -> PlanChange:
            changes = uow.records(PLAN_CHANGES)
            change = changes.get(request_id)
            satisfied = uow.records(PREREQUISITES).find(change.account_id)
            approved = approve(
                change,
                ladder=self._ladder(uow, change.account_id),
                policy=self.upgrade_policy,
                satisfied=satisfied.satisfied if satisfied else (),
                period=period,
            )
            subs = uow.records(SUBSCRIPTIONS)
            subs.update(apply_change(subs.get(change.account_id).in_period(period), approved))
            changes.update(approved)
            return approved

        return self._write(run)

    def reject_plan_change(self, request_id: str, *, reason: str) -> PlanChange:
        """Reject a pending upgrade, saying why."""

        def run(uow: UnitOfWork) -> PlanChange:
            changes = uow.records(PLAN_CHANGES)
            rejected = reject(changes.get(request_id), reason=reason)
            changes.update(rejected)
            return rejected

        return self._write(run)

    def plan_changes(self, account_id: str) -> list[PlanChange]:
        """The account's plan change requests, in request id order."""
        return self._read(lambda uow: uow.records(PLAN_CHANGES).list_by("account_id", account_id))

    def _status_changed(self, uow: UnitOfWork, before: Account, after: Account) -> None:
        """Carry the account's lifecycle over to its subscription, in the same unit of
        work (a paused account's plan is not billed; closing drops a scheduled downgrade)."""
        repo = uow.records(SUBSCRIPTIONS)
        subscription = repo.find(after.id)
        if subscription is not None and subscription.status is not after.status:
            repo.update(_follow(subscription, after.status))


def _plan_status(account: Account) -> AccountStatus:
    if not account.is_open:
        raise PlanChangeError(f"account {account.id!r} is closed", account_id=account.id)
    return account.status


def _follow(subscription: Subscription, status: AccountStatus) -> Subscription:
    if status is AccountStatus.CLOSED:
        return subscription.cancelled()
    return subscription.with_status(status)
