"""Decisions: the engine's answer, with a stable reason code and what decided it.

A principal is a user (a ``UserId``), an ``ApiKey`` or an ``ImpersonationSession``. A
``Decision`` answers "may this principal do this action in this account?": whether it is
allowed, why (``reason``, a stable code safe to return in an API response), with which record
scope, and which role, membership account or ceiling decided. It holds the answer, not the
question, so the engine hands out shared immutable values and allocates nothing per check;
``explain`` and ``denial_error`` put the question back for people and errors.

>>> from subacct.policy import Decision, Reason, Scope, SEND_MESSAGES, explain
>>> d = Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL, "basic_user", "agency1")
>>> d.code, bool(d)
('allowed_by_role', True)
>>> explain("ann", SEND_MESSAGES, "agency1", d)
"user 'ann' may do 'messages.send' in account 'agency1': allowed by its role in the account \
(allowed_by_role)"
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, TypeAlias

import attrs

from subacct._validators import instance_of
from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.errors import (
    ActionDenied,
    ApiKeyExpired,
    ApiKeyRevoked,
    ImpersonationExpired,
    ImpersonationRefused,
    InvalidInput,
    quoted,
)
from subacct.policy.actions import Action, Scope
from subacct.policy.api_keys import ApiKey
from subacct.policy.impersonation import ImpersonationSession

__all__ = [
    "Decision",
    "Principal",
    "PrincipalKind",
    "Reason",
    "acting_user_id",
    "denial_details",
    "denial_error",
    "explain",
    "principal_label",
]

Principal: TypeAlias = UserId | ApiKey | ImpersonationSession


class PrincipalKind(enum.Enum):
    USER = "user"
    API_KEY = "api_key"
    IMPERSONATION = "impersonation"
    SYSTEM = "system"


class Reason(enum.Enum):
    """Stable reason codes. Codes starting with ``allowed_`` are the only allowing ones."""

    allowed: bool

    def __init__(self, code: str) -> None:
        self.allowed = code.startswith("allowed_")

    ALLOWED_BY_ROLE = "allowed_by_role"
    ALLOWED_BY_INHERITED_ROLE = "allowed_by_inherited_role"
    ALLOWED_BY_API_KEY = "allowed_by_api_key"
    ALLOWED_BY_IMPERSONATION = "allowed_by_impersonation"
    ALLOWED_AS_SYSTEM = "allowed_as_system"
    ALLOWED_AS_IMPERSONATOR = "allowed_as_impersonator"
    ALLOWED_BY_AGENCY_LINK = "allowed_by_agency_link"
    UNKNOWN_ACTION = "unknown_action"
    UNKNOWN_ACCOUNT = "unknown_account"
    NO_MEMBERSHIP = "no_membership"
    ROLE_LACKS_ACTION = "role_lacks_action"
    CEILING_EXCLUDES_ACTION = "ceiling_excludes_action"
    NOT_RECORD_OWNER = "not_record_owner"
    API_KEY_REVOKED = "api_key_revoked"
    API_KEY_EXPIRED = "api_key_expired"
    API_KEY_CREATOR_LACKS_ACTION = "api_key_creator_lacks_action"
    API_KEY_WRONG_ACCOUNT = "api_key_wrong_account"
    API_KEY_LACKS_ACTION = "api_key_lacks_action"
    IMPERSONATION_ENDED = "impersonation_ended"
    IMPERSONATION_EXPIRED = "impersonation_expired"
    IMPERSONATION_WRONG_ACCOUNT = "impersonation_wrong_account"
    IMPERSONATION_FORBIDDEN = "impersonation_forbidden"
    IMPERSONATION_NOT_FROM_ANCESTOR = "impersonation_not_from_ancestor"
    IMPERSONATOR_NOT_AUTHORIZED = "impersonator_not_authorized"
    GRANT_EXCEEDS_OWN_RIGHTS = "grant_exceeds_own_rights"
    TARGET_OUTRANKS_GRANTOR = "target_outranks_grantor"
    SELF_ROLE_CHANGE = "self_role_change"
    PRINCIPAL_CANNOT_GRANT = "principal_cannot_grant"
    NOT_A_DIRECT_MEMBER = "not_a_direct_member"
    PLATFORM_ONLY = "platform_only"
    NOT_AN_OWNER = "not_an_owner"


_EXPLAIN: Final[Mapping[Reason, str]] = MappingProxyType(
    {
        Reason.ALLOWED_BY_ROLE: "allowed by its role in the account",
        Reason.ALLOWED_BY_INHERITED_ROLE: "allowed by its administrator role in an ancestor",
        Reason.ALLOWED_BY_API_KEY: "allowed by the API key's grants",
        Reason.ALLOWED_BY_IMPERSONATION: "allowed while impersonating the account",
        Reason.ALLOWED_AS_SYSTEM: "trusted host code acts as the system",
        Reason.ALLOWED_AS_IMPERSONATOR: "the impersonator ends their own session",
        Reason.ALLOWED_BY_AGENCY_LINK: (
            "allowed by the link's access role, held as an administrator of the agency"
        ),
        Reason.UNKNOWN_ACTION: "the action is not in the catalog",
        Reason.UNKNOWN_ACCOUNT: "the account is not known to the policy index",
        Reason.NO_MEMBERSHIP: "no membership in the account and no administrator role above it",
        Reason.ROLE_LACKS_ACTION: "its role does not grant the action",
        Reason.CEILING_EXCLUDES_ACTION: (
            "a ceiling on the account or an ancestor excludes the action"
        ),
        Reason.NOT_RECORD_OWNER: "its grant covers only its own records and this one is not",
        Reason.API_KEY_REVOKED: "the API key is revoked",
        Reason.API_KEY_EXPIRED: "the API key has expired",
        Reason.API_KEY_CREATOR_LACKS_ACTION: (
            "the personal API key's creator no longer holds the action here"
        ),
        Reason.API_KEY_WRONG_ACCOUNT: "the API key belongs to another account",
        Reason.API_KEY_LACKS_ACTION: "the API key does not grant the action",
        Reason.IMPERSONATION_ENDED: "the impersonation has ended",
        Reason.IMPERSONATION_EXPIRED: "the impersonation has expired",
        Reason.IMPERSONATION_WRONG_ACCOUNT: (
            "an impersonation acts only in the impersonated account"
        ),
        Reason.IMPERSONATION_FORBIDDEN: "the account forbids being impersonated",
        Reason.IMPERSONATION_NOT_FROM_ANCESTOR: "only an administrator of an ancestor impersonates",
        Reason.IMPERSONATOR_NOT_AUTHORIZED: "the real user may no longer impersonate this account",
        Reason.GRANT_EXCEEDS_OWN_RIGHTS: "it would grant rights the grantor does not hold here",
        Reason.TARGET_OUTRANKS_GRANTOR: "the member holds rights the grantor does not hold here",
        Reason.SELF_ROLE_CHANGE: "nobody grants, changes or removes their own membership",
        Reason.PRINCIPAL_CANNOT_GRANT: "this kind of principal cannot do this",
        Reason.NOT_A_DIRECT_MEMBER: "only a direct member of the account can change this",
        Reason.PLATFORM_ONLY: "only the host platform can do this",
        Reason.NOT_AN_OWNER: "only a member holding the account's owner role hands it over",
    }
)


def principal_label(principal: Principal) -> tuple[PrincipalKind, str]:
    """``(kind, id)`` of a principal.

    >>> principal_label("ann")
    (<PrincipalKind.USER: 'user'>, 'ann')
    """
    if isinstance(principal, ApiKey):
        return PrincipalKind.API_KEY, str(principal.id)
    if isinstance(principal, ImpersonationSession):
        return PrincipalKind.IMPERSONATION, str(principal.id)
    return PrincipalKind.USER, str(principal)


def acting_user_id(principal: Principal) -> UserId:
    """The person behind a principal: the user, the real user of an impersonation, or the
    user who made an API key (of either kind: an account key still names who made it).
    Their records are the principal's "own" (``Scope.OWN``).

    >>> acting_user_id("ann")
    'ann'
    """
    if isinstance(principal, ApiKey):
        return principal.created_by
    if isinstance(principal, ImpersonationSession):
        return principal.real_user_id
    return principal


def _scope(value: object) -> Scope | None:
    if value is None or isinstance(value, Scope):
        return value
    raise InvalidInput(f"scope must be a Scope or None, not {quoted(value)}", field="scope")


def _optional_id(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise InvalidInput(f"expected an id or None, got {quoted(value)}")


@attrs.frozen
class Decision:
    """Allowed or not, why, with which record scope, and what decided.

    ``scope`` is set exactly when allowed. ``role_id`` is the role that decided: the role
    of the user's own membership in the account, or, when ``inherited_from`` is set, the
    inheriting role held in that ancestor (for an impersonation: the assumed role, with the
    real user's administering ancestor; for an agency link, ``allowed_by_agency_link``:
    the link's access role, with the agency; for an API key: neither). ``ceiling_account_id``
    names the account whose ceiling refused.
    """

    allowed: bool = attrs.field(validator=instance_of(bool))
    reason: Reason = attrs.field(validator=instance_of(Reason))
    scope: Scope | None = attrs.field(default=None, converter=_scope)
    role_id: RoleId | None = attrs.field(default=None, converter=_optional_id)
    inherited_from: AccountId | None = attrs.field(default=None, converter=_optional_id)
    ceiling_account_id: AccountId | None = attrs.field(default=None, converter=_optional_id)

    def __attrs_post_init__(self) -> None:
        if self.allowed is not self.reason.allowed or (self.scope is None) is self.allowed:
            raise InvalidInput(
                f"inconsistent decision: allowed={quoted(self.allowed)}, "
                f"reason={self.reason.value}, "
                f"scope={quoted(self.scope)}",
                field="reason",
            )

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def code(self) -> str:
        """The stable reason code."""
        code: str = self.reason.value
        return code


def explain(principal: Principal, action: Action, account_id: AccountId, decision: Decision) -> str:
    """One human sentence for a decision, e.g. for a log line or an error message."""
    kind, principal_id = principal_label(principal)
    verb = "may" if decision.allowed else "may not"
    return (
        f"{kind.value} {quoted(principal_id)} {verb} do {quoted(action)} in account "
        f"{quoted(account_id)}: "
        f"{_EXPLAIN[decision.reason]} ({decision.reason.value})"
    )


def denial_details(
    principal: Principal, action: Action, account_id: AccountId, decision: Decision
) -> dict[str, str | None]:
    """JSON-able fields of a decision and its question, for an error or an API response."""
    kind, principal_id = principal_label(principal)
    return {
        "reason": decision.code,
        "action": action,
        "account_id": account_id,
        "principal_kind": kind.value,
        "principal_id": principal_id,
        "acting_user_id": acting_user_id(principal),
        "scope": None if decision.scope is None else decision.scope.value,
        "role_id": decision.role_id,
        "inherited_from": decision.inherited_from,
        "ceiling_account_id": decision.ceiling_account_id,
    }


_IMPERSONATION_REASONS: Final = frozenset(
    {
        Reason.IMPERSONATION_ENDED,
        Reason.IMPERSONATION_EXPIRED,
        Reason.IMPERSONATION_WRONG_ACCOUNT,
        Reason.IMPERSONATION_FORBIDDEN,
        Reason.IMPERSONATION_NOT_FROM_ANCESTOR,
        Reason.IMPERSONATOR_NOT_AUTHORIZED,
    }
)


def denial_error(
    principal: Principal,
    action: Action,
    account_id: AccountId,
    decision: Decision,
    error: type[ActionDenied] | None = None,
    **extra: object,
) -> ActionDenied:
    """The typed error for a denied decision (``error`` overrides the class picked by reason).

    >>> d = Decision(False, Reason.NO_MEMBERSHIP)
    >>> err = denial_error("ann", Action("billing.view"), "agency1", d)
    >>> err.code, err.reason, err.details["account_id"]
    ('action_denied', 'no_membership', 'agency1')
    """
    if decision.allowed:
        raise InvalidInput("an allowed decision is not an error", field="decision")
    if error is None:
        if decision.reason is Reason.API_KEY_REVOKED:
            error = ApiKeyRevoked
        elif decision.reason is Reason.API_KEY_EXPIRED:
            error = ApiKeyExpired
        elif decision.reason is Reason.IMPERSONATION_EXPIRED:
            error = ImpersonationExpired
        elif decision.reason in _IMPERSONATION_REASONS:
            error = ImpersonationRefused
        else:
            error = ActionDenied
    return error(
        explain(principal, action, account_id, decision),
        decision=decision,
        **denial_details(principal, action, account_id, decision),
        **extra,
    )
