"""``app.policy.who_can`` (issue 16, item 5) through ``subacct.Subacct`` on MemoryStore and
SqliteStore: every user, API key and impersonation session holding an action in an
account, with the engine's reasons; who may ask; changes count at once; and a state
machine holding it to ``app.policy.check`` for every principal after every change."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from subacct import SYSTEM, Ceiling, FixedClock, Grant, MemoryStore, Store, Subacct
from subacct.domain import HierarchyRules
from subacct.errors import AccountNotFound, ActionDenied, InvalidInput, SubacctError
from subacct.policy import (
    EXPORT_REPORTS,
    MANAGE_TEMPLATES,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_REPORTS,
    ApiKey,
    ApiKeyKind,
    Holder,
    ImpersonationSession,
    PrincipalKind,
    Scope,
)
from subacct.principals import Actor

from .conftest import T0, make_app, refused, seed_agency_with_roles


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def app(store: Store, clock: FixedClock) -> Subacct:
    """``seed_agency_with_roles``: agencydemo (owner: parent admin, vic: advanced) with
    agency1 (sam, ada, bob, dee the designer) and agency2 (yara); othermaster (otto); the
    linked client (cleo)."""
    return seed_agency_with_roles(make_app(store, clock=clock))


def _rows(holders: list[Holder]) -> list[tuple[str, str, str, str | None, str | None]]:
    return [(h.kind.value, h.id, h.code, h.role_id, h.granted_in) for h in holders]


def test_seed004_who_may_send_in_a_sub(app: Subacct) -> None:
    assert _rows(app.policy.who_can(SEND_MESSAGES, "agency1", by="owner")) == [
        ("user", "ada", "allowed_by_role", "advanced_user", "agency1"),
        ("user", "bob", "allowed_by_role", "basic_user", "agency1"),
        ("user", "dee", "allowed_by_role", "designer", "agency1"),
        ("user", "owner", "allowed_by_inherited_role", "parent_admin", "agencydemo"),
        ("user", "sam", "allowed_by_role", "sub_admin", "agency1"),
    ]  # not vic (the master's advanced user), yara (a sibling), otto, cleo (the client)
    billing = app.policy.who_can(VIEW_BILLING, "agency1", by="sam")
    assert [h.id for h in billing] == ["owner"]  # seed 000: subs never see billing
    templates = app.policy.who_can(MANAGE_TEMPLATES, "agency1", by=SYSTEM)
    assert [h.id for h in templates] == ["dee", "owner"]  # a custom role counts
    reports = app.policy.who_can(VIEW_REPORTS, "agency1", by="ada")
    assert {h.id: h.scope for h in reports}["bob"] is Scope.OWN
    linked = app.policy.who_can(SEND_MESSAGES, "client", by=SYSTEM)
    assert [h.id for h in linked] == ["cleo"]  # the agency has no access to a linked client


def test_keys_and_sessions_hold_rights_and_stop_at_once(app: Subacct, clock: FixedClock) -> None:
    key, _ = app.policy.create_api_key(
        "agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam", key_id="crm"
    )
    app.policy.create_api_key(
        "agency1", "CI", [Grant(SEND_MESSAGES)], by="sam", key_id="ci",
        kind=ApiKeyKind.ACCOUNT, expires_at=T0 + timedelta(days=1),
    )  # fmt: skip
    app.policy.create_api_key("agency2", "Y", [Grant(SEND_MESSAGES)], by="yara", key_id="y")
    session = app.policy.start_impersonation(
        "agency1", reason="support", by="owner", session_id="imp1"
    )
    others = [
        (h.kind.value, h.id, h.code, h.role_id, h.granted_in)
        for h in app.policy.who_can(SEND_MESSAGES, "agency1", by="sam")
        if h.kind is not PrincipalKind.USER
    ]
    assert others == [
        ("api_key", "ci", "allowed_by_api_key", None, None),
        ("api_key", "crm", "allowed_by_api_key", None, None),
        ("impersonation", "imp1", "allowed_by_impersonation", "sub_admin", "agencydemo"),
    ]
    # ada holds users.view but may not list the account's keys: she sees no keys
    kinds = {h.kind for h in app.policy.who_can(SEND_MESSAGES, "agency1", by="ada")}
    assert kinds == {PrincipalKind.USER, PrincipalKind.IMPERSONATION}
    app.policy.revoke_api_key("crm", by="sam")
    app.policy.end_impersonation(session.id, by="owner")
    clock.advance(timedelta(days=1))  # ci expires
    left = app.policy.who_can(SEND_MESSAGES, "agency1", by="sam")
    assert {h.kind for h in left} == {PrincipalKind.USER}
    assert key.id not in {h.id for h in left}
    app.policy.start_impersonation("agency1", reason="again", by="owner", session_id="imp2")
    assert "imp2" in {h.id for h in app.policy.who_can(SEND_MESSAGES, "agency1", by="sam")}
    clock.advance(timedelta(hours=1))  # Settings.impersonation_ttl: its time is up
    assert "imp2" not in {h.id for h in app.policy.who_can(SEND_MESSAGES, "agency1", by="sam")}


def test_changes_count_at_once(app: Subacct) -> None:
    assert "bob" not in [h.id for h in app.policy.who_can(EXPORT_REPORTS, "agency1", by="sam")]
    app.members.change_role("bob", "agency1", "advanced_user", by="sam")
    assert "bob" in [h.id for h in app.policy.who_can(EXPORT_REPORTS, "agency1", by="sam")]
    app.members.remove("bob", "agency1", by="sam")
    assert "bob" not in [h.id for h in app.policy.who_can(SEND_MESSAGES, "agency1", by="sam")]
    app.policy.set_ceiling(Ceiling("agency1", "agencydemo", [SEND_MESSAGES]), by="owner")
    assert app.policy.who_can(EXPORT_REPORTS, "agency1", by=SYSTEM) == []
    assert len(app.policy.who_can(SEND_MESSAGES, "agency1", by=SYSTEM)) == 4


def test_asking_needs_users_view(app: Subacct, store: Store) -> None:
    err = refused(
        store, ActionDenied, lambda: app.policy.who_can(SEND_MESSAGES, "agency1", by="bob")
    )
    assert (err.details["action"], err.details["reason"]) == ("users.view", "role_lacks_action")
    err = refused(
        store, ActionDenied, lambda: app.policy.who_can(SEND_MESSAGES, "agency1", by="yara")
    )
    assert err.details["reason"] == "no_membership"  # a sibling's administrator
    refused(store, AccountNotFound, lambda: app.policy.who_can(SEND_MESSAGES, "nowhere", by="sam"))
    err = refused(store, InvalidInput, lambda: app.policy.who_can("no.such", "agency1", by="sam"))
    assert err.details["field"] == "action"


# -- state machine: who_can against check for every principal ------------------------------

_ACCOUNTS = ("m", "a", "b", "c")  # m > a > b, m > c
_USERS = ("u0", "u1", "u2", "u3")
_ROLES = ("parent_admin", "sub_admin", "advanced_user", "basic_user")
_ACTIONS = (SEND_MESSAGES, VIEW_REPORTS, VIEW_BILLING)


class WhoCanAgreesWithCheck(RuleBasedStateMachine):
    """Random memberships, keys, sessions and ceilings on a MemoryStore (starting from one
    member per account, the master's a parent administrator); after every step
    ``who_can`` (by the system) lists exactly the principals ``check`` allows."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(T0)
        app = make_app(MemoryStore(), clock=self.clock, hierarchy=HierarchyRules(3))
        app.accounts.create_master("M", account_id="m", by=SYSTEM)
        for sub, parent in (("a", "m"), ("b", "a"), ("c", "m")):
            app.accounts.create_sub(parent, sub.upper(), account_id=sub, by=SYSTEM)
        for user in _USERS:
            app.members.create_user(f"{user}@x.test", user, user_id=user, by=SYSTEM)
        for user, account, role in zip(_USERS, _ACCOUNTS, _ROLES, strict=True):
            app.members.add(user, account, role, by=SYSTEM)  # u0 administers m, ...
        self.app = app
        self.keys: list[ApiKey] = []
        self.sessions: list[ImpersonationSession] = []

    @rule(user=st.sampled_from(_USERS), account=st.sampled_from(_ACCOUNTS),
          role=st.sampled_from(_ROLES))  # fmt: skip
    def join(self, user: str, account: str, role: str) -> None:
        with contextlib.suppress(SubacctError):  # already a member
            self.app.members.add(user, account, role, by=SYSTEM)

    @rule(user=st.sampled_from(_USERS), account=st.sampled_from(_ACCOUNTS))
    def leave(self, user: str, account: str) -> None:
        with contextlib.suppress(SubacctError):  # not a member
            self.app.members.remove(user, account, by=SYSTEM)

    @rule(user=st.sampled_from(_USERS[:2]), account=st.sampled_from(_ACCOUNTS),
          actions=st.sets(st.sampled_from(_ACTIONS[:2]), min_size=1),
          kind=st.sampled_from(ApiKeyKind), days=st.none() | st.integers(1, 3))  # fmt: skip
    def make_key(
        self, user: str, account: str, actions: set[str], kind: ApiKeyKind, days: int | None
    ) -> None:
        until = None if days is None else self.clock.now() + timedelta(days=days)
        grants = [Grant(a) for a in sorted(actions)]
        with contextlib.suppress(SubacctError):  # not allowed to, or beyond their rights
            key, _ = self.app.policy.create_api_key(
                account, "k", grants, by=user, kind=kind, expires_at=until
            )
            self.keys.append(key)

    @rule(data=st.data())
    def revoke_key(self, data: st.DataObject) -> None:
        if self.keys:
            key = data.draw(st.sampled_from(self.keys))
            with contextlib.suppress(SubacctError):  # revoked already
                self.app.policy.revoke_api_key(key.id, by=SYSTEM)

    @rule(user=st.sampled_from(("u0", *_USERS)), account=st.sampled_from(_ACCOUNTS[1:]),
          role=st.sampled_from(_ROLES[1:]))  # fmt: skip
    def impersonate(self, user: str, account: str, role: str) -> None:
        with contextlib.suppress(SubacctError):  # not an administrator above, or escalation
            self.sessions.append(
                self.app.policy.start_impersonation(
                    account, reason="support", by=user, as_role=role
                )
            )

    @rule(data=st.data())
    def end_session(self, data: st.DataObject) -> None:
        if self.sessions:
            session = data.draw(st.sampled_from(self.sessions))
            with contextlib.suppress(SubacctError):  # ended already
                self.app.policy.end_impersonation(session.id, by=SYSTEM)

    @rule(account=st.sampled_from(_ACCOUNTS[1:]), actions=st.sets(st.sampled_from(_ACTIONS)))
    def ceiling(self, account: str, actions: set[str]) -> None:
        self.app.policy.set_ceiling(Ceiling(account, "m", sorted(actions)), by=SYSTEM)

    @rule()
    def a_day_passes(self) -> None:
        self.clock.advance(timedelta(days=1))

    @invariant()
    def who_can_is_check_for_everyone(self) -> None:
        app = self.app
        principals: list[tuple[str, Actor]] = [("user", u) for u in _USERS]
        principals += [("api_key", k) for k in self.keys]
        principals += [("impersonation", s) for s in self.sessions]
        for account in _ACCOUNTS:
            for action in _ACTIONS:
                listed = {
                    (h.kind.value, h.id): h.decision
                    for h in app.policy.who_can(action, account, by=SYSTEM)
                }
                allowed = {}
                for kind, p in principals:
                    try:
                        decision = app.policy.check(action, account, by=p)
                    except ActionDenied:  # an expired key is refused outright
                        continue
                    if decision.allowed:
                        allowed[(kind, p if isinstance(p, str) else p.id)] = decision  # type: ignore[union-attr]
                assert listed == allowed, (account, action)
                for kind in {k for k, _ in listed}:
                    event(f"a {kind} holds an action")


WhoCanAgreesWithCheck.TestCase.settings = settings(max_examples=25, stateful_step_count=12)
test_who_can_agrees_with_check = WhoCanAgreesWithCheck.TestCase
