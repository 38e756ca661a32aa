"""The invoice lifecycle (pure): transitions, credit notes, payments, balance; properties
and a state machine over draft -> finalized -> paid / void."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from subacct.errors import (
    CreditExceedsInvoice,
    InvalidInput,
    InvoiceFinalized,
    InvoiceStateError,
    Overpayment,
)
from subacct.money import Money
from subacct.pricing import BillingPeriod, Invoice, InvoiceLine, InvoiceStatus, LineKind
from subacct.pricing.invoice_lifecycle import (
    CreditNote,
    PaymentTerms,
    check_number_format,
    credit,
    finalize,
    pay,
    render_number,
    require_draftable,
    void,
)

AT = datetime(2026, 2, 1, 9, tzinfo=UTC)
JAN = BillingPeriod(2026, 1)


def usd(amount: str | int) -> Money:
    return Money(amount, "USD")


def draft(*amounts: str) -> Invoice:
    lines = [InvoiceLine("acme", LineKind.USAGE, "messages", 1, usd(a)) for a in amounts]
    return Invoice("acme", JAN, "USD", lines)


def issued(*amounts: str) -> Invoice:
    return finalize(draft(*amounts), number="acme-00001", at=AT)


def test_seed000_invoice_is_numbered_dated_and_due_net_30() -> None:
    invoice = issued("50.63", "29.81", "9.56")
    assert (invoice.number, invoice.status, invoice.issued_at) == (
        "acme-00001",
        InvoiceStatus.FINALIZED,
        AT,
    )
    assert invoice.due_date == date(2026, 3, 3)
    assert invoice.balance == usd("90.00")
    assert finalize(draft("1"), number="n", at=AT, terms=PaymentTerms(0)).due_date == AT.date()


def test_a_finalized_invoice_never_changes_and_a_void_keeps_its_number() -> None:
    invoice = issued("90.00")
    with pytest.raises(InvoiceFinalized):
        finalize(invoice, number="other", at=AT)
    with pytest.raises(InvoiceFinalized):
        require_draftable(invoice)
    voided = void(invoice)
    assert (voided.status, voided.number, voided.balance) == (
        InvoiceStatus.VOID,
        "acme-00001",
        usd(0),
    )
    for refused in (
        lambda: pay(voided, usd(1)),
        lambda: credit(voided, [], number="c", reason="r", at=AT),
        lambda: void(voided),
        lambda: void(pay(invoice, usd(1))),  # a payment is credited, not voided
    ):
        with pytest.raises(InvoiceStateError):
            refused()


def test_credit_notes_per_line_up_to_what_is_left_of_the_line() -> None:
    invoice = issued("60.00", "30.00")
    first, after = credit(invoice, [], number="c1", reason="outage", at=AT, lines={1: usd(20)})
    assert (first.amount, after.balance, after.credited) == (usd(20), usd(70), Decimal(20))
    with pytest.raises(CreditExceedsInvoice) as err:
        credit(after, [first], number="c2", reason="again", at=AT, lines={1: usd("10.01")})
    assert err.value.details["line"] == 1
    with pytest.raises(InvalidInput):
        credit(after, [first], number="c2", reason="r", at=AT, lines={2: usd(1)})
    whole, rest = credit(after, [first], number="c2", reason="cancelled", at=AT)
    assert (whole.amount, whole.lines, rest.balance, rest.status) == (
        usd(70),
        (),
        usd(0),
        InvoiceStatus.PAID,
    )
    with pytest.raises(CreditExceedsInvoice):
        credit(rest, [first, whole], number="c3", reason="more", at=AT)


def test_a_credit_note_on_a_paid_invoice_is_a_refund() -> None:
    paid = pay(issued("90.00"), usd(90))
    assert paid.status is InvoiceStatus.PAID
    note, after = credit(paid, [], number="c1", reason="goodwill", at=AT, lines={0: usd(15)})
    assert (note.refund, after.paid, after.balance, after.status) == (
        usd(15),
        Decimal(75),
        usd(0),
        InvoiceStatus.PAID,
    )


def test_overpayment_is_refused() -> None:
    invoice = pay(issued("90.00"), usd(40))
    with pytest.raises(Overpayment) as err:
        pay(invoice, usd("50.01"))
    assert err.value.details["balance"] == "50.00 USD"
    with pytest.raises(InvalidInput):
        pay(invoice, Money(1, "EUR"))


def test_a_zero_invoice_is_paid_when_finalized() -> None:
    assert issued("0.00").status is InvoiceStatus.PAID


@pytest.mark.parametrize("bad", ["{seq}", "{payer}", "{payer}-{nope}", "{payer}-{seq:q}", "", 5])
def test_number_formats_are_checked(bad: object) -> None:
    with pytest.raises(InvalidInput) as err:
        check_number_format(bad, "invoice_number_format")
    assert err.value.details["field"] == "invoice_number_format"


def test_number_placeholders() -> None:
    assert render_number("INV/{year}/{month}/{payer}/{seq:04d}", "acme", 7, AT) == (
        "INV/2026/02/acme/0007"
    )


_CENTS = st.integers(min_value=0, max_value=100_000)
_STEPS = st.lists(
    st.tuples(st.sampled_from(["pay", "line", "whole"]), st.integers(1, 50_000), st.integers(0, 3)),
    max_size=12,
)


@settings(max_examples=60)
@given(st.lists(_CENTS, min_size=1, max_size=4), _STEPS)
def test_balance_is_exact_never_negative_and_credits_never_exceed_the_invoice(
    lines: list[int], steps: list[tuple[str, int, int]]
) -> None:
    invoice = issued(*(str(Decimal(c).scaleb(-2)) for c in lines))
    notes: list[CreditNote] = []
    paid = Decimal(0)
    for kind, cents, index in steps:
        amount = usd(str(Decimal(cents).scaleb(-2)))
        try:
            if kind == "pay":
                invoice = pay(invoice, amount)
                paid += amount.amount
            else:
                wanted = None if kind == "whole" else {index % len(lines): amount}
                n = f"c{len(notes) + 1}"
                note, invoice = credit(invoice, notes, number=n, reason="r", at=AT, lines=wanted)
                notes.append(note)
                paid -= note.refund.amount
        except (Overpayment, CreditExceedsInvoice, InvoiceStateError, InvalidInput):
            pass
        credited = sum((n.amount.amount for n in notes), Decimal(0))
        assert invoice.credited == credited <= invoice.total.amount
        assert invoice.paid == paid
        assert invoice.balance.amount == invoice.total.amount - credited - paid >= 0
        assert (invoice.status is InvoiceStatus.PAID) == (invoice.balance.amount == 0)
        for i, line in enumerate(invoice.lines):
            on_line = sum(
                (p.amount.amount for n in notes for p in n.lines if p.line == i), Decimal(0)
            )
            assert on_line <= line.amount.amount


ORDER = {
    InvoiceStatus.DRAFT: 0,
    InvoiceStatus.FINALIZED: 1,
    InvoiceStatus.PAID: 2,
    InvoiceStatus.VOID: 2,
}


class InvoiceLifecycle(RuleBasedStateMachine):
    """Any sequence of lifecycle calls: every refusal leaves the invoice as it was, every
    allowed one moves it along draft -> finalized -> paid / void, never back."""

    def __init__(self) -> None:
        super().__init__()
        self.invoice = draft("60.00", "30.00", "10.00")
        self.notes: list[CreditNote] = []
        self.number: str | None = None

    def _try(self, change: object) -> None:
        before = self.invoice
        try:
            after = change()  # type: ignore[operator]
        except (InvoiceStateError, Overpayment, CreditExceedsInvoice, InvalidInput):
            assert self.invoice == before
            return
        if isinstance(after, tuple):
            note, after = after
            self.notes.append(note)
        assert ORDER[after.status] >= ORDER[before.status]
        self.invoice = after

    @rule()
    def finalize(self) -> None:
        self._try(lambda: finalize(self.invoice, number="acme-00001", at=AT))

    @rule()
    def void(self) -> None:
        self._try(lambda: void(self.invoice))

    @rule(cents=st.integers(1, 12_000))
    def pay(self, cents: int) -> None:
        self._try(lambda: pay(self.invoice, usd(str(Decimal(cents).scaleb(-2)))))

    @rule(line=st.integers(0, 2), cents=st.integers(1, 7_000), whole=st.booleans())
    def credit(self, line: int, cents: int, whole: bool) -> None:
        lines = None if whole else {line: usd(str(Decimal(cents).scaleb(-2)))}
        n = f"c{len(self.notes) + 1}"
        self._try(
            lambda: credit(self.invoice, self.notes, number=n, reason="r", at=AT, lines=lines)
        )

    @precondition(lambda self: self.invoice.status is not InvoiceStatus.DRAFT)
    @invariant()
    def keeps_its_number_and_lines(self) -> None:
        assert self.invoice.number == "acme-00001"
        assert [str(line.amount) for line in self.invoice.lines] == ["60.00 USD", "30.00 USD",
                                                                      "10.00 USD"]  # fmt: skip

    @invariant()
    def balance_is_never_negative(self) -> None:
        assert self.invoice.balance.amount >= 0
        assert self.invoice.credited <= self.invoice.total.amount


InvoiceLifecycle.TestCase.settings = settings(max_examples=40, stateful_step_count=20)
test_invoice_lifecycle_machine = InvoiceLifecycle.TestCase
