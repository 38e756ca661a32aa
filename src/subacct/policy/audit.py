"""Audit records: who really acted, as whom, on what, and why the engine said yes or no.

``audit_record`` turns a ``Decision`` and its question (principal, action, account) into a
flat, storable record. For an impersonation it carries both the real user
(``acting_user_id``) and the impersonated account; for an API key, the key and the user who
made it; for the system (``subacct.SYSTEM``), no user (``acting_user_id`` is ``None``) and
the operator, if one was named, in ``note``. ``account_id`` is ``None`` only for
platform-wide operations (creating a user, defining a role).

>>> from datetime import datetime, UTC
>>> from subacct.policy import Decision, ImpersonationSession, Reason, Scope, audit_record
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> s = ImpersonationSession("imp1", "pam", "agency1", t0)
>>> d = Decision(True, Reason.ALLOWED_BY_IMPERSONATION, Scope.ALL, "sub_admin", "agencydemo")
>>> r = audit_record("aud1", t0, s, "messages.send", "agency1", d)
>>> r.acting_user_id, r.impersonated_account_id, r.impersonation_id
('pam', 'agency1', 'imp1')
"""

from __future__ import annotations

from datetime import datetime
from typing import NewType

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import utc_timestamp
from subacct.domain.ids import AccountId, RoleId, UserId, check_id
from subacct.errors import InvalidInput
from subacct.policy.actions import Action, Scope, check_action
from subacct.policy.api_keys import ApiKey, ApiKeyId
from subacct.policy.decisions import (
    Decision,
    Principal,
    PrincipalKind,
    Reason,
    acting_user_id,
    principal_label,
)
from subacct.policy.impersonation import ImpersonationId, ImpersonationSession
from subacct.policy.system import System

__all__ = ["AuditId", "AuditRecord", "audit_record"]

AuditId = NewType("AuditId", str)


def _opt_id(value: object) -> str | None:
    return None if value is None else check_id(value)


def _audit_id(value: object) -> AuditId:
    return AuditId(check_id(value, field="audit_id"))


def _at(value: object) -> datetime:
    return utc_timestamp(value, field="at")


def _account(value: object) -> AccountId | None:
    return None if value is None else AccountId(check_id(value, field="account_id"))


def _user(value: object) -> UserId | None:
    return None if value is None else UserId(check_id(value, field="acting_user_id"))


@attrs.frozen
class AuditRecord:
    """One audited decision. Everything is plain data, ready for the audit port."""

    id: AuditId = attrs.field(converter=_audit_id)
    at: datetime = attrs.field(converter=_at)
    action: Action = attrs.field(converter=check_action)
    account_id: AccountId | None = attrs.field(converter=_account)
    allowed: bool = attrs.field(validator=instance_of(bool))
    reason: Reason = attrs.field(validator=instance_of(Reason))
    principal_kind: PrincipalKind = attrs.field(validator=instance_of(PrincipalKind))
    acting_user_id: UserId | None = attrs.field(converter=_user)
    scope: Scope | None = attrs.field(default=None)
    role_id: RoleId | None = attrs.field(default=None, converter=_opt_id)
    inherited_from: AccountId | None = attrs.field(default=None, converter=_opt_id)
    ceiling_account_id: AccountId | None = attrs.field(default=None, converter=_opt_id)
    api_key_id: ApiKeyId | None = attrs.field(default=None, converter=_opt_id)
    impersonation_id: ImpersonationId | None = attrs.field(default=None, converter=_opt_id)
    impersonated_account_id: AccountId | None = attrs.field(default=None, converter=_opt_id)
    note: str | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.allowed is not self.reason.allowed:
            raise InvalidInput("allowed does not match the reason", field="allowed")
        if self.scope is not None and not isinstance(self.scope, Scope):
            raise InvalidInput("scope must be a Scope or None", field="scope")
        if self.note is not None and not isinstance(self.note, str):
            raise InvalidInput("note must be a string", field="note")
        if (self.principal_kind is PrincipalKind.IMPERSONATION) != (
            self.impersonation_id is not None and self.impersonated_account_id is not None
        ):
            raise InvalidInput(
                "an impersonation record names the session and the impersonated account",
                field="impersonation_id",
            )
        if (self.principal_kind is PrincipalKind.API_KEY) != (self.api_key_id is not None):
            raise InvalidInput("an API key record names the key", field="api_key_id")
        if (self.principal_kind is PrincipalKind.SYSTEM) != (self.acting_user_id is None):
            raise InvalidInput(
                "a record names the acting user exactly when a user acted", field="acting_user_id"
            )


def audit_record(
    record_id: str,
    at: datetime,
    principal: Principal | System,
    action: Action,
    account_id: AccountId | None,
    decision: Decision,
    *,
    note: str | None = None,
) -> AuditRecord:
    """The audit record of one decision (the id and the time come from the caller)."""
    if isinstance(principal, System):
        return AuditRecord(
            id=AuditId(record_id),
            at=at,
            action=action,
            account_id=account_id,
            allowed=decision.allowed,
            reason=decision.reason,
            principal_kind=PrincipalKind.SYSTEM,
            acting_user_id=None,
            scope=decision.scope,
            note=note if principal.operator is None else principal.label,
        )
    kind, _ = principal_label(principal)
    key_id = principal.id if isinstance(principal, ApiKey) else None
    session = principal if isinstance(principal, ImpersonationSession) else None
    return AuditRecord(
        id=AuditId(record_id),
        at=at,
        action=action,
        account_id=account_id,
        allowed=decision.allowed,
        reason=decision.reason,
        principal_kind=kind,
        acting_user_id=acting_user_id(principal),
        scope=decision.scope,
        role_id=decision.role_id,
        inherited_from=decision.inherited_from,
        ceiling_account_id=decision.ceiling_account_id,
        api_key_id=key_id,
        impersonation_id=None if session is None else session.id,
        impersonated_account_id=None if session is None else session.account_id,
        note=note,
    )
