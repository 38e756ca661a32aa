"""What an account's status change does to its billing (pure, cross-domain).

Every path that changes an account's status (``app.accounts.pause``, ``suspend``,
``resume``, ``close``) calls ``status_effects``, and billing and sending read what it
returns:

* the status history gains the change, with its time: invoices read it per period
  (``subacct.domain.lifecycle.standing``: a month paused throughout is held, a month
  after closing is not billed);
* the subscription follows the account (``follow_account``): paused, suspended and
  resumed with it, cancelled when it closes (a scheduled downgrade dropped);
* closing cancels every plan change still open (a pending upgrade, a scheduled
  downgrade), each with a ``PlanChangeCancelled`` event.

>>> from datetime import datetime, UTC
>>> from subacct.domain import AccountStatus, new_master
>>> from subacct.domain.events import EventMeta
>>> from subacct.pricing import BillingPeriod, Subscription
>>> from subacct.pricing.lifecycle import status_effects
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> before = new_master("acme", "Acme", t0)
>>> after = before.with_status(AccountStatus.PAUSED)
>>> fx = status_effects(before, after, t0, None, Subscription("acme", "12,000"), [],
...                     lambda: EventMeta("e1", t0))
>>> fx.subscription.status, [c.status.value for c in fx.history.changes]
(<AccountStatus.PAUSED: 'paused'>, ['paused'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import attrs

from subacct.domain.accounts import Account, AccountStatus
from subacct.domain.events import EventMeta, PlanChangeCancelled
from subacct.domain.lifecycle import StatusHistory
from subacct.pricing.period import BillingPeriod
from subacct.pricing.plan_changes import (
    PlanChange,
    Subscription,
    cancel,
    follow_account,
    open_changes,
)

__all__ = ["StatusEffects", "status_effects"]


@attrs.frozen
class StatusEffects:
    """The values to store after a status change, and the events they add."""

    history: StatusHistory
    subscription: Subscription | None
    cancelled: tuple[PlanChange, ...]
    events: tuple[PlanChangeCancelled, ...]


def status_effects(
    before: Account,
    after: Account,
    at: datetime,
    history: StatusHistory | None,
    subscription: Subscription | None,
    changes: Iterable[PlanChange],
    new_meta: Callable[[], EventMeta],
) -> StatusEffects:
    """What moving ``before`` to ``after`` at ``at`` changes in its billing."""
    log = (history or StatusHistory(after.id)).with_change(at, after.status)
    followed = None if subscription is None else follow_account(subscription, after.status)
    cancelled: list[PlanChange] = []
    if after.status is AccountStatus.CLOSED:
        period = BillingPeriod.of(at)
        cancelled = [
            cancel(change, period, reason="the account was closed")
            for change in open_changes(changes, period)
        ]
    events = tuple(
        PlanChangeCancelled(
            **new_meta().about(after.id), request_id=c.request_id, reason=c.note or "cancelled"
        )
        for c in cancelled
    )
    return StatusEffects(log, followed, tuple(cancelled), events)
