"""A plainly written reference model of the policy rules, for the property tests.

No indexes, no memo, no shortcuts: every question walks the generated data as the rules in
``docs/permissions.md`` say it. The engine must agree with it on every question.
"""

from __future__ import annotations

from subacct.domain import AccountId, RoleId, UserId
from subacct.policy import (
    IMPERSONATE,
    Action,
    ApiKey,
    ApiKeyKind,
    Decision,
    ImpersonationSession,
    Principal,
    Reason,
    Scope,
)
from subacct.testing.policy_strategies import PolicyWorld


class Reference:
    def __init__(self, world: PolicyWorld) -> None:
        self.world = world
        self.parent = {a.id: a.parent_id for a in world.accounts}
        self.roles = {r.id: r for r in world.roles}
        self.role_of = {(m.user_id, m.account_id): m.role for m in world.memberships}
        self.actions = set(world.catalog)
        forbidden: dict[AccountId, bool] = {}
        for setting in world.impersonation_settings:
            forbidden[setting.account_id] = not setting.allow_impersonation
        self.forbidden = {a for a, no in forbidden.items() if no}

    def ancestors(self, account: AccountId) -> list[AccountId]:
        out = []
        up = self.parent[account]
        while up is not None:
            out.append(up)
            up = self.parent[up]
        return out

    def paths(
        self, user: UserId, account: AccountId, direct: bool, inherited: bool
    ) -> list[tuple[RoleId, AccountId | None]]:
        """(role, ancestor or None for the user's own membership), nearest first."""
        out: list[tuple[RoleId, AccountId | None]] = []
        if direct and (user, account) in self.role_of:
            out.append((self.role_of[(user, account)], None))
        if inherited:
            for anc in self.ancestors(account):
                role = self.role_of.get((user, anc))
                if role is not None and self.roles[role].inherits:
                    out.append((role, anc))
        return out

    def refusing_ceiling(self, account: AccountId, action: Action) -> AccountId | None:
        for node in [account, *self.ancestors(account)]:
            for ceiling in self.world.ceilings:
                if ceiling.account_id == node and action not in ceiling.actions:
                    return node
        return None

    def check(self, principal: Principal, action: Action, account: AccountId) -> Decision:
        if action not in self.actions:
            return Decision(False, Reason.UNKNOWN_ACTION)
        if account not in self.parent:
            return Decision(False, Reason.UNKNOWN_ACCOUNT)
        if isinstance(principal, ApiKey):
            return self.key(principal, action, account)
        if isinstance(principal, ImpersonationSession):
            return self.session(principal, action, account)
        return self.user(principal, action, account)

    def user(
        self,
        user: UserId,
        action: Action,
        account: AccountId,
        direct: bool = True,
        inherited: bool = True,
    ) -> Decision:
        if action not in self.actions:
            return Decision(False, Reason.UNKNOWN_ACTION)
        if account not in self.parent:
            return Decision(False, Reason.UNKNOWN_ACCOUNT)
        paths = self.paths(user, account, direct, inherited)
        if not paths:
            return Decision(False, Reason.NO_MEMBERSHIP)
        granting = [
            (self.roles[role].rights[action], role, via)
            for role, via in paths
            if action in self.roles[role].rights
        ]
        if not granting:
            return Decision(False, Reason.ROLE_LACKS_ACTION, None, paths[0][0], paths[0][1])
        widest = [g for g in granting if g[0] is Scope.ALL]
        scope, role, via = widest[0] if widest else granting[0]
        ceiling = self.refusing_ceiling(account, action)
        if ceiling is not None:
            return Decision(False, Reason.CEILING_EXCLUDES_ACTION, None, role, via, ceiling)
        reason = Reason.ALLOWED_BY_ROLE if via is None else Reason.ALLOWED_BY_INHERITED_ROLE
        return Decision(True, reason, scope, role, via)

    def key(self, key: ApiKey, action: Action, account: AccountId) -> Decision:
        if key.revoked_at is not None:
            return Decision(False, Reason.API_KEY_REVOKED)
        if key.account_id != account:
            return Decision(False, Reason.API_KEY_WRONG_ACCOUNT)
        grants = {g.action: g.scope for g in key.grants}
        if action not in grants:
            return Decision(False, Reason.API_KEY_LACKS_ACTION)
        ceiling = self.refusing_ceiling(account, action)
        if ceiling is not None:
            return Decision(False, Reason.CEILING_EXCLUDES_ACTION, None, None, None, ceiling)
        scope = grants[action]
        if key.kind is ApiKeyKind.PERSONAL:  # and its creator must hold it here now
            own = self.user(key.created_by, action, account)
            if own.scope is None:
                return Decision(False, Reason.API_KEY_CREATOR_LACKS_ACTION)
            scope = Scope.OWN if Scope.OWN in (scope, own.scope) else Scope.ALL
        return Decision(True, Reason.ALLOWED_BY_API_KEY, scope)

    def session(self, s: ImpersonationSession, action: Action, account: AccountId) -> Decision:
        if s.ended_at is not None:
            return Decision(False, Reason.IMPERSONATION_ENDED)
        if s.account_id != account:
            return Decision(False, Reason.IMPERSONATION_WRONG_ACCOUNT)
        if account in self.forbidden:
            return Decision(False, Reason.IMPERSONATION_FORBIDDEN)
        gate = self.user(s.real_user_id, IMPERSONATE, account, direct=False)
        if not gate.allowed:
            return Decision(
                False, Reason.IMPERSONATOR_NOT_AUTHORIZED, None, gate.role_id, gate.inherited_from
            )
        role = self.roles.get(s.as_role)
        if role is None or action not in role.rights:
            return Decision(False, Reason.ROLE_LACKS_ACTION, None, s.as_role, gate.inherited_from)
        own = self.user(s.real_user_id, action, account)
        if not own.allowed:
            return own
        narrow = Scope.OWN in (own.scope, role.rights[action])
        scope = Scope.OWN if narrow else Scope.ALL
        return Decision(
            True, Reason.ALLOWED_BY_IMPERSONATION, scope, s.as_role, gate.inherited_from
        )

    def actions_in(self, principal: Principal, account: AccountId) -> dict[Action, Scope]:
        out = {}
        for action in sorted(self.actions):
            decision = self.check(principal, action, account)
            if decision.scope is not None:
                out[action] = decision.scope
        return out

    def accounts_with(self, principal: Principal, action: Action) -> list[AccountId]:
        return sorted(a for a in self.parent if self.check(principal, action, a).allowed)
