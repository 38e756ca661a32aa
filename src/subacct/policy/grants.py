"""No escalation: planners for every change that hands out rights.

Each planner takes the current ``PolicyIndex``, the acting principal and the proposed
record (made by the caller with its own ids and clock) and returns the record to store,
or raises a typed ``PermissionDenied`` subclass. They never write, so a refusal leaves
nothing behind. The rules:

* the grantor needs the managing action in that account (``users.invite`` to invite or
  change a role, ``users.remove`` to remove, ``api_keys.manage`` for personal keys and
  ``api_keys.manage_account`` for account keys,
  ``sub_accounts.manage`` in the placing account for ceilings);
* what is granted, as it would take effect there (role rights within the account's
  ceilings), must be a subset of the grantor's own rights in that account, scopes
  included; an inheriting role also needs the grantor's rights to be inheritable;
* a member whose role holds rights the grantor lacks cannot be changed or removed by them;
* nobody grants, changes or removes their own membership;
* impersonation starts only from an administrator of a strict ancestor, where allowed.

>>> from datetime import datetime, UTC
>>> from subacct.domain import Account, AccountKind, Membership
>>> from subacct.policy import PolicyIndex, plan_invite
>>> from subacct.errors import EscalationRefused
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> index = PolicyIndex.build(
...     [Account("m", "M", AccountKind.MASTER, t0), Account("s", "S", AccountKind.SUB, t0, "m")],
...     [Membership("sam", "s", "sub_admin", t0)])
>>> plan_invite(index, "sam", Membership("bob", "s", "basic_user", t0)).role
'basic_user'
>>> try:
...     plan_invite(index, "sam", Membership("eve", "s", "parent_admin", t0))
... except EscalationRefused as err:
...     print(err.reason)
grant_exceeds_own_rights
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.domain.users import Membership
from subacct.errors import (
    AccountNotFound,
    ActionDenied,
    AlreadyExists,
    Conflict,
    EscalationRefused,
    ImpersonationRefused,
    InvalidInput,
    SelfRoleChangeRefused,
    quoted,
)
from subacct.policy.actions import (
    IMPERSONATE,
    INVITE_USERS,
    MANAGE_SETTINGS,
    MANAGE_SUB_ACCOUNTS,
    REMOVE_USERS,
    Action,
    Scope,
)
from subacct.policy.api_keys import ApiKey, ApiKeyKind, managing_action, revoke
from subacct.policy.ceilings import Ceiling
from subacct.policy.decisions import Decision, Principal, Reason, acting_user_id, denial_error
from subacct.policy.impersonation import ImpersonationSession, ImpersonationSetting, end
from subacct.policy.index import PolicyIndex
from subacct.policy.roles import Role, rights_cover

__all__ = [
    "check_rotation",
    "plan_api_key",
    "plan_api_key_revocation",
    "plan_api_key_rotation",
    "plan_ceiling",
    "plan_ceiling_removal",
    "plan_impersonation",
    "plan_impersonation_end",
    "plan_impersonation_setting",
    "check_ceiling",
    "plan_invitation",
    "plan_invite",
    "plan_ownership_transfer",
    "require_not_member",
    "plan_removal",
    "plan_role_change",
]


def _refuse(
    error: type[ActionDenied],
    reason: Reason,
    principal: Principal,
    action: Action,
    account_id: AccountId,
    role_id: RoleId | None = None,
    **details: Any,
) -> ActionDenied:
    decision = Decision(False, reason, None, role_id)
    return denial_error(principal, action, account_id, decision, error, **details)


def _excess(held: Mapping[Action, Scope], wanted: Mapping[Action, Scope]) -> list[str]:
    return sorted(a for a, s in wanted.items() if a not in held or not held[a].covers(s))


def _require_within(
    index: PolicyIndex,
    principal: Principal,
    role: Role,
    action: Action,
    account_id: AccountId,
    reason: Reason,
    *,
    reaches_descendants: bool,
) -> None:
    """Refuse unless ``role`` as it would act in the account is within the grantor's rights
    (and within the grantor's inheritable rights when it reaches descendants too)."""
    mask = index.ceiling_mask(account_id)
    wanted = {a: s for a, s in role.rights.items() if mask is None or a in mask}
    if reaches_descendants:
        held = index.inheritable_rights(principal, account_id)
    else:
        held = index.actions_in(principal, account_id)
    if not rights_cover(held, wanted):
        raise _refuse(
            EscalationRefused,
            reason,
            principal,
            action,
            account_id,
            role.id,
            excess=_excess(held, wanted),
        )


def _refuse_self(principal: Principal, membership: Membership, action: Action) -> None:
    if acting_user_id(principal) == membership.user_id:
        raise _refuse(
            SelfRoleChangeRefused,
            Reason.SELF_ROLE_CHANGE,
            principal,
            action,
            membership.account_id,
            membership.role,
        )


def require_not_member(membership: Membership, current_role: str | None) -> None:
    """One membership per user and account: ``AlreadyExists`` when the user already has
    a role (``current_role``) in the account ``membership`` is for."""
    if current_role is not None:
        raise AlreadyExists(
            f"user {quoted(membership.user_id)} is already a member of "
            f"{quoted(membership.account_id)}",
            user_id=membership.user_id,
            account_id=membership.account_id,
        )


def _require_grantable(
    index: PolicyIndex, principal: Principal, role_id: RoleId, account_id: AccountId
) -> None:
    role = index.role(role_id)
    _require_within(
        index,
        principal,
        role,
        INVITE_USERS,
        account_id,
        Reason.GRANT_EXCEEDS_OWN_RIGHTS,
        reaches_descendants=role.inherits,
    )


def plan_invite(index: PolicyIndex, principal: Principal, membership: Membership) -> Membership:
    """Check a new membership of an existing user and return it, ready to store."""
    index.require(principal, INVITE_USERS, membership.account_id)
    _refuse_self(principal, membership, INVITE_USERS)
    require_not_member(membership, index.role_of(membership.user_id, membership.account_id))
    _require_grantable(index, principal, membership.role, membership.account_id)
    return membership


def plan_invitation(
    index: PolicyIndex, principal: Principal, account_id: AccountId, role_id: RoleId
) -> None:
    """Check inviting someone by e-mail to the account with ``role_id`` (or re-sending
    such an invitation): ``users.invite`` there, and the role within the inviter's own
    rights, as for a new membership (``plan_invite``)."""
    index.require(principal, INVITE_USERS, account_id)
    _require_grantable(index, principal, role_id, account_id)


def plan_ownership_transfer(
    index: PolicyIndex, principal: Principal, account_id: AccountId, owner_role: RoleId
) -> UserId:
    """Check that ``principal`` may hand over the top-level account's ownership: a user
    (or their impersonation) holding ``owner_role`` there as a direct member. Returns
    that user."""
    index.require(principal, INVITE_USERS, account_id)
    user = acting_user_id(principal)
    if isinstance(principal, ApiKey) or index.role_of(user, account_id) != owner_role:
        raise _refuse(ActionDenied, Reason.NOT_AN_OWNER, principal, INVITE_USERS, account_id)
    return user


def plan_role_change(
    index: PolicyIndex, principal: Principal, membership: Membership, role_id: RoleId
) -> Membership:
    """Check moving a member to ``role_id``; returns the changed membership."""
    account_id = membership.account_id
    index.require(principal, INVITE_USERS, account_id)
    _refuse_self(principal, membership, INVITE_USERS)
    current = index.role(membership.role)
    _require_within(
        index,
        principal,
        current,
        INVITE_USERS,
        account_id,
        Reason.TARGET_OUTRANKS_GRANTOR,
        reaches_descendants=current.inherits,
    )
    role = index.role(role_id)
    _require_within(
        index,
        principal,
        role,
        INVITE_USERS,
        account_id,
        Reason.GRANT_EXCEEDS_OWN_RIGHTS,
        reaches_descendants=role.inherits,
    )
    return membership.with_role(role_id)


def plan_removal(index: PolicyIndex, principal: Principal, membership: Membership) -> Membership:
    """Check removing a member; returns the membership to delete (account data is kept)."""
    account_id = membership.account_id
    index.require(principal, REMOVE_USERS, account_id)
    _refuse_self(principal, membership, REMOVE_USERS)
    current = index.role(membership.role)
    _require_within(
        index,
        principal,
        current,
        REMOVE_USERS,
        account_id,
        Reason.TARGET_OUTRANKS_GRANTOR,
        reaches_descendants=current.inherits,
    )
    return membership


def _minting_right(index: PolicyIndex, principal: Principal, key: ApiKey) -> Action:
    """The right that makes or rotates ``key`` (``api_keys.manage``, or
    ``api_keys.manage_account`` for an account key), held by ``principal`` in its account:
    a user or an impersonation (a key mints no secrets, its own included)."""
    right = managing_action(key.kind)
    if isinstance(principal, ApiKey):
        raise _refuse(ActionDenied, Reason.PRINCIPAL_CANNOT_GRANT, principal, right, key.account_id)
    index.require(principal, right, key.account_id)
    return right


def _within_own_rights(
    index: PolicyIndex, principal: Principal, right: Action, key: ApiKey
) -> None:
    """``EscalationRefused`` unless ``principal``'s own rights in the key's account cover
    its grants (whoever holds its secret acts with them)."""
    held = index.actions_in(principal, key.account_id)
    if not rights_cover(held, key.rights):
        raise _refuse(
            EscalationRefused,
            Reason.GRANT_EXCEEDS_OWN_RIGHTS,
            principal,
            right,
            key.account_id,
            excess=_excess(held, key.rights),
        )


def plan_api_key(index: PolicyIndex, principal: Principal, key: ApiKey) -> ApiKey:
    """Check a new API key: made by a user (or impersonator) holding ``api_keys.manage``
    there (``api_keys.manage_account`` for an account key), with grants that are a subset
    of that user's own rights in the account."""
    right = _minting_right(index, principal, key)
    if key.created_by != acting_user_id(principal):
        raise InvalidInput(
            f"created_by must be the acting user {quoted(acting_user_id(principal))}",
            field="created_by",
        )
    if not key.is_active:
        raise InvalidInput("a new API key cannot already be revoked", field="revoked_at")
    _within_own_rights(index, principal, right, key)
    return key


def plan_api_key_revocation(
    index: PolicyIndex, principal: Principal, key: ApiKey, at: datetime
) -> ApiKey:
    """Check revoking ``key`` (``api_keys.manage`` in its account; for an account key
    ``api_keys.manage_account``); returns it revoked (``Conflict`` if it was revoked
    already)."""
    index.require(principal, managing_action(key.kind), key.account_id)
    return revoke(key, at)


def check_rotation(key: ApiKey, at: datetime) -> ApiKey:
    """A key that may get a new secret at ``at``: neither revoked nor expired
    (``Conflict``: a new secret would not make it work again)."""
    if not key.is_active:
        raise Conflict(f"API key {quoted(key.id)} is revoked", api_key_id=key.id)
    if key.expired(at):
        raise Conflict(f"API key {quoted(key.id)} has expired", api_key_id=key.id)
    return key


def plan_api_key_rotation(
    index: PolicyIndex, principal: Principal, key: ApiKey, at: datetime
) -> ApiKey:
    """Check giving ``key`` a new secret: the right that revokes it (``api_keys.manage``,
    or ``api_keys.manage_account`` for an account key) held by a user or an impersonation
    (a key cannot mint secrets, its own included), whose own rights there cover the key's
    grants, as making it would need (whoever holds the new secret acts with them); a
    personal key only by its creator (it acts with the creator's rights); then
    ``check_rotation``."""
    right = _minting_right(index, principal, key)
    if key.kind is ApiKeyKind.PERSONAL and key.created_by != acting_user_id(principal):
        raise _refuse(ActionDenied, Reason.NOT_RECORD_OWNER, principal, right, key.account_id)
    _within_own_rights(index, principal, right, key)
    return check_rotation(key, at)


def _ceiling_authority(
    index: PolicyIndex, principal: Principal, account_id: AccountId, set_by: AccountId | None
) -> None:
    if set_by is None:
        raise _refuse(
            ActionDenied, Reason.PLATFORM_ONLY, principal, MANAGE_SUB_ACCOUNTS, account_id
        )
    if set_by not in index.ancestors_of(account_id):
        raise InvalidInput(
            f"{quoted(set_by)} is not an ancestor of {quoted(account_id)}; a ceiling is placed "
            f"from above",
            field="set_by",
        )
    index.require(principal, MANAGE_SUB_ACCOUNTS, set_by)


def check_ceiling(index: PolicyIndex, ceiling: Ceiling) -> Ceiling:
    """Check a ceiling's shape against the index: its account is known, ``set_by`` is
    ``None`` (the host platform's own bound, the only one a top-level account can get) or
    a strict ancestor of the account, and every action is in the catalog."""
    if ceiling.account_id not in index:
        raise AccountNotFound(ceiling.account_id)
    set_by = ceiling.set_by
    if set_by is not None and set_by not in index.ancestors_of(ceiling.account_id):
        raise InvalidInput(
            f"{quoted(set_by)} is not an ancestor of {quoted(ceiling.account_id)}; a ceiling "
            f"is placed "
            "from above",
            field="set_by",
        )
    unknown = sorted(a for a in ceiling.actions if a not in index.catalog)
    if unknown:
        raise InvalidInput(f"ceiling names unknown actions {unknown}", field="actions")
    return ceiling


def plan_ceiling(index: PolicyIndex, principal: Principal, ceiling: Ceiling) -> Ceiling:
    """Check placing (or replacing) a ceiling: ``sub_accounts.manage`` in ``set_by``, which
    must be a strict ancestor. A ceiling only narrows, so it cannot escalate anything. A
    platform ceiling (``set_by=None``) is the system's (``check_ceiling``)."""
    _ceiling_authority(index, principal, ceiling.account_id, ceiling.set_by)
    return check_ceiling(index, ceiling)


def plan_ceiling_removal(
    index: PolicyIndex, principal: Principal, account_id: AccountId, set_by: AccountId | None
) -> Ceiling | None:
    """Check lifting the ceiling ``set_by`` placed on the account; returns it (or ``None``)."""
    _ceiling_authority(index, principal, account_id, set_by)
    return next((c for c in index.ceilings_on(account_id) if c.set_by == set_by), None)


def plan_impersonation(index: PolicyIndex, session: ImpersonationSession) -> ImpersonationSession:
    """Check starting ``session``: ``session.real_user_id`` must hold ``accounts.impersonate``
    through an inheriting role in a strict ancestor, the account must allow impersonation,
    and ``as_role`` there must be within the user's own rights. Never up or sideways."""
    if not session.is_active:
        raise InvalidInput("a new impersonation cannot already be ended", field="ended_at")
    user, account_id = session.real_user_id, session.account_id
    if not index.impersonation_allowed(account_id):
        raise _refuse(
            ImpersonationRefused, Reason.IMPERSONATION_FORBIDDEN, user, IMPERSONATE, account_id
        )
    gate = index.check_via(user, IMPERSONATE, account_id, direct=False)
    if not gate.allowed:
        reason = gate.reason
        if reason is Reason.NO_MEMBERSHIP:
            reason = Reason.IMPERSONATION_NOT_FROM_ANCESTOR
        raise _refuse(ImpersonationRefused, reason, user, IMPERSONATE, account_id, gate.role_id)
    role = index.role(session.as_role)
    # The session acts in this one account only, so the role's reach does not matter.
    _require_within(
        index,
        user,
        role,
        IMPERSONATE,
        account_id,
        Reason.GRANT_EXCEEDS_OWN_RIGHTS,
        reaches_descendants=False,
    )
    return session


def plan_impersonation_end(
    index: PolicyIndex, principal: Principal, session: ImpersonationSession, at: datetime
) -> tuple[ImpersonationSession, Decision]:
    """Check ending ``session``: the impersonator (the real user, or the session itself)
    ends it, or an administrator above the impersonated account who could impersonate
    it too (``accounts.impersonate`` through an inheriting role in a strict ancestor).
    Returns the ended session and the decision that allowed it; ending one that has
    ended is a ``Conflict``."""
    decision = _end_decision(index, principal, session)
    return end(session, at), decision  # "ended already" is told only to those who may end it


def _end_decision(
    index: PolicyIndex, principal: Principal, session: ImpersonationSession
) -> Decision:
    if acting_user_id(principal) == session.real_user_id and not isinstance(principal, ApiKey):
        return Decision(True, Reason.ALLOWED_AS_IMPERSONATOR, Scope.ALL)
    if isinstance(principal, str):
        gate = index.check_via(principal, IMPERSONATE, session.account_id, direct=False)
        if gate.allowed:
            return gate
        reason = gate.reason
    else:
        reason = Reason.PRINCIPAL_CANNOT_GRANT
    if reason is Reason.NO_MEMBERSHIP:
        reason = Reason.IMPERSONATION_NOT_FROM_ANCESTOR
    raise _refuse(ImpersonationRefused, reason, principal, IMPERSONATE, session.account_id)


def plan_impersonation_setting(
    index: PolicyIndex, principal: Principal, setting: ImpersonationSetting
) -> ImpersonationSetting:
    """Check changing whether the account may be impersonated: only a direct member of the
    account whose own role grants ``settings.manage`` decides (not an ancestor's admin)."""
    account_id = setting.account_id
    if not isinstance(principal, str):
        raise _refuse(
            ActionDenied, Reason.PRINCIPAL_CANNOT_GRANT, principal, MANAGE_SETTINGS, account_id
        )
    decision = index.require(principal, MANAGE_SETTINGS, account_id)
    direct = index.check_via(principal, MANAGE_SETTINGS, account_id, inherited=False)
    if not direct.allowed:
        raise _refuse(
            ActionDenied,
            Reason.NOT_A_DIRECT_MEMBER,
            principal,
            MANAGE_SETTINGS,
            account_id,
            decision.role_id,
        )
    return setting
