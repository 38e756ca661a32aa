"""Every public method of every sub-API is marked a command or a query; every command,
run successfully, emits at least one typed event in its own transaction (and a query
emits none). A new public method without a mark, or a command missing from ``CALLS``,
fails here."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from subacct import (
    SYSTEM,
    BillingPeriod,
    Ceiling,
    Commit,
    Distribute,
    Expire,
    FixedClock,
    Grant,
    MemoryStore,
    Money,
    Plan,
    PlanLadder,
    Quota,
    Reclaim,
    Refund,
    Release,
    Reserve,
    ResetPeriod,
    ResourceKind,
    Role,
    SetAllocation,
    ShareMode,
    SharePermission,
    Spend,
    Subacct,
    TopUp,
    UsageRecord,
    Wallet,
)
from subacct.domain.events import EVENT_TYPES
from subacct.policy import SEND_MESSAGES, VIEW_BILLING
from subacct.pricing import AutoTopUp, PaymentTerms
from subacct.pricing.ledger import Allocation, GrantCredit
from subacct.services._kinds import kind_of

from .conftest import event_log, make_app

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JAN = BillingPeriod(2026, 1)
SUB_APIS = ("accounts", "links", "members", "invitations", "policy", "billing", "plans",
            "sharing", "credits", "sending", "thresholds", "reports", "events",
            "audit")  # fmt: skip
LADDER = PlanLadder(
    [Plan("2,500", 2500, Money(15, "USD")), Plan("18,000", 18000, Money(90, "USD"))]
)


def eur(n: int) -> Money:
    return Money(n, "EUR")


def world() -> Subacct:
    """A small world every command can run in: a master and two subs, users, a ladder
    profile, wallets with credit, a template, a pending plan change, a session."""
    app = make_app(MemoryStore(), clock=FixedClock(T0), currency="EUR")
    S = SYSTEM
    app.accounts.create_master("Agency Demo", account_id="m", by=S)
    app.accounts.create_sub("m", "Sub 1", account_id="s1", by=S)
    app.accounts.create_sub("m", "Sub 2", account_id="s2", by=S)
    app.accounts.create_master("Client", account_id="client", by=S)
    for user, account, role in [("owner", "m", "parent_admin"), ("sam", "s1", "sub_admin")]:
        app.members.create_user(f"{user}@x.test", user.title(), user_id=user, by=S)
        app.members.add(user, account, role, by=S)
    app.members.create_user("new@x.test", "New", user_id="new", by=S)
    app.billing.set_profile("m", LADDER, by=S)
    app.billing.set_profile("client", LADDER, by=S)
    app.plans.subscribe("m", "2,500", by=S)
    app.plans.request_change("m", "18,000", by=S, request_id="up")
    app.credits.open_wallet(Wallet("m"), by=S)
    app.credits.open_wallet(Wallet("s1", master_id="m"), by=S)
    app.credits.open_wallet(Wallet("s2", master_id="m"), by=S)
    app.credits.execute(TopUp(account_id="m", amount=eur(100), key="buy", at=T0), by=S)
    app.credits.execute(Distribute(sub_id="s1", amount=eur(20), key="give", at=T0), by=S)
    app.credits.execute(Spend(account_id="s1", amount=eur(2), key="spent", at=T0), by=S)
    hold = Reserve(reservation_id="r1", account_id="s1", amount=eur(3),
                   expires_at=T0 + timedelta(hours=1), key="hold", at=T0)  # fmt: skip
    app.credits.execute(hold, by=S)
    app.sharing.create_resource("m", ResourceKind.TEMPLATE, "Brand", b"<h1/>", by=S,
                                resource_id="tpl")  # fmt: skip
    app.sharing.share("tpl", ShareMode.ALL_SUBS, [], SharePermission.USE, by=S, share_id="sh")
    app.policy.create_api_key("s1", "ci", [Grant(SEND_MESSAGES)], by="sam", key_id="k1")
    app.policy.set_ceiling(Ceiling("s2", "m", [SEND_MESSAGES]), by=S)
    app.billing.set_quota("s1", Quota(1000), by=S)
    app.billing.reserve_send("s1", JAN, 10, key="q1", by=S)
    app.sending.authorize("s1", "sms", 5, key="h1", by="sam")
    app.policy.start_impersonation("s1", reason="support", by="owner", session_id="imp")
    return app


S = SYSTEM
CALLS: dict[str, Callable[[Subacct], object]] = {
    "accounts.create_master": lambda a: a.accounts.create_master("New", by=S),
    "accounts.create_sub": lambda a: a.accounts.create_sub("m", "Sub 3", by="owner"),
    "accounts.rename": lambda a: a.accounts.rename("s1", "Renamed", by="sam"),
    "accounts.move": lambda a: a.accounts.move("s1", "client", by=S),
    "accounts.attach": lambda a: a.accounts.attach("client", "m", by=S),
    "accounts.detach": lambda a: a.accounts.detach("s2", by="owner"),
    "accounts.pause": lambda a: a.accounts.pause("s1", by="owner"),
    "accounts.suspend": lambda a: a.accounts.suspend("s1", by=S),
    "accounts.resume": lambda a: (a.accounts.pause("s2", by=S), a.accounts.resume("s2", by=S)),
    "accounts.close": lambda a: a.accounts.close("s2", by="owner"),
    "links.request": lambda a: a.links.request("m", "Client", client_id="client", by=S),
    "links.accept": lambda a: a.links.accept(
        a.links.request("m", "Client", client_id="client", by=S)[1], by=S
    ),
    "links.decline": lambda a: a.links.decline(
        a.links.request("m", "Client", client_id="client", by=S)[1], by=S
    ),
    "links.unlink": lambda a: (
        a.links.accept(a.links.request("m", "Client", client_id="client", by=S)[1], by=S),
        a.links.unlink("client", by=S),
    ),
    "members.create_user": lambda a: a.members.create_user("z@x.test", "Z", by=S),
    "members.rename_user": lambda a: a.members.rename_user("sam", "Samuel", by="sam"),
    "members.remove_user": lambda a: a.members.remove_user("new", by=S),
    "members.add": lambda a: a.members.add("new", "s1", "basic_user", by="sam"),
    "members.set_seat_limit": lambda a: a.members.set_seat_limit("s1", 5, by="owner"),
    "members.transfer_ownership": lambda a: a.members.transfer_ownership(
        "m", "new", by="owner", then_role="advanced_user"
    ),
    "invitations.invite": lambda a: a.invitations.invite("z@x.test", "s1", "basic_user", by="sam"),
    "invitations.resend": lambda a: a.invitations.resend(
        a.invitations.invite("z@x.test", "s1", "basic_user", by=S).invitation.id, by="sam"
    ),
    "invitations.revoke": lambda a: a.invitations.revoke(
        a.invitations.invite("z@x.test", "s1", "basic_user", by=S).invitation.id, by="sam"
    ),
    "invitations.accept": lambda a: a.invitations.accept(
        a.invitations.invite("z@x.test", "s1", "basic_user", by=S).token, by="new"
    ),
    "members.change_role": lambda a: a.members.change_role(
        "sam", "s1", "advanced_user", by="owner"
    ),
    "members.remove": lambda a: a.members.remove("sam", "s1", by="owner"),
    "policy.define_role": lambda a: a.policy.define_role(
        Role("clerk", "Clerk", [Grant(VIEW_BILLING)]), by=S
    ),
    "policy.set_ceiling": lambda a: a.policy.set_ceiling(
        Ceiling("s1", "m", [SEND_MESSAGES]), by="owner"
    ),
    "policy.remove_ceiling": lambda a: a.policy.remove_ceiling("s2", "m", by="owner"),
    "policy.create_api_key": lambda a: a.policy.create_api_key(
        "s1", "bot", [Grant(SEND_MESSAGES)], by="sam"
    ),
    "policy.revoke_api_key": lambda a: a.policy.revoke_api_key("k1", by="sam"),
    "policy.rotate_api_key": lambda a: a.policy.rotate_api_key("k1", by="sam"),
    "policy.set_impersonation_allowed": lambda a: a.policy.set_impersonation_allowed(
        "s1", False, by="sam"
    ),
    "policy.start_impersonation": lambda a: a.policy.start_impersonation(
        "s1", reason="support", by="owner"
    ),
    "policy.end_impersonation": lambda a: a.policy.end_impersonation("imp", by="owner"),
    "billing.set_profile": lambda a: a.billing.set_profile("s1", LADDER, by=S),
    "billing.remove_profile": lambda a: (
        a.billing.set_profile("s1", LADDER, by=S),
        a.billing.remove_profile("s1", by=S),
    ),
    "billing.record_usage": lambda a: a.billing.record_usage(
        [UsageRecord("s1", JAN, "sms", 5, "u")], by="sam"
    ),
    "billing.set_quota": lambda a: a.billing.set_quota("s2", Quota(500), by="owner"),
    "billing.reserve_send": lambda a: a.billing.reserve_send("s1", JAN, 5, key="q2", by="sam"),
    "billing.release_send": lambda a: a.billing.release_send("s1", JAN, "q1", by="sam"),
    "billing.set_payment_terms": lambda a: a.billing.set_payment_terms("m", PaymentTerms(14), by=S),
    "billing.draft_invoice": lambda a: a.billing.draft_invoice("m", JAN, by=S),
    "billing.finalize_invoice": lambda a: a.billing.finalize_invoice("m", JAN, by=S),
    "billing.close_period": lambda a: a.billing.close_period(JAN, by=S),
    "billing.void_invoice": lambda a: a.billing.void_invoice(
        a.billing.finalize_invoice("m", JAN, by=S).number, reason="billed in error", by=S
    ),
    "billing.issue_credit_note": lambda a: a.billing.issue_credit_note(
        a.billing.finalize_invoice("m", JAN, by=S).number, reason="outage", by=S
    ),
    "billing.record_payment": lambda a: a.billing.record_payment(
        a.billing.finalize_invoice("m", JAN, by=S).number, Money(1, "USD"), reference="p", by=S
    ),
    "plans.subscribe": lambda a: a.plans.subscribe("client", "2,500", by=S),
    "plans.record_prerequisite": lambda a: a.plans.record_prerequisite("m", "spf_verified", by=S),
    "plans.request_change": lambda a: (
        a.plans.request_change("client", "18,000", by=S)
        if a.plans.subscribe("client", "2,500", by=S)
        else None
    ),
    "plans.approve_change": lambda a: a.plans.approve_change("up", by=S),
    "plans.reject_change": lambda a: a.plans.reject_change("up", reason="no", by=S),
    "plans.cancel_change": lambda a: a.plans.cancel_change("up", by="owner"),
    "sharing.create_resource": lambda a: a.sharing.create_resource(
        "s1", ResourceKind.CONTACT_GROUP, "List", b"x", by="sam"
    ),
    "sharing.edit_resource": lambda a: a.sharing.edit_resource("tpl", content=b"<h2/>", by="owner"),
    "sharing.delete_resource": lambda a: a.sharing.delete_resource("tpl", by="owner"),
    "sharing.copy": lambda a: a.sharing.copy("tpl", "s1", by="owner"),
    "sharing.share": lambda a: a.sharing.share(
        "tpl", ShareMode.CHOSEN, ["s2"], SharePermission.EDIT, by="owner"
    ),
    "sharing.revoke": lambda a: a.sharing.revoke("sh", by="owner"),
    "thresholds.set_quota_thresholds": lambda a: a.thresholds.set_quota_thresholds(
        "s1", [80, 100], by="owner"
    ),
    "thresholds.remove_quota_thresholds": lambda a: (
        a.thresholds.set_quota_thresholds("m", [90], by=S),
        a.thresholds.remove_quota_thresholds("m", by="owner"),
    ),
    "thresholds.set_low_credit": lambda a: a.thresholds.set_low_credit("s1", eur(5), by="owner"),
    "thresholds.remove_low_credit": lambda a: (
        a.thresholds.set_low_credit("s1", eur(5), by=S),
        a.thresholds.remove_low_credit("s1", by="owner"),
    ),
    "thresholds.set_auto_top_up": lambda a: a.thresholds.set_auto_top_up(
        "m", AutoTopUp(eur(10), eur(50)), by="owner"
    ),
    "thresholds.remove_auto_top_up": lambda a: (
        a.thresholds.set_auto_top_up("m", AutoTopUp(eur(10), eur(50)), by=S),
        a.thresholds.remove_auto_top_up("m", by="owner", currency="EUR"),
    ),
    "credits.open_wallet": lambda a: a.credits.open_wallet(Wallet("client"), by=S),
    "credits.execute": lambda a: a.credits.execute(
        Reclaim(sub_id="s1", amount=eur(1), key="back", at=T0), by="owner"
    ),
    "credits.expire_grants": lambda a: (
        a.credits.execute(
            GrantCredit(
                account_id="m", amount=eur(5), expires_at=T0 + timedelta(days=1), key="promo", at=T0
            ),
            by=S,
        ),
        a.credits.expire_grants(by=S, at=T0 + timedelta(days=1)),
    ),
    "sending.authorize": lambda a: a.sending.authorize("s1", "email", 3, key="h2", by="sam"),
    "sending.capture": lambda a: a.sending.capture(
        a.sending.hold("s1", "h1", by="sam"), 4, by="sam"
    ),
    "sending.release": lambda a: a.sending.release(a.sending.hold("s1", "h1", by="sam"), by="sam"),
    "sending.expire_holds": lambda a: a.sending.expire_holds(now=T0 + timedelta(hours=1)),
}

LEDGER_REQUESTS: list[Callable[[], object]] = [
    lambda: TopUp(account_id="m", amount=eur(5), key="x1", at=T0),
    lambda: Distribute(sub_id="s2", amount=eur(5), key="x2", at=T0),
    lambda: Reclaim(sub_id="s1", key="x3", at=T0),
    lambda: Spend(account_id="s1", amount=eur(1), key="x4", at=T0),
    lambda: Refund(account_id="s1", amount=eur(1), key="x5", at=T0),
    lambda: Reserve(
        reservation_id="r2",
        account_id="s1",
        amount=eur(1),
        expires_at=T0 + timedelta(hours=1),
        key="x6",
        at=T0,
    ),
    lambda: Commit(reservation_id="r1", amount=eur(1), key="x7", at=T0),
    lambda: Release(reservation_id="r1", key="x8", at=T0),
    lambda: Expire(key="x9", at=T0),  # nothing due: still one event
    lambda: SetAllocation(sub_id="s2", allocation=Allocation.recurring(eur(4)), key="x10", at=T0),
    lambda: ResetPeriod(sub_id="s2", key="x11", at=T0),
    lambda: GrantCredit(account_id="s1", amount=eur(2), priority=1, key="x12", at=T0),
]


def public_methods() -> list[tuple[str, object]]:
    app = world()
    out = []
    for api in SUB_APIS:
        part = getattr(app, api)
        for name, member in inspect.getmembers(type(part), inspect.isfunction):
            if not name.startswith("_"):
                out.append((f"{api}.{name}", member))
    return out


def test_every_public_method_is_marked_and_documented() -> None:
    methods = public_methods()
    assert len(methods) > 80
    unmarked = [name for name, fn in methods if kind_of(fn) is None]
    assert not unmarked, f"mark these @command or @query: {unmarked}"
    undocumented = [name for name, fn in methods if not (inspect.getdoc(fn) or "").strip()]
    assert not undocumented


def test_the_table_names_every_command() -> None:
    commands = {name for name, fn in public_methods() if kind_of(fn) == "command"}
    assert commands == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_successful_command_emits_a_typed_event(name: str) -> None:
    app = world()
    before = len(event_log(app.store))
    CALLS[name](app)
    new = event_log(app.store)[before:]
    assert new, f"{name} emitted no event"
    for event in new:
        assert EVENT_TYPES[event.event_type] is type(event)  # type: ignore[attr-defined]


@pytest.mark.parametrize("index", range(len(LEDGER_REQUESTS)))
def test_every_ledger_operation_emits_an_event_and_a_replay_none(index: int) -> None:
    app = world()
    if index == 10:  # a reset needs a recurring allocation first
        app.credits.execute(LEDGER_REQUESTS[9](), by=S)  # type: ignore[arg-type]
    request = LEDGER_REQUESTS[index]()
    before = len(event_log(app.store))
    app.credits.execute(request, by=S)  # type: ignore[arg-type]
    after = len(event_log(app.store))
    assert after > before
    app.credits.execute(request, by=S)  # type: ignore[arg-type]
    assert len(event_log(app.store)) == after


def test_queries_emit_nothing() -> None:
    app = world()
    before = event_log(app.store)
    app.accounts.tree(by=S)
    app.billing.preview_invoices("m", JAN, by="owner")
    app.credits.balance("wallet:s1", by="owner")
    app.policy.require(SEND_MESSAGES, "s1", by="sam")
    app.audit.records("s1", by="sam")
    assert event_log(app.store) == before
