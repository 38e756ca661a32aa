"""One notion of paying for itself (issue 15, item 7; seed 003): a sub-account with its
own billing profile gets its own invoice, may top up its own wallet and its prepaid sends
are charged from it; a pooled sub cannot top up, with a typed error naming why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.services.conftest import T0, make_app, seed_agency

from subacct import (
    SYSTEM,
    BillingPeriod,
    FixedClock,
    Money,
    Store,
    Subacct,
    Tier,
    TieredPrice,
    TierMode,
    TopUp,
    UsageRecord,
    Wallet,
)
from subacct.errors import PaymentMethodRequired

JAN = BillingPeriod(2026, 1)
AT = T0 + timedelta(days=1)
SMS = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.075")], "EUR")


def eur(amount: object) -> Money:
    return Money(amount, "EUR")  # type: ignore[arg-type]


def app_of(store: Store) -> Subacct:
    app = seed_agency(make_app(store, clock=FixedClock(AT), currency="EUR"))
    app.billing.set_profile("agencydemo", SMS, by=SYSTEM)
    app.credits.open_wallet(Wallet("agencydemo"), by=SYSTEM)
    return app


def top_up(app: Subacct, account: str, key: str) -> object:
    request = TopUp(account_id=account, amount=eur(20), key=key, at=AT)
    return app.credits.execute(request, by=SYSTEM)


def test_seed003_a_sub_with_its_own_profile_tops_up_and_is_invoiced_on_its_own(
    store: Store,
) -> None:
    app = app_of(store)
    app.billing.set_profile("agency1", SMS, prepaid=True, by=SYSTEM)  # its payment details
    wallet = app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by=SYSTEM)
    assert wallet.own_payment_method  # derived from its billing profile
    top_up(app, "agency1", "own-1")
    hold = app.sending.authorize("agency1", "sms", 100, key="s", by=SYSTEM)
    assert hold.payer_id == "agency1"
    app.sending.capture(hold, 100, by=SYSTEM)
    assert app.credits.balance("wallet:agency1", by=SYSTEM) == eur("12.5")  # its own credit
    assert app.credits.balance("wallet:agencydemo", by=SYSTEM) == eur(0)
    app.billing.record_usage([UsageRecord("agency2", JAN, "sms", 40, "p")], by=SYSTEM)
    invoices = {i.payer_id: i for i in app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)}
    assert set(invoices) == {"agencydemo", "agency1"}
    assert [line.account_id for line in invoices["agency1"].lines] == ["agency1"]
    assert "agency1" not in [line.account_id for line in invoices["agencydemo"].lines]


def test_a_pooled_sub_cannot_top_up_and_is_told_why(store: Store) -> None:
    app = app_of(store)
    wallet = app.credits.open_wallet(Wallet("agency2", master_id="agencydemo"), by=SYSTEM)
    assert not wallet.own_payment_method
    with pytest.raises(PaymentMethodRequired) as refused:
        top_up(app, "agency2", "t")
    details = refused.value.details
    assert (refused.value.code, details["reason"], details["payer_id"]) == (
        "payment_method_required",
        "pooled",
        "agencydemo",
    )
    asks = Wallet("agency1", master_id="agencydemo", own_payment_method=True)
    with pytest.raises(PaymentMethodRequired):  # no second flag: the profile decides
        app.credits.open_wallet(asks, by=SYSTEM)
    assert app.credits.wallet("agency1", by=SYSTEM) is None


def test_the_billing_profile_decides_when_it_changes(store: Store) -> None:
    app = app_of(store)
    app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by=SYSTEM)
    with pytest.raises(PaymentMethodRequired):
        top_up(app, "agency1", "before")
    app.billing.set_profile("agency1", SMS, by=SYSTEM)  # now it pays for itself
    top_up(app, "agency1", "after")
    assert app.credits.wallet("agency1", by=SYSTEM).own_payment_method  # type: ignore[union-attr]
    app.billing.remove_profile("agency1", by=SYSTEM)  # pooled again
    with pytest.raises(PaymentMethodRequired):
        top_up(app, "agency1", "pooled-again")
    assert top_up(app, "agency1", "after").replayed  # type: ignore[attr-defined]
    assert not app.credits.wallet("agency1", by=SYSTEM).own_payment_method  # type: ignore[union-attr]
