"""Setup fees, agency commission statements and billing periods."""

from __future__ import annotations

from decimal import Decimal

import pytest

from subacct.errors import InvalidInput, InvalidPricing, LinkError, PeriodMismatch
from subacct.money import Money
from subacct.pricing import (
    BillingPeriod,
    BillingStructure,
    Commitment,
    LineKind,
    Payer,
    PlanLadder,
    SetupDiscount,
    SetupFeeSchedule,
    Tier,
    TieredPrice,
    TierMode,
    build_invoices,
    commission_statement,
)

from .pricing_helpers import JAN, usd


def test_discount_applies_from_its_ordinal_and_rounds_half_even() -> None:
    schedule = SetupFeeSchedule(usd("30"), [SetupDiscount(2, "12.5"), SetupDiscount(4, "33.3")])
    assert [schedule.fee_for(n) for n in (1, 2, 3, 4)] == [
        usd("30.00"),
        usd("26.25"),
        usd("26.25"),
        usd("20.01"),  # 30 x 0.667 = 20.01
    ]
    assert schedule.total(4) == usd("102.51")
    assert schedule.total(0) == usd("0.00")


@pytest.mark.parametrize(
    "build",
    [
        lambda: SetupFeeSchedule(usd("-1")),
        lambda: SetupDiscount(0, 10),
        lambda: SetupDiscount(1, 101),
        lambda: SetupFeeSchedule(usd(30), [SetupDiscount(5, 10), SetupDiscount(3, 20)]),
        lambda: SetupFeeSchedule(usd(30), [SetupDiscount(3, 20), SetupDiscount(5, 10)]),
        lambda: SetupFeeSchedule(usd(30)).fee_for(0),
    ],
)
def test_bad_fee_schedules_are_refused(build: object) -> None:
    with pytest.raises(InvalidPricing):
        build()  # type: ignore[operator]


def test_setup_fee_lines_number_the_subs_after_existing_ones() -> None:
    lines = SetupFeeSchedule(usd(30), [SetupDiscount(3, 50)]).lines(["x", "y"], already=1)
    assert [(line.account_id, line.kind, line.amount) for line in lines] == [
        ("x", LineKind.SETUP_FEE, usd("30.00")),
        ("y", LineKind.SETUP_FEE, usd("15.00")),
    ]


def test_commission_excludes_setup_fees_and_prepaid_credits(ladder: PlanLadder) -> None:
    structure = BillingStructure(
        [Payer("client", ladder, Commitment(8500, prepaid=True))], {"dept": "client"}
    )
    fees = SetupFeeSchedule(usd(30)).lines(["dept"])
    invoices = build_invoices(structure, {"client": 9000}, JAN, extra_lines=fees)
    # usage $60, prepaid credit -$45, setup fee $30: the subscription is the $60 plan.
    assert invoices[0].total == usd(45)
    statement = commission_statement("agency", JAN, "0.25", invoices, linked_clients=["client"])
    assert statement.lines[0].subscription == usd(60)
    assert statement.total == usd("15.00")


def test_commission_refuses_invoices_of_unlinked_accounts_or_other_periods(
    ladder: PlanLadder,
) -> None:
    invoices = build_invoices(BillingStructure([Payer("client", ladder)]), {"client": 1}, JAN)
    with pytest.raises(LinkError):
        commission_statement("agency", JAN, "0.25", invoices, linked_clients=["other"])
    with pytest.raises(PeriodMismatch):
        commission_statement("agency", JAN.next(), "0.25", invoices, linked_clients=["client"])
    with pytest.raises(InvalidPricing):
        commission_statement("agency", JAN, "25", invoices, linked_clients=["client"])
    twice = [*invoices, *invoices]
    with pytest.raises(InvalidInput):
        commission_statement("agency", JAN, "0.25", twice, linked_clients=["client"])
    with pytest.raises(InvalidInput):
        commission_statement("agency", JAN, "0.25", [], linked_clients=["client"])
    empty = commission_statement("agency", JAN, "0.25", [], linked_clients=[], currency="USD")
    assert empty.total == Money("0", "USD")


def test_commission_rounds_each_client_half_even() -> None:
    price = TieredPrice(TierMode.GRADUATED, [Tier(None, "0.01")], "USD")
    structure = BillingStructure([Payer("a", price), Payer("b", price)])
    invoices = build_invoices(structure, {"a": 150, "b": 50}, JAN)  # $1.50 and $0.50
    statement = commission_statement(
        "agency", JAN, Decimal("0.25"), invoices, linked_clients={"a", "b"}
    )
    assert [line.commission for line in statement.lines] == [usd("0.38"), usd("0.12")]
    assert statement.total == usd("0.50")


def test_periods_order_step_and_parse() -> None:
    assert BillingPeriod(2025, 12).next() == BillingPeriod(2026, 1)
    assert BillingPeriod(2026, 1).previous() == BillingPeriod(2025, 12)
    assert BillingPeriod.parse("2026-03") == BillingPeriod(2026, 3)
    assert sorted([JAN.next(), JAN]) == [JAN, JAN.next()]
    assert str(BillingPeriod(987, 5)) == "0987-05"
    for bad in ("2026-13", "2026/01", "jan", "2026-1-1"):
        with pytest.raises(InvalidInput):
            BillingPeriod.parse(bad)
    with pytest.raises(InvalidInput):
        BillingPeriod(2026, 0)
    with pytest.raises(InvalidInput):
        BillingPeriod("2026", 1)
