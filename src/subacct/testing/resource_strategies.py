"""Hypothesis strategies for resources and sharing, for hosts that property-test their code.

Every value is valid: shares are made through ``plan_share``, so they pass the same checks a
service applies (targets below the owner, open accounts)::

    from hypothesis import given
    from subacct.testing.resource_strategies import sharing_worlds

    @given(sharing_worlds())
    def test_my_template_picker(world):
        index = world.index()
        for account in world.accounts:
            my_picker(index.usable(account.id))
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import datetime

import attrs
from hypothesis import strategies as st

from subacct.domain import Account, AccountId, Tree
from subacct.domain.events import EventId, EventMeta
from subacct.domain.resolution import SharingIndex
from subacct.domain.resources import (
    Resource,
    ResourceId,
    ResourceKind,
    Share,
    ShareId,
    ShareMode,
    SharePermission,
    encode_content,
)
from subacct.domain.sharing import plan_share
from subacct.testing.strategies import account_names, hierarchies, timestamps

__all__ = [
    "SharingWorld",
    "contents",
    "metadata_maps",
    "resource_ids",
    "resources",
    "shares_for",
    "sharing_worlds",
]

_KEY_CHARS = string.ascii_letters + string.digits + "_.:-"


def resource_ids() -> st.SearchStrategy[ResourceId]:
    return st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=12).map(
        lambda s: ResourceId("res_" + s)
    )


def contents(max_size: int = 64) -> st.SearchStrategy[bytes]:
    """Opaque resource content (any bytes, including empty)."""
    return st.binary(max_size=max_size)


def metadata_maps(max_entries: int = 4) -> st.SearchStrategy[dict[str, str]]:
    """Valid metadata: short keys of letters, digits and ``_.:-``, any text values."""
    return st.dictionaries(
        st.text(_KEY_CHARS, min_size=1, max_size=16),
        st.text(max_size=40),
        max_size=max_entries,
    )


def resources(
    owner_ids: Sequence[AccountId], *, ids: st.SearchStrategy[ResourceId] | None = None
) -> st.SearchStrategy[Resource]:
    """One resource owned by one of ``owner_ids``, at any version."""
    if not owner_ids:
        raise ValueError("resources() needs at least one owner id")
    return st.builds(
        Resource,
        id=resource_ids() if ids is None else ids,
        owner_id=st.sampled_from(list(owner_ids)),
        kind=st.sampled_from(list(ResourceKind)),
        name=account_names(),
        payload=contents().map(encode_content),
        created_at=timestamps(),
        metadata=metadata_maps(),
        version=st.integers(min_value=1, max_value=50),
    )


@st.composite
def shares_for(
    draw: st.DrawFn,
    resource: Resource,
    tree: Tree,
    share_id: ShareId,
    created_at: datetime,
) -> Share:
    """A valid share of ``resource`` by its owner in ``tree``, in any mode and permission.

    ``CHOSEN`` is drawn only when the owner has descendants.
    """
    owner = tree.get(resource.owner_id)
    below = tree.descendants(owner.id)
    modes = list(ShareMode) if below else [ShareMode.ALL_SUBS, ShareMode.SUBTREE]
    mode = draw(st.sampled_from(modes))
    targets: list[AccountId] = []
    if mode is ShareMode.CHOSEN:
        targets = draw(st.lists(st.sampled_from(below), min_size=1, max_size=4, unique=True))
    elif mode is ShareMode.SUBTREE:
        targets = [draw(st.sampled_from([owner.id, *below]))]
    permission = draw(st.sampled_from(list(SharePermission)))
    meta = EventMeta(EventId(f"ev_{share_id}"), created_at)
    share, _ = plan_share(resource, owner, mode, targets, permission, tree, [], share_id, meta)
    return share


@attrs.frozen
class SharingWorld:
    """A forest of accounts (parents first), resources and valid shares among them."""

    accounts: list[Account]
    resources: list[Resource]
    shares: list[Share]

    @property
    def tree(self) -> Tree:
        return Tree(self.accounts)

    def index(self) -> SharingIndex:
        return SharingIndex(self.tree, self.resources, self.shares)


@st.composite
def sharing_worlds(
    draw: st.DrawFn,
    *,
    max_levels: int = 3,
    max_accounts: int = 10,
    max_roots: int = 2,
    max_resources: int = 8,
    max_shares: int = 8,
) -> SharingWorld:
    """Accounts in up to ``max_roots`` unrelated trees, resources owned anywhere in them, and
    shares made by their owners. Ids are ``acc_000``, ``res_000``, ``sh_000``..."""
    accounts = draw(
        hierarchies(max_levels=max_levels, max_accounts=max_accounts, max_roots=max_roots)
    )
    tree = Tree(accounts)
    created = draw(timestamps())
    owner_ids = [a.id for a in accounts]
    count = draw(st.integers(min_value=0, max_value=max_resources))
    one = resources(owner_ids, ids=st.just(ResourceId("res_000")))  # built once per world
    made = [attrs.evolve(draw(one), id=ResourceId(f"res_{i:03d}")) for i in range(count)]
    shares: list[Share] = []
    # Mostly share resources whose owner has subs, so most shares reach someone.
    sharable = [r for r in made if tree.children(r.owner_id)] or made
    if made:
        for j in range(draw(st.integers(min_value=0, max_value=max_shares))):
            resource = draw(st.sampled_from(sharable))
            shares.append(draw(shares_for(resource, tree, ShareId(f"sh_{j:03d}"), created)))
    return SharingWorld(accounts, made, shares)
