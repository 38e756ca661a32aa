"""No escalation: every attempt is refused with a typed error and nothing is written."""

from __future__ import annotations

import pytest

from subacct.domain import AccountId, RoleId
from subacct.errors import (
    ActionDenied,
    AlreadyExists,
    ApiKeyRevoked,
    EscalationRefused,
    ImpersonationRefused,
    InvalidInput,
    PermissionDenied,
    RoleNotFound,
    SelfRoleChangeRefused,
)
from subacct.policy import (
    MANAGE_SETTINGS,
    MANAGE_WEBHOOKS,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_INBOX,
    ApiKey,
    Ceiling,
    Grant,
    ImpersonationSession,
    ImpersonationSetting,
    PolicyIndex,
    Role,
    Scope,
    plan_api_key,
    plan_api_key_revocation,
    plan_ceiling,
    plan_ceiling_removal,
    plan_impersonation,
    plan_impersonation_setting,
    plan_invite,
    plan_removal,
    plan_role_change,
)

from .helpers import MASTER, SUB1, SUB2, T0, T1, account, member, seed_index

DEEP = AccountId("agency1-east")


def snapshot(index: PolicyIndex) -> dict[str, object]:
    """Everything a refused planner could have touched, to prove nothing changed."""
    users = ["pam", "mia", "sam", "ada", "bob", "sue", "bea", "eve"]
    return {
        "members": {u: index.memberships_of(u) for u in users},
        "rights": {(u, a): index.actions_in(u, a) for u in users for a in (MASTER, SUB1, SUB2)},
    }


@pytest.fixture
def index() -> PolicyIndex:
    return seed_index()


def test_grant_above_own_rights_is_refused(index: PolicyIndex) -> None:
    before = snapshot(index)
    with pytest.raises(EscalationRefused) as err:
        plan_invite(index, "sam", member("eve", SUB1, "parent_admin"))
    assert err.value.code == "escalation_refused"
    assert err.value.reason == "grant_exceeds_own_rights"
    assert "billing.view" in err.value.details["excess"]
    assert err.value.decision.role_id == "parent_admin"
    assert isinstance(err.value, PermissionDenied)
    assert snapshot(index) == before


def test_grant_within_own_rights_is_planned(index: PolicyIndex) -> None:
    planned = plan_invite(index, "sam", member("eve", SUB1, "sub_admin"))
    assert planned.role == "sub_admin"
    assert plan_invite(index, "pam", member("eve", SUB2, "parent_admin")).account_id == SUB2


def test_invite_into_a_sibling_is_refused(index: PolicyIndex) -> None:
    before = snapshot(index)
    with pytest.raises(ActionDenied) as err:
        plan_invite(index, "sam", member("eve", SUB2, "basic_user"))
    assert err.value.reason == "no_membership"
    assert err.value.details["account_id"] == SUB2
    with pytest.raises(ActionDenied):
        plan_invite(index, "sam", member("eve", MASTER, "basic_user"))
    assert snapshot(index) == before


def test_users_without_invite_rights_cannot_invite(index: PolicyIndex) -> None:
    with pytest.raises(ActionDenied) as err:
        plan_invite(index, "ada", member("eve", SUB1, "basic_user"))
    assert err.value.reason == "role_lacks_action"


def test_nobody_edits_their_own_role(index: PolicyIndex) -> None:
    before = snapshot(index)
    sam = member("sam", SUB1, "sub_admin")
    with pytest.raises(SelfRoleChangeRefused) as err:
        plan_role_change(index, "sam", sam, RoleId("basic_user"))
    assert err.value.code == "self_role_change_refused"
    assert isinstance(err.value, EscalationRefused)
    with pytest.raises(SelfRoleChangeRefused):
        plan_removal(index, "sam", sam)
    with pytest.raises(SelfRoleChangeRefused):  # nor grant themselves a second seat
        plan_invite(index, "pam", member("pam", SUB1, "basic_user"))
    assert snapshot(index) == before


def test_a_member_who_outranks_the_grantor_is_out_of_reach() -> None:
    index = seed_index(extra_members=[member("pat", SUB1, "parent_admin")])
    pat = member("pat", SUB1, "parent_admin")
    with pytest.raises(EscalationRefused) as err:
        plan_role_change(index, "sam", pat, RoleId("basic_user"))
    assert err.value.reason == "target_outranks_grantor"
    with pytest.raises(EscalationRefused):
        plan_removal(index, "sam", pat)
    # the parent admin can do both
    assert plan_role_change(index, "pam", pat, RoleId("basic_user")).role == "basic_user"
    assert plan_removal(index, "pam", pat) == pat


def test_role_change_and_removal_within_rights(index: PolicyIndex) -> None:
    bob = member("bob", SUB1, "basic_user")
    changed = plan_role_change(index, "sam", bob, RoleId("advanced_user"))
    assert (changed.role, changed.version) == ("advanced_user", 2)
    with pytest.raises(EscalationRefused):
        plan_role_change(index, "sam", bob, RoleId("parent_admin"))
    assert plan_removal(index, "sam", bob) == bob
    with pytest.raises(RoleNotFound):
        plan_role_change(index, "sam", bob, RoleId("wizard"))


def test_inviting_an_existing_member_or_an_unknown_role(index: PolicyIndex) -> None:
    with pytest.raises(AlreadyExists):
        plan_invite(index, "sam", member("bob", SUB1, "basic_user"))
    with pytest.raises(RoleNotFound):
        plan_invite(index, "sam", member("eve", SUB1, "wizard"))


def test_scope_counts_in_the_subset_rule() -> None:
    wide = Role("wide_basic", "Basic with all replies", [Grant(VIEW_INBOX, Scope.ALL)])
    index = PolicyIndex.build(
        [account(MASTER)],
        [member("bob", MASTER, "basic_user"), member("al", MASTER, "inviter")],
        roles=[
            *seed_index().roles(),
            wide,
            Role(
                "inviter",
                "Inviter",
                [Grant("users.invite"), Grant(VIEW_INBOX, Scope.OWN), Grant(SEND_MESSAGES)],
            ),
        ],
    )
    with pytest.raises(EscalationRefused):  # own replies do not cover all replies
        plan_invite(index, "al", member("eve", MASTER, "wide_basic"))


def test_an_inheriting_role_needs_inheritable_rights() -> None:
    # A custom role with only sub-admin rights, but reaching every descendant: a sub admin
    # holds those rights in agency1 only, not below it, so cannot hand it out.
    reach = Role("reach", "Reaching helper", [Grant(SEND_MESSAGES)], inherits=True)
    index = PolicyIndex.build(
        [account(MASTER), account(SUB1, MASTER), account(DEEP, SUB1)],
        [member("sam", SUB1, "sub_admin"), member("pam", MASTER, "parent_admin")],
        roles=[*seed_index().roles(), reach],
    )
    with pytest.raises(EscalationRefused):
        plan_invite(index, "sam", member("eve", SUB1, "reach"))
    assert plan_invite(index, "pam", member("eve", SUB1, "reach")).role == "reach"


def test_ceilings_bound_what_a_role_would_give(index: PolicyIndex) -> None:
    # Under a ceiling the grantor lacks webhooks, but so would the invitee: still allowed.
    bounded = seed_index(ceilings=[Ceiling(SUB1, MASTER, [SEND_MESSAGES, "users.invite"])])
    assert plan_invite(bounded, "sam", member("eve", SUB1, "sub_admin")).role == "sub_admin"


def test_api_key_wider_than_its_creator_is_refused(index: PolicyIndex) -> None:
    key = ApiKey("k1", SUB1, "CRM", "sam", [Grant(SEND_MESSAGES), Grant(VIEW_BILLING)], T0)
    with pytest.raises(EscalationRefused) as err:
        plan_api_key(index, "sam", key)
    assert err.value.details["excess"] == ["billing.view"]
    ok = ApiKey("k1", SUB1, "CRM", "sam", [Grant(SEND_MESSAGES), Grant(MANAGE_WEBHOOKS)], T0)
    assert plan_api_key(index, "sam", ok) == ok
    with pytest.raises(ActionDenied):  # a key for a sibling account
        plan_api_key(index, "sam", ApiKey("k2", SUB2, "CRM", "sam", [Grant(SEND_MESSAGES)], T0))
    with pytest.raises(ActionDenied):  # advanced users do not manage keys
        plan_api_key(index, "ada", ApiKey("k3", SUB1, "x", "ada", [Grant(SEND_MESSAGES)], T0))
    with pytest.raises(InvalidInput):  # made in someone else's name
        plan_api_key(index, "sam", ApiKey("k4", SUB1, "x", "pam", [Grant(SEND_MESSAGES)], T0))


def test_api_key_scope_cannot_widen_the_creator_scope() -> None:
    keymaker = Role(
        "keymaker", "Key maker", [Grant("api_keys.manage"), Grant(VIEW_INBOX, Scope.OWN)]
    )
    index = seed_index().with_role(keymaker).with_membership(member("kim", SUB1, "keymaker"))
    with pytest.raises(EscalationRefused):
        plan_api_key(index, "kim", ApiKey("k", SUB1, "x", "kim", [Grant(VIEW_INBOX)], T0))
    own = ApiKey("k", SUB1, "x", "kim", [Grant(VIEW_INBOX, Scope.OWN)], T0)
    assert plan_api_key(index, "kim", own) == own


def test_keys_do_not_make_keys_and_revocation_needs_rights(index: PolicyIndex) -> None:
    key = ApiKey("k1", SUB1, "ops", "sam", [Grant("api_keys.manage"), Grant(SEND_MESSAGES)], T0)
    with pytest.raises(ActionDenied) as err:
        plan_api_key(index, key, ApiKey("k2", SUB1, "x", "sam", [Grant(SEND_MESSAGES)], T0))
    assert err.value.reason == "principal_cannot_grant"
    assert plan_api_key_revocation(index, "sam", key, T1).revoked_at == T1
    with pytest.raises(ActionDenied):
        plan_api_key_revocation(index, "bob", key, T1)
    with pytest.raises(ApiKeyRevoked):
        plan_api_key_revocation(index, key.revoked(T0), key, T1)


def test_impersonating_upward_or_sideways_is_refused(index: PolicyIndex) -> None:
    up = ImpersonationSession("i1", "sam", MASTER, T0)
    sideways = ImpersonationSession("i2", "sam", SUB2, T0)
    for session in (up, sideways):
        with pytest.raises(ImpersonationRefused) as err:
            plan_impersonation(index, session)
        assert err.value.reason == "impersonation_not_from_ancestor"
        assert err.value.code == "impersonation_refused"
    with pytest.raises(ImpersonationRefused):  # not even one's own account
        plan_impersonation(index, ImpersonationSession("i3", "sam", SUB1, T0))
    with pytest.raises(ImpersonationRefused):  # a parent admin cannot impersonate the master
        plan_impersonation(index, ImpersonationSession("i4", "pam", MASTER, T0))
    with pytest.raises(ImpersonationRefused) as err:  # an inheriting role without the right
        plan_impersonation(
            seed_index()
            .with_role(Role("auditor", "Auditor", [Grant("reports.view")], inherits=True))
            .with_membership(member("aud", MASTER, "auditor")),
            ImpersonationSession("i5", "aud", SUB1, T0),
        )
    assert err.value.reason == "role_lacks_action"


def test_impersonation_downward_is_planned_unless_forbidden(index: PolicyIndex) -> None:
    session = ImpersonationSession("i1", "pam", SUB1, T0)
    assert plan_impersonation(index, session) == session
    forbidden = index.with_impersonation_setting(ImpersonationSetting(SUB1, False))
    with pytest.raises(ImpersonationRefused) as err:
        plan_impersonation(forbidden, session)
    assert err.value.reason == "impersonation_forbidden"
    with pytest.raises(InvalidInput):
        plan_impersonation(index, session.ended(T1))


def test_impersonating_with_a_role_above_the_impersonator_is_refused() -> None:
    index = (
        seed_index()
        .with_role(
            Role("helper", "Helper", [Grant("accounts.impersonate"), Grant(SEND_MESSAGES)], True)
        )
        .with_membership(member("hal", MASTER, "helper"))
    )
    with pytest.raises(EscalationRefused):
        plan_impersonation(index, ImpersonationSession("i1", "hal", SUB1, T0))  # as sub_admin
    as_basic = ImpersonationSession("i2", "hal", SUB1, T0, "basic_user")
    with pytest.raises(EscalationRefused):  # basic users view their own inbox: hal cannot
        plan_impersonation(index, as_basic)


def test_only_a_direct_member_forbids_impersonation(index: PolicyIndex) -> None:
    setting = ImpersonationSetting(SUB1, False)
    assert plan_impersonation_setting(index, "sam", setting) == setting
    with pytest.raises(ActionDenied) as err:
        plan_impersonation_setting(index, "pam", setting)
    assert err.value.reason == "not_a_direct_member"
    with pytest.raises(ActionDenied):
        plan_impersonation_setting(index, "bob", setting)
    with pytest.raises(ActionDenied):
        plan_impersonation_setting(index, ImpersonationSession("i", "pam", SUB1, T0), setting)


def test_ceilings_are_placed_from_above_only(index: PolicyIndex) -> None:
    ceiling = Ceiling(SUB1, MASTER, [SEND_MESSAGES])
    assert plan_ceiling(index, "pam", ceiling) == ceiling
    for user in ("sam", "mia", "sue"):
        with pytest.raises(ActionDenied):
            plan_ceiling(index, user, ceiling)
    with pytest.raises(ActionDenied) as err:
        plan_ceiling(index, "pam", Ceiling(MASTER, None, [SEND_MESSAGES]))
    assert err.value.reason == "platform_only"
    with pytest.raises(InvalidInput):
        plan_ceiling(index, "pam", Ceiling(SUB1, SUB2, [SEND_MESSAGES]))
    placed = index.with_ceiling(ceiling)
    assert plan_ceiling_removal(placed, "pam", SUB1, MASTER) == ceiling
    assert plan_ceiling_removal(index, "pam", SUB1, MASTER) is None
    with pytest.raises(ActionDenied):
        plan_ceiling_removal(placed, "sam", SUB1, MASTER)


def test_an_intermediate_admin_cannot_lift_a_higher_ceiling() -> None:
    index = seed_index(
        extra_accounts=[account(DEEP, SUB1)],
        extra_members=[member("mid", SUB1, "parent_admin")],
        ceilings=[Ceiling(DEEP, MASTER, [SEND_MESSAGES])],
    )
    with pytest.raises(ActionDenied):
        plan_ceiling_removal(index, "mid", DEEP, MASTER)
    own = Ceiling(DEEP, SUB1, [SEND_MESSAGES, MANAGE_SETTINGS])
    assert plan_ceiling(index, "mid", own) == own
    # its own, wider ceiling does not lift the master's
    assert index.with_ceiling(own).ceiling_mask(DEEP) == frozenset({SEND_MESSAGES})
