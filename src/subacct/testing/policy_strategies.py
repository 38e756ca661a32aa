"""Hypothesis strategies for the permission policy: roles, ceilings, keys, whole worlds.

A ``PolicyWorld`` is a valid hierarchy with memberships (default and custom roles),
ceilings and impersonation settings; ``world.index()`` builds its ``PolicyIndex``.
``policy_checks(world)`` draws (principal, action, account) questions about it, including
API keys, impersonation sessions, strangers, unknown actions and unknown accounts::

    from hypothesis import given, strategies as st
    from subacct.testing.policy_strategies import policy_checks, policy_worlds

    @given(policy_worlds().flatmap(lambda w: st.tuples(st.just(w), policy_checks(w))))
    def test_my_guard_agrees_with_subacct(case):
        world, (principal, action, account) = case
        ...
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from hypothesis import strategies as st

from subacct.domain import Account, AccountId, Membership, RoleId, Tree, UserId
from subacct.policy import (
    DEFAULT_CATALOG,
    DEFAULT_ROLES,
    Action,
    ActionCatalog,
    ActionInfo,
    ApiKey,
    ApiKeyId,
    ApiKeyKind,
    Ceiling,
    Grant,
    ImpersonationId,
    ImpersonationSession,
    ImpersonationSetting,
    PolicyIndex,
    Principal,
    Role,
    Scope,
)
from subacct.testing.strategies import hierarchies, timestamps

__all__ = [
    "PolicyWorld",
    "api_keys",
    "catalogs",
    "ceilings",
    "custom_roles",
    "grant_sets",
    "impersonation_sessions",
    "policy_checks",
    "policy_worlds",
    "principals",
    "role_sets",
]

_HOST_ACTIONS = ("surveys.run", "surveys.view", "labels.manage")


@attrs.frozen
class PolicyWorld:
    """Everything a ``PolicyIndex`` is built from, as plain generated data."""

    accounts: tuple[Account, ...]
    users: tuple[UserId, ...]
    memberships: tuple[Membership, ...]
    roles: tuple[Role, ...]
    ceilings: tuple[Ceiling, ...]
    impersonation_settings: tuple[ImpersonationSetting, ...]
    catalog: ActionCatalog

    def index(self) -> PolicyIndex:
        return PolicyIndex.build(
            self.accounts,
            self.memberships,
            roles=self.roles,
            ceilings=self.ceilings,
            impersonation_settings=self.impersonation_settings,
            catalog=self.catalog,
        )

    @property
    def account_ids(self) -> list[AccountId]:
        return [a.id for a in self.accounts]

    def ancestors(self, account_id: AccountId) -> list[AccountId]:
        """Parent first (computed plainly from the accounts, not by the index)."""
        return Tree(self.accounts).ancestors(account_id)


def catalogs() -> st.SearchStrategy[ActionCatalog]:
    """The default catalog, sometimes with a few host-defined actions added."""
    return st.lists(st.sampled_from(_HOST_ACTIONS), unique=True, max_size=2).map(
        lambda names: DEFAULT_CATALOG.with_actions(
            *(ActionInfo(Action(n), f"host action {n}") for n in names)
        )
    )


def grant_sets(
    actions: Sequence[Action], *, max_size: int = 8
) -> st.SearchStrategy[tuple[Grant, ...]]:
    """Grants on distinct actions drawn from ``actions``, with any scope."""
    return st.lists(
        st.builds(Grant, st.sampled_from(list(actions)), st.sampled_from(list(Scope))),
        unique_by=lambda g: g.action,
        max_size=max_size,
    ).map(tuple)


def custom_roles(catalog: ActionCatalog, role_id: str) -> st.SearchStrategy[Role]:
    """A host-defined role over ``catalog``; about one in three reaches descendants."""
    return st.builds(
        Role,
        st.just(RoleId(role_id)),
        st.just(f"Custom {role_id}"),
        grant_sets(list(catalog)),
        st.sampled_from([False, False, True]),
    )


@st.composite
def role_sets(draw: st.DrawFn, catalog: ActionCatalog = DEFAULT_CATALOG) -> tuple[Role, ...]:
    """The default roles plus up to two custom ones (``custom_0``, ``custom_1``)."""
    n = draw(st.integers(min_value=0, max_value=2))
    return DEFAULT_ROLES + tuple(draw(custom_roles(catalog, f"custom_{i}")) for i in range(n))


@st.composite
def ceilings(
    draw: st.DrawFn, accounts: Sequence[Account], catalog: ActionCatalog = DEFAULT_CATALOG
) -> tuple[Ceiling, ...]:
    """Ceilings on some accounts, each placed by an ancestor (or the platform)."""
    if not accounts:
        return ()
    tree = Tree(accounts)
    actions = list(catalog)
    out: list[Ceiling] = []
    for account_id in draw(st.lists(st.sampled_from([a.id for a in accounts]), max_size=4)):
        placers = [None, *tree.ancestors(account_id)]
        set_by = draw(st.sampled_from(placers))
        if any(c.account_id == account_id and c.set_by == set_by for c in out):
            continue
        allowed = draw(st.lists(st.sampled_from(actions), unique=True, max_size=len(actions)))
        out.append(Ceiling(account_id, set_by, allowed))
    return tuple(out)


@st.composite
def policy_worlds(
    draw: st.DrawFn,
    *,
    max_levels: int = 3,
    max_accounts: int = 8,
    max_users: int = 5,
    custom: bool = True,
) -> PolicyWorld:
    """A hierarchy, users with memberships in default (and custom) roles, ceilings and
    impersonation settings. Every sub has an account above it, so inheritance matters."""
    accounts = tuple(draw(hierarchies(max_levels=max_levels, max_accounts=max_accounts)))
    catalog = draw(catalogs()) if custom else DEFAULT_CATALOG
    roles = draw(role_sets(catalog)) if custom else DEFAULT_ROLES
    users = tuple(UserId(f"user_{i}") for i in range(draw(st.integers(1, max_users))))
    created = draw(timestamps())
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(users), st.sampled_from([a.id for a in accounts])),
            unique=True,
            min_size=1,
            max_size=len(users) * 2,
        )
    )
    role_ids = [r.id for r in roles]
    memberships = tuple(
        Membership(u, a, draw(st.sampled_from(role_ids)), created) for u, a in pairs
    )
    settings = tuple(
        ImpersonationSetting(a, False)
        for a in draw(st.lists(st.sampled_from([a.id for a in accounts]), unique=True, max_size=2))
    )
    return PolicyWorld(
        accounts=accounts,
        users=users,
        memberships=memberships,
        roles=roles,
        ceilings=draw(ceilings(accounts, catalog)),
        impersonation_settings=settings,
        catalog=catalog,
    )


def api_keys(world: PolicyWorld) -> st.SearchStrategy[ApiKey]:
    """Keys of any account of the world, made by one of its users, personal or account
    keys, sometimes revoked (never expired: a ``PolicyIndex`` has no clock).

    Their grants are arbitrary (not checked against the creator): use ``plan_api_key`` to
    test the no-escalation rule, and these to test ``check`` on any key.
    """
    return st.builds(
        lambda key_id, account, user, grants, at, revoked, kind: ApiKey(
            ApiKeyId(f"key_{key_id}"),
            account,
            "key",
            user,
            grants,
            at,
            at if revoked else None,
            kind=kind,
        ),
        st.integers(0, 99),
        st.sampled_from(world.account_ids),
        st.sampled_from(world.users),
        grant_sets(list(world.catalog), max_size=12),
        timestamps(),
        st.integers(0, 4).map(lambda n: n == 0),
        st.sampled_from(ApiKeyKind),
    )


@st.composite
def impersonation_sessions(draw: st.DrawFn, world: PolicyWorld) -> ImpersonationSession:
    """Sessions on accounts of the world, sometimes ended. Usually the real user holds an
    inheriting role above the account (a session that could have started); otherwise
    anything goes, because ``check`` must refuse such sessions too."""
    inheriting = {r.id for r in world.roles if r.inherits}
    plausible = [
        (m.user_id, below)
        for m in world.memberships
        if m.role in inheriting
        for below in world.account_ids
        if m.account_id in world.ancestors(below)
    ]
    if plausible and draw(st.integers(0, 3)) > 0:
        user, account = draw(st.sampled_from(plausible))
    else:
        user = draw(st.sampled_from(world.users))
        account = draw(st.sampled_from(world.account_ids))
    as_role = draw(st.sampled_from(["sub_admin", *(r.id for r in world.roles)]))
    at = draw(timestamps())
    ended = draw(st.integers(0, 4)) == 0
    session_id = ImpersonationId(f"imp_{draw(st.integers(0, 99))}")
    return ImpersonationSession(
        session_id, user, account, at, RoleId(as_role), at if ended else None
    )


def principals(world: PolicyWorld) -> st.SearchStrategy[Principal]:
    """Users of the world (mostly), a stranger, API keys and impersonation sessions."""
    return st.integers(0, 9).flatmap(
        lambda n: (
            st.sampled_from(world.users)
            if n < 5
            else st.just(UserId("stranger"))
            if n == 5
            else api_keys(world)
            if n < 8
            else impersonation_sessions(world)
        )
    )


@st.composite
def policy_checks(draw: st.DrawFn, world: PolicyWorld) -> tuple[Principal, Action, AccountId]:
    """Questions about ``world``: (principal, action, account). Keys and sessions are asked
    mostly about their own account; a few questions name an action outside the catalog or an
    account the world does not have."""
    principal = draw(principals(world))
    action = draw(st.sampled_from([*world.catalog, *world.catalog, Action("not.in_catalog")]))
    accounts = [*world.account_ids, AccountId("no_such_account")]
    if isinstance(principal, ApiKey | ImpersonationSession):
        accounts += [principal.account_id] * (3 * len(accounts))
    return principal, action, draw(st.sampled_from(accounts))
