"""An account's status over time, and how a span of time stands for billing.

Billing needs more than the current status: a month paused from its first moment to its
last is held, not billed; a month that starts after the account closed is not billed at
all. ``StatusHistory`` keeps every status change with its time (an account starts
``active`` at ``created_at``); ``standing`` reads a span ``[start, end)`` from it.

The rule (``docs/billing.md``, "Lifecycle and invoices"), on the account's effective
status at each moment: its own, or, while it is active itself, what its ancestors
impose (a suspended ancestor suspends it, a paused one pauses it: it cannot send):

* ``BILLED``: the account was effectively active or suspended (a platform hold does not
  stop the plan) at some moment of the span;
* ``HELD``: it was never so: paused for the whole span, or paused and then closed
  (only a hold fee is billed);
* ``ENDED``: it was closed before the span began (nothing is billed);
* ``NOT_OPEN``: it was created at or after the span's end.

>>> from datetime import datetime, UTC
>>> from subacct.domain.accounts import AccountStatus
>>> from subacct.domain.lifecycle import Standing, StatusHistory, standing
>>> t = lambda m, d=1: datetime(2026, m, d, tzinfo=UTC)
>>> h = StatusHistory("agencydemo").with_change(t(1, 20), AccountStatus.PAUSED)
>>> standing(t(1), h, t(1), t(2)), standing(t(1), h, t(2), t(3))
(<Standing.BILLED: 'billed'>, <Standing.HELD: 'held'>)
>>> h = h.with_change(t(3, 5), AccountStatus.CLOSED)  # paused, then closed
>>> standing(t(1), h, t(3), t(4)), standing(t(1), h, t(4), t(5))
(<Standing.HELD: 'held'>, <Standing.ENDED: 'ended'>)
>>> sub = StatusHistory("agency1")  # active itself, under the paused master
>>> standing(t(1), sub, t(2), t(3), ancestors=[h])
<Standing.HELD: 'held'>
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Final

import attrs

from subacct.domain._validate import utc_timestamp
from subacct.domain.accounts import AccountStatus
from subacct.domain.ids import AccountId, check_id
from subacct.errors import AccountNotActive, InvalidInput, quoted

__all__ = [
    "Standing",
    "StatusChange",
    "StatusHistory",
    "effective_status",
    "require_billed",
    "standing",
]


def _status(value: object) -> AccountStatus:
    if not isinstance(value, AccountStatus):
        raise InvalidInput("status must be an AccountStatus", field="status")
    return value


def _account_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _at(value: object) -> datetime:
    return utc_timestamp(value, field="at")


@attrs.frozen
class StatusChange:
    """From ``at`` on, the account's status is ``status``."""

    at: datetime = attrs.field(converter=_at)
    status: AccountStatus = attrs.field(converter=_status)


def _changes(value: object) -> tuple[StatusChange, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("changes must be a list of StatusChange", field="changes")
    items = tuple(value)
    if not all(isinstance(c, StatusChange) for c in items):
        raise InvalidInput("changes must be StatusChange values", field="changes")
    if any(b.at < a.at for a, b in itertools.pairwise(items)):
        raise InvalidInput("status changes must be in time order", field="changes")
    return items


@attrs.frozen
class StatusHistory:
    """Every status change of one account, oldest first (it starts ``active``)."""

    account_id: AccountId = attrs.field(converter=_account_id)
    changes: tuple[StatusChange, ...] = attrs.field(default=(), converter=_changes)

    def with_change(self, at: datetime, status: AccountStatus) -> StatusHistory:
        """The history with one more change (a change never goes back in time: one made
        before the last recorded moment counts from that moment)."""
        moment = _at(at)
        if self.changes and moment < self.changes[-1].at:
            moment = self.changes[-1].at
        return attrs.evolve(self, changes=(*self.changes, StatusChange(moment, status)))

    def status_at(self, moment: datetime) -> AccountStatus:
        """The status in force at ``moment`` (``active`` before the first change)."""
        current = AccountStatus.ACTIVE
        for change in self.changes:
            if change.at > moment:
                break
            current = change.status
        return current

    def closed_at(self) -> datetime | None:
        """When the account closed, if it did."""
        for change in self.changes:
            if change.status is AccountStatus.CLOSED:
                return change.at
        return None


class Standing(enum.Enum):
    """How a span of time stands for billing (see the module docstring)."""

    BILLED = "billed"
    HELD = "held"
    ENDED = "ended"
    NOT_OPEN = "not_open"


_NOT_SENDING: Final = frozenset({AccountStatus.PAUSED, AccountStatus.CLOSED})


def standing(
    created_at: datetime,
    history: StatusHistory | None,
    start: datetime,
    end: datetime,
    ancestors: Iterable[StatusHistory] = (),
) -> Standing:
    """How ``[start, end)`` stands for an account created at ``created_at``, under
    ancestors with the histories ``ancestors`` (see the module docstring)."""
    if end <= start:
        raise InvalidInput("a span must end after it starts", field="end")
    if created_at >= end:
        return Standing.NOT_OPEN
    log = history if history is not None else StatusHistory("account")
    closed = log.closed_at()
    if closed is not None and closed <= start:
        return Standing.ENDED
    first = max(start, created_at)
    above = tuple(ancestors)
    moments = {first, *(c.at for h in (log, *above) for c in h.changes if first < c.at < end)}
    if all(effective_status(log, above, m) in _NOT_SENDING for m in moments):
        return Standing.HELD
    return Standing.BILLED


def effective_status(
    history: StatusHistory, ancestors: Iterable[StatusHistory], moment: datetime
) -> AccountStatus:
    """The account's status at ``moment`` as billing and sending see it: its own unless it
    is active, then the strongest hold of an ancestor (suspended before paused)."""
    own = history.status_at(moment)
    if own is not AccountStatus.ACTIVE:
        return own
    held = {h.status_at(moment) for h in ancestors}
    if AccountStatus.SUSPENDED in held:
        return AccountStatus.SUSPENDED
    if held & _NOT_SENDING:
        return AccountStatus.PAUSED
    return AccountStatus.ACTIVE


def require_billed(
    account_id: str,
    created_at: datetime,
    history: StatusHistory | None,
    start: datetime,
    end: datetime,
    *,
    label: str,
    ancestors: Iterable[StatusHistory] = (),
) -> None:
    """Refuse (``AccountNotActive``) usage for a span the account is not billed in: held
    all of it, closed before it, created after it. ``label`` names the span (a period)."""
    how = standing(created_at, history, start, end, ancestors)
    if how is not Standing.BILLED:
        raise AccountNotActive(
            f"account {quoted(account_id)} is not billed in {label} ({how.value}); no usage "
            "can be recorded for it",
            account_id=account_id,
            period=label,
            standing=how.value,
        )
