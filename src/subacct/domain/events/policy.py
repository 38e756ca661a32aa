"""Events about the permission policy: roles, ceilings, API keys, impersonation settings."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import utc_timestamp
from subacct.domain.events._base import (
    BaseEvent,
    text_tuple,
    valid_code,
    valid_id,
    valid_name,
    valid_optional_id,
)
from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.errors import InvalidInput, quoted

__all__ = [
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "ApiKeyRotated",
    "CeilingRemoved",
    "CeilingSet",
    "ImpersonationSettingChanged",
    "RoleDefined",
]


@attrs.frozen(kw_only=True)
class RoleDefined(BaseEvent):
    """A custom role was stored (``replaced``: it had a definition before)."""

    event_type: ClassVar[str] = "role_defined"
    account_scoped: ClassVar[bool | None] = False
    role_id: RoleId = attrs.field(validator=valid_id)
    name: str = attrs.field(validator=valid_name)
    actions: tuple[str, ...] = attrs.field(converter=text_tuple)
    inherits: bool = attrs.field(validator=instance_of(bool))
    replaced: bool = attrs.field(validator=instance_of(bool))


@attrs.frozen(kw_only=True)
class CeilingSet(BaseEvent):
    """``set_by`` (``None``: the platform) bounded ``account_id`` to ``actions``."""

    event_type: ClassVar[str] = "ceiling_set"
    set_by: AccountId | None = attrs.field(validator=valid_optional_id)
    actions: tuple[str, ...] = attrs.field(converter=text_tuple)


@attrs.frozen(kw_only=True)
class CeilingRemoved(BaseEvent):
    """The ceiling ``set_by`` placed on ``account_id`` is gone: lifted on request
    (``reason="requested"``), or dropped by a move because ``set_by`` is no longer above
    the account (``"set_by_not_an_ancestor"``, ``subacct.policy.ceilings.STRANDED``)."""

    event_type: ClassVar[str] = "ceiling_removed"
    set_by: AccountId | None = attrs.field(validator=valid_optional_id)
    reason: str = attrs.field(default="requested", validator=valid_code)


def _optional_time(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="expires_at")


def _time(value: object) -> datetime:
    return utc_timestamp(value, field="old_secret_valid_until")


def _key_kind(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in ("personal", "account"):
        raise InvalidInput(f"kind must be 'personal' or 'account', got {quoted(value)}")


@attrs.frozen(kw_only=True)
class ApiKeyCreated(BaseEvent):
    """Key ``api_key_id`` of ``account_id`` was made by ``created_by`` (never its secret);
    ``kind`` is ``"personal"`` or ``"account"``, ``expires_at`` its end, if any. (Events
    stored before kinds existed load as personal keys without an end.)"""

    event_type: ClassVar[str] = "api_key_created"
    api_key_id: str = attrs.field(validator=valid_id)
    name: str = attrs.field(validator=valid_name)
    created_by: UserId = attrs.field(validator=valid_id)
    actions: tuple[str, ...] = attrs.field(converter=text_tuple)
    kind: str = attrs.field(default="personal", validator=_key_kind)
    expires_at: datetime | None = attrs.field(default=None, converter=_optional_time)


@attrs.frozen(kw_only=True)
class ApiKeyRevoked(BaseEvent):
    """Key ``api_key_id`` no longer acts: revoked on request (``reason="requested"``), or
    a personal key whose creator left the account (``"creator_left"``)."""

    event_type: ClassVar[str] = "api_key_revoked"
    api_key_id: str = attrs.field(validator=valid_id)
    reason: str = attrs.field(default="requested", validator=valid_code)


@attrs.frozen(kw_only=True)
class ApiKeyRotated(BaseEvent):
    """Key ``api_key_id`` got a new secret; its older secrets sign in until
    ``old_secret_valid_until`` (never the secrets themselves)."""

    event_type: ClassVar[str] = "api_key_rotated"
    api_key_id: str = attrs.field(validator=valid_id)
    old_secret_valid_until: datetime = attrs.field(converter=_time)


@attrs.frozen(kw_only=True)
class ImpersonationSettingChanged(BaseEvent):
    """Whether administrators above may impersonate ``account_id``."""

    event_type: ClassVar[str] = "impersonation_setting_changed"
    allowed: bool = attrs.field(validator=instance_of(bool))
