"""What every price model offers: a price for a monthly volume, and its shape for analysis.

A price model maps a whole number of units (messages) sent in a period to an exact amount.
``PlanLadder``, ``TieredPrice`` and ``PackagePrice`` implement ``PriceModel``; so can a
host's own model.

>>> from subacct.pricing import PriceModel, PlanLadder, Plan
>>> from subacct.money import Money
>>> ladder = PlanLadder([Plan("2,500", 2500, Money("15", "USD"))])
>>> isinstance(ladder, PriceModel), ladder.price(100)
(True, Money(amount=Decimal('15'), currency='USD'))
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs

from subacct.errors import InvalidPricing, quoted
from subacct.money import Money, add, multiply

__all__ = ["Piece", "PriceModel"]


def _bound(value: object) -> int:
    if type(value) is not int or value < 0:
        raise InvalidPricing(f"piece bounds are non-negative integers, got {quoted(value)}")
    return value


def _open_bound(v: object) -> int | None:
    return None if v is None else _bound(v)


@attrs.frozen
class Piece:
    """On volumes ``lo..hi`` (inclusive; ``hi=None``: no end) the price is ``intercept + slope*v``.

    Every model built from plans or tiers is a finite list of such pieces covering
    ``0..max_volume`` in order; ``subacct.pricing.subadditivity_witness`` relies on it.

    >>> Piece(0, 2500, Decimal("15"), Decimal(0)).at(1000)
    Decimal('15')
    """

    lo: int = attrs.field(converter=_bound)
    hi: int | None = attrs.field(converter=_open_bound)
    intercept: Decimal
    slope: Decimal

    def __attrs_post_init__(self) -> None:
        if self.hi is not None and self.hi < self.lo:
            raise InvalidPricing(f"piece {self.lo}..{self.hi} is empty")

    def at(self, volume: int) -> Decimal:
        """The price at ``volume`` (which must lie on this piece)."""
        return add(self.intercept, multiply(self.slope, volume))


@runtime_checkable
class PriceModel(Protocol):
    """A price for each whole volume ``0 <= v <= max_volume`` in one currency."""

    @property
    def currency(self) -> str:
        """ISO 4217 code of every amount this model returns."""
        ...

    @property
    def max_volume(self) -> int | None:
        """The largest volume the model can price (``None``: unbounded)."""
        ...

    def amount(self, volume: int) -> Decimal:
        """The exact, unrounded price of ``volume`` units (fast path, no Money object)."""
        ...

    def price(self, volume: int) -> Money:
        """The exact, unrounded price of ``volume`` units."""
        ...

    def describe(self, volume: int) -> str:
        """A short human description of how ``volume`` is priced (for invoice lines)."""
        ...

    def pieces(self) -> tuple[Piece, ...] | None:
        """The model as affine pieces, or ``None`` when it has no finite such form."""
        ...
