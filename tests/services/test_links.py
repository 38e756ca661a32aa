"""Agency links by consent (seed 002, issue 16 items 1, 2 and 6): request by the client's
login, accept or decline with the token, the agency's administrators acting in the client
as themselves, unlink revoking that access at once, commissions at 25%, and impersonation
sessions that expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from subacct import SYSTEM, FixedClock, MemoryStore, Money, Plan, PlanLadder, Subacct
from subacct.domain import LinkRequestStatus
from subacct.domain.resources import ResourceKind, ShareMode, SharePermission
from subacct.errors import (
    ActionDenied,
    ImpersonationExpired,
    InvalidBillingStructure,
    InvalidInput,
    LinkClientAmbiguous,
    LinkClientNotFound,
    LinkedAccountsCannotShare,
    LinkRequestDeclined,
    LinkTokenExpired,
    LinkTokenInvalid,
    LinkTokenUsed,
    SubacctError,
)
from subacct.policy import ImpersonationStatus
from subacct.pricing import BillingPeriod
from subacct.storage.ports import Store

from .conftest import event_log, make_app, store_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JAN = BillingPeriod(2026, 1)
PRO = PlanLadder([Plan("Starter", 2500, Money(20, "USD")), Plan("Pro", 10000, Money(80, "USD"))])
S = SYSTEM


def world(store: Store, clock: FixedClock | None = None) -> Subacct:
    """Agency ``agency`` (Ann, parent admin; Bob, basic user) and client ``client``
    (Cleo, its administrator)."""
    app = make_app(store, clock=clock or FixedClock(T0))
    app.accounts.create_master("Agency", account_id="agency", by=S)
    app.accounts.create_master("Client Co", account_id="client", by=S)
    for user, account, role in [
        ("ann", "agency", "parent_admin"),
        ("bob", "agency", "basic_user"),
        ("cleo", "client", "parent_admin"),
    ]:
        app.members.create_user(f"{user}@{account}.test", user.title(), user_id=user, by=S)
        app.members.add(user, account, role, by=S)
    return app


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def app(store: Store, clock: FixedClock) -> Subacct:
    return world(store, clock)


def test_seed002_agency_works_in_the_client_as_itself_until_unlinked(app: Subacct) -> None:
    before = app.policy.check("messages.send", "client", by="ann")
    assert before.code == "no_membership"
    request, token = app.links.request("agency", "Client Co", login="cleo@client.test", by="ann")
    assert token.startswith("lt_")
    assert token not in repr(request)
    assert request.status is LinkRequestStatus.PENDING
    assert request.expires_at == T0 + timedelta(days=7)
    assert app.policy.check("messages.send", "client", by="ann").code == "no_membership"

    link = app.links.accept(token, by="cleo")
    assert (link.agency_id, link.client_id, link.alias) == ("agency", "client", "Client Co")
    assert link.access_role == "agency_manager"
    allowed = app.policy.check("messages.send", "client", by="ann")
    assert (allowed.code, allowed.role_id, allowed.inherited_from) == (
        "allowed_by_agency_link",
        "agency_manager",
        "agency",
    )
    assert not app.policy.check("billing.manage", "client", by="ann").allowed
    assert not app.policy.check("messages.send", "client", by="bob").allowed  # not an admin

    app.accounts.rename("client", "Client Co (EU)", by="ann")
    record = app.audit.records("client", by=S)[-1]
    assert (record.action, record.acting_user_id, record.principal_kind.value) == (
        "settings.manage",
        "ann",
        "user",
    )
    assert (record.reason.value, record.inherited_from) == ("allowed_by_agency_link", "agency")

    app.links.unlink("client", by="cleo")
    assert app.policy.check("messages.send", "client", by="ann").code == "no_membership"
    with pytest.raises(ActionDenied):
        app.accounts.rename("client", "Again", by="ann")


def test_the_access_role_is_a_setting_or_a_request_parameter(store: Store) -> None:
    app = make_app(store, agency_access_role="advanced_user")
    for account in ("agency", "client"):
        app.accounts.create_master(account.title(), account_id=account, by=S)
    _, token = app.links.request("agency", "C", client_id="client", by=S)
    assert app.links.accept(token, by=S).access_role == "advanced_user"
    app.links.unlink("client", by=S)
    _, token = app.links.request("agency", "C", client_id="client", by=S, access_role="sub_admin")
    assert app.links.accept(token, by=S).access_role == "sub_admin"


def test_refused_tokens_change_nothing(app: Subacct, clock: FixedClock) -> None:
    _, token = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    before = store_state(app.store)
    for wrong in ("lt_" + "x" * 43, token + "x"):
        with pytest.raises(LinkTokenInvalid):
            app.links.accept(wrong, by="cleo")
    with pytest.raises(InvalidInput):
        app.links.accept("", by="cleo")
    with pytest.raises(ActionDenied):  # the agency cannot consent for the client
        app.links.accept(token, by="ann")
    clock.advance(timedelta(days=7))
    with pytest.raises(LinkTokenExpired):
        app.links.accept(token, by="cleo")
    assert app.links.requests("client", by="cleo")[0].status is LinkRequestStatus.EXPIRED
    after = store_state(app.store)
    assert {k: v for k, v in after.items() if "audit" not in k} == {
        k: v for k, v in before.items() if "audit" not in k
    }
    _, token = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    app.links.decline(token, by="cleo")
    with pytest.raises(LinkRequestDeclined):
        app.links.accept(token, by="cleo")
    _, token = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    app.links.accept(token, by="cleo")
    with pytest.raises(LinkTokenUsed):
        app.links.accept(token, by="cleo")


def test_asking_again_replaces_a_pending_request(app: Subacct) -> None:
    _, first = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    _, second = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    with pytest.raises(LinkTokenInvalid):
        app.links.accept(first, by="cleo")
    statuses = [r.status for r in app.links.requests("agency", by="ann")]
    assert statuses == [LinkRequestStatus.SUPERSEDED, LinkRequestStatus.PENDING]
    assert app.links.accept(second, by="cleo").client_id == "client"


def test_the_login_must_name_one_standalone_account_it_administers(app: Subacct) -> None:
    with pytest.raises(LinkClientNotFound):
        app.links.request("agency", "C", login="nobody@x.test", by="ann")
    with pytest.raises(LinkClientNotFound):  # Bob administers nothing
        app.links.request("agency", "C", login="bob@agency.test", by="ann")
    app.accounts.create_master("Client 2", account_id="client2", by=S)
    app.members.add("cleo", "client2", "parent_admin", by=S)
    with pytest.raises(LinkClientAmbiguous):
        app.links.request("agency", "C", login="cleo@client.test", by="ann")
    request, _ = app.links.request(
        "agency", "C", login="cleo@client.test", client_id="client2", by="ann"
    )
    assert request.client_id == "client2"
    with pytest.raises(InvalidInput):  # only the system names the client by id alone
        app.links.request("agency", "C", client_id="client", by="ann")
    with pytest.raises(ActionDenied):  # a basic user does not link
        app.links.request("agency", "C", login="cleo@client.test", by="bob")


def test_a_linked_client_never_receives_shared_resources(app: Subacct) -> None:
    _, token = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    app.links.accept(token, by="cleo")
    app.sharing.create_resource(
        "agency", ResourceKind.TEMPLATE, "Brand", b"<h1/>", by=S, resource_id="tpl"
    )
    with pytest.raises((LinkedAccountsCannotShare, SubacctError)):
        app.sharing.share("tpl", ShareMode.CHOSEN, ["client"], SharePermission.USE, by="ann")


def test_events_of_the_link_lifecycle(app: Subacct) -> None:
    before = len(event_log(app.store))
    _, token = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    app.links.decline(token, by="cleo")
    _, token = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    app.links.accept(token, by="cleo")
    app.links.unlink("client", by="ann")
    kinds = [type(e).__name__ for e in event_log(app.store)[before:]]
    assert kinds == [
        "ClientLinkRequested",
        "ClientLinkDeclined",
        "ClientLinkRequested",
        "ClientLinked",
        "ClientUnlinked",
    ]


def test_seed002_agency_earns_25_percent_of_the_client_subscription(app: Subacct) -> None:
    with pytest.raises(InvalidBillingStructure) as missing:
        app.billing.commission_statement("agency", JAN, by="ann")
    assert missing.value.details["field"] == "commission_rate"
    app.billing.set_profile("agency", PRO, commission_rate="0.25", by=S)
    _, token = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    app.links.accept(token, by="cleo")
    app.billing.set_profile("client", PRO, by=S)
    app.plans.subscribe("client", "Pro", by=S)
    statement = app.billing.commission_statement("agency", JAN, by="ann")
    assert [(ln.client_id, ln.subscription, ln.commission) for ln in statement.lines] == [
        ("client", Money("80.00", "USD"), Money("20.00", "USD"))
    ]
    assert statement.total == Money("20.00", "USD")


def test_commissions_count_finalized_invoices_not_drafts_nor_void_ones(app: Subacct) -> None:
    """A draft does not replace the subscription amount; a finalized invoice does; a
    void invoice earns nothing."""
    app.billing.set_profile("agency", PRO, commission_rate="0.25", by=S)
    _, token = app.links.request("agency", "C", login="cleo@client.test", by="ann")
    app.links.accept(token, by="cleo")
    app.billing.set_profile("client", PRO, by=S)
    app.plans.subscribe("client", "Pro", by=S)

    def earned() -> list[tuple[str, Money]]:
        statement = app.billing.commission_statement("agency", JAN, by="ann")
        return [(ln.client_id, ln.subscription) for ln in statement.lines]

    app.billing.draft_invoice("client", JAN, by=S)
    assert earned() == [("client", Money("80.00", "USD"))]  # the subscription amount
    invoice = app.billing.finalize_invoice("client", JAN, by=S)
    assert earned() == [("client", invoice.total)]
    app.billing.void_invoice(str(invoice.number), reason="billed in error", by=S)
    assert earned() == []


def test_impersonation_sessions_expire_and_record_a_reason(store: Store) -> None:
    clock = FixedClock(T0)
    app = make_app(store, clock=clock, impersonation_ttl=timedelta(minutes=30))
    app.accounts.create_master("M", account_id="m", by=S)
    app.accounts.create_sub("m", "S1", account_id="s1", by=S)
    app.members.create_user("o@m.test", "O", user_id="owner", by=S)
    app.members.add("owner", "m", "parent_admin", by=S)
    with pytest.raises(InvalidInput):
        app.policy.start_impersonation("s1", by="owner", reason="  ")
    session = app.policy.start_impersonation("s1", by="owner", reason="ticket 42")
    assert (session.reason, session.expires_at) == ("ticket 42", T0 + timedelta(minutes=30))
    assert app.policy.check("messages.send", "s1", by=session).allowed
    clock.advance(timedelta(minutes=30))
    with pytest.raises(ImpersonationExpired):
        app.accounts.rename("s1", "X", by=session)
    assert app.policy.check("messages.send", "s1", by=session).code == "impersonation_expired"
    status = app.policy.impersonation_status(session.id, by="owner")
    assert status is ImpersonationStatus.EXPIRED


class LinkMachine(RuleBasedStateMachine):
    """Request, accept, decline, expire (the clock), unlink and re-request, against a
    model: the agency's administrator acts in the client exactly while linked."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(T0)
        self.app = world(MemoryStore(), self.clock)
        self.token: str | None = None
        self.open_until: datetime | None = None
        self.linked = False

    @rule()
    def request(self) -> None:
        if self.linked:
            return
        request, self.token = self.app.links.request(
            "agency", "C", login="cleo@client.test", by="ann"
        )
        self.open_until = request.expires_at

    def _open(self) -> bool:
        return self.open_until is not None and self.clock.now() < self.open_until

    @precondition(lambda self: self.token is not None)
    @rule(accept=st.booleans())
    def answer(self, accept: bool) -> None:
        assert self.token is not None
        call = self.app.links.accept if accept else self.app.links.decline
        if self._open() and not self.linked:
            call(self.token, by="cleo")
            self.linked = accept
            self.open_until = None
        else:
            with pytest.raises(SubacctError):
                call(self.token, by="cleo")

    @rule(hours=st.integers(1, 24 * 8))
    def wait(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    @precondition(lambda self: self.linked)
    @rule(side=st.sampled_from(["ann", "cleo"]))
    def unlink(self, side: str) -> None:
        self.app.links.unlink("client", by=side)
        self.linked = False

    @invariant()
    def access_follows_the_link(self) -> None:
        allowed = self.app.policy.check("messages.send", "client", by="ann").allowed
        assert allowed is self.linked
        assert (self.app.links.agency_of("client", by=S) is not None) is self.linked


TestLinkMachine = LinkMachine.TestCase
TestLinkMachine.settings = settings(
    max_examples=25, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck)
)
