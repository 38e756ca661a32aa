"""Plan ladders: named plans with an included monthly volume and a monthly price.

The smallest plan whose included volume covers the volume sent applies (JangoMail's
pricing). Above the top plan a ladder either charges a per-message ``overage_unit_price``
on top of the top plan's price or, when it defines none, refuses with
``VolumeAboveLadder``: the ladder has no price for that volume and guessing one would bill
the customer for something nobody agreed to.

A ladder is validated when built: at least one plan, unique names, strictly ascending
included volumes, non-decreasing prices (so more usage never costs less), no negative
price, one currency. A volume of 0 is covered by the first plan: an account on a ladder
pays at least the smallest plan.

>>> from subacct.money import Money
>>> from subacct.pricing import Plan, PlanLadder
>>> usd = lambda a: Money(a, "USD")
>>> ladder = PlanLadder([Plan("2,500", 2500, usd(15)), Plan("8,500", 8500, usd(45)),
...                      Plan("12,000", 12000, usd(60)), Plan("18,000", 18000, usd(90))])
>>> ladder.plan_for(16000).name, ladder.price(16000)
('18,000', Money(amount=Decimal('90'), currency='USD'))
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from decimal import Decimal
from itertools import pairwise

import attrs

from subacct.errors import InvalidPricing, PlanNotFound, VolumeAboveLadder, quoted
from subacct.money import Money, add, multiply, subtract
from subacct.pricing import _checks
from subacct.pricing.model import Piece

__all__ = ["Plan", "PlanLadder"]


def _included(value: object) -> int:
    if type(value) is not int or value < 0:
        raise InvalidPricing(
            f"a plan's included volume must be a non-negative integer, got {quoted(value)}",
            field="included",
        )
    return value


def _plan_price(value: object) -> Money:
    return _checks.non_negative_money(value, field="price")


def _plan_name(v: object) -> str:
    return _checks.text(v, field="plan name")


@attrs.frozen
class Plan:
    """A plan: ``included`` messages per month for ``price`` per month.

    >>> Plan("18,000", 18000, Money("90", "USD")).included
    18000
    """

    name: str = attrs.field(converter=_plan_name)
    included: int = attrs.field(converter=_included)
    price: Money = attrs.field(converter=_plan_price)


def _plans(value: object) -> tuple[Plan, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes):
        raise InvalidPricing("plans must be a list of Plan", field="plans")
    plans = tuple(value)
    if not plans:
        raise InvalidPricing("a ladder needs at least one plan", field="plans")
    for plan in plans:
        if not isinstance(plan, Plan):
            raise InvalidPricing(f"expected a Plan, got {type(plan).__name__}", field="plans")
    return plans


def _overage(value: object) -> Decimal | None:
    return None if value is None else _checks.price_amount(value, field="overage_unit_price")


@attrs.frozen
class PlanLadder:
    """Plans in ascending order of included volume; see the module docstring for the rules."""

    plans: tuple[Plan, ...] = attrs.field(converter=_plans)
    overage_unit_price: Decimal | None = attrs.field(default=None, converter=_overage)
    _volumes: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        plans = self.plans
        currencies = sorted({p.price.currency for p in plans})
        if len(currencies) != 1:
            raise InvalidPricing(
                f"all plans of a ladder must use one currency, got {currencies}",
                field="currency",
                reason="mixed_currency",
            )
        names = [p.name for p in plans]
        if len(set(names)) != len(names):
            raise InvalidPricing(
                "plan names must be unique", field="plans", reason="duplicate_name"
            )
        for lower, upper in pairwise(plans):
            if upper.included <= lower.included:
                raise InvalidPricing(
                    f"plans must be in strictly ascending order of included volume: "
                    f"{quoted(upper.name)} ({upper.included}) comes after {quoted(lower.name)} "
                    f"({lower.included})",
                    field="plans",
                    reason="bounds_not_ascending",
                )
            if upper.price.amount < lower.price.amount:
                raise InvalidPricing(
                    f"a bigger plan may not be cheaper: {quoted(upper.name)} costs {upper.price}, "
                    f"{quoted(lower.name)} costs {lower.price}",
                    field="plans",
                    reason="price_decreasing",
                )
        object.__setattr__(self, "_volumes", tuple(p.included for p in plans))

    @property
    def currency(self) -> str:
        return self.plans[0].price.currency

    @property
    def top(self) -> Plan:
        """The plan with the largest included volume."""
        return self.plans[-1]

    @property
    def max_volume(self) -> int | None:
        return None if self.overage_unit_price is not None else self.top.included

    def plan_named(self, name: str) -> Plan:
        """The plan called ``name`` (``PlanNotFound`` otherwise)."""
        for plan in self.plans:
            if plan.name == name:
                return plan
        raise PlanNotFound(f"no plan named {quoted(name)} on this ladder", plan=name)

    def plan_for(self, volume: int) -> Plan:
        """The smallest plan covering ``volume`` (the top plan when billed with overage)."""
        v = _checks.quantity(volume, field="volume")
        i = bisect_left(self._volumes, v)
        if i < len(self.plans):
            return self.plans[i]
        if self.overage_unit_price is None:
            raise VolumeAboveLadder(
                f"{v} messages is above the top plan {quoted(self.top.name)} ({self.top.included}) "
                "and the ladder defines no overage rate",
                field="volume",
                volume=v,
                top_included=self.top.included,
            )
        return self.top

    def overage(self, volume: int) -> int:
        """Messages above the top plan (billed at ``overage_unit_price``)."""
        return max(0, _checks.quantity(volume, field="volume") - self.top.included)

    def amount(self, volume: int) -> Decimal:
        plan = self.plan_for(volume)
        extra = volume - plan.included
        if extra <= 0:
            return plan.price.amount
        assert self.overage_unit_price is not None  # plan_for refused otherwise
        return add(plan.price.amount, multiply(extra, self.overage_unit_price))

    def price(self, volume: int) -> Money:
        return Money(self.amount(volume), self.currency)

    def describe(self, volume: int) -> str:
        plan = self.plan_for(volume)
        extra = volume - plan.included
        if extra > 0:
            return f"plan {plan.name} + {extra} over at {self.overage_unit_price} each"
        return f"plan {plan.name}"

    def pieces(self) -> tuple[Piece, ...]:
        """One constant piece per plan, then the affine overage piece if any."""
        out: list[Piece] = []
        lo = 0
        for plan in self.plans:
            out.append(Piece(lo, plan.included, plan.price.amount, Decimal(0)))
            lo = plan.included + 1
        if self.overage_unit_price is not None:
            rate = self.overage_unit_price
            intercept = subtract(self.top.price.amount, multiply(self.top.included, rate))
            out.append(Piece(lo, None, intercept, rate))
        return tuple(out)
