"""Events about accounts, agency links, users, memberships and impersonation."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import utc_timestamp
from subacct.domain.accounts import AccountKind, AccountStatus
from subacct.domain.events._base import (
    BaseEvent,
    id_tuple,
    valid_id,
    valid_name,
    valid_optional_id,
)
from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.errors import InvalidInput

__all__ = [
    "AccountClosed",
    "AccountCreated",
    "AccountMoved",
    "AccountRenamed",
    "AccountStatusChanged",
    "ClientLinkDeclined",
    "ClientLinkRequested",
    "ClientLinked",
    "ClientUnlinked",
    "ImpersonationEnded",
    "ImpersonationStarted",
    "RoleChanged",
    "UserCreated",
    "UserDeleted",
    "UserInvited",
    "UserRemoved",
    "UserRenamed",
]


@attrs.frozen(kw_only=True)
class AccountCreated(BaseEvent):
    """A master or sub-account was created (``parent_id`` is set for a sub)."""

    event_type: ClassVar[str] = "account_created"
    name: str = attrs.field(validator=valid_name)
    kind: AccountKind = attrs.field(validator=instance_of(AccountKind))
    parent_id: AccountId | None = attrs.field(validator=valid_optional_id)


@attrs.frozen(kw_only=True)
class AccountRenamed(BaseEvent):
    event_type: ClassVar[str] = "account_renamed"
    old_name: str = attrs.field(validator=valid_name)
    new_name: str = attrs.field(validator=valid_name)


@attrs.frozen(kw_only=True)
class AccountMoved(BaseEvent):
    """Moved, attached (``from_parent_id`` is ``None``) or detached (``to_parent_id`` is)."""

    event_type: ClassVar[str] = "account_moved"
    from_parent_id: AccountId | None = attrs.field(validator=valid_optional_id)
    to_parent_id: AccountId | None = attrs.field(validator=valid_optional_id)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.from_parent_id == self.to_parent_id:
            raise InvalidInput("a move changes the parent", field="to_parent_id")


@attrs.frozen(kw_only=True)
class AccountStatusChanged(BaseEvent):
    """Suspended, paused or resumed. Closing is ``AccountClosed``."""

    event_type: ClassVar[str] = "account_status_changed"
    from_status: AccountStatus = attrs.field(validator=instance_of(AccountStatus))
    to_status: AccountStatus = attrs.field(validator=instance_of(AccountStatus))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.to_status is AccountStatus.CLOSED or self.from_status is self.to_status:
            raise InvalidInput("use AccountClosed for closing; a change changes the status")


@attrs.frozen(kw_only=True)
class AccountClosed(BaseEvent):
    event_type: ClassVar[str] = "account_closed"
    from_status: AccountStatus = attrs.field(validator=instance_of(AccountStatus))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.from_status is AccountStatus.CLOSED:
            raise InvalidInput("the account was closed already", field="from_status")


def _time(value: object) -> datetime:
    return utc_timestamp(value, field="expires_at")


def _optional_time(value: object) -> datetime | None:
    return None if value is None else _time(value)


@attrs.frozen(kw_only=True)
class ClientLinkRequested(BaseEvent):
    """Agency ``account_id`` asked to link client ``client_id`` under ``alias``; its
    administrators would act there as ``access_role``. The request's token is never in an
    event."""

    event_type: ClassVar[str] = "client_link_requested"
    client_id: AccountId = attrs.field(validator=valid_id)
    request_id: str = attrs.field(validator=valid_id)
    alias: str = attrs.field(validator=valid_name)
    access_role: RoleId = attrs.field(validator=valid_id)
    expires_at: datetime = attrs.field(converter=_time)


@attrs.frozen(kw_only=True)
class ClientLinkDeclined(BaseEvent):
    """An administrator of client ``client_id`` declined agency ``account_id``'s request."""

    event_type: ClassVar[str] = "client_link_declined"
    client_id: AccountId = attrs.field(validator=valid_id)
    request_id: str = attrs.field(validator=valid_id)


@attrs.frozen(kw_only=True)
class ClientLinked(BaseEvent):
    """Client ``client_id`` accepted agency ``account_id``'s request ``request_id``: linked
    under ``alias``, the agency's administrators acting there as ``access_role`` (seed 002)."""

    event_type: ClassVar[str] = "client_linked"
    client_id: AccountId = attrs.field(validator=valid_id)
    alias: str = attrs.field(validator=valid_name)
    # defaults: an event logged before schema version 18 (the role links then acted with)
    access_role: RoleId = attrs.field(default=RoleId("agency_manager"), validator=valid_id)
    request_id: str | None = attrs.field(default=None, validator=valid_optional_id)


@attrs.frozen(kw_only=True)
class ClientUnlinked(BaseEvent):
    """The link of client ``client_id`` to agency ``account_id`` ended (by either side):
    the agency's access there ended with it."""

    event_type: ClassVar[str] = "client_unlinked"
    client_id: AccountId = attrs.field(validator=valid_id)


@attrs.frozen(kw_only=True)
class UserCreated(BaseEvent):
    event_type: ClassVar[str] = "user_created"
    account_scoped: ClassVar[bool | None] = False
    user_id: UserId = attrs.field(validator=valid_id)
    login: str = attrs.field(validator=valid_name)


@attrs.frozen(kw_only=True)
class UserRenamed(BaseEvent):
    event_type: ClassVar[str] = "user_renamed"
    account_scoped: ClassVar[bool | None] = False
    user_id: UserId = attrs.field(validator=valid_id)
    display_name: str = attrs.field(validator=valid_name)


@attrs.frozen(kw_only=True)
class UserDeleted(BaseEvent):
    """The login identity is gone, with its memberships in ``removed_from``."""

    event_type: ClassVar[str] = "user_deleted"
    account_scoped: ClassVar[bool | None] = False
    user_id: UserId = attrs.field(validator=valid_id)
    removed_from: tuple[AccountId, ...] = attrs.field(converter=id_tuple)


@attrs.frozen(kw_only=True)
class UserInvited(BaseEvent):
    """User ``user_id`` got a membership with ``role`` in ``account_id``."""

    event_type: ClassVar[str] = "user_invited"
    user_id: UserId = attrs.field(validator=valid_id)
    role: RoleId = attrs.field(validator=valid_id)


@attrs.frozen(kw_only=True)
class RoleChanged(BaseEvent):
    event_type: ClassVar[str] = "role_changed"
    user_id: UserId = attrs.field(validator=valid_id)
    from_role: RoleId = attrs.field(validator=valid_id)
    to_role: RoleId = attrs.field(validator=valid_id)


@attrs.frozen(kw_only=True)
class UserRemoved(BaseEvent):
    """User ``user_id`` lost their membership in ``account_id`` (account data is kept)."""

    event_type: ClassVar[str] = "user_removed"
    user_id: UserId = attrs.field(validator=valid_id)
    role: RoleId = attrs.field(validator=valid_id)


@attrs.frozen(kw_only=True)
class _Impersonation(BaseEvent):
    session_id: str = attrs.field(validator=valid_id)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.actor is None:
            raise InvalidInput("impersonation events name the real user as actor", field="actor")


@attrs.frozen(kw_only=True)
class ImpersonationStarted(_Impersonation):
    """``actor`` (the real user) assumed the identity of ``account_id`` as ``as_role``."""

    event_type: ClassVar[str] = "impersonation_started"
    as_role: RoleId = attrs.field(validator=valid_id)
    reason: str | None = attrs.field(default=None)
    expires_at: datetime | None = attrs.field(default=None, converter=_optional_time)


@attrs.frozen(kw_only=True)
class ImpersonationEnded(BaseEvent):
    """The session ended; ``actor`` is who ended it (``None``: the system), ``real_user_id``
    the user who impersonated."""

    event_type: ClassVar[str] = "impersonation_ended"
    session_id: str = attrs.field(validator=valid_id)
    real_user_id: UserId = attrs.field(validator=valid_id)
