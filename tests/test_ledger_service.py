"""The credit ledger over storage: permissions, events, wallets, currencies, statements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from subacct import (
    AccountClosed,
    AccountNotFound,
    ActionDenied,
    Allocation,
    AllocationError,
    Commit,
    CreditReservationClosed,
    Distribute,
    Expire,
    FixedClock,
    InvalidInput,
    LedgerService,
    MemoryStore,
    Money,
    PermissionDenied,
    Release,
    Reserve,
    SequentialIds,
    SetAllocation,
    Spend,
    SqliteStore,
    Store,
    Subacct,
    TopUp,
    Wallet,
)
from subacct.domain.events import CreditsMoved
from subacct.policy import Grant
from subacct.testing.conformance import store_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def eur(amount: str | int) -> Money:
    return Money(amount, "EUR")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        s = SqliteStore(tmp_path / "ledger.db")
        yield s
        s.close()


@pytest.fixture
def svc(store: Store) -> LedgerService:
    """Seed 003/004: master ``agencydemo`` (owner ``alice``, a parent administrator) with
    subs ``agency1`` (``sam`` is its sub administrator) and ``agency2``; 100 EUR bought."""
    app = LedgerService(store, clock=FixedClock(T0), ids=SequentialIds(), ledger_currency="EUR")
    app.create_master("Agency Demo", account_id="agencydemo")
    app.create_sub("agencydemo", "Agency 1", account_id="agency1")
    app.create_sub("agencydemo", "Agency 2", account_id="agency2")
    app.create_user("alice@agency.test", "Alice", user_id="alice")
    app.create_user("sam@agency1.test", "Sam", user_id="sam")
    app.add_membership("alice", "agencydemo", "parent_admin")
    app.add_membership("sam", "agency1", "sub_admin")
    app.open_wallet("alice", Wallet("agencydemo"))
    app.open_wallet("alice", Wallet("agency1", master_id="agencydemo"))
    app.open_wallet("alice", Wallet("agency2", master_id="agencydemo"))
    app.execute("alice", TopUp(account_id="agencydemo", amount=eur(100), key="buy", at=T0))
    return app


def credits_moved(svc: LedgerService) -> list[CreditsMoved]:
    with svc.store.unit_of_work() as uow:
        logged = uow.events.since(0, limit=10_000)
    return [x.event for x in logged if isinstance(x.event, CreditsMoved)]


def test_parent_admin_distributes_and_sub_admin_spends(svc: LedgerService) -> None:
    svc.execute("alice", Distribute(sub_id="agency1", amount=eur(30), key="give", at=T0))
    receipt = svc.execute("sam", Spend(account_id="agency1", amount=eur("0.075"), key="sms", at=T0))
    assert [str(t.destination) for t in receipt.transfers] == ["spent:agency1"]
    assert svc.credit_balance("wallet:agency1") == eur("29.925")
    assert svc.credit_balance("wallet:agencydemo") == eur(70)
    assert sum(m.amount for m in svc.credit_balances().values()) == 0
    allowed = [(r.action, r.account_id) for r in svc.audit_records("agency1")]
    assert ("messages.send", "agency1") in allowed  # checked operations are audited


def test_a_refused_operation_changes_nothing(svc: LedgerService) -> None:
    before = store_state(svc.store), svc.credit_balances(), credits_moved(svc)
    audit = svc.audit_records("agencydemo")
    with pytest.raises(ActionDenied) as refused:  # the money is the master's
        svc.execute("sam", Distribute(sub_id="agency1", amount=eur(5), key="self", at=T0))
    assert refused.value.details["account_id"] == "agencydemo"
    with pytest.raises(PermissionDenied):  # sam has no standing in agency2
        svc.execute("sam", Spend(account_id="agency2", amount=eur(1), key="x", at=T0))
    assert (store_state(svc.store), svc.credit_balances(), credits_moved(svc)) == before
    assert svc.audit_records("agencydemo") == audit
    # the key was not used up: the right principal can run it afterwards
    svc.execute("alice", Distribute(sub_id="agency1", amount=eur(5), key="self", at=T0))


def test_a_revoked_api_key_stops_at_once(svc: LedgerService) -> None:
    key, _secret = svc.create_api_key(
        "alice", "agencydemo", "billing bot", [Grant("credits.top_up")]
    )
    svc.execute(key, Distribute(sub_id="agency2", amount=eur(1), key="bot-1", at=T0))
    svc.revoke_api_key("alice", key.id)
    with pytest.raises(PermissionDenied):
        svc.execute(key, Distribute(sub_id="agency2", amount=eur(1), key="bot-2", at=T0))
    assert svc.credit_balance("wallet:agency2") == eur(1)


def test_events_name_each_movement_between_accounts(svc: LedgerService) -> None:
    svc.execute("alice", Distribute(sub_id="agency1", amount=eur(10), key="give", at=T0))
    hold = Reserve(
        reservation_id="batch-1",
        account_id="agency1",
        amount=eur(3),
        expires_at=T0 + timedelta(minutes=5),
        key="hold",
        at=T0,
    )
    svc.execute("sam", hold)
    svc.execute("sam", Commit(reservation_id="batch-1", amount=eur(2), key="commit", at=T0))
    svc.execute("alice", Distribute(sub_id="agency1", amount=eur(10), key="give", at=T0))  # replay
    moved = [
        (e.operation, e.idempotency_key, e.from_account_id, e.to_account_id, e.amount, e.actor)
        for e in credits_moved(svc)
    ]
    assert moved == [
        ("top_up", "buy", None, "agencydemo", eur(100), "alice"),
        ("distribute", "give", "agencydemo", "agency1", eur(10), "alice"),
        # the hold and the release of its unused part stay inside agency1: no event
        ("commit", "commit", "agency1", None, eur(2), "sam"),
    ]
    assert credits_moved(svc)[0].account_id == "agencydemo"


def test_an_unlimited_sub_reserves_from_its_master(svc: LedgerService) -> None:
    svc.execute(
        "alice",
        SetAllocation(sub_id="agency2", allocation=Allocation.unlimited(), key="unl", at=T0),
    )
    hold = Reserve(
        reservation_id="r",
        account_id="agency2",
        amount=eur(4),
        expires_at=T0 + timedelta(minutes=5),
        key="hold",
        at=T0,
    )
    svc.execute("alice", hold)
    assert credits_moved(svc)[-1].from_account_id == "agencydemo"
    assert credits_moved(svc)[-1].to_account_id == "agency2"
    svc.execute_as_system(Expire(key="sweep-1", at=T0 + timedelta(minutes=5)))
    assert svc.credit_balance("wallet:agencydemo") == eur(100)
    with pytest.raises(CreditReservationClosed):
        svc.execute("alice", Release(reservation_id="r", key="late", at=T0))


def test_long_idempotency_keys_reach_the_event_log(svc: LedgerService) -> None:
    key = "order-" + "x" * 190
    svc.execute("alice", Distribute(sub_id="agency1", amount=eur(1), key=key, at=T0))
    assert credits_moved(svc)[-1].idempotency_key == key


def test_wallets_follow_the_hierarchy(svc: LedgerService) -> None:
    svc.create_master("Other", account_id="other")
    with pytest.raises(AllocationError):
        svc.open_wallet_as_system(Wallet("agency2", master_id="other"))
    with pytest.raises(AccountNotFound):
        svc.open_wallet_as_system(Wallet("ghost"))
    with pytest.raises(PermissionDenied):  # billing.manage on the master
        svc.open_wallet("sam", Wallet("agency1", master_id="agencydemo", overdraft_limit=eur(9)))
    svc.close("agency2")
    with pytest.raises(AccountClosed):
        svc.open_wallet_as_system(Wallet("agency2", master_id="agencydemo"))
    wallet = svc.credit_wallet("agency1")
    assert wallet == Wallet("agency1", master_id="agencydemo")
    assert [w.account_id for w in svc.credit_wallets()] == ["agency1", "agency2", "agencydemo"]


def test_the_currency_comes_from_the_call_the_request_or_the_service(store: Store) -> None:
    app = LedgerService(store, clock=FixedClock(T0), ids=SequentialIds())
    app.create_master("Shop", account_id="shop")
    app.open_wallet_as_system(Wallet("shop"), currency="USD")
    app.execute_as_system(TopUp(account_id="shop", amount=Money(5, "USD"), key="t", at=T0))
    with pytest.raises(InvalidInput):
        app.execute_as_system(Release(reservation_id="r", key="rel", at=T0))  # no currency
    with pytest.raises(InvalidInput):
        app.credit_balances()
    assert app.credit_balances(currency="USD") == {
        a: m for a, m in app.credit_balances(currency="usd").items()
    }
    assert app.credit_balance("wallet:shop", currency="USD") == Money(5, "USD")
    assert app.credit_balances(currency="EUR") == {}  # each currency is its own ledger


def test_statements_come_from_the_store(svc: LedgerService) -> None:
    for hour in range(1, 4):
        svc.execute(
            "alice",
            Distribute(
                sub_id="agency1",
                amount=eur(hour),
                key=f"give-{hour}",
                at=T0 + timedelta(hours=hour),
            ),
        )
    first = svc.credit_statement("wallet:agency1", start=T0, end=T0 + timedelta(hours=2))
    second = svc.credit_statement(
        "wallet:agency1", start=T0 + timedelta(hours=2), end=T0 + timedelta(days=1)
    )
    assert first.closing == second.opening == eur(1)
    assert [line.transfer_id for line in second.lines] == ["give-2/0", "give-3/0"]
    assert second.closing == svc.credit_balance("wallet:agency1") == eur(6)
    assert [t.key for t in svc.credit_transfers("wallet:agency1", end=T0 + timedelta(hours=2))] == [
        "give-1"
    ]
    with pytest.raises(InvalidInput):
        svc.credit_statement("wallet:agency1", start=T0, end=T0)


def test_the_facade_keeps_credits_too() -> None:
    app = Subacct(MemoryStore(), ledger_currency="EUR")
    app.create_master("Agency Demo", account_id="agencydemo")
    app.open_wallet_as_system(Wallet("agencydemo"))
    app.execute_as_system(TopUp(account_id="agencydemo", amount=eur(3), key="t", at=T0))
    assert app.credit_balance("wallet:agencydemo") == eur(3)
