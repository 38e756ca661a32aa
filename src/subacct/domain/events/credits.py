"""Events about the prepaid credit ledger."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from subacct._validators import instance_of, optional_instance_of
from subacct.domain.events._base import (
    BaseEvent,
    operation,
    positive_money,
    valid_id,
    valid_key,
    valid_optional_id,
)
from subacct.domain.ids import AccountId
from subacct.money import Money

__all__ = [
    "CreditAllocationSet",
    "CreditGrantCreated",
    "CreditGrantExpired",
    "CreditOperationRecorded",
    "CreditReservationEnded",
    "CreditsMoved",
    "CreditsReserved",
    "WalletConfigured",
]


@attrs.frozen(kw_only=True)
class CreditsMoved(BaseEvent):
    """A ledger operation moved ``amount``; ``None`` on a side is money outside the system
    (a card top-up) or spent on usage."""

    event_type: ClassVar[str] = "credits_moved"
    operation: str = attrs.field(converter=operation)
    idempotency_key: str = attrs.field(validator=valid_key)
    from_account_id: AccountId | None = attrs.field(validator=valid_optional_id)
    to_account_id: AccountId | None = attrs.field(validator=valid_optional_id)
    amount: Money = attrs.field(validator=positive_money)


@attrs.frozen(kw_only=True)
class CreditsReserved(BaseEvent):
    """``amount`` of ``account_id``'s credit is held for queued sends until it is
    committed, released or expires."""

    event_type: ClassVar[str] = "credits_reserved"
    reservation_id: str = attrs.field(validator=valid_id)
    idempotency_key: str = attrs.field(validator=valid_key)
    amount: Money = attrs.field(validator=positive_money)


@attrs.frozen(kw_only=True)
class CreditReservationEnded(BaseEvent):
    """A hold was ``committed`` (spending ``committed``), ``released`` or ``expired``."""

    event_type: ClassVar[str] = "credit_reservation_ended"
    reservation_id: str = attrs.field(validator=valid_id)
    idempotency_key: str = attrs.field(validator=valid_key)
    status: str = attrs.field(validator=instance_of(str))
    committed: Money | None = attrs.field(validator=optional_instance_of(Money))


@attrs.frozen(kw_only=True)
class CreditAllocationSet(BaseEvent):
    """The sub-account ``account_id`` is funded by its master under ``allocation``
    (``"unlimited"``, ``"recurring"``, ``"non_recurring"``, or ``None``: by hand)."""

    event_type: ClassVar[str] = "credit_allocation_set"
    idempotency_key: str = attrs.field(validator=valid_key)
    allocation: str | None = attrs.field(validator=optional_instance_of(str))
    amount: Money | None = attrs.field(validator=optional_instance_of(Money))


@attrs.frozen(kw_only=True)
class CreditOperationRecorded(BaseEvent):
    """A ledger operation that moved nothing (a sweep with nothing due, a reset already
    at its amount) used up its idempotency key."""

    event_type: ClassVar[str] = "credit_operation_recorded"
    account_scoped: ClassVar[bool | None] = None
    operation: str = attrs.field(converter=operation)
    idempotency_key: str = attrs.field(validator=valid_key)


@attrs.frozen(kw_only=True)
class WalletConfigured(BaseEvent):
    """``account_id``'s wallet in the ``currency`` ledger was opened (``opened``) or
    re-configured."""

    event_type: ClassVar[str] = "wallet_configured"
    currency: str = attrs.field(validator=valid_id)
    master_id: AccountId | None = attrs.field(validator=valid_optional_id)
    opened: bool = attrs.field(validator=instance_of(bool))


@attrs.frozen(kw_only=True)
class CreditGrantCreated(BaseEvent):
    """A top-up or a credit grant gave ``account_id``'s wallet the grant ``grant_id`` of
    ``amount`` in ``currency`` (``kind`` ``"paid"`` or ``"promotional"``), spent in the
    order of its ``priority`` and ``expires_at`` (``None``: it never expires)."""

    event_type: ClassVar[str] = "credit_grant_created"
    grant_id: str = attrs.field(validator=valid_key)
    kind: str = attrs.field(validator=instance_of(str))
    priority: int = attrs.field(validator=instance_of(int))
    expires_at: datetime | None = attrs.field(validator=optional_instance_of(datetime))
    amount: Money = attrs.field(validator=positive_money)


@attrs.frozen(kw_only=True)
class CreditGrantExpired(BaseEvent):
    """What remained of grant ``grant_id`` (made in ``origin_id``) in ``account_id``'s
    wallet, ``amount``, moved to the expiry account ``expired:<account_id>``."""

    event_type: ClassVar[str] = "credit_grant_expired"
    grant_id: str = attrs.field(validator=valid_key)
    origin_id: AccountId = attrs.field(validator=valid_id)
    amount: Money = attrs.field(validator=positive_money)
