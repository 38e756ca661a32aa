"""Reports from stored usage, with the priced cost of every line (pure).

Storage sums a period's usage per group, ``(account, label, owner, channel, dimensions)``
(``UsageGroup``, ``UsageRepository.report_totals``). Three steps make the report:

1. ``group_costs(groups, invoices, prices)`` prices **every** group of the accounts (the
   hidden ones too, so that a row costs the same whoever looks at it). The cost of a
   group is its share of its account's invoice line: each usage line of an account's
   invoice bills one charge of its payer's price (one line per charge, the pooled
   volume of the charge priced once and split pro rata among the accounts, see
   ``subacct.pricing.invoices``); that line's amount is split again among the account's
   groups billed by that charge, pro rata by quantity, in whole minor units with the
   same largest-remainder rule (``split_pro_rata``; ties: label, owner, channel and
   dimensions order). So the costs of an account's groups add up **exactly** to its
   usage lines, and those to the payer's pooled price of each charge.
2. ``Visibility.sees(account, owner)`` keeps the groups the viewer may see
   (``subacct.pricing.reports.report_visibility``).
3. ``usage_report(period, groups, costs, grouping)`` sums them into lines per account
   and channel (and label, for ``Grouping.LABEL``); ``usage_report_csv`` renders it.

An account with no payer (no billing profile on it nor above it) has no invoice: its
groups are left out of ``group_costs`` and its lines cost ``None``. What an invoice bills
beyond usage (a base commitment's difference, an upgrade, a prepaid credit, a hold fee, a
setup fee, an adjustment, a charge's price at volume 0) is on the payer's invoice and in
no line of the report.

>>> from subacct.money import Money
>>> from subacct.pricing import BillingPeriod, BillingStructure, Plan, PlanLadder
>>> from subacct.pricing import build_invoices, Channel, Dimensions
>>> from subacct.pricing.reports import Grouping
>>> jan, sms, none = BillingPeriod(2026, 1), Channel.SMS, Dimensions()
>>> ladder = PlanLadder([Plan("18,000", 18000, Money(90, "USD"))])
>>> s = BillingStructure.pooled("agencydemo", ["agency1"], ladder)
>>> invoices = build_invoices(s, {"agencydemo": 9000, "agency1": 6000}, jan)
>>> groups = {("agencydemo", None, "ann", sms, none): 9000,
...           ("agency1", "promo", "bob", sms, none): 4000,
...           ("agency1", None, None, sms, none): 2000}
>>> costs = group_costs(groups, invoices, {"agencydemo": ladder, "agency1": ladder})
>>> [str(costs[g]) for g in groups]
['54.00 USD', '24.00 USD', '12.00 USD']
>>> report = usage_report(jan, groups, costs, Grouping.LABEL)
>>> for x in report.lines:
...     print(x.account_id, x.label, x.quantity, x.cost)
agency1 None 2000 12.00 USD
agency1 promo 4000 24.00 USD
agencydemo None 9000 54.00 USD
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import attrs

from subacct._validators import instance_of
from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, quoted
from subacct.money import Money, exact_sum, multiply
from subacct.pricing import _checks
from subacct.pricing.channels import Channel
from subacct.pricing.charges import PriceList, charge_for, charge_volumes
from subacct.pricing.invoices import Invoice, InvoiceLine, LineKind, Rounding
from subacct.pricing.model import PriceModel
from subacct.pricing.period import BillingPeriod
from subacct.pricing.pooling import split_pro_rata
from subacct.pricing.reports import Grouping, csv_text
from subacct.pricing.usage import UsageGroup, UsageSlice

__all__ = [
    "UsageReport",
    "UsageReportLine",
    "group_costs",
    "usage_report",
    "usage_report_csv",
]


def _group_key(group: UsageGroup) -> tuple[bool, str, bool, str, str, str]:
    _, label, owner, channel, dims = group
    return (label is not None, label or "", owner is not None, owner or "", channel, dims.key)


def _usage_lines(invoices: Iterable[Invoice]) -> dict[AccountId, list[InvoiceLine]]:
    """Each account's usage lines that bill some volume, in invoice order."""
    out: dict[AccountId, list[InvoiceLine]] = {}
    for invoice in invoices:
        if not isinstance(invoice, Invoice):
            raise InvalidInput(f"expected an Invoice, got {type(invoice).__name__}")
        for line in invoice.lines:
            if line.kind is LineKind.USAGE and line.quantity:
                out.setdefault(line.account_id, []).append(line)
    return out


def _units(amount: Money, rounding: Rounding) -> tuple[int, Decimal]:
    """``amount`` in whole units of the invoices' rounding, and that unit."""
    quantum = Decimal(1).scaleb(-rounding.places(amount.currency))
    units = amount.amount / quantum
    if units != units.to_integral_value():
        raise InvalidInput(
            f"an invoice line of {amount} is not in whole units of the rounding given",
            field="rounding",
        )
    return int(units), quantum


def group_costs(
    groups: Mapping[UsageGroup, int],
    invoices: Iterable[Invoice],
    prices: Mapping[AccountId, PriceList | PriceModel],
    *,
    rounding: Rounding | None = None,
) -> dict[UsageGroup, Money]:
    """The cost of each group of ``groups`` (quantities per ``UsageGroup``) whose account
    has a payer: its share of the account's usage line of its charge (see the module
    docstring). ``invoices`` are the period's invoices that bill the accounts (as
    ``build_invoices`` or ``period_invoices`` made them, with the same ``rounding``);
    ``prices`` maps each account to its payer's price (accounts with no payer left out:
    their groups get no cost). ``InvalidInput`` when the usage is not what the invoices
    billed."""
    how = Rounding() if rounding is None else rounding
    lines = _usage_lines(invoices)
    by_account: dict[AccountId, list[UsageGroup]] = {}
    for group, quantity in groups.items():
        _checks.quantity(quantity, field="quantity")
        if group[0] in prices and quantity:
            by_account.setdefault(group[0], []).append(group)
    out: dict[UsageGroup, Money] = {}
    for account, mine in by_account.items():
        price = prices[account]
        slices: dict[UsageSlice, int] = {}
        by_charge: dict[str, list[UsageGroup]] = {}
        for group in sorted(mine, key=_group_key):
            slices[group[3], group[4]] = slices.get((group[3], group[4]), 0) + groups[group]
            by_charge.setdefault(charge_for(price, group[3], group[4])[0], []).append(group)
        volumes = charge_volumes(price, slices)
        billed = lines.get(account, [])
        if list(volumes.values()) != [line.quantity for line in billed]:
            raise InvalidInput(
                f"the usage of {quoted(account)} is not what its invoice bills "
                f"({sum(volumes.values())} messages, invoiced {sum(x.quantity for x in billed)})",
                field="invoices",
                account_id=account,
            )
        for name, line in zip(volumes, billed, strict=True):
            units, quantum = _units(line.amount, how)
            parts = by_charge[name]
            shares = split_pro_rata(units, [groups[g] for g in parts])
            currency = line.amount.currency
            out.update(
                (g, Money(multiply(share, quantum), currency))
                for g, share in zip(parts, shares, strict=True)
            )
    return out


def _label(value: object) -> str | None:
    return _checks.optional_text(value, field="label")


def _cost(value: object) -> Money | None:
    if value is not None and not isinstance(value, Money):
        raise InvalidInput("cost must be Money or None", field="cost")
    return value


@attrs.frozen
class UsageReportLine:
    """``quantity`` messages of ``account_id`` on ``channel`` (under ``label`` in a
    ``LABEL`` report) and what they cost (``None``: the account has no payer)."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    channel: Channel = attrs.field(converter=Channel)
    label: str | None = attrs.field(converter=_label)
    quantity: int = attrs.field(converter=_checks.quantity)
    cost: Money | None = attrs.field(converter=_cost)


def _report_lines(value: object) -> tuple[UsageReportLine, ...]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(x, UsageReportLine) for x in value
    ):
        raise InvalidInput("lines must be a list of UsageReportLine", field="lines")
    return tuple(value)


def _report_grouping(value: object) -> Grouping:
    if value not in (Grouping.ACCOUNT, Grouping.LABEL):
        raise InvalidInput(
            f"a report of stored usage groups by Grouping.ACCOUNT or Grouping.LABEL, got "
            f"{quoted(value)}",
            field="grouping",
        )
    assert isinstance(value, Grouping)
    return value


@attrs.frozen
class UsageReport:
    """A period's visible stored usage, per account and channel (and label), priced.

    ``total`` is the sum of the lines' quantities; ``costs()`` their cost per currency.
    """

    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    grouping: Grouping = attrs.field(converter=_report_grouping)
    lines: tuple[UsageReportLine, ...] = attrs.field(converter=_report_lines)

    def __attrs_post_init__(self) -> None:
        if self.grouping is Grouping.ACCOUNT and any(x.label for x in self.lines):
            raise InvalidInput("only a label report has labels", field="lines")

    @property
    def total(self) -> int:
        return sum(x.quantity for x in self.lines)

    def costs(self) -> dict[str, Money]:
        """The lines' costs summed per currency (lines with no cost left out)."""
        out: dict[str, list[Decimal]] = {}
        for x in self.lines:
            if x.cost is not None:
                out.setdefault(x.cost.currency, []).append(x.cost.amount)
        return {c: Money(exact_sum(amounts), c) for c, amounts in sorted(out.items())}

    def accounts(self) -> list[AccountId]:
        """The accounts with a line, in line order."""
        return list(dict.fromkeys(x.account_id for x in self.lines))

    def account_total(self, account_id: str) -> int:
        """One account's messages in the report."""
        return sum(x.quantity for x in self.lines if x.account_id == account_id)

    def account_cost(self, account_id: str) -> Money | None:
        """One account's cost in the report (``None``: no line, or no payer)."""
        costs = [x.cost for x in self.lines if x.account_id == account_id]
        if not costs or any(c is None for c in costs):
            return None
        return Money.sum(costs, costs[0].currency)  # type: ignore[union-attr]


def usage_report(
    period: BillingPeriod,
    groups: Mapping[UsageGroup, int],
    costs: Mapping[UsageGroup, Money],
    grouping: Grouping,
) -> UsageReport:
    """The report of ``groups`` (already kept by ``Visibility.sees``) priced by ``costs``
    (``group_costs``): one line per account, channel and (for ``LABEL``) label, ordered
    by account id, channel and label (unlabelled first)."""
    how = _report_grouping(grouping)
    sums: dict[tuple[AccountId, Channel, str | None], tuple[int, list[Money | None]]] = {}
    for group, quantity in groups.items():
        if not quantity:
            continue
        key = (group[0], group[3], group[1] if how is Grouping.LABEL else None)
        total, priced = sums.get(key, (0, []))
        priced.append(costs.get(group))
        sums[key] = (total + quantity, priced)
    lines = []
    for key in sorted(sums, key=lambda k: (k[0], k[1], k[2] is not None, k[2] or "")):
        quantity, priced = sums[key]
        cost = None
        if priced and all(c is not None for c in priced):
            cost = Money.sum(priced, priced[0].currency)  # type: ignore[union-attr]
        lines.append(UsageReportLine(key[0], key[1], key[2], quantity, cost))
    return UsageReport(period, how, lines)


def usage_report_csv(report: UsageReport) -> str:
    """The report as CSV text: ``period, account_id, channel, [label,] quantity, cost,
    currency`` (an account with no payer: empty cost and currency). Money is exact
    decimal text; ids and labels are made safe for spreadsheets (``csv_text``). Checking
    the export right (``reports.export``) is the caller's job.

    >>> jan = BillingPeriod(2026, 1)
    >>> line = UsageReportLine("agency1", "sms", "=cmd", 5, Money("0.35", "EUR"))
    >>> print(usage_report_csv(UsageReport(jan, Grouping.LABEL, [line])), end="")
    period,account_id,channel,label,quantity,cost,currency
    2026-01,agency1,sms,'=cmd,5,0.35,EUR
    """
    if not isinstance(report, UsageReport):
        raise InvalidInput("expected a UsageReport", field="report")
    labelled = report.grouping is Grouping.LABEL
    header = ["period", "account_id", "channel", *(["label"] if labelled else [])]
    rows = (
        [str(report.period), x.account_id, x.channel, *([x.label] if labelled else []),
         str(x.quantity), None if x.cost is None else str(x.cost.amount),
         None if x.cost is None else x.cost.currency]
        for x in report.lines
    )  # fmt: skip
    header += ["quantity", "cost", "currency"]
    return csv_text(header, rows, text_cells=(1, 3) if labelled else (1,))
