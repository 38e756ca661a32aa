"""Users (login identities) and memberships (a user's role in one account).

A login is unique across the whole system after normalization: Unicode NFKC (full-width
and other compatibility forms become their plain letters), case folded, surrounding
spaces trimmed, so ``" Ann@Example.com "``, ``"ann@example.com"`` and the same with
a full-width ``Ann`` are the same login. Control and invisible formatting characters
(NUL, escape, zero-width, bidirectional controls) are refused, so no login can pass for
another. A user may hold one membership per account, in as many accounts as needed.
Removing a membership or a user never touches account data.

>>> from datetime import datetime, UTC
>>> from subacct.domain import User, UserId, normalize_login
>>> normalize_login("  Ann@Example.COM ")
'ann@example.com'
>>> normalize_login("\uff21\uff4e\uff4e@example.com")  # full-width "Ann"
'ann@example.com'
>>> User(UserId("u1"), " Ann@Example.COM", "Ann", datetime(2026, 1, 1, tzinfo=UTC)).login
'ann@example.com'
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

import attrs

from subacct.domain._validate import (
    clean_name,
    plain_text,
    positive_version,
    utc_timestamp,
)
from subacct.domain.ids import AccountId, RoleId, UserId, check_id
from subacct.errors import InvalidInput, quoted

__all__ = ["Membership", "User", "normalize_login"]

_MAX_LOGIN = 254


def normalize_login(value: object) -> str:
    """The login as stored and compared: NFKC, case-folded, then NFKC again (a folded
    string need not be normalized, and a login normalized twice must not change again),
    trimmed. Refuse empty logins, logins with inner spaces and logins holding a control
    or invisible formatting character (``InvalidInput``, field ``login``)."""
    if not isinstance(value, str):
        raise InvalidInput("login must be a string", field="login")
    if len(value) > 4 * _MAX_LOGIN:  # before any work on a huge value
        raise InvalidInput(f"login is longer than {_MAX_LOGIN} characters", field="login")
    folded = unicodedata.normalize("NFKC", value).casefold()
    login = unicodedata.normalize("NFKC", folded).strip()
    if not login:
        raise InvalidInput("login must not be empty or whitespace", field="login")
    if len(login) > _MAX_LOGIN:
        raise InvalidInput(f"login is longer than {_MAX_LOGIN} characters", field="login")
    if any(c.isspace() for c in login):
        raise InvalidInput(f"login {quoted(value)} must not contain spaces", field="login")
    return plain_text(login, field="login")


def _user_id(value: object) -> UserId:
    return UserId(check_id(value, field="user_id"))


def _account_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _role_id(value: object) -> RoleId:
    return RoleId(check_id(value, field="role"))


def _display_name(value: object) -> str:
    return clean_name(value, field="display_name")


@attrs.frozen
class User:
    """A login identity. ``login`` is stored normalized."""

    id: UserId = attrs.field(converter=_user_id)
    login: str = attrs.field(converter=normalize_login)
    display_name: str = attrs.field(converter=_display_name)
    created_at: datetime = attrs.field(converter=utc_timestamp)
    version: int = attrs.field(default=1, converter=positive_version)

    def renamed(self, display_name: str) -> User:
        return attrs.evolve(
            self, display_name=_display_name(display_name), version=self.version + 1
        )


@attrs.frozen
class Membership:
    """User ``user_id`` holds ``role`` in account ``account_id`` (one per user and account)."""

    user_id: UserId = attrs.field(converter=_user_id)
    account_id: AccountId = attrs.field(converter=_account_id)
    role: RoleId = attrs.field(converter=_role_id)
    created_at: datetime = attrs.field(converter=utc_timestamp)
    version: int = attrs.field(default=1, converter=positive_version)

    def with_role(self, role: RoleId) -> Membership:
        return attrs.evolve(self, role=_role_id(role), version=self.version + 1)
