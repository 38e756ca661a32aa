"""Loading and saving what a status change reaches (private; the rules are in
``subacct.pricing.lifecycle``)."""

from __future__ import annotations

from typing import Final

from subacct.domain import Account, AccountId, AccountStatus
from subacct.domain.changes import status_changed
from subacct.domain.events import DomainEvent
from subacct.policy import Action, status_authority
from subacct.pricing.lifecycle import status_effects
from subacct.services._runner import Unit
from subacct.storage.collections import PLAN_CHANGES, STATUS_HISTORY, SUBSCRIPTIONS
from subacct.storage.ports import UnitOfWork


def change_status(unit: Unit, account: Account, target: AccountStatus) -> Account:
    """Move ``account`` to ``target`` with everything that follows from it, in ``unit``."""
    uow = unit.uow
    open_children = [c.id for c in uow.accounts.children(account.id) if c.is_open]
    changed = account.with_status(target, open_children=open_children)
    histories, subs, changes = (
        uow.records(STATUS_HISTORY),
        uow.records(SUBSCRIPTIONS),
        uow.records(PLAN_CHANGES),
    )
    history = histories.find(account.id)
    subscription = subs.find(account.id)
    effects = status_effects(
        account,
        changed,
        unit.now,
        history,
        subscription,
        changes.list_by("account_id", account.id),
        unit.meta,
    )
    uow.accounts.update(changed)
    _put(uow, histories, history is None, effects.history)
    if effects.subscription is not None and effects.subscription != subscription:
        subs.update(effects.subscription)
    for cancelled in effects.cancelled:
        changes.update(cancelled)
    event: DomainEvent = status_changed(account, changed, unit.meta())
    unit.emit(event, *effects.events)
    return changed


_VERBS: Final = {
    AccountStatus.PAUSED: "pause",
    AccountStatus.SUSPENDED: "suspend",
    AccountStatus.ACTIVE: "resume",
    AccountStatus.CLOSED: "close",
}


def change_status_as(unit: Unit, account_id: str, target: AccountStatus) -> Account:
    """``change_status``, once the acting principal may make the change
    (``subacct.policy.status_authority``; the system otherwise)."""
    account = unit.uow.accounts.get(AccountId(account_id))
    authority = status_authority(account, target)
    if authority is None:
        unit.require_system(Action(f"accounts.{_VERBS[target]}"), account.id)
    else:
        unit.require(*authority)
    return change_status(unit, account, target)


def _put(uow: UnitOfWork, repo: object, new: bool, value: object) -> None:
    if new:
        repo.add(value)  # type: ignore[attr-defined]
    else:
        repo.update(value)  # type: ignore[attr-defined]
