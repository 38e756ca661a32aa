"""Impersonation ("log on as the sub-account", seed 000) and the per-account opt-out.

An ``ImpersonationSession`` is made by ``plan_impersonation``: an administrator of a strict
ancestor of ``account_id`` assumes the identity of that account with the rights of
``as_role`` (the sub-account administrator by default). While it lasts, the session is the
principal passed to ``check``; decisions and audit records name both the real user and the
impersonated account. It acts in that one account only, never up or sideways.

A session records why it was started (``reason``) and expires at ``expires_at``
(``Settings.impersonation_ttl`` after it starts, when started through ``app.policy``): from
then on it grants nothing, as if ended, and reads as ``expired`` (``status_at``). The
policy index has no clock, so the unit of work refuses an expired session before it
asks the index (``impersonation_expired``); a host using the index directly checks
``expired(now)`` itself.

``ImpersonationSetting`` lets an account forbid being impersonated at all.

>>> from datetime import datetime, timedelta, UTC
>>> from subacct.policy import ImpersonationSession
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> s = ImpersonationSession("imp1", "ann", "agency1", t0, expires_at=t0 + timedelta(hours=1),
...                          reason="ticket 4521: template broken")
>>> s.as_role, s.is_active, s.ended(t0).is_active
('sub_admin', True, False)
>>> s.status_at(t0).value, s.status_at(t0 + timedelta(hours=1)).value
('active', 'expired')
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import NewType

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import clean_name, utc_timestamp
from subacct.domain.ids import AccountId, RoleId, UserId, check_id
from subacct.errors import Conflict, InvalidInput, quoted
from subacct.policy.roles import SUB_ADMIN_ID

__all__ = [
    "ImpersonationId",
    "ImpersonationSession",
    "ImpersonationSetting",
    "ImpersonationStatus",
    "end",
]

ImpersonationId = NewType("ImpersonationId", str)


def _optional_time(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="ended_at")


def _account(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _session_id(value: object) -> ImpersonationId:
    return ImpersonationId(check_id(value, field="impersonation_id"))


def _user(value: object) -> UserId:
    return UserId(check_id(value, field="real_user_id"))


def _role(value: object) -> RoleId:
    return RoleId(check_id(value, field="as_role"))


def _expires(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="expires_at")


def _reason(value: object) -> str | None:
    return None if value is None else clean_name(value, field="reason")


class ImpersonationStatus(enum.Enum):
    """Where a session stands at a given time."""

    ACTIVE = "active"
    ENDED = "ended"
    EXPIRED = "expired"


@attrs.frozen
class ImpersonationSession:
    """``real_user_id`` acting as account ``account_id`` with the rights of ``as_role``,
    for ``reason``, until ``expires_at`` (``None``: a session stored before schema version
    18, which does not expire)."""

    id: ImpersonationId = attrs.field(converter=_session_id)
    real_user_id: UserId = attrs.field(converter=_user)
    account_id: AccountId = attrs.field(converter=_account)
    started_at: datetime = attrs.field(converter=utc_timestamp)
    as_role: RoleId = attrs.field(default=SUB_ADMIN_ID, converter=_role)
    ended_at: datetime | None = attrs.field(default=None, converter=_optional_time)
    expires_at: datetime | None = attrs.field(default=None, converter=_expires, kw_only=True)
    reason: str | None = attrs.field(default=None, converter=_reason, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise InvalidInput("an impersonation cannot end before it starts", field="ended_at")
        if self.expires_at is not None and self.expires_at <= self.started_at:
            raise InvalidInput("an impersonation expires after it starts", field="expires_at")

    def expired(self, at: datetime) -> bool:
        """True when the session had not ended by its ``expires_at`` and ``at`` is past it."""
        return self.status_at(at) is ImpersonationStatus.EXPIRED

    def status_at(self, at: datetime) -> ImpersonationStatus:
        """Ended (by someone), expired (its time is up, not ended), or active at ``at``."""
        if self.ended_at is not None:
            return ImpersonationStatus.ENDED
        if self.expires_at is not None and at >= self.expires_at:
            return ImpersonationStatus.EXPIRED
        return ImpersonationStatus.ACTIVE

    @property
    def is_active(self) -> bool:
        return self.ended_at is None

    def ended(self, at: datetime) -> ImpersonationSession:
        """The session, ended at ``at`` (ending twice keeps the first time)."""
        if self.ended_at is not None:
            return self
        return attrs.evolve(self, ended_at=at)


def end(session: ImpersonationSession, at: datetime) -> ImpersonationSession:
    """``session`` ended at ``at``; one that has ended already is a ``Conflict`` (check the
    caller's right first: the refusal must not tell a stranger the session's state)."""
    if not session.is_active:
        raise Conflict(
            f"impersonation {quoted(session.id)} has ended already", session_id=session.id
        )
    return session.ended(at)


@attrs.frozen
class ImpersonationSetting:
    """Whether administrators of ancestors may impersonate ``account_id`` (default: yes)."""

    account_id: AccountId = attrs.field(converter=_account)
    allow_impersonation: bool = attrs.field(validator=instance_of(bool))
