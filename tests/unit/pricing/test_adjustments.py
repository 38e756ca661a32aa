"""The pure rules of late arrivals (``subacct.pricing.adjustments``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subacct.errors import InvalidBillingStructure, PeriodAlreadyInvoiced
from subacct.money import Money
from subacct.pricing import BillingPeriod, Invoice, InvoiceLine, LineKind
from subacct.pricing.adjustments import (
    BilledPart,
    LatePeriod,
    adjusted_invoice,
    adjustment_lines,
    billed_parts,
    late_payer,
    noted,
)
from subacct.serialization import converter, structure

JAN, FEB, MAR = BillingPeriod(2026, 1), BillingPeriod(2026, 2), BillingPeriod(2026, 3)


def usd(amount: str | int) -> Money:
    return Money(amount, "USD")


def line(account: str, kind: LineKind, quantity: int, amount: str) -> InvoiceLine:
    return InvoiceLine(account, kind, "x", quantity, usd(amount))


def invoice(*lines: InvoiceLine, period: BillingPeriod = JAN) -> Invoice:
    return Invoice("m", period, "USD", lines)


def test_an_arrival_is_late_for_the_payer_whose_invoice_is_final() -> None:
    assert late_payer("a", JAN, None, "m", {"m"}) == "m"
    assert late_payer("a", JAN, "m", "m", {"m"}) == "m"
    assert late_payer("a", JAN, None, "m", set()) is None  # in time
    assert late_payer("a", JAN, None, None, {"m"}) is None  # no payer: nothing to bill


def test_a_month_finalized_by_a_former_payer_is_refused() -> None:
    with pytest.raises(PeriodAlreadyInvoiced) as err:
        late_payer("a", JAN, "m", "a", {"m"})
    assert (err.value.details["payer_id"], err.value.details["period"]) == ("m", "2026-01")


def test_billed_parts_sum_per_account_and_kind_without_earlier_adjustments() -> None:
    issued = invoice(
        line("m", LineKind.USAGE, 10, "1.00"),
        line("m", LineKind.USAGE, 5, "0.50"),  # a second charge of a price list
        line("m", LineKind.UPGRADE, 0, "2.00"),
        line("m", LineKind.ADJUSTMENT, 0, "9.00"),  # for December: not January's
    )
    assert billed_parts(issued) == (
        BilledPart("m", LineKind.USAGE, 15, usd("1.50")),
        BilledPart("m", LineKind.UPGRADE, 0, usd("2.00")),
    )


def test_the_second_adjustment_bills_only_what_changed_since_the_first() -> None:
    issued = invoice(line("m", LineKind.USAGE, 7000, "45.00"))
    first, covered = adjustment_lines(
        noted(None, "m", JAN), issued, invoice(line("m", LineKind.USAGE, 10000, "60.00")), FEB
    )
    assert [(x.quantity, x.amount) for x in first] == [(3000, usd("15.00"))]
    again = noted(covered, "m", JAN)
    assert again.pending_for == "m"
    second, done = adjustment_lines(
        again, issued, invoice(line("m", LineKind.USAGE, 14000, "90.00")), MAR
    )
    assert [(x.description, x.quantity, x.amount) for x in second] == [
        ("adjustment for 2026-01: usage", 4000, usd("30.00"))
    ]
    assert (done.arrivals, done.covered, done.adjusted_on, done.version) == (2, 2, (FEB, MAR), 4)
    nothing, _ = adjustment_lines(noted(done, "m", JAN), issued, invoice(*[]), MAR)
    assert nothing == []  # the re-rating no longer has the line: billed as it was


def test_an_adjustment_goes_on_a_later_invoice_in_the_same_currency() -> None:
    issued = invoice(line("m", LineKind.USAGE, 1, "1.00"))
    with pytest.raises(InvalidBillingStructure):
        adjustment_lines(noted(None, "m", FEB), issued, issued, JAN)
    euros = Invoice("m", JAN, "EUR", [InvoiceLine("m", LineKind.USAGE, "x", 2, Money(2, "EUR"))])
    with pytest.raises(InvalidBillingStructure) as err:
        adjustment_lines(noted(None, "m", JAN), issued, euros, FEB)
    assert err.value.details["field"] == "currency"


def test_adjustments_alone_make_an_invoice_and_none_leave_it_as_it_is() -> None:
    extra = [InvoiceLine("m", LineKind.ADJUSTMENT, "adjustment for 2026-01: usage", 1, usd(3))]
    alone = adjusted_invoice(None, "m", FEB, "USD", extra)
    assert alone is not None
    assert alone.total == usd(3)
    assert adjusted_invoice(None, "m", FEB, "USD", []) is None
    own = invoice(line("m", LineKind.USAGE, 1, "1.00"), period=FEB)
    assert adjusted_invoice(own, "m", FEB, "USD", []) is own
    both = adjusted_invoice(own, "m", FEB, "USD", extra)
    assert both is not None
    assert both.total == usd(4)


def test_a_late_period_cannot_cover_more_than_arrived() -> None:
    with pytest.raises(InvalidBillingStructure):
        LatePeriod("m", JAN, arrivals=1, covered=2)


@given(
    before=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 99), st.integers(0, 9999))),
    after=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 99), st.integers(0, 9999))),
)
def test_issued_plus_adjustments_is_the_re_rating_for_every_account(
    before: list[tuple[str, int, int]], after: list[tuple[str, int, int]]
) -> None:
    """Per account, what the invoice billed plus the adjustment is what the re-rating
    bills (for the accounts the re-rating still has); the stored marker says so."""

    def of(rows: list[tuple[str, int, int]]) -> Invoice:
        lines = [InvoiceLine(a, LineKind.USAGE, "x", q, Money(c, "USD")) for a, q, c in rows]
        return invoice(*lines)

    issued, rerated = of(before), of(after)
    lines, covered = adjustment_lines(noted(None, "m", JAN), issued, rerated, FEB)
    for account in {a for a, _, _ in after}:
        was = sum((x.amount for x in issued.lines_for(account)), usd(0))
        added = sum((x.amount for x in lines if x.account_id == account), usd(0))
        assert was + added == sum((x.amount for x in rerated.lines_for(account)), usd(0))
    again, _ = adjustment_lines(noted(covered, "m", JAN), issued, rerated, MAR)
    assert again == []  # nothing billed twice
    assert structure(converter.unstructure(covered), LatePeriod) == covered
