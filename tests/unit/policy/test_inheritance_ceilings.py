"""Inheritance down the tree and ceilings (the rule: role rights intersected with every
ceiling on the account and its ancestors)."""

from __future__ import annotations

import pytest

from subacct.domain import AccountId
from subacct.errors import (
    AccountNotFound,
    AlreadyExists,
    HierarchyCycle,
    InvalidInput,
    RoleNotFound,
)
from subacct.policy import (
    IMPERSONATE,
    MANAGE_WEBHOOKS,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_INBOX,
    VIEW_REPORTS,
    Action,
    Ceiling,
    PolicyIndex,
    Reason,
    Scope,
)

from .helpers import MASTER, SUB1, SUB2, account, member, seed_index

DEEP = AccountId("agency1-east")  # a grandchild, under agency1


def deep_index(*ceilings: Ceiling) -> PolicyIndex:
    return seed_index(
        extra_accounts=[account(DEEP, SUB1)],
        extra_members=[member("dee", DEEP, "basic_user")],
        ceilings=ceilings,
    )


def test_seed000_subs_cannot_see_each_other_nor_the_master_billing() -> None:
    index = seed_index()
    for user in ("sam", "ada", "bob"):
        assert index.check(user, VIEW_BILLING, MASTER).reason is Reason.NO_MEMBERSHIP
        assert index.check(user, VIEW_INBOX, SUB2).reason is Reason.NO_MEMBERSHIP
        assert index.actions_in(user, MASTER) == {}
        assert index.actions_in(user, SUB2) == {}
        assert index.accounts_with(user, SEND_MESSAGES) == [SUB1]


def test_parent_admin_acts_in_every_descendant_without_being_listed() -> None:
    index = deep_index()
    assert index.role_of("pam", DEEP) is None
    decision = index.check("pam", MANAGE_WEBHOOKS, DEEP)
    assert decision.reason is Reason.ALLOWED_BY_INHERITED_ROLE
    assert decision.inherited_from == MASTER
    assert index.accounts_with("pam", IMPERSONATE) == sorted([MASTER, SUB1, SUB2, DEEP])


def test_sub_admin_does_not_reach_its_own_subs() -> None:
    index = deep_index()
    assert index.check("sam", MANAGE_WEBHOOKS, SUB1).allowed
    assert index.check("sam", MANAGE_WEBHOOKS, DEEP).reason is Reason.NO_MEMBERSHIP


def test_widest_scope_wins_then_the_nearest_membership() -> None:
    # bob is a basic user of agency1 (own inbox only) and parent admin of the master
    index = seed_index(extra_members=[member("bob", MASTER, "parent_admin")])
    decision = index.check("bob", VIEW_INBOX, SUB1)
    assert (decision.scope, decision.role_id, decision.inherited_from) == (
        Scope.ALL,
        "parent_admin",
        MASTER,
    )
    sent = index.check("bob", SEND_MESSAGES, SUB1)  # both grant ALL: his own membership decides
    assert (sent.reason, sent.role_id, sent.inherited_from) == (
        Reason.ALLOWED_BY_ROLE,
        "basic_user",
        None,
    )


def test_ceiling_bounds_the_sub_and_its_subtree_for_everyone() -> None:
    index = deep_index(Ceiling(SUB1, MASTER, [SEND_MESSAGES, VIEW_INBOX, VIEW_REPORTS]))
    for user, target in (("sam", SUB1), ("pam", SUB1), ("pam", DEEP)):
        refused = index.check(user, MANAGE_WEBHOOKS, target)
        assert refused.reason is Reason.CEILING_EXCLUDES_ACTION
        assert refused.ceiling_account_id == SUB1
        assert not index.check(user, VIEW_BILLING, target).allowed
        assert index.check(user, SEND_MESSAGES, target).allowed
    # the ceiling names the account it is placed on; the role that would have allowed is kept
    refused = index.check("pam", MANAGE_WEBHOOKS, DEEP)
    assert (refused.role_id, refused.inherited_from) == ("parent_admin", MASTER)
    # siblings and the master are untouched
    assert index.check("pam", MANAGE_WEBHOOKS, SUB2).allowed
    assert index.check("pam", MANAGE_WEBHOOKS, MASTER).allowed
    assert index.actions_in("sam", SUB1) == {
        SEND_MESSAGES: Scope.ALL,
        VIEW_INBOX: Scope.ALL,
        VIEW_REPORTS: Scope.ALL,
    }


def test_effective_rights_are_the_intersection_of_every_ceiling_on_the_path() -> None:
    top = Ceiling(SUB1, MASTER, [SEND_MESSAGES, VIEW_INBOX, VIEW_REPORTS])
    mid = Ceiling(DEEP, SUB1, [SEND_MESSAGES, VIEW_INBOX, MANAGE_WEBHOOKS])
    platform = Ceiling(DEEP, None, [SEND_MESSAGES, VIEW_REPORTS, VIEW_INBOX, MANAGE_WEBHOOKS])
    index = deep_index(top, mid, platform)
    assert index.ceiling_mask(DEEP) == frozenset({SEND_MESSAGES, VIEW_INBOX})
    assert index.ceiling_mask(SUB1) == frozenset(top.actions)
    assert index.ceiling_mask(SUB2) is None
    assert set(index.actions_in("pam", DEEP)) == {SEND_MESSAGES, VIEW_INBOX}
    # the nearest refusing ceiling is named
    assert index.check("pam", VIEW_REPORTS, DEEP).ceiling_account_id == DEEP
    assert index.check("pam", MANAGE_WEBHOOKS, DEEP).ceiling_account_id == SUB1


def test_reverse_query_prunes_subtrees_a_ceiling_excludes() -> None:
    index = deep_index(Ceiling(SUB1, MASTER, [SEND_MESSAGES]))
    assert index.accounts_with("pam", MANAGE_WEBHOOKS) == sorted([MASTER, SUB2])
    assert index.accounts_with("pam", SEND_MESSAGES) == sorted([MASTER, SUB1, SUB2, DEEP])


def test_new_sub_under_a_ceiling_inherits_the_ceiling() -> None:
    index = seed_index(ceilings=[Ceiling(SUB1, MASTER, [SEND_MESSAGES])]).with_account(
        account(DEEP, SUB1)
    )
    assert index.ceiling_mask(DEEP) == frozenset({SEND_MESSAGES})
    assert index.check("pam", MANAGE_WEBHOOKS, DEEP).reason is Reason.CEILING_EXCLUDES_ACTION


def test_lifting_a_ceiling_restores_the_role_rights() -> None:
    index = seed_index(ceilings=[Ceiling(SUB1, MASTER, [SEND_MESSAGES])])
    lifted = index.without_ceiling(SUB1, MASTER)
    assert lifted.check("sam", MANAGE_WEBHOOKS, SUB1).allowed
    assert not index.check("sam", MANAGE_WEBHOOKS, SUB1).allowed  # the old index is unchanged
    assert lifted.without_ceiling(SUB1, MASTER) is lifted


def test_unknown_action_and_account_are_denied_not_raised() -> None:
    index = seed_index()
    assert index.check("pam", Action("nope.nope"), SUB1).reason is Reason.UNKNOWN_ACTION
    assert index.check("pam", SEND_MESSAGES, AccountId("ghost")).reason is Reason.UNKNOWN_ACCOUNT
    assert index.check("nobody", SEND_MESSAGES, SUB1).reason is Reason.NO_MEMBERSHIP
    with pytest.raises(AccountNotFound):
        index.actions_in("pam", AccountId("ghost"))
    with pytest.raises(InvalidInput):
        index.accounts_with("pam", Action("nope.nope"))
    with pytest.raises(InvalidInput):
        index.check(42, SEND_MESSAGES, SUB1)  # type: ignore[arg-type]


def test_build_refuses_bad_data() -> None:
    with pytest.raises(AccountNotFound):
        PolicyIndex.build([account(SUB1, MASTER)])
    with pytest.raises(InvalidInput):
        PolicyIndex.build([account(MASTER), account(MASTER)])
    with pytest.raises(RoleNotFound):
        PolicyIndex.build([account(MASTER)], [member("x", MASTER, "wizard")])
    with pytest.raises(AccountNotFound):
        PolicyIndex.build([account(MASTER)], [member("x", SUB1, "basic_user")])
    with pytest.raises(InvalidInput):
        PolicyIndex.build(
            [account(MASTER)], [member("x", MASTER, "basic_user"), member("x", MASTER, "sub_admin")]
        )
    with pytest.raises(InvalidInput):
        seed_index(ceilings=[Ceiling(SUB1, MASTER, [Action("not.catalog")])])
    with pytest.raises(InvalidInput):
        seed_index(ceilings=[Ceiling(SUB1, MASTER, []), Ceiling(SUB1, MASTER, [SEND_MESSAGES])])
    with pytest.raises(AccountNotFound):
        seed_index(ceilings=[Ceiling(AccountId("ghost"), None, [])])


def test_build_refuses_a_cycle() -> None:
    class Loop:  # the index reads only ``id`` and ``parent_id``
        def __init__(self, id: str, parent_id: str) -> None:
            self.id, self.parent_id = AccountId(id), AccountId(parent_id)

    with pytest.raises(HierarchyCycle):
        PolicyIndex.build([Loop("a", "b"), Loop("b", "a")])


def test_incremental_updates_validate_and_leave_the_original_alone() -> None:
    index = seed_index()
    with pytest.raises(AlreadyExists):
        index.with_account(account(SUB1, MASTER))
    with pytest.raises(AccountNotFound):
        index.with_account(account(DEEP, "ghost"))
    with pytest.raises(RoleNotFound):
        index.with_membership(member("new", SUB1, "wizard"))
    grown = index.with_membership(member("new", SUB1, "advanced_user"))
    assert grown.check("new", SEND_MESSAGES, SUB1).allowed
    assert not index.check("new", SEND_MESSAGES, SUB1).allowed
    changed = grown.with_membership(member("new", SUB1, "basic_user"))
    assert changed.check("new", VIEW_INBOX, SUB1).scope is Scope.OWN
    assert changed.without_membership("new", SUB1).memberships_of("new") == {}
    assert index.without_membership("ghost", SUB1) is index


def test_a_ceiling_binds_only_while_set_by_is_above_its_account() -> None:
    """After a move the old parent's ceiling names an account that is not above: the
    index ignores it (it may not even know that account), like the service drops it."""
    from subacct.policy.ceilings import binds, stranded

    left_behind = Ceiling(SUB1, SUB2, [SEND_MESSAGES])  # agency2 is not above agency1
    bounding = Ceiling(SUB1, MASTER, [SEND_MESSAGES, VIEW_REPORTS])
    platform = Ceiling(SUB1, None, [SEND_MESSAGES, VIEW_REPORTS, VIEW_INBOX])
    assert not binds(left_behind, (MASTER,))
    assert binds(bounding, (MASTER,))
    assert binds(platform, ())
    assert stranded([left_behind, bounding, platform], {SUB1: (MASTER,)}) == [left_behind]
    assert stranded([left_behind], {SUB2: ()}) == []  # accounts not named are left alone
    index = seed_index(ceilings=[left_behind, bounding])
    assert index.ceilings_on(SUB1) == (bounding,)
    assert index.check("pam", VIEW_REPORTS, SUB1).allowed
    assert index.check("pam", VIEW_BILLING, SUB1).reason is Reason.CEILING_EXCLUDES_ACTION
    # the chain of one account, as a service unit builds it: the old parent is unknown
    moved = PolicyIndex.build(
        [account(MASTER), account(SUB1, MASTER)],
        [member("pam", MASTER, "parent_admin")],
        ceilings=[Ceiling(SUB1, "elsewhere", [])],
    )
    assert moved.ceiling_mask(SUB1) is None
    assert moved.check("pam", VIEW_BILLING, SUB1).allowed
    with pytest.raises(InvalidInput):
        index.with_ceiling(left_behind)
    with pytest.raises(AccountNotFound):
        index.with_ceiling(Ceiling(AccountId("ghost"), None, []))
