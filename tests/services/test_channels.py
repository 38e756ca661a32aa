"""Host-defined channels and prices of several charges through ``app.billing`` and
``app.reports``: the catalog refuses the same channels everywhere, a record no charge
bills is refused when recorded, and invoices, comparisons and commissions are per charge."""

from __future__ import annotations

from datetime import timedelta

import pytest

from subacct import SYSTEM, FixedClock, Store, Subacct, UsageRecord
from subacct.errors import NoMatchingCharge, UnknownChannel
from subacct.pricing import (
    DEFAULT_CHANNELS,
    Charge,
    PriceList,
    Tier,
    TieredPrice,
    TierMode,
)
from subacct.pricing.reports import Grouping, UsageRow
from subacct.testing.conformance import store_state

from .conftest import T0, make_app
from .test_billing import JAN, SEED000_LADDER, month_over, usd


def per_message(*tiers: tuple[int | None, str]) -> TieredPrice:
    return TieredPrice(TierMode.GRADUATED, [Tier(up, unit) for up, unit in tiers], "USD")


PRICE = PriceList(
    [
        Charge("email", per_message((10_000, "0.001"), (None, "0.0005")), "email"),
        Charge("sms", per_message((1000, "0.05"), (None, "0.04")), "sms"),
        Charge("sms_de", per_message((None, "0.08")), "sms", {"country": "DE"}),
    ]
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 - timedelta(days=14))  # 2026-01-01


def agency(store: Store, clock: FixedClock, **settings: object) -> Subacct:
    app = make_app(store, clock=clock, **settings)
    app.accounts.create_master("Agency Demo", account_id="m", by=SYSTEM)
    app.accounts.create_sub("m", "Company X", account_id="s1", by=SYSTEM)
    return app


def worked_usage() -> list[UsageRecord]:
    de, fr, us = {"country": "DE"}, {"country": "FR"}, {"country": "US"}
    return [
        UsageRecord("m", JAN, "email", 9000, "m-1"),
        UsageRecord("m", JAN, "sms", 600, "m-2", dimensions=fr, owner_id="ann"),
        UsageRecord("m", JAN, "sms", 200, "m-3", dimensions=de),
        UsageRecord("s1", JAN, "email", 5300, "s-1"),
        UsageRecord("s1", JAN, "sms", 700, "s-2", dimensions=us),
        UsageRecord("s1", JAN, "sms", 300, "s-3", dimensions=de),
    ]


def test_usage_on_a_channel_outside_the_catalog_is_refused_and_changes_nothing(
    store: Store, clock: FixedClock
) -> None:
    app = agency(store, clock)
    app.billing.set_profile("m", SEED000_LADDER, by=SYSTEM)
    before = store_state(app.store)
    batch = [UsageRecord("m", JAN, "email", 5, "k1"), UsageRecord("m", JAN, "whatsapp", 1, "k2")]
    with pytest.raises(UnknownChannel) as refused:
        app.billing.record_usage(batch, by=SYSTEM)
    assert refused.value.field == "channel"
    assert refused.value.details["channel"] == "whatsapp"
    assert store_state(app.store) == before


def test_a_channel_the_host_defines_is_usable_in_usage_and_reports(
    store: Store, clock: FixedClock
) -> None:
    app = agency(store, clock, channels=DEFAULT_CHANNELS.with_channels("whatsapp"))
    app.billing.set_profile("m", SEED000_LADDER, by=SYSTEM)
    assert app.billing.record_usage([UsageRecord("m", JAN, "whatsapp", 9, "k")], by=SYSTEM) == 1
    rows = [UsageRow("m", "2026-01", "whatsapp", None, None, 9)]
    assert app.reports.usage_report("m", rows, Grouping.ACCOUNT, by=SYSTEM).total == 9
    with pytest.raises(UnknownChannel):  # reports use the same catalog as usage
        app.reports.usage_report(
            "m", [UsageRow("m", "2026-01", "voice", None, None, 1)], Grouping.ACCOUNT, by=SYSTEM
        )
    with pytest.raises(UnknownChannel):
        app.reports.export_csv(
            "m", [UsageRow("m", "2026-01", "voice", None, None, 1)], Grouping.ACCOUNT, by=SYSTEM
        )


def test_usage_no_charge_of_the_payers_price_bills_is_refused_when_recorded(
    store: Store, clock: FixedClock
) -> None:
    app = agency(store, clock)
    app.billing.set_profile("m", PRICE, by=SYSTEM)
    before = store_state(app.store)
    with pytest.raises(NoMatchingCharge) as refused:  # SMTP has no charge
        app.billing.record_usage(
            [UsageRecord("s1", JAN, "email", 5, "k1"), UsageRecord("s1", JAN, "smtp", 1, "k2")],
            by=SYSTEM,
        )
    assert refused.value.field == "channel"
    assert store_state(app.store) == before


def test_invoices_and_comparison_price_each_charge_on_its_pooled_volume(
    store: Store, clock: FixedClock
) -> None:
    app = agency(store, clock)
    app.billing.set_profile("m", PRICE, by=SYSTEM)
    assert app.billing.record_usage(worked_usage(), by=SYSTEM) == 6
    (invoice,) = app.billing.preview_invoices("m", JAN, by=SYSTEM)
    assert invoice.total == usd("114.15")
    assert [(line.account_id, str(line.amount)) for line in invoice.lines] == [
        ("m", "7.65 USD"),
        ("m", "28.62 USD"),
        ("m", "16.00 USD"),
        ("s1", "4.50 USD"),
        ("s1", "33.38 USD"),
        ("s1", "24.00 USD"),
    ]
    comparison = app.billing.compare("m", JAN, by=SYSTEM)
    assert comparison.standalone_total == usd("119.30")
    assert comparison.pooled_total == usd("114.15")
    assert [name for name, _ in comparison.by_charge] == ["email", "sms", "sms_de"]
    stored = app.billing.usage_book(JAN, by=SYSTEM)
    assert {r.idempotency_key: r.owner_id for r in stored.records()}["m-2"] == "ann"


def test_seed000_still_90_not_120_when_every_channel_shares_one_charge(
    store: Store, clock: FixedClock
) -> None:
    app = agency(store, clock)
    app.accounts.create_sub("m", "Company Y", account_id="s2", by=SYSTEM)
    app.billing.set_profile("m", PriceList([Charge("messages", SEED000_LADDER)]), by=SYSTEM)
    app.billing.record_usage(
        [
            UsageRecord("m", JAN, "email", 9000, "m-1"),
            UsageRecord("s1", JAN, "smtp", 5300, "x-1"),
            UsageRecord("s2", JAN, "sms", 1700, "y-1", dimensions={"country": "DE"}),
        ],
        by=SYSTEM,
    )
    comparison = app.billing.compare("m", JAN, by=SYSTEM)
    assert comparison.standalone_total == usd(120)
    assert comparison.pooled_total == usd(90)
    assert app.billing.preview_invoices("m", JAN, by=SYSTEM)[0].total == usd(90)


def test_commission_on_a_client_priced_by_charges_is_on_every_charge(
    store: Store, clock: FixedClock
) -> None:
    app = agency(store, clock)
    app.billing.set_profile("m", SEED000_LADDER, commission_rate="0.25", by=SYSTEM)
    app.accounts.create_master("Client Co", account_id="client", by=SYSTEM)
    app.links.accept(
        app.links.request("m", "Client Co", client_id="client", by=SYSTEM)[1], by=SYSTEM
    )
    app.billing.set_profile("client", PRICE, by=SYSTEM)
    app.billing.record_usage(
        [
            UsageRecord("client", JAN, "email", 12_000, "c-1"),  # 10.00 + 1.00
            UsageRecord("client", JAN, "sms", 100, "c-2", dimensions={"country": "DE"}),  # 8.00
        ],
        by=SYSTEM,
    )
    month_over(clock, JAN)
    invoice = app.billing.finalize_invoice("client", JAN, by=SYSTEM)
    assert invoice.total == usd("19.00")  # the unused SMS charge costs nothing
    assert app.billing.commission_statement("m", JAN, by=SYSTEM).total == usd("4.75")
