"""API keys: principals that act for one account with a fixed subset of their creator's rights.

A key belongs to its account, not to the user who made it: removing that user leaves the
key working (seed 004: users come and go "without impacting the account"); revoke it
explicitly. When made, its grants must be a subset of the creator's rights in that account
(``plan_api_key``); at every check the account's ceilings still apply. A revoked key is
refused at once: hosts load the key record for each request (they must, to verify its
secret, which the library never sees) and pass it as the principal.

>>> from datetime import datetime, UTC
>>> from subacct.policy import ApiKey, Grant, SEND_MESSAGES
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> key = ApiKey("key1", "agency1", "CRM sync", "ann", [Grant(SEND_MESSAGES)], t0)
>>> key.is_active, key.revoked(t0).is_active
(True, False)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import NewType

import attrs

from subacct.domain._validate import clean_name, utc_timestamp
from subacct.domain.ids import AccountId, UserId, check_id
from subacct.errors import Conflict, InvalidInput, quoted
from subacct.policy.actions import Action, Scope
from subacct.policy.roles import Grant, check_grants

__all__ = ["ApiKey", "ApiKeyCredential", "ApiKeyId", "revoke", "secret_hash"]

ApiKeyId = NewType("ApiKeyId", str)


def _optional_time(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="revoked_at")


def _key_id(value: object) -> ApiKeyId:
    return ApiKeyId(check_id(value, field="api_key_id"))


def _account(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _user(value: object) -> UserId:
    return UserId(check_id(value, field="created_by"))


@attrs.frozen
class ApiKey:
    """Key ``id`` of ``account_id``, made by ``created_by``; ``revoked_at`` ends it for good."""

    id: ApiKeyId = attrs.field(converter=_key_id)
    account_id: AccountId = attrs.field(converter=_account)
    name: str = attrs.field(converter=clean_name)
    created_by: UserId = attrs.field(converter=_user)
    grants: tuple[Grant, ...] = attrs.field(converter=check_grants)
    created_at: datetime = attrs.field(converter=utc_timestamp)
    revoked_at: datetime | None = attrs.field(default=None, converter=_optional_time)
    rights: Mapping[Action, Scope] = attrs.field(init=False, eq=False, repr=False, hash=False)

    @rights.default
    def _rights(self) -> Mapping[Action, Scope]:
        return MappingProxyType({g.action: g.scope for g in self.grants})

    def __attrs_post_init__(self) -> None:
        if self.revoked_at is not None and self.revoked_at < self.created_at:
            raise InvalidInput(
                "an API key cannot be revoked before it was made", field="revoked_at"
            )

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

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


def _secret_hash(value: object) -> str:
    if not isinstance(value, str) or len(value) < 32 or not value.isalnum():
        raise InvalidInput("secret_hash must be a hex digest of at least 32 characters")
    return value


@attrs.frozen
class ApiKeyCredential:
    """Maps the hash of an API key's secret to the key. The secret itself is never stored:
    the host shows it once and keeps only ``secret_hash`` (e.g. SHA-256 hex)."""

    secret_hash: str = attrs.field(converter=_secret_hash)
    key_id: ApiKeyId = attrs.field(converter=_key_id)


def secret_hash(secret: str) -> str:
    """The SHA-256 hex digest stored for an API key secret (the secret is never stored).

    >>> len(secret_hash("sk_example"))
    64
    """
    if not isinstance(secret, str):
        raise InvalidInput("an API key secret is a string", field="secret")
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
