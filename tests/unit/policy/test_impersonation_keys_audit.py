"""Impersonation (seed 000 "log on as the sub-account"), API keys as principals, audit."""

from __future__ import annotations

import pytest
from attrs import evolve as attrs_evolve

from subacct.errors import ActionDenied, ApiKeyRevoked, ImpersonationRefused
from subacct.policy import (
    IMPERSONATE,
    MANAGE_SUB_ACCOUNTS,
    MANAGE_WEBHOOKS,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_INBOX,
    ApiKey,
    ApiKeyKind,
    Ceiling,
    Grant,
    ImpersonationSession,
    ImpersonationSetting,
    PrincipalKind,
    Reason,
    Scope,
    audit_record,
    plan_impersonation,
)
from subacct.serialization import converter, structure

from .helpers import MASTER, SUB1, SUB2, T0, T1, member, seed_index


def test_seed000_master_logs_on_as_a_sub_with_sub_admin_rights() -> None:
    index = seed_index()
    session = plan_impersonation(index, ImpersonationSession("imp1", "pam", SUB1, T0))
    sent = index.require(session, SEND_MESSAGES, SUB1)
    assert (sent.reason, sent.role_id, sent.inherited_from) == (
        Reason.ALLOWED_BY_IMPERSONATION,
        "sub_admin",
        MASTER,
    )
    assert index.check(session, MANAGE_WEBHOOKS, SUB1).allowed
    # sub admin rights only: no billing, no sub-account management while impersonating
    assert index.check(session, VIEW_BILLING, SUB1).reason is Reason.ROLE_LACKS_ACTION
    assert not index.check(session, IMPERSONATE, SUB1).allowed
    # one account only: never up, never sideways
    with pytest.raises(ImpersonationRefused) as err:
        index.require(session, SEND_MESSAGES, SUB2)
    assert err.value.reason == "impersonation_wrong_account"
    assert not index.check(session, MANAGE_SUB_ACCOUNTS, MASTER).allowed
    assert index.accounts_with(session, SEND_MESSAGES) == [SUB1]
    assert set(index.actions_in(session, SUB1)) == set(index.role("sub_admin").rights)


def test_impersonation_ends_and_follows_the_real_users_rights() -> None:
    index = seed_index()
    session = ImpersonationSession("imp1", "pam", SUB1, T0)
    assert index.check(session.ended(T1), SEND_MESSAGES, SUB1).reason is Reason.IMPERSONATION_ENDED
    demoted = index.without_membership("pam", MASTER)
    assert demoted.check(session, SEND_MESSAGES, SUB1).reason is Reason.IMPERSONATOR_NOT_AUTHORIZED
    forbidden = index.with_impersonation_setting(ImpersonationSetting(SUB1, False))
    assert forbidden.check(session, SEND_MESSAGES, SUB1).reason is Reason.IMPERSONATION_FORBIDDEN
    allowed_again = forbidden.with_impersonation_setting(ImpersonationSetting(SUB1, True))
    assert allowed_again.check(session, SEND_MESSAGES, SUB1).allowed
    assert forbidden.impersonation_allowed(SUB2)
    # a ceiling bounds the session like everyone else; without the impersonate action it
    # stops the session altogether
    bounded = index.with_ceiling(Ceiling(SUB1, MASTER, [SEND_MESSAGES, IMPERSONATE]))
    assert bounded.check(session, SEND_MESSAGES, SUB1).allowed
    refused = bounded.check(session, MANAGE_WEBHOOKS, SUB1)
    assert (refused.reason, refused.ceiling_account_id) == (Reason.CEILING_EXCLUDES_ACTION, SUB1)
    closed = index.with_ceiling(Ceiling(SUB1, MASTER, [SEND_MESSAGES]))
    assert closed.check(session, SEND_MESSAGES, SUB1).reason is Reason.IMPERSONATOR_NOT_AUTHORIZED


def test_impersonating_as_a_basic_user_narrows_the_scope() -> None:
    index = seed_index()
    session = ImpersonationSession("imp1", "pam", SUB1, T0, "basic_user")
    assert index.check(session, VIEW_INBOX, SUB1).scope is Scope.OWN
    assert index.check(session, MANAGE_WEBHOOKS, SUB1).reason is Reason.ROLE_LACKS_ACTION


def test_every_audit_record_names_the_real_user_and_the_impersonated_account() -> None:
    index = seed_index()
    session = ImpersonationSession("imp1", "pam", SUB1, T0)
    for n, action in enumerate((SEND_MESSAGES, VIEW_BILLING)):
        decision = index.check(session, action, SUB1)
        record = audit_record(f"a{n}", T1, session, action, SUB1, decision)
        assert record.acting_user_id == "pam"
        assert record.impersonation_id == "imp1"
        assert record.impersonated_account_id == SUB1
        assert record.principal_kind is PrincipalKind.IMPERSONATION
        assert record.allowed is decision.allowed
        assert structure(converter.unstructure(record), type(record)) == record


def test_audit_records_for_users_and_keys() -> None:
    index = seed_index()
    decision = index.check("bob", VIEW_BILLING, MASTER)
    record = audit_record("a1", T1, "bob", VIEW_BILLING, MASTER, decision, note="tried billing")
    assert (record.reason, record.allowed, record.impersonation_id) == (
        Reason.NO_MEMBERSHIP,
        False,
        None,
    )
    key = ApiKey("k1", SUB1, "CRM", "sam", [Grant(SEND_MESSAGES)], T0)
    keyed = audit_record("a2", T1, key, SEND_MESSAGES, SUB1, index.check(key, SEND_MESSAGES, SUB1))
    assert (keyed.api_key_id, keyed.acting_user_id, keyed.principal_kind) == (
        "k1",
        "sam",
        PrincipalKind.API_KEY,
    )
    data = converter.unstructure(keyed)
    assert data["reason"] == "allowed_by_api_key"
    assert structure(data, type(keyed)) == keyed


def test_api_key_acts_for_its_account_only_and_revocation_is_immediate() -> None:
    index = seed_index()
    key = ApiKey("k1", SUB1, "CRM", "sam", [Grant(SEND_MESSAGES), Grant(VIEW_INBOX, Scope.OWN)], T0)
    assert index.require(key, SEND_MESSAGES, SUB1).reason is Reason.ALLOWED_BY_API_KEY
    assert index.check(key, VIEW_INBOX, SUB1).scope is Scope.OWN
    assert index.check(key, MANAGE_WEBHOOKS, SUB1).reason is Reason.API_KEY_LACKS_ACTION
    assert index.check(key, SEND_MESSAGES, SUB2).reason is Reason.API_KEY_WRONG_ACCOUNT
    assert index.check(key, SEND_MESSAGES, MASTER).reason is Reason.API_KEY_WRONG_ACCOUNT
    revoked = key.revoked(T1)
    with pytest.raises(ApiKeyRevoked) as err:
        index.require(revoked, SEND_MESSAGES, SUB1)
    assert err.value.code == "api_key_revoked"
    assert err.value.details["principal_id"] == "k1"
    assert index.actions_in(revoked, SUB1) == {}
    assert index.accounts_with(revoked, SEND_MESSAGES) == []
    assert revoked.revoked(T1 + (T1 - T0)).revoked_at == T1  # revoking twice keeps the first


def test_api_key_rights_stay_within_ceilings() -> None:
    index = seed_index(ceilings=[Ceiling(SUB1, MASTER, [VIEW_INBOX])])
    key = ApiKey("k1", SUB1, "CRM", "sam", [Grant(SEND_MESSAGES), Grant(VIEW_INBOX)], T0)
    refused = index.check(key, SEND_MESSAGES, SUB1)
    assert (refused.reason, refused.ceiling_account_id) == (Reason.CEILING_EXCLUDES_ACTION, SUB1)
    assert index.actions_in(key, SUB1) == {VIEW_INBOX: Scope.ALL}


def test_an_account_key_survives_its_creator_leaving_a_personal_key_does_not() -> None:
    index = seed_index()
    account_key = ApiKey(
        "k1", SUB1, "CI", "sam", [Grant(SEND_MESSAGES)], T0, kind=ApiKeyKind.ACCOUNT
    )
    personal = ApiKey("k2", SUB1, "CRM", "sam", [Grant(SEND_MESSAGES)], T0)
    left = index.without_membership("sam", SUB1)
    assert left.check(account_key, SEND_MESSAGES, SUB1).allowed
    assert left.actions_in(account_key, SUB1) == {SEND_MESSAGES: Scope.ALL}
    refused = left.check(personal, SEND_MESSAGES, SUB1)
    assert refused.reason is Reason.API_KEY_CREATOR_LACKS_ACTION
    assert left.actions_in(personal, SUB1) == {}
    assert left.accounts_with(personal, SEND_MESSAGES) == []


def test_a_personal_key_acts_within_its_creators_current_rights() -> None:
    """Its grants intersected with the creator's rights at every check: a demotion
    narrows it at once, scopes included; a promotion never widens it past its grants."""
    grants = [Grant(SEND_MESSAGES), Grant(VIEW_INBOX), Grant(MANAGE_WEBHOOKS)]
    key = ApiKey("k1", SUB1, "CRM", "sam", grants, T0)
    index = seed_index()  # sam: sub administrator of agency1
    assert index.actions_in(key, SUB1) == {
        VIEW_INBOX: Scope.ALL,
        SEND_MESSAGES: Scope.ALL,
        MANAGE_WEBHOOKS: Scope.ALL,
    }
    demoted = index.with_membership(member("sam", SUB1, "basic_user"))
    assert demoted.check(key, SEND_MESSAGES, SUB1).reason is Reason.ALLOWED_BY_API_KEY
    assert demoted.check(key, VIEW_INBOX, SUB1).scope is Scope.OWN  # basic: own replies
    webhooks = demoted.check(key, MANAGE_WEBHOOKS, SUB1)
    assert webhooks.reason is Reason.API_KEY_CREATOR_LACKS_ACTION
    assert demoted.actions_in(key, SUB1) == {VIEW_INBOX: Scope.OWN, SEND_MESSAGES: Scope.ALL}
    promoted = index.with_membership(member("sam", MASTER, "parent_admin"))
    assert promoted.check(key, VIEW_BILLING, SUB1).reason is Reason.API_KEY_LACKS_ACTION
    # a parent administrator's key in a sub lives on the inherited role
    pams = ApiKey("k2", SUB2, "Ops", "pam", [Grant(VIEW_BILLING)], T0)
    assert index.check(pams, VIEW_BILLING, SUB2).allowed
    assert not index.without_membership("pam", MASTER).check(pams, VIEW_BILLING, SUB2).allowed


def test_require_raises_the_typed_error_with_the_decision() -> None:
    index = seed_index()
    with pytest.raises(ActionDenied) as err:
        index.require("bob", VIEW_BILLING, MASTER)
    assert err.value.code == "action_denied"
    assert err.value.decision == index.check("bob", VIEW_BILLING, MASTER)
    assert err.value.to_dict()["details"]["reason"] == "no_membership"
    assert "may not do 'billing.view'" in err.value.message
    assert index.require("bob", SEND_MESSAGES, SUB1).allowed


def test_key_lifetimes_rotations_and_orphans_are_pure_rules() -> None:
    from datetime import timedelta

    from subacct.errors import Conflict, EscalationRefused, InvalidInput
    from subacct.policy import (
        MANAGE_ACCOUNT_KEYS,
        MANAGE_API_KEYS,
        check_rotation,
        managing_action,
        orphaned_keys,
        plan_api_key,
        plan_api_key_revocation,
        plan_api_key_rotation,
    )
    from subacct.policy.api_keys import ApiKeyCredential, rotated, use_is_due

    hour = timedelta(hours=1)
    with pytest.raises(InvalidInput):
        ApiKey("k", SUB1, "K", "sam", [], T0, expires_at=T0)  # must end after it began
    key = ApiKey("k", SUB1, "K", "sam", [Grant(SEND_MESSAGES)], T0, expires_at=T0 + hour)
    assert (key.expired(T0 + hour - timedelta(microseconds=1)), key.expired(T0 + hour)) == (
        False,
        True,
    )
    assert check_rotation(key, T0) is key
    with pytest.raises(Conflict):
        check_rotation(key, T0 + hour)
    with pytest.raises(Conflict):
        check_rotation(key.revoked(T0), T0)
    assert (managing_action(ApiKeyKind.PERSONAL), managing_action(ApiKeyKind.ACCOUNT)) == (
        MANAGE_API_KEYS,
        MANAGE_ACCOUNT_KEYS,
    )

    live = ApiKeyCredential("a" * 64, "k")
    short = ApiKeyCredential("b" * 64, "k", T0 + hour)
    gone = ApiKeyCredential("c" * 64, "k", T0)
    assert rotated([live, short, gone], T0, T0 + 2 * hour) == [
        ApiKeyCredential("a" * 64, "k", T0 + 2 * hour),
        short,  # an earlier end is kept
    ]
    assert rotated([live], T0, None) == [ApiKeyCredential("a" * 64, "k", T0)]
    with pytest.raises(InvalidInput):
        rotated([live], T0, T0 - hour)
    assert use_is_due(None, T0, hour)
    assert not use_is_due(T0, T0 + hour - timedelta(seconds=1), hour)
    assert use_is_due(T0, T0 + hour, hour)

    account_key = ApiKey("k2", SUB1, "CI", "sam", [], T0, kind=ApiKeyKind.ACCOUNT)
    revoked = ApiKey("k3", SUB1, "Old", "sam", [], T0, T0)
    chains = {SUB1: (MASTER,), SUB2: (MASTER,)}
    assert orphaned_keys([key, account_key, revoked], [SUB2], chains) == [key]
    assert orphaned_keys([key], [MASTER], chains) == []

    index = seed_index()  # sam: sub admin of agency1 (both key rights); ada: advanced
    assert plan_api_key(index, "sam", account_key) == account_key
    with pytest.raises(ActionDenied) as err:
        plan_api_key(index, "ada", attrs_evolve(account_key, created_by="ada"))
    assert err.value.details["action"] == "api_keys.manage_account"
    with pytest.raises(EscalationRefused):
        plan_api_key(index, "sam", attrs_evolve(account_key, grants=(Grant(VIEW_BILLING),)))
    with pytest.raises(ActionDenied):
        plan_api_key_revocation(index, "ada", account_key, T0)
    with pytest.raises(ActionDenied) as err:
        plan_api_key_rotation(index, key, key, T0)  # a key never mints secrets
    assert err.value.reason == "principal_cannot_grant"
    assert plan_api_key_rotation(index, "sam", key, T0) is key
