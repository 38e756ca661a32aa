"""A hypothesis state machine over the credit ledger, for the library and for adapters.

``LedgerMachine`` runs random sequences of top-ups, distributions, reclaims, spends,
refunds, reservations, commits, releases, expiry sweeps, allocation changes, period resets,
replays and reused keys, and checks after every step: the ledger sums to exactly zero, no
balance is below its floor, balances equal a replay of the transfer log, reserved credit
equals the open reservations, statements reconcile, refusals and replays move nothing, and
each refusal is the one the rules predict. Amounts are small (cents, up to 60) or at the
bounds of ``subacct.money`` (the finest amount, the largest, the largest integer part with
twelve decimals): a move that would take a balance past ``MAX_AMOUNT`` must be refused with
``BalanceOutOfBounds``, and every sum the machine checks is exact.

It drives any object with the in-memory ``Ledger``'s methods (``open_wallet``,
``execute``, ``balances``, ``balance_of``, ``transfers``, ``reservations``,
``reservation``, ``wallet``, ``wallets``, ``statement``). ``make_ledger`` returns one;
``ServiceLedger`` gives ``app.credits`` of a ``Subacct`` over any store that shape, so
the conformance kit (``subacct.testing.conformance``) runs the same machine on every adapter::

    run_ledger_machine(lambda: ServiceLedger.over(MyStore()), max_examples=10)

Needs the ``test`` extra (hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from subacct.app import Subacct
from subacct.domain.ids import AccountId, UserId
from subacct.errors import (
    AllocationError,
    AmountOutOfBounds,
    BalanceOutOfBounds,
    CreditReservationClosed,
    IdempotencyConflict,
    InsufficientCredit,
    PaymentMethodRequired,
    RefundExceedsSpent,
    SubacctError,
)
from subacct.money import (
    FINEST_AMOUNT,
    MAX_AMOUNT,
    MAX_SCALE,
    Money,
    add,
    exact_sum,
    in_bounds,
    multiply,
    quantized,
    subtract,
)
from subacct.policy.system import SYSTEM
from subacct.pricing.ledger import (
    Allocation,
    AllocationKind,
    Commit,
    Distribute,
    Expire,
    Ledger,
    LedgerAccount,
    LedgerAccountKind,
    LedgerRequest,
    Receipt,
    Reclaim,
    Refund,
    Release,
    Reservation,
    Reserve,
    ResetMode,
    ResetPeriod,
    SetAllocation,
    Spend,
    Statement,
    TopUp,
    Transfer,
    Wallet,
    allow_all,
    replay_balances,
)
from subacct.pricing.tiers import PackagePrice
from subacct.principals import Actor
from subacct.runtime import FixedClock, SequentialIds
from subacct.settings import Settings
from subacct.storage.ports import Store
from subacct.testing.ledger_strategies import (
    allocations,
    bounded_credit_amounts,
    credit_amounts,
    ledger_setups,
)

__all__ = ["LedgerMachine", "ServiceLedger", "run_ledger_machine"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)
amounts = bounded_credit_amounts("EUR")
shares = st.sampled_from(["0", "0.5", "0.999", "1", "1.001", "2"])
recurring = st.builds(
    lambda amount, mode: Allocation.recurring(amount, on_reset=mode),
    credit_amounts("EUR", max_amount=40),
    st.sampled_from(list(ResetMode)),
)


class LedgerMachine(RuleBasedStateMachine):
    reservations = Bundle("reservations")

    def make_ledger(self) -> Any:
        return Ledger("EUR", authorize=allow_all)

    # -- helpers ------------------------------------------------------------------------------

    def _key(self) -> str:
        self.counter += 1
        return f"op{self.counter}"

    def _snapshot(self) -> tuple[object, ...]:
        book = self.book
        return (book.balances(), len(book.transfers()), book.reservations(), book.wallets())

    def _run(self, request: LedgerRequest) -> Receipt | SubacctError:
        before = self._snapshot()
        try:
            receipt: Receipt = self.book.execute(request)
        except SubacctError as refusal:
            assert self._snapshot() == before, "a refusal changed the ledger"
            return refusal
        assert not receipt.replayed
        self.history.append((request, receipt))
        return receipt

    def _bal(self, account: LedgerAccount) -> Decimal:
        return Decimal(self.book.balance_of(account).amount)

    def _wallet(self, account_id: str) -> Wallet:
        wallet = self.book.wallet(AccountId(account_id))
        assert isinstance(wallet, Wallet)
        return wallet

    def _funding(self, account_id: str) -> Wallet:
        wallet = self._wallet(account_id)
        if wallet.allocation is not None and wallet.allocation.kind is AllocationKind.UNLIMITED:
            assert wallet.master_id is not None
            return self._wallet(wallet.master_id)
        return wallet

    def _available(self, wallet: Wallet) -> Decimal:
        return subtract(self._bal(LedgerAccount.wallet(wallet.account_id)), wallet.floor)

    def _moved(self, before: dict[LedgerAccount, Decimal], **expected: Decimal) -> None:
        """Assert balance changes; ``expected`` maps ``kind__owner`` to the exact delta."""
        for name, delta in expected.items():
            account = _account(name)
            assert subtract(self._bal(account), before.get(account, ZERO)) == delta, name

    def _expect(
        self,
        result: Receipt | SubacctError,
        moves: dict[str, Decimal],
        before: dict[LedgerAccount, Decimal],
    ) -> bool:
        """Assert the rule-abiding ``result`` is a receipt exactly when ``moves``
        (``kind__owner`` to delta) leave every balance ``before`` within the bounds of
        money, ``BalanceOutOfBounds`` otherwise; True for a receipt."""
        fits = (in_bounds(add(before.get(_account(n), ZERO), d)) for n, d in moves.items())
        if all(fits):
            assert isinstance(result, Receipt), result
            return True
        assert isinstance(result, BalanceOutOfBounds), result
        return False

    def _balances(self) -> dict[LedgerAccount, Decimal]:
        return {a: m.amount for a, m in self.book.balances().items()}

    # -- setup --------------------------------------------------------------------------------

    @initialize(wallets=ledger_setups(), monthly=recurring)
    def setup(self, wallets: list[Wallet], monthly: Allocation) -> None:
        self.book = self.make_ledger()
        for wallet in wallets:
            self.book.open_wallet(wallet)
        self.ids = [w.account_id for w in wallets]
        self.subs = [w.account_id for w in wallets if w.master_id is not None]
        self.now = T0
        self.counter = 0
        self.history: list[tuple[LedgerRequest, Receipt]] = []
        self.book.execute(TopUp(account_id="master", amount=Money(500, "EUR"), key="seed", at=T0))
        self.book.execute(
            SetAllocation(sub_id="sub_allocated", allocation=monthly, key="monthly", at=T0)
        )

    # -- operations ---------------------------------------------------------------------------

    @rule(data=st.data(), amount=amounts)
    def top_up(self, data: st.DataObject, amount: Money) -> None:
        account = data.draw(st.sampled_from(self.ids))
        before = self._balances()
        result = self._run(TopUp(account_id=account, amount=amount, key=self._key(), at=self.now))
        moves = {
            f"wallet__{account}": amount.amount,
            f"external__{account}": amount.amount.copy_negate(),
        }
        if not self._wallet(account).own_payment_method:
            assert isinstance(result, PaymentMethodRequired)
        elif self._expect(result, moves, before):
            self._moved(before, **moves)

    @rule(data=st.data(), amount=amounts)
    def distribute(self, data: st.DataObject, amount: Money) -> None:
        sub = data.draw(st.sampled_from(self.subs))
        before = self._balances()
        master_has = self._bal(LedgerAccount.wallet("master"))
        unlimited = self._funding(sub).account_id != sub
        result = self._run(Distribute(sub_id=sub, amount=amount, key=self._key(), at=self.now))
        if unlimited:
            assert isinstance(result, AllocationError)
        elif amount.amount > master_has:
            assert isinstance(result, InsufficientCredit)
        else:
            moves = {"wallet__master": amount.amount.copy_negate(), f"wallet__{sub}": amount.amount}
            if self._expect(result, moves, before):
                self._moved(before, **moves)

    @rule(data=st.data(), amount=st.none() | amounts)
    def reclaim(self, data: st.DataObject, amount: Money | None) -> None:
        sub = data.draw(st.sampled_from(self.subs))
        before = self._balances()
        has = self._bal(LedgerAccount.wallet(sub))
        result = self._run(Reclaim(sub_id=sub, amount=amount, key=self._key(), at=self.now))
        wanted = max(has, ZERO) if amount is None else amount.amount
        if amount is not None and wanted > has:
            assert isinstance(result, InsufficientCredit)
        else:
            moves = {"wallet__master": wanted, f"wallet__{sub}": wanted.copy_negate()}
            if self._expect(result, moves, before):
                self._moved(before, **moves)

    @rule(data=st.data(), amount=amounts)
    def spend(self, data: st.DataObject, amount: Money) -> None:
        account = data.draw(st.sampled_from(self.ids))
        funding = self._funding(account)
        can = self._available(funding) >= amount.amount
        before = self._balances()
        result = self._run(Spend(account_id=account, amount=amount, key=self._key(), at=self.now))
        if can:
            moves = {
                f"spent__{account}": amount.amount,
                f"wallet__{funding.account_id}": amount.amount.copy_negate(),
            }
            if self._expect(result, moves, before):
                self._moved(before, **moves)
        else:
            assert isinstance(result, InsufficientCredit)

    @rule(data=st.data(), amount=amounts, part=st.sampled_from(["", "0.5", "1"]))
    def refund(self, data: st.DataObject, amount: Money, part: str) -> None:
        account = data.draw(st.sampled_from(self.ids))
        spent = self._bal(LedgerAccount.spent(account))
        if part and spent >= 2 * FINEST_AMOUNT:  # a share of what was spent, often all of it
            amount = _share(spent, part)
        funding = self._funding(account).account_id
        before = self._balances()
        result = self._run(Refund(account_id=account, amount=amount, key=self._key(), at=self.now))
        if amount.amount > spent:
            assert isinstance(result, RefundExceedsSpent)
            return
        moves = {
            f"spent__{account}": amount.amount.copy_negate(),
            f"wallet__{funding}": amount.amount,
        }
        if self._expect(result, moves, before):
            self._moved(before, **moves)

    @rule(
        target=reservations,
        data=st.data(),
        amount=amounts,
        ttl=st.integers(min_value=1, max_value=900),
    )
    def reserve(self, data: st.DataObject, amount: Money, ttl: int) -> Any:
        account = data.draw(st.sampled_from(self.ids))
        can = self._available(self._funding(account)) >= amount.amount
        rid = f"r{self.counter}"
        before = self._balances()
        result = self._run(
            Reserve(
                reservation_id=rid,
                account_id=account,
                amount=amount,
                expires_at=self.now + timedelta(seconds=ttl),
                key=self._key(),
                at=self.now,
            )
        )
        if not can:
            assert isinstance(result, InsufficientCredit)
            return multiple()
        moves = {
            f"reserved__{account}": amount.amount,
            f"wallet__{self._funding(account).account_id}": amount.amount.copy_negate(),
        }
        if not self._expect(result, moves, before):
            return multiple()
        assert isinstance(result, Receipt)
        assert result.reservation_ids == (rid,)
        return rid

    @rule(rid=consumes(reservations), share=shares)
    def commit(self, rid: str, share: str) -> None:
        hold = self.book.reservation(rid)
        actual = _share(hold.amount.amount, share)
        usable = hold.is_open and self.now < hold.expires_at
        before = self._balances()
        result = self._run(Commit(reservation_id=rid, amount=actual, key=self._key(), at=self.now))
        if not usable:
            assert isinstance(result, CreditReservationClosed)
        elif isinstance(result, InsufficientCredit):  # the extra above the hold was not covered
            assert actual.amount > hold.amount.amount
        else:
            held = hold.amount.amount
            moves = {
                f"reserved__{hold.account_id}": held.copy_negate(),
                f"spent__{hold.account_id}": actual.amount,
                f"wallet__{hold.funding_id}": subtract(held, actual.amount),
            }
            if self._expect(result, moves, before):
                assert self.book.reservation(rid).committed == actual
                self._moved(before, **moves)

    @rule(data=st.data(), amount=amounts, share=shares)
    def send(self, data: st.DataObject, amount: Money, share: str) -> None:
        """A queued send: reserve, then commit the actual amount; a second commit is refused."""
        rid = self.reserve(data, amount, 60)
        if isinstance(rid, str):
            self.commit(rid, share)
            self.commit(rid, "1")

    @rule(rid=consumes(reservations))
    def release(self, rid: str) -> None:
        hold = self.book.reservation(rid)
        before = self._balances()
        result = self._run(Release(reservation_id=rid, key=self._key(), at=self.now))
        if not hold.is_open:
            assert isinstance(result, CreditReservationClosed)
        else:
            self._expect(result, _give_back([hold]), before)

    @rule(seconds=st.integers(min_value=1, max_value=120))
    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def expire(self) -> None:
        due = [r for r in self.book.reservations() if r.is_open and r.expires_at <= self.now]
        before = self._balances()
        result = self._run(Expire(key=self._key(), at=self.now))
        if self._expect(result, _give_back(due), before):  # else: a funding wallet is too full
            assert isinstance(result, Receipt)
            assert set(result.reservation_ids) == {r.id for r in due}
            assert not any(r.is_open and r.expires_at <= self.now for r in self.book.reservations())

    def _reset_moves(
        self, sub: str, allocation: Allocation | None, before: dict[LedgerAccount, Decimal]
    ) -> dict[str, Decimal]:
        """What setting ``allocation`` (or a period reset to it) moves: a sub's wallet goes
        to exactly the amount, unused credit where ``on_reset`` says; an unlimited one
        gives its unused credit back to the master; none moves nothing."""
        had = before.get(LedgerAccount.wallet(sub), ZERO)
        unused = max(had, ZERO)
        if allocation is None:
            return {}
        if allocation.amount is None:
            return {f"wallet__{sub}": unused.copy_negate(), "wallet__master": unused}
        grant = subtract(allocation.amount.amount, min(had, ZERO))
        returned = allocation.on_reset is ResetMode.RETURN_TO_MASTER
        return {
            f"wallet__{sub}": subtract(allocation.amount.amount, had),
            f"expired__{sub}": ZERO if returned else unused,
            "wallet__master": subtract(unused if returned else ZERO, grant),
        }

    @rule(data=st.data(), allocation=st.none() | allocations("EUR", max_amount=80))
    def set_allocation(self, data: st.DataObject, allocation: Allocation | None) -> None:
        sub = data.draw(st.sampled_from(self.subs))
        before = self._balances()
        result = self._run(
            SetAllocation(sub_id=sub, allocation=allocation, key=self._key(), at=self.now)
        )
        if allocation is not None and self._wallet(sub).own_payment_method:
            assert isinstance(result, AllocationError)
        elif not isinstance(result, InsufficientCredit):  # else the master could not fund it
            moves = self._reset_moves(sub, allocation, before)
            if self._expect(result, moves, before):
                assert self._wallet(sub).allocation == allocation
                self._moved(before, **moves)

    @rule(data=st.data())
    def reset_period(self, data: st.DataObject) -> None:
        sub = data.draw(st.sampled_from(["sub_allocated", "sub_allocated", *self.subs]))
        allocation = self._wallet(sub).allocation
        before = self._balances()
        result = self._run(ResetPeriod(sub_id=sub, key=self._key(), at=self.now))
        if allocation is None or allocation.kind is not AllocationKind.RECURRING:
            assert isinstance(result, AllocationError)
        elif not isinstance(result, InsufficientCredit):  # else the master could not fund it
            moves = self._reset_moves(sub, allocation, before)
            if self._expect(result, moves, before):
                self._moved(before, **moves)

    @rule(data=st.data(), later=st.integers(min_value=0, max_value=60))
    def replay(self, data: st.DataObject, later: int) -> None:
        if not self.history:
            return
        request, first = data.draw(st.sampled_from(self.history))
        at = request.at + timedelta(seconds=later)
        if isinstance(request, Reserve):  # a reservation is always made before it expires
            at = min(at, request.expires_at - timedelta(microseconds=1))
        retry = attrs.evolve(request, at=at)
        before = self._snapshot()
        again = self.book.execute(retry)
        assert again.replayed
        assert attrs.evolve(again, replayed=False) == first
        assert self._snapshot() == before

    @rule(data=st.data())
    def reuse_key_with_other_parameters(self, data: st.DataObject) -> None:
        if not self.history:
            return
        request, _ = data.draw(st.sampled_from(self.history))
        changed = attrs.evolve(request, reference=request.reference + "-changed")
        result = self._run(changed)
        assert isinstance(result, IdempotencyConflict)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def sums_to_zero_and_matches_the_log(self) -> None:
        balances = self._balances()
        assert exact_sum(balances.values()) == 0
        replayed = {a: b for a, b in replay_balances(self.book.transfers()).items()}
        assert {a: b for a, b in balances.items() if b} == {a: b for a, b in replayed.items() if b}

    @invariant()
    def no_balance_below_its_floor(self) -> None:
        for account, amount in self._balances().items():
            if account.kind is LedgerAccountKind.WALLET:
                assert amount >= self._wallet(account.owner).floor, account
            elif account.kind is LedgerAccountKind.EXTERNAL:
                assert amount <= 0, account
            else:
                assert amount >= 0, account

    @invariant()
    def reserved_credit_is_the_open_holds(self) -> None:
        held: dict[str, Decimal] = {}
        for hold in self.book.reservations():
            if hold.is_open:
                held[hold.account_id] = add(held.get(hold.account_id, ZERO), hold.amount.amount)
        for account_id in self.ids:
            assert self._bal(LedgerAccount.reserved(account_id)) == held.get(account_id, ZERO)

    @invariant()
    def statements_reconcile(self) -> None:
        end = self.now + timedelta(seconds=1)
        middle = T0 + (self.now - T0) / 2
        for account in self._balances():
            whole = self._statement(account, T0, end)
            if whole is None:
                continue
            assert whole.opening.amount == 0
            assert whole.closing.amount == self._bal(account)
            assert exact_sum(line.amount.amount for line in whole.lines) == whole.closing.amount
            if middle > T0:
                first = self._statement(account, T0, middle)
                second = self._statement(account, middle, end)
                assert first is not None  # parts of a whole that fits
                assert second is not None
                assert first.closing == second.opening
                assert len(first.lines) + len(second.lines) == len(whole.lines)

    def _statement(self, account: LedgerAccount, start: datetime, end: datetime) -> Any:
        """The statement, or None when its money in or out passes ``MAX_AMOUNT`` (money
        that went round and round): then, and only then, it is refused."""
        try:
            return self.book.statement(account, start=start, end=end)
        except AmountOutOfBounds:
            moved = [t for t in self.book.transfers() if start <= t.at < end]
            flows = (
                exact_sum(t.amount.amount for t in moved if t.destination == account),
                exact_sum(t.amount.amount for t in moved if t.source == account),
            )
            assert max(flows) > MAX_AMOUNT, flows
            return None


def _account(name: str) -> LedgerAccount:
    kind, owner = name.split("__")
    return LedgerAccount(kind, owner)


def _share(amount: Decimal, share: str) -> Money:
    """``share`` times ``amount``, cut to the finest amount and at most ``MAX_AMOUNT``."""
    part = quantized(multiply(amount, Decimal(share)), MAX_SCALE, ROUND_DOWN)
    return Money(min(part, MAX_AMOUNT), "EUR")


def _give_back(holds: list[Reservation]) -> dict[str, Decimal]:
    """What releasing (or expiring) ``holds`` moves: each back to its funding wallet."""
    moves: dict[str, Decimal] = {}
    for hold in holds:
        for name, delta in (
            (f"reserved__{hold.account_id}", hold.amount.amount.copy_negate()),
            (f"wallet__{hold.funding_id}", hold.amount.amount),
        ):
            moves[name] = add(moves.get(name, ZERO), delta)
    return moves


class ServiceLedger:
    """``app.credits`` of a ``Subacct`` over a store, shaped like the in-memory ``Ledger``
    for the machine. Accounts are created on first ``open_wallet`` (a master, or a sub
    under the wallet's master); operations run as ``principal`` (a parent administrator of
    every master, made here) through the permission-checked path, or as ``SYSTEM``; the
    ``Expire`` sweep always runs as ``SYSTEM``, as a host's scheduler would."""

    ADMIN: ClassVar[UserId] = UserId("ledger_admin")

    def __init__(self, app: Subacct, currency: str = "EUR", principal: Actor = ADMIN) -> None:
        self.app = app
        self.currency = currency
        self.principal = principal
        if principal == self.ADMIN and (
            app.members.find_user_by_login("ledger@admin.test", by=SYSTEM) is None
        ):
            app.members.create_user(
                "ledger@admin.test", "Ledger admin", user_id=self.ADMIN, by=SYSTEM
            )

    @classmethod
    def over(cls, store: Store, *, principal: Actor = ADMIN) -> ServiceLedger:
        app = Subacct(store, Settings(clock=FixedClock(T0), ids=SequentialIds()))
        return cls(app, principal=principal)

    def open_wallet(self, wallet: Wallet) -> Wallet:
        accounts = self.app.accounts
        if wallet.account_id not in accounts.tree(by=SYSTEM):
            if wallet.master_id is None:
                accounts.create_master(wallet.account_id, account_id=wallet.account_id, by=SYSTEM)
                if self.principal == self.ADMIN:
                    self.app.members.add(self.ADMIN, wallet.account_id, "parent_admin", by=SYSTEM)
            else:
                accounts.create_sub(
                    wallet.master_id, wallet.account_id, account_id=wallet.account_id, by=SYSTEM
                )
                if wallet.own_payment_method:  # a sub pays for itself by its billing profile
                    price = PackagePrice(1, Decimal(0), self.currency)
                    self.app.billing.set_profile(wallet.account_id, price, by=SYSTEM)
        return self.app.credits.open_wallet(wallet, by=self.principal, currency=self.currency)

    def execute(self, request: LedgerRequest) -> Receipt:
        # the sweep of due holds is the system's (a scheduler), whoever else acts
        who = SYSTEM if isinstance(request, Expire) else self.principal
        return self.app.credits.execute(request, by=who, currency=self.currency)

    def balances(self) -> dict[LedgerAccount, Money]:
        return self.app.credits.balances(by=SYSTEM, currency=self.currency)

    def balance_of(self, account: LedgerAccount) -> Money:
        return self.app.credits.balance(account, by=SYSTEM, currency=self.currency)

    def transfers(self) -> tuple[Transfer, ...]:
        return tuple(self.app.credits.transfers(by=SYSTEM, currency=self.currency))

    def reservations(self) -> tuple[Reservation, ...]:
        return tuple(self.app.credits.reservations(by=SYSTEM, currency=self.currency))

    def reservation(self, reservation_id: str) -> Reservation | None:
        return self.app.credits.reservation(reservation_id, by=SYSTEM, currency=self.currency)

    def wallet(self, account_id: AccountId) -> Wallet | None:
        return self.app.credits.wallet(account_id, by=SYSTEM, currency=self.currency)

    def wallets(self) -> tuple[Wallet, ...]:
        return tuple(self.app.credits.wallets(by=SYSTEM, currency=self.currency))

    def statement(self, account: LedgerAccount, *, start: datetime, end: datetime) -> Statement:
        return self.app.credits.statement(
            account, start=start, end=end, by=SYSTEM, currency=self.currency
        )


def run_ledger_machine(
    make_ledger: Callable[[], Any], *, max_examples: int = 10, steps: int = 25
) -> None:
    """Run ``LedgerMachine`` with ``make_ledger`` giving a fresh ledger per example."""

    class Machine(LedgerMachine):
        def make_ledger(self) -> Any:
            return make_ledger()

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
