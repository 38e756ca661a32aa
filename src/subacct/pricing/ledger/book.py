"""The in-memory ledger: the reference ``LedgerView`` and the plan-applying loop.

``Ledger`` keeps balances, wallets, reservations, idempotency records and the transfer log
in dicts and a list. It does no I/O; its state changes only in ``apply``, which checks the
plan's guards first and then writes all of it, so a refused or stale plan changes nothing.
It is not thread-safe: share it behind a lock, or use a store.

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import (
...     Distribute, Ledger, LedgerAccount, TopUp, Wallet, allow_all)
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> book = Ledger("EUR", authorize=allow_all)
>>> _ = book.open_wallet(Wallet("agencydemo"))
>>> _ = book.open_wallet(Wallet("agency1", master_id="agencydemo"))
>>> _ = book.execute(TopUp(account_id="agencydemo", amount=Money("100", "EUR"), key="t1", at=t))
>>> receipt = book.execute(
...     Distribute(sub_id="agency1", amount=Money("30", "EUR"), key="d1", at=t))
>>> str(book.balance_of(LedgerAccount.wallet("agency1")))
'30 EUR'
>>> book.execute(Distribute(sub_id="agency1", amount=Money("30", "EUR"), key="d1", at=t)).replayed
True
>>> str(book.balance_of(LedgerAccount.wallet("agencydemo")))
'70 EUR'
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final

from subacct.domain.ids import AccountId
from subacct.errors import ConcurrentModification, InvalidInput, quoted
from subacct.money import _EXACT, Money
from subacct.pricing.ledger.accounts import LedgerAccount
from subacct.pricing.ledger.authorization import Authorizer
from subacct.pricing.ledger.operations import plan
from subacct.pricing.ledger.planning import Plan, configure_wallet
from subacct.pricing.ledger.records import (
    IdempotencyRecord,
    Receipt,
    Reservation,
    ReservationStatus,
    Transfer,
)
from subacct.pricing.ledger.requests import LedgerRequest
from subacct.pricing.ledger.statements import Statement, statement
from subacct.pricing.ledger.wallets import Wallet

__all__ = ["Ledger"]

_ZERO: Final = Decimal(0)
# exact addition (``subacct.money``): a plan's deltas and the balances are bounded, so it
# never raises here, and never rounds
_add = _EXACT.add


class Ledger:
    """A double-entry credit ledger in memory, for one currency.

    ``authorize`` is required: pass the policy engine's authorizer, or ``allow_all`` to
    state explicitly that the caller has already checked permissions. ``execute`` and
    ``open_wallet`` take a per-call ``authorize`` too, for the principal acting now.
    """

    __slots__ = (
        "_authorize",
        "_balances",
        "_currency",
        "_holds",
        "_open",
        "_requests",
        "_reservations",
        "_spans",
        "_transfers",
        "_wallets",
    )

    def __init__(self, currency: str, *, authorize: Authorizer) -> None:
        if not callable(authorize):
            raise InvalidInput("authorize must be an Authorizer callable", field="authorize")
        self._currency = Money.zero(currency).currency
        self._authorize = authorize
        self._balances: dict[LedgerAccount, Decimal] = {}
        self._wallets: dict[AccountId, Wallet] = {}
        self._reservations: dict[str, Reservation] = {}
        self._open: dict[str, Reservation] = {}
        # by (scope, key): fingerprints are derived on demand
        self._requests: dict[tuple[str, str], LedgerRequest] = {}
        # A receipt is rebuilt on demand from the log: per key, where its transfers start
        # (they are contiguous and share the key) and, when any, its reservation ids.
        # Keeping plain ints and strings leaves the garbage collector less to walk as the
        # history grows.
        self._spans: dict[tuple[str, str], tuple[int, int]] = {}  # its transfers' slice
        self._holds: dict[tuple[str, str], tuple[str, ...]] = {}
        self._transfers: list[Transfer] = []

    # -- LedgerView -----------------------------------------------------------------------

    @property
    def currency(self) -> str:
        return self._currency

    def balance(self, account: LedgerAccount) -> Decimal:
        return self._balances.get(account, _ZERO)

    def wallet(self, account_id: AccountId) -> Wallet | None:
        return self._wallets.get(account_id)

    def reservation(self, reservation_id: str) -> Reservation | None:
        return self._reservations.get(reservation_id)

    def due_reservations(self, at: datetime) -> list[Reservation]:
        due = [r for r in self._open.values() if r.expires_at <= at]
        return sorted(due, key=lambda r: (r.expires_at, r.id))

    def idempotency(self, key: str, scope: AccountId | str) -> IdempotencyRecord | None:
        request = self._requests.get((scope, key))
        if request is None:
            return None
        start, stop = self._spans[(scope, key)]
        receipt = Receipt._trusted(
            key,
            request.operation,
            tuple(self._transfers[start:stop]),
            self._holds.get((scope, key), ()),
            scope,
        )
        return IdempotencyRecord(key, request.fingerprint(), receipt)

    # -- commands -------------------------------------------------------------------------

    def open_wallet(self, wallet: Wallet, *, authorize: Authorizer | None = None) -> Wallet:
        """Open or re-configure a wallet (see ``configure_wallet``)."""
        stored = configure_wallet(self, wallet, authorize or self._authorize)
        self._wallets[stored.account_id] = stored
        return stored

    def execute(self, request: LedgerRequest, *, authorize: Authorizer | None = None) -> Receipt:
        """Plan ``request`` and apply it: its receipt, or a typed refusal (nothing moved).

        ``authorize`` (default: the ledger's) checks the principal acting now.
        """
        planned = plan(self, request, authorize or self._authorize)
        # Planned against this ledger just now, with nothing in between: the guards of
        # ``apply`` hold by construction, so write straight away.
        if planned.request is not None:
            self._write(planned, planned.request)
        return planned.receipt

    def apply(self, planned: Plan) -> None:
        """Write a plan made against this ledger, all or nothing.

        The guards a store enforces are checked first: the key is new, every pinned
        balance is still the one the plan read, every changed balance stays at or above
        its floor, a new reservation id is free and a closed reservation was still open.
        ``ConcurrentModification`` means the plan is stale (the state changed after
        planning); plan again. (Wallets are not checked here: this ledger changes them
        only through plans and ``open_wallet``; a store compares the wallets a plan read.)
        """
        request, receipt = planned.request, planned.receipt
        if request is None:
            return  # a replay writes nothing
        if (receipt.scope, receipt.key) in self._requests:
            raise ConcurrentModification(
                f"key {quoted(receipt.key)} was used meanwhile", key=receipt.key
            )
        balances = self._balances
        stale = [a for a, seen in planned.pinned if balances.get(a, _ZERO) != seen]
        stale += [
            change.account
            for change in planned.changes
            if change.applied_to(balances.get(change.account, _ZERO)) is None
        ]
        if stale:
            raise ConcurrentModification(
                f"{stale[0]} changed since the plan was made", ledger_account=str(stale[0])
            )
        for hold in planned.reservations:
            current = self._reservations.get(hold.id)
            if (current is None) != (hold.status is ReservationStatus.OPEN) or (
                current is not None and not current.is_open
            ):
                raise ConcurrentModification(
                    f"reservation {quoted(hold.id)} changed since the plan was made",
                    reservation_id=hold.id,
                )
        self._write(planned, request)

    def _write(self, planned: Plan, request: LedgerRequest) -> None:
        """Write a plan whose guards hold."""
        receipt, balances = planned.receipt, self._balances
        for account, delta, _floor in planned.changes:
            balances[account] = _add(balances.get(account, _ZERO), delta)
        for hold in planned.reservations:
            self._reservations[hold.id] = hold
            if hold.is_open:
                self._open[hold.id] = hold
            else:
                self._open.pop(hold.id, None)
        for wallet in planned.wallets:
            self._wallets[wallet.account_id] = wallet
        key, log = (receipt.scope, receipt.key), self._transfers
        self._requests[key] = request
        self._spans[key] = (len(log), len(log) + len(receipt.transfers))
        if receipt.reservation_ids:
            self._holds[key] = receipt.reservation_ids
        log.extend(receipt.transfers)

    # -- queries --------------------------------------------------------------------------

    def transfers(self) -> tuple[Transfer, ...]:
        """The transfer log in the order it was written."""
        return tuple(self._transfers)

    def balance_of(self, account: LedgerAccount) -> Money:
        return Money(self._balances.get(account, _ZERO), self._currency)

    def balances(self) -> dict[LedgerAccount, Money]:
        """Every ledger account that ever moved, with its balance."""
        return {a: Money(b, self._currency) for a, b in self._balances.items()}

    def wallets(self) -> tuple[Wallet, ...]:
        return tuple(self._wallets.values())

    def reservations(self) -> tuple[Reservation, ...]:
        return tuple(self._reservations.values())

    def statement(self, account: LedgerAccount, *, start: datetime, end: datetime) -> Statement:
        """The statement of ``account`` for ``[start, end)``."""
        return statement(account, self._transfers, start=start, end=end, currency=self._currency)
