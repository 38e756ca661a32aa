"""The policy engine over storage: checked operations, escalation refused with nothing
written, immediate revocation, impersonation with its audit trail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from subacct import (
    ActionDenied,
    EscalationRefused,
    FixedClock,
    Grant,
    ImpersonationRefused,
    MemoryStore,
    PermissionDenied,
    PolicyService,
    Role,
    RoleNotFound,
    SelfRoleChangeRefused,
    SequentialIds,
    SqliteStore,
    Store,
)
from subacct.policy import (
    CREATE_SUB_ACCOUNTS,
    EXPORT_REPORTS,
    MANAGE_API_KEYS,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_REPORTS,
    Ceiling,
    Scope,
)
from subacct.testing.conformance import store_state


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        s = SqliteStore(tmp_path / "p.db")
        yield s
        s.close()


@pytest.fixture
def svc(store: Store) -> PolicyService:
    """Seed 000/004: owner (parent admin) of agencydemo; sam (sub admin) and bob (basic)
    in agency1; yara (advanced) in agency2."""
    s = PolicyService(
        store, clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), ids=SequentialIds()
    )
    s.create_master("Agency Demo", account_id="agencydemo")
    s.create_sub("agencydemo", "Company X", account_id="agency1")
    s.create_sub("agencydemo", "Company Y", account_id="agency2")
    for user, account, role in [
        ("owner", "agencydemo", "parent_admin"),
        ("sam", "agency1", "sub_admin"),
        ("bob", "agency1", "basic_user"),
        ("yara", "agency2", "advanced_user"),
    ]:
        s.create_user(f"{user}@example.test", user.title(), user_id=user)
        s.add_membership(user, account, role)
    s.create_user("new@example.test", "Newcomer", user_id="new")
    return s


def test_inherited_and_sibling_decisions(svc: PolicyService) -> None:
    assert svc.check("owner", VIEW_BILLING, "agency2").code == "allowed_by_inherited_role"
    assert not svc.check("sam", SEND_MESSAGES, "agency2").allowed  # sibling
    assert not svc.check("sam", VIEW_BILLING, "agencydemo").allowed  # master's billing
    assert svc.check("bob", VIEW_REPORTS, "agency1").scope is Scope.OWN
    assert svc.actions_in("bob", "agency1")[SEND_MESSAGES] is Scope.ALL
    assert svc.policy_index().accounts_with("sam", SEND_MESSAGES) == ["agency1"]
    with pytest.raises(ActionDenied) as err:
        svc.require("bob", EXPORT_REPORTS, "agency1")
    assert err.value.reason == "role_lacks_action"


ESCALATIONS: list[tuple[str, Callable[[PolicyService], object], type[Exception]]] = [
    (
        "grant-above-own",
        lambda s: s.invite("sam", "new", "agency1", "parent_admin"),
        EscalationRefused,
    ),
    (
        "invite-into-sibling",
        lambda s: s.invite("sam", "new", "agency2", "basic_user"),
        ActionDenied,
    ),
    (
        "invite-into-master",
        lambda s: s.invite("sam", "new", "agencydemo", "basic_user"),
        ActionDenied,
    ),
    (
        "own-role",
        lambda s: s.change_member_role("sam", "sam", "agency1", "parent_admin"),
        SelfRoleChangeRefused,
    ),
    ("basic-invites", lambda s: s.invite("bob", "new", "agency1", "basic_user"), ActionDenied),
    (
        "key-wider-than-creator",
        lambda s: s.create_api_key("sam", "agency1", "ci", [Grant(VIEW_BILLING)]),
        EscalationRefused,
    ),
    (
        "impersonate-upward",
        lambda s: s.start_impersonation("sam", "agencydemo"),
        ImpersonationRefused,
    ),
    (
        "impersonate-sideways",
        lambda s: s.start_impersonation("sam", "agency2"),
        ImpersonationRefused,
    ),
    ("sub-admin-creates-sub", lambda s: s.create_sub_account("sam", "agency1", "X"), ActionDenied),
    ("unknown-role", lambda s: s.invite("owner", "new", "agency1", "wizard"), RoleNotFound),
]


@pytest.mark.parametrize(("name", "call", "error"), ESCALATIONS, ids=[e[0] for e in ESCALATIONS])
def test_escalations_are_refused_and_write_nothing(
    svc: PolicyService, name: str, call: Callable[[PolicyService], object], error: type[Exception]
) -> None:
    before = store_state(svc.store)
    with svc.store.unit_of_work() as uow:
        log_before = uow.events.since(0, limit=10_000)
    with pytest.raises(error):
        call(svc)
    assert store_state(svc.store) == before
    with svc.store.unit_of_work() as uow:
        assert uow.events.since(0, limit=10_000) == log_before


def test_allowed_grants_write_the_change_an_event_and_an_audit_record(svc: PolicyService) -> None:
    membership = svc.invite("sam", "new", "agency1", "basic_user")
    assert membership.role == "basic_user"
    changed = svc.change_member_role("owner", "new", "agency1", "advanced_user")
    assert changed.version == 2
    svc.remove_member("sam", "new", "agency1")
    kinds = [r.action for r in svc.audit_records("agency1")]
    assert kinds == ["users.invite", "users.invite", "users.remove"]
    with svc.store.unit_of_work() as uow:
        tail = [x.event.event_type for x in uow.events.since(0, limit=10_000)][-3:]
    assert tail == ["user_invited", "role_changed", "user_removed"]


def test_api_key_acts_within_its_grants_and_revocation_is_immediate(svc: PolicyService) -> None:
    key, secret = svc.create_api_key("sam", "agency1", "ci", [Grant(SEND_MESSAGES)])
    assert svc.authenticate_api_key(secret) == key
    assert svc.check(key, SEND_MESSAGES, "agency1").allowed
    assert not svc.check(key, MANAGE_API_KEYS, "agency1").allowed  # only what it carries
    assert not svc.check(key, SEND_MESSAGES, "agency2").allowed  # one account only
    svc.revoke_api_key("sam", key.id)
    assert svc.check(key, SEND_MESSAGES, "agency1").code == "api_key_revoked"  # stale object
    with pytest.raises(PermissionDenied):
        svc.authenticate_api_key(secret)
    with pytest.raises(PermissionDenied):
        svc.authenticate_api_key("sk_wrong")


def test_impersonation_runs_as_sub_admin_and_audits_both_identities(svc: PolicyService) -> None:
    session = svc.start_impersonation("owner", "agency1")
    decision = svc.require(session, SEND_MESSAGES, "agency1")
    assert decision.allowed
    assert not svc.check(session, SEND_MESSAGES, "agency2").allowed  # this account only
    last = svc.audit_records("agency1")[-1]
    assert (last.acting_user_id, last.impersonated_account_id, last.impersonation_id) == (
        "owner",
        "agency1",
        session.id,
    )
    svc.end_impersonation(session.id)
    assert not svc.check(session, SEND_MESSAGES, "agency1").allowed
    with svc.store.unit_of_work() as uow:
        types = [x.event.event_type for x in uow.events.for_account("agency1")]  # type: ignore[arg-type]
    assert types[-2:] == ["impersonation_started", "impersonation_ended"]


def test_an_account_can_forbid_impersonation(svc: PolicyService) -> None:
    svc.set_impersonation_allowed("sam", "agency1", False)
    with pytest.raises(ImpersonationRefused):
        svc.start_impersonation("owner", "agency1")
    with pytest.raises(ActionDenied):
        svc.set_impersonation_allowed("owner", "agency1", True)  # not a direct member


def test_ceiling_narrows_every_role_below_it(svc: PolicyService) -> None:
    svc.set_ceiling("owner", Ceiling("agency1", "agencydemo", [VIEW_REPORTS, SEND_MESSAGES]))
    assert svc.check("sam", SEND_MESSAGES, "agency1").allowed
    assert svc.check("sam", MANAGE_API_KEYS, "agency1").code == "ceiling_excludes_action"
    assert svc.check("owner", VIEW_BILLING, "agency1").code == "ceiling_excludes_action"
    with pytest.raises(ActionDenied):
        svc.set_ceiling("sam", Ceiling("agency1", "agencydemo", [SEND_MESSAGES]))
    svc.remove_ceiling("owner", "agency1", "agencydemo")
    assert svc.check("sam", MANAGE_API_KEYS, "agency1").allowed


def test_custom_roles_are_data(svc: PolicyService) -> None:
    svc.define_role(Role("billing_clerk", "Billing clerk", (Grant(VIEW_BILLING),)))
    svc.add_membership("new", "agency2", "billing_clerk")
    assert svc.check("new", VIEW_BILLING, "agency2").allowed
    assert not svc.check("new", SEND_MESSAGES, "agency2").allowed
    assert "billing_clerk" in [r.id for r in svc.roles()]


def test_checked_sub_account_creation(svc: PolicyService) -> None:
    sub = svc.create_sub_account("owner", "agencydemo", "Company Z", account_id="agency3")
    assert sub.parent_id == "agencydemo"
    assert svc.audit_records("agencydemo")[-1].action == CREATE_SUB_ACCOUNTS
