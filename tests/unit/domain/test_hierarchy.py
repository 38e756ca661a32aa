from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subacct import Account, AccountId, AccountKind, AccountNotActive, AccountStatus, InvalidInput
from subacct.domain import (
    HierarchyRules,
    Tree,
    new_master,
    plan_attach,
    plan_detach,
    plan_link,
    plan_move,
    plan_new_sub,
    plan_unlink,
)
from subacct.errors import DepthExceeded, HierarchyCycle, HierarchyError, LinkError
from subacct.testing.strategies import hierarchies

T0 = datetime(2026, 1, 1, tzinfo=UTC)
A = AccountId


def seed000() -> tuple[Account, Account, Account]:
    master = new_master(A("agencydemo"), "Agency Demo", T0)
    rules = HierarchyRules()
    one = plan_new_sub(A("agency1"), "Agency 1", master, [], rules, T0)
    two = plan_new_sub(A("agency2"), "Agency 2", master, [], rules, T0)
    return master, one, two


def test_seed000_tree_queries() -> None:
    tree = Tree(seed000())
    assert tree.roots() == ["agencydemo"]
    assert tree.children(A("agencydemo")) == ["agency1", "agency2"]
    assert tree.siblings(A("agency1")) == ["agency2"]
    assert tree.siblings(A("agencydemo")) == []
    assert tree.ancestors(A("agency2")) == ["agencydemo"]
    assert tree.path(A("agency2")) == ["agencydemo", "agency2"]
    assert tree.descendants(A("agencydemo")) == ["agency1", "agency2"]
    assert (tree.level(A("agency1")), tree.height(A("agencydemo"))) == (2, 2)


def test_default_depth_is_master_and_subs_only() -> None:
    master, one, _ = seed000()
    with pytest.raises(DepthExceeded) as err:
        plan_new_sub(A("deep"), "Deep", one, [master], HierarchyRules(), T0)
    assert err.value.details == {"parent_id": "agency1", "levels": 3, "max_levels": 2}
    deep = plan_new_sub(A("deep"), "Deep", one, [master], HierarchyRules(3), T0)
    assert deep.parent_id == "agency1"


def test_rules_validate_max_levels() -> None:
    for bad in (0, -1, 65, True, "2"):
        with pytest.raises(InvalidInput):
            HierarchyRules(bad)  # type: ignore[arg-type]


def test_no_subs_under_inactive_parent() -> None:
    master = new_master(A("m"), "M", T0).with_status(AccountStatus.PAUSED)
    with pytest.raises(AccountNotActive):
        plan_new_sub(A("s"), "S", master, [], HierarchyRules(), T0)


def test_move_refuses_cycles_and_over_depth() -> None:
    rules = HierarchyRules(3)
    master, one, two = seed000()
    deep = plan_new_sub(A("deep"), "Deep", one, [master], rules, T0)
    with pytest.raises(HierarchyCycle):
        plan_move(one, deep, [one, master], 2, rules)
    with pytest.raises(HierarchyCycle):
        plan_move(one, one, [master], 2, rules)
    with pytest.raises(DepthExceeded):
        plan_move(one, two, [master], 2, rules)  # subtree of 2 levels under level 2 -> 4
    moved = plan_move(deep, two, [master], 1, rules)
    assert (moved.parent_id, moved.version) == ("agency2", deep.version + 1)
    assert plan_move(deep, one, [master], 1, rules) is deep  # already there: no change


def test_attach_and_detach() -> None:
    master, one, _ = seed000()
    other = new_master(A("other"), "Other", T0)
    attached = plan_attach(other, master, [], 1, HierarchyRules())
    assert (attached.kind, attached.parent_id) == (AccountKind.SUB, "agencydemo")
    with pytest.raises(HierarchyError) as err:
        plan_attach(one, master, [], 1, HierarchyRules())  # a sub never has two parents
    assert err.value.code == "hierarchy_error"
    with pytest.raises(HierarchyCycle):
        plan_attach(master, one, [master], 2, HierarchyRules(4))
    detached = plan_detach(one)
    assert (detached.kind, detached.parent_id) == (AccountKind.MASTER, None)
    with pytest.raises(HierarchyError):
        plan_detach(master)


def test_agency_link_is_not_ownership() -> None:
    agency, one, _ = seed000()
    client = new_master(A("client"), "Client", T0)
    linked, link = plan_link(
        agency, client, " Acme ", T0, client_has_link=False, client_is_agency=False
    )
    assert (linked.kind, linked.parent_id, link.alias) == (AccountKind.LINKED, None, "Acme")
    tree = Tree([agency, one, linked])
    assert "client" not in tree.descendants(A("agencydemo"))
    for bad in (
        lambda: plan_link(agency, one, "x", T0, client_has_link=False, client_is_agency=False),
        lambda: plan_link(agency, agency, "x", T0, client_has_link=False, client_is_agency=False),
        lambda: plan_link(linked, client, "x", T0, client_has_link=False, client_is_agency=False),
        lambda: plan_link(agency, client, "x", T0, client_has_link=True, client_is_agency=False),
        lambda: plan_link(agency, client, "x", T0, client_has_link=False, client_is_agency=True),
        lambda: plan_attach(linked, agency, [], 1, HierarchyRules()),
    ):
        with pytest.raises(LinkError):
            bad()
    assert plan_unlink(linked).kind is AccountKind.MASTER


def test_tree_refuses_duplicates_orphans_and_cycles() -> None:
    master, one, _ = seed000()
    with pytest.raises(InvalidInput):
        Tree([master, master])
    with pytest.raises(Exception, match="does not exist"):
        Tree([one])
    a = Account(A("a"), "A", AccountKind.SUB, T0, parent_id=A("b"))
    b = Account(A("b"), "B", AccountKind.SUB, T0, parent_id=A("a"))
    with pytest.raises(HierarchyCycle):
        Tree([a, b])


@given(hierarchies(max_levels=4, max_accounts=20), st.data())
def test_tree_invariants(accounts: list[Account], data: st.DataObject) -> None:
    tree = Tree(accounts)
    for account in tree:
        path = tree.path(account.id)
        assert path[0] in tree.roots()
        assert path[-1] == account.id
        assert tree.level(account.id) <= 4
        for ancestor in tree.ancestors(account.id):
            assert account.id in tree.descendants(ancestor)
        for sibling in tree.siblings(account.id):
            assert account.id not in tree.descendants(sibling)
            assert sibling not in tree.descendants(account.id)
    everyone = {a.id for a in accounts}
    covered = set(tree.roots()) | {d for r in tree.roots() for d in tree.descendants(r)}
    assert covered == everyone  # every account hangs under exactly one root
    total = sum(1 + len(tree.descendants(r)) for r in tree.roots())
    assert total == len(everyone)  # ... and only once: one parent per sub


def test_subtree_ancestors_after_a_move() -> None:
    from subacct.domain.changes import subtree_ancestors

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    below = [
        Account("b", "B", AccountKind.SUB, t0, "a"),
        Account("c", "C", AccountKind.SUB, t0, "b"),
        Account("d", "D", AccountKind.SUB, t0, "a"),
    ]
    assert subtree_ancestors(AccountId("a"), [AccountId("n"), AccountId("r")], below) == {
        "a": ("n", "r"),
        "b": ("a", "n", "r"),
        "c": ("b", "a", "n", "r"),
        "d": ("a", "n", "r"),
    }
    assert subtree_ancestors(AccountId("a"), [], []) == {"a": ()}
