"""Properties of sharing over generated worlds, checked against a brute-force oracle."""

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.domain import AccountId, Tree
from subacct.domain.events import EventMeta
from subacct.domain.resolution import Origin, SharingIndex, lookup_keys, resolve_usable
from subacct.domain.resources import Resource, Share, ShareMode
from subacct.domain.sharing import plan_copy, plan_revoke
from subacct.testing.resource_strategies import SharingWorld, sharing_worlds

META = EventMeta("ev", datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
Row = tuple[str, Origin, str, str | None]


def oracle_covers(share: Share, account: AccountId, tree: Tree) -> bool:
    above = tree.ancestors(account)
    if share.owner_id not in above:
        return False
    if share.mode is ShareMode.ALL_SUBS:
        return tree.get(account).parent_id == share.owner_id
    if share.mode is ShareMode.CHOSEN:
        return account in share.targets
    root = share.targets[0]
    root_below_owner = root == share.owner_id or share.owner_id in tree.ancestors(root)
    return (root == account or root in above) and root_below_owner


def oracle_usable(world: SharingWorld, shares: list[Share], account: AccountId) -> set[Row]:
    tree = world.tree
    out: set[Row] = {
        (r.id, Origin.OWN, "edit", None) for r in world.resources if r.owner_id == account
    }
    for r in world.resources:
        covering = [s for s in shares if s.resource_id == r.id and oracle_covers(s, account, tree)]
        if covering:
            top = max(s.permission.rank for s in covering)
            best = min(s.id for s in covering if s.permission.rank == top)
            out.add((r.id, Origin.SHARED, "edit" if top == 2 else "use", best))
    return out


def rows(index: SharingIndex, account: AccountId) -> set[Row]:
    return {
        (a.resource.id, a.origin, a.permission.value, a.share_id) for a in index.usable(account)
    }


@settings(max_examples=50)
@given(sharing_worlds())
def test_resolution_matches_the_oracle(world: SharingWorld) -> None:
    index = world.index()
    for account in world.accounts:
        assert rows(index, account.id) == oracle_usable(world, world.shares, account.id)


@settings(max_examples=50)
@given(sharing_worlds())
def test_no_resource_is_visible_from_a_sibling_or_an_unrelated_master(world: SharingWorld) -> None:
    index, tree = world.index(), world.tree
    for resource in world.resources:
        owner = resource.owner_id
        owner_root = tree.path(owner)[0]
        related = {owner, *tree.ancestors(owner), *tree.descendants(owner)}
        for account in world.accounts:
            access = index.access(account.id, resource.id)
            if account.id in tree.siblings(owner) or tree.path(account.id)[0] != owner_root:
                assert access is None
            if access is not None:
                assert account.id in related
                assert (access.origin is Origin.SHARED) == (owner in tree.ancestors(account.id))
            seen = {a.resource.id for a in index.visible(account.id)}
            assert (resource.id in seen) == (access is not None)


@settings(max_examples=50)
@given(sharing_worlds())
def test_the_parent_sees_all_of_its_subtree(world: SharingWorld) -> None:
    index, tree = world.index(), world.tree
    for resource in world.resources:
        for ancestor in tree.ancestors(resource.owner_id):
            access = index.access(ancestor, resource.id)
            assert access is not None
            assert access.origin is Origin.DESCENDANT
            assert access.permission.value == "edit"


@settings(max_examples=50)
@given(sharing_worlds())
def test_storage_style_resolution_equals_the_index(world: SharingWorld) -> None:
    index, tree = world.index(), world.tree
    by_id = {r.id: r for r in world.resources}
    for account in world.accounts:
        path = tree.path(account.id)
        keys = set(lookup_keys(path))
        candidates = [s for s in world.shares if keys & set(s.target_keys())]
        own = [r for r in world.resources if r.owner_id == account.id]
        assert resolve_usable(path, own, candidates, by_id) == index.usable(account.id)


@settings(max_examples=50)
@given(sharing_worlds(), st.data())
def test_revocation_takes_effect_at_once(world: SharingWorld, data: st.DataObject) -> None:
    if not world.shares:
        return
    revoked = data.draw(st.sampled_from(world.shares))
    owner = world.tree.get(revoked.owner_id)
    event = plan_revoke(revoked, owner, META)
    assert (event.share_id, event.resource_id) == (revoked.id, revoked.resource_id)
    remaining = [s for s in world.shares if s.id != revoked.id]
    after = SharingIndex(world.tree, world.resources, remaining)
    for account in world.accounts:
        assert rows(after, account.id) == oracle_usable(world, remaining, account.id)
        for access in after.usable(account.id):
            assert access.share_id != revoked.id


@settings(max_examples=50)
@given(sharing_worlds())
def test_copies_stay_intact_after_revocation(world: SharingWorld) -> None:
    index, tree = world.index(), world.tree
    copies: list[tuple[AccountId, Resource, Resource]] = []
    for account in world.accounts:
        for n, access in enumerate(index.usable(account.id)):
            if access.origin is Origin.SHARED:
                copy, _ = plan_copy(access, account, f"copy_{account.id}_{n}", META)  # type: ignore[arg-type]
                copies.append((account.id, access.resource, copy))
    after = SharingIndex(tree, world.resources + [c for _, _, c in copies], [])  # revoke all
    for account_id, source, copy in copies:
        usable = {a.resource.id: a for a in after.usable(account_id)}
        assert usable[copy.id].origin is Origin.OWN
        assert usable[copy.id].resource.content == source.content
        assert copy.copied_from is not None
        assert copy.copied_from.resource_id == source.id
        if source.owner_id != account_id:
            assert source.id not in usable
