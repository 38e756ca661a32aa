"""The rules of each ledger operation, as planning handlers, and ``plan`` to dispatch.

Every handler follows one order: find what the request names, ask the authorizer, answer a
replay (same key), then check the rules and plan the moves. Floors: a wallet may go down to
minus its overdraft limit for sends (spend, reserve, commit); distributing, reclaiming and
resetting never touch the overdraft (floor zero). Reserved, spent and expired credit never
go below zero; external payment sources have no floor.

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import Ledger, LedgerAccount, Spend, TopUp, Wallet, allow_all
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> book = Ledger("EUR", authorize=allow_all)
>>> _ = book.open_wallet(Wallet("acme", overdraft_limit=Money("5", "EUR")))
>>> _ = book.execute(TopUp(account_id="acme", amount=Money("10", "EUR"), key="t1", at=t))
>>> _ = book.execute(Spend(account_id="acme", amount=Money("14", "EUR"), key="s1", at=t))
>>> book.balance_of(LedgerAccount.wallet("acme"))
Money(amount=Decimal('-4'), currency='EUR')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, DecimalException
from types import MappingProxyType
from typing import Any, Final

import attrs

from subacct.errors import (
    AllocationError,
    AlreadyExists,
    AmountOutOfBounds,
    CreditReservationClosed,
    CreditReservationNotFound,
    InvalidInput,
    PaymentMethodRequired,
    RefundExceedsSpent,
    quoted,
)
from subacct.money import MONEY_PRECISION, Money, subtract
from subacct.pricing.ledger.accounts import LedgerAccount
from subacct.pricing.ledger.authorization import Authorizer, LedgerAction
from subacct.pricing.ledger.planning import (
    Draft,
    LedgerView,
    Plan,
    amount_of,
    funding_wallet,
    master_of,
    replayed,
    wallet_of,
)
from subacct.pricing.ledger.records import GrantKind, Reservation, ReservationStatus
from subacct.pricing.ledger.requests import (
    Commit,
    Distribute,
    Expire,
    ExpireGrant,
    GrantCredit,
    LedgerRequest,
    Reclaim,
    Refund,
    Release,
    Reserve,
    ResetPeriod,
    SetAllocation,
    Spend,
    TopUp,
)
from subacct.pricing.ledger.wallets import AllocationKind, ResetMode, Wallet

__all__ = ["SWEEP_SCOPE", "plan"]

_ZERO: Final = Decimal(0)

SWEEP_SCOPE: Final = "expiry sweep"
"""The scope of an expiry sweep's key (a sweep names no account): not an account id (ids
have no spaces), nor the ledger-wide scope ``""`` of keys stored before schema version 8."""


def _top_up(view: LedgerView, req: TopUp | GrantCredit, authorize: Authorizer) -> Plan:
    wallet = wallet_of(view, req.account_id)
    promotional = isinstance(req, GrantCredit) and req.kind is GrantKind.PROMOTIONAL
    authorize(LedgerAction.GRANT if promotional else LedgerAction.TOP_UP, req.account_id)
    if (replay := replayed(view, req, req.account_id)) is not None:
        return replay
    amount = amount_of(view, req.amount)
    if not promotional and not wallet.own_payment_method:
        raise PaymentMethodRequired(
            f"account {quoted(req.account_id)} does not pay for itself; its master "
            "distributes its credit",
            account_id=req.account_id,
        )
    source = LedgerAccount.promotions if promotional else LedgerAccount.external
    draft = Draft(view, req, req.account_id)
    draft.move(source(req.account_id), wallet.wallet_account, amount, None)
    return draft.finish()


def _expire_grant(view: LedgerView, req: ExpireGrant, authorize: Authorizer) -> Plan:
    wallet = wallet_of(view, req.account_id)
    authorize(LedgerAction.EXPIRE, req.account_id)
    if (replay := replayed(view, req, req.account_id)) is not None:
        return replay
    amount = amount_of(view, req.amount)
    draft = Draft(view, req, req.account_id)
    expired = LedgerAccount.expired(req.account_id)
    draft.move(wallet.wallet_account, expired, amount, wallet.floor)
    return draft.finish()


def _distribute(view: LedgerView, req: Distribute, authorize: Authorizer) -> Plan:
    sub = wallet_of(view, req.sub_id)
    master_id = master_of(sub)
    authorize(LedgerAction.DISTRIBUTE, master_id)
    if (replay := replayed(view, req, master_id)) is not None:
        return replay
    amount = amount_of(view, req.amount)
    if sub.draws_on_master:
        raise AllocationError(
            f"sub-account {quoted(req.sub_id)} spends from its master's wallet (unlimited); "
            "there is nothing to distribute",
            account_id=req.sub_id,
        )
    master = wallet_of(view, master_id)
    draft = Draft(view, req, master_id)
    draft.move(master.wallet_account, sub.wallet_account, amount, _ZERO)
    return draft.finish()


def _reclaim(view: LedgerView, req: Reclaim, authorize: Authorizer) -> Plan:
    sub = wallet_of(view, req.sub_id)
    master_id = master_of(sub)
    authorize(LedgerAction.RECLAIM, master_id)
    if (replay := replayed(view, req, master_id)) is not None:
        return replay
    master = wallet_of(view, master_id)
    draft = Draft(view, req, master_id)
    if req.amount is None:
        amount = max(draft.balance(sub.wallet_account), _ZERO)
    else:
        amount = amount_of(view, req.amount)
    if amount:
        draft.move(sub.wallet_account, master.wallet_account, amount, _ZERO)
    return draft.finish()


def _spend(view: LedgerView, req: Spend, authorize: Authorizer) -> Plan:
    wallet = wallet_of(view, req.account_id)
    authorize(LedgerAction.SPEND, req.account_id)
    if (replay := replayed(view, req, req.account_id)) is not None:
        return replay
    amount = amount_of(view, req.amount)
    funding = funding_wallet(view, wallet)
    draft = Draft(view, req, req.account_id)
    draft.move(funding.wallet_account, wallet.spent_account, amount, funding.floor)
    return draft.finish()


def _refund(view: LedgerView, req: Refund, authorize: Authorizer) -> Plan:
    wallet = wallet_of(view, req.account_id)
    authorize(LedgerAction.REFUND, req.account_id)
    if (replay := replayed(view, req, req.account_id)) is not None:
        return replay
    amount = amount_of(view, req.amount)
    spent = wallet.spent_account
    already = view.balance(spent)
    if amount > already:
        raise RefundExceedsSpent(
            f"account {quoted(req.account_id)} has spent {already} {view.currency}; cannot refund "
            f"{amount}",
            account_id=req.account_id,
            spent=str(already),
            requested=str(amount),
        )
    funding = funding_wallet(view, wallet)
    draft = Draft(view, req, req.account_id)
    draft.move(spent, funding.wallet_account, amount, _ZERO)
    return draft.finish()


def _reserve(view: LedgerView, req: Reserve, authorize: Authorizer) -> Plan:
    wallet = wallet_of(view, req.account_id)
    authorize(LedgerAction.SPEND, req.account_id)
    if (replay := replayed(view, req, req.account_id)) is not None:
        return replay
    amount = amount_of(view, req.amount)
    if view.reservation(req.reservation_id) is not None:
        raise AlreadyExists(
            f"reservation {quoted(req.reservation_id)} already exists",
            reservation_id=req.reservation_id,
        )
    funding = funding_wallet(view, wallet)
    draft = Draft(view, req, req.account_id)
    draft.move(funding.wallet_account, wallet.reserved_account, amount, funding.floor)
    hold = Reservation(
        req.reservation_id, req.account_id, funding.account_id, req.amount, req.expires_at
    )
    return draft.finish(reservations=(hold,))


def _open_reservation(view: LedgerView, reservation_id: str) -> Reservation:
    hold = view.reservation(reservation_id)
    if hold is None:
        raise CreditReservationNotFound(
            f"reservation {quoted(reservation_id)} does not exist", reservation_id=reservation_id
        )
    return hold


def _require_open(hold: Reservation, at: datetime | None = None) -> None:
    """Refuse a closed hold, and (given ``at``) one whose expiry has passed."""
    if hold.is_open and (at is None or at < hold.expires_at):
        return
    state = hold.status.value if not hold.is_open else "past its expiry"
    raise CreditReservationClosed(
        f"reservation {quoted(hold.id)} is {state}",
        reservation_id=hold.id,
        status=hold.status.value,
    )


def _commit(view: LedgerView, req: Commit, authorize: Authorizer) -> Plan:
    hold = _open_reservation(view, req.reservation_id)
    authorize(LedgerAction.SPEND, hold.account_id)
    if (replay := replayed(view, req, hold.account_id)) is not None:
        return replay
    _require_open(hold, req.at)
    actual = amount_of(view, req.amount)
    held = hold.amount.amount
    reserved, spent = LedgerAccount.reserved(hold.account_id), LedgerAccount.spent(hold.account_id)
    funding = wallet_of(view, hold.funding_id)
    draft = Draft(view, req, hold.account_id)
    if actual > held:
        draft.move(funding.wallet_account, spent, subtract(actual, held), funding.floor)
    if min(actual, held):
        draft.move(reserved, spent, min(actual, held), _ZERO)
    if held > actual:
        draft.move(reserved, funding.wallet_account, subtract(held, actual), _ZERO)
    done = hold.closed_as(ReservationStatus.COMMITTED, req.amount)
    return draft.finish(reservations=(done,))


def _release(view: LedgerView, req: Release, authorize: Authorizer) -> Plan:
    hold = _open_reservation(view, req.reservation_id)
    authorize(LedgerAction.SPEND, hold.account_id)
    if (replay := replayed(view, req, hold.account_id)) is not None:
        return replay
    _require_open(hold)
    draft = Draft(view, req, hold.account_id)
    _give_back(draft, hold)
    return draft.finish(reservations=(hold.closed_as(ReservationStatus.RELEASED),))


def _give_back(draft: Draft, hold: Reservation) -> None:
    draft.move(
        LedgerAccount.reserved(hold.account_id),
        LedgerAccount.wallet(hold.funding_id),
        hold.amount.amount,
        _ZERO,
    )


def _expire(view: LedgerView, req: Expire, authorize: Authorizer) -> Plan:
    # A sweep names no account up front: answer a replay first, then authorize each hold.
    if (replay := replayed(view, req, SWEEP_SCOPE)) is not None:
        return replay
    due = tuple(view.due_reservations(req.at))
    for hold in due:
        authorize(LedgerAction.EXPIRE, hold.account_id)
    draft = Draft(view, req, SWEEP_SCOPE)
    for hold in due:
        _give_back(draft, hold)
    return draft.finish(reservations=tuple(h.closed_as(ReservationStatus.EXPIRED) for h in due))


def _reset_to(draft: Draft, sub: Wallet, amount: Money, mode: ResetMode) -> None:
    """Sweep the sub's unused credit (to the master or to expiry), then fund it back up to
    exactly ``amount`` from the master (settling any overdraft debt)."""
    master = wallet_of(draft.view, master_of(sub)).wallet_account
    target = amount_of(draft.view, amount)
    own = sub.wallet_account
    unused = max(draft.balance(own), _ZERO)
    if unused:
        returned = mode is ResetMode.RETURN_TO_MASTER
        draft.move(
            own, master if returned else LedgerAccount.expired(sub.account_id), unused, _ZERO
        )
    grant = subtract(target, draft.balance(own))
    if grant > 0:
        draft.move(master, own, grant, _ZERO)


def _set_allocation(view: LedgerView, req: SetAllocation, authorize: Authorizer) -> Plan:
    sub = wallet_of(view, req.sub_id)
    master_id = master_of(sub)
    authorize(LedgerAction.ALLOCATE, master_id)
    if (replay := replayed(view, req, master_id)) is not None:
        return replay
    allocation = req.allocation
    if allocation is not None and sub.own_payment_method:
        raise AllocationError(
            f"sub-account {quoted(req.sub_id)} pays for itself; allocations are for subs funded "
            "by their master",
            account_id=req.sub_id,
        )
    draft = Draft(view, req, master_id)
    if allocation is not None and allocation.amount is not None:
        _reset_to(draft, sub, allocation.amount, allocation.on_reset)
    elif allocation is not None:  # unlimited: the sub's credit is the master's again
        unused = max(draft.balance(sub.wallet_account), _ZERO)
        if unused:
            master = wallet_of(view, master_id)
            draft.move(sub.wallet_account, master.wallet_account, unused, _ZERO)
    return draft.finish(wallets=(attrs.evolve(sub, allocation=allocation),))


def _reset_period(view: LedgerView, req: ResetPeriod, authorize: Authorizer) -> Plan:
    sub = wallet_of(view, req.sub_id)
    master_id = master_of(sub)
    authorize(LedgerAction.ALLOCATE, master_id)
    if (replay := replayed(view, req, master_id)) is not None:
        return replay
    allocation = sub.allocation
    if (
        allocation is None
        or allocation.kind is not AllocationKind.RECURRING
        or allocation.amount is None
    ):
        kind = "no allocation" if allocation is None else f"a {allocation.kind.value} allocation"
        raise AllocationError(
            f"sub-account {quoted(req.sub_id)} has {kind}; only recurring allocations reset",
            account_id=req.sub_id,
        )
    draft = Draft(view, req, master_id)
    _reset_to(draft, sub, allocation.amount, allocation.on_reset)
    return draft.finish()


HANDLERS: Final[Mapping[type[Any], Callable[[LedgerView, Any, Authorizer], Plan]]] = (
    MappingProxyType(
        {
            TopUp: _top_up,
            Distribute: _distribute,
            Reclaim: _reclaim,
            Spend: _spend,
            Refund: _refund,
            Reserve: _reserve,
            Commit: _commit,
            Release: _release,
            Expire: _expire,
            SetAllocation: _set_allocation,
            ResetPeriod: _reset_period,
            GrantCredit: _top_up,
            ExpireGrant: _expire_grant,
        }
    )
)


def plan(view: LedgerView, request: LedgerRequest, authorize: Authorizer) -> Plan:
    """Decide one operation against ``view``: its ``Plan``, or a typed refusal.

    Nothing is written here; the caller writes the whole plan atomically (or nothing).
    """
    handler = HANDLERS.get(type(request))
    if handler is None:
        raise InvalidInput(f"not a ledger request: {type(request).__name__}", field="request")
    try:
        return handler(view, request, authorize)
    except DecimalException:  # the planner's exact arithmetic (``Draft``) would round
        raise AmountOutOfBounds(
            f"{request.operation.value} {quoted(request.key)} cannot be computed exactly in "
            f"{MONEY_PRECISION} digits",
            bound="precision",
            limit=MONEY_PRECISION,
            key=request.key,
        ) from None
