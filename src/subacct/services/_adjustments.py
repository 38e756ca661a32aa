"""Late arrivals and the adjustments that bill them (private; the rules are in
``subacct.pricing.adjustments``).

An arrival (usage, a capture, a sub-account's setup fee, an approved upgrade) for a
period whose payer's invoice is final notes that period (``note_late``); the payer's next
invoice re-rates the periods noted for it (``adjust``, or ``with_pending`` for a
preview, which writes nothing)."""

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
from subacct.storage.collections import INVOICED_ACCOUNTS, LATE_PERIODS


@attrs.frozen
class _Planned:
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


def adjust(
    unit: Unit,
    root: Account,
    payer: Account,
    period: BillingPeriod,
    invoice: Invoice | None,
    rounding: Rounding | None,
) -> Invoice | None:
    """``invoice`` (the payer's for ``period``, being issued; ``None``: it bills nothing
    of its own) with the adjustments for every earlier period pending for the payer,
    those periods marked covered and their new accounts noted as invoiced, one
    ``AdjustmentBilled`` each. ``root``: the top of the payer's tree."""
    planned = _planned(unit, root, payer, period, rounding)
    late = unit.uow.records(LATE_PERIODS)
    on = unit.uow.records(INVOICED_ACCOUNTS)
    for plan in planned:
        late.update(plan.covered)
        if plan.rerated is not None:
            wanted = invoiced_accounts(plan.rerated)
            known = on.find_many(INVOICED_ACCOUNTS.key_of(a) for a in wanted)
            for account in wanted:
                if INVOICED_ACCOUNTS.key_of(account) not in known:
                    on.add(account)
        if plan.lines:
            unit.emit(
                AdjustmentBilled(
                    **unit.meta().about(payer.id),
                    invoice_id=f"{payer.id}/{period}",
                    period=str(period),
                    adjusted_period=str(plan.covered.period),
                    total=Money(exact_sum(x.amount.amount for x in plan.lines), plan.currency),
                )
            )
    return _with(invoice, payer.id, period, planned)


def with_pending(
    unit: Unit,
    root: Account,
    period: BillingPeriod,
    invoices: Sequence[Invoice],
    rounding: Rounding | None,
) -> tuple[Invoice, ...]:
    """``invoices`` (a preview of ``root``'s tree for ``period``) with the adjustments
    issuing each would add; nothing is written."""
    out = []
    for invoice in invoices:
        payer = unit.uow.accounts.get(invoice.payer_id)
        adjusted = _with(invoice, payer.id, period, _planned(unit, root, payer, period, rounding))
        out.append(invoice if adjusted is None else adjusted)
    return tuple(out)


def _with(
    invoice: Invoice | None, payer_id: str, period: BillingPeriod, planned: Sequence[_Planned]
) -> Invoice | None:
    lines = [line for plan in planned for line in plan.lines]
    currency = invoice.currency if invoice is not None else planned[0].currency if planned else ""
    return adjusted_invoice(invoice, payer_id, period, currency, lines)


def _planned(
    unit: Unit, root: Account, payer: Account, period: BillingPeriod, rounding: Rounding | None
) -> list[_Planned]:
    """The adjustment of each period before ``period`` pending for ``payer``, oldest
    first: that period re-rated from what is stored now against what it billed."""
    pending = [
        late
        for late in unit.uow.records(LATE_PERIODS).list_by("pending_for", payer.id)
        if late.period < period
    ]
    if not pending:
        return []
    final = _invoicing.finalized(unit, [(payer.id, late.period) for late in pending])
    out = []
    for late in sorted(pending, key=lambda p: p.period):
        issued = final.get((payer.id, late.period))
        if issued is None:  # not final (any more): its own invoice will bill it
            continue
        found = _invoicing.invoices_of(unit, root, late.period, rounding)
        rerated = next((i for i in found if i.payer_id == payer.id), None)
        lines, covered = adjustment_lines(late, issued, rerated, period)
        out.append(_Planned(covered, lines, rerated, issued.currency))
    return out
