"""API keys and impersonation sessions over storage (private): the credentials a
principal acts with. The rules are ``subacct.policy.plan_api_key``, ``plan_impersonation``
and friends; here they are loaded, called and saved."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from subacct.domain import Account, AccountId, RoleId, UserId
from subacct.domain.events import (
    ApiKeyCreated,
    ApiKeyRotated,
    ImpersonationEnded,
    ImpersonationStarted,
)
from subacct.domain.events import ApiKeyRevoked as ApiKeyRevokedEvent
from subacct.errors import (
    ApiKeyExpired,
    ApiKeyRevoked,
    ApiKeySecretRotated,
    InvalidInput,
    PermissionDenied,
    quoted,
)
from subacct.policy import (
    IMPERSONATE,
    Action,
    ApiKey,
    ApiKeyKind,
    Decision,
    Grant,
    ImpersonationSession,
    Reason,
    check_rotation,
    managing_action,
    orphaned_keys,
    plan_api_key,
    plan_api_key_revocation,
    plan_api_key_rotation,
    plan_impersonation,
    plan_impersonation_end,
)
from subacct.policy.api_keys import (
    CREATOR_LEFT,
    ApiKeyCredential,
    ApiKeyId,
    revoke,
    rotated,
    secret_hash,
)
from subacct.policy.impersonation import ImpersonationId, end
from subacct.services._runner import Unit
from subacct.storage.collections import (
    API_KEY_CREDENTIALS,
    API_KEY_USES,
    API_KEYS,
    IMPERSONATION_SESSIONS,
)

_AUTHENTICATE: Final = Action("api_keys.authenticate")


def create_key(
    unit: Unit,
    account_id: str,
    name: str,
    grants: tuple[Grant, ...],
    key_id: str | None,
    secret: str,
    kind: ApiKeyKind,
    expires_at: datetime | None,
) -> ApiKey:
    """A new key made by the acting user (or impersonator), its secret stored hashed."""
    if unit.is_system:
        raise InvalidInput(
            "an API key is made by a user: it acts with part of their rights", field="by"
        )
    unit.uow.accounts.get(AccountId(account_id)).require_open()
    index = unit.policy([account_id])
    key = ApiKey(
        ApiKeyId(unit.new_id(key_id, "key")),
        account_id,
        name,
        unit.user,
        grants,
        unit.now,
        kind=kind,
        expires_at=expires_at,
    )
    key = plan_api_key(index, unit.principal, key)
    unit.uow.records(API_KEYS).add(key)
    unit.uow.records(API_KEY_CREDENTIALS).add(ApiKeyCredential(secret_hash(secret), key.id))
    unit.allowed(managing_action(key.kind), key.account_id)
    unit.emit(
        ApiKeyCreated(
            **unit.meta().about(key.account_id),
            api_key_id=key.id,
            name=key.name,
            created_by=key.created_by,
            actions=tuple(key.rights),
            kind=key.kind.value,
            expires_at=key.expires_at,
        )
    )
    return key


def authenticate(unit: Unit, digest: str) -> ApiKey:
    """The key whose secret hashes to ``digest``, if it may act now (the system's sign-in
    step): ``PermissionDenied`` for an unknown secret, ``ApiKeyRevoked``,
    ``ApiKeyExpired``, or ``ApiKeySecretRotated`` for a secret whose overlap ended."""
    unit.require_system(_AUTHENTICATE)
    credential = unit.uow.records(API_KEY_CREDENTIALS).find(digest)
    if credential is None:
        raise PermissionDenied("no API key has this secret")
    key = unit.uow.records(API_KEYS).get(credential.key_id)
    if not key.is_active:
        raise ApiKeyRevoked(
            f"API key {quoted(key.id)} is revoked",
            decision=Decision(False, Reason.API_KEY_REVOKED),
            api_key_id=key.id,
            account_id=key.account_id,
        )
    if key.expired(unit.now):
        raise ApiKeyExpired(
            f"API key {quoted(key.id)} has expired",
            decision=Decision(False, Reason.API_KEY_EXPIRED),
            api_key_id=key.id,
            account_id=key.account_id,
        )
    if not credential.valid_at(unit.now):
        raise ApiKeySecretRotated(
            f"API key {quoted(key.id)} was rotated: this secret no longer signs in",
            api_key_id=key.id,
        )
    return key


def revoke_key(unit: Unit, key_id: str) -> ApiKey:
    stored = unit.uow.records(API_KEYS).get(key_id)
    right = managing_action(stored.kind)
    if unit.is_system:
        unit.require(right, stored.account_id)
        revoked = revoke(stored, unit.now)
    else:
        index = unit.policy([stored.account_id])
        revoked = plan_api_key_revocation(index, unit.principal, stored, unit.now)
        unit.allowed(right, stored.account_id)
    unit.uow.records(API_KEYS).update(revoked)
    unit.emit(ApiKeyRevokedEvent(**unit.meta().about(revoked.account_id), api_key_id=revoked.id))
    return revoked


def rotate_key(unit: Unit, key_id: str, until: datetime | None, secret: str) -> ApiKey:
    """Give the key a new secret; its current secrets sign in until ``until`` (``None``:
    they stop now)."""
    stored = unit.uow.records(API_KEYS).get(key_id)
    right = managing_action(stored.kind)
    if unit.is_system:
        unit.require(right, stored.account_id)
        key = check_rotation(stored, unit.now)
    else:
        index = unit.policy([stored.account_id])
        key = plan_api_key_rotation(index, unit.principal, stored, unit.now)
        unit.allowed(right, stored.account_id)
    repo = unit.uow.records(API_KEY_CREDENTIALS)
    for old in rotated(repo.list_by("key_id", key.id), unit.now, until):
        repo.update(old)
    repo.add(ApiKeyCredential(secret_hash(secret), key.id))
    unit.emit(
        ApiKeyRotated(
            **unit.meta().about(key.account_id),
            api_key_id=key.id,
            old_secret_valid_until=unit.now if until is None else until,
        )
    )
    return key


def revoke_orphaned_keys(unit: Unit, user_id: UserId) -> list[ApiKey]:
    """After ``user_id`` lost memberships: revoke their personal keys in the accounts they
    left (``subacct.policy.orphaned_keys``), each with an ``api_key_revoked`` event
    (reason ``creator_left``). Account keys stay."""
    repo = unit.uow.records(API_KEYS)
    made = [k for k in repo.list_by("created_by", user_id) if k.is_personal and k.is_active]
    if not made:
        return []
    held = {m.account_id for m in unit.uow.memberships.for_user(user_id)}
    accounts = unit.uow.accounts
    chains = {a: [acc.id for acc in accounts.ancestors(a)] for a in {k.account_id for k in made}}
    revoked = [k.revoked(unit.now) for k in orphaned_keys(made, held, chains)]
    for key in revoked:
        repo.update(key)
        unit.emit(
            ApiKeyRevokedEvent(
                **unit.meta().about(key.account_id), api_key_id=key.id, reason=CREATOR_LEFT
            )
        )
    return revoked


def revoke_keys_orphaned_by_move(unit: Unit, moved: Iterable[Account]) -> None:
    """After ``moved`` (an account and its subtree) moved, attached or detached: revoke
    the personal keys in them whose creator no longer belongs to the key's account or an
    account above it (as when the creator leaves; ``revoke_orphaned_keys``). Call it once
    the move is written: the chains it reads are the new ones."""
    repo = unit.uow.records(API_KEYS)
    creators = {
        key.created_by
        for account in moved
        for key in repo.list_by("account_id", account.id)
        if key.is_personal and key.is_active
    }
    for creator in sorted(creators):
        revoke_orphaned_keys(unit, creator)


def last_used(unit: Unit, key_id: str) -> datetime | None:
    """When the key was last used, as recorded (``subacct.services._key_uses``)."""
    key = unit.uow.records(API_KEYS).get(key_id)
    unit.require(managing_action(key.kind), key.account_id)
    use = unit.uow.records(API_KEY_USES).find(key.id)
    return None if use is None else use.last_used_at


def start_session(
    unit: Unit, account_id: str, as_role: RoleId, session_id: str | None, reason: str
) -> ImpersonationSession:
    """The acting user logs on as the account for ``reason``, until
    ``Settings.impersonation_ttl`` from now; audited with the real user."""
    if not isinstance(unit.actor, str):
        raise InvalidInput("an impersonation is started by a user", field="by")
    user = UserId(unit.actor)
    unit.uow.accounts.get(AccountId(account_id)).require_open()
    index = unit.policy([account_id])
    session = ImpersonationSession(
        ImpersonationId(unit.new_id(session_id, "imp")),
        user,
        account_id,
        unit.now,
        as_role,
        expires_at=unit.now + unit.settings.impersonation_ttl,
        reason=reason,
    )
    session = plan_impersonation(index, session)
    gate = index.check_via(user, IMPERSONATE, session.account_id, direct=False)
    unit.audit(IMPERSONATE, session.account_id, gate)
    unit.uow.records(IMPERSONATION_SESSIONS).add(session)
    unit.emit(
        ImpersonationStarted(
            **unit.meta().about(session.account_id),
            session_id=session.id,
            as_role=session.as_role,
            reason=reason,
            expires_at=session.expires_at,
        )
    )
    return session


def session_state(unit: Unit, session_id: str) -> ImpersonationSession:
    """The session as it stands now (an expired one reads ``status_at`` ``expired``), to
    those with standing in the impersonated account."""
    session = unit.uow.records(IMPERSONATION_SESSIONS).get(session_id)
    unit.see(session.account_id)
    return session


def end_session(unit: Unit, session_id: str) -> ImpersonationSession:
    repo = unit.uow.records(IMPERSONATION_SESSIONS)
    session = repo.get(session_id)
    if unit.is_system:
        unit.require(IMPERSONATE, session.account_id)
        ended = end(session, unit.now)
    else:
        index = unit.policy([session.account_id])
        ended, decision = plan_impersonation_end(index, unit.principal, session, unit.now)
        unit.audit(IMPERSONATE, session.account_id, decision)
    repo.update(ended)
    unit.emit(
        ImpersonationEnded(
            **unit.meta().about(ended.account_id),
            session_id=ended.id,
            real_user_id=ended.real_user_id,
        )
    )
    return ended
