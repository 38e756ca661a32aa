"""An invoice's lifecycle, its numbers, credit notes and payments (pure).

``draft -> finalized -> paid`` or ``finalized -> void``. A draft is a preview stored for
review; finalizing prices the period again from what storage holds, gives the invoice
the next number of its payer's series, its issue time and its due date (the payer's
``PaymentTerms``), and from then on its lines, total and number never change. A credit
note (whole, or per line up to what is left of each line) and a payment lower its
``balance``; at zero it is ``PAID``. A void invoice keeps its number and takes neither.

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> from subacct.pricing import BillingPeriod, Invoice, InvoiceLine, LineKind
>>> line = InvoiceLine("acme", LineKind.USAGE, "messages", 100, Money("90.00", "USD"))
>>> draft = Invoice("acme", BillingPeriod(2026, 1), "USD", [line])
>>> at = datetime(2026, 2, 1, tzinfo=UTC)
>>> inv = finalize(draft, number=render_number("{payer}-{seq:04d}", "acme", 1, at), at=at)
>>> inv.number, inv.status.value, str(inv.due_date)
('acme-0001', 'finalized', '2026-03-03')
>>> note, inv = credit(inv, [], number="acme-CN-0001", reason="outage", at=at,
...                    lines={0: Money("10.00", "USD")})
>>> str(note.amount), str(inv.balance)
('10.00 USD', '80.00 USD')
>>> inv = pay(inv, Money("80.00", "USD"))
>>> inv.status.value, str(inv.balance)
('paid', '0.00 USD')
"""

from __future__ import annotations

import enum
import string
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import positive_version
from subacct.domain.ids import AccountId
from subacct.errors import (
    CreditExceedsInvoice,
    InvalidInput,
    InvoiceFinalized,
    InvoiceStateError,
    Overpayment,
    quoted,
)
from subacct.money import Money, add, exact_sum, subtract
from subacct.pricing import _checks
from subacct.pricing.invoices import Invoice, InvoiceStatus
from subacct.pricing.period import BillingPeriod

__all__ = [
    "CreditNote",
    "CreditNoteLine",
    "InvoiceNumber",
    "NumberSeries",
    "Payment",
    "PaymentTerms",
    "PeriodClose",
    "Series",
    "check_number_format",
    "credit",
    "finalize",
    "pay",
    "render_number",
    "void",
]

DEFAULT_NET_DAYS: Final = 30
_PLACEHOLDERS: Final = frozenset({"payer", "seq", "year", "month"})


def _net_days(value: object) -> int:
    if type(value) is not int or not 0 <= value <= 366:
        raise InvalidInput(
            f"net_days must be an integer from 0 to 366, got {quoted(value)}", field="net_days"
        )
    return value


@attrs.frozen
class PaymentTerms:
    """When a payer's invoices fall due: ``net_days`` after the issue date (net 30 by
    default; 0: due on receipt).

    >>> str(PaymentTerms(14).due_date(datetime(2026, 2, 1, 9, 30)))
    '2026-02-15'
    """

    net_days: int = attrs.field(default=DEFAULT_NET_DAYS, converter=_net_days)

    def due_date(self, issued_at: datetime) -> date:
        return issued_at.date() + timedelta(days=self.net_days)


class Series(enum.Enum):
    """The numbered series each payer has: its invoices and its credit notes."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


def check_number_format(value: object, field: str) -> str:
    """A number format: text with ``{payer}`` (the payer's id) and ``{seq}`` (its place
    in the payer's series, which takes a format spec such as ``{seq:05d}``), and
    optionally ``{year}`` and ``{month}`` (of the issue date); nothing else in braces.

    >>> check_number_format("INV-{payer}-{year}-{seq:05d}", "invoice_number_format")
    'INV-{payer}-{year}-{seq:05d}'
    >>> check_number_format("INV-{seq}", "f")
    Traceback (most recent call last):
    ...
    subacct.errors.InvalidInput: f must contain {payer} and {seq}, got 'INV-{seq}'
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise InvalidInput(f"{field} must be a text of 1 to 100 characters", field=field)
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        sample = render_number(value, "payer", 1, datetime(2026, 1, 1))
    except (ValueError, KeyError, IndexError, TypeError):
        raise InvalidInput(
            f"{field} is not a format of {sorted(_PLACEHOLDERS)}: {quoted(value)}", field=field
        ) from None
    if not set(names) <= _PLACEHOLDERS or not {"payer", "seq"} <= set(names) or not sample:
        raise InvalidInput(
            f"{field} must contain {{payer}} and {{seq}}, got {quoted(value)}", field=field
        )
    return value


def render_number(fmt: str, payer_id: str, seq: int, at: datetime) -> str:
    """The ``seq``-th number of ``payer_id``'s series in the format ``fmt``."""
    return fmt.format(payer=payer_id, seq=seq, year=f"{at.year:04d}", month=f"{at.month:02d}")


def _seq(value: object) -> int:
    if type(value) is not int or value < 0:
        raise InvalidInput("a series counts from 0", field="last")
    return value


@attrs.frozen
class NumberSeries:
    """How many numbers of ``series`` the payer has been given (``last``): the next is
    ``last + 1``, taken in the unit of work that uses it, so numbers are gapless."""

    payer_id: AccountId = attrs.field(converter=_checks.account)
    series: Series = attrs.field(validator=instance_of(Series))
    last: int = attrs.field(default=0, converter=_seq)
    version: int = attrs.field(default=1, converter=positive_version)

    def taken(self) -> NumberSeries:
        """The series with its next number taken."""
        return attrs.evolve(self, last=self.last + 1, version=self.version + 1)


@attrs.frozen
class InvoiceNumber:
    """Invoice ``number`` is the invoice of ``payer_id`` for ``period`` (looked up by
    number)."""

    number: str = attrs.field(validator=instance_of(str))
    payer_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))


def _reason(value: object) -> str:
    return _checks.text(value, field="reason")


def _reference(value: object) -> str:
    return _checks.text(value, field="reference")


def _note_lines(value: object) -> tuple[CreditNoteLine, ...]:
    lines = tuple(value) if isinstance(value, list | tuple) else None
    if lines is None or not all(isinstance(line, CreditNoteLine) for line in lines):
        raise InvalidInput("lines must be a list of CreditNoteLine", field="lines")
    return lines


def _numbers(value: object) -> tuple[str, ...]:
    numbers = tuple(value) if isinstance(value, list | tuple) else None
    if numbers is None or not all(isinstance(n, str) for n in numbers):
        raise InvalidInput("numbers must be a list of invoice numbers", field="numbers")
    return numbers


@attrs.frozen
class CreditNoteLine:
    """``amount`` credited on the invoice's line number ``line`` (from 0)."""

    line: int = attrs.field(validator=instance_of(int))
    amount: Money = attrs.field(validator=instance_of(Money))


@attrs.frozen
class CreditNote:
    """A correction of a finalized invoice: ``amount`` credited for ``reason``, per line
    (``lines``; empty: the whole of what was left of the invoice). ``refund`` is the part
    of it above the balance owed when it was issued: payments the host pays back."""

    number: str = attrs.field(validator=instance_of(str))
    invoice_number: str = attrs.field(validator=instance_of(str))
    payer_id: AccountId = attrs.field(converter=_checks.account)
    reason: str = attrs.field(converter=_reason)
    amount: Money = attrs.field(validator=instance_of(Money))
    refund: Money = attrs.field(validator=instance_of(Money))
    lines: tuple[CreditNoteLine, ...] = attrs.field(converter=_note_lines)
    issued_at: datetime = attrs.field(validator=instance_of(datetime))


@attrs.frozen
class Payment:
    """``amount`` paid against invoice ``invoice_number``, under the host's ``reference``
    (a payment processor's id: recording it again changes nothing)."""

    invoice_number: str = attrs.field(validator=instance_of(str))
    reference: str = attrs.field(converter=_reference)
    payer_id: AccountId = attrs.field(converter=_checks.account)
    amount: Money = attrs.field(validator=instance_of(Money))
    recorded_at: datetime = attrs.field(validator=instance_of(datetime))


@attrs.frozen
class PeriodClose:
    """What ``app.billing.close_period`` did: the ``numbers`` it gave the invoices it
    finalized (in payer order) and how many were finalized before (``already``).

    >>> PeriodClose(BillingPeriod(2026, 1), ("acme-00001",), 2).changed
    True
    """

    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    numbers: tuple[str, ...] = attrs.field(converter=_numbers)
    already: int = attrs.field(validator=instance_of(int))

    @property
    def finalized(self) -> int:
        """How many invoices this call finalized."""
        return len(self.numbers)

    @property
    def changed(self) -> bool:
        """Whether this call finalized anything (a rerun of a finished close did not)."""
        return bool(self.numbers)


def _refuse(invoice: Invoice, doing: str, allowed: Sequence[InvoiceStatus]) -> None:
    if invoice.status in allowed:
        return
    error = InvoiceFinalized if doing in ("draft", "finalize") else InvoiceStateError
    raise error(
        f"invoice {quoted(invoice.number or f'{invoice.payer_id}/{invoice.period}')} is "
        f"{invoice.status.value}: it cannot be {_DONE[doing]}",
        number=invoice.number,
        status=invoice.status.value,
        operation=doing,
    )


_DONE: Final = MappingProxyType(
    {
        "draft": "drafted again (a finalized invoice never changes)",
        "finalize": "finalized",
        "void": "voided (only a finalized invoice with no payment can be)",
        "credit": "credited (only a finalized or paid invoice can be)",
        "pay": "paid (only a finalized invoice with a balance can be)",
    }
)


def require_draftable(stored: Invoice | None) -> None:
    """Refuse (``InvoiceFinalized``) to draft a period whose invoice is finalized."""
    if stored is not None:
        _refuse(stored, "draft", [InvoiceStatus.DRAFT])


def _settled(invoice: Invoice, **changes: Any) -> Invoice:
    """``invoice`` with ``changes``, ``PAID`` once nothing is owed."""
    out = attrs.evolve(invoice, **changes)
    if out.status is InvoiceStatus.FINALIZED and out.balance.amount <= 0:
        out = attrs.evolve(out, status=InvoiceStatus.PAID)
    return out


def finalize(
    priced: Invoice, *, number: str, at: datetime, terms: PaymentTerms | None = None
) -> Invoice:
    """The draft ``priced`` issued at ``at`` under ``number``, due on the ``terms``
    (net 30 by default). An invoice of nothing owed (a zero total) is paid at once."""
    _refuse(priced, "finalize", [InvoiceStatus.DRAFT])
    due = (terms or PaymentTerms()).due_date(at)
    return _settled(
        priced, status=InvoiceStatus.FINALIZED, number=number, issued_at=at, due_date=due
    )


def void(invoice: Invoice) -> Invoice:
    """The finalized ``invoice`` cancelled: it keeps its number and owes nothing. One with
    a payment recorded is credited instead (``credit``), so no payment is lost."""
    _refuse(invoice, "void", [InvoiceStatus.FINALIZED])
    if invoice.paid:
        _refuse(invoice, "void", [])
    return attrs.evolve(invoice, status=InvoiceStatus.VOID)


def _money(value: object, currency: str, field: str) -> Money:
    if not isinstance(value, Money):
        raise InvalidInput(f"{field} must be Money", field=field)
    if value.currency != currency:
        raise InvalidInput(
            f"{field} is in {value.currency}, the invoice in {currency}", field=field
        )
    if value.amount <= 0:
        raise InvalidInput(f"{field} must be above zero, got {value}", field=field)
    return value


def credit(
    invoice: Invoice,
    prior: Sequence[CreditNote],
    *,
    number: str,
    reason: str,
    at: datetime,
    lines: Mapping[int, Money] | None = None,
) -> tuple[CreditNote, Invoice]:
    """A credit note against the finalized (or paid) ``invoice``, whose earlier notes are
    ``prior``, and the invoice after it. ``lines`` maps line numbers (from 0) to the
    amount credited on each, at most what earlier notes left of that line; ``None``
    credits all that is left of the invoice. Credit notes never exceed the invoice
    (``CreditExceedsInvoice``); the part above the balance is a ``refund``."""
    _refuse(invoice, "credit", [InvoiceStatus.FINALIZED, InvoiceStatus.PAID])
    currency = invoice.currency
    left = subtract(invoice.total.amount, invoice.credited)
    parts: list[CreditNoteLine] = []
    if lines is None:
        amount = left
    else:
        if not isinstance(lines, Mapping) or not lines:
            raise InvalidInput("lines must map line numbers to amounts", field="lines")
        taken: dict[int, Decimal] = {}
        for note in prior:
            for part in note.lines:
                taken[part.line] = add(taken.get(part.line, Decimal(0)), part.amount.amount)
        for index in sorted(lines, key=lambda i: (type(i) is not int, str(i))):
            if type(index) is not int or not 0 <= index < len(invoice.lines):
                raise InvalidInput(f"no line {quoted(index)} on this invoice", field="lines")
            wanted = _money(lines[index], currency, f"lines[{index}]")
            remains = subtract(invoice.lines[index].amount.amount, taken.get(index, Decimal(0)))
            if wanted.amount > remains:
                raise CreditExceedsInvoice(
                    f"line {index} has {Money(max(remains, Decimal(0)), currency)} left to "
                    f"credit, not {wanted}",
                    field="lines",
                    line=index,
                    left=str(Money(max(remains, Decimal(0)), currency)),
                )
            parts.append(CreditNoteLine(index, wanted))
        amount = exact_sum(p.amount.amount for p in parts)
    if amount <= 0 or amount > left:
        raise CreditExceedsInvoice(
            f"invoice {quoted(invoice.number)} has {Money(left, currency)} left to credit, "
            f"not {Money(amount, currency)}",
            field="lines" if lines is not None else "invoice",
            left=str(Money(left, currency)),
        )
    owed = invoice.balance.amount
    refund = subtract(amount, owed) if amount > owed else Decimal(0)
    note = CreditNote(
        number,
        invoice.number or "",
        invoice.payer_id,
        reason,
        Money(amount, currency),
        Money(refund, currency),
        parts,
        at,
    )
    after = _settled(
        invoice, credited=add(invoice.credited, amount), paid=subtract(invoice.paid, refund)
    )
    return note, after


def pay(invoice: Invoice, amount: Money) -> Invoice:
    """``invoice`` after a payment of ``amount``: at most its balance (``Overpayment``)."""
    _refuse(invoice, "pay", [InvoiceStatus.FINALIZED])
    paid = _money(amount, invoice.currency, "amount")
    if paid.amount > invoice.balance.amount:
        raise Overpayment(
            f"invoice {quoted(invoice.number)} has {invoice.balance} left to pay, not {paid}",
            field="amount",
            number=invoice.number,
            balance=str(invoice.balance),
        )
    return _settled(invoice, paid=add(invoice.paid, paid.amount))
