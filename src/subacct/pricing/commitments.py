"""Commitments: a base the bill never falls below, and the fluctuating-volume true-up.

* Base commitment (seed 000): the payer commits to a monthly volume. The bill is the price
  of the plan actually reached, never less than the price of the committed volume:
  ``max(p(base), p(used))``. Unused volume never carries over (each period is priced on
  its own) and going over costs no penalty: just the plan reached.
* Prepaid with fluctuating volume (seed 001): the payer prepaid the plan covering
  ``volume`` and may send past it. At the end of the month it pays
  ``p(used) - p(prepaid)`` when positive: the difference between the plan covering actual
  use and the prepaid plan, exactly what a mid-month upgrade would have cost.

For a non-decreasing price (every ladder) both read ``max(p(commit), p(used))`` in total;
they differ in when the committed part is paid (at the end with the usage, or in advance).

>>> from subacct.money import Money
>>> from subacct.pricing import Plan, PlanLadder, true_up
>>> ladder = PlanLadder([Plan("30,000", 30000, Money("135", "USD")),
...                      Plan("45,000", 45000, Money("190", "USD"))])
>>> true_up(ladder, 30000, 40000)
Money(amount=Decimal('55'), currency='USD')
"""

from __future__ import annotations

import attrs

from subacct._validators import instance_of
from subacct.errors import InvalidInput
from subacct.money import Money
from subacct.pricing import _checks
from subacct.pricing.model import PriceModel

__all__ = ["Commitment", "CommitmentCharge", "commitment_charge", "true_up"]


def _volume(v: object) -> int:
    return _checks.quantity(v, field="volume")


@attrs.frozen
class Commitment:
    """A committed (``prepaid=False``) or prepaid (``prepaid=True``) monthly volume.

    >>> Commitment(5000).prepaid
    False
    """

    volume: int = attrs.field(converter=_volume)
    prepaid: bool = attrs.field(default=False, validator=instance_of(bool))


@attrs.frozen
class CommitmentCharge:
    """The pieces of a committed bill for one period (all exact, unrounded)."""

    used: int
    committed: int
    reached: Money  # price of the volume actually used
    base: Money  # price of the committed volume

    @property
    def charge(self) -> Money:
        """What the period costs in total: ``max(base, reached)``."""
        return self.reached if self.reached >= self.base else self.base

    @property
    def top_up(self) -> Money:
        """What brings the bill up to the base when usage fell short (else zero)."""
        return self.charge - self.reached

    @property
    def true_up(self) -> Money:
        """What usage past the commitment adds on top of the base (else zero)."""
        return self.charge - self.base


def commitment_charge(model: PriceModel, commitment: Commitment, used: int) -> CommitmentCharge:
    """Price ``used`` messages for a payer with ``commitment`` on ``model``.

    >>> from subacct.pricing import Plan, PlanLadder
    >>> ladder = PlanLadder([Plan("8,500", 8500, Money("45", "USD")),
    ...                      Plan("18,000", 18000, Money("90", "USD"))])
    >>> commitment_charge(ladder, Commitment(5000), 2000).charge.amount
    Decimal('45')
    """
    if not isinstance(commitment, Commitment):
        raise InvalidInput("commitment must be a Commitment", field="commitment")
    _checks.quantity(used, field="used")
    return CommitmentCharge(
        used=used,
        committed=commitment.volume,
        reached=model.price(used),
        base=model.price(commitment.volume),
    )


def true_up(model: PriceModel, prepaid_volume: int, used: int) -> Money:
    """``p(used) - p(prepaid_volume)`` when positive, else zero (see the module docstring)."""
    return commitment_charge(model, Commitment(prepaid_volume, prepaid=True), used).true_up
