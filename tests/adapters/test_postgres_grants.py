"""Credit grants on PostgreSQL, where plans come from a per-store cache: a wallet's first
grant marks it (``Wallet.has_grants``) in the plan that brings it, so another store that
planned from the unmarked wallet finds its plan stale and plans again with the book."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from subacct import SYSTEM, Distribute, FixedClock, Money, Settings, Spend, Subacct, TopUp, Wallet
from subacct.pricing.ledger import GrantCredit
from subacct.pricing.ledger.grants import book_balance
from subacct.runtime import UuidIds
from subacct.storage.collections import GRANT_BOOKS
from subacct.storage.postgres import PostgresStore
from subacct.testing.pgcluster import TempCluster

S = SYSTEM
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def usd(amount: object) -> Money:
    return Money(amount, "USD")  # type: ignore[arg-type]


def test_a_first_grant_reaches_a_store_that_cached_the_unmarked_wallet(
    pg_cluster: TempCluster, pg_schema: str
) -> None:
    one = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    two = PostgresStore(pg_cluster.conninfo(), schema=pg_schema)
    try:
        first, second = (
            Subacct(store, Settings(clock=FixedClock(T0), ids=UuidIds(), currency="USD"))
            for store in (one, two)
        )
        first.accounts.create_master("M", account_id="m", by=S)
        first.accounts.create_sub("m", "Sub", account_id="s", by=S)
        first.credits.open_wallet(Wallet("m"), by=S)
        first.credits.open_wallet(Wallet("s", master_id="m"), by=S)
        first.credits.execute(TopUp(account_id="m", amount=usd(20), key="t", at=T0), by=S)
        # the second store caches both wallets unmarked
        second.credits.execute(Distribute(sub_id="s", amount=usd(2), key="d1", at=T0), by=S)
        with one.unit_of_work(read_only=True) as uow:
            assert uow.records(GRANT_BOOKS).all() == []
        grant = GrantCredit(account_id="m", amount=usd(5), priority=1, key="g", at=T0)
        first.credits.execute(grant, by=S)
        # planned from the cache (unmarked): stale, planned again with the master's book
        second.credits.execute(Spend(account_id="m", amount=usd(6), key="s1", at=T0), by=S)
        second.credits.execute(Distribute(sub_id="s", amount=usd(1), key="d2", at=T0), by=S)
        with one.unit_of_work(read_only=True) as uow:
            books = {b.account_id: b for b in uow.records(GRANT_BOOKS).all()}
        assert set(books) == {"m"}  # the grant was used up: the sub got plain credit
        master = books["m"]
        assert [(g.id, g.spent.amount) for g in master.grants] == [("g", Decimal(5))]
        assert (master.plain, master.plain_spent) == (Decimal(16), Decimal(1))
        balance = first.credits.balance("wallet:m", by=S).amount
        assert book_balance(master) == balance == Decimal(16)
        assert {w.account_id: w.has_grants for w in second.credits.wallets(by=S)} == {
            "m": True,
            "s": False,
        }
    finally:
        one.close()
        two.close()
