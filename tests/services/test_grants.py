"""Credit grants over storage (``app.credits``): the spend order, holds, refunds,
distributions and expiry, plain credit (top-ups) after every grant, and wallets of plain
credit only keeping no book, on the memory and SQLite stores (the ``store`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from subacct import (
    SYSTEM,
    Commit,
    Distribute,
    Money,
    Reclaim,
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


def plain(app, account: str = "agencydemo") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A booked wallet's plain credit and what was spent of it."""
    book = stored_book(app.store, account)
    assert book is not None
    return (str(book.plain), str(book.plain_spent))


def marked(app, account: str) -> bool:  # type: ignore[no-untyped-def]
    return next(w for w in app.credits.wallets(by=S) if w.account_id == account).has_grants


def test_a_15_dollar_spend_takes_the_10_dollar_promotion_then_5_paid(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("promo", 10, priority=1, expires_at=jan(31)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(50), key="t1", at=jan(1)), by=S)
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(15), key="s1", at=jan(2)), by=S)
    assert parts(app) == [("promo", "0", "0", "10", "0")]
    assert plain(app) == ("45", "5")  # the top-up is plain credit, spent after every grant
    # a refund goes back in the reverse order: 5 plain, then 3 of the promotion
    app.credits.execute(Refund(account_id="agencydemo", amount=usd(8), key="r1", at=jan(3)), by=S)
    assert parts(app) == [("promo", "3", "0", "7", "0")]
    assert plain(app) == ("50", "0")
    # what is left of a promotion moves to the expiry account when it expires
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
    app.credits.execute(promo("least", 5, priority=100), by=S)
    order = [g.id for g in app.credits.grants("agencydemo", by=S)]
    assert order == ["first", "old", "soon", "late", "never", "least"]
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(12), key="s", at=jan(2)), by=S)
    assert [p[3] for p in parts(app)] == ["5", "5", "2", "0", "0", "0"]
    # plain credit (the top-up) comes after every grant, even one of priority 100
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(19), key="s2", at=jan(2)), by=S)
    assert [p[3] for p in parts(app)] == ["5", "5", "5", "5", "5", "5"]
    assert plain(app) == ("4", "1")


def test_an_expired_grant_is_never_spent(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("promo", 10, priority=1, expires_at=jan(5)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(4), key="t1", at=jan(1)), by=S)
    with pytest.raises(InsufficientCredit):  # the promotion expired first: 4 left
        app.credits.execute(
            Spend(account_id="agencydemo", amount=usd(6), key="s1", at=jan(5)), by=S
        )
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(14)  # refused: nothing moved
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(3), key="s2", at=jan(5)), by=S)
    assert parts(app) == [("promo", "0", "0", "0", "10")]
    assert plain(app) == ("1", "3")
    assert app.credits.balance("expired:agencydemo", by=S) == usd(10)


def test_a_held_part_stays_held_past_expiry_and_expires_when_released(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(promo("promo", 10, priority=1, expires_at=jan(5)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(20), key="t1", at=jan(1)), by=S)
    for rid in ("h1", "h2"):
        hold = Reserve(reservation_id=rid, account_id="agencydemo", amount=usd(6),
                       expires_at=jan(9), key=f"{rid}.reserve", at=jan(2))  # fmt: skip
        app.credits.execute(hold, by=S)
    assert parts(app) == [("promo", "0", "10", "0", "0")]
    assert plain(app) == ("18", "0")  # h2 holds 4 of the promotion and 2 plain
    assert app.credits.expire_grants(by=S, at=jan(6)) == []  # all of it is held
    capture = Commit(reservation_id="h1", amount=usd(4), key="h1.capture", at=jan(6))
    app.credits.execute(capture, by=S)  # spends 4 of the promotion, gives 2 back: expired
    assert parts(app) == [("promo", "0", "4", "4", "2")]
    app.credits.execute(Release(reservation_id="h2", key="h2.release", at=jan(6)), by=S)
    assert parts(app) == [("promo", "0", "0", "4", "6")]
    assert plain(app) == ("20", "0")
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
    ]
    assert plain(app, "agency1") == ("2", "0")  # and 2 of the master's plain credit
    assert marked(app, "agency1")
    app.credits.expire_grants(by=S, at=jan(5))
    assert app.credits.balance("expired:agency1", by=S) == usd(10)
    assert app.credits.balance("wallet:agency1", by=S) == usd(2)


def test_credit_into_debt_pays_the_debt_first(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.open_wallet(Wallet("agencydemo", overdraft_limit=usd(10)), by=S)
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(4), key="s1", at=jan(1)), by=S)
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(3), key="t1", at=jan(2)), by=S)
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(-1)
    assert parts(app) == []
    assert stored_book(app.store, "agencydemo") is None
    app.credits.execute(promo("promo", 10), by=S)  # a grant into debt: 1 pays it
    assert parts(app) == [("promo", "9", "0", "1", "0")]
    assert plain(app) == ("0", "0")
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(9)
    assert marked(app, "agencydemo")
    app.credits.open_wallet(Wallet("agencydemo", overdraft_limit=usd(5)), by=S)
    assert marked(app, "agencydemo")  # configuring a wallet keeps the ledger's mark


def test_plain_credit_only_keeps_no_book(app) -> None:  # type: ignore[no-untyped-def]
    """Top-ups, spends, distributions, reclaims, holds: plain credit, no grant book."""
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(50), key="t", at=jan(1)), by=S)
    give = Distribute(sub_id="agency1", amount=usd(20), key="give", at=jan(1))
    app.credits.execute(give, by=S)
    app.credits.execute(Spend(account_id="agency1", amount=usd(3), key="s", at=jan(2)), by=S)
    hold = Reserve(reservation_id="h", account_id="agency1", amount=usd(2), expires_at=jan(9),
                   key="h.reserve", at=jan(2))  # fmt: skip
    app.credits.execute(hold, by=S)
    app.credits.execute(Commit(reservation_id="h", amount=usd(1), key="h.capture", at=jan(2)), by=S)
    app.credits.execute(Refund(account_id="agency1", amount=usd(1), key="r", at=jan(3)), by=S)
    back = Reclaim(sub_id="agency1", amount=usd(1), key="back", at=jan(3))
    app.credits.execute(back, by=S)
    for account in ("agencydemo", "agency1"):
        assert stored_book(app.store, account) is None
        assert not marked(app, account)
        assert parts(app, account) == []
    assert app.credits.balance("wallet:agency1", by=S) == usd(16)
    # a master with a grant used up distributes plain credit: the sub keeps no book
    app.credits.execute(promo("promo", 5, priority=1), by=S)
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(6), key="s2", at=jan(3)), by=S)
    app.credits.execute(Distribute(sub_id="agency1", amount=usd(4), key="g2", at=jan(3)), by=S)
    assert marked(app, "agencydemo")
    assert not marked(app, "agency1")
    assert stored_book(app.store, "agency1") is None
    assert plain(app) == ("26", "1")


def test_credit_held_before_a_first_grant_is_plain(app) -> None:  # type: ignore[no-untyped-def]
    app.credits.execute(TopUp(account_id="agencydemo", amount=usd(5), key="t0", at=jan(1)), by=S)
    hold = Reserve(reservation_id="h", account_id="agencydemo", amount=usd(2), expires_at=jan(9),
                   key="h.reserve", at=jan(1))  # fmt: skip
    app.credits.execute(hold, by=S)
    app.credits.execute(promo("promo", 3), by=S)
    assert plain(app) == ("3", "0")  # the wallet's balance when the book was made
    app.credits.execute(Spend(account_id="agencydemo", amount=usd(4), key="s", at=jan(2)), by=S)
    assert parts(app) == [("promo", "0", "0", "3", "0")]
    assert plain(app) == ("2", "1")
    app.credits.execute(Release(reservation_id="h", key="h.release", at=jan(2)), by=S)
    assert plain(app) == ("4", "1")  # the hold held plain credit: it comes back as such
    assert app.credits.balance("wallet:agencydemo", by=S) == usd(4)


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
