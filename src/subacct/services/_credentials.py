"""API keys and impersonation sessions over storage (private): the credentials a
principal acts with. The rules are ``subacct.policy.plan_api_key``, ``plan_impersonation``
and friends; here they are loaded, called and saved."""

from __future__ import annotations

from typing import Final

from subacct.domain import AccountId, RoleId, UserId
from subacct.domain.events import ApiKeyCreated, ImpersonationEnded, ImpersonationStarted
from subacct.domain.events import ApiKeyRevoked as ApiKeyRevokedEvent
from subacct.errors import ApiKeyRevoked, InvalidInput, PermissionDenied, quoted
from subacct.policy import (
    IMPERSONATE,
    MANAGE_API_KEYS,
    Action,
    ApiKey,
    Decision,
    Grant,
    ImpersonationSession,
    Reason,
    plan_api_key,
    plan_api_key_revocation,
    plan_impersonation,
    plan_impersonation_end,
)
from subacct.policy.api_keys import ApiKeyCredential, ApiKeyId, revoke, secret_hash
from subacct.policy.impersonation import ImpersonationId, end
from subacct.services._runner import Unit
from subacct.storage.collections import API_KEY_CREDENTIALS, API_KEYS, IMPERSONATION_SESSIONS

_AUTHENTICATE: Final = Action("api_keys.authenticate")


def create_key(
    unit: Unit,
    account_id: str,
    name: str,
    grants: tuple[Grant, ...],
    key_id: str | None,
    secret: str,
) -> ApiKey:
    """A new key made by the acting user (or impersonator), its secret stored hashed."""
    if unit.is_system:
        raise InvalidInput(
            "an API key is made by a user: it acts with part of their rights", field="by"
        )
    unit.uow.accounts.get(AccountId(account_id)).require_open()
    index = unit.policy([account_id])
    key = ApiKey(
        ApiKeyId(unit.new_id(key_id, "key")), account_id, name, unit.user, grants, unit.now
    )
    key = plan_api_key(index, unit.principal, key)
    unit.uow.records(API_KEYS).add(key)
    unit.uow.records(API_KEY_CREDENTIALS).add(ApiKeyCredential(secret_hash(secret), key.id))
    unit.allowed(MANAGE_API_KEYS, key.account_id)
    unit.emit(
        ApiKeyCreated(
            **unit.meta().about(key.account_id),
            api_key_id=key.id,
            name=key.name,
            created_by=key.created_by,
            actions=tuple(key.rights),
        )
    )
    return key


def authenticate(unit: Unit, digest: str) -> ApiKey:
    """The active key whose secret hashes to ``digest`` (the system's sign-in step)."""
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
    return key


def revoke_key(unit: Unit, key_id: str) -> ApiKey:
    stored = unit.uow.records(API_KEYS).get(key_id)
    if unit.is_system:
        unit.require(MANAGE_API_KEYS, stored.account_id)
        revoked = revoke(stored, unit.now)
    else:
        index = unit.policy([stored.account_id])
        revoked = plan_api_key_revocation(index, unit.principal, stored, unit.now)
        unit.allowed(MANAGE_API_KEYS, stored.account_id)
    unit.uow.records(API_KEYS).update(revoked)
    unit.emit(ApiKeyRevokedEvent(**unit.meta().about(revoked.account_id), api_key_id=revoked.id))
    return revoked


def start_session(
    unit: Unit, account_id: str, as_role: RoleId, session_id: str | None
) -> ImpersonationSession:
    """The acting user logs on as the account; audited with the real user."""
    if not isinstance(unit.actor, str):
        raise InvalidInput("an impersonation is started by a user", field="by")
    user = UserId(unit.actor)
    unit.uow.accounts.get(AccountId(account_id)).require_open()
    index = unit.policy([account_id])
    session = ImpersonationSession(
        ImpersonationId(unit.new_id(session_id, "imp")), user, account_id, unit.now, as_role
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
        )
    )
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
