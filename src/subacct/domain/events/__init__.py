"""Domain events: one typed, serializable value per kind of state change.

Every event carries ``event_id``, ``occurred_at`` (UTC), ``actor`` (the user who really
acted, also while impersonating; ``None`` for the system) and ``account_id`` (the account
the change happened in; ``None`` only for the system-wide events such as ``UserCreated``
or ``RoleDefined``), plus the fields of its kind. The core never makes ids or reads the
clock: callers pass an ``EventMeta`` to the core functions, which return the event with
the changed values.

``event_to_dict`` adds a ``"type"`` discriminator to the converter's shape, so a host can
store a list of mixed events (an audit log, a webhook queue) and read it back with
``event_from_dict``. ``EVENT_TYPES`` lists every kind by its wire name.

>>> from datetime import datetime, UTC
>>> from subacct.domain.events import ShareRevoked, event_from_dict, event_to_dict
>>> ev = ShareRevoked(event_id="ev1", occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
...                   actor="ann", account_id="agencydemo", share_id="sh1", resource_id="tpl")
>>> data = event_to_dict(ev)
>>> data["type"], data["share_id"]
('share_revoked', 'sh1')
>>> event_from_dict(data) == ev
True
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, TypeAlias, cast

from subacct.domain.events._base import BaseEvent, EventId, EventMeta
from subacct.domain.events.accounts import (
    AccountClosed,
    AccountCreated,
    AccountMoved,
    AccountRenamed,
    AccountStatusChanged,
    ClientLinkDeclined,
    ClientLinked,
    ClientLinkRequested,
    ClientUnlinked,
    ImpersonationEnded,
    ImpersonationStarted,
    RoleChanged,
    UserCreated,
    UserDeleted,
    UserInvited,
    UserRemoved,
    UserRenamed,
)
from subacct.domain.events.billing import (
    BillingProfileRemoved,
    BillingProfileSet,
    PlanChangeApproved,
    PlanChangeCancelled,
    PlanChangeRejected,
    PlanChangeRequested,
    PrerequisiteRecorded,
    QuotaReleased,
    QuotaReserved,
    QuotaSet,
    SubscriptionStarted,
    UsageRecorded,
)
from subacct.domain.events.credits import (
    CreditAllocationSet,
    CreditGrantCreated,
    CreditGrantExpired,
    CreditOperationRecorded,
    CreditReservationEnded,
    CreditsMoved,
    CreditsReserved,
    WalletConfigured,
)
from subacct.domain.events.invitations import (
    InvitationAccepted,
    InvitationResent,
    InvitationRevoked,
    InvitationSent,
    OwnershipTransferred,
    SeatLimitSet,
)
from subacct.domain.events.invoicing import (
    AdjustmentBilled,
    CreditNoteIssued,
    InvoiceDrafted,
    InvoiceFinalized,
    InvoicePaid,
    InvoiceVoided,
    PaymentRecorded,
)
from subacct.domain.events.policy import (
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyRotated,
    CeilingRemoved,
    CeilingSet,
    ImpersonationSettingChanged,
    RoleDefined,
)
from subacct.domain.events.sending import SendAuthorized, SendCaptured, SendReleased
from subacct.domain.events.sharing import (
    ResourceCopied,
    ResourceCreated,
    ResourceDeleted,
    ResourceShared,
    ResourceUpdated,
    ShareRevoked,
)
from subacct.domain.events.thresholds import (
    CreditLow,
    QuotaThresholdReached,
    QuotaThresholdsSet,
    TopUpRequested,
    WalletAlertsSet,
)
from subacct.errors import InvalidInput, SchemaError, quoted

__all__ = [
    "EVENT_TYPES",
    "AccountClosed",
    "AccountCreated",
    "AccountMoved",
    "AccountRenamed",
    "AccountStatusChanged",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "ApiKeyRotated",
    "BaseEvent",
    "BillingProfileRemoved",
    "BillingProfileSet",
    "CeilingRemoved",
    "CeilingSet",
    "ClientLinkDeclined",
    "ClientLinkRequested",
    "ClientLinked",
    "ClientUnlinked",
    "CreditAllocationSet",
    "CreditGrantCreated",
    "CreditGrantExpired",
    "CreditLow",
    "CreditOperationRecorded",
    "CreditReservationEnded",
    "CreditsMoved",
    "CreditsReserved",
    "DomainEvent",
    "EventId",
    "EventMeta",
    "ImpersonationEnded",
    "ImpersonationSettingChanged",
    "ImpersonationStarted",
    "InvoiceDrafted",
    "InvoiceFinalized",
    "InvoicePaid",
    "InvoiceVoided",
    "PaymentRecorded",
    "CreditNoteIssued",
    "AdjustmentBilled",
    "InvitationAccepted",
    "InvitationResent",
    "InvitationRevoked",
    "InvitationSent",
    "OwnershipTransferred",
    "PlanChangeApproved",
    "PlanChangeCancelled",
    "PlanChangeRejected",
    "PlanChangeRequested",
    "PrerequisiteRecorded",
    "QuotaReleased",
    "QuotaReserved",
    "QuotaSet",
    "QuotaThresholdReached",
    "QuotaThresholdsSet",
    "ResourceCopied",
    "ResourceCreated",
    "ResourceDeleted",
    "ResourceShared",
    "ResourceUpdated",
    "RoleChanged",
    "RoleDefined",
    "SendAuthorized",
    "SendCaptured",
    "SendReleased",
    "SeatLimitSet",
    "ShareRevoked",
    "SubscriptionStarted",
    "TopUpRequested",
    "UsageRecorded",
    "UserCreated",
    "UserDeleted",
    "UserInvited",
    "UserRemoved",
    "UserRenamed",
    "WalletAlertsSet",
    "WalletConfigured",
    "event_from_dict",
    "event_to_dict",
]

_TYPE_KEY: Final = "type"

DomainEvent: TypeAlias = (
    AccountCreated
    | AccountRenamed
    | AccountMoved
    | AccountStatusChanged
    | AccountClosed
    | ClientLinkRequested
    | ClientLinkDeclined
    | ClientLinked
    | ClientUnlinked
    | UserCreated
    | UserRenamed
    | UserDeleted
    | UserInvited
    | RoleChanged
    | UserRemoved
    | InvitationSent
    | InvitationResent
    | InvitationRevoked
    | InvitationAccepted
    | SeatLimitSet
    | OwnershipTransferred
    | ImpersonationStarted
    | ImpersonationEnded
    | RoleDefined
    | CeilingSet
    | CeilingRemoved
    | ApiKeyCreated
    | ApiKeyRevoked
    | ApiKeyRotated
    | ImpersonationSettingChanged
    | ResourceCreated
    | ResourceUpdated
    | ResourceCopied
    | ResourceDeleted
    | ResourceShared
    | ShareRevoked
    | BillingProfileSet
    | BillingProfileRemoved
    | UsageRecorded
    | QuotaSet
    | QuotaReserved
    | QuotaReleased
    | InvoiceDrafted
    | InvoiceFinalized
    | InvoicePaid
    | InvoiceVoided
    | CreditNoteIssued
    | PaymentRecorded
    | AdjustmentBilled
    | SubscriptionStarted
    | PrerequisiteRecorded
    | PlanChangeRequested
    | PlanChangeApproved
    | PlanChangeRejected
    | PlanChangeCancelled
    | CreditsMoved
    | CreditsReserved
    | CreditReservationEnded
    | CreditAllocationSet
    | CreditOperationRecorded
    | CreditGrantCreated
    | CreditGrantExpired
    | WalletConfigured
    | SendAuthorized
    | SendCaptured
    | SendReleased
    | QuotaThresholdsSet
    | QuotaThresholdReached
    | WalletAlertsSet
    | CreditLow
    | TopUpRequested
)


def _type_table() -> Mapping[str, type[BaseEvent]]:
    table: dict[str, type[BaseEvent]] = {}
    for cls in DomainEvent.__args__:
        if cls.event_type in table:
            raise TypeError(f"event type {cls.event_type!r} used twice")
        table[cls.event_type] = cls
    return MappingProxyType(dict(sorted(table.items())))


#: Wire name -> event class, for every member of ``DomainEvent``.
EVENT_TYPES: Final = _type_table()


def event_to_dict(event: DomainEvent) -> dict[str, Any]:
    """The event as plain JSON-able data: ``{"type": ..., "schema": 1, <fields>}``."""
    from subacct.serialization import converter  # here, so the converter may import domain

    if type(event) not in EVENT_TYPES.values():
        raise InvalidInput(f"{type(event).__name__} is not a domain event", field="event")
    return {_TYPE_KEY: event.event_type, **converter.unstructure(event)}


def event_from_dict(data: object) -> DomainEvent:
    """Read back what ``event_to_dict`` wrote; unknown types and bad data are ``SchemaError``."""
    from subacct.serialization import structure  # see event_to_dict

    if not isinstance(data, dict):
        raise SchemaError(f"an event must be a dict, got {type(data).__name__}")
    kind = data.get(_TYPE_KEY)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SchemaError(f"unknown event type {quoted(kind)}", type=kind)
    body = {k: v for k, v in data.items() if k != _TYPE_KEY}
    return cast("DomainEvent", structure(body, cls))
