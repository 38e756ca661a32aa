"""API keys: principals that act for one account with a fixed subset of their creator's rights.

Two kinds, chosen when the key is made (``ApiKeyKind``):

* a **personal** key (the default) acts for its creator: at every check its rights are
  its grants intersected with the creator's *current* rights in the account, so a
  demotion narrows it at once; it is revoked when the creator leaves (no membership left
  in the key's account or above it: ``orphaned_keys``), and a key stored before kinds
  existed is personal;
* an **account** key belongs to the account (an integration, a CI job): it keeps its
  grants whoever leaves. Making, rotating and revoking one needs ``api_keys.manage_account``
  (``MANAGE_ACCOUNT_KEYS``) instead of ``api_keys.manage``.

Either kind is made within its creator's rights (``plan_api_key``), is bounded by the
account's ceilings at every check, may expire (``expires_at``; ``expired``) and is ended
for good by ``revoke``. A key's secret is stored only hashed (``ApiKeyCredential``); a
rotation adds a credential and gives the old ones an end (``valid_until``, ``rotated``).
Hosts load the key for each request (they must, to verify its secret, which the library
never sees) and pass it as the principal. A ``PolicyIndex`` has no clock: it refuses a
revoked key but leaves ``expired(now)`` to the caller (``app.policy`` checks it in every
call).

>>> from datetime import datetime, timedelta, UTC
>>> from subacct.policy import ApiKey, ApiKeyKind, Grant, SEND_MESSAGES
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> key = ApiKey("key1", "agency1", "CRM sync", "ann", [Grant(SEND_MESSAGES)], t0)
>>> key.kind, key.is_active, key.revoked(t0).is_active
(<ApiKeyKind.PERSONAL: 'personal'>, True, False)
>>> ci = ApiKey("key2", "agency1", "CI", "ann", [Grant(SEND_MESSAGES)], t0,
...             kind=ApiKeyKind.ACCOUNT, expires_at=t0 + timedelta(days=90))
>>> ci.expired(t0 + timedelta(days=89)), ci.expired(t0 + timedelta(days=90))
(False, True)
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NewType

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import clean_name, utc_timestamp
from subacct.domain.ids import AccountId, UserId, check_id
from subacct.errors import Conflict, InvalidInput, quoted
from subacct.policy.actions import MANAGE_ACCOUNT_KEYS, MANAGE_API_KEYS, Action, Scope
from subacct.policy.roles import Grant, check_grants

__all__ = [
    "CREATOR_LEFT",
    "USE_API_KEY",
    "ApiKey",
    "ApiKeyCredential",
    "ApiKeyId",
    "ApiKeyKind",
    "ApiKeyUse",
    "managing_action",
    "orphaned_keys",
    "revoke",
    "rotated",
    "secret_hash",
    "use_is_due",
]

ApiKeyId = NewType("ApiKeyId", str)

CREATOR_LEFT = "creator_left"
"""The ``reason`` of the ``api_key_revoked`` event of a personal key whose creator left."""


USE_API_KEY = Action("api_keys.use")
"""The name audit records and denials give to acting with a key that can no longer act
(revoked or expired: refused before anything else; not a catalog action)."""


class ApiKeyKind(enum.Enum):
    """Whose rights a key acts with (see the module docstring)."""

    PERSONAL = "personal"
    ACCOUNT = "account"


def managing_action(kind: ApiKeyKind) -> Action:
    """The right that makes, rotates and revokes keys of ``kind`` in their account.

    >>> managing_action(ApiKeyKind.ACCOUNT)
    'api_keys.manage_account'
    """
    return MANAGE_ACCOUNT_KEYS if kind is ApiKeyKind.ACCOUNT else MANAGE_API_KEYS


def _revoked_at(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="revoked_at")


def _expires_at(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="expires_at")


def _valid_until(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="valid_until")


def _used_at(value: object) -> datetime:
    return utc_timestamp(value, field="last_used_at")


def _key_id(value: object) -> ApiKeyId:
    return ApiKeyId(check_id(value, field="api_key_id"))


def _account(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _user(value: object) -> UserId:
    return UserId(check_id(value, field="created_by"))


@attrs.frozen
class ApiKey:
    """Key ``id`` of ``account_id``, made by ``created_by``; ``revoked_at`` ends it for good,
    ``expires_at`` (if set) ends it at that time."""

    id: ApiKeyId = attrs.field(converter=_key_id)
    account_id: AccountId = attrs.field(converter=_account)
    name: str = attrs.field(converter=clean_name)
    created_by: UserId = attrs.field(converter=_user)
    grants: tuple[Grant, ...] = attrs.field(converter=check_grants)
    created_at: datetime = attrs.field(converter=utc_timestamp)
    revoked_at: datetime | None = attrs.field(default=None, converter=_revoked_at)
    kind: ApiKeyKind = attrs.field(
        default=ApiKeyKind.PERSONAL, validator=instance_of(ApiKeyKind), kw_only=True
    )
    expires_at: datetime | None = attrs.field(default=None, converter=_expires_at, kw_only=True)
    rights: Mapping[Action, Scope] = attrs.field(init=False, eq=False, repr=False, hash=False)

    @rights.default
    def _rights(self) -> Mapping[Action, Scope]:
        return MappingProxyType({g.action: g.scope for g in self.grants})

    def __attrs_post_init__(self) -> None:
        if self.revoked_at is not None and self.revoked_at < self.created_at:
            raise InvalidInput(
                "an API key cannot be revoked before it was made", field="revoked_at"
            )
        if self.expires_at is not None and self.expires_at <= self.created_at:
            raise InvalidInput("an API key must expire after it was made", field="expires_at")

    @property
    def is_active(self) -> bool:
        """Not revoked (it may still have expired: ``expired``)."""
        return self.revoked_at is None

    @property
    def is_personal(self) -> bool:
        return self.kind is ApiKeyKind.PERSONAL

    def expired(self, at: datetime) -> bool:
        """Whether the key has expired at ``at`` (from ``expires_at`` on)."""
        return self.expires_at is not None and at >= self.expires_at

    def revoked(self, at: datetime) -> ApiKey:
        """The key, revoked at ``at`` (revoking twice keeps the first time)."""
        if self.revoked_at is not None:
            return self
        return attrs.evolve(self, revoked_at=at)


def revoke(key: ApiKey, at: datetime) -> ApiKey:
    """``key`` revoked at ``at``; a key revoked already is a ``Conflict`` (check the
    caller's right first: the refusal must not tell a stranger the key's state)."""
    if not key.is_active:
        raise Conflict(f"API key {quoted(key.id)} is already revoked", api_key_id=key.id)
    return key.revoked(at)


def orphaned_keys(
    keys: Iterable[ApiKey],
    held: Collection[AccountId],
    ancestors: Mapping[AccountId, Collection[AccountId]],
) -> list[ApiKey]:
    """The active personal keys among ``keys`` (all made by one user) that their creator
    has left: the user, holding memberships in ``held``, has none in the key's account
    nor in any of its ancestors (``ancestors[key.account_id]``). Revoke them.

    >>> from datetime import datetime, UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> key = ApiKey("k1", "agency1", "CRM", "ann", [], t0)
    >>> [k.id for k in orphaned_keys([key], ["othermaster"], {"agency1": ["agencydemo"]})]
    ['k1']
    >>> orphaned_keys([key], ["agencydemo"], {"agency1": ["agencydemo"]})
    []
    """
    out = []
    for key in keys:
        if not key.is_personal or not key.is_active:
            continue
        reach = (key.account_id, *ancestors.get(key.account_id, ()))
        if not any(account in held for account in reach):
            out.append(key)
    return out


def _secret_hash(value: object) -> str:
    if not isinstance(value, str) or len(value) < 32 or not value.isalnum():
        raise InvalidInput("secret_hash must be a hex digest of at least 32 characters")
    return value


@attrs.frozen
class ApiKeyCredential:
    """Maps the hash of an API key's secret to the key. The secret itself is never stored:
    the host shows it once and keeps only ``secret_hash`` (e.g. SHA-256 hex). A rotated
    secret works until ``valid_until`` (``None``: no end of its own)."""

    secret_hash: str = attrs.field(converter=_secret_hash)
    key_id: ApiKeyId = attrs.field(converter=_key_id)
    valid_until: datetime | None = attrs.field(default=None, converter=_valid_until)

    def valid_at(self, at: datetime) -> bool:
        """Whether this secret still signs in at ``at`` (before ``valid_until``)."""
        return self.valid_until is None or at < self.valid_until


def rotated(
    credentials: Iterable[ApiKeyCredential], at: datetime, until: datetime | None
) -> list[ApiKeyCredential]:
    """The key's credentials still valid at ``at``, each now ending at ``until`` (``None``:
    at once, ``at``); one that ended earlier keeps its end. What a rotation stores beside
    the new secret's credential.

    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> old = ApiKeyCredential("a" * 64, "k1")
    >>> [c.valid_until == t0 + timedelta(days=1) for c in rotated([old], t0, t0 + timedelta(1))]
    [True]
    """
    end = at if until is None else until
    if end < at:
        raise InvalidInput(
            "the old secret cannot stop working before the rotation", field="old_secret_valid_until"
        )
    return [
        attrs.evolve(c, valid_until=end if c.valid_until is None else min(c.valid_until, end))
        for c in credentials
        if c.valid_at(at)
    ]


def secret_hash(secret: str) -> str:
    """The SHA-256 hex digest stored for an API key secret (the secret is never stored).

    >>> len(secret_hash("sk_example"))
    64
    """
    if not isinstance(secret, str):
        raise InvalidInput("an API key secret is a string", field="secret")
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen
class ApiKeyUse:
    """When key ``key_id`` was last used: written at most once per
    ``Settings.api_key_use_interval`` (``use_is_due``), outside the policy data, so it
    never invalidates a cached policy."""

    key_id: ApiKeyId = attrs.field(converter=_key_id)
    last_used_at: datetime = attrs.field(converter=_used_at)


def use_is_due(last_used_at: datetime | None, at: datetime, every: timedelta) -> bool:
    """Whether a use at ``at`` is recorded, the last recorded one being ``last_used_at``:
    the first use, and then one at least ``every`` later.

    >>> from datetime import datetime, timedelta, UTC
    >>> t0, five = datetime(2026, 1, 1, tzinfo=UTC), timedelta(minutes=5)
    >>> use_is_due(None, t0, five), use_is_due(t0, t0 + timedelta(minutes=4), five)
    (True, False)
    >>> use_is_due(t0, t0 + five, five)
    True
    """
    return last_used_at is None or at - last_used_at >= every
