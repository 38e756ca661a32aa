"""Channels, their catalog and prices made of charges (``subacct.pricing.charges``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subacct.errors import InvalidInput, InvalidPricing, NoMatchingCharge, UnknownChannel
from subacct.pricing import (
    ALL_CHARGE,
    DEFAULT_CHANNELS,
    BillingStructure,
    Channel,
    ChannelCatalog,
    Charge,
    Commitment,
    Dimensions,
    LineKind,
    Payer,
    PriceList,
    Tier,
    TieredPrice,
    TierMode,
    UsageBook,
    UsageRecord,
    build_invoices,
    charge_for,
    compare,
    compare_charges,
)
from subacct.pricing.charges import charge_volumes
from subacct.pricing.usage import UsageSlice, slice_totals
from subacct.testing.pricing_strategies import price_lists, subadditive_ladders, usage_records

from .pricing_helpers import JAN, seed000_ladder, usd


def per_message(*tiers: tuple[int | None, str]) -> TieredPrice:
    return TieredPrice(TierMode.GRADUATED, [Tier(up, unit) for up, unit in tiers], "USD")


def worked_price() -> PriceList:
    """SMS and email cost differently; SMS to DE differs from SMS elsewhere."""
    return PriceList(
        [
            Charge("email", per_message((10_000, "0.001"), (None, "0.0005")), "email"),
            Charge("sms", per_message((1000, "0.05"), (None, "0.04")), "sms"),
            Charge("sms_de", per_message((None, "0.08")), "sms", {"country": "DE"}),
        ]
    )


def part(channel: str, **dims: str) -> UsageSlice:
    return (Channel(channel), Dimensions(dims))


WORKED_USAGE = {
    "m": {part("email"): 9000, part("sms", country="FR"): 600, part("sms", country="DE"): 200},
    "s1": {part("email"): 5300, part("sms", country="US"): 700, part("sms", country="DE"): 300},
}


# -- the catalog ------------------------------------------------------------------------


def test_default_catalog_is_email_smtp_and_sms_and_hosts_add_their_own() -> None:
    assert list(DEFAULT_CHANNELS) == ["email", "smtp", "sms"]
    catalog = DEFAULT_CHANNELS.with_channels("whatsapp", "voice")
    assert catalog.require("whatsapp") == Channel("whatsapp")
    assert len(catalog) == 5
    with pytest.raises(UnknownChannel) as refused:
        DEFAULT_CHANNELS.require("whatsapp")
    assert refused.value.field == "channel"
    assert refused.value.details["channel"] == "whatsapp"
    assert refused.value.code == "unknown_channel"


@pytest.mark.parametrize("bad", ["", "SMS", "sms!", "1sms", "x" * 33, 3, None])
def test_a_channel_name_has_a_shape(bad: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        Channel(bad)
    assert refused.value.field == "channel"
    assert not isinstance(refused.value, UnknownChannel)


def test_a_catalog_lists_each_channel_once() -> None:
    with pytest.raises(InvalidInput):
        ChannelCatalog(["sms", "sms"])
    with pytest.raises(InvalidInput):
        ChannelCatalog("sms")


# -- choosing a charge ------------------------------------------------------------------


def test_the_most_specific_matching_charge_bills_a_record() -> None:
    price = PriceList(
        [
            Charge("any", per_message((None, "0.01"))),
            Charge("sms", per_message((None, "0.05")), "sms"),
            Charge("email_de", per_message((None, "0.06")), "email", {"country": "DE"}),
            Charge("sms_de_premium", per_message((None, "0.09")), "sms",
                   {"country": "DE", "route": "premium"}),
        ]
    )  # fmt: skip
    assert charge_for(price, "sms", {})[0] == "sms"
    assert charge_for(price, "email", {"country": "DE"})[0] == "email_de"
    assert charge_for(price, "email", {"country": "FR"})[0] == "any"
    assert charge_for(price, "sms", {"country": "FR", "route": "premium"})[0] == "sms"
    assert charge_for(price, "sms", {"country": "DE", "route": "premium"})[0] == "sms_de_premium"
    assert charge_for(price, "whatsapp", {})[0] == "any"
    name, model = charge_for(price, "sms", {"country": "DE", "route": "premium", "x": "y"})
    assert name == "sms_de_premium"
    assert model.amount(10) == Decimal("0.90")


def test_charges_a_record_could_both_match_need_different_specificity() -> None:
    with pytest.raises(InvalidPricing) as tie:
        PriceList(
            [
                Charge("sms", per_message((None, "0.05")), "sms"),
                Charge("de", per_message((None, "0.06")), None, {"country": "DE"}),
            ]
        )  # an SMS to DE matches both, each on one condition
    assert tie.value.details["reason"] == "ambiguous_charges"
    # disjoint charges of one specificity are fine
    PriceList(
        [
            Charge("sms_de", per_message((None, "0.05")), "sms", {"country": "DE"}),
            Charge("sms_fr", per_message((None, "0.06")), "sms", {"country": "FR"}),
            Charge("email_de", per_message((None, "0.06")), "email", {"country": "DE"}),
        ]
    )


def test_a_record_no_charge_bills_is_refused() -> None:
    price = PriceList([Charge("sms_de", per_message((None, "0.05")), "sms", {"country": "DE"})])
    for channel, dims in [("sms", {}), ("sms", {"country": "FR"}), ("email", {"country": "DE"})]:
        with pytest.raises(NoMatchingCharge) as refused:
            charge_for(price, channel, dims)
        assert refused.value.field == "channel"
        assert refused.value.code == "no_matching_charge"


def test_a_single_model_is_one_charge_for_every_channel() -> None:
    ladder = seed000_ladder()
    assert charge_for(ladder, "whatsapp", {"country": "DE"}) == (ALL_CHARGE, ladder)
    assert charge_volumes(ladder, {part("sms"): 3, part("email"): 4}) == {ALL_CHARGE: 7}


@pytest.mark.parametrize(
    "build",
    [
        lambda: PriceList([]),
        lambda: PriceList([Charge("a", seed000_ladder()), Charge("a", seed000_ladder(), "sms")]),
        lambda: PriceList(
            [
                Charge("usd", seed000_ladder(), "email"),
                Charge("eur", TieredPrice(TierMode.VOLUME, [Tier(None, "1")], "EUR"), "sms"),
            ]
        ),
        lambda: PriceList(["not a charge"]),  # type: ignore[list-item]
        lambda: Charge("", seed000_ladder()),
        lambda: Charge("x", "ladder"),  # type: ignore[arg-type]
        lambda: Charge("x", seed000_ladder(), "SMS"),
    ],
)
def test_malformed_prices_are_refused(build: object) -> None:
    with pytest.raises(InvalidInput):
        build()  # type: ignore[operator]


def test_a_price_of_charges_takes_no_commitment() -> None:
    with pytest.raises(InvalidInput) as refused:
        Payer("m", worked_price(), Commitment(5000))
    assert refused.value.field == "commitment"


# -- seed 000, with all channels on one charge ------------------------------------------


def test_seed000_pooled_bill_is_90_not_120_when_all_channels_share_one_charge() -> None:
    volumes = {"agencydemo": 9000, "agency1": 5300, "agency2": 1700}
    mixed = {
        "agencydemo": {part("email"): 5000, part("smtp"): 4000},
        "agency1": {part("sms", country="DE"): 5300},
        "agency2": {part("email"): 1700},
    }
    for price in (seed000_ladder(), PriceList([Charge("messages", seed000_ladder())])):
        c = compare_charges(price, mixed)
        assert c.standalone_total == usd(120)
        assert c.pooled_total == usd(90)
        assert c.saving == usd(30)
        assert dict(c.volumes) == volumes
        structure = BillingStructure.pooled("agencydemo", ["agency1", "agency2"], price)
        (invoice,) = build_invoices(structure, volumes, JAN, slices=mixed)
        assert invoice.total == usd(90)
        assert [str(line.amount) for line in invoice.lines] == [
            "50.63 USD",
            "29.81 USD",
            "9.56 USD",
        ]
    assert compare(seed000_ladder(), volumes).pooled_total == usd(90)


# -- a worked example: SMS and email priced apart, SMS to DE apart ----------------------


def test_worked_example_each_charge_is_pooled_on_its_own_volume() -> None:
    c = compare_charges(worked_price(), WORKED_USAGE)
    by_charge = {name: each for name, each in c.by_charge}
    # email: 9.00 + 5.30 standalone; pooled 14,300 = 10,000 at 0.001 + 4,300 at 0.0005
    assert by_charge["email"].standalone_total == usd("14.30")
    assert by_charge["email"].pooled_total == usd("12.15")
    # SMS outside DE: 600 and 700 at 0.05; pooled 1,300 = 1,000 at 0.05 + 300 at 0.04
    assert by_charge["sms"].standalone_total == usd("65.00")
    assert by_charge["sms"].pooled_total == usd("62.00")
    # SMS to DE: 0.08 each, pooled or not
    assert by_charge["sms_de"].standalone_total == usd("40.00")
    assert by_charge["sms_de"].pooled_total == usd("40.00")
    assert c.standalone_total == usd("119.30")
    assert c.pooled_total == usd("114.15")
    assert dict(c.standalone) == {"m": usd("55.00"), "s1": usd("64.30")}
    assert dict(c.volumes) == {"m": 9800, "s1": 6300}


def test_worked_example_invoice_has_a_line_per_account_and_charge() -> None:
    structure = BillingStructure.pooled("m", ["s1"], worked_price())
    totals = {a: sum(p.values()) for a, p in WORKED_USAGE.items()}
    (invoice,) = build_invoices(structure, totals, JAN, slices=WORKED_USAGE)
    got = [(line.account_id, line.description.split(":")[0], line.quantity, str(line.amount))
           for line in invoice.lines]  # fmt: skip
    assert got == [
        ("m", "email", 9000, "7.65 USD"),
        ("m", "sms", 600, "28.62 USD"),
        ("m", "sms_de", 200, "16.00 USD"),
        ("s1", "email", 5300, "4.50 USD"),
        ("s1", "sms", 700, "33.38 USD"),
        ("s1", "sms_de", 300, "24.00 USD"),
    ]
    assert invoice.total == usd("114.15")
    assert all(line.kind is LineKind.USAGE for line in invoice.lines)


def test_invoices_read_the_slices_from_a_usage_book() -> None:
    records = [
        UsageRecord(a, JAN, channel, n, f"{a}-{i}", dimensions=dims)
        for a, parts in WORKED_USAGE.items()
        for i, ((channel, dims), n) in enumerate(parts.items())
    ]
    book = UsageBook(JAN).ingest(records)
    structure = BillingStructure.pooled("m", ["s1"], worked_price())
    (invoice,) = build_invoices(structure, book, JAN)
    assert invoice.total == usd("114.15")
    with pytest.raises(InvalidInput) as refused:
        build_invoices(structure, {"m": 9800, "s1": 6300}, JAN)  # volumes say no channel
    assert refused.value.field == "slices"


def test_an_account_that_used_no_charge_still_shows_on_the_invoice() -> None:
    structure = BillingStructure.pooled("m", ["s1", "s2"], worked_price())
    slices = {"m": {part("email"): 100}}
    (invoice,) = build_invoices(structure, {"m": 100}, JAN, slices=slices)
    assert [line.account_id for line in invoice.lines] == ["m", "s1", "s2"]
    assert invoice.total == usd("0.10")


# -- properties -------------------------------------------------------------------------

_ACCOUNTS = ["m", "s1", "s2"]


@st.composite
def charged_usage(draw: st.DrawFn) -> dict[str, dict[UsageSlice, int]]:
    records = draw(st.lists(usage_records(accounts=_ACCOUNTS, period=JAN), max_size=30))
    parts = {str(a): p for a, p in slice_totals(records).items()}
    return {a: parts.get(a, {}) for a in _ACCOUNTS}


@given(price_lists(models=subadditive_ladders(overage=True)), charged_usage())
def test_pooling_never_costs_more_per_charge_on_subadditive_models(
    price: PriceList, usage: dict[str, dict[UsageSlice, int]]
) -> None:
    c = compare_charges(price, usage)
    for _, each in c.by_charge:
        assert each.pooled_total <= each.standalone_total
    assert c.pooled_total <= c.standalone_total
    assert c.pooled_volume == sum(sum(p.values()) for p in usage.values())


@given(price_lists(), charged_usage())
def test_a_charged_invoice_adds_up_and_bills_every_message_once(
    price: PriceList, usage: dict[str, dict[UsageSlice, int]]
) -> None:
    structure = BillingStructure.pooled("m", ["s1", "s2"], price)
    totals = {a: sum(p.values()) for a, p in usage.items()}
    try:
        (invoice,) = build_invoices(structure, totals, JAN, slices=usage)
    except InvalidInput:  # a pooled volume above a ladder without overage
        return
    assert invoice.total.amount == sum(line.amount.amount for line in invoice.lines)
    for account in _ACCOUNTS:
        assert sum(line.quantity for line in invoice.lines_for(account)) == totals[account]
    rounded = sum(
        each.pooled_total.rounded("ROUND_HALF_EVEN", 2).amount
        for _, each in compare_charges(price, usage).by_charge
    )
    assert invoice.total.amount == rounded
