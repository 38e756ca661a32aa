"""``PolicyIndex``: the decision engine over one snapshot of accounts, memberships and rules.

Build it from plain data (accounts with their parent, memberships, roles, ceilings,
impersonation settings). A check walks only the account's ancestor chain (a few levels),
never all accounts; reverse queries visit the principal's memberships and, for inherited
rights, the descendants of those accounts. The index never changes its answers: ``with_*``
methods return an updated copy for the frequent changes (memberships, new sub-accounts,
ceilings, roles, settings); rebuild with ``build`` after moving or removing accounts. (It
does memoise decision values, which depend on nothing but their own fields.)

Account status is not the policy's business: hosts check the lifecycle (``can_send``,
closed accounts) in the domain, or leave closed accounts out of the build.

How a check decides (see ``docs/permissions.md``):

1. unknown action or account: denied (``unknown_action`` / ``unknown_account``);
2. role rights: the user's membership in the account, plus memberships in ancestors whose
   role ``inherits`` (parent administrators); the widest scope wins, the nearest on ties;
   in a linked client account (seed 002), also the link's access role for the users
   who hold ``clients.access`` in the agency (``allowed_by_agency_link``, naming the
   agency in ``inherited_from``);
3. every ceiling on the account and its ancestors must include the action. A ceiling
   binds only while its ``set_by`` is a strict ancestor of its account
   (``subacct.policy.ceilings.binds``): the index ignores one placed by an account that
   is no longer above it (after a move), as the service drops it from storage.

>>> from datetime import datetime, UTC
>>> from subacct.domain import Account, AccountKind, Membership
>>> from subacct.policy import PolicyIndex, SEND_MESSAGES, VIEW_BILLING
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> master = Account("agencydemo", "Agency Demo", AccountKind.MASTER, t0)
>>> subs = [Account(f"agency{i}", f"Agency {i}", AccountKind.SUB, t0, "agencydemo")
...         for i in (1, 2)]
>>> index = PolicyIndex.build([master, *subs], [
...     Membership("pam", "agencydemo", "parent_admin", t0),
...     Membership("bob", "agency1", "basic_user", t0)])
>>> index.check("pam", VIEW_BILLING, "agency2").code
'allowed_by_inherited_role'
>>> index.check("bob", SEND_MESSAGES, "agency2").code
'no_membership'
>>> index.accounts_with("bob", SEND_MESSAGES)
['agency1']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.errors import AccountNotFound, AlreadyExists, InvalidInput, RoleNotFound, quoted
from subacct.policy._queries import Queries
from subacct.policy._tables import (
    AccountLike,
    MembershipLike,
    ancestor_table,
    children_table,
    fill_masks,
    parent_table,
)
from subacct.policy.actions import DEFAULT_CATALOG, Action, ActionCatalog
from subacct.policy.ceilings import Ceiling, binds
from subacct.policy.impersonation import ImpersonationSetting
from subacct.policy.roles import DEFAULT_ROLES, Role

__all__ = ["LinkLike", "PolicyIndex"]


class LinkLike(Protocol):
    """What the index reads of an agency link (``subacct.domain.AgencyLink``)."""

    @property
    def agency_id(self) -> AccountId: ...
    @property
    def client_id(self) -> AccountId: ...
    @property
    def access_role(self) -> RoleId: ...


def _role_tables(
    roles: Iterable[Role], catalog: ActionCatalog
) -> tuple[dict[RoleId, Role], dict[RoleId, dict[Action, Any]], frozenset[RoleId]]:
    by_id: dict[RoleId, Role] = {}
    for role in roles:
        if not isinstance(role, Role):
            raise InvalidInput(f"{quoted(role)} is not a Role", field="roles")
        if role.id in by_id:
            raise InvalidInput(f"role {quoted(role.id)} defined twice", field="roles")
        unknown = sorted(a for a in role.rights if a not in catalog)
        if unknown:
            raise InvalidInput(
                f"role {quoted(role.id)} grants actions missing from the catalog: {unknown}",
                field="roles",
            )
        by_id[role.id] = role
    rights = {rid: dict(role.rights) for rid, role in by_id.items()}
    inheriting = frozenset(rid for rid, role in by_id.items() if role.inherits)
    return by_id, rights, inheriting


class PolicyIndex(Queries):
    """An immutable, indexed snapshot of the policy data. Make one with ``build``."""

    __slots__ = ()

    @classmethod
    def build(
        cls,
        accounts: Iterable[AccountLike],
        memberships: Iterable[MembershipLike] = (),
        *,
        roles: Iterable[Role] = DEFAULT_ROLES,
        ceilings: Iterable[Ceiling] = (),
        impersonation_settings: Iterable[ImpersonationSetting] = (),
        catalog: ActionCatalog = DEFAULT_CATALOG,
        links: Iterable[LinkLike] = (),
    ) -> PolicyIndex:
        """Index the data; refuses unknown accounts and roles, duplicates and cycles
        (links too: a client is linked once, and a client is no agency)."""
        parent = parent_table(accounts)
        ancestors = ancestor_table(parent)
        children = children_table(parent)
        role_by_id, rights, inheriting = _role_tables(roles, catalog)
        members: dict[UserId, dict[AccountId, RoleId]] = {}
        for m in memberships:
            if m.account_id not in parent:
                raise AccountNotFound(m.account_id)
            if m.role not in role_by_id:
                raise RoleNotFound(m.role)
            held = members.setdefault(m.user_id, {})
            if m.account_id in held:
                raise InvalidInput(
                    f"user {quoted(m.user_id)} has two memberships in account "
                    f"{quoted(m.account_id)}",
                    field="memberships",
                )
            held[m.account_id] = m.role
        by_account = _ceiling_table(ceilings, ancestors, catalog)
        masks: dict[AccountId, frozenset[Action]] = {}
        for account_id in by_account:
            if not any(a in by_account for a in ancestors[account_id]):
                fill_masks(masks, account_id, None, by_account, children)
        forbidden: set[AccountId] = set()
        for setting in impersonation_settings:
            if setting.account_id not in parent:
                raise AccountNotFound(setting.account_id)
            if setting.allow_impersonation:
                forbidden.discard(setting.account_id)
            else:
                forbidden.add(setting.account_id)
        return cls(
            links=_link_table(links, parent, role_by_id),
            catalog=catalog,
            roles=role_by_id,
            rights=rights,
            inheriting=inheriting,
            parent=parent,
            ancestors=ancestors,
            children=children,
            members=members,
            ceilings=by_account,
            masks=masks,
            no_impersonation=frozenset(forbidden),
        )

    # -- incremental updates: each returns a new index and leaves this one untouched ----------

    def _replace(self, **tables: Any) -> PolicyIndex:
        current = {name.lstrip("_"): getattr(self, name) for name in self._TABLES}
        return PolicyIndex(**{**current, **tables})

    def with_membership(self, membership: MembershipLike) -> PolicyIndex:
        """Add the membership, or change the role of the user's membership in that account."""
        if membership.account_id not in self._parent:
            raise AccountNotFound(membership.account_id)
        if membership.role not in self._roles:
            raise RoleNotFound(membership.role)
        members = dict(self._members)
        held = dict(members.get(membership.user_id, {}))
        held[membership.account_id] = membership.role
        members[membership.user_id] = held
        return self._replace(members=members)

    def without_membership(self, user_id: UserId, account_id: AccountId) -> PolicyIndex:
        """Remove the user's membership in the account (no-op when there is none)."""
        held = self._members.get(user_id)
        if held is None or account_id not in held:
            return self
        members = dict(self._members)
        rest = {a: r for a, r in held.items() if a != account_id}
        if rest:
            members[user_id] = rest
        else:
            del members[user_id]
        return self._replace(members=members)

    def with_account(self, account: AccountLike) -> PolicyIndex:
        """Add a new account (a new master or a new sub under a known parent)."""
        if account.id in self._parent:
            raise AlreadyExists(
                f"account {quoted(account.id)} is already indexed; rebuild after moving accounts",
                account_id=account.id,
            )
        parent_id = account.parent_id
        parent = {**self._parent, account.id: parent_id}
        if parent_id is None:
            return self._replace(parent=parent, ancestors={**self._ancestors, account.id: ()})
        if parent_id not in self._parent:
            raise AccountNotFound(parent_id)
        ancestors = {**self._ancestors, account.id: (parent_id, *self._ancestors[parent_id])}
        siblings = self._children.get(parent_id, ())
        children = {**self._children, parent_id: tuple(sorted((*siblings, account.id)))}
        mask = self._masks.get(parent_id)
        masks = self._masks if mask is None else {**self._masks, account.id: mask}
        return self._replace(parent=parent, ancestors=ancestors, children=children, masks=masks)

    def with_role(self, role: Role) -> PolicyIndex:
        """Add a role or replace the definition of one with the same id."""
        others = [r for rid, r in self._roles.items() if rid != role.id]
        roles, rights, inheriting = _role_tables([*others, role], self._catalog)
        return self._replace(roles=roles, rights=rights, inheriting=inheriting)

    def with_ceiling(self, ceiling: Ceiling) -> PolicyIndex:
        """Place a ceiling, replacing the one with the same account and ``set_by`` (which
        must be ``None`` or a strict ancestor of the account: ``InvalidInput``)."""
        if ceiling.account_id not in self._parent:
            raise AccountNotFound(ceiling.account_id)
        if not binds(ceiling, self._ancestors[ceiling.account_id]):
            raise InvalidInput(
                f"{quoted(ceiling.set_by)} is not an ancestor of {quoted(ceiling.account_id)}; "
                "a ceiling is placed from above",
                field="set_by",
            )
        placed = [
            c for c in self._ceilings.get(ceiling.account_id, ()) if c.set_by != ceiling.set_by
        ]
        return self._with_ceilings(ceiling.account_id, [*placed, ceiling])

    def without_ceiling(self, account_id: AccountId, set_by: AccountId | None) -> PolicyIndex:
        """Lift the ceiling placed on ``account_id`` by ``set_by`` (no-op when there is none)."""
        placed = self._ceilings.get(account_id, ())
        kept = [c for c in placed if c.set_by != set_by]
        if len(kept) == len(placed):
            return self
        return self._with_ceilings(account_id, kept)

    def _with_ceilings(self, account_id: AccountId, placed: list[Ceiling]) -> PolicyIndex:
        others = (c for a, cs in self._ceilings.items() if a != account_id for c in cs)
        by_account = _ceiling_table([*others, *placed], self._ancestors, self._catalog)
        masks = dict(self._masks)
        parent_id = self._parent[account_id]
        inherited = None if parent_id is None else self._masks.get(parent_id)
        fill_masks(masks, account_id, inherited, by_account, self._children)
        return self._replace(ceilings=by_account, masks=masks)

    def with_impersonation_setting(self, setting: ImpersonationSetting) -> PolicyIndex:
        """Allow or forbid impersonating ``setting.account_id``."""
        if setting.account_id not in self._parent:
            raise AccountNotFound(setting.account_id)
        if setting.allow_impersonation:
            forbidden = self._no_impersonation - {setting.account_id}
        else:
            forbidden = self._no_impersonation | {setting.account_id}
        return self._replace(no_impersonation=forbidden)


def _link_table(
    links: Iterable[LinkLike],
    parent: Mapping[AccountId, AccountId | None],
    roles: Mapping[RoleId, Role],
) -> dict[AccountId, tuple[AccountId, RoleId]]:
    table: dict[AccountId, tuple[AccountId, RoleId]] = {}
    for link in links:
        for account in (link.agency_id, link.client_id):
            if account not in parent:
                raise AccountNotFound(account)
        if link.access_role not in roles:
            raise RoleNotFound(link.access_role)
        if link.client_id in table:
            raise InvalidInput(f"client {quoted(link.client_id)} linked twice", field="links")
        table[link.client_id] = (link.agency_id, link.access_role)
    if any(agency in table for agency, _ in table.values()):
        raise InvalidInput("a linked client cannot be an agency: links do not chain", field="links")
    return table


def _ceiling_table(
    ceilings: Iterable[Ceiling],
    ancestors: Mapping[AccountId, tuple[AccountId, ...]],
    catalog: ActionCatalog,
) -> dict[AccountId, tuple[Ceiling, ...]]:
    """The binding ceilings by account: one whose ``set_by`` is not above its account
    (left behind by a move) binds nothing and is left out (``ceilings.binds``)."""
    by_account: dict[AccountId, list[Ceiling]] = {}
    for ceiling in ceilings:
        if ceiling.account_id not in ancestors:
            raise AccountNotFound(ceiling.account_id)
        if not binds(ceiling, ancestors[ceiling.account_id]):
            continue
        unknown = sorted(a for a in ceiling.actions if a not in catalog)
        if unknown:
            raise InvalidInput(
                f"ceiling on {quoted(ceiling.account_id)} names actions missing from the catalog: "
                f"{unknown}",
                field="actions",
            )
        placed = by_account.setdefault(ceiling.account_id, [])
        if any(c.set_by == ceiling.set_by for c in placed):
            raise InvalidInput(
                f"two ceilings on {quoted(ceiling.account_id)} set by {quoted(ceiling.set_by)}",
                field="ceilings",
            )
        placed.append(ceiling)
    return {k: tuple(v) for k, v in by_account.items() if v}
