"""Drafting, finalizing, voiding, crediting and paying stored invoices (private; the
rules are in ``subacct.pricing.invoice_lifecycle``).

Each function runs inside the caller's unit of work: a finalization takes its number
from the payer's ``NumberSeries`` in the same transaction that stores the invoice, so a
number is never shared, skipped or given to an invoice that was not stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from subacct.domain import Account, AccountId
from subacct.domain.events import (
    CreditNoteIssued,
    InvoiceDrafted,
    InvoiceFinalized,
    InvoicePaid,
    InvoiceVoided,
    PaymentRecorded,
)
from subacct.errors import (
    IdempotencyConflict,
    InvoiceNotFound,
    NotFound,
    quoted,
)
from subacct.money import Money
from subacct.policy import VIEW_BILLING, Action
from subacct.pricing import BillingPeriod, Invoice, Rounding
from subacct.pricing import invoice_lifecycle as lifecycle
from subacct.pricing.adjustments import InvoiceTerms
from subacct.pricing.invoice_lifecycle import (
    CreditNote,
    InvoiceNumber,
    NumberSeries,
    Payment,
    Series,
    render_number,
)
from subacct.pricing.invoices import InvoiceStatus
from subacct.services import _adjustments, _invoicing, _quotas
from subacct.services._runner import Unit
from subacct.storage.collections import (
    BILLING_PROFILES,
    CREDIT_NOTES,
    INVOICE_NUMBERS,
    INVOICE_TERMS,
    INVOICES,
    NUMBER_SERIES,
    PAYMENTS,
)

__all__ = [
    "by_number",
    "close_tree",
    "credit",
    "draft",
    "finalize",
    "pay",
    "void",
]


def _key(payer_id: str, period: BillingPeriod) -> str:
    return f"{payer_id}/{period}"


def priced(
    unit: Unit, payer: Account, period: BillingPeriod, rounding: Rounding | None
) -> tuple[Invoice, list[_adjustments.Planned]]:
    """The payer's invoice for ``period`` as billing prices it now (a draft), with the
    adjustments for its earlier periods that took late arrivals, and those adjustments;
    ``NotFound`` when it has nothing to bill then (closed before, created after,
    pooled)."""
    period.require_begun(unit.now)  # a month ahead has nothing to bill yet
    root = [payer, *unit.uow.accounts.ancestors(payer.id)][-1]
    found = _invoicing.invoices_of(unit, root, period, rounding)
    own = next((i for i in found if i.payer_id == payer.id), None)
    plans = _adjustments.planned(unit, root, payer.id, period, rounding)
    invoice = _adjustments.with_planned(own, payer.id, period, plans)
    if invoice is None:
        raise NotFound(
            f"{quoted(payer.id)} has no invoice for {period}: it is not billed as a payer then",
            account_id=payer.id,
            period=str(period),
        )
    return invoice, plans


def draft(unit: Unit, payer: Account, period: BillingPeriod, rounding: Rounding | None) -> Invoice:
    """Price the payer's invoice now and store it as the period's draft (replacing an
    earlier draft); a finalized one is refused (``InvoiceFinalized``). It shows the
    adjustments finalizing would bill, and marks none of them billed."""
    repo = unit.uow.records(INVOICES)
    stored = repo.find(_key(payer.id, period))
    lifecycle.require_draftable(stored)
    invoice, _ = priced(unit, payer, period, rounding)
    if stored is None:
        repo.add(invoice)
    else:
        repo.update(invoice)
    unit.emit(
        InvoiceDrafted(**unit.meta().about(payer.id), period=str(period), total=invoice.total)
    )
    return invoice


def finalize(
    unit: Unit, payer: Account, period: BillingPeriod, rounding: Rounding | None
) -> tuple[Invoice, bool]:
    """The payer's finalized invoice for ``period`` and whether this call finalized it
    (priced again from storage: usage recorded after the draft is on it, and the
    adjustments pending for the payer's earlier periods are billed on it)."""
    stored = unit.uow.records(INVOICES).find(_key(payer.id, period))
    if stored is not None and stored.final:
        return stored, False
    invoice, plans = priced(unit, payer, period, rounding)
    return _issue(unit, invoice, stored, plans, rounding), True


def close_tree(
    unit: Unit, root: Account, period: BillingPeriod, rounding: Rounding | None
) -> tuple[list[Invoice], int]:
    """Finalize every invoice of ``root``'s tree for ``period`` (priced once, each with
    its payer's pending adjustments): those finalized now, and how many were already."""
    period.require_begun(unit.now)
    invoices = _invoicing.invoices_of(unit, root, period, rounding)
    stored = unit.uow.records(INVOICES).find_many(_key(i.payer_id, period) for i in invoices)
    done, already = [], 0
    for invoice in invoices:
        before = stored.get(_key(invoice.payer_id, period))
        if before is not None and before.final:
            already += 1
            continue
        plans = _adjustments.planned(unit, root, invoice.payer_id, period, rounding)
        adjusted = _adjustments.with_planned(invoice, invoice.payer_id, period, plans)
        assert adjusted is not None  # the payer's own invoice, with or without adjustments
        done.append(_issue(unit, adjusted, before, plans, rounding))
    return done, already


def _take_number(unit: Unit, payer_id: AccountId, series: Series) -> str:
    """The next number of the payer's ``series``, taken in this unit of work."""
    repo = unit.uow.records(NUMBER_SERIES)
    current = repo.find(f"{payer_id}/{series.value}")
    if current is None:
        taken = NumberSeries(payer_id, series, 1)
        _quotas.add_first(repo.add, taken)  # another unit began the series first: run again
    else:
        taken = current.taken()
        repo.update(taken)
    settings = unit.settings
    fmt = (
        settings.invoice_number_format
        if series is Series.INVOICE
        else settings.credit_note_number_format
    )
    return render_number(fmt, payer_id, taken.last, unit.now)


def _issue(
    unit: Unit,
    draft_invoice: Invoice,
    stored: Invoice | None,
    plans: Sequence[_adjustments.Planned],
    rounding: Rounding | None,
) -> Invoice:
    """Number, date and store ``draft_invoice`` (replacing the ``stored`` draft) with the
    terms it was priced on (``rounding`` and the payer's profile now), note the accounts
    it bills (it closes their month), bill the adjustments of ``plans`` on it and emit
    its events."""
    payer = draft_invoice.payer_id
    profile = unit.uow.records(BILLING_PROFILES).get(payer)
    number = _take_number(unit, payer, Series.INVOICE)
    invoice = lifecycle.finalize(
        draft_invoice, number=number, at=unit.now, terms=profile.payment_terms
    )
    repo = unit.uow.records(INVOICES)
    if stored is None:
        repo.add(invoice)
    else:
        repo.update(invoice)
    unit.uow.records(INVOICE_NUMBERS).add(InvoiceNumber(number, payer, invoice.period))
    unit.uow.records(INVOICE_TERMS).add(
        InvoiceTerms(payer, invoice.period, profile, rounding or Rounding())
    )
    _invoicing.record_issued(unit, invoice)
    _adjustments.bill(unit, invoice, plans)
    assert invoice.due_date is not None
    unit.emit(
        InvoiceFinalized(
            **unit.meta().about(payer),
            number=number,
            period=str(invoice.period),
            total=invoice.total,
            due_date=invoice.due_date,
        )
    )
    _paid_event(unit, draft_invoice, invoice)
    return invoice


def _paid_event(unit: Unit, before: Invoice, after: Invoice) -> None:
    if after.status is InvoiceStatus.PAID and before.status is not InvoiceStatus.PAID:
        assert after.number is not None
        unit.emit(
            InvoicePaid(
                **unit.meta().about(after.payer_id),
                number=after.number,
                period=str(after.period),
            )
        )


def by_number(unit: Unit, number: str) -> Invoice:
    """The invoice numbered ``number`` (``InvoiceNotFound``)."""
    found = unit.uow.records(INVOICE_NUMBERS).find(number)
    if found is None:
        raise InvoiceNotFound(f"no invoice is numbered {quoted(number)}", number=number)
    return unit.uow.records(INVOICES).get(_key(found.payer_id, found.period))


def acted_on(unit: Unit, action: Action, number: str) -> Invoice:
    """The invoice numbered ``number``, for a change only the system makes (anyone else
    is refused before anything is read)."""
    unit.refuse_unless_system(action)
    invoice = by_number(unit, number)
    unit.require_system(action, invoice.payer_id)
    return invoice


def viewed(unit: Unit, number: str) -> Invoice:
    """The invoice numbered ``number``, for a reader with ``billing.view`` in its payer."""
    invoice = by_number(unit, number)
    unit.require(VIEW_BILLING, invoice.payer_id)
    return invoice


def _save(unit: Unit, before: Invoice, after: Invoice) -> None:
    unit.uow.records(INVOICES).update(after)  # a concurrent change of it loses the race
    _paid_event(unit, before, after)


def void(unit: Unit, invoice: Invoice, reason: str) -> Invoice:
    """Cancel the finalized ``invoice`` (it keeps its number)."""
    after = lifecycle.void(invoice)
    _save(unit, invoice, after)
    assert after.number is not None
    unit.emit(
        InvoiceVoided(
            **unit.meta().about(after.payer_id),
            number=after.number,
            period=str(after.period),
            reason=reason,
        )
    )
    return after


def credit(
    unit: Unit, invoice: Invoice, reason: str, lines: Mapping[int, Money] | None
) -> CreditNote:
    """Issue a credit note against ``invoice``, numbered in its payer's credit-note
    series."""
    assert invoice.number is not None
    repo = unit.uow.records(CREDIT_NOTES)
    prior = repo.list_by("invoice_number", invoice.number)
    number = _take_number(unit, invoice.payer_id, Series.CREDIT_NOTE)  # a refusal rolls back
    note, after = lifecycle.credit(
        invoice, prior, number=number, reason=reason, at=unit.now, lines=lines
    )
    repo.add(note)
    _save(unit, invoice, after)
    unit.emit(
        CreditNoteIssued(
            **unit.meta().about(invoice.payer_id),
            number=note.number,
            invoice_number=invoice.number,
            amount=note.amount,
            refund=note.refund,
            lines=len(note.lines),
            reason=note.reason,
        )
    )
    return note


def pay(unit: Unit, invoice: Invoice, amount: Money, reference: str) -> Invoice:
    """Record a payment of ``amount`` under ``reference`` against ``invoice``; the same
    reference again with the same amount changes nothing."""
    assert invoice.number is not None
    repo = unit.uow.records(PAYMENTS)
    earlier = repo.find(f"{invoice.number}/{reference}")
    if earlier is not None:
        if earlier.amount != amount:
            raise IdempotencyConflict(
                f"payment {quoted(reference)} of invoice {quoted(invoice.number)} was "
                f"{earlier.amount}, not {amount}",
                field="reference",
                reference=reference,
            )
        return invoice
    after = lifecycle.pay(invoice, amount)
    repo.add(Payment(invoice.number, reference, invoice.payer_id, amount, unit.now))
    _save(unit, invoice, after)
    unit.emit(
        PaymentRecorded(
            **unit.meta().about(invoice.payer_id),
            invoice_number=invoice.number,
            reference=reference,
            amount=amount,
            balance=after.balance,
        )
    )
    return after
