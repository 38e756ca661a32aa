"""``app.credits``: the credit ledger over storage: permissions, events, wallets,
currencies, statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subacct import (
    SYSTEM,
    AccountNotActive,
    ActionDenied,
    Allocation,
    Commit,
    Distribute,
    Expire,
    FixedClock,
    IdempotencyConflict,
    InvalidInput,
    MemoryStore,
    Money,
    PermissionDenied,
    Release,
    Reserve,
    SequentialIds,
    SetAllocation,
    Settings,
    Spend,
    Store,
    Subacct,
    TopUp,
    Wallet,
)
from subacct.domain.events import (
    CreditAllocationSet,
    CreditReservationEnded,
    CreditsMoved,
    CreditsReserved,
    DomainEvent,
)
from subacct.errors import (
    AccountClosed,
    AccountNotFound,
    AllocationError,
    CreditReservationClosed,
    CreditReservationNotFound,
)
from subacct.policy import AuditRecord, Grant
from subacct.testing.conformance import store_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def eur(amount: str | int) -> Money:
    return Money(amount, "EUR")


@pytest.fixture
def app(store: Store) -> Subacct:
    """Seed 003/004: master ``agencydemo`` (owner ``alice``, a parent administrator) with
    subs ``agency1`` (``sam`` is its sub administrator) and ``agency2``; 100 EUR bought."""
    app = Subacct(store, Settings(clock=FixedClock(T0), ids=SequentialIds(), currency="EUR"))
    app.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Agency 1", account_id="agency1", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Agency 2", account_id="agency2", by=SYSTEM)
    app.members.create_user("alice@agency.test", "Alice", user_id="alice", by=SYSTEM)
    app.members.create_user("sam@agency1.test", "Sam", user_id="sam", by=SYSTEM)
    app.members.add("alice", "agencydemo", "parent_admin", by=SYSTEM)
    app.members.add("sam", "agency1", "sub_admin", by=SYSTEM)
    app.credits.open_wallet(Wallet("agencydemo"), by="alice")
    app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by="alice")
    app.credits.open_wallet(Wallet("agency2", master_id="agencydemo"), by="alice")
    app.credits.execute(
        TopUp(account_id="agencydemo", amount=eur(100), key="buy", at=T0), by="alice"
    )
    return app


def hold_of(reservation_id: str, account_id: str, amount: int, *, key: str) -> Reserve:
    """A hold made at ``T0`` that expires five minutes later."""
    return Reserve(
        reservation_id=reservation_id,
        account_id=account_id,
        amount=eur(amount),
        expires_at=T0 + timedelta(minutes=5),
        key=key,
        at=T0,
    )


def events(app: Subacct) -> list[DomainEvent]:
    return [x.event for x in app.events.since(0, by=SYSTEM, limit=10_000)]


def credits_moved(app: Subacct) -> list[CreditsMoved]:
    return [e for e in events(app) if isinstance(e, CreditsMoved)]


def audit(app: Subacct, account_id: str) -> list[AuditRecord]:
    return app.audit.records(account_id, by=SYSTEM)


def test_parent_admin_distributes_and_sub_admin_spends(app: Subacct) -> None:
    app.credits.execute(Distribute(sub_id="agency1", amount=eur(30), key="give", at=T0), by="alice")
    receipt = app.credits.execute(
        Spend(account_id="agency1", amount=eur("0.075"), key="sms", at=T0), by="sam"
    )
    assert [str(t.destination) for t in receipt.transfers] == ["spent:agency1"]
    assert app.credits.balance("wallet:agency1", by=SYSTEM) == eur("29.925")
    assert app.credits.balance("wallet:agencydemo", by=SYSTEM) == eur(70)
    assert sum(m.amount for m in app.credits.balances(by=SYSTEM).values()) == 0
    allowed = [(r.action, r.account_id) for r in audit(app, "agency1")]
    assert ("messages.send", "agency1") in allowed  # checked operations are audited


def test_a_sub_users_key_cannot_block_the_masters_operations(app: Subacct) -> None:
    """Issue 13: keys are scoped to the account acted on. Sam (sub admin of agency1)
    takes keys first; Alice's operations on the master under the same keys still run,
    and another tenant's top-up under Alice's key is its own."""
    app.credits.execute(Distribute(sub_id="agency1", amount=eur(10), key="d", at=T0), by="alice")
    app.credits.execute(Spend(account_id="agency1", amount=eur(1), key="t2", at=T0), by="sam")
    app.credits.execute(Spend(account_id="agency1", amount=eur(1), key="d2", at=T0), by="sam")
    topped = app.credits.execute(
        TopUp(account_id="agencydemo", amount=eur(5), key="t2", at=T0), by="alice"
    )
    given = app.credits.execute(
        Distribute(sub_id="agency1", amount=eur(2), key="d2", at=T0), by="alice"
    )
    assert not topped.replayed
    assert not given.replayed
    assert (topped.scope, given.scope) == ("agencydemo", "agencydemo")
    assert app.credits.balance("wallet:agencydemo", by=SYSTEM) == eur(93)  # 100 - 10 + 5 - 2
    assert app.credits.balance("wallet:agency1", by=SYSTEM) == eur(10)  # 10 - 1 - 1 + 2
    app.accounts.create_master("Rival", account_id="rival", by=SYSTEM)
    app.credits.open_wallet(Wallet("rival"), by=SYSTEM)
    rival = app.credits.execute(
        TopUp(account_id="rival", amount=eur(1), key="buy", at=T0), by=SYSTEM
    )
    assert not rival.replayed  # "buy" is agencydemo's key, not the rival's
    with pytest.raises(IdempotencyConflict):  # within one scope a key still binds
        app.credits.execute(
            TopUp(account_id="agencydemo", amount=eur(6), key="t2", at=T0), by="alice"
        )


def test_a_refused_operation_changes_nothing(app: Subacct) -> None:
    def state() -> object:
        return store_state(app.store), app.credits.balances(by=SYSTEM), events(app)

    before = state()
    audited = {a: audit(app, a) for a in ("agencydemo", "agency2")}
    with pytest.raises(ActionDenied) as refused:  # the money is the master's
        app.credits.execute(
            Distribute(sub_id="agency1", amount=eur(5), key="self", at=T0), by="sam"
        )
    assert refused.value.details["account_id"] == "agencydemo"
    with pytest.raises(PermissionDenied):  # sam has no standing in agency2
        app.credits.execute(Spend(account_id="agency2", amount=eur(1), key="x", at=T0), by="sam")
    assert state() == before  # no ledger write, no event
    # a refusal by the policy commits one audit record of the denied decision, nothing else
    for account_id, old in audited.items():
        records = audit(app, account_id)
        assert all(r in records for r in old)
        new = [r for r in records if r not in old]  # (ordered by time, then id)
        assert [(r.allowed, r.acting_user_id, r.account_id) for r in new] == [
            (False, "sam", account_id)
        ]
    denied = [r for r in audit(app, "agencydemo") if r not in audited["agencydemo"]]
    assert [(r.action, r.reason.value) for r in denied] == [
        (refused.value.details["action"], refused.value.reason)
    ]
    # the key was not used up: the right principal can run it afterwards
    receipt = app.credits.execute(
        Distribute(sub_id="agency1", amount=eur(5), key="self", at=T0), by="alice"
    )
    assert not receipt.replayed
    assert app.credits.balance("wallet:agency1", by=SYSTEM) == eur(5)


def test_a_revoked_api_key_stops_at_once(app: Subacct) -> None:
    key, _secret = app.policy.create_api_key(
        "agencydemo", "billing bot", [Grant("credits.top_up")], by="alice"
    )
    app.credits.execute(Distribute(sub_id="agency2", amount=eur(1), key="bot-1", at=T0), by=key)
    app.policy.revoke_api_key(key.id, by="alice")
    with pytest.raises(PermissionDenied):
        app.credits.execute(Distribute(sub_id="agency2", amount=eur(1), key="bot-2", at=T0), by=key)
    assert app.credits.balance("wallet:agency2", by=SYSTEM) == eur(1)


def _hold_and_commit(app: Subacct) -> None:
    app.credits.execute(Distribute(sub_id="agency1", amount=eur(10), key="give", at=T0), by="alice")
    hold = hold_of("batch-1", "agency1", 3, key="hold")
    app.credits.execute(hold, by="sam")
    app.credits.execute(
        Commit(reservation_id="batch-1", amount=eur(2), key="commit", at=T0), by="sam"
    )
    replay = Distribute(sub_id="agency1", amount=eur(10), key="give", at=T0)
    assert app.credits.execute(replay, by="alice").replayed


def test_events_name_each_movement_between_accounts(app: Subacct) -> None:
    _hold_and_commit(app)
    moved = [
        (e.operation, e.idempotency_key, e.from_account_id, e.to_account_id, e.amount, e.actor)
        for e in credits_moved(app)
    ]
    assert moved == [
        ("top_up", "buy", None, "agencydemo", eur(100), "alice"),
        ("distribute", "give", "agencydemo", "agency1", eur(10), "alice"),
        # the hold and the release of its unused part stay inside agency1: no CreditsMoved
        ("commit", "commit", "agency1", None, eur(2), "sam"),
    ]
    assert credits_moved(app)[0].account_id == "agencydemo"


def test_events_tell_the_reservation_and_a_replay_tells_nothing(app: Subacct) -> None:
    start = len(events(app))
    _hold_and_commit(app)
    told = events(app)[start:]
    assert [type(e) for e in told] == [
        CreditsMoved,  # give
        CreditsReserved,  # hold
        CreditsMoved,  # commit: the 2 spent
        CreditReservationEnded,  # commit: the hold ends (the replay of give adds nothing)
    ]
    reserved = [e for e in told if isinstance(e, CreditsReserved)]
    assert [
        (e.reservation_id, e.idempotency_key, e.account_id, e.amount, e.actor) for e in reserved
    ] == [("batch-1", "hold", "agency1", eur(3), "sam")]
    ended = [e for e in told if isinstance(e, CreditReservationEnded)]
    assert [
        (e.reservation_id, e.idempotency_key, e.account_id, e.status, e.committed, e.actor)
        for e in ended
    ] == [("batch-1", "commit", "agency1", "committed", eur(2), "sam")]


def test_an_unlimited_sub_reserves_from_its_master(app: Subacct) -> None:
    app.credits.execute(
        SetAllocation(sub_id="agency2", allocation=Allocation.unlimited(), key="unl", at=T0),
        by="alice",
    )
    allocated = events(app)[-1]
    assert isinstance(allocated, CreditAllocationSet)
    assert (allocated.account_id, allocated.idempotency_key, allocated.allocation) == (
        "agency2",
        "unl",
        "unlimited",
    )
    hold = hold_of("r", "agency2", 4, key="hold")
    app.credits.execute(hold, by="alice")
    assert credits_moved(app)[-1].from_account_id == "agencydemo"
    assert credits_moved(app)[-1].to_account_id == "agency2"
    app.credits.execute(Expire(key="sweep-1", at=T0 + timedelta(minutes=5)), by=SYSTEM)
    assert app.credits.balance("wallet:agencydemo", by=SYSTEM) == eur(100)
    expired = [e for e in events(app) if isinstance(e, CreditReservationEnded)]
    assert [(e.reservation_id, e.status) for e in expired] == [("r", "expired")]
    with pytest.raises(CreditReservationClosed):
        app.credits.execute(Release(reservation_id="r", key="late", at=T0), by="alice")


def test_long_idempotency_keys_reach_the_event_log(app: Subacct) -> None:
    key = "order-" + "x" * 190
    app.credits.execute(Distribute(sub_id="agency1", amount=eur(1), key=key, at=T0), by="alice")
    assert credits_moved(app)[-1].idempotency_key == key


def test_wallets_follow_the_hierarchy(app: Subacct) -> None:
    app.accounts.create_master("Other", account_id="other", by=SYSTEM)
    with pytest.raises(AllocationError):
        app.credits.open_wallet(Wallet("agency2", master_id="other"), by=SYSTEM)
    with pytest.raises(AccountNotFound):
        app.credits.open_wallet(Wallet("ghost"), by=SYSTEM)
    with pytest.raises(PermissionDenied):  # billing.manage on the master
        app.credits.open_wallet(
            Wallet("agency1", master_id="agencydemo", overdraft_limit=eur(9)), by="sam"
        )
    app.accounts.close("agency2", by=SYSTEM)
    with pytest.raises(AccountClosed):
        app.credits.open_wallet(Wallet("agency2", master_id="agencydemo"), by=SYSTEM)
    wallet = app.credits.wallet("agency1", by=SYSTEM)
    assert wallet == Wallet("agency1", master_id="agencydemo")
    assert [w.account_id for w in app.credits.wallets(by=SYSTEM)] == [
        "agency1",
        "agency2",
        "agencydemo",
    ]


def test_the_currency_comes_from_the_call_the_request_or_the_settings(store: Store) -> None:
    app = Subacct(store, Settings(clock=FixedClock(T0), ids=SequentialIds()))
    app.accounts.create_master("Shop", account_id="shop", by=SYSTEM)
    app.credits.open_wallet(Wallet("shop"), by=SYSTEM, currency="USD")
    app.credits.execute(TopUp(account_id="shop", amount=Money(5, "USD"), key="t", at=T0), by=SYSTEM)
    with pytest.raises(InvalidInput):  # no currency
        app.credits.execute(Release(reservation_id="r", key="rel", at=T0), by=SYSTEM)
    with pytest.raises(InvalidInput):
        app.credits.balances(by=SYSTEM)
    assert app.credits.balances(by=SYSTEM, currency="USD") == {
        a: m for a, m in app.credits.balances(by=SYSTEM, currency="usd").items()
    }
    assert app.credits.balance("wallet:shop", by=SYSTEM, currency="USD") == Money(5, "USD")
    # each currency is its own ledger
    assert app.credits.balances(by=SYSTEM, currency="EUR") == {}


def test_settings_currency_is_the_default_ledger() -> None:
    app = Subacct(MemoryStore(), Settings(currency="eur"))
    assert app.settings.currency == "EUR"
    app.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
    app.credits.open_wallet(Wallet("agencydemo"), by=SYSTEM)  # nothing names a currency
    assert app.credits.wallet("agencydemo", by=SYSTEM, currency="EUR") == Wallet("agencydemo")
    app.credits.execute(TopUp(account_id="agencydemo", amount=eur(3), key="t", at=T0), by=SYSTEM)
    assert app.credits.balance("wallet:agencydemo", by=SYSTEM) == eur(3)
    assert app.credits.balances(by=SYSTEM) == app.credits.balances(by=SYSTEM, currency="EUR")
    with pytest.raises(CreditReservationNotFound):  # the EUR ledger, not "no currency"
        app.credits.execute(Release(reservation_id="r", key="rel", at=T0), by=SYSTEM)
    assert app.credits.wallets(by=SYSTEM, currency="USD") == []  # another ledger


def test_statements_come_from_the_store(app: Subacct) -> None:
    for hour in range(1, 4):
        app.credits.execute(
            Distribute(
                sub_id="agency1",
                amount=eur(hour),
                key=f"give-{hour}",
                at=T0 + timedelta(hours=hour),
            ),
            by="alice",
        )
    first = app.credits.statement(
        "wallet:agency1", start=T0, end=T0 + timedelta(hours=2), by=SYSTEM
    )
    second = app.credits.statement(
        "wallet:agency1", start=T0 + timedelta(hours=2), end=T0 + timedelta(days=1), by=SYSTEM
    )
    assert first.closing == second.opening == eur(1)
    assert [line.transfer_id for line in second.lines] == ["give-2/0", "give-3/0"]
    assert second.closing == app.credits.balance("wallet:agency1", by=SYSTEM) == eur(6)
    early = app.credits.transfers("wallet:agency1", by=SYSTEM, end=T0 + timedelta(hours=2))
    assert [t.key for t in early] == ["give-1"]
    with pytest.raises(InvalidInput):
        app.credits.statement("wallet:agency1", start=T0, end=T0, by=SYSTEM)


@pytest.mark.parametrize("read", ["balances", "wallets", "reservations", "transfers"])
def test_the_whole_ledger_is_the_systems(app: Subacct, read: str) -> None:
    with pytest.raises(ActionDenied) as refused:  # even the master's administrator
        getattr(app.credits, read)(by="alice")
    assert refused.value.reason == "platform_only"
    getattr(app.credits, read)(by=SYSTEM)
    # one account's transfers are hers to read
    assert [t.key for t in app.credits.transfers("wallet:agencydemo", by="alice")] == ["buy"]


def test_reading_an_accounts_credit_needs_billing_view(app: Subacct) -> None:
    app.credits.execute(Distribute(sub_id="agency1", amount=eur(7), key="give", at=T0), by="alice")
    before = store_state(app.store), events(app)
    old = audit(app, "agency1")
    with pytest.raises(ActionDenied) as refused:  # a sub administrator lacks billing.view
        app.credits.balance("wallet:agency1", by="sam")
    assert refused.value.details["action"] == "billing.view"
    assert refused.value.details["account_id"] == "agency1"
    assert (store_state(app.store), events(app)) == before
    new = [r for r in audit(app, "agency1") if r not in old]
    assert [(r.allowed, r.action, r.acting_user_id) for r in new] == [
        (False, "billing.view", "sam")
    ]
    # the parent administrator may, inherited from the master
    assert app.credits.balance("wallet:agency1", by="alice") == eur(7)


def test_no_credit_is_spent_for_an_account_that_cannot_send(app: Subacct) -> None:
    """A paused account, or one under a paused master, spends and holds nothing; what it
    holds already settles, credit is still bought and moved, and a replay answers."""
    give = Distribute(sub_id="agency1", amount=eur(30), key="give", at=T0)
    app.credits.execute(give, by="alice")
    spent = app.credits.execute(
        Spend(account_id="agency1", amount=eur(1), key="s1", at=T0), by="sam"
    )
    hold = hold_of("h1", "agency1", 3, key="hold")
    app.credits.execute(hold, by="sam")
    app.accounts.pause("agencydemo", by=SYSTEM)  # the master: agency1 cannot send either
    before = store_state(app.store), app.credits.balances(by=SYSTEM), events(app)
    for request in (
        Spend(account_id="agency1", amount=eur(1), key="s2", at=T0),
        Spend(account_id="agencydemo", amount=eur(1), key="s3", at=T0),
        hold_of("h2", "agency1", 1, key="hold-2"),
    ):
        with pytest.raises(AccountNotActive):
            app.credits.execute(request, by=SYSTEM)
    assert (store_state(app.store), app.credits.balances(by=SYSTEM), events(app)) == before
    again = app.credits.execute(
        Spend(account_id="agency1", amount=eur(1), key="s1", at=T0), by="sam"
    )
    assert (again.replayed, again.transfers) == (True, spent.transfers)
    app.credits.execute(
        TopUp(account_id="agencydemo", amount=eur(5), key="buy-2", at=T0), by="alice"
    )
    app.credits.execute(
        Distribute(sub_id="agency2", amount=eur(5), key="give-2", at=T0), by="alice"
    )
    done = app.credits.execute(
        Commit(reservation_id="h1", amount=eur(2), key="commit", at=T0), by="sam"
    )
    assert not done.replayed


def test_the_sweep_of_due_holds_is_the_systems(app: Subacct) -> None:
    sweep = Expire(key="sweep-1", at=T0)
    with pytest.raises(ActionDenied) as err:
        app.credits.execute(sweep, by="alice")
    assert err.value.reason == "platform_only"
    assert not app.credits.execute(sweep, by=SYSTEM).replayed


def test_only_the_system_dates_a_request_outside_this_month(app: Subacct) -> None:
    app.credits.execute(Distribute(sub_id="agency1", amount=eur(10), key="give", at=T0), by="alice")
    for at in (T0 - timedelta(days=1), T0 + timedelta(days=40)):
        with pytest.raises(InvalidInput) as err:
            app.credits.execute(
                Spend(account_id="agency1", amount=eur(1), key="s", at=at), by="sam"
            )
        assert err.value.details["field"] == "request"
    backfill = Spend(account_id="agency1", amount=eur(1), key="import", at=T0 - timedelta(days=1))
    assert not app.credits.execute(backfill, by=SYSTEM).replayed


def test_a_retry_after_the_month_turned_is_answered_as_a_replay(app: Subacct) -> None:
    give = Distribute(sub_id="agency1", amount=eur(10), key="give-jan", at=T0)
    first = app.credits.execute(give, by="alice")
    clock = app.settings.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=31))  # February: a new request dated January is refused...
    again = app.credits.execute(give, by="alice")
    assert (again.replayed, again.transfers) == (True, first.transfers)  # ...its retry is not
