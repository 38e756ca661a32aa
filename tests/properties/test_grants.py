"""Credit grants as a state machine over ``app.credits`` (memory store): grants, top-ups,
spends, refunds, holds, captures, releases, distributions, expiry sweeps and a clock
that moves. After every step: double entry holds (every ledger account sums to zero),
each wallet's balance is its grants' remainders plus its plain credit, no part of a
grant is below zero, a wallet keeps a book exactly when it is marked ``has_grants``,
and each spend took its credit in the spend order (plain credit after every grant)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.services.conftest import make_app

from subacct import (
    SYSTEM,
    Commit,
    Distribute,
    FixedClock,
    MemoryStore,
    Money,
    Refund,
    Release,
    Reserve,
    Spend,
    TopUp,
    Wallet,
)
from subacct.errors import InsufficientCredit, RefundExceedsSpent
from subacct.pricing.ledger import GrantCredit, GrantKind, spend_order
from subacct.pricing.ledger.grants import book_balance
from subacct.storage.collections import GRANT_BOOKS

S = SYSTEM
T0 = datetime(2026, 1, 1, tzinfo=UTC)
WALLETS = ("m", "s")
amounts = st.integers(1, 40).map(lambda n: Money(Decimal(n) / 4, "USD"))


class Grants(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.store = MemoryStore()
        self.app = make_app(self.store, clock=FixedClock(T0), currency="USD")
        self.app.accounts.create_master("M", account_id="m", by=S)
        self.app.accounts.create_sub("m", "S", account_id="s", by=S)
        self.app.credits.open_wallet(Wallet("m"), by=S)
        self.app.credits.open_wallet(Wallet("s", master_id="m"), by=S)
        self.n = 0
        self.open: list[str] = []

    def key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def run(self, request: object) -> None:
        with contextlib.suppress(InsufficientCredit, RefundExceedsSpent):
            self.app.credits.execute(request, by=S)  # type: ignore[arg-type]

    @rule(
        account=st.sampled_from(WALLETS),
        amount=amounts,
        priority=st.sampled_from([0, 1, 2, 3, 100]),
        days=st.none() | st.integers(1, 6),
        paid=st.booleans(),
    )
    def grant(
        self, account: str, amount: Money, priority: int, days: int | None, paid: bool
    ) -> None:
        kind = GrantKind.PAID if paid and account == "m" else GrantKind.PROMOTIONAL
        expires = None if days is None else self.now + timedelta(days=days)
        self.run(GrantCredit(account_id=account, amount=amount, kind=kind, priority=priority,
                             expires_at=expires, key=self.key(), at=self.now))  # fmt: skip

    @rule(amount=amounts)
    def top_up(self, amount: Money) -> None:
        self.run(TopUp(account_id="m", amount=amount, key=self.key(), at=self.now))

    @rule(account=st.sampled_from(WALLETS), amount=amounts)
    def spend(self, account: str, amount: Money) -> None:
        before = self.grants(account)
        order = [g.ref for g in spend_order(before.values(), self.now)]
        plain_before = self.plain(account)
        self.run(Spend(account_id=account, amount=amount, key=self.key(), at=self.now))
        after = self.grants(account)
        # the spend order: a grant is drawn only once every one before it is used up
        drawn = [r for r in order if after[r].spent.amount > before[r].spent.amount]
        if drawn:
            last = order.index(drawn[-1])
            assert all(after[r].remaining.amount == 0 for r in order[:last])
        if self.plain(account) < plain_before:  # plain credit last: every grant used up
            assert all(after[r].remaining.amount == 0 for r in order)

    def plain(self, account: str) -> Decimal:
        """The wallet's plain credit: its book's, or all of it without a book."""
        with self.store.unit_of_work(read_only=True) as uow:
            book = uow.records(GRANT_BOOKS).find(f"{account}/USD")
        if book is not None:
            return Decimal(book.plain)
        return self.app.credits.balance(f"wallet:{account}", by=S).amount

    @rule(account=st.sampled_from(WALLETS), amount=amounts)
    def refund(self, account: str, amount: Money) -> None:
        self.run(Refund(account_id=account, amount=amount, key=self.key(), at=self.now))

    @rule(account=st.sampled_from(WALLETS), amount=amounts)
    def distribute_or_reclaim(self, account: str, amount: Money) -> None:
        self.run(Distribute(sub_id="s", amount=amount, key=self.key(), at=self.now))

    @rule(account=st.sampled_from(WALLETS), amount=amounts)
    def hold(self, account: str, amount: Money) -> None:
        rid = f"r{self.n}"
        before = len(self.app.credits.reservations(by=S))
        self.run(Reserve(reservation_id=rid, account_id=account, amount=amount,
                         expires_at=self.now + timedelta(days=30), key=self.key(),
                         at=self.now))  # fmt: skip
        if len(self.app.credits.reservations(by=S)) > before:
            self.open.append(rid)

    @precondition(lambda self: self.open)
    @rule(data=st.data(), amount=st.integers(0, 50).map(lambda n: Money(Decimal(n) / 4, "USD")))
    def capture(self, data: st.DataObject, amount: Money) -> None:
        rid = data.draw(st.sampled_from(self.open))
        self.open.remove(rid)
        self.run(Commit(reservation_id=rid, amount=amount, key=self.key(), at=self.now))

    @precondition(lambda self: self.open)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(self.open))
        self.open.remove(rid)
        self.run(Release(reservation_id=rid, key=self.key(), at=self.now))

    @rule(days=st.integers(1, 3))
    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def expire(self) -> None:
        self.app.credits.expire_grants(by=S, at=self.now)
        for book in self.books():  # idempotent: nothing is left to expire
            assert not [g for g in book.grants if g.remaining.amount and not g.is_live(self.now)]
        assert self.app.credits.expire_grants(by=S, at=self.now) == []

    def books(self) -> list:  # type: ignore[type-arg]
        with self.store.unit_of_work(read_only=True) as uow:
            return uow.records(GRANT_BOOKS).all()

    def grants(self, account: str) -> dict:  # type: ignore[type-arg]
        return {g.ref: g for g in self.app.credits.grants(account, by=S)}

    @invariant()
    def double_entry_holds(self) -> None:
        assert sum(m.amount for m in self.app.credits.balances(by=S).values()) == 0

    @invariant()
    def a_wallet_keeps_a_book_when_marked(self) -> None:
        booked = {b.account_id for b in self.books()}
        marked = {w.account_id for w in self.app.credits.wallets(by=S) if w.has_grants}
        assert booked == marked

    @invariant()
    def the_grants_account_for_every_wallet(self) -> None:
        for book in self.books():
            wallet = self.app.credits.balance(f"wallet:{book.account_id}", by=S)
            assert book_balance(book) == wallet.amount
            for g in book.grants:
                assert min(g.remaining.amount, g.held.amount, g.spent.amount, g.expired.amount) >= 0
            held = sum((p.amount for h in book.holds for p in h.parts if p.grant_id), Decimal(0))
            assert held == sum((g.held.amount for g in book.grants), Decimal(0))


Grants.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestGrants = Grants.TestCase


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    priorities=st.lists(st.tuples(st.integers(0, 2), st.none() | st.integers(1, 5)), min_size=1,
                        max_size=5),
    spend=st.integers(1, 30),
)  # fmt: skip
def test_the_grants_account_for_every_wallet(
    priorities: list[tuple[int, int | None]], spend: int
) -> None:
    """Any grants, one spend: it takes them greedily in the spend order, and the book
    accounts for the wallet."""
    app = make_app(MemoryStore(), clock=FixedClock(T0), currency="USD")
    app.accounts.create_master("M", account_id="m", by=S)
    app.credits.open_wallet(Wallet("m"), by=S)
    for n, (priority, days) in enumerate(priorities):
        expires = None if days is None else T0 + timedelta(days=days)
        app.credits.execute(GrantCredit(account_id="m", amount=Money(5, "USD"), priority=priority,
                                        expires_at=expires, key=f"g{n}", at=T0), by=S)  # fmt: skip
    left = Decimal(min(spend, 5 * len(priorities)))
    app.credits.execute(Spend(account_id="m", amount=Money(left, "USD"), key="s", at=T0), by=S)
    for g in app.credits.grants("m", by=S):  # in the spend order
        take = min(left, Decimal(5))
        assert g.spent.amount == take
        left -= take
    assert sum(m.amount for m in app.credits.balances(by=S).values()) == 0
