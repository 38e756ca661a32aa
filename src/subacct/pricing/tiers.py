"""Per-unit tier models as Stripe and Lago define them, and package pricing.

* ``TierMode.VOLUME``: every unit is charged at the rate of the tier the total reaches
  (plus that tier's flat fee).
* ``TierMode.GRADUATED``: the units falling in each tier are charged at that tier's rate
  (plus the flat fee of every tier the volume enters).
* ``PackagePrice``: a price per started block of ``package_size`` units (rounding up).

A tier's ``up_to`` is inclusive, as in Stripe: tiers ``up_to=5`` then ``up_to=10`` cover
1-5 and 6-10. Only the last tier is open (``up_to=None``), and it must be. Bounds must
ascend strictly; with this representation a gap cannot be written, and a repeated or
descending bound (an overlap) is refused. ``TieredPrice.from_ranges`` accepts Lago-style
``(first, last)`` ranges and refuses gaps and overlaps explicitly. Prices are never
negative; a zero volume costs nothing (no tier is reached, so no flat fee is charged).

Amounts are exact and unrounded (``0.0065`` per message stays ``0.0065``); invoices round.

>>> from subacct.pricing import Tier, TieredPrice, TierMode
>>> tiers = [Tier(5, "7"), Tier(10, "6.5"), Tier(None, "6")]
>>> TieredPrice(TierMode.VOLUME, tiers, "USD").amount(6)
Decimal('39.0')
>>> TieredPrice(TierMode.GRADUATED, tiers, "USD").amount(6)
Decimal('41.5')
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Iterable
from decimal import Decimal
from itertools import pairwise

import attrs

from subacct.errors import InvalidPricing, quoted
from subacct.money import Money, add, exact_sum, multiply, subtract
from subacct.pricing import _checks
from subacct.pricing.model import Piece

__all__ = ["PackagePrice", "Tier", "TierMode", "TieredPrice"]


class TierMode(enum.Enum):
    """How a tier list prices a volume (Stripe's ``tiers_mode``)."""

    VOLUME = "volume"
    GRADUATED = "graduated"


def _up_to(value: object) -> int | None:
    return None if value is None else _checks.positive(value, field="up_to")


def _unit_price(v: object) -> Decimal:
    return _checks.price_amount(v, field="unit_price")


def _flat_fee(v: object) -> Decimal:
    return _checks.price_amount(v, field="flat_fee")


@attrs.frozen
class Tier:
    """Units up to and including ``up_to`` cost ``unit_price`` each, plus ``flat_fee`` once.

    >>> Tier(None, "0.001", flat_fee="10").up_to is None
    True
    """

    up_to: int | None = attrs.field(converter=_up_to)
    unit_price: Decimal = attrs.field(default=Decimal(0), converter=_unit_price)
    flat_fee: Decimal = attrs.field(default=Decimal(0), converter=_flat_fee)


def _tiers(value: object) -> tuple[Tier, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes):
        raise InvalidPricing("tiers must be a list of Tier", field="tiers")
    tiers = tuple(value)
    if not tiers:
        raise InvalidPricing("at least one tier is needed", field="tiers", reason="empty")
    for tier in tiers:
        if not isinstance(tier, Tier):
            raise InvalidPricing(f"expected a Tier, got {type(tier).__name__}", field="tiers")
    for i, tier in enumerate(tiers[:-1]):
        if tier.up_to is None:
            raise InvalidPricing(
                f"only the last tier may be open (up_to=None); tier {i + 1} is open",
                field="tiers",
                reason="overlap",
            )
    if tiers[-1].up_to is not None:
        raise InvalidPricing(
            "the last tier must be open (up_to=None) so every volume has a price",
            field="tiers",
            reason="last_tier_bounded",
        )
    bounds = [t.up_to for t in tiers if t.up_to is not None]
    for i, (low, high) in enumerate(pairwise(bounds)):
        if high <= low:
            raise InvalidPricing(
                f"tier bounds must ascend strictly: tier {i + 2} ends at {high}, "
                f"not after tier {i + 1} ending at {low}",
                field="tiers",
                reason="overlap",
            )
    return tiers


def _mode(value: object) -> TierMode:
    if not isinstance(value, TierMode):
        raise InvalidPricing(f"mode must be a TierMode, got {quoted(value)}", field="mode")
    return value


@attrs.frozen
class TieredPrice:
    """A tier list priced in ``mode``; see the module docstring."""

    mode: TierMode = attrs.field(converter=_mode)
    tiers: tuple[Tier, ...] = attrs.field(converter=_tiers)
    currency: str = attrs.field(converter=_checks.currency)
    _bounds: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        bounds = tuple(t.up_to for t in self.tiers if t.up_to is not None)
        object.__setattr__(self, "_bounds", bounds)

    @classmethod
    def from_ranges(
        cls,
        mode: TierMode,
        ranges: Iterable[tuple[int, int | None, Decimal | int | str, Decimal | int | str]],
        currency: str,
    ) -> TieredPrice:
        """Build from ``(first_unit, last_unit, unit_price, flat_fee)`` rows (Lago's table).

        The first row starts at 0 or 1; each next row starts right after the previous one.

        >>> TieredPrice.from_ranges(TierMode.VOLUME, [(0, 100, "1", 0), (101, None, "0.5", 0)],
        ...                         "USD").tiers[0].up_to
        100
        """
        rows = list(ranges)
        tiers: list[Tier] = []
        expected_first: int | None = None
        for i, row in enumerate(rows):
            if not isinstance(row, tuple) or len(row) != 4:
                raise InvalidPricing(f"row {i + 1} must be (first, last, unit_price, flat_fee)")
            first, last, unit_price, flat_fee = row
            if type(first) is not int:
                raise InvalidPricing(f"row {i + 1}: first unit must be an integer")
            if expected_first is None and first not in (0, 1):
                raise InvalidPricing(
                    f"the first tier must start at 0 or 1, not {first}", reason="gap"
                )
            if expected_first is not None and first != expected_first:
                reason = "gap" if first > expected_first else "overlap"
                raise InvalidPricing(
                    f"row {i + 1} starts at {first} but the previous tier ends at "
                    f"{expected_first - 1}: tiers must not have a {reason}",
                    reason=reason,
                )
            if last is not None and (type(last) is not int or last < max(first, 1)):
                raise InvalidPricing(f"row {i + 1}: last unit {quoted(last)} is before its first")
            tiers.append(Tier(last, unit_price, flat_fee))
            expected_first = None if last is None else last + 1
            if last is None and i != len(rows) - 1:
                raise InvalidPricing("only the last tier may be open", reason="overlap")
        return cls(mode, tiers, currency)

    @property
    def max_volume(self) -> int | None:
        return None

    def amount(self, volume: int) -> Decimal:
        v = _checks.quantity(volume, field="volume")
        if v == 0:
            return Decimal(0)
        if self.mode is TierMode.VOLUME:
            tier = self.tiers[bisect_left(self._bounds, v)]
            return add(multiply(v, tier.unit_price), tier.flat_fee)
        parts: list[Decimal] = []
        below = 0
        for tier in self.tiers:
            top = v if tier.up_to is None else min(v, tier.up_to)
            parts.append(add(multiply(top - below, tier.unit_price), tier.flat_fee))
            if tier.up_to is None or v <= tier.up_to:
                break
            below = tier.up_to
        return exact_sum(parts)

    def price(self, volume: int) -> Money:
        return Money(self.amount(volume), self.currency)

    def describe(self, volume: int) -> str:
        if self.mode is TierMode.VOLUME:
            if volume == 0:
                return "no usage"
            tier = self.tiers[bisect_left(self._bounds, volume)]
            return f"{volume} at {tier.unit_price} each (volume tier)"
        return f"{volume} graduated over tiers"

    def pieces(self) -> tuple[Piece, ...]:
        """``{0}`` at zero, then one affine piece per tier."""
        out = [Piece(0, 0, Decimal(0), Decimal(0))]
        below = 0
        before = Decimal(0)  # graduated: price of all units below this tier
        for tier in self.tiers:
            if self.mode is TierMode.VOLUME:
                intercept = tier.flat_fee
            else:
                below_at_rate = multiply(below, tier.unit_price)
                intercept = subtract(add(before, tier.flat_fee), below_at_rate)
            out.append(Piece(below + 1, tier.up_to, intercept, tier.unit_price))
            if tier.up_to is not None:
                units = multiply(tier.up_to - below, tier.unit_price)
                before = exact_sum((before, units, tier.flat_fee))
                below = tier.up_to
        return tuple(out)


def _package_size(v: object) -> int:
    return _checks.positive(v, field="package_size")


def _package_price(v: object) -> Decimal:
    return _checks.price_amount(v, field="package_price")


@attrs.frozen
class PackagePrice:
    """``package_price`` per started block of ``package_size`` units.

    >>> PackagePrice(1000, "1", "USD").amount(4500)
    Decimal('5')
    """

    package_size: int = attrs.field(converter=_package_size)
    package_price: Decimal = attrs.field(converter=_package_price)
    currency: str = attrs.field(converter=_checks.currency)

    @property
    def max_volume(self) -> int | None:
        return None

    def packages(self, volume: int) -> int:
        """Blocks started by ``volume`` units (rounding up)."""
        return -(-_checks.quantity(volume, field="volume") // self.package_size)

    def amount(self, volume: int) -> Decimal:
        return multiply(self.packages(volume), self.package_price)

    def price(self, volume: int) -> Money:
        return Money(self.amount(volume), self.currency)

    def describe(self, volume: int) -> str:
        return f"{self.packages(volume)} packages of {self.package_size}"

    def pieces(self) -> None:
        """Infinitely many steps; package pricing is always subadditive (see subadditivity)."""
        return None
