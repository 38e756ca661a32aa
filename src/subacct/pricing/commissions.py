"""Agency commissions: a percentage of each linked client's subscription (seed 002: 25%).

The commission base of a client is its subscription for the period: the ``USAGE`` and
``COMMITMENT`` lines of its invoice (setup fees, adjustments and prepaid credits are not
subscription). A client billed without invoices (none issued for the period) is
commissioned on its subscription's plan amount instead: the price of the plan it is
subscribed to on its plan ladder, in the period (a due downgrade applied), when the
subscription is billable (``subscription_amount``). Each client's commission is rounded
on its own (half-even to the minor unit by default) and the statement total is the
exact sum of the lines.

>>> from subacct.money import Money
>>> from subacct.pricing import (BillingPeriod, BillingStructure, Plan, PlanLadder,
...                              build_invoices, commission_statement)
>>> ladder = PlanLadder([Plan("12,000", 12000, Money("60", "USD"))])
>>> jan = BillingPeriod(2026, 1)
>>> invoices = build_invoices(BillingStructure.pooled("client", [], ladder), {"client": 9000}, jan)
>>> st = commission_statement("agency", jan, "0.25", invoices, linked_clients={"client"})
>>> str(st.total)
'15.00 USD'
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Final

import attrs

from subacct._validators import instance_of
from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, InvalidPricing, LinkError, PeriodMismatch, quoted
from subacct.money import Money
from subacct.pricing import _checks
from subacct.pricing.invoices import Invoice, LineKind, Rounding
from subacct.pricing.ladder import PlanLadder
from subacct.pricing.period import BillingPeriod
from subacct.pricing.plan_changes import Subscription

__all__ = [
    "SUBSCRIPTION_KINDS",
    "CommissionLine",
    "CommissionStatement",
    "commission_statement",
    "subscription_amount",
]

SUBSCRIPTION_KINDS: Final = frozenset(
    {LineKind.USAGE, LineKind.COMMITMENT, LineKind.UPGRADE, LineKind.HOLD}
)


def _rate(value: object) -> Decimal:
    rate = _checks.price_amount(value, field="rate")
    if rate > 1:
        raise InvalidPricing(
            f"rate is a fraction from 0 to 1 (25% is 0.25), got {rate}", field="rate"
        )
    return rate


@attrs.frozen
class CommissionLine:
    """One linked client: its subscription and the agency's commission on it."""

    client_id: AccountId
    subscription: Money
    commission: Money


def _commission_lines(value: object) -> tuple[CommissionLine, ...]:
    if not isinstance(value, Iterable):
        raise InvalidInput("lines must be a list of CommissionLine", field="lines")
    lines = tuple(value)
    for line in lines:
        if not isinstance(line, CommissionLine):
            raise InvalidInput(f"expected a CommissionLine, got {type(line).__name__}")
    return lines


def _sum_commissions(statement: CommissionStatement) -> Money:
    return Money.sum((line.commission for line in statement.lines), statement.currency)


@attrs.frozen
class CommissionStatement:
    """What the agency earned in ``period``; ``total`` is the exact sum of the lines."""

    agency_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    rate: Decimal = attrs.field(converter=_rate)
    currency: str = attrs.field(converter=_checks.currency)
    lines: tuple[CommissionLine, ...] = attrs.field(converter=_commission_lines)
    _total: Money = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        for line in self.lines:
            if line.commission.currency != self.currency:
                raise InvalidInput("a commission line is in another currency", field="currency")
        object.__setattr__(self, "_total", _sum_commissions(self))

    @property
    def total(self) -> Money:
        """The exact sum of the commissions (derived)."""
        return self._total


def subscription_amount(
    subscription: Subscription, price: object, period: BillingPeriod
) -> Money | None:
    """The plan amount of ``subscription`` in ``period``, from its plan ladder ``price``
    (``None``: not billable then, or a price that is not a plan ladder).

    >>> from subacct.money import Money
    >>> from subacct.pricing import BillingPeriod, Plan, PlanLadder, Subscription
    >>> ladder = PlanLadder([Plan("Pro", 10000, Money("80", "USD"))])
    >>> str(subscription_amount(Subscription("client", "Pro"), ladder, BillingPeriod(2026, 1)))
    '80 USD'
    """
    current = subscription.in_period(period)
    if not current.billable or not isinstance(price, PlanLadder):
        return None
    return price.plan_named(current.plan).price


def commission_statement(
    agency_id: str,
    period: BillingPeriod,
    rate: Decimal | str,
    client_invoices: Iterable[Invoice],
    *,
    linked_clients: Collection[str],
    currency: str | None = None,
    rounding: Rounding | None = None,
    subscriptions: Mapping[str, Money] | None = None,
) -> CommissionStatement:
    """The agency's statement from its linked clients' invoices of ``period``, and the
    ``subscriptions`` amounts of the clients that have no invoice.

    Every invoice must belong to a client in ``linked_clients`` (``LinkError`` otherwise),
    be of ``period`` and in one currency (``currency`` if given; it is required when there
    are no invoices); each client appears once (an invoice wins over a subscription).
    """
    rounding = Rounding() if rounding is None else rounding
    agency = _checks.account(agency_id, field="agency_id")
    fraction = _rate(rate)
    invoices = list(client_invoices)
    seen: set[AccountId] = set()
    amounts = dict(subscriptions or {})
    currencies = {inv.currency for inv in invoices if isinstance(inv, Invoice)}
    currencies |= {amount.currency for amount in amounts.values()}
    if currency is not None:
        currencies.add(_checks.currency(currency))
    if not currencies:
        raise InvalidInput("no client invoices: give the statement's currency", field="currency")
    if len(currencies) > 1:
        raise InvalidInput(f"client invoices mix currencies {sorted(currencies)}")
    for inv in invoices:
        if not isinstance(inv, Invoice):
            raise InvalidInput(f"expected an Invoice, got {type(inv).__name__}")
        if inv.payer_id == agency or inv.payer_id not in linked_clients:
            raise LinkError(
                f"{quoted(inv.payer_id)} is not a client linked to agency {quoted(agency)}",
                account_id=inv.payer_id,
                agency_id=agency,
            )
        if inv.period != period:
            raise PeriodMismatch(
                f"invoice of {quoted(inv.payer_id)} is for {inv.period}, not {period}"
            )
        if inv.payer_id in seen:
            raise InvalidInput(f"two invoices for client {quoted(inv.payer_id)}")
        seen.add(inv.payer_id)
    (code,) = currencies
    bases = {
        inv.payer_id: Money.sum(
            (line.amount for line in inv.lines if line.kind in SUBSCRIPTION_KINDS), code
        )
        for inv in invoices
    }
    for client, amount in amounts.items():
        if client not in linked_clients:
            raise LinkError(
                f"{quoted(client)} is not a client linked to agency {quoted(agency)}",
                account_id=client,
                agency_id=agency,
            )
        bases.setdefault(AccountId(client), amount)
    lines = [
        CommissionLine(
            client, base, base.multiplied(fraction, rounding.mode, rounding.places(code))
        )
        for client, base in sorted(bases.items())
    ]
    return CommissionStatement(agency, period, fraction, code, lines)
