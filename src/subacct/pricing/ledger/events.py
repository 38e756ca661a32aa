"""The domain events of a ledger operation, made from its plan (pure).

Every operation that moved or held credit, or used up an idempotency key, is told by at
least one event; a replay tells nothing (it changed nothing):

* ``CreditsMoved`` for each movement between two customer accounts, or into or out of
  the system (a card top-up, credit spent on usage); a hold inside one account is not a
  movement;
* ``CreditsReserved`` for a hold it opened, ``CreditReservationEnded`` for each hold it
  committed, released or expired;
* ``CreditAllocationSet`` when it changed a sub-account's allocation policy;
* ``CreditOperationRecorded`` when it did none of that (a sweep with nothing due).

>>> from datetime import datetime, UTC
>>> from subacct.domain.events import EventMeta
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import Ledger, TopUp, Wallet, allow_all, plan
>>> from subacct.pricing.ledger.events import ledger_events
>>> book = Ledger("EUR", authorize=allow_all)
>>> _ = book.open_wallet(Wallet("acme"))
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> p = plan(book, TopUp(account_id="acme", amount=Money(5, "EUR"), key="t1", at=t), allow_all)
>>> [e.event_type for e in ledger_events(p, lambda: EventMeta("e1", t))]
['credits_moved']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from subacct.domain.events import (
    CreditAllocationSet,
    CreditOperationRecorded,
    CreditReservationEnded,
    CreditsMoved,
    CreditsReserved,
    DomainEvent,
    EventMeta,
)
from subacct.domain.ids import AccountId
from subacct.pricing.ledger.accounts import LedgerAccount, LedgerAccountKind
from subacct.pricing.ledger.planning import Plan
from subacct.pricing.ledger.requests import LedgerRequest, SetAllocation

__all__ = ["ledger_events", "request_account"]

# Ledger accounts outside the system as events see them: payment sources, consumed and
# lapsed credit.
_OUTSIDE: Final = frozenset(
    {
        LedgerAccountKind.EXTERNAL,
        LedgerAccountKind.SPENT,
        LedgerAccountKind.EXPIRED,
        LedgerAccountKind.PROMOTIONS,
    }
)


def _side(account: LedgerAccount) -> AccountId | None:
    return None if account.kind in _OUTSIDE else account.owner


def request_account(request: LedgerRequest) -> AccountId | None:
    """The customer account a request names (``None`` for a sweep, or when it names a
    reservation instead)."""
    for name in ("account_id", "sub_id"):
        found = getattr(request, name, None)
        if isinstance(found, str):
            return AccountId(found)
    return None


def ledger_events(planned: Plan, new_meta: Callable[[], EventMeta]) -> list[DomainEvent]:
    """The events of ``planned`` (none for a replay); ``new_meta`` gives each its id, time
    and actor."""
    request = planned.request
    if request is None or planned.replayed:
        return []
    events: list[DomainEvent] = []
    for transfer in planned.transfers:
        source, destination = _side(transfer.source), _side(transfer.destination)
        if source == destination:
            continue
        events.append(
            CreditsMoved(
                **new_meta().about(source if source is not None else destination),
                operation=transfer.operation.value,
                idempotency_key=transfer.key,
                from_account_id=source,
                to_account_id=destination,
                amount=transfer.amount,
            )
        )
    for hold in planned.reservations:
        if hold.is_open:
            events.append(
                CreditsReserved(
                    **new_meta().about(hold.account_id),
                    reservation_id=hold.id,
                    idempotency_key=request.key,
                    amount=hold.amount,
                )
            )
        else:
            events.append(
                CreditReservationEnded(
                    **new_meta().about(hold.account_id),
                    reservation_id=hold.id,
                    idempotency_key=request.key,
                    status=hold.status.value,
                    committed=hold.committed,
                )
            )
    if isinstance(request, SetAllocation):
        allocation = request.allocation
        events.append(
            CreditAllocationSet(
                **new_meta().about(request.sub_id),
                idempotency_key=request.key,
                allocation=None if allocation is None else allocation.kind.value,
                amount=None if allocation is None else allocation.amount,
            )
        )
    if not events:
        events.append(
            CreditOperationRecorded(
                **new_meta().about(request_account(request)),
                operation=request.operation.value,
                idempotency_key=request.key,
            )
        )
    return events
