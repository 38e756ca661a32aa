"""One-time setup fees per sub-account, with a configurable volume discount (seed 000).

The fee is charged once, when a sub-account is created. Discounts go by the sub-account's
ordinal under its master: a ``SetupDiscount(6, 20)`` takes 20% off the 6th sub-account
and every later one (a fee already charged is never re-priced). Discounted fees are
rounded half-even to the currency's minor unit. ``SetupFeeSchedule.free`` models
platforms where creating a sub-account costs nothing (seed 003).

>>> from subacct.money import Money
>>> from subacct.pricing import SetupDiscount, SetupFeeSchedule
>>> fees = SetupFeeSchedule(Money("30", "USD"), [SetupDiscount(6, 20), SetupDiscount(21, 40)])
>>> [str(fees.fee_for(n)) for n in (1, 6, 21)]
['30.00 USD', '24.00 USD', '18.00 USD']
>>> str(fees.total(2)), str(SetupFeeSchedule.free("EUR").total(10))
('60.00 USD', '0.00 EUR')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Final

import attrs

from subacct.errors import InvalidPricing
from subacct.money import Money, multiply, subtract
from subacct.pricing import _checks
from subacct.pricing.invoices import InvoiceLine, LineKind
from subacct.pricing.period import BillingPeriod

__all__ = ["SetupDiscount", "SetupFeeSchedule", "setup_fee_lines"]

_HUNDRED: Final = Decimal(100)
_PERCENT: Final = Decimal("0.01")


def _percent(value: object) -> Decimal:
    percent = _checks.price_amount(value, field="percent")
    if percent > 100:
        raise InvalidPricing(f"a discount cannot exceed 100%, got {percent}", field="percent")
    return percent


def _from_ordinal(v: object) -> int:
    return _checks.positive(v, field="from_ordinal")


@attrs.frozen
class SetupDiscount:
    """``percent`` off the setup fee of the ``from_ordinal``-th sub-account onwards."""

    from_ordinal: int = attrs.field(converter=_from_ordinal)
    percent: Decimal = attrs.field(converter=_percent)


def _discounts(value: object) -> tuple[SetupDiscount, ...]:
    if not isinstance(value, Iterable):
        raise InvalidPricing("discounts must be a list of SetupDiscount", field="discounts")
    discounts = tuple(value)
    for d in discounts:
        if not isinstance(d, SetupDiscount):
            raise InvalidPricing(f"expected a SetupDiscount, got {type(d).__name__}")
    for low, high in pairwise(discounts):
        if high.from_ordinal <= low.from_ordinal:
            raise InvalidPricing(
                "discounts must be in strictly ascending order of from_ordinal",
                field="discounts",
            )
        if high.percent < low.percent:
            raise InvalidPricing(
                "a later discount may not be smaller than an earlier one", field="discounts"
            )
    return discounts


def _fee(v: object) -> Money:
    return _checks.non_negative_money(v, field="fee")


@attrs.frozen
class SetupFeeSchedule:
    """The setup fee of each new sub-account; see the module docstring."""

    fee: Money = attrs.field(converter=_fee)
    discounts: tuple[SetupDiscount, ...] = attrs.field(default=(), converter=_discounts)

    @classmethod
    def free(cls, currency: str) -> SetupFeeSchedule:
        """Creating a sub-account costs nothing."""
        return cls(Money.zero(_checks.currency(currency)))

    def fee_for(self, ordinal: int) -> Money:
        """The fee of the ``ordinal``-th sub-account of one master (1 = the first)."""
        n = _checks.positive(ordinal, field="ordinal")
        percent = Decimal(0)
        for discount in self.discounts:
            if n >= discount.from_ordinal:
                percent = discount.percent
        factor = multiply(subtract(_HUNDRED, percent), _PERCENT)  # exact: a power of ten
        return self.fee.multiplied(factor)

    def total(self, count: int, *, already: int = 0) -> Money:
        """The fees of ``count`` new sub-accounts when the master already has ``already``."""
        n = _checks.quantity(count, field="count")
        start = _checks.quantity(already, field="already")
        fees = (self.fee_for(start + i + 1) for i in range(n))
        return Money.sum(fees, self.fee.currency).rounded()

    def lines(self, new_subs: Sequence[str], *, already: int = 0) -> tuple[InvoiceLine, ...]:
        """Invoice lines (``LineKind.SETUP_FEE``) for sub-accounts created in this period."""
        start = _checks.quantity(already, field="already")
        return tuple(
            InvoiceLine(
                sub,
                LineKind.SETUP_FEE,
                f"one-time setup of sub-account {sub} (#{start + i + 1})",
                1,
                self.fee_for(start + i + 1),
            )
            for i, sub in enumerate(new_subs)
        )


def setup_fee_lines(
    schedule: SetupFeeSchedule,
    subs: Iterable[tuple[str, datetime]],
    period: BillingPeriod,
) -> tuple[InvoiceLine, ...]:
    """The setup-fee lines a payer owes for ``period``.

    ``subs`` are ``(sub-account id, created_at)`` of every sub-account ever created under
    the payer (its own subs and those of the accounts it pays for, closed ones included).
    They are numbered in creation order (``created_at``, then id), so the discount of
    the 6th sub is the 6th sub's whatever month it came in, and an earlier fee is never
    re-priced; the lines are those of the subs created in ``period``.

    >>> from datetime import UTC
    >>> fees = SetupFeeSchedule(Money("30", "USD"), [SetupDiscount(2, 50)])
    >>> t = lambda m: datetime(2026, m, 3, tzinfo=UTC)
    >>> subs = [("a2", t(2)), ("a1", t(1))]
    >>> [str(x.amount) for x in setup_fee_lines(fees, subs, BillingPeriod(2026, 2))]
    ['15.00 USD']
    """
    ordered = sorted(subs, key=lambda item: (item[1], item[0]))
    lines: list[InvoiceLine] = []
    for ordinal, (sub_id, created_at) in enumerate(ordered, start=1):
        if period.contains(created_at):
            lines += schedule.lines([sub_id], already=ordinal - 1)
    return tuple(lines)
