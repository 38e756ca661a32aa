"""Events about accounts, agency links, users, memberships and impersonation."""

from __future__ import annotations

from typing import ClassVar

import attrs

from subacct._validators import instance_of
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


@attrs.frozen(kw_only=True)
class ClientLinked(BaseEvent):
    """Agency ``account_id`` linked client ``client_id`` under ``alias`` (seed 002)."""

    event_type: ClassVar[str] = "client_linked"
    client_id: AccountId = attrs.field(validator=valid_id)
    alias: str = attrs.field(validator=valid_name)


@attrs.frozen(kw_only=True)
class ClientUnlinked(BaseEvent):
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


@attrs.frozen(kw_only=True)
class ImpersonationEnded(BaseEvent):
    """The session ended; ``actor`` is who ended it (``None``: the system), ``real_user_id``
    the user who impersonated."""

    event_type: ClassVar[str] = "impersonation_ended"
    session_id: str = attrs.field(validator=valid_id)
    real_user_id: UserId = attrs.field(validator=valid_id)
