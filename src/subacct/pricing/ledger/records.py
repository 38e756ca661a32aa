"""What the ledger stores: transfers, reservations, idempotency records and receipts.

A transfer moves a positive ``amount`` from ``source`` to ``destination``. Every operation
appends zero or more transfers that share the operation's idempotency ``key`` and are
numbered by ``index``, so ``(key, index)`` identifies a transfer within the key's scope
(``Receipt.scope``: the account the operation was authorized on).

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import LedgerAccount, OperationKind, Transfer
>>> t = Transfer(
...     key="topup-1", index=0, operation=OperationKind.TOP_UP,
...     source=LedgerAccount.external("agencydemo"),
...     destination=LedgerAccount.wallet("agencydemo"),
...     amount=Money("100.00", "EUR"), at=datetime(2026, 1, 1, tzinfo=UTC),
... )
>>> t.id, str(t.source), str(t.amount)
('topup-1/0', 'external:agencydemo', '100.00 EUR')
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Final

import attrs

from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, quoted
from subacct.money import Money
from subacct.pricing.ledger import _validate as v
from subacct.pricing.ledger.accounts import LedgerAccount

__all__ = [
    "DEFAULT_PRIORITY",
    "MAX_PRIORITY",
    "GrantKind",
    "IdempotencyRecord",
    "OperationKind",
    "Receipt",
    "Reservation",
    "ReservationStatus",
    "Transfer",
]


_new = object.__new__


class OperationKind(enum.Enum):
    """The ledger operations; every transfer records the one that made it."""

    TOP_UP = "top_up"
    DISTRIBUTE = "distribute"
    RECLAIM = "reclaim"
    SPEND = "spend"
    REFUND = "refund"
    RESERVE = "reserve"
    COMMIT = "commit"
    RELEASE = "release"
    EXPIRE = "expire"
    SET_ALLOCATION = "set_allocation"
    RESET_PERIOD = "reset_period"
    GRANT = "grant"
    EXPIRE_GRANT = "expire_grant"


DEFAULT_PRIORITY: Final = 50
"""The priority of a ``GrantCredit`` that names none (plain credit, a top-up's, comes
after every grant whatever its priority)."""
MAX_PRIORITY: Final = 100


class GrantKind(enum.Enum):
    """Who paid for a credit grant: the customer (``paid``: a top-up) or the platform
    (``promotional``: free credit, which only the system grants)."""

    PAID = "paid"
    PROMOTIONAL = "promotional"


def priority(value: object) -> int:
    """A grant priority: an integer from 0 to ``MAX_PRIORITY``; lower is spent first."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRIORITY:
        raise InvalidInput(
            f"priority must be an integer from 0 to {MAX_PRIORITY}, got {quoted(value)}",
            field="priority",
        )
    return value


def _index(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"index must be a non-negative integer, got {quoted(value)}", field="index"
        )
    return value


def _ledger_account(value: object) -> LedgerAccount:
    if not isinstance(value, LedgerAccount):
        raise InvalidInput(f"expected a LedgerAccount, got {quoted(value)}", field="ledger_account")
    return value


@attrs.frozen
class Transfer:
    """One movement of credit from ``source`` to ``destination``."""

    key: str = attrs.field(converter=v.key)
    index: int = attrs.field(converter=_index)
    operation: OperationKind = attrs.field(validator=attrs.validators.instance_of(OperationKind))
    source: LedgerAccount = attrs.field(converter=_ledger_account)
    destination: LedgerAccount = attrs.field(converter=_ledger_account)
    amount: Money = attrs.field(converter=v.positive_money)
    at: datetime = attrs.field(converter=v.timestamp)
    reference: str = attrs.field(default="", converter=v.reference)

    def __attrs_post_init__(self) -> None:
        if self.source == self.destination:
            raise InvalidInput(
                f"a transfer needs two different ledger accounts, got {self.source} twice",
                field="destination",
            )

    @property
    def id(self) -> str:
        """``key/index``: unique in a ledger."""
        return f"{self.key}/{self.index}"

    @classmethod
    def _trusted(
        cls,
        key: str,
        index: int,
        operation: OperationKind,
        source: LedgerAccount,
        destination: LedgerAccount,
        amount: Money,
        at: datetime,
        reference: str,
    ) -> Transfer:
        """Build from parts the planner has already validated (the request's key, time and
        reference, two distinct ledger accounts, a positive amount), skipping the converters
        on the hot path. Anything else constructs normally."""
        self = _new(cls)
        _t_key(self, key)
        _t_index(self, index)
        _t_operation(self, operation)
        _t_source(self, source)
        _t_destination(self, destination)
        _t_amount(self, amount)
        _t_at(self, at)
        _t_reference(self, reference)
        return self


# the slots' own setters: what ``object.__setattr__`` ends up calling, without the lookup
_t_key, _t_index, _t_operation, _t_source, _t_destination, _t_amount, _t_at, _t_reference = (
    Transfer.__dict__[f.name].__set__ for f in attrs.fields(Transfer)
)


def _transfers(value: Iterable[Transfer]) -> tuple[Transfer, ...]:
    items = tuple(value)
    if not all(isinstance(t, Transfer) for t in items):
        raise InvalidInput("transfers must be Transfer values", field="transfers")
    return items


def _reservation_ids(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(v.reservation_id(i) for i in value)


@attrs.frozen
class Receipt:
    """The result of one operation: the transfers it appended (the first time it ran) and
    the reservations it made or closed.

    A replay returns the same receipt with ``replayed=True`` and moves nothing.

    ``scope`` is the namespace of ``key``: the account the operation was authorized on
    (``"expiry sweep"`` for an expiry sweep, which names no account; ``""`` for a key
    stored before schema version 8, ledger-wide). The same key in another scope
    is another operation.
    """

    key: str = attrs.field(converter=v.key)
    operation: OperationKind = attrs.field(validator=attrs.validators.instance_of(OperationKind))
    transfers: tuple[Transfer, ...] = attrs.field(converter=_transfers)
    reservation_ids: tuple[str, ...] = attrs.field(default=(), converter=_reservation_ids)
    replayed: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    scope: str = attrs.field(default="", validator=attrs.validators.instance_of(str))

    def as_replay(self) -> Receipt:
        return attrs.evolve(self, replayed=True)

    @classmethod
    def _trusted(
        cls,
        key: str,
        operation: OperationKind,
        transfers: tuple[Transfer, ...],
        reservation_ids: tuple[str, ...],
        scope: str,
    ) -> Receipt:
        """A fresh receipt from validated parts (see ``Transfer._trusted``)."""
        self = _new(cls)
        _r_key(self, key)
        _r_operation(self, operation)
        _r_transfers(self, transfers)
        _r_reservation_ids(self, reservation_ids)
        _r_replayed(self, False)
        _r_scope(self, scope)
        return self


_r_key, _r_operation, _r_transfers, _r_reservation_ids, _r_replayed, _r_scope = (
    Receipt.__dict__[f.name].__set__ for f in attrs.fields(Receipt)
)


class ReservationStatus(enum.Enum):
    OPEN = "open"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


@attrs.frozen
class Reservation:
    """Credit held in ``reserved:<account_id>`` for queued sends, taken from the wallet of
    ``funding_id`` (the account itself, or its master for an unlimited sub).

    Usable while open and before ``expires_at``; then committed, released or expired.
    ``committed`` is the amount finally spent (set when committed).
    """

    id: str = attrs.field(converter=v.reservation_id)
    account_id: AccountId = attrs.field(converter=v.account_id)
    funding_id: AccountId = attrs.field(converter=v.account_id)
    amount: Money = attrs.field(converter=v.positive_money)
    expires_at: datetime = attrs.field(converter=v.expiry)
    status: ReservationStatus = attrs.field(
        default=ReservationStatus.OPEN, validator=attrs.validators.instance_of(ReservationStatus)
    )
    committed: Money | None = attrs.field(default=None, converter=v.optional_non_negative_money)

    def __attrs_post_init__(self) -> None:
        if (self.status is ReservationStatus.COMMITTED) != (self.committed is not None):
            raise InvalidInput(
                "a committed reservation records its committed amount, others none",
                field="committed",
            )

    @property
    def is_open(self) -> bool:
        return self.status is ReservationStatus.OPEN

    def closed_as(self, status: ReservationStatus, committed: Money | None = None) -> Reservation:
        return attrs.evolve(self, status=status, committed=committed)


@attrs.frozen
class IdempotencyRecord:
    """What a key did the first time: the request's fingerprint and its receipt."""

    key: str = attrs.field(converter=v.key)
    fingerprint: str = attrs.field(validator=attrs.validators.instance_of(str))
    receipt: Receipt = attrs.field(validator=attrs.validators.instance_of(Receipt))
