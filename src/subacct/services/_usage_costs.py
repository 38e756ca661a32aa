"""Loading a report's stored usage and the invoices that price it (private; the rules
are in ``subacct.pricing.usage_reports``)."""

from __future__ import annotations

from collections.abc import Sequence

from subacct.domain import AccountId, Tree
from subacct.money import Money
from subacct.pricing import BillingPeriod, Invoice, PriceList, Rounding
from subacct.pricing.billing_run import payer_in
from subacct.pricing.model import PriceModel
from subacct.pricing.usage import UsageGroup
from subacct.pricing.usage_reports import group_costs
from subacct.services import _invoicing
from subacct.services._runner import Unit
from subacct.storage.collections import BILLING_PROFILES


def priced_usage(
    unit: Unit,
    accounts: Sequence[AccountId],
    tree: Tree,
    period: BillingPeriod,
    rounding: Rounding | None,
) -> tuple[dict[UsageGroup, int], dict[UsageGroup, Money]]:
    """The usage of ``accounts`` in ``period`` per group (summed by storage) and the cost
    of each group whose account has a payer, from the period's invoices as billing
    previews them (``invoices_of``: one run per top-most payer of the accounts'
    trees). ``tree`` holds the accounts and their ancestors."""
    groups = unit.uow.usage.report_totals(period, accounts)
    used = sorted({g[0] for g in groups})
    if not used:
        return groups, {}
    paths = {a: tree.path(a) for a in used}
    chained = list(dict.fromkeys(a for path in paths.values() for a in path))
    profiles = unit.uow.records(BILLING_PROFILES).find_many(chained)
    tops: dict[AccountId, None] = {}
    for path in paths.values():
        if payer_in(list(reversed(path)), profiles) is not None:
            tops[next(a for a in path if a in profiles)] = None
    invoices: list[Invoice] = []
    for top in tops:
        invoices += _invoicing.invoices_of(unit, unit.uow.accounts.get(top), period, rounding)
    wanted = set(used)
    prices: dict[AccountId, PriceList | PriceModel] = {}
    for invoice in invoices:
        payer = profiles.get(invoice.payer_id)
        for line in invoice.lines:
            if payer is not None and line.account_id in wanted:
                prices[line.account_id] = payer.price
    return groups, group_costs(groups, invoices, prices, rounding=rounding)
