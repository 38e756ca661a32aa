"""Credit grants over storage (``app.credits``): the spend order, holds, refunds,
distributions and expiry, on the memory and SQLite stores (the ``store`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from subacct import (
    SYSTEM,
    Commit,
    Distribute,
    Money,
    Refund,
    Release,
    Reserve,
    Spend,
    Store,
    TopUp,
    Wallet,
)
from subacct.errors import (
    ActionDenied,
    IdempotencyConflict,
    InsufficientCredit,
    InvalidInput,
    PaymentMethodRequired,
)
from subacct.pricing.ledger import CreditGrant, ExpireGrant, GrantBook, GrantCredit, GrantKind
from subacct.pricing.ledger.grants import book_balance
from subacct.storage.collections import GRANT_BOOKS

from .conftest import make_app, seed_agency

S = SYSTEM


def jan(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def usd(amount: object) -> Money:
    return Money(amount, "USD")  # type: ignore[arg-type]


def promo(key: str, amount: object, *, account: str = "agencydemo", **kw: object) -> GrantCredit:
    return GrantCredit(account_id=account, amount=usd(amount), key=key, at=jan(1), **kw)  # type: ignore[arg-type]


@pytest.fixture
def app(store: Store):  # type: ignore[no-untyped-def]
    app = seed_agency(make_app(store, currency="USD"))
    for wallet in (Wallet("agencydemo"), Wallet("agency1", master_id="agencydemo")):
        app.credits.open_wallet(wallet, by=S)
    return app


def parts(app, account: str = "agencydemo") -> list[tuple[str, str, str, str, str]]:  # type: ignore[no-untyped-def]
    return [
        (g.id, str(g.remaining.amount), str(g.held.amount), str(g.spent.amount),
         str(g.expired.amount))
        for g in app.credits.grants(account, by=S)
    ]  # fmt: skip


def test_a_15_dollar_spend_takes_the_10_dollar_promotion_then_5_paid(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("promo", 10, priority=1, expires_at=jan(31)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(50), key="t1", at=jan(1)), by=S)
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(15), key="s1", at=jan(2)), by=S)
    assert parts(app) == [("promo", "0", "0", "10", "0"), ("t1", "45", "0", "5", "0")]
    # what is left of a promotion moves to the expiry account when it expires
    app.credits.execute(Refund(account_id="agencydemo", amount=usd(8), key="r1", at=jan(3)), by=S)
    assert parts(app) == [("promo", "3", "0", "7", "0"), ("t1", "50", "0", "0", "0")]
    expired = app.credits.expire_grants(by=S, at=jan(31))
    assert [(g.id, g.expired) for g in expired] == [("promo", usd(3))]
    assert app.credits.expire_grants(by=S, at=jan(31)) == []
    assert app.credits.balance("expired:agencydemo", by=S) == usd(3)
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(50)
    assert app.credits.balance("promotions:agencydemo", by=S) == usd(-10)
    assert app.credits.balance("external:agencydemo", by=S) == usd(-50)


def test_the_order_is_priority_then_soonest_expiry_then_oldest(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("late", 5, expires_at=jan(30)), by=S)
    app.credits.execute(promo("never", 5), by=S)
    app.credits.execute(promo("soon", 5, expires_at=jan(10)), by=S)
    app.credits.execute(promo("old", 5, priority=7), by=S)
    app.credits.execute(promo("first", 5, priority=7, expires_at=jan(20)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(5), key="paid", at=jan(1)), by=S)
    order = [g.id for g in app.credits.grants("agencydemo", by=S)]
    assert order == ["first", "old", "soon", "late", "never", "paid"]
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(12), key="s", at=jan(2)), by=S)
    assert [p[3] for p in parts(app)] == ["5", "5", "2", "0", "0", "0"]


def test_an_expired_grant_is_never_spent(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("promo", 10, priority=1, expires_at=jan(5)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(4), key="t1", at=jan(1)), by=S)
    with pytest.raises(InsufficientCredit):  # the promotion expired first: 4 left
        app.credits.execute(
            Spend(account_id="agencydemo", amount=usd(6), key="s1", at=jan(5)), by=S
        )
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(14)  # refused: nothing moved
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(3), key="s2", at=jan(5)), by=S)
    assert parts(app) == [("promo", "0", "0", "0", "10"), ("t1", "1", "0", "3", "0")]
    assert app.credits.balance("expired:agencydemo", by=S) == usd(10)


def test_a_held_part_stays_held_past_expiry_and_expires_when_released(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("promo", 10, priority=1, expires_at=jan(5)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(20), key="t1", at=jan(1)), by=S)
    for rid in ("h1", "h2"):
        hold = Reserve(reservation_id=rid, account_id="agencydemo", amount=usd(6),
                       expires_at=jan(9), key=f"{rid}.reserve", at=jan(2))  # fmt: skip
        app.credits.execute(hold, by=S)
    assert parts(app) == [("promo", "0", "10", "0", "0"), ("t1", "18", "2", "0", "0")]
    assert app.credits.expire_grants(by=S, at=jan(6)) == []  # all of it is held
    capture = Commit(reservation_id="h1", amount=usd(4), key="h1.capture", at=jan(6))
    app.credits.execute(capture, by=S)  # spends 4 of the promotion, gives 2 back: expired
    assert parts(app) == [("promo", "0", "4", "4", "2"), ("t1", "18", "2", "0", "0")]
    app.credits.execute(Release(reservation_id="h2", key="h2.release", at=jan(6)), by=S)
    assert parts(app) == [("promo", "0", "0", "4", "6"), ("t1", "20", "0", "0", "0")]
    assert app.credits.balance("expired:agencydemo", by=S) == usd(6)
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(20)


def test_a_distribution_carries_its_grants_into_the_sub(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("promo", 10, priority=1, expires_at=jan(5)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(20), key="t1", at=jan(1)), by=S)
    give = Distribute(sub_id="agency1", amount=usd(12), key="give", at=jan(2))
    app.credits.execute(give, by=S)
    sub = app.credits.grants("agency1", by=S)
    assert [(g.id, g.origin_id, g.kind, g.remaining) for g in sub] == [
        ("promo", "agencydemo", GrantKind.PROMOTIONAL, usd(10)),
        ("t1", "agencydemo", GrantKind.PAID, usd(2)),
    ]
    app.credits.expire_grants(by=S, at=jan(5))
    assert app.credits.balance("expired:agency1", by=S) == usd(10)
    assert app.credits.balance("wallet:agency1", by=S) == usd(2)


def test_a_top_up_into_debt_pays_the_debt_first(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.open_wallet(Wallet("agencydemo", overdraft_limit=usd(10)), by=S)
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(4), key="s1", at=jan(1)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(10), key="t1", at=jan(2)), by=S)
    assert parts(app) == [("t1", "6", "0", "4", "0")]
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(6)


def test_credit_held_before_grants_is_spent_after_every_grant(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(5), key="t0", at=jan(1)), by=S)
    with app.store.unit_of_work() as uow:  # a wallet from before schema version 17
        uow.records(GRANT_BOOKS).remove("agencydemo/USD")
        uow.commit()
    app.credits.execute(promo("promo", 3), by=S)
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(4), key="s", at=jan(2)), by=S)
    assert parts(app) == [("promo", "0", "0", "3", "0")]
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(4)  # 4 in no grant


def test_who_may_grant_and_read(app) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ActionDenied) as denied:  # promotional credit is the platform's
        app.credits.execute(promo("p", 5), by="owner")
    assert denied.value.reason == "platform_only"
    paid = promo("bought", 5, kind=GrantKind.PAID, priority=10)
    app.credits.execute(paid, by="owner")  # a paid grant is a top-up: credits.top_up
    assert [g.id for g in app.credits.grants("agencydemo", by="owner")] == ["bought"]
    with pytest.raises(PaymentMethodRequired):  # a sub funded by its master
        app.credits.execute(promo("sub", 5, account="agency1", kind=GrantKind.PAID), by=S)
    with pytest.raises(ActionDenied):  # billing.view
        app.credits.grants("agencydemo", by="sam")
    with pytest.raises(ActionDenied) as swept:
        app.credits.expire_grants(by="owner")
    assert swept.value.reason == "platform_only"
    expire = ExpireGrant(account_id="agencydemo", origin_id="agencydemo", grant_id="bought",
                         amount=usd(5), key="x", at=jan(1))  # fmt: skip
    with pytest.raises(InvalidInput):  # made by expire_grants, never asked for
        app.credits.execute(expire, by=S)  # type: ignore[arg-type]


def test_bad_grants_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as bad:
        GrantCredit(account_id="a", amount=usd(1), priority=101, key="k", at=jan(1))
    assert bad.value.details["field"] == "priority"
    with pytest.raises(InvalidInput) as late:
        GrantCredit(account_id="a", amount=usd(1), expires_at=jan(1), key="k", at=jan(1))
    assert late.value.details["field"] == "expires_at"


def test_a_retried_grant_is_made_once(app) -> None:  # type: ignore[no-untyped-def]
    first = app.credits.execute(promo("p", 5, expires_at=jan(9)), by=S)
    again = app.credits.execute(promo("p", 5, expires_at=jan(9)), by=S)
    assert again.replayed
    assert not first.replayed
    assert [g.id for g in app.credits.grants("agencydemo", by=S)] == ["p"]
    with pytest.raises(IdempotencyConflict):
        app.credits.execute(promo("p", 5, expires_at=jan(10)), by=S)


def test_the_book_accounts_for_the_balance(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("p", 5, priority=1), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(7), key="t", at=jan(1)), by=S)
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(6), key="s", at=jan(1)), by=S)

    book = stored_book(app.store, "agencydemo")
    assert book is not None
    assert isinstance(book.grants[0], CreditGrant)
    assert book_balance(book) == app.credits.balance("wallet:agencydemo", by=S).amount


def stored_book(store: Store, account: str) -> GrantBook | None:
    with store.unit_of_work(read_only=True) as uow:
        return uow.records(GRANT_BOOKS).find(f"{account}/USD")
