"""Impersonation (seed 000 "log on as the sub-account"), API keys as principals, audit."""

from __future__ import annotations

import pytest

from subacct.errors import ActionDenied, ApiKeyRevoked, ImpersonationRefused
from subacct.policy import (
    IMPERSONATE,
    MANAGE_SUB_ACCOUNTS,
    MANAGE_WEBHOOKS,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_INBOX,
    ApiKey,
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

from .helpers import MASTER, SUB1, SUB2, T0, T1, seed_index


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


def test_api_key_survives_its_creator_leaving() -> None:
    index = seed_index()
    key = ApiKey("k1", SUB1, "CRM", "sam", [Grant(SEND_MESSAGES)], T0)
    assert index.without_membership("sam", SUB1).check(key, SEND_MESSAGES, SUB1).allowed


def test_require_raises_the_typed_error_with_the_decision() -> None:
    index = seed_index()
    with pytest.raises(ActionDenied) as err:
        index.require("bob", VIEW_BILLING, MASTER)
    assert err.value.code == "action_denied"
    assert err.value.decision == index.check("bob", VIEW_BILLING, MASTER)
    assert err.value.to_dict()["details"]["reason"] == "no_membership"
    assert "may not do 'billing.view'" in err.value.message
    assert index.require("bob", SEND_MESSAGES, SUB1).allowed
