"""The decision core of ``PolicyIndex``: the tables and ``check``.

Decisions are values of (reason, scope, role, membership account, ceiling account) only, so
the engine keeps each distinct one once in ``_verdicts`` and hands out the shared object:
a check allocates nothing but a small key tuple. The memo can only grow with distinct
(role, account) pairs actually decided; it never changes an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Final

from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.errors import InvalidInput, quoted
from subacct.policy.actions import ACCESS_CLIENTS, IMPERSONATE, Action, ActionCatalog, Scope
from subacct.policy.api_keys import ApiKey, ApiKeyKind
from subacct.policy.ceilings import Ceiling
from subacct.policy.decisions import Decision, Principal, Reason, acting_user_id, denial_error
from subacct.policy.impersonation import ImpersonationSession
from subacct.policy.roles import Role

__all__ = ["Engine", "VerdictKey"]

_ALL: Final = Scope.ALL
_OWN: Final = Scope.OWN
_PERSONAL: Final = ApiKeyKind.PERSONAL
_R = Reason

# Verdict kinds (small ints: enum members hash in Python, ints in C). A memo key is
# (kind, role, membership account, ceiling account).
_DIRECT: Final = 0  # + 1 for Scope.OWN
_INHERIT: Final = 2  # + 1 for Scope.OWN
_IMPERSONATED: Final = 4  # + 1 for Scope.OWN
_LACKS: Final = 6
_CEILING: Final = 7
_NOT_OWNER: Final = 8
_NOT_AUTHORIZED: Final = 9
_LINKED: Final = 10  # + 1 for Scope.OWN
_KINDS: Final[tuple[tuple[Reason, Scope | None], ...]] = (
    (Reason.ALLOWED_BY_ROLE, Scope.ALL),
    (Reason.ALLOWED_BY_ROLE, Scope.OWN),
    (Reason.ALLOWED_BY_INHERITED_ROLE, Scope.ALL),
    (Reason.ALLOWED_BY_INHERITED_ROLE, Scope.OWN),
    (Reason.ALLOWED_BY_IMPERSONATION, Scope.ALL),
    (Reason.ALLOWED_BY_IMPERSONATION, Scope.OWN),
    (Reason.ROLE_LACKS_ACTION, None),
    (Reason.CEILING_EXCLUDES_ACTION, None),
    (Reason.NOT_RECORD_OWNER, None),
    (Reason.IMPERSONATOR_NOT_AUTHORIZED, None),
    (Reason.ALLOWED_BY_AGENCY_LINK, Scope.ALL),
    (Reason.ALLOWED_BY_AGENCY_LINK, Scope.OWN),
)
VerdictKey = tuple[int, RoleId | None, AccountId | None, AccountId | None]

_CONSTANT: Final[Mapping[Reason, Decision]] = MappingProxyType(
    {reason: Decision(False, reason) for reason in Reason if not reason.allowed}
)
_KEY_ALL: Final = Decision(True, Reason.ALLOWED_BY_API_KEY, Scope.ALL)
_KEY_OWN: Final = Decision(True, Reason.ALLOWED_BY_API_KEY, Scope.OWN)
_NO_MEMBERSHIP: Final = _CONSTANT[Reason.NO_MEMBERSHIP]


def narrower(a: Scope, b: Scope) -> Scope:
    """The narrower of two scopes."""
    return _OWN if a is _OWN or b is _OWN else _ALL


class Engine:
    """Tables plus ``check``. Internal base of ``PolicyIndex``."""

    _TABLES: ClassVar[tuple[str, ...]] = (
        "_catalog",
        "_roles",
        "_rights",
        "_inheriting",
        "_parent",
        "_ancestors",
        "_children",
        "_members",
        "_ceilings",
        "_masks",
        "_no_impersonation",
        "_links",
        "_verdicts",
    )
    __slots__ = (*_TABLES, "_known", "_direct", "_by_account")

    def __init__(
        self,
        *,
        catalog: ActionCatalog,
        roles: dict[RoleId, Role],
        rights: dict[RoleId, dict[Action, Scope]],
        inheriting: frozenset[RoleId],
        parent: dict[AccountId, AccountId | None],
        ancestors: dict[AccountId, tuple[AccountId, ...]],
        children: dict[AccountId, tuple[AccountId, ...]],
        members: dict[UserId, dict[AccountId, RoleId]],
        ceilings: dict[AccountId, tuple[Ceiling, ...]],
        masks: dict[AccountId, frozenset[Action]],
        no_impersonation: frozenset[AccountId],
        links: dict[AccountId, tuple[AccountId, RoleId]] | None = None,
        verdicts: dict[VerdictKey, Decision] | None = None,
    ) -> None:
        """Internal: use ``PolicyIndex.build``. The tables are never mutated afterwards."""
        self._catalog = catalog
        self._known = catalog.names
        self._roles = roles
        # Decisions made by a user's own membership depend on the role alone: (allowed on
        # all records, allowed on own records, role lacks the action), made once here.
        self._direct = {
            rid: (
                Decision(True, _R.ALLOWED_BY_ROLE, _ALL, rid),
                Decision(True, _R.ALLOWED_BY_ROLE, _OWN, rid),
                Decision(False, _R.ROLE_LACKS_ACTION, None, rid),
            )
            for rid in roles
        }
        self._rights = rights
        self._inheriting = inheriting
        self._parent = parent
        self._ancestors = ancestors
        self._children = children
        self._members = members
        self._ceilings = ceilings
        self._masks = masks
        self._no_impersonation = no_impersonation
        # linked client -> (its agency, the link's access role)
        self._links: dict[AccountId, tuple[AccountId, RoleId]] = {} if links is None else links
        # Pure values of their keys, so indexes derived with ``with_*`` share the memo.
        self._verdicts: dict[VerdictKey, Decision] = {} if verdicts is None else verdicts
        # ``{account: users with a membership there}``, made on the first ``candidates``
        self._by_account: dict[AccountId, tuple[UserId, ...]] | None = None

    def _verdict(
        self,
        kind: int,
        role: RoleId | None = None,
        via: AccountId | None = None,
        ceiling: AccountId | None = None,
    ) -> Decision:
        key = (kind, role, via, ceiling)
        decision = self._verdicts.get(key)
        if decision is None:
            reason, scope = _KINDS[kind]
            made = Decision(reason.allowed, reason, scope, role, via, ceiling)
            decision = self._verdicts.setdefault(key, made)
        return decision

    # -- checks -------------------------------------------------------------------------------

    def check(self, principal: Principal, action: Action, account_id: AccountId) -> Decision:
        """May ``principal`` do ``action`` in ``account_id``? Never raises for a "no"."""
        if not isinstance(principal, str):
            return self._other(principal, action, account_id)
        # ``_user`` unrolled for the common answers (a call is a tenth of a check); anything
        # else goes to ``_user``. The tests hold ``check`` and ``check_via`` to one model.
        held = self._members.get(principal)
        if held is None:
            return self._user(principal, action, account_id, True, True)
        rights = self._rights
        scope: Scope | None = None
        role = held.get(account_id)
        if role is not None:
            scope = rights[role].get(action)
            if scope is not None:
                mask = self._masks.get(account_id)
                if scope is _ALL and (mask is None or action in mask):
                    return self._direct[role][0]
                return self._user(principal, action, account_id, True, True)
        inheriting = self._inheriting
        for anc in self._ancestors.get(account_id, ()):
            r = held.get(anc)
            if r is not None and r in inheriting:
                scope = rights[r].get(action)
                if scope is _ALL:
                    mask = self._masks.get(account_id)
                    if mask is None or action in mask:
                        decision = self._verdicts.get((_INHERIT, r, anc, None))
                        if decision is None:
                            decision = self._verdict(_INHERIT, r, anc)
                        return decision
                return self._user(principal, action, account_id, True, True)
        if action in self._known and account_id not in self._links:
            if role is not None:  # a membership here (so a known account) that lacks it
                return self._direct[role][2]
            if account_id in self._ancestors:
                return _NO_MEMBERSHIP
        return self._user(principal, action, account_id, True, True)

    def _other(self, principal: Principal, action: Action, account_id: AccountId) -> Decision:
        if isinstance(principal, ApiKey):
            return self._key(principal, action, account_id)
        if isinstance(principal, ImpersonationSession):
            return self._session(principal, action, account_id)
        raise InvalidInput(
            f"principal must be a UserId, an ApiKey or an ImpersonationSession, not "
            f"{quoted(principal)}",
            field="principal",
        )

    def check_via(
        self,
        user_id: UserId,
        action: Action,
        account_id: AccountId,
        *,
        direct: bool = True,
        inherited: bool = True,
    ) -> Decision:
        """``check`` for a user counting only the user's own membership in the account
        (``inherited=False``) or only inheriting roles held above it (``direct=False``)."""
        return self._user(user_id, action, account_id, direct, inherited)

    def check_record(
        self, principal: Principal, action: Action, account_id: AccountId, owner_id: UserId | None
    ) -> Decision:
        """``check`` for one record owned by ``owner_id``: an ``OWN`` grant covers only the
        acting user's records (``not_record_owner`` otherwise)."""
        d = self.check(principal, action, account_id)
        if d.scope is _OWN and owner_id != acting_user_id(principal):
            return self._verdict(_NOT_OWNER, d.role_id, d.inherited_from)
        return d

    def require(self, principal: Principal, action: Action, account_id: AccountId) -> Decision:
        """The allowing decision, or raise its typed ``PermissionDenied`` subclass."""
        d = self.check(principal, action, account_id)
        if not d.allowed:
            raise denial_error(principal, action, account_id, d)
        return d

    def require_record(
        self, principal: Principal, action: Action, account_id: AccountId, owner_id: UserId | None
    ) -> Decision:
        """``check_record`` that raises when denied."""
        d = self.check_record(principal, action, account_id, owner_id)
        if not d.allowed:
            raise denial_error(principal, action, account_id, d)
        return d

    def candidates(self, account_id: AccountId) -> list[UserId]:
        """Every user ``check`` could allow in the account, in id order: those with a
        membership in it or in one of its ancestors, the only memberships ``_user`` reads
        for it (a superset: ``check`` still decides each one). The account-to-users
        table is made once per index, on the first call (a memo: it never changes an
        answer); a call then costs O(depth + candidates)."""
        by_account = self._by_account
        if by_account is None:
            table: dict[AccountId, list[UserId]] = {}
            for user, held in self._members.items():
                for account in held:
                    table.setdefault(account, []).append(user)
            by_account = self._by_account = {a: tuple(us) for a, us in table.items()}
        found: set[UserId] = set()
        for node in (account_id, *self._ancestors.get(account_id, ())):
            found.update(by_account.get(node, ()))
        return sorted(found)

    def _user(
        self,
        user: UserId,
        action: Action,
        account_id: AccountId,
        direct: bool,
        inherited: bool,
    ) -> Decision:
        # The hot path, kept flat on purpose. A role only grants catalog actions and
        # memberships only exist in known accounts, so the validity of the action and the
        # account is looked at only on the way to a refusal.
        scope: Scope | None = None
        # ``via``: the ancestor whose inheriting membership decided (None: the user's own)
        role = via = first_role = first_via = None
        held = self._members.get(user)
        if held is not None:
            rights = self._rights
            if direct:
                r = held.get(account_id)
                if r is not None:
                    first_role = r
                    scope = rights[r].get(action)
                    if scope is not None:
                        role = r
            if inherited and scope is not _ALL:
                inheriting = self._inheriting
                for anc in self._ancestors.get(account_id, ()):
                    r = held.get(anc)
                    if r is not None and r in inheriting:
                        if first_role is None:
                            first_role, first_via = r, anc
                        s = rights[r].get(action)
                        if s is not None and (scope is None or s is _ALL):
                            scope, role, via = s, r, anc
                            if s is _ALL:
                                break
            linked = False
            if direct and scope is not _ALL and account_id in self._links:
                agency, link_role = self._links[account_id]
                if self._agency_admin(user, agency):
                    if first_role is None:
                        first_role, first_via = link_role, agency
                    s = rights[link_role].get(action)
                    if s is not None and (scope is None or s is _ALL):
                        scope, role, via, linked = s, link_role, agency, True
            if scope is not None:
                mask = self._masks.get(account_id)
                if mask is None or action in mask:
                    if via is None:
                        return self._direct[role][scope is _OWN]  # type: ignore[index]
                    kind = (_LINKED if linked else _INHERIT) + (scope is _OWN)
                    decision = self._verdicts.get((kind, role, via, None))
                    if decision is None:
                        decision = self._verdict(kind, role, via)
                    return decision
                ceiling = self._refusing_ceiling(account_id, action)
                return self._verdict(_CEILING, role, via, ceiling)
        unknown = self._unknown(action, account_id)
        if unknown is not None:
            return _CONSTANT[unknown]
        if first_role is None:
            return _NO_MEMBERSHIP
        if first_via is None:
            return self._direct[first_role][2]
        return self._verdict(_LACKS, first_role, first_via)

    def _agency_admin(self, user: UserId, agency: AccountId) -> bool:
        """Whether ``user`` works in the agency's linked clients (``clients.access`` held
        in the agency); links do not chain, so this never recurses further."""
        return self._user(user, ACCESS_CLIENTS, agency, True, True).allowed

    def _key(self, key: ApiKey, action: Action, account_id: AccountId) -> Decision:
        reason = self._unknown(action, account_id)
        if reason is None:
            if key.revoked_at is not None:
                reason = _R.API_KEY_REVOKED
            elif key.account_id != account_id:
                reason = _R.API_KEY_WRONG_ACCOUNT
            elif action not in key.rights:
                reason = _R.API_KEY_LACKS_ACTION
        if reason is not None:
            return _CONSTANT[reason]
        mask = self._masks.get(account_id)
        if mask is not None and action not in mask:
            ceiling = self._refusing_ceiling(account_id, action)
            return self._verdict(_CEILING, None, None, ceiling)
        scope = key.rights[action]
        if key.kind is _PERSONAL:  # within what its creator holds here now
            own = self._user(key.created_by, action, account_id, True, True).scope
            if own is None:
                return _CONSTANT[_R.API_KEY_CREATOR_LACKS_ACTION]
            scope = narrower(scope, own)
        return _KEY_ALL if scope is _ALL else _KEY_OWN

    def _session(self, s: ImpersonationSession, action: Action, account_id: AccountId) -> Decision:
        reason = self._unknown(action, account_id)
        if reason is None:
            if s.ended_at is not None:
                reason = _R.IMPERSONATION_ENDED
            elif s.account_id != account_id:
                reason = _R.IMPERSONATION_WRONG_ACCOUNT
            elif account_id in self._no_impersonation:
                reason = _R.IMPERSONATION_FORBIDDEN
        if reason is not None:
            return _CONSTANT[reason]
        gate = self._user(s.real_user_id, IMPERSONATE, account_id, False, True)
        via = gate.inherited_from
        if not gate.allowed:
            return self._verdict(_NOT_AUTHORIZED, gate.role_id, via)
        role_scope = self._rights.get(s.as_role, {}).get(action)
        if role_scope is None:
            return self._verdict(_LACKS, s.as_role, via)
        own = self._user(s.real_user_id, action, account_id, True, True)
        if own.scope is None:
            return own
        kind = _IMPERSONATED + (narrower(role_scope, own.scope) is _OWN)
        return self._verdict(kind, s.as_role, via)

    def _unknown(self, action: Action, account_id: AccountId) -> Reason | None:
        if action not in self._known:
            return _R.UNKNOWN_ACTION
        if account_id not in self._ancestors:
            return _R.UNKNOWN_ACCOUNT
        return None

    def _refusing_ceiling(self, account_id: AccountId, action: Action) -> AccountId | None:
        for node in (account_id, *self._ancestors[account_id]):
            for ceiling in self._ceilings.get(node, ()):
                if action not in ceiling.allowed:
                    return node
        return None
