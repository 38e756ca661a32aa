from datetime import UTC, datetime

import pytest

from subacct.domain import (
    Account,
    AccountId,
    AccountStatus,
    HierarchyRules,
    Tree,
    new_master,
    plan_link,
    plan_move,
    plan_new_sub,
)
from subacct.domain.events import (
    EventMeta,
    ResourceCopied,
    ResourceCreated,
    ResourceDeleted,
    ResourceShared,
    ResourceUpdated,
    ShareRevoked,
)
from subacct.domain.resolution import Access, Origin, SharingIndex, visible_resources
from subacct.domain.resources import (
    Resource,
    ResourceKind,
    Share,
    ShareMode,
    SharePermission,
    encode_content,
)
from subacct.domain.sharing import (
    plan_copy,
    plan_create_resource,
    plan_delete_resource,
    plan_edit_resource,
    plan_revoke,
    plan_share,
)
from subacct.errors import (
    AccountClosed,
    AccountNotFound,
    InvalidInput,
    LinkedAccountsCannotShare,
    LinkError,
    NotADescendant,
    NotResourceOwner,
    ResourceAccessDenied,
    ResourceNotFound,
    ShareNotFound,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
A = AccountId
USE, EDIT = SharePermission.USE, SharePermission.EDIT
ALL, CHOSEN, SUBTREE = ShareMode.ALL_SUBS, ShareMode.CHOSEN, ShareMode.SUBTREE
META = EventMeta("ev", T0, "ann")  # type: ignore[arg-type]


def seed000() -> dict[str, Account]:
    """agencydemo -> agency1, agency2 (+ an unrelated master)."""
    master = new_master(A("agencydemo"), "Agency Demo", T0)
    rules = HierarchyRules()
    return {
        "agencydemo": master,
        "agency1": plan_new_sub(A("agency1"), "Agency 1", master, [], rules, T0),
        "agency2": plan_new_sub(A("agency2"), "Agency 2", master, [], rules, T0),
        "other": new_master(A("other"), "Other", T0),
    }


def deep() -> dict[str, Account]:
    """m -> a -> (a1, a2), m -> b -> b1 (three levels)."""
    rules = HierarchyRules(3)
    m = new_master(A("m"), "M", T0)
    a = plan_new_sub(A("a"), "A", m, [], rules, T0)
    b = plan_new_sub(A("b"), "B", m, [], rules, T0)
    return {
        "m": m,
        "a": a,
        "b": b,
        "a1": plan_new_sub(A("a1"), "A1", a, [m], rules, T0),
        "a2": plan_new_sub(A("a2"), "A2", a, [m], rules, T0),
        "b1": plan_new_sub(A("b1"), "B1", b, [m], rules, T0),
    }


def make(owner: Account, rid: str, name: str = "Tpl") -> Resource:
    kind = ResourceKind.TEMPLATE
    resource, _ = plan_create_resource(owner, rid, kind, name, b"body-" + rid.encode(), META)  # type: ignore[arg-type]
    return resource


def share(
    resource: Resource,
    accounts: dict[str, Account],
    mode: ShareMode,
    targets: list[str] = [],  # noqa: B006 - read only
    permission: SharePermission = USE,
    sid: str = "sh1",
) -> Share:
    owner = accounts[resource.owner_id]
    tree = Tree(accounts.values())
    result, event = plan_share(resource, owner, mode, targets, permission, tree, [], sid, META)  # type: ignore[arg-type]
    assert isinstance(event, ResourceShared)
    return result


def ids(accesses: list[Access]) -> list[str]:
    return [a.resource.id for a in accesses]


# -- seeds ------------------------------------------------------------------------------------


def test_seed000_subs_use_the_master_branding_template() -> None:
    acc = seed000()
    brand = make(acc["agencydemo"], "brand", "Corporate branding")
    promo = make(acc["agency1"], "promo", "Agency 1 promo")
    sh = share(brand, acc, ALL)
    index = SharingIndex(Tree(acc.values()), [brand, promo], [sh])
    used = index.usable(A("agency1"))
    assert ids(used) == ["promo", "brand"]  # by kind, then name
    assert [(a.origin, a.shared_by, a.share_id, a.permission) for a in used] == [
        (Origin.OWN, None, None, EDIT),
        (Origin.SHARED, "agencydemo", "sh1", USE),
    ]
    assert ids(index.usable(A("agency2"))) == ["brand"]  # never agency1's promo
    assert index.access(A("agency2"), promo.id) is None
    assert ids(index.usable(A("other"))) == []
    # the parent sees all: its own template and every sub's
    seen = index.visible(A("agencydemo"))
    assert [(a.resource.id, a.origin) for a in seen] == [
        ("promo", Origin.DESCENDANT),
        ("brand", Origin.OWN),
    ]
    assert seen == visible_resources(A("agencydemo"), Tree(acc.values()), [brand, promo], [sh])


def test_seed004_contact_groups_shared_with_chosen_subs_only() -> None:
    acc = seed000()
    group, _ = plan_create_resource(
        acc["agencydemo"],
        "vip",
        ResourceKind.CONTACT_GROUP,
        "VIP customers",
        b"[]",
        META,  # type: ignore[arg-type]
    )
    sh = share(group, acc, CHOSEN, ["agency2"])
    index = SharingIndex(Tree(acc.values()), [group], [sh])
    assert ids(index.usable(A("agency2"), ResourceKind.CONTACT_GROUP)) == ["vip"]
    assert ids(index.usable(A("agency2"), ResourceKind.TEMPLATE)) == []
    assert ids(index.usable(A("agency1"))) == []


def linked_world() -> tuple[dict[str, Account], list[object]]:
    acc = seed000()
    client = new_master(A("client"), "Client Co", T0)
    client, link = plan_link(
        acc["agencydemo"], client, "Client", T0, client_has_link=False, client_is_agency=False
    )
    client_sub = plan_new_sub(A("client_sub"), "Client Sub", client, [], HierarchyRules(), T0)
    acc.update(client=client, client_sub=client_sub)
    return acc, [link]


@pytest.mark.parametrize(
    ("owner", "target"),
    [
        ("agencydemo", "client"),  # agency -> linked client
        ("client", "agencydemo"),  # client -> agency
        ("agencydemo", "client_sub"),  # agency -> the client's sub
        ("agency1", "client"),  # the agency's sub -> client
    ],
)
def test_seed002_linked_accounts_share_nothing_either_way(owner: str, target: str) -> None:
    acc, links = linked_world()
    resource = make(acc[owner], "img")
    tree = Tree(acc.values())
    for mode in (CHOSEN, SUBTREE):
        with pytest.raises(LinkedAccountsCannotShare) as err:
            plan_share(resource, acc[owner], mode, [target], USE, tree, links, "sh", META)  # type: ignore[arg-type]
        assert isinstance(err.value, LinkError)
        assert err.value.code == "linked_accounts_cannot_share"
        assert err.value.details == {"account_id": owner, "target_id": target}


def test_seed002_a_linked_client_still_shares_with_its_own_subs() -> None:
    acc, links = linked_world()
    page, _ = plan_create_resource(
        acc["client"],
        "lp",
        ResourceKind.LANDING_PAGE,
        "Landing",
        b"<html/>",
        META,  # type: ignore[arg-type]
    )
    tree = Tree(acc.values())
    sh, _ = plan_share(page, acc["client"], ALL, [], USE, tree, links, "sh", META)  # type: ignore[arg-type]
    index = SharingIndex(tree, [page], [sh])
    assert ids(index.usable(A("client_sub"))) == ["lp"]
    assert index.visible(A("agencydemo")) == []  # the link grants no visibility


# -- refusals ---------------------------------------------------------------------------------


def test_sharing_goes_down_only() -> None:
    acc = seed000()
    tree = Tree(acc.values())
    mine = make(acc["agency1"], "mine")
    for target in ["agency2", "agencydemo", "other", "nobody"]:
        with pytest.raises(NotADescendant) as err:
            plan_share(mine, acc["agency1"], CHOSEN, [target], USE, tree, [], "sh", META)  # type: ignore[arg-type]
        assert err.value.code == "not_a_descendant"
    brand = make(acc["agencydemo"], "brand")
    with pytest.raises(NotADescendant):
        plan_share(brand, acc["agencydemo"], SUBTREE, ["other"], USE, tree, [], "sh", META)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):  # an account never shares with itself
        plan_share(brand, acc["agencydemo"], CHOSEN, ["agencydemo"], USE, tree, [], "sh", META)  # type: ignore[arg-type]


def test_only_the_owner_shares_or_revokes() -> None:
    acc = seed000()
    tree = Tree(acc.values())
    brand = make(acc["agencydemo"], "brand")
    with pytest.raises(NotResourceOwner) as err:
        plan_share(brand, acc["agency1"], ALL, [], USE, tree, [], "sh", META)  # type: ignore[arg-type]
    assert err.value.code == "not_resource_owner"
    sh = share(brand, acc, ALL)
    with pytest.raises(NotResourceOwner):
        plan_revoke(sh, acc["agency1"], META)


def test_closed_accounts_neither_share_nor_receive() -> None:
    acc = seed000()
    acc["agency2"] = acc["agency2"].with_status(AccountStatus.CLOSED)
    tree = Tree(acc.values())
    brand = make(acc["agencydemo"], "brand")
    with pytest.raises(AccountClosed):
        plan_share(
            brand, acc["agencydemo"], CHOSEN, ["agency1", "agency2"], USE, tree, [], "s", META
        )  # type: ignore[arg-type]
    closed = acc["agency2"]
    with pytest.raises(AccountClosed):
        plan_create_resource(closed, "r", ResourceKind.IMAGE, "Logo", b"\x89PNG", META)  # type: ignore[arg-type]
    with pytest.raises(AccountNotFound):
        plan_share(brand, acc["agencydemo"], ALL, [], USE, Tree([acc["other"]]), [], "s", META)  # type: ignore[arg-type]


# -- modes ------------------------------------------------------------------------------------


def test_modes_on_a_three_level_tree() -> None:
    acc = deep()
    tree = Tree(acc.values())
    r = make(acc["m"], "r")
    cases = {
        (ALL, ()): {"a", "b"},
        (CHOSEN, ("a1", "b")): {"a1", "b"},
        (SUBTREE, ("a",)): {"a", "a1", "a2"},
        (SUBTREE, ("m",)): {"a", "a1", "a2", "b", "b1"},
    }
    for (mode, targets), expected in cases.items():
        sh = share(r, acc, mode, list(targets))
        index = SharingIndex(tree, [r], [sh])
        covered = {a for a in acc if a != "m" and index.usable(A(a))}
        assert covered == expected, (mode, targets)


def test_all_subs_and_subtree_cover_accounts_created_later() -> None:
    acc = deep()
    r = make(acc["m"], "r")
    shares = [
        share(r, acc, ALL, sid="all"),
        share(make(acc["a"], "ra"), acc, SUBTREE, ["a"], sid="st"),
    ]
    resources = [r, make(acc["a"], "ra")]
    acc["c"] = plan_new_sub(A("c"), "C", acc["m"], [], HierarchyRules(3), T0)
    acc["a3"] = plan_new_sub(A("a3"), "A3", acc["a"], [acc["m"]], HierarchyRules(3), T0)
    index = SharingIndex(Tree(acc.values()), resources, shares)
    assert ids(index.usable(A("c"))) == ["r"]
    assert ids(index.usable(A("a3"))) == ["ra"]


def test_moving_a_sub_away_ends_its_access_at_once() -> None:
    acc = seed000()
    brand = make(acc["agencydemo"], "brand")
    shares = [share(brand, acc, ALL, sid="s1"), share(brand, acc, CHOSEN, ["agency1"], sid="s2")]
    acc["agency1"] = plan_move(acc["agency1"], acc["other"], [], 1, HierarchyRules())
    index = SharingIndex(Tree(acc.values()), [brand], shares)
    assert index.usable(A("agency1")) == []
    assert index.access(A("agency1"), brand.id) is None


def test_the_strongest_grant_wins_and_is_named() -> None:
    acc = seed000()
    brand = make(acc["agencydemo"], "brand")
    shares = [
        share(brand, acc, ALL, sid="s_use"),
        share(brand, acc, CHOSEN, ["agency1"], EDIT, sid="s_edit"),
        share(brand, acc, CHOSEN, ["agency1"], EDIT, sid="s_edit2"),
    ]
    index = SharingIndex(Tree(acc.values()), [brand], shares)
    (one,) = index.usable(A("agency1"))
    assert (one.permission, one.share_id) == (EDIT, "s_edit")
    (two,) = index.usable(A("agency2"))
    assert (two.permission, two.share_id) == (USE, "s_use")
    assert index.access(A("agency1"), brand.id) == one


# -- edit, copy, revoke, delete ---------------------------------------------------------------


def test_a_sub_edits_a_shared_resource_only_with_an_edit_grant() -> None:
    acc = seed000()
    brand = make(acc["agencydemo"], "brand")
    sh = share(brand, acc, CHOSEN, ["agency1"], EDIT, sid="s_edit")
    index = SharingIndex(Tree(acc.values()), [brand], [sh, share(brand, acc, ALL, sid="s_all")])
    with pytest.raises(ResourceAccessDenied) as err:
        index.require(A("agency2"), brand.id, EDIT)
    assert err.value.details == {
        "account_id": "agency2",
        "resource_id": "brand",
        "permission": "edit",
    }
    denied = index.require(A("agency2"), brand.id)
    with pytest.raises(ResourceAccessDenied):
        plan_edit_resource(denied, acc["agency2"], acc["agencydemo"], META, content=b"x")
    access = index.require(A("agency1"), brand.id, EDIT)
    edited, event = plan_edit_resource(
        access, acc["agency1"], acc["agencydemo"], META, content=b"new"
    )
    assert (edited.version, edited.content, edited.owner_id) == (2, b"new", "agencydemo")
    assert isinstance(event, ResourceUpdated)
    assert (event.account_id, event.resource_id, event.owner_id, event.version) == (
        "agency1",
        "brand",
        "agencydemo",
        2,
    )
    with pytest.raises(InvalidInput):  # the access belongs to agency1, not agency2
        plan_edit_resource(access, acc["agency2"], acc["agencydemo"], META, content=b"x")
    with pytest.raises(InvalidInput):
        plan_edit_resource(access, acc["agency1"], acc["agency2"], META, content=b"x")


def test_owner_and_ancestors_edit_siblings_cannot_even_see() -> None:
    acc = seed000()
    promo = make(acc["agency1"], "promo")
    index = SharingIndex(Tree(acc.values()), [promo], [])
    own = index.require(A("agency1"), promo.id, EDIT)
    assert own.origin is Origin.OWN
    parent = index.require(A("agencydemo"), promo.id, EDIT)
    assert parent.origin is Origin.DESCENDANT
    edited, _ = plan_edit_resource(parent, acc["agencydemo"], acc["agency1"], META, name="Promo 2")
    assert edited.name == "Promo 2"
    for outsider in ["agency2", "other"]:
        with pytest.raises(ResourceNotFound) as err:
            index.require(A(outsider), promo.id)
        assert err.value.code == "resource_not_found"
    with pytest.raises(ResourceNotFound):
        index.require(A("agency1"), "missing")  # type: ignore[arg-type]
    closed_owner = acc["agency1"].with_status(AccountStatus.CLOSED)
    with pytest.raises(AccountClosed):
        plan_edit_resource(parent, acc["agencydemo"], closed_owner, META, name="x")


def test_copies_are_independent_and_survive_revocation_and_deletion() -> None:
    acc = seed000()
    brand = make(acc["agencydemo"], "brand")
    sh = share(brand, acc, ALL)
    tree = Tree(acc.values())
    access = SharingIndex(tree, [brand], [sh]).require(A("agency1"), brand.id)
    copy, event = plan_copy(access, acc["agency1"], "brand_a1", META, name="Our branding")  # type: ignore[arg-type]
    assert isinstance(event, ResourceCopied)
    assert (copy.owner_id, copy.version, copy.content, copy.name) == (
        "agency1",
        1,
        brand.content,
        "Our branding",
    )
    assert copy.copied_from is not None
    assert (copy.copied_from.resource_id, copy.copied_from.owner_id, copy.copied_from.version) == (
        "brand",
        "agencydemo",
        1,
    )
    assert (event.resource_id, event.source_resource_id, event.source_version) == (
        "brand_a1",
        "brand",
        1,
    )
    custom, _ = plan_edit_resource(
        SharingIndex(tree, [brand, copy], [sh]).require(A("agency1"), copy.id, EDIT),
        acc["agency1"],
        acc["agency1"],
        META,
        content=b"customized",
    )
    revoked = plan_revoke(sh, acc["agencydemo"], META)
    assert isinstance(revoked, ShareRevoked)
    assert (revoked.share_id, revoked.resource_id, revoked.account_id) == (
        "sh1",
        "brand",
        "agencydemo",
    )
    after = SharingIndex(tree, [brand, custom], [])  # the share is gone
    assert [(a.resource.id, a.origin) for a in after.usable(A("agency1"))] == [
        ("brand_a1", Origin.OWN)
    ]
    assert after.usable(A("agency1"))[0].resource.content == b"customized"
    assert after.usable(A("agency2")) == []
    owner_access = after.require(A("agencydemo"), brand.id)
    deleted = plan_delete_resource(owner_access, acc["agencydemo"], acc["agencydemo"], [], META)
    assert isinstance(deleted, ResourceDeleted)
    gone = SharingIndex(tree, [custom], [])
    assert ids(gone.usable(A("agency1"))) == ["brand_a1"]
    with pytest.raises(InvalidInput):
        plan_copy(access, acc["agency2"], "x", META)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        plan_copy(access, acc["agency1"], "brand", META)  # type: ignore[arg-type]


def test_delete_revokes_every_share_and_needs_ownership_or_ancestry() -> None:
    acc = seed000()
    brand = make(acc["agencydemo"], "brand")
    shares = [share(brand, acc, ALL, sid="s1"), share(brand, acc, CHOSEN, ["agency2"], sid="s2")]
    index = SharingIndex(Tree(acc.values()), [brand], shares)
    assert [s.id for s in index.shares_of(brand.id)] == ["s1", "s2"]
    assert index.share("s2") == shares[1]  # type: ignore[arg-type]
    with pytest.raises(ShareNotFound):
        index.share("nope")  # type: ignore[arg-type]
    via_share = index.require(A("agency1"), brand.id)
    with pytest.raises(ResourceAccessDenied):
        plan_delete_resource(via_share, acc["agency1"], acc["agencydemo"], [], META)
    own = index.require(A("agencydemo"), brand.id)
    event = plan_delete_resource(own, acc["agencydemo"], acc["agencydemo"], shares, META)
    assert event.revoked_share_ids == ("s1", "s2")
    other = share(make(acc["agencydemo"], "x"), acc, ALL, sid="sx")
    with pytest.raises(InvalidInput):
        plan_delete_resource(own, acc["agencydemo"], acc["agencydemo"], [other], META)


def test_every_plan_function_returns_its_event() -> None:
    acc = seed000()
    owner = acc["agencydemo"]
    res, created = plan_create_resource(
        owner,
        "tpl",
        ResourceKind.TEMPLATE,
        " Brand ",
        b"x",
        META,
        metadata={"mime": "text/html"},  # type: ignore[arg-type]
    )
    assert isinstance(created, ResourceCreated)
    assert (created.event_id, created.occurred_at, created.actor, created.account_id) == (
        "ev",
        T0,
        "ann",
        "agencydemo",
    )
    assert (created.resource_id, created.kind, created.name) == (
        "tpl",
        ResourceKind.TEMPLATE,
        "Brand",
    )
    assert res.payload == encode_content(b"x")
    assert res.created_at == T0
    tree = Tree(acc.values())
    sh, shared = plan_share(res, owner, CHOSEN, ["agency2", "agency1"], EDIT, tree, [], "s", META)  # type: ignore[arg-type]
    assert (shared.share_id, shared.mode, shared.targets, shared.permission, shared.kind) == (
        "s",
        CHOSEN,
        ("agency1", "agency2"),
        EDIT,
        ResourceKind.TEMPLATE,
    )
    assert sh.created_at == T0


def test_index_refuses_inconsistent_input() -> None:
    acc = seed000()
    tree = Tree(acc.values())
    brand = make(acc["agencydemo"], "brand")
    sh = share(brand, acc, ALL)
    with pytest.raises(InvalidInput):
        SharingIndex(tree, [brand, brand], [])
    with pytest.raises(InvalidInput):
        SharingIndex(tree, [brand], [sh, sh])
    foreign = Share("s9", "brand", "agency1", ALL, [], USE, T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        SharingIndex(tree, [brand], [foreign])
    with pytest.raises(InvalidInput):  # OWN only for the owner
        Access(A("agency1"), brand, Origin.OWN, EDIT)
    with pytest.raises(InvalidInput):  # SHARED names its share
        Access(A("agency1"), brand, Origin.SHARED, USE)
    with pytest.raises(InvalidInput):
        Access(A("agency1"), brand, "shared", USE, "s")  # type: ignore[arg-type]
    # a share whose resource was deleted grants nothing
    assert SharingIndex(tree, [], [sh]).usable(A("agency1")) == []
    assert SharingIndex(tree, [], [sh]).access(A("agency1"), brand.id) is None
