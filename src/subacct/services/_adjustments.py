"""Late arrivals and the adjustments that bill them (private; the rules are in
``subacct.pricing.adjustments``).

An arrival (usage, a capture, a sub-account's setup fee, an approved upgrade) for a
period whose payer's invoice is final notes that period (``note_late``); the payer's next
invoice re-rates the periods noted for it (``planned``): a draft and a preview show the
adjustments (``with_planned``, ``with_pending``), only a finalization ``bill``s them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from subacct.domain import Account, AccountId
from subacct.domain.events import AdjustmentBilled
from subacct.money import Money, exact_sum
from subacct.pricing import BillingPeriod, Invoice, InvoiceLine, Rounding
from subacct.pricing.adjustments import LatePeriod, adjusted_invoice, adjustment_lines, noted
from subacct.pricing.billing_run import invoiced_accounts
from subacct.services import _invoicing, _quotas
from subacct.services._runner import Unit
from subacct.storage.collections import INVOICE_TERMS, INVOICED_ACCOUNTS, LATE_PERIODS


@attrs.frozen
class Planned:
    """One late period's adjustment on the invoice being built."""

    covered: LatePeriod
    lines: list[InvoiceLine]
    rerated: Invoice | None
    currency: str


def note_late(unit: Unit, late: Iterable[tuple[AccountId, BillingPeriod]]) -> None:
    """Note one more late arrival for each (payer, period) of ``late``: the payer's
    next invoice re-rates the period."""
    wanted = list(dict.fromkeys(late))
    if not wanted:
        return
    repo = unit.uow.records(LATE_PERIODS)
    found = repo.find_many(f"{payer}/{period}" for payer, period in wanted)
    for payer, period in wanted:
        stored = found.get(f"{payer}/{period}")
        if stored is None:
            _quotas.add_first(repo.add, noted(None, payer, period))
        else:  # a write even when pending already: an invoice re-rating it concurrently
            repo.update(noted(stored, payer, period))  # loses the race and runs again


def note_if_late(
    unit: Unit, account: Account, ancestors: Sequence[Account], period: BillingPeriod
) -> None:
    """``note_late`` for one arrival for ``account`` in ``period``, if it is late."""
    payer = _invoicing.Payers(unit, {account.id: (account, ancestors)}, [period]).late(
        account, ancestors, period
    )
    if payer is not None:
        note_late(unit, [(payer, period)])


def planned(
    unit: Unit, root: Account, payer_id: AccountId, period: BillingPeriod, rounding: Rounding | None
) -> list[Planned]:
    """The adjustment of each period before ``period`` pending for the payer, oldest
    first: that period re-rated from what is stored now, on the terms its invoice was
    finalized on (``InvoiceTerms``; an invoice finalized before they were kept: the
    payer's profile now and ``rounding``), against what it billed. Nothing is written:
    a draft or a preview shows these, a finalization ``bill``s them. ``root``: the top
    of the payer's tree."""
    pending = [
        late
        for late in unit.uow.records(LATE_PERIODS).list_by("pending_for", payer_id)
        if late.period < period
    ]
    if not pending:
        return []
    final = _invoicing.finalized(unit, [(payer_id, late.period) for late in pending])
    kept = unit.uow.records(INVOICE_TERMS).find_many(f"{payer_id}/{p.period}" for p in pending)
    out = []
    for late in sorted(pending, key=lambda p: p.period):
        issued = final.get((payer_id, late.period))
        if issued is None:  # not final (any more): its own invoice will bill it
            continue
        terms = kept.get(f"{payer_id}/{late.period}")
        found = _invoicing.invoices_of(
            unit,
            root,
            late.period,
            rounding if terms is None else terms.rounding,
            terms=None if terms is None else terms.profile,
        )
        rerated = next((i for i in found if i.payer_id == payer_id), None)
        lines, covered = adjustment_lines(late, issued, rerated, period)
        out.append(Planned(covered, lines, rerated, issued.currency))
    return out


def with_planned(
    invoice: Invoice | None, payer_id: str, period: BillingPeriod, plans: Sequence[Planned]
) -> Invoice | None:
    """``invoice`` (the payer's own for ``period``; ``None``: it bills nothing of its own)
    with the adjustment lines of ``plans`` at its end (``None``: nothing to bill)."""
    lines = [line for plan in plans for line in plan.lines]
    currency = invoice.currency if invoice is not None else plans[0].currency if plans else ""
    return adjusted_invoice(invoice, payer_id, period, currency, lines)


def bill(unit: Unit, invoice: Invoice, plans: Sequence[Planned]) -> None:
    """Mark the late periods of ``plans`` covered by the just-finalized ``invoice``, note
    the accounts their re-rating bills for the first time as invoiced, and emit one
    ``AdjustmentBilled`` (naming the invoice's number) for each that billed lines."""
    assert invoice.number is not None
    late = unit.uow.records(LATE_PERIODS)
    on = unit.uow.records(INVOICED_ACCOUNTS)
    for plan in plans:
        late.update(plan.covered)  # an arrival meanwhile: one of the two runs again
        if plan.rerated is not None:
            wanted = invoiced_accounts(plan.rerated)
            known = on.find_many(INVOICED_ACCOUNTS.key_of(a) for a in wanted)
            for account in wanted:
                if INVOICED_ACCOUNTS.key_of(account) not in known:
                    on.add(account)
        if plan.lines:
            unit.emit(
                AdjustmentBilled(
                    **unit.meta().about(invoice.payer_id),
                    invoice_number=invoice.number,
                    period=str(invoice.period),
                    adjusted_period=str(plan.covered.period),
                    total=Money(exact_sum(x.amount.amount for x in plan.lines), plan.currency),
                )
            )


def with_pending(
    unit: Unit,
    root: Account,
    period: BillingPeriod,
    invoices: Sequence[Invoice],
    rounding: Rounding | None,
) -> tuple[Invoice, ...]:
    """``invoices`` (a preview of ``root``'s tree for ``period``) with the adjustments
    finalizing each would add; nothing is written."""
    out = []
    for invoice in invoices:
        plans = planned(unit, root, invoice.payer_id, period, rounding)
        adjusted = with_planned(invoice, invoice.payer_id, period, plans)
        out.append(invoice if adjusted is None else adjusted)
    return tuple(out)
