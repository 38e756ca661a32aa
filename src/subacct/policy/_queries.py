"""The query side of ``PolicyIndex``: reverse queries for UIs and table accessors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.errors import AccountNotFound, InvalidInput, RoleNotFound, quoted
from subacct.policy._engine import Engine, narrower
from subacct.policy.actions import IMPERSONATE, Action, ActionCatalog, Scope
from subacct.policy.api_keys import ApiKey
from subacct.policy.ceilings import Ceiling
from subacct.policy.decisions import Principal
from subacct.policy.impersonation import ImpersonationSession
from subacct.policy.roles import Role

__all__ = ["Queries"]

_ALL: Final = Scope.ALL


def _merge(out: dict[Action, Scope], rights: Mapping[Action, Scope]) -> None:
    for action, scope in rights.items():
        if out.get(action) is not _ALL:
            out[action] = scope


class Queries(Engine):
    """Reverse queries and accessors. Internal base of ``PolicyIndex``."""

    __slots__ = ()

    # -- reverse queries ----------------------------------------------------------------------

    def actions_in(self, principal: Principal, account_id: AccountId) -> dict[Action, Scope]:
        """Every action ``principal`` may do in the account, with its scope, in name order.

        Agrees with ``check`` on every action of the catalog. Costs O(depth + rights).
        """
        if account_id not in self._ancestors:
            raise AccountNotFound(account_id)
        if isinstance(principal, str):
            out = self._user_rights(principal, account_id, True, True)
        elif isinstance(principal, ApiKey):
            out = {}
            if principal.revoked_at is None and principal.account_id == account_id:
                out = {a: s for a, s in principal.rights.items() if a in self._known}
            if out and principal.is_personal:  # within what its creator holds here now
                own = self._user_rights(principal.created_by, account_id, True, True)
                out = {a: narrower(s, own[a]) for a, s in out.items() if a in own}
        elif isinstance(principal, ImpersonationSession):
            out = self._session_rights(principal, account_id)
        else:
            raise InvalidInput(f"unknown principal {quoted(principal)}", field="principal")
        mask = self._masks.get(account_id)
        return {a: out[a] for a in sorted(out) if mask is None or a in mask}

    def inheritable_rights(
        self, principal: Principal, account_id: AccountId
    ) -> dict[Action, Scope]:
        """The part of ``actions_in`` that also reaches every descendant of the account:
        rights from inheriting roles held here or above (users only)."""
        if account_id not in self._ancestors:
            raise AccountNotFound(account_id)
        if not isinstance(principal, str):
            return {}
        out = self._user_rights(principal, account_id, False, True)
        held = self._members.get(principal, {})
        role = held.get(account_id)
        if role is not None and role in self._inheriting:
            _merge(out, self._rights[role])
        mask = self._masks.get(account_id)
        return {a: out[a] for a in sorted(out) if mask is None or a in mask}

    def _user_rights(
        self, user: UserId, account_id: AccountId, direct: bool, inherited: bool
    ) -> dict[Action, Scope]:
        out: dict[Action, Scope] = {}
        held = self._members.get(user)
        if held is None:
            return out
        role = held.get(account_id)
        if direct and role is not None:
            _merge(out, self._rights[role])
        link = self._links.get(account_id) if direct else None
        if link is not None and self._agency_admin(user, link[0]):
            _merge(out, self._rights[link[1]])
        if inherited:
            for anc in self._ancestors[account_id]:
                role = held.get(anc)
                if role is not None and role in self._inheriting:
                    _merge(out, self._rights[role])
        return out

    def _session_rights(
        self, s: ImpersonationSession, account_id: AccountId
    ) -> dict[Action, Scope]:
        if s.ended_at is not None or s.account_id != account_id:
            return {}
        if account_id in self._no_impersonation:
            return {}
        if not self._user(s.real_user_id, IMPERSONATE, account_id, False, True).allowed:
            return {}
        own = self._user_rights(s.real_user_id, account_id, True, True)
        role = self._rights.get(s.as_role, {})
        return {a: narrower(scope, own[a]) for a, scope in role.items() if a in own}

    def accounts_with(self, principal: Principal, action: Action) -> list[AccountId]:
        """Every account where ``principal`` may do ``action``, in id order.

        Visits only the principal's memberships and the subtrees below its inheriting
        memberships (pruned where a ceiling excludes the action), never every account.
        """
        if action not in self._known:
            raise InvalidInput(f"action {quoted(action)} is not in the catalog", field="action")
        if isinstance(principal, ApiKey | ImpersonationSession):
            account_id = principal.account_id
            ok = account_id in self._ancestors and self.check(principal, action, account_id)
            return [account_id] if ok else []
        if not isinstance(principal, str):
            raise InvalidInput(f"unknown principal {quoted(principal)}", field="principal")
        found: set[AccountId] = set()
        covered: set[AccountId] = set()
        held = self._members.get(principal, {})
        by_depth = sorted(held.items(), key=lambda item: len(self._ancestors[item[0]]))
        for account_id, role in by_depth:
            if action not in self._rights[role]:
                continue
            if role not in self._inheriting:
                mask = self._masks.get(account_id)
                if mask is None or action in mask:
                    found.add(account_id)
                continue
            stack = [account_id]
            while stack:
                node = stack.pop()
                if node in covered:
                    continue
                covered.add(node)
                mask = self._masks.get(node)
                if mask is not None and action not in mask:
                    continue  # masks only shrink downwards: the whole subtree is excluded
                found.add(node)
                stack.extend(self._children.get(node, ()))
        for client, (agency, role) in self._links.items():
            if action in self._rights[role] and client not in found:
                mask = self._masks.get(client)
                if (mask is None or action in mask) and self._agency_admin(principal, agency):
                    found.add(client)
        return sorted(found)

    # -- accessors ----------------------------------------------------------------------------

    @property
    def catalog(self) -> ActionCatalog:
        return self._catalog

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._parent

    def __len__(self) -> int:
        return len(self._parent)

    def role(self, role_id: RoleId) -> Role:
        """The role definition (``RoleNotFound`` if the role set has no such role)."""
        try:
            return self._roles[role_id]
        except KeyError:
            raise RoleNotFound(role_id) from None

    def roles(self) -> list[Role]:
        """Every role, in id order."""
        return [self._roles[r] for r in sorted(self._roles)]

    def role_of(self, user_id: UserId, account_id: AccountId) -> RoleId | None:
        """The role of the user's own membership in the account (``None``: not a member)."""
        return self._members.get(user_id, {}).get(account_id)

    def memberships_of(self, user_id: UserId) -> dict[AccountId, RoleId]:
        """The user's memberships, ``{account: role}`` in account order."""
        held = self._members.get(user_id, {})
        return {a: held[a] for a in sorted(held)}

    def parent_of(self, account_id: AccountId) -> AccountId | None:
        self._require_account(account_id)
        return self._parent[account_id]

    def ancestors_of(self, account_id: AccountId) -> tuple[AccountId, ...]:
        """Parent first, root last."""
        self._require_account(account_id)
        return self._ancestors[account_id]

    def children_of(self, account_id: AccountId) -> tuple[AccountId, ...]:
        self._require_account(account_id)
        return self._children.get(account_id, ())

    def ceilings_on(self, account_id: AccountId) -> tuple[Ceiling, ...]:
        """Ceilings placed on the account itself (not those of its ancestors)."""
        self._require_account(account_id)
        return self._ceilings.get(account_id, ())

    def ceiling_mask(self, account_id: AccountId) -> frozenset[Action] | None:
        """The intersection of every ceiling on the account's path; ``None``: no ceiling."""
        self._require_account(account_id)
        return self._masks.get(account_id)

    def agency_link_of(self, account_id: AccountId) -> tuple[AccountId, RoleId] | None:
        """``(agency, access role)`` of a linked client account (``None``: not linked)."""
        self._require_account(account_id)
        return self._links.get(account_id)

    def impersonation_allowed(self, account_id: AccountId) -> bool:
        self._require_account(account_id)
        return account_id not in self._no_impersonation

    def _require_account(self, account_id: AccountId) -> None:
        if account_id not in self._parent:
            raise AccountNotFound(account_id)
