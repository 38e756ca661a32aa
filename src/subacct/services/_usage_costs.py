"""Loading a report's stored usage and the invoices that price it (private; the rules
are in ``subacct.pricing.usage_reports``)."""

from __future__ import annotations

from collections.abc import Sequence

from subacct.domain import AccountId, Tree
from subacct.errors import InvalidInput
from subacct.money import Money
from subacct.pricing import BillingPeriod, Rounding
from subacct.pricing.billing_run import payer_in
from subacct.pricing.usage import UsageGroup
from subacct.pricing.usage_reports import group_costs
from subacct.services import _invoicing
from subacct.services._runner import Unit
from subacct.storage.collections import BILLING_PROFILES, INVOICES


def priced_usage(
    unit: Unit,
    accounts: Sequence[AccountId],
    tree: Tree,
    period: BillingPeriod,
    rounding: Rounding | None,
) -> tuple[dict[UsageGroup, int], dict[UsageGroup, Money]]:
    """The usage of ``accounts`` in ``period`` per group (summed by storage) and the cost
    of each group whose account has a payer. An account on an issued invoice of the
    period is priced from that invoice (what was billed, whatever changed since); any
    other from the invoices billing would issue now (``invoices_of``, one run per
    top-most payer of the accounts' trees). ``tree`` holds the accounts and their
    ancestors."""
    groups = unit.uow.usage.report_totals(period, accounts)
    used = sorted({g[0] for g in groups})
    if not used:
        return groups, {}
    issued_on = _invoicing.invoiced_in(unit, [tree.get(a) for a in used], period)
    found = unit.uow.records(INVOICES).find_many(
        f"{p}/{period}" for p in dict.fromkeys(issued_on.values())
    )
    issued = list(found.values())
    paths = {a: tree.path(a) for a in used}
    chained = [a for path in paths.values() for a in path]
    profiles = unit.uow.records(BILLING_PROFILES).find_many(
        dict.fromkeys([*chained, *issued_on.values()])
    )
    tops: dict[AccountId, None] = {}
    for account, path in paths.items():
        if account not in issued_on and payer_in(list(reversed(path)), profiles) is not None:
            tops[next(a for a in path if a in profiles)] = None
    previews = [
        invoice
        for top in tops
        for invoice in _invoicing.invoices_of(unit, unit.uow.accounts.get(top), period, rounding)
    ]
    costs: dict[UsageGroup, Money] = {}
    for invoice in [*issued, *previews]:
        payer = profiles.get(invoice.payer_id)
        on = invoice.payer_id if invoice in issued else None  # where the account must be
        billed = {line.account_id for line in invoice.lines} & set(used)
        billed = {a for a in billed if issued_on.get(a) == on}
        if payer is None or not billed:
            continue
        mine = {g: n for g, n in groups.items() if g[0] in billed}
        try:
            costs.update(
                group_costs(mine, [invoice], dict.fromkeys(billed, payer.price), rounding=rounding)
            )
        except InvalidInput:
            if invoice not in issued:
                raise
            # the payer's price (or the rounding asked for) is no longer the one it was
            # issued with: its lines cannot be told apart by charge, so they cost None
    return groups, costs
