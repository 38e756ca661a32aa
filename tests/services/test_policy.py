"""``app.policy`` over storage: decisions from storage now, escalation refused with nothing
but the denial written, immediate revocation, impersonation with its audit trail."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from subacct import (
    SYSTEM,
    ActionDenied,
    Grant,
    PermissionDenied,
    Role,
    Store,
    Subacct,
    System,
)
from subacct.errors import (
    ApiKeyRevoked,
    Conflict,
    EscalationRefused,
    ImpersonationRefused,
    NotFound,
    RoleNotFound,
    SelfRoleChangeRefused,
)
from subacct.policy import (
    CREATE_SUB_ACCOUNTS,
    EXPORT_REPORTS,
    IMPERSONATE,
    MANAGE_API_KEYS,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_REPORTS,
    Ceiling,
    PrincipalKind,
    Scope,
)
from subacct.testing.conformance import store_state

from .conftest import audit_log, event_log, make_app, seed_agency


@pytest.fixture
def app(store: Store) -> Subacct:
    return seed_agency(make_app(store))


def test_inherited_and_sibling_decisions(app: Subacct) -> None:
    check = app.policy.check
    assert check(VIEW_BILLING, "agency2", by="owner").code == "allowed_by_inherited_role"
    assert not check(SEND_MESSAGES, "agency2", by="sam").allowed  # sibling
    assert not check(VIEW_BILLING, "agencydemo", by="sam").allowed  # the master's billing
    assert check(VIEW_REPORTS, "agency1", by="bob").scope is Scope.OWN
    assert app.policy.actions_in("agency1", by="bob")[SEND_MESSAGES] is Scope.ALL
    assert app.policy.accounts_with(SEND_MESSAGES, by="sam") == ["agency1"]
    assert app.policy.accounts_with(SEND_MESSAGES, by="owner") == [
        "agency1",
        "agency2",
        "agencydemo",
    ]
    assert app.policy.index(by=SYSTEM).accounts_with("sam", SEND_MESSAGES) == ["agency1"]
    assert check(VIEW_BILLING, "agency2", by=SYSTEM).code == "allowed_as_system"
    with pytest.raises(ActionDenied) as err:
        app.policy.require(EXPORT_REPORTS, "agency1", by="bob")
    assert err.value.reason == "role_lacks_action"


def test_require_audits_the_decision_both_ways(app: Subacct) -> None:
    before = len(audit_log(app.store))
    app.policy.require(SEND_MESSAGES, "agency1", by="bob")
    with pytest.raises(ActionDenied):
        app.policy.require(EXPORT_REPORTS, "agency1", by="bob")
    new = audit_log(app.store)[before:]
    assert [(r.action, r.allowed, r.acting_user_id) for r in new] == [  # type: ignore[attr-defined]
        (SEND_MESSAGES, True, "bob"),
        (EXPORT_REPORTS, False, "bob"),
    ]


ESCALATIONS: list[tuple[str, Callable[[Subacct], object], type[Exception]]] = [
    (
        "grant-above-own",
        lambda a: a.members.add("new", "agency1", "parent_admin", by="sam"),
        EscalationRefused,
    ),
    (
        "invite-into-sibling",
        lambda a: a.members.add("new", "agency2", "basic_user", by="sam"),
        ActionDenied,
    ),
    (
        "invite-into-master",
        lambda a: a.members.add("new", "agencydemo", "basic_user", by="sam"),
        ActionDenied,
    ),
    (
        "own-role",
        lambda a: a.members.change_role("sam", "agency1", "parent_admin", by="sam"),
        SelfRoleChangeRefused,
    ),
    (
        "basic-invites",
        lambda a: a.members.add("new", "agency1", "basic_user", by="bob"),
        ActionDenied,
    ),
    (
        "key-wider-than-creator",
        lambda a: a.policy.create_api_key("agency1", "ci", [Grant(VIEW_BILLING)], by="sam"),
        EscalationRefused,
    ),
    (
        "impersonate-upward",
        lambda a: a.policy.start_impersonation("agencydemo", reason="support", by="sam"),
        ImpersonationRefused,
    ),
    (
        "impersonate-sideways",
        lambda a: a.policy.start_impersonation("agency2", reason="support", by="sam"),
        ImpersonationRefused,
    ),
    (
        "sub-admin-creates-sub",
        lambda a: a.accounts.create_sub("agency1", "X", by="sam"),
        ActionDenied,
    ),
    (
        "user-creates-master",
        lambda a: a.accounts.create_master("Mine", by="owner"),
        ActionDenied,
    ),
    (
        "user-defines-role",
        lambda a: a.policy.define_role(Role("x", "X", [Grant(VIEW_BILLING)]), by="owner"),
        ActionDenied,
    ),
    (
        "platform-ceiling-by-user",
        lambda a: a.policy.set_ceiling(Ceiling("agencydemo", None, [SEND_MESSAGES]), by="owner"),
        ActionDenied,
    ),
]


@pytest.mark.parametrize(("name", "call", "error"), ESCALATIONS, ids=[e[0] for e in ESCALATIONS])
def test_escalations_are_refused_and_write_only_the_denial(
    app: Subacct, name: str, call: Callable[[Subacct], object], error: type[Exception]
) -> None:
    before, events, audits = store_state(app.store), event_log(app.store), audit_log(app.store)
    with pytest.raises(error):
        call(app)
    assert store_state(app.store) == before
    assert event_log(app.store) == events
    new = audit_log(app.store)[len(audits) :]
    assert len(new) == 1
    assert not new[0].allowed  # type: ignore[attr-defined]


def test_unknown_role_is_not_found_and_writes_nothing(app: Subacct) -> None:
    audits = audit_log(app.store)
    with pytest.raises(RoleNotFound):
        app.members.add("new", "agency1", "wizard", by="owner")
    assert audit_log(app.store) == audits


def test_allowed_grants_write_the_change_an_event_and_an_audit_record(app: Subacct) -> None:
    membership = app.members.add("new", "agency1", "basic_user", by="sam")
    assert membership.role == "basic_user"
    changed = app.members.change_role("new", "agency1", "advanced_user", by="owner")
    assert changed.version == 2
    app.members.remove("new", "agency1", by="sam")
    records = [r for r in app.audit.records("agency1", by=SYSTEM) if r.acting_user_id]
    assert [r.action for r in records][-3:] == ["users.invite", "users.invite", "users.remove"]
    tail = [e.event_type for e in event_log(app.store)][-3:]  # type: ignore[attr-defined]
    assert tail == ["user_invited", "role_changed", "user_removed"]


def test_api_key_acts_within_its_grants_and_revocation_is_immediate(app: Subacct) -> None:
    key, secret = app.policy.create_api_key("agency1", "ci", [Grant(SEND_MESSAGES)], by="sam")
    assert secret.startswith("sk_")
    assert app.policy.authenticate_api_key(secret, by=SYSTEM) == key
    assert app.policy.check(SEND_MESSAGES, "agency1", by=key).allowed
    assert not app.policy.check(MANAGE_API_KEYS, "agency1", by=key).allowed  # only its grants
    assert not app.policy.check(SEND_MESSAGES, "agency2", by=key).allowed  # one account only
    assert [k.id for k in app.policy.api_keys("agency1", by="sam")] == [key.id]
    app.policy.revoke_api_key(key.id, by="sam")
    assert app.policy.check(SEND_MESSAGES, "agency1", by=key).code == "api_key_revoked"  # stale
    with pytest.raises(ApiKeyRevoked):
        app.policy.authenticate_api_key(secret, by=SYSTEM)
    with pytest.raises(PermissionDenied) as unknown:
        app.policy.authenticate_api_key("sk_wrong", by=SYSTEM)
    assert "sk_wrong" not in str(unknown.value.to_dict())  # the secret is never echoed
    with pytest.raises(Conflict):
        app.policy.revoke_api_key(key.id, by="sam")
    types = [e.event_type for e in event_log(app.store)]  # type: ignore[attr-defined]
    assert types[-2:] == ["api_key_created", "api_key_revoked"]


def test_authentication_is_the_systems(app: Subacct) -> None:
    _, secret = app.policy.create_api_key("agency1", "ci", [Grant(SEND_MESSAGES)], by="sam")
    with pytest.raises(ActionDenied) as err:
        app.policy.authenticate_api_key(secret, by="sam")
    assert err.value.reason == "platform_only"


def test_impersonation_runs_as_sub_admin_and_audits_both_identities(app: Subacct) -> None:
    session = app.policy.start_impersonation("agency1", reason="support", by="owner")
    start = next(r for r in app.audit.records("agency1", by=SYSTEM) if r.action == IMPERSONATE)
    assert (start.allowed, start.principal_kind, start.acting_user_id) == (
        True,
        PrincipalKind.USER,
        "owner",
    )
    assert start.reason.value == "allowed_by_inherited_role"
    assert app.policy.require(SEND_MESSAGES, "agency1", by=session).allowed
    assert not app.policy.check(SEND_MESSAGES, "agency2", by=session).allowed  # this account
    last = audit_log(app.store)[-1]
    assert (last.acting_user_id, last.impersonated_account_id, last.impersonation_id) == (  # type: ignore[attr-defined]
        "owner",
        "agency1",
        session.id,
    )
    ended = app.policy.end_impersonation(session.id, by="owner")
    assert ended.ended_at is not None
    assert not app.policy.check(SEND_MESSAGES, "agency1", by=session).allowed
    with pytest.raises(ActionDenied):  # an ended session acts no more
        app.policy.require(SEND_MESSAGES, "agency1", by=session)
    types = [e.event_type for e in event_log(app.store) if e.account_id == "agency1"]  # type: ignore[attr-defined]
    assert types[-2:] == ["impersonation_started", "impersonation_ended"]


def test_refused_impersonation_is_audited_with_the_real_user(app: Subacct) -> None:
    with pytest.raises(ImpersonationRefused):
        app.policy.start_impersonation("agency2", reason="support", by="sam")
    refused = [r for r in audit_log(app.store) if r.action == IMPERSONATE]  # type: ignore[attr-defined]
    assert [(r.allowed, r.acting_user_id, r.account_id) for r in refused] == [
        (False, "sam", "agency2")
    ]


def test_only_the_impersonator_or_an_admin_above_ends_a_session(app: Subacct) -> None:
    session = app.policy.start_impersonation("agency1", reason="support", by="owner")
    for intruder in ("sam", "bob", "yara"):
        with pytest.raises(ImpersonationRefused):
            app.policy.end_impersonation(session.id, by=intruder)
    app.members.create_user("boss@example.test", "Boss", user_id="boss", by=SYSTEM)
    app.members.add("boss", "agencydemo", "parent_admin", by=SYSTEM)
    ended = app.policy.end_impersonation(session.id, by="boss")  # an administrator above
    last = event_log(app.store)[-1]
    assert (last.actor, last.real_user_id) == ("boss", "owner")  # type: ignore[attr-defined]
    assert ended.ended_at is not None
    with pytest.raises(Conflict):
        app.policy.end_impersonation(session.id, by="owner")
    again = app.policy.start_impersonation("agency1", reason="support", by="owner")
    assert app.policy.end_impersonation(again.id, by=again).ended_at is not None  # itself
    third = app.policy.start_impersonation("agency1", reason="support", by="owner")
    assert app.policy.end_impersonation(third.id, by=System("support:jane")).ended_at


def test_an_account_can_forbid_impersonation(app: Subacct) -> None:
    app.policy.set_impersonation_allowed("agency1", False, by="sam")
    with pytest.raises(ImpersonationRefused):
        app.policy.start_impersonation("agency1", reason="support", by="owner")
    with pytest.raises(ActionDenied):  # not a direct member
        app.policy.set_impersonation_allowed("agency1", True, by="owner")
    assert event_log(app.store)[-1].event_type == "impersonation_setting_changed"  # type: ignore[attr-defined]


def test_ceiling_narrows_every_role_below_it(app: Subacct) -> None:
    ceiling = Ceiling("agency1", "agencydemo", [VIEW_REPORTS, SEND_MESSAGES])
    app.policy.set_ceiling(ceiling, by="owner")
    assert app.policy.ceilings("agency1", by="sam") == [ceiling]
    assert app.policy.check(SEND_MESSAGES, "agency1", by="sam").allowed
    assert app.policy.check(MANAGE_API_KEYS, "agency1", by="sam").code == "ceiling_excludes_action"
    assert app.policy.check(VIEW_BILLING, "agency1", by="owner").code == "ceiling_excludes_action"
    with pytest.raises(ActionDenied):
        app.policy.set_ceiling(Ceiling("agency1", "agencydemo", [SEND_MESSAGES]), by="sam")
    assert app.policy.remove_ceiling("agency1", "agencydemo", by="owner") == ceiling
    assert app.policy.check(MANAGE_API_KEYS, "agency1", by="sam").allowed
    with pytest.raises(NotFound):
        app.policy.remove_ceiling("agency1", "agencydemo", by="owner")
    platform = Ceiling("agencydemo", None, [SEND_MESSAGES, VIEW_REPORTS])
    app.policy.set_ceiling(platform, by=SYSTEM)
    assert app.policy.check(VIEW_BILLING, "agency2", by="owner").code == "ceiling_excludes_action"
    app.policy.remove_ceiling("agencydemo", None, by=SYSTEM)
    types = [e.event_type for e in event_log(app.store)][-4:]  # type: ignore[attr-defined]
    assert types == ["ceiling_set", "ceiling_removed", "ceiling_set", "ceiling_removed"]


def test_custom_roles_are_data(app: Subacct) -> None:
    clerk = Role("billing_clerk", "Billing clerk", (Grant(VIEW_BILLING),))
    app.policy.define_role(clerk, by=SYSTEM)
    app.members.add("new", "agency2", "billing_clerk", by=SYSTEM)
    assert app.policy.check(VIEW_BILLING, "agency2", by="new").allowed
    assert not app.policy.check(SEND_MESSAGES, "agency2", by="new").allowed
    assert "billing_clerk" in [r.id for r in app.policy.roles(by="new")]
    with pytest.raises(Conflict):
        app.policy.define_role(Role("parent_admin", "Mine", (Grant(VIEW_BILLING),)), by=SYSTEM)
    defined = event_log(app.store)[-2]
    assert defined.event_type == "role_defined"  # type: ignore[attr-defined]


def test_checked_sub_account_creation_is_audited(app: Subacct) -> None:
    sub = app.accounts.create_sub("agencydemo", "Company Z", account_id="agency3", by="owner")
    assert sub.parent_id == "agencydemo"
    last = audit_log(app.store)[-1]
    assert (last.action, last.acting_user_id, last.allowed) == (CREATE_SUB_ACCOUNTS, "owner", True)  # type: ignore[attr-defined]
    assert last in app.audit.records("agencydemo", by="owner")


def test_system_acts_are_audited_as_the_system(app: Subacct) -> None:
    app.accounts.create_sub("agencydemo", "By ops", account_id="agency9", by=System("ops:jane"))
    last = audit_log(app.store)[-1]
    assert last in app.audit.records("agencydemo", by=SYSTEM)
    assert (last.principal_kind, last.acting_user_id, last.note) == (  # type: ignore[attr-defined]
        PrincipalKind.SYSTEM,
        None,
        "system:ops:jane",
    )
    assert event_log(app.store)[-1].actor is None  # type: ignore[attr-defined]


def test_audit_records_are_for_the_account_administrators(app: Subacct) -> None:
    assert app.audit.records("agency1", by="sam")  # its sub administrator
    assert app.audit.records("agency1", by="owner")  # the parent's administrator
    with pytest.raises(ActionDenied):
        app.audit.records("agency1", by="bob")
    with pytest.raises(ActionDenied):
        app.audit.records("agency2", by="sam")


def test_platform_wide_audit_records_are_the_systems(app: Subacct) -> None:
    app.members.create_user("z@example.test", "Z", user_id="z", by=SYSTEM)
    with pytest.raises(ActionDenied):
        app.members.create_user("y@example.test", "Y", by="owner")
    pairs = [(r.action, r.allowed) for r in app.audit.platform_records(by=SYSTEM)]
    assert ("users.create", True) in pairs
    assert ("users.create", False) in pairs
    assert all(r.account_id is None for r in app.audit.platform_records(by=SYSTEM))
    with pytest.raises(ActionDenied):
        app.audit.platform_records(by="owner")
    created = [r for r in audit_log(app.store) if r.action == "accounts.create_master"]  # type: ignore[attr-defined]
    assert [r.account_id for r in created] == ["agencydemo"]


def test_a_minted_secret_never_comes_back_in_an_error(app: Subacct) -> None:
    """The host may pass a secret in the wrong place (as the user, as a key id): whatever
    refuses it shows ``sk_<redacted>``, never the secret."""
    from subacct.errors import SECRET_PATTERN, SubacctError

    _, secret = app.policy.create_api_key("agency1", "mailer", [Grant(SEND_MESSAGES)], by="sam")
    assert SECRET_PATTERN.fullmatch(secret)
    for wrong in (
        lambda: app.accounts.get("agency1", by=secret),
        lambda: app.policy.revoke_api_key(secret, by="sam"),
        lambda: app.policy.authenticate_api_key(secret + "x", by=SYSTEM),
    ):
        with pytest.raises(SubacctError) as err:
            wrong()
        shown = f"{err.value} {err.value!r} {err.value.to_dict()}"
        assert secret not in shown
