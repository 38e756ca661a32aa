"""The credit ledger's part of the adapter conformance kit.

``StoreConformance`` (``subacct.testing.conformance``) includes these cases, so every
adapter runs them: the ledger port's round trip (exact amounts, ledger order, periods,
idempotency records, other currencies), amounts at the bounds of ``subacct.money`` (the
largest and the finest, balances at ``MAX_AMOUNT`` either way) read back unchanged, the
bound of a balance, the write guards of ``Ledger.apply``, rollback,
then concurrency through ``Subacct.credits``: threads spending from one wallet (never past
its floor, no acknowledged spend lost, balances equal to a replay of the transfer log),
two threads sending one idempotency key (one transfer set), a commit racing a release of
one reservation (exactly one wins), and the ledger state machine
(``subacct.testing.ledger_machine``) on fresh stores.

Set ``ledger_machine_examples`` on the subclass to trade thoroughness for time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import ClassVar, TypeVar

import pytest

from subacct.app import Subacct
from subacct.domain import AccountId
from subacct.errors import (
    AlreadyExists,
    BalanceOutOfBounds,
    ConcurrentModification,
    CreditReservationClosed,
    IdempotencyConflict,
    InsufficientCredit,
    StalePlan,
    SubacctError,
)
from subacct.money import (
    FINEST_AMOUNT,
    MAX_AMOUNT,
    MIN_AMOUNT,
    Money,
    add,
    exact_sum,
    subtract,
)
from subacct.policy.system import SYSTEM
from subacct.pricing.ledger import (
    Commit,
    Distribute,
    Expire,
    LedgerAccount,
    LedgerAccountKind,
    LedgerRequest,
    Receipt,
    Release,
    Reservation,
    ReservationStatus,
    Reserve,
    Spend,
    TopUp,
    Transfer,
    Wallet,
    allow_all,
    plan,
    replay_balances,
)
from subacct.pricing.ledger.operations import SWEEP_SCOPE
from subacct.runtime import FixedClock, SequentialIds
from subacct.settings import Settings
from subacct.storage.ports import Store
from subacct.testing.ledger_machine import ServiceLedger, run_ledger_machine

__all__ = ["LedgerConformance"]

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)
StoreFactory = Callable[[], Store]


def _eur(amount: str | int | Decimal) -> Money:
    return Money(amount, "EUR")


def _hours(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def _wallet(owner: str) -> LedgerAccount:
    return LedgerAccount.wallet(owner)


class _Credits:
    """The system's view of a ``Subacct``'s credits, as the concurrency cases use it."""

    def __init__(self, store: Store) -> None:
        settings = Settings(clock=FixedClock(T0), ids=SequentialIds(), currency="EUR")
        self.app = Subacct(store, settings)

    def execute(self, request: LedgerRequest) -> Receipt:
        return self.app.credits.execute(request, by=SYSTEM)

    def balance(self, account: str) -> Money:
        return self.app.credits.balance(account, by=SYSTEM)

    def balances(self) -> dict[LedgerAccount, Money]:
        return self.app.credits.balances(by=SYSTEM)

    def wallets(self) -> list[Wallet]:
        return self.app.credits.wallets(by=SYSTEM)

    def transfers(self, account: str | None = None) -> list[Transfer]:
        return self.app.credits.transfers(account, by=SYSTEM)

    def reservation(self, reservation_id: str) -> Reservation | None:
        return self.app.credits.reservation(reservation_id, by=SYSTEM)


def _agency(store: Store, *, master_credit: str = "100", overdraft: str | None = None) -> _Credits:
    """Seed 003's shape: master ``agencydemo`` with ``master_credit`` EUR bought, subs
    ``agency1`` and ``agency2`` funded by it (``agency2`` with an overdraft limit)."""
    svc = _Credits(store)
    app = svc.app
    app.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Agency 1", account_id="agency1", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Agency 2", account_id="agency2", by=SYSTEM)
    app.credits.open_wallet(Wallet("agencydemo"), by=SYSTEM)
    app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by=SYSTEM)
    limit = None if overdraft is None else _eur(overdraft)
    app.credits.open_wallet(
        Wallet("agency2", master_id="agencydemo", overdraft_limit=limit), by=SYSTEM
    )
    svc.execute(TopUp(account_id="agencydemo", amount=_eur(master_credit), key="buy", at=T0))
    return svc


def _retrying(call: Callable[[], T]) -> T:
    """What a host does with ``ConcurrentModification`` once the service has given up:
    send the same request again (the idempotency key makes that safe)."""
    while True:
        try:
            return call()
        except ConcurrentModification:
            continue


def _on_threads(*calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` on threads started together; each result or ``SubacctError`` refusal
    comes back in order (anything else fails the test)."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    crashes: list[BaseException] = []

    def run(n: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[n] = call()
        except SubacctError as refusal:
            results[n] = refusal
        except BaseException as exc:  # pragma: no cover - reported below
            crashes.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not crashes, crashes
    return results


def _assert_consistent(svc: _Credits) -> None:
    """Sum zero, wallets at or above their floor, balances == a replay of the log."""
    balances = {a: m.amount for a, m in svc.balances().items()}
    assert exact_sum(balances.values()) == 0
    floors = {_wallet(w.account_id): w.floor for w in svc.wallets()}
    for account, amount in balances.items():
        if account.kind is not LedgerAccountKind.EXTERNAL:
            assert amount >= floors.get(account, ZERO), account
    replayed = replay_balances(svc.transfers())
    assert {a: b for a, b in balances.items() if b} == {a: b for a, b in replayed.items() if b}


class LedgerConformance:
    """The ledger cases of ``StoreConformance`` (needs its ``store`` fixtures)."""

    ledger_machine_examples: ClassVar[int] = 10

    # -- the port -----------------------------------------------------------------------

    def test_ledger_round_trips_exact_amounts_in_ledger_order(self, store: Store) -> None:
        first: Receipt | None = None
        requests: list[LedgerRequest] = [
            TopUp(account_id="m", amount=_eur("0.1"), key="t1", at=T0),
            TopUp(account_id="m", amount=_eur("0.20"), key="t2", at=_hours(1)),
            Distribute(sub_id="s", amount=_eur("0.075"), key="d1", at=_hours(2), reference="x"),
            Spend(account_id="s", amount=_eur("2.5"), key="s1", at=_hours(3)),
        ]
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            ledger.put_wallet(Wallet("s", master_id="m", overdraft_limit=_eur("2.5")))
            ledger.put_wallet(Wallet("m"))
            for request in requests:
                planned = plan(ledger, request, allow_all)
                ledger.write_plan(planned)
                first = planned.receipt if request.key == "d1" else first
            uow.commit()
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            assert ledger.balance(_wallet("m")) == Decimal("0.225")
            assert ledger.balance(_wallet("s")) == Decimal("-2.425")
            assert ledger.balance(LedgerAccount.spent("nobody")) == 0
            assert exact_sum(ledger.balances().values()) == 0
            assert [w.account_id for w in ledger.wallets()] == ["m", "s"]
            assert ledger.wallet(AccountId("s")) == Wallet(
                "s", master_id="m", overdraft_limit=_eur("2.5")
            )
            assert ledger.wallet(AccountId("ghost")) is None
            assert [t.id for t in ledger.transfers()] == ["t1/0", "t2/0", "d1/0", "s1/0"]
            assert [t.id for t in ledger.transfers(_wallet("m"), _hours(1), _hours(3))] == [
                "t2/0",
                "d1/0",
            ]
            assert [t.id for t in ledger.transfers(_wallet("s"), start=_hours(3))] == ["s1/0"]
            assert ledger.opening_balance(_wallet("m"), _hours(2)) == Decimal("0.3")
            assert ledger.opening_balance(_wallet("s"), _hours(2)) == 0
            record = ledger.idempotency("d1", "m")  # a distribution: the master's key
            assert record is not None
            assert record.receipt == first
            assert record.fingerprint == requests[2].fingerprint()
            assert plan(ledger, requests[2], allow_all).replayed
            assert ledger.idempotency("nope", "m") is None
            assert ledger.idempotency("d1", "s") is None  # the sub's keys are its own
            other = uow.ledger("USD")
            assert (other.balances(), other.wallets(), other.transfers()) == ({}, [], [])

    def test_ledger_round_trips_amounts_at_the_bounds(self, store: Store) -> None:
        """The largest amount, the finest, and 30-digit mixtures are stored and read back
        as the same ``Decimal`` (nothing rounds: past 28 digits too); a balance stops at
        ``MAX_AMOUNT`` either way (the write guard refuses a stale plan past it)."""
        finest, mixed = _eur(FINEST_AMOUNT), _eur("123456789012345678.901234567891")
        two = _eur("0.000000000002")
        requests: list[LedgerRequest] = [
            TopUp(account_id="m", amount=_eur(MAX_AMOUNT), key="max", at=T0),
            Distribute(sub_id="s", amount=finest, key="finest", at=_hours(1)),
            Distribute(sub_id="s", amount=mixed, key="mixed", at=_hours(2)),
            Spend(account_id="s", amount=two, key="spend", at=_hours(3)),
        ]
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            ledger.put_wallet(Wallet("m"))
            ledger.put_wallet(Wallet("s", master_id="m", own_payment_method=True))
            for request in requests:
                ledger.write_plan(plan(ledger, request, allow_all))
            uow.commit()
        sub = subtract(mixed.amount, FINEST_AMOUNT)
        expected = {
            LedgerAccount.external("m"): MIN_AMOUNT,
            _wallet("m"): Decimal("876543210987654321.098765432107"),
            _wallet("s"): sub,
            LedgerAccount.spent("s"): Decimal("0.000000000002"),
        }
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            assert ledger.balances() == expected
            assert exact_sum(ledger.balances().values()) == 0
            assert ledger.balance(_wallet("m")) == expected[_wallet("m")]
            stored = [str(t.amount.amount) for t in ledger.transfers()]
            assert stored == [str(MAX_AMOUNT), "1E-12", str(mixed.amount), "2E-12"]
            opening = add(sub, two.amount)
            assert ledger.opening_balance(_wallet("s"), _hours(3)) == opening
            assert replay_balances(ledger.transfers()) == expected
        # s tops itself up to the bound exactly, twice from one state: the second plan
        # would pass MAX_AMOUNT, and the write guard refuses it
        room = subtract(MAX_AMOUNT, sub)
        fill, again = (
            TopUp(account_id="s", amount=_eur(room), key=key, at=T0) for key in ("s1", "s2")
        )
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            planned = [plan(ledger, fill, allow_all), plan(ledger, again, allow_all)]
            ledger.write_plan(planned[0])
            try:
                ledger.write_plan(planned[1])
            except StalePlan:  # nothing of it was written: the first stands
                uow.commit()
            except ConcurrentModification:  # the unit is rolled back
                pass
            else:  # an adapter may send the plans, and check them, on commit
                with pytest.raises(ConcurrentModification):
                    uow.commit()
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            if ledger.balance(_wallet("s")) == sub:  # rolled back: write the first again
                ledger.write_plan(plan(ledger, fill, allow_all))
                uow.commit()
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            assert ledger.balance(_wallet("s")) == MAX_AMOUNT
            assert ledger.balance(LedgerAccount.external("s")) == room.copy_negate()
            assert [t.key for t in ledger.transfers()][-1] == "s1"
            with pytest.raises(BalanceOutOfBounds):
                plan(ledger, TopUp(account_id="s", amount=finest, key="s3", at=T0), allow_all)

    def test_ledger_reservations_and_due_order(self, store: Store) -> None:
        expiry = T0 + timedelta(minutes=10)
        holds = [("r2", expiry), ("r1", expiry), ("r3", expiry - timedelta(minutes=5))]
        holds.append(("r4", expiry + timedelta(microseconds=1)))
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            ledger.put_wallet(Wallet("m"))
            ledger.write_plan(
                plan(ledger, TopUp(account_id="m", amount=_eur(9), key="t", at=T0), allow_all)
            )
            for rid, expires in holds:
                reserve = Reserve(
                    reservation_id=rid,
                    account_id="m",
                    amount=_eur(1),
                    expires_at=expires,
                    key=f"k-{rid}",
                    at=T0,
                )
                ledger.write_plan(plan(ledger, reserve, allow_all))
            commit = Commit(reservation_id="r1", amount=_eur("0.5"), key="c1", at=T0)
            ledger.write_plan(plan(ledger, commit, allow_all))
            uow.commit()
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            assert [r.id for r in ledger.due_reservations(expiry)] == ["r3", "r2"]
            assert [r.id for r in ledger.reservations()] == ["r1", "r2", "r3", "r4"]
            done = ledger.reservation("r1")
            assert done is not None
            assert (done.status, done.committed) == (ReservationStatus.COMMITTED, _eur("0.5"))
            assert ledger.balance(LedgerAccount.reserved("m")) == 3
            assert ledger.balance(_wallet("m")) == Decimal("5.5")

    def test_ledger_write_guards_refuse_stale_plans(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            ledger.put_wallet(Wallet("m"))
            for request in (
                TopUp(account_id="m", amount=_eur(10), key="t", at=T0),
                Reserve(
                    reservation_id="r",
                    account_id="m",
                    amount=_eur(1),
                    expires_at=_hours(1),
                    key="hold",
                    at=T0,
                ),
            ):
                ledger.write_plan(plan(ledger, request, allow_all))
            uow.commit()

        def spend(amount: int, key: str) -> Spend:
            return Spend(account_id="m", amount=_eur(amount), key=key, at=T0)

        reserve_x = partial(
            Reserve, reservation_id="x", account_id="m", amount=_eur(1), expires_at=_hours(1), at=T0
        )
        # winner, stale plan, and what planning the stale request again gives (None: replay)
        cases: list[tuple[LedgerRequest, LedgerRequest, type[SubacctError] | None]] = [
            (spend(5, "a"), spend(8, "b"), InsufficientCredit),  # 8 > the 5 left
            (spend(1, "c"), spend(1, "c"), None),  # one key, planned twice
            (
                Commit(reservation_id="r", amount=_eur(1), key="c1", at=T0),
                Release(reservation_id="r", key="r1", at=T0),
                CreditReservationClosed,
            ),
            (reserve_x(key="x1"), reserve_x(key="x2"), AlreadyExists),
        ]
        for winner, stale, then in cases:
            with store.unit_of_work() as uow:
                ledger = uow.ledger("EUR")
                planned = [plan(ledger, r, allow_all) for r in (winner, stale)]
                ledger.write_plan(planned[0])
                after_winner = (ledger.balances(), ledger.transfers(), ledger.reservations())
                refused: ConcurrentModification
                try:
                    ledger.write_plan(planned[1])
                except ConcurrentModification as exc:
                    refused = exc
                else:  # an adapter may send the plan, and check it, on commit
                    with pytest.raises(ConcurrentModification) as on_commit:
                        uow.commit()
                    refused = on_commit.value
                if isinstance(refused, StalePlan):  # nothing written: plan again here
                    assert (ledger.balances(), ledger.transfers(), ledger.reservations()) == (
                        after_winner
                    )
                    if then is None:
                        assert plan(ledger, stale, allow_all).replayed
                    else:
                        with pytest.raises(then):
                            plan(ledger, stale, allow_all)
            with store.unit_of_work() as uow:  # rolled back with the unit
                ledger = uow.ledger("EUR")
                assert ledger.balance(_wallet("m")) == 9
                assert [t.key for t in ledger.transfers()] == ["t", "hold"]

    def test_ledger_rolls_back_with_the_unit(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            ledger.put_wallet(Wallet("m"))
            ledger.write_plan(
                plan(ledger, TopUp(account_id="m", amount=_eur(1), key="t", at=T0), allow_all)
            )
        with store.unit_of_work() as uow:
            ledger = uow.ledger("EUR")
            assert (ledger.balances(), ledger.wallets(), ledger.transfers()) == ({}, [], [])
            assert ledger.idempotency("t", "m") is None

    def test_ledger_keys_are_scoped_to_the_account_acted_on(self, store: Store) -> None:
        svc = _agency(store)  # agencydemo bought 100 EUR under the key "buy"
        app = svc.app
        app.accounts.create_master("Other", account_id="other", by=SYSTEM)
        app.credits.open_wallet(Wallet("other"), by=SYSTEM)
        theirs = svc.execute(TopUp(account_id="other", amount=_eur(7), key="buy", at=T0))
        assert not theirs.replayed
        assert theirs.scope == "other"
        # inside one tenant: the sub's own key, then the master's distribution under it
        spend = Spend(account_id="agency1", amount=_eur(1), key="k", at=T0)
        give = Distribute(sub_id="agency1", amount=_eur(5), key="k", at=T0)
        assert svc.execute(give).scope == "agencydemo"
        assert svc.execute(spend).scope == "agency1"
        assert svc.execute(give).replayed
        assert svc.execute(spend).replayed
        with pytest.raises(IdempotencyConflict):  # a key reused in its own scope
            svc.execute(TopUp(account_id="agencydemo", amount=_eur(1), key="buy", at=T0))
        assert svc.balance("wallet:agencydemo") == _eur(95)
        assert svc.balance("wallet:other") == _eur(7)
        assert svc.balance("wallet:agency1") == _eur(4)
        assert sorted(t.id for t in svc.transfers()) == ["buy/0", "buy/0", "k/0", "k/0"]
        # an expiry sweep names no account: its key is its own, not every account's
        sweep = svc.execute(Expire(key="k2", at=T0))
        assert sweep.scope == SWEEP_SCOPE
        assert svc.execute(TopUp(account_id="other", amount=_eur(1), key="k2", at=T0)).scope == (
            "other"
        )
        assert svc.execute(Expire(key="k2", at=T0)).replayed
        _assert_consistent(svc)

    # -- concurrency through the service ------------------------------------------------

    def test_ledger_concurrent_spends_never_overdraw_nor_lose_updates(self, store: Store) -> None:
        svc = _agency(store, master_credit="30", overdraft="4.50")
        svc.execute(Distribute(sub_id="agency2", amount=_eur(20), key="give", at=T0))
        amounts = ["0.75", "1.25", "2.50", "0.10", "3.00"]
        acknowledged: dict[str, Money] = {}
        refused: list[str] = []
        lock = threading.Lock()

        def spender(worker: int) -> None:
            for n in range(8):
                key = f"spend-{worker}-{n}"
                amount = _eur(amounts[(worker + n) % len(amounts)])
                request = Spend(account_id="agency2", amount=amount, key=key, at=T0)
                try:
                    receipt = _retrying(partial(svc.execute, request))
                except InsufficientCredit:
                    with lock:
                        refused.append(key)
                    continue
                with lock:
                    acknowledged[key] = receipt.transfers[0].amount

        _on_threads(*(partial(spender, w) for w in range(6)))
        spent = sum((m.amount for m in acknowledged.values()), ZERO)
        assert refused, "the demand was meant to exceed the credit"
        assert spent <= Decimal("24.50")  # 20 distributed + 4.50 overdraft
        assert svc.balance("spent:agency2").amount == spent  # no acknowledged spend lost
        assert svc.balance("wallet:agency2").amount == 20 - spent
        logged = {t.key for t in svc.transfers("spent:agency2")}
        assert logged == set(acknowledged)
        _assert_consistent(svc)

    def test_ledger_one_key_from_two_threads_moves_credit_once(self, store: Store) -> None:
        svc = _agency(store)
        for trial in range(4):
            same = Distribute(sub_id="agency1", amount=_eur(5), key=f"give-{trial}", at=T0)
            send = partial(_retrying, partial(svc.execute, same))
            results = _on_threads(send, send)
            receipts = [r for r in results if isinstance(r, Receipt)]
            assert sorted(r.replayed for r in receipts) == [False, True], results
            other = Distribute(sub_id="agency1", amount=_eur(6), key=f"clash-{trial}", at=T0)
            clash = Distribute(sub_id="agency2", amount=_eur(6), key=f"clash-{trial}", at=T0)
            results = _on_threads(
                partial(_retrying, partial(svc.execute, other)),
                partial(_retrying, partial(svc.execute, clash)),
            )
            assert sum(isinstance(r, Receipt) for r in results) == 1, results
            assert sum(isinstance(r, IdempotencyConflict) for r in results) == 1, results
        keys = [t.key for t in svc.transfers()]
        assert len(keys) == len(set(keys)) == 9  # the top-up, then one transfer per key
        assert svc.balance("wallet:agencydemo") == _eur(100 - 4 * 5 - 4 * 6)
        _assert_consistent(svc)

    def test_ledger_commit_racing_release_exactly_one_wins(self, store: Store) -> None:
        svc = _agency(store)
        svc.execute(Distribute(sub_id="agency1", amount=_eur(50), key="give", at=T0))
        committed = ZERO
        for trial in range(5):
            rid = f"batch-{trial}"
            svc.execute(
                Reserve(
                    reservation_id=rid,
                    account_id="agency1",
                    amount=_eur(4),
                    expires_at=_hours(1),
                    key=f"hold-{trial}",
                    at=T0,
                )
            )
            commit = Commit(reservation_id=rid, amount=_eur(3), key=f"commit-{trial}", at=T0)
            release = Release(reservation_id=rid, key=f"release-{trial}", at=T0)
            results = _on_threads(
                partial(_retrying, partial(svc.execute, commit)),
                partial(_retrying, partial(svc.execute, release)),
            )
            winners = [r for r in results if isinstance(r, Receipt)]
            losers = [r for r in results if isinstance(r, CreditReservationClosed)]
            assert (len(winners), len(losers)) == (1, 1), results
            hold = svc.reservation(rid)
            assert hold is not None
            if isinstance(results[0], Receipt):
                assert hold.status is ReservationStatus.COMMITTED
                committed += 3
            else:
                assert hold.status is ReservationStatus.RELEASED
        assert svc.balance("reserved:agency1") == _eur(0)
        assert svc.balance("spent:agency1").amount == committed
        assert svc.balance("wallet:agency1").amount == 50 - committed
        _assert_consistent(svc)

    def test_ledger_state_machine_on_this_store(self, store_factory: StoreFactory) -> None:
        run_ledger_machine(
            lambda: ServiceLedger.over(store_factory()), max_examples=self.ledger_machine_examples
        )
