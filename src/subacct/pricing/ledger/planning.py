"""The planning core: read a few balances, decide, return what to write.

``plan(view, request, authorize)`` is pure: it reads the current state through a
``LedgerView`` (only the balances, wallets, reservation and idempotency record the request
touches) and returns a ``Plan``: the transfers to append, the balance changes with the floor
each changed balance must stay at or above, the reservations and wallets to upsert and the
idempotency record to insert. A refusal raises a typed error and plans nothing.

A store runs it inside one transaction: load under a write lock, plan, write the plan,
commit. The in-memory ``Ledger`` does exactly this with dicts.

>>> from datetime import datetime, UTC
>>> from decimal import Decimal
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import Ledger, TopUp, Wallet, allow_all, plan
>>> book = Ledger("EUR", authorize=allow_all)
>>> _ = book.open_wallet(Wallet("agencydemo"))
>>> p = plan(book, TopUp(account_id="agencydemo", amount=Money("100", "EUR"), key="t1",
...                      at=datetime(2026, 1, 1, tzinfo=UTC)), allow_all)
>>> [(str(c.account), c.delta, c.floor) for c in p.changes]
[('external:agencydemo', Decimal('-100'), None), ('wallet:agencydemo', Decimal('100'), None)]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple, Protocol

import attrs

from subacct.domain.ids import AccountId
from subacct.errors import (
    AllocationError,
    BalanceOutOfBounds,
    IdempotencyConflict,
    InsufficientCredit,
    InvalidInput,
    OverdraftInUse,
    WalletNotFound,
    quoted,
)
from subacct.money import _EXACT, MAX_AMOUNT, MIN_AMOUNT, Money, add
from subacct.pricing.ledger.accounts import LedgerAccount
from subacct.pricing.ledger.authorization import Authorizer, LedgerAction
from subacct.pricing.ledger.records import (
    IdempotencyRecord,
    Receipt,
    Reservation,
    Transfer,
)
from subacct.pricing.ledger.requests import LedgerRequest
from subacct.pricing.ledger.wallets import Wallet

__all__ = ["BalanceChange", "Draft", "LedgerView", "Plan", "configure_wallet"]

_ZERO: Final = Decimal(0)
# The exact context's own methods (``subacct.money``), called directly on the hot path:
# they raise a ``decimal`` signal instead of rounding, which ``plan`` turns into
# ``AmountOutOfBounds`` (with bounded amounts and balances they never do).
_add, _sub = _EXACT.add, _EXACT.subtract
_tuple_new = tuple.__new__
_MAX_FUNDING_DEPTH: Final = 32


class LedgerView(Protocol):
    """Read access to the ledger state a plan needs. A store implements it inside the
    transaction that will write the plan (reads must see that transaction's lock)."""

    @property
    def currency(self) -> str:
        """The ledger's one currency (ISO 4217)."""
        ...

    def balance(self, account: LedgerAccount) -> Decimal:
        """The account's balance (zero if it never moved)."""
        ...

    def wallet(self, account_id: AccountId) -> Wallet | None: ...

    def reservation(self, reservation_id: str) -> Reservation | None: ...

    def due_reservations(self, at: datetime) -> Sequence[Reservation]:
        """Open reservations with ``expires_at <= at``, ordered by (expires_at, id)."""
        ...

    def idempotency(self, key: str, scope: AccountId | str) -> IdempotencyRecord | None:
        """What ``key`` did in ``scope`` (the account the operation was authorized on,
        ``SWEEP_SCOPE`` for a sweep that names none), or ``None`` for a key unused there."""
        ...


class BalanceChange(NamedTuple):
    """Add ``delta`` to ``account``; the result must stay ``>= floor`` (``None``: no floor).

    ``floor`` is exact: the result is at or above it exactly when every move the plan
    makes out of ``account``, one after the other, keeps the balance at or above that
    move's own floor (an account that goes down, then up again within one plan gets the
    floor its lowest point needs). So a store may apply ``delta`` to whatever the balance
    is by then: when the guard holds, planning again against that balance would plan the
    same moves. A store applies it as a guarded update and refuses the plan when the guard
    fails. ``delta`` may be zero when the account went down and back up.

    The result must also stay within ``MAX_AMOUNT`` either way (``subacct.money``): the
    planner refuses a plan that would pass it (``BalanceOutOfBounds``), and a store applies
    the change with ``applied_to``, which checks both guards on the stored balance.
    """

    account: LedgerAccount
    delta: Decimal
    floor: Decimal | None

    def applied_to(self, balance: Decimal) -> Decimal | None:
        """The exact balance after this change, or ``None`` when it would end below
        ``floor`` or past ``MAX_AMOUNT`` (the plan is stale: refuse it).

        >>> change = BalanceChange(LedgerAccount.wallet("m"), Decimal("-5"), Decimal(0))
        >>> change.applied_to(Decimal("7.5")), change.applied_to(Decimal("4"))
        (Decimal('2.5'), None)
        """
        after = add(balance, self.delta)
        floor = self.floor
        if (floor is not None and after < floor) or not MIN_AMOUNT <= after <= MAX_AMOUNT:
            return None
        return after


@attrs.frozen
class Plan:
    """What one operation writes. A replay plans only its receipt (``replayed=True``).

    ``request`` is the request that made a new plan (``None`` for a replay); ``record``,
    the idempotency record to insert, is derived from it when a store asks.

    ``pinned`` lists the balances the plan's amounts were computed from (a reclaim of
    everything, a period reset), with the value read: the plan holds only while each is
    still exactly that. Every other balance the plan read only had to cover a move, which
    its change's floor guards. So a plan rests on: its key being new, the wallets it read,
    ``pinned``, the floors of ``changes`` and the reservations it opens or closes.
    """

    receipt: Receipt
    changes: tuple[BalanceChange, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    wallets: tuple[Wallet, ...] = ()
    request: LedgerRequest | None = None
    pinned: tuple[tuple[LedgerAccount, Decimal], ...] = ()

    @property
    def replayed(self) -> bool:
        return self.receipt.replayed

    @classmethod
    def _trusted(
        cls,
        receipt: Receipt,
        changes: tuple[BalanceChange, ...],
        reservations: tuple[Reservation, ...],
        wallets: tuple[Wallet, ...],
        request: LedgerRequest,
        pinned: tuple[tuple[LedgerAccount, Decimal], ...],
    ) -> Plan:
        """A new plan from ``Draft.finish`` (its parts are built there), without the
        per-field ``__setattr__`` of a frozen attrs class on the hot path."""
        self = _new(cls)
        _p_receipt(self, receipt)
        _p_changes(self, changes)
        _p_reservations(self, reservations)
        _p_wallets(self, wallets)
        _p_request(self, request)
        _p_pinned(self, pinned)
        return self

    @property
    def transfers(self) -> tuple[Transfer, ...]:
        """The transfers to append (none for a replay)."""
        return () if self.receipt.replayed else self.receipt.transfers

    @property
    def record(self) -> IdempotencyRecord | None:
        """The idempotency record to insert with the plan (``None`` for a replay)."""
        if self.request is None:
            return None
        return IdempotencyRecord(self.receipt.key, self.request.fingerprint(), self.receipt)


_new = object.__new__
_p_receipt, _p_changes, _p_reservations, _p_wallets, _p_request, _p_pinned = (
    Plan.__dict__[f.name].__set__ for f in attrs.fields(Plan)
)


class Draft:
    """Working state of one planning call: balances as the planned transfers leave them.

    Handlers call ``move``; ``finish`` turns the moves into a ``Plan``. A handler that
    computes an amount from a balance reads it with ``balance``, which pins it (see
    ``Plan.pinned``).
    """

    __slots__ = ("_changes", "_legs", "_pinned", "request", "scope", "view")

    def __init__(self, view: LedgerView, request: LedgerRequest, scope: AccountId | str) -> None:
        self.view = view
        self.request = request
        self.scope = scope
        # per touched account: [balance before, planned delta, the least balance before
        # that every move out of it needs, or None]
        self._changes: dict[LedgerAccount, list[Any]] = {}
        self._legs: list[tuple[LedgerAccount, LedgerAccount, Decimal]] = []
        self._pinned: dict[LedgerAccount, Decimal] = {}

    def balance(self, account: LedgerAccount) -> Decimal:
        """The balance as the moves planned so far leave it; the plan now rests on the
        balance read (``Plan.pinned``)."""
        entry = self._entry(account)
        start: Decimal = entry[0]
        delta: Decimal = entry[1]
        self._pinned[account] = start
        return _add(start, delta)

    def _entry(self, account: LedgerAccount) -> list[Any]:
        entry = self._changes.get(account)
        if entry is None:
            entry = self._changes[account] = [self.view.balance(account), _ZERO, None]
        return entry

    def move(
        self,
        source: LedgerAccount,
        destination: LedgerAccount,
        amount: Decimal,
        floor: Decimal | None,
    ) -> None:
        """Plan a transfer; ``InsufficientCredit`` if ``source`` would fall below ``floor``."""
        entry = self._entry(source)
        left = _sub(entry[1], amount)  # the delta after this move
        if floor is not None:
            available = _sub(_add(entry[0], entry[1]), floor)
            if amount > available:
                currency = self.view.currency
                raise InsufficientCredit(
                    f"{source} cannot cover {amount} {currency}: {available} available",
                    account_id=source.owner,
                    ledger_account=str(source),
                    requested=str(amount),
                    available=str(available),
                    currency=currency,
                )
            need = _sub(floor, left)  # the least balance before that covers this
            if entry[2] is None or need > entry[2]:
                entry[2] = need
        entry[1] = left
        into = self._entry(destination)
        into[1] = _add(into[1], amount)
        self._legs.append((source, destination, amount))

    def finish(
        self,
        *,
        reservations: tuple[Reservation, ...] = (),
        wallets: tuple[Wallet, ...] = (),
    ) -> Plan:
        req = self.request
        currency = self.view.currency
        changes = []
        for account, (start, delta, need) in self._changes.items():
            if delta:
                if not MIN_AMOUNT <= _add(start, delta) <= MAX_AMOUNT:  # as applied_to
                    raise _out_of_bounds(account, start, delta, currency)
            elif need is None:
                continue
            floor = None if need is None else _add(need, delta)
            changes.append(_tuple_new(BalanceChange, (account, delta, floor)))
        key, operation, at, reference = req.key, req.operation, req.at, req.reference
        asked = getattr(req, "amount", None)  # reuse the request's Money for equal legs
        transfers = tuple(
            [
                Transfer._trusted(
                    key,
                    i,
                    operation,
                    src,
                    dst,
                    asked
                    if asked is not None and asked.amount == amount
                    else Money(amount, currency),
                    at,
                    reference,
                )
                for i, (src, dst, amount) in enumerate(self._legs)
            ]
        )
        receipt = Receipt._trusted(
            key, operation, transfers, tuple([r.id for r in reservations]), self.scope
        )
        pinned = tuple(self._pinned.items())
        return Plan._trusted(receipt, tuple(changes), reservations, wallets, req, pinned)


def _out_of_bounds(
    account: LedgerAccount, start: Decimal, delta: Decimal, currency: str
) -> BalanceOutOfBounds:
    """The refusal of a plan that would take ``account`` past ``MAX_AMOUNT`` either way."""
    after = add(start, delta)
    return BalanceOutOfBounds(
        f"{account} would go from {start} to {after} {currency}, past the largest balance "
        f"{'-' if after < 0 else ''}{MAX_AMOUNT}",
        field="amount",
        bound="balance",
        limit=str(MAX_AMOUNT),
        ledger_account=str(account),
        account_id=account.owner,
        balance=str(start),
        delta=str(delta),
        currency=currency,
    )


def replayed(view: LedgerView, request: LedgerRequest, scope: AccountId | str) -> Plan | None:
    """The replay plan when ``request.key`` was used before in ``scope``;
    ``IdempotencyConflict`` when it was used there with different parameters; ``None`` for
    a new key. A key's scope is the account the operation was authorized on, so only a
    principal allowed to act there can take a key there."""
    record = view.idempotency(request.key, scope)
    if record is None:
        return None
    if record.fingerprint != request.fingerprint():
        raise IdempotencyConflict(
            f"idempotency key {quoted(request.key)} was already used for different parameters",
            key=request.key,
            operation=request.operation.value,
        )
    return Plan(record.receipt.as_replay())


def amount_of(view: LedgerView, money: Money) -> Decimal:
    """``money.amount`` after checking it is in the ledger's currency."""
    if money.currency != view.currency:
        raise InvalidInput(
            f"this ledger keeps {view.currency}, not {money.currency}",
            field="currency",
            expected=view.currency,
            got=money.currency,
        )
    return money.amount


def wallet_of(view: LedgerView, account_id: AccountId) -> Wallet:
    wallet = view.wallet(account_id)
    if wallet is None:
        raise WalletNotFound(f"account {quoted(account_id)} has no wallet", account_id=account_id)
    return wallet


def master_of(wallet: Wallet) -> AccountId:
    if wallet.master_id is None:
        raise AllocationError(
            f"account {quoted(wallet.account_id)} is not a sub-account funded by a master",
            account_id=wallet.account_id,
        )
    return wallet.master_id


def funding_wallet(view: LedgerView, wallet: Wallet) -> Wallet:
    """The wallet that pays for ``wallet``'s sends: its own, or up the chain of unlimited
    allocations to the first master that holds credit."""
    if not wallet.draws_on_master:
        return wallet
    for _ in range(_MAX_FUNDING_DEPTH):
        if not wallet.draws_on_master:
            return wallet
        wallet = wallet_of(view, master_of(wallet))
    raise AllocationError(
        f"unlimited allocations nest deeper than {_MAX_FUNDING_DEPTH} levels",
        account_id=wallet.account_id,
    )


def configure_wallet(view: LedgerView, wallet: Wallet, authorize: Authorizer) -> Wallet:
    """Validate opening or re-configuring a wallet; returns the wallet to store.

    The master of a wallet is fixed when it opens and must already have a wallet.
    Allocations change only through ``SetAllocation`` (it moves credit); an overdraft
    limit cannot drop below the debt the wallet is already in (``OverdraftInUse``).
    ``has_grants`` stays as stored (false for a new wallet).
    """
    owner = wallet.master_id or wallet.account_id
    authorize(LedgerAction.MANAGE_WALLET, owner)
    allocated = None if wallet.allocation is None else wallet.allocation.amount
    for money in (wallet.overdraft_limit, allocated):
        if money is not None:
            amount_of(view, money)
    current = view.wallet(wallet.account_id)
    if current is None:
        if wallet.master_id is not None:
            wallet_of(view, wallet.master_id)
        if wallet.allocation is not None:
            raise AllocationError(
                "open the wallet first, then give it an allocation with SetAllocation",
                account_id=wallet.account_id,
            )
    else:
        if current.master_id != wallet.master_id:
            raise AllocationError(
                f"the master of wallet {quoted(wallet.account_id)} is fixed; reclaim its "
                f"credit and "
                "open a new wallet instead",
                account_id=wallet.account_id,
            )
        if current.allocation != wallet.allocation:
            raise AllocationError(
                "allocations change only through SetAllocation", account_id=wallet.account_id
            )
    balance = view.balance(LedgerAccount.wallet(wallet.account_id))
    if balance < wallet.floor:
        raise OverdraftInUse(
            f"wallet {quoted(wallet.account_id)} is {-balance} in debt; the overdraft limit cannot "
            "go below that",
            account_id=wallet.account_id,
            balance=str(balance),
        )
    kept = current is not None and current.has_grants  # the ledger's, never the host's
    return wallet if wallet.has_grants is kept else attrs.evolve(wallet, has_grants=kept)
