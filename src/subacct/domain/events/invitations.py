"""Events about invitations by e-mail, seat limits and ownership of top-level accounts."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import attrs

from subacct.domain._validate import utc_timestamp
from subacct.domain.events._base import BaseEvent, valid_id, valid_optional_id, valid_positive
from subacct.domain.ids import RoleId, UserId
from subacct.domain.invitations import normalize_email

__all__ = [
    "InvitationAccepted",
    "InvitationResent",
    "InvitationRevoked",
    "InvitationSent",
    "OwnershipTransferred",
    "SeatLimitSet",
]


def _email(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    normalize_email(value)


def _time(_: object, attribute: attrs.Attribute[datetime], value: object) -> None:
    utc_timestamp(value, field=attribute.name)


def _optional_limit(_: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is not None:
        valid_positive(_, attribute, value)


@attrs.frozen(kw_only=True)
class InvitationSent(BaseEvent):
    """``email`` was invited to ``account_id`` with ``role``, until ``expires_at`` (the
    host sends the token, which no event carries)."""

    event_type: ClassVar[str] = "invitation_sent"
    invitation_id: str = attrs.field(validator=valid_id)
    email: str = attrs.field(validator=_email)
    role: RoleId = attrs.field(validator=valid_id)
    expires_at: datetime = attrs.field(validator=_time)


@attrs.frozen(kw_only=True)
class InvitationResent(BaseEvent):
    """The invitation got a new token (the old one stopped working) and a new expiry."""

    event_type: ClassVar[str] = "invitation_resent"
    invitation_id: str = attrs.field(validator=valid_id)
    email: str = attrs.field(validator=_email)
    expires_at: datetime = attrs.field(validator=_time)
    sends: int = attrs.field(validator=valid_positive)


@attrs.frozen(kw_only=True)
class InvitationRevoked(BaseEvent):
    event_type: ClassVar[str] = "invitation_revoked"
    invitation_id: str = attrs.field(validator=valid_id)


@attrs.frozen(kw_only=True)
class InvitationAccepted(BaseEvent):
    """User ``user_id`` accepted the invitation (``new_user``: the acceptance created
    them); the membership's own event is ``user_invited``."""

    event_type: ClassVar[str] = "invitation_accepted"
    invitation_id: str = attrs.field(validator=valid_id)
    user_id: UserId = attrs.field(validator=valid_id)
    role: RoleId = attrs.field(validator=valid_id)
    new_user: bool = attrs.field(validator=attrs.validators.instance_of(bool))


@attrs.frozen(kw_only=True)
class SeatLimitSet(BaseEvent):
    """The account's seat limit (``None``: removed)."""

    event_type: ClassVar[str] = "seat_limit_set"
    limit: int | None = attrs.field(validator=_optional_limit)


@attrs.frozen(kw_only=True)
class OwnershipTransferred(BaseEvent):
    """``to_user_id`` now holds the owner role of the top-level account; ``from_user_id``
    (if any) handed it over and now holds ``then_role`` (``None``: they left)."""

    event_type: ClassVar[str] = "ownership_transferred"
    to_user_id: UserId = attrs.field(validator=valid_id)
    from_user_id: UserId | None = attrs.field(validator=valid_optional_id)
    role: RoleId = attrs.field(validator=valid_id)
    then_role: RoleId | None = attrs.field(validator=valid_optional_id)
