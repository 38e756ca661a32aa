"""``who_can``: every principal holding an action in an account, agreeing with ``check``.

Properties on random worlds (``policy_worlds``, with keys and sessions from the exported
strategies): a principal is listed exactly when ``check`` allows it, with ``check``'s own
decision; nobody of a sibling tree appears; the answer follows incremental updates. Exact
examples from seeds 000 and 004.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.domain import Account, AccountId, AccountKind, Membership, UserId
from subacct.errors import AccountNotFound, InvalidInput
from subacct.policy import (
    EXPORT_REPORTS,
    PARENT_ADMIN_ID,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_REPORTS,
    ApiKey,
    ApiKeyKind,
    Ceiling,
    Decision,
    Grant,
    Holder,
    ImpersonationSession,
    PolicyIndex,
    Principal,
    PrincipalKind,
    Reason,
    Scope,
    who_can,
)
from subacct.testing.policy_strategies import (
    PolicyWorld,
    api_keys,
    impersonation_sessions,
    policy_worlds,
)

FAST = settings(max_examples=60)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def worlds_with_credentials(
    draw: st.DrawFn,
) -> tuple[PolicyWorld, list[ApiKey], list[ImpersonationSession]]:
    world = draw(policy_worlds())
    keys = draw(st.lists(api_keys(world), max_size=6, unique_by=lambda k: k.id))
    sessions = draw(st.lists(impersonation_sessions(world), max_size=4, unique_by=lambda s: s.id))
    # and live sessions of parent administrators below their account (most of the drawn
    # ones are ended, forbidden or by users who may not impersonate)
    admins = [
        (m.user_id, below)
        for m in world.memberships
        if m.role == PARENT_ADMIN_ID
        for below in world.account_ids
        if m.account_id in world.ancestors(below)
    ]
    if admins:
        for n, (user, below) in enumerate(draw(st.lists(st.sampled_from(admins), max_size=3))):
            role = draw(st.sampled_from([r.id for r in world.roles]))
            sessions.append(ImpersonationSession(f"live_{n}", user, below, T0, role))
    return world, keys, sessions


def _label(principal: Principal) -> tuple[str, str]:
    if isinstance(principal, ApiKey):
        return "api_key", principal.id
    if isinstance(principal, ImpersonationSession):
        return "impersonation", principal.id
    return "user", principal


@FAST
@given(worlds_with_credentials())
def test_who_can_lists_exactly_the_principals_check_allows(
    case: tuple[PolicyWorld, list[ApiKey], list[ImpersonationSession]],
) -> None:
    world, keys, sessions = case
    index = world.index()
    everyone: list[Principal] = [*world.users, UserId("stranger"), *keys, *sessions]
    for account in world.account_ids:
        mine = [k for k in keys if k.account_id == account]
        here = [s for s in sessions if s.account_id == account]
        for action in world.catalog:
            holders = who_can(index, action, account, keys=mine, sessions=here)
            got = {_label(h.principal): h.decision for h in holders}
            expected = {
                _label(p): d for p in everyone if (d := index.check(p, action, account)).allowed
            }
            assert got == expected, (action, account)
            assert [h.sort_key() for h in holders] == sorted(h.sort_key() for h in holders)


@FAST
@given(worlds_with_credentials())
def test_nobody_of_a_sibling_tree_appears(
    case: tuple[PolicyWorld, list[ApiKey], list[ImpersonationSession]],
) -> None:
    """A listed user is a member of the account or of an ancestor; a listed key or session
    is the account's own, whatever keys and sessions of other accounts are passed."""
    world, keys, sessions = case
    index = world.index()
    held = {(m.user_id, m.account_id) for m in world.memberships}
    for account in world.account_ids:
        chain = {account, *world.ancestors(account)}
        for action in world.catalog:
            for h in who_can(index, action, account, keys=keys, sessions=sessions):
                if h.kind is PrincipalKind.USER:
                    assert any((h.id, a) in held for a in chain)
                else:
                    assert h.principal.account_id == account  # type: ignore[union-attr]
                assert h.granted_in is None or h.granted_in in chain


@FAST
@given(policy_worlds(), st.data())
def test_who_can_follows_incremental_updates(world: PolicyWorld, data: st.DataObject) -> None:
    """The index's account-to-users memo never outlives a change: a derived index answers
    as a rebuilt one does."""
    index = world.index()
    account = data.draw(st.sampled_from(world.account_ids))
    action = data.draw(st.sampled_from(list(world.catalog)))
    who_can(index, action, account)  # fills the memo of the first index
    user = data.draw(st.sampled_from([*world.users, UserId("newcomer")]))
    role = data.draw(st.sampled_from([r.id for r in world.roles]))
    added = index.with_membership(Membership(user, account, role, T0))
    others = [m for m in world.memberships if (m.user_id, m.account_id) != (user, account)]
    removed = added.without_membership(user, account)
    for derived, memberships in ((added, [*others, Membership(user, account, role, T0)]),
                                 (removed, others)):  # fmt: skip
        rebuilt = PolicyIndex.build(
            world.accounts,
            memberships,
            roles=world.roles,
            ceilings=world.ceilings,
            impersonation_settings=world.impersonation_settings,
            catalog=world.catalog,
        )
        for where in world.account_ids:
            assert who_can(derived, action, where) == who_can(rebuilt, action, where)


# -- exact examples: seeds 000 and 004 -----------------------------------------------------


def _agency() -> PolicyIndex:
    accounts = [
        Account("agencydemo", "Agency Demo", AccountKind.MASTER, T0),
        Account("agency1", "Company X", AccountKind.SUB, T0, "agencydemo"),
        Account("agency2", "Company Y", AccountKind.SUB, T0, "agencydemo"),
        Account("other", "Other Master", AccountKind.MASTER, T0),
    ]
    memberships = [
        Membership("pam", "agencydemo", "parent_admin", T0),
        Membership("vic", "agencydemo", "advanced_user", T0),
        Membership("sam", "agency1", "sub_admin", T0),
        Membership("ada", "agency1", "advanced_user", T0),
        Membership("bob", "agency1", "basic_user", T0),
        Membership("yara", "agency2", "sub_admin", T0),
        Membership("otto", "other", "parent_admin", T0),
    ]
    return PolicyIndex.build(accounts, memberships)


def _rows(holders: list[Holder]) -> list[tuple[str, str, str, str | None, str | None]]:
    return [(h.id, h.code, h.scope.value, h.role_id, h.granted_in) for h in holders]


def test_seed000_only_the_masters_administrators_see_a_subs_billing() -> None:
    index = _agency()
    assert _rows(who_can(index, VIEW_BILLING, AccountId("agency1"))) == [
        ("pam", "allowed_by_inherited_role", "all", "parent_admin", "agencydemo"),
    ]
    assert _rows(who_can(index, VIEW_BILLING, AccountId("agencydemo"))) == [
        ("pam", "allowed_by_role", "all", "parent_admin", "agencydemo"),
    ]


def test_seed004_who_sends_and_who_reports_in_a_sub() -> None:
    index = _agency()
    assert _rows(who_can(index, SEND_MESSAGES, AccountId("agency1"))) == [
        ("ada", "allowed_by_role", "all", "advanced_user", "agency1"),
        ("bob", "allowed_by_role", "all", "basic_user", "agency1"),
        ("pam", "allowed_by_inherited_role", "all", "parent_admin", "agencydemo"),
        ("sam", "allowed_by_role", "all", "sub_admin", "agency1"),
    ]  # not vic (an advanced user of the master does not inherit), not yara, not otto
    # a basic user views reports on its own message data only (scope own)
    reports = {h.id: h.scope for h in who_can(index, VIEW_REPORTS, AccountId("agency1"))}
    assert reports == {"ada": Scope.ALL, "bob": Scope.OWN, "pam": Scope.ALL, "sam": Scope.ALL}
    exports = [h.id for h in who_can(index, EXPORT_REPORTS, AccountId("agency1"))]
    assert exports == ["ada", "pam", "sam"]  # basic users cannot export


def test_a_ceiling_narrows_the_holders_as_check_does() -> None:
    index = _agency().with_ceiling(Ceiling("agency1", "agencydemo", [SEND_MESSAGES]))
    assert [h.id for h in who_can(index, EXPORT_REPORTS, AccountId("agency1"))] == []
    assert [h.id for h in who_can(index, SEND_MESSAGES, AccountId("agency1"))] == [
        "ada", "bob", "pam", "sam"
    ]  # fmt: skip


def test_keys_and_sessions_are_listed_with_their_reasons() -> None:
    index = _agency()
    personal = ApiKey("k1", "agency1", "CRM", "bob", [Grant(SEND_MESSAGES)], T0)
    account_key = ApiKey(
        "k2", "agency1", "CI", "sam", [Grant(VIEW_REPORTS, Scope.OWN)], T0,
        kind=ApiKeyKind.ACCOUNT, expires_at=T0 + timedelta(days=1),
    )  # fmt: skip
    revoked = ApiKey("k3", "agency1", "Old", "sam", [Grant(SEND_MESSAGES)], T0, T0)
    elsewhere = ApiKey("k4", "agency2", "Y", "yara", [Grant(SEND_MESSAGES)], T0)
    session = ImpersonationSession("imp1", "pam", "agency1", T0)
    ended = ImpersonationSession("imp2", "pam", "agency1", T0, ended_at=T0)
    keys, sessions = [personal, account_key, revoked, elsewhere], [session, ended]
    sends = who_can(index, SEND_MESSAGES, "agency1", keys=keys, sessions=sessions)
    assert [(h.kind.value, h.id, h.code) for h in sends if h.kind is not PrincipalKind.USER] == [
        ("api_key", "k1", "allowed_by_api_key"),
        ("impersonation", "imp1", "allowed_by_impersonation"),
    ]
    imp = sends[-1]
    assert (imp.role_id, imp.granted_in, imp.acting_user_id) == ("sub_admin", "agencydemo", "pam")
    assert imp.explain().startswith("impersonation 'imp1' may do 'messages.send'")
    reports = who_can(index, VIEW_REPORTS, "agency1", keys=keys, at=T0)
    assert [(h.id, h.scope) for h in reports if h.kind is PrincipalKind.API_KEY] == [
        ("k2", Scope.OWN)
    ]
    later = who_can(index, VIEW_REPORTS, "agency1", keys=keys, at=T0 + timedelta(days=1))
    assert all(h.kind is PrincipalKind.USER for h in later)  # k2 has expired by then
    timed = ImpersonationSession("imp3", "pam", "agency1", T0, expires_at=T0 + timedelta(hours=1))
    assert "imp3" in {h.id for h in who_can(index, SEND_MESSAGES, "agency1", sessions=[timed])}
    at = T0 + timedelta(hours=1)  # its time is up: it grants nothing, like an ended one
    assert who_can(index, SEND_MESSAGES, "agency1", sessions=[timed], at=at)[-1].id != "imp3"
    # a personal key acts within its creator's rights: bob's key cannot export
    bobs = ApiKey("k5", "agency1", "X", "bob", [Grant(EXPORT_REPORTS)], T0)
    assert all(h.id != "k5" for h in who_can(index, EXPORT_REPORTS, "agency1", keys=[bobs]))


def test_bad_questions_are_typed_errors() -> None:
    index = _agency()
    with pytest.raises(InvalidInput) as info:
        who_can(index, "no.such_action", AccountId("agency1"))  # type: ignore[arg-type]
    assert info.value.details["field"] == "action"
    with pytest.raises(AccountNotFound):
        who_can(index, SEND_MESSAGES, AccountId("nowhere"))
    with pytest.raises(InvalidInput):
        Holder("bob", SEND_MESSAGES, "agency1", Decision(False, Reason.NO_MEMBERSHIP))
    with pytest.raises(InvalidInput):
        Holder(42, SEND_MESSAGES, "agency1", Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL))  # type: ignore[arg-type]


def test_candidates_are_the_chains_members_only() -> None:
    index = _agency()
    assert index.candidates(AccountId("agency1")) == ["ada", "bob", "pam", "sam", "vic"]
    assert index.candidates(AccountId("agencydemo")) == ["pam", "vic"]
