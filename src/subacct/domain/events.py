"""Domain events: one typed, serializable value per kind of state change.

Every event carries ``event_id``, ``occurred_at`` (UTC), ``actor`` (the user who really
acted, also while impersonating; ``None`` for the system) and ``account_id`` (the account
the change happened in; ``None`` only for the system-wide user identity events
``UserCreated``, ``UserRenamed`` and ``UserDeleted``), plus the fields of its kind. The
core never makes ids or reads the clock: callers pass an ``EventMeta`` to the ``plan_*``
functions, which return the event with the changed values.

``event_to_dict`` adds a ``"type"`` discriminator to the converter's shape, so a host can
store a list of mixed events (an audit log, a webhook queue) and read it back with
``event_from_dict``.

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

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final, NewType, TypeAlias, cast

import attrs

from subacct.domain._validate import clean_name, utc_timestamp
from subacct.domain.accounts import AccountKind, AccountStatus
from subacct.domain.ids import AccountId, RoleId, UserId, check_id
from subacct.domain.resources import ResourceId, ResourceKind, ShareId, ShareMode, SharePermission
from subacct.errors import InvalidInput, SchemaError
from subacct.money import Money

__all__ = [
    "EVENT_TYPES",
    "AccountClosed",
    "AccountCreated",
    "AccountMoved",
    "AccountRenamed",
    "AccountStatusChanged",
    "BaseEvent",
    "ClientLinked",
    "ClientUnlinked",
    "CreditsMoved",
    "DomainEvent",
    "EventId",
    "EventMeta",
    "ImpersonationEnded",
    "ImpersonationStarted",
    "InvoiceIssued",
    "ResourceCopied",
    "ResourceCreated",
    "ResourceDeleted",
    "ResourceShared",
    "ResourceUpdated",
    "RoleChanged",
    "ShareRevoked",
    "UserCreated",
    "UserDeleted",
    "UserInvited",
    "UserRemoved",
    "UserRenamed",
    "event_from_dict",
    "event_to_dict",
]

EventId = NewType("EventId", str)

_TYPE_KEY: Final = "type"
_PERIOD: Final = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_OPERATION: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _valid_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_id(value, field=attribute.name)


def _valid_optional_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_id(value, field=attribute.name)


def _valid_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if clean_name(value, field=attribute.name) != value:
        raise InvalidInput(f"{attribute.name} must be trimmed", field=attribute.name)


def _valid_positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"{attribute.name} must be a positive integer, got {value!r}", field=attribute.name
        )


def _id_tuple(value: object) -> tuple[str, ...]:
    """Sorted, unique ids (a set of accounts or shares has no order of its own)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("expected a list of ids", field="ids")
    return tuple(sorted({check_id(v, field="ids") for v in value}))


def _of(cls: type) -> Any:
    """An attrs validator refusing values that are not ``cls`` with ``InvalidInput``."""

    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, cls):
            raise InvalidInput(
                f"{attribute.name} must be a {cls.__name__}, got {value!r}", field=attribute.name
            )

    return check


@attrs.frozen
class EventMeta:
    """What the caller supplies for an event: its id, its time and who acted."""

    event_id: EventId = attrs.field(validator=_valid_id)
    occurred_at: datetime = attrs.field(converter=utc_timestamp)
    actor: UserId | None = attrs.field(default=None, validator=_valid_optional_id)


@attrs.frozen(kw_only=True)
class BaseEvent:
    """Fields every event has. ``event_type`` is the stable wire name of the kind."""

    event_type: ClassVar[str] = "event"
    account_scoped: ClassVar[bool] = True

    event_id: EventId = attrs.field(validator=_valid_id)
    occurred_at: datetime = attrs.field(converter=utc_timestamp)
    actor: UserId | None = attrs.field(validator=_valid_optional_id)
    account_id: AccountId | None = attrs.field(validator=_valid_optional_id)

    def __attrs_post_init__(self) -> None:
        if self.account_scoped and self.account_id is None:
            raise InvalidInput(f"a {self.event_type} event needs an account_id", field="account_id")
        if not self.account_scoped and self.account_id is not None:
            raise InvalidInput(f"a {self.event_type} event is not about one account")


# -- accounts -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AccountCreated(BaseEvent):
    """A master or sub-account was created (``parent_id`` is set for a sub)."""

    event_type: ClassVar[str] = "account_created"
    name: str = attrs.field(validator=_valid_name)
    kind: AccountKind = attrs.field(validator=_of(AccountKind))
    parent_id: AccountId | None = attrs.field(validator=_valid_optional_id)


@attrs.frozen(kw_only=True)
class AccountRenamed(BaseEvent):
    event_type: ClassVar[str] = "account_renamed"
    old_name: str = attrs.field(validator=_valid_name)
    new_name: str = attrs.field(validator=_valid_name)


@attrs.frozen(kw_only=True)
class AccountMoved(BaseEvent):
    """Moved, attached (``from_parent_id`` is ``None``) or detached (``to_parent_id`` is)."""

    event_type: ClassVar[str] = "account_moved"
    from_parent_id: AccountId | None = attrs.field(validator=_valid_optional_id)
    to_parent_id: AccountId | None = attrs.field(validator=_valid_optional_id)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.from_parent_id == self.to_parent_id:
            raise InvalidInput("a move changes the parent", field="to_parent_id")


@attrs.frozen(kw_only=True)
class AccountStatusChanged(BaseEvent):
    """Suspended, paused or resumed. Closing is ``AccountClosed``."""

    event_type: ClassVar[str] = "account_status_changed"
    from_status: AccountStatus = attrs.field(validator=_of(AccountStatus))
    to_status: AccountStatus = attrs.field(validator=_of(AccountStatus))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.to_status is AccountStatus.CLOSED or self.from_status is self.to_status:
            raise InvalidInput("use AccountClosed for closing; a change changes the status")


@attrs.frozen(kw_only=True)
class AccountClosed(BaseEvent):
    event_type: ClassVar[str] = "account_closed"
    from_status: AccountStatus = attrs.field(validator=_of(AccountStatus))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.from_status is AccountStatus.CLOSED:
            raise InvalidInput("the account was closed already", field="from_status")


@attrs.frozen(kw_only=True)
class ClientLinked(BaseEvent):
    """Agency ``account_id`` linked client ``client_id`` under ``alias`` (seed 002)."""

    event_type: ClassVar[str] = "client_linked"
    client_id: AccountId = attrs.field(validator=_valid_id)
    alias: str = attrs.field(validator=_valid_name)


@attrs.frozen(kw_only=True)
class ClientUnlinked(BaseEvent):
    event_type: ClassVar[str] = "client_unlinked"
    client_id: AccountId = attrs.field(validator=_valid_id)


# -- users, memberships and impersonation -------------------------------------------------


@attrs.frozen(kw_only=True)
class UserCreated(BaseEvent):
    event_type: ClassVar[str] = "user_created"
    account_scoped: ClassVar[bool] = False
    user_id: UserId = attrs.field(validator=_valid_id)
    login: str = attrs.field(validator=_valid_name)


@attrs.frozen(kw_only=True)
class UserRenamed(BaseEvent):
    event_type: ClassVar[str] = "user_renamed"
    account_scoped: ClassVar[bool] = False
    user_id: UserId = attrs.field(validator=_valid_id)
    display_name: str = attrs.field(validator=_valid_name)


@attrs.frozen(kw_only=True)
class UserDeleted(BaseEvent):
    """The login identity is gone, with its memberships in ``removed_from``."""

    event_type: ClassVar[str] = "user_deleted"
    account_scoped: ClassVar[bool] = False
    user_id: UserId = attrs.field(validator=_valid_id)
    removed_from: tuple[AccountId, ...] = attrs.field(converter=_id_tuple)


@attrs.frozen(kw_only=True)
class UserInvited(BaseEvent):
    """User ``user_id`` got a membership with ``role`` in ``account_id``."""

    event_type: ClassVar[str] = "user_invited"
    user_id: UserId = attrs.field(validator=_valid_id)
    role: RoleId = attrs.field(validator=_valid_id)


@attrs.frozen(kw_only=True)
class RoleChanged(BaseEvent):
    event_type: ClassVar[str] = "role_changed"
    user_id: UserId = attrs.field(validator=_valid_id)
    from_role: RoleId = attrs.field(validator=_valid_id)
    to_role: RoleId = attrs.field(validator=_valid_id)


@attrs.frozen(kw_only=True)
class UserRemoved(BaseEvent):
    """User ``user_id`` lost their membership in ``account_id`` (account data is kept)."""

    event_type: ClassVar[str] = "user_removed"
    user_id: UserId = attrs.field(validator=_valid_id)
    role: RoleId = attrs.field(validator=_valid_id)


@attrs.frozen(kw_only=True)
class _Impersonation(BaseEvent):
    session_id: str = attrs.field(validator=_valid_id)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.actor is None:
            raise InvalidInput("impersonation events name the real user as actor", field="actor")


@attrs.frozen(kw_only=True)
class ImpersonationStarted(_Impersonation):
    """``actor`` (the real user) assumed the identity of ``account_id`` as ``as_role``."""

    event_type: ClassVar[str] = "impersonation_started"
    as_role: RoleId = attrs.field(validator=_valid_id)


@attrs.frozen(kw_only=True)
class ImpersonationEnded(_Impersonation):
    event_type: ClassVar[str] = "impersonation_ended"


# -- resources and sharing ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ResourceCreated(BaseEvent):
    event_type: ClassVar[str] = "resource_created"
    resource_id: ResourceId = attrs.field(validator=_valid_id)
    kind: ResourceKind = attrs.field(validator=_of(ResourceKind))
    name: str = attrs.field(validator=_valid_name)


@attrs.frozen(kw_only=True)
class ResourceUpdated(BaseEvent):
    """Account ``account_id`` (the owner, an ancestor, or a sub with an edit grant) changed it."""

    event_type: ClassVar[str] = "resource_updated"
    resource_id: ResourceId = attrs.field(validator=_valid_id)
    owner_id: AccountId = attrs.field(validator=_valid_id)
    version: int = attrs.field(validator=_valid_positive)


@attrs.frozen(kw_only=True)
class ResourceCopied(BaseEvent):
    """``account_id`` copied version ``source_version`` of another resource as its own."""

    event_type: ClassVar[str] = "resource_copied"
    resource_id: ResourceId = attrs.field(validator=_valid_id)
    kind: ResourceKind = attrs.field(validator=_of(ResourceKind))
    source_resource_id: ResourceId = attrs.field(validator=_valid_id)
    source_owner_id: AccountId = attrs.field(validator=_valid_id)
    source_version: int = attrs.field(validator=_valid_positive)


@attrs.frozen(kw_only=True)
class ResourceDeleted(BaseEvent):
    """The resource is gone, and with it the shares in ``revoked_share_ids`` (copies stay)."""

    event_type: ClassVar[str] = "resource_deleted"
    resource_id: ResourceId = attrs.field(validator=_valid_id)
    owner_id: AccountId = attrs.field(validator=_valid_id)
    revoked_share_ids: tuple[ShareId, ...] = attrs.field(converter=_id_tuple)


@attrs.frozen(kw_only=True)
class ResourceShared(BaseEvent):
    """Owner ``account_id`` shared a resource (``targets`` as in ``Share``)."""

    event_type: ClassVar[str] = "resource_shared"
    share_id: ShareId = attrs.field(validator=_valid_id)
    resource_id: ResourceId = attrs.field(validator=_valid_id)
    kind: ResourceKind = attrs.field(validator=_of(ResourceKind))
    mode: ShareMode = attrs.field(validator=_of(ShareMode))
    targets: tuple[AccountId, ...] = attrs.field(converter=_id_tuple)
    permission: SharePermission = attrs.field(validator=_of(SharePermission))


@attrs.frozen(kw_only=True)
class ShareRevoked(BaseEvent):
    event_type: ClassVar[str] = "share_revoked"
    share_id: ShareId = attrs.field(validator=_valid_id)
    resource_id: ResourceId = attrs.field(validator=_valid_id)


# -- credits and invoices -----------------------------------------------------------------


def _operation(value: object) -> str:
    if not isinstance(value, str) or _OPERATION.fullmatch(value) is None:
        raise InvalidInput(f"operation must be snake_case, got {value!r}", field="operation")
    return value


def _period(value: object) -> str:
    if not isinstance(value, str) or _PERIOD.fullmatch(value) is None:
        raise InvalidInput(f"period must look like 'YYYY-MM', got {value!r}", field="period")
    return value


_MAX_KEY: Final = 200  # as the ledger's idempotency keys (subacct.pricing.ledger)


def _valid_key(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An idempotency key: printable text without whitespace, 1 to 200 characters."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= _MAX_KEY
        or not value.isprintable()
        or " " in value
    ):
        raise InvalidInput(
            f"{attribute.name} must be 1 to {_MAX_KEY} printable characters without spaces",
            field=attribute.name,
        )


def _amount(_: object, attribute: attrs.Attribute[Any], value: Money) -> None:
    if not isinstance(value, Money) or value.is_negative() or value.is_zero():
        raise InvalidInput(f"{attribute.name} must be positive Money", field=attribute.name)


@attrs.frozen(kw_only=True)
class CreditsMoved(BaseEvent):
    """A ledger operation moved ``amount``; ``None`` on a side is money outside the system
    (a card top-up) or spent on usage."""

    event_type: ClassVar[str] = "credits_moved"
    operation: str = attrs.field(converter=_operation)
    idempotency_key: str = attrs.field(validator=_valid_key)
    from_account_id: AccountId | None = attrs.field(validator=_valid_optional_id)
    to_account_id: AccountId | None = attrs.field(validator=_valid_optional_id)
    amount: Money = attrs.field(validator=_amount)


@attrs.frozen(kw_only=True)
class InvoiceIssued(BaseEvent):
    """Invoice ``invoice_id`` for ``period`` (``"YYYY-MM"``) was issued to ``account_id``."""

    event_type: ClassVar[str] = "invoice_issued"
    invoice_id: str = attrs.field(validator=_valid_id)
    period: str = attrs.field(converter=_period)
    total: Money = attrs.field(validator=_of(Money))


DomainEvent: TypeAlias = (
    AccountCreated
    | AccountRenamed
    | AccountMoved
    | AccountStatusChanged
    | AccountClosed
    | ClientLinked
    | ClientUnlinked
    | UserCreated
    | UserRenamed
    | UserDeleted
    | UserInvited
    | RoleChanged
    | UserRemoved
    | ImpersonationStarted
    | ImpersonationEnded
    | ResourceCreated
    | ResourceUpdated
    | ResourceCopied
    | ResourceDeleted
    | ResourceShared
    | ShareRevoked
    | CreditsMoved
    | InvoiceIssued
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
        raise SchemaError(f"unknown event type {kind!r}", type=kind)
    body = {k: v for k, v in data.items() if k != _TYPE_KEY}
    return cast("DomainEvent", structure(body, cls))
