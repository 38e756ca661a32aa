"""A price made of charges: SMS and email priced apart, SMS to one country apart.

A ``PriceList`` holds several ``Charge`` values. Each charge has a name, the channel it
is for (``None``: any channel), the dimensions it matches (a subset of a usage record's
dimensions: ``{"country": "DE"}`` matches every record whose ``country`` is ``DE``) and
its own price model (``PlanLadder``, ``TieredPrice`` or ``PackagePrice``). A usage
record is billed on the most specific charge that matches it (the channel counts as one
condition, each dimension as one); two charges that could match one record with as many
conditions each are refused when the price is built, and so is a price whose charges are
in several currencies.

A single model is a price too: one charge, named ``ALL_CHARGE`` (``"all"``), for every
channel. Pooling is per charge: each charge is priced on the pooled volume of the
records it bills (``subacct.pricing.invoices``).

>>> from subacct.pricing import Charge, PriceList, TieredPrice, Tier, TierMode, charge_for
>>> per = lambda a: TieredPrice(TierMode.GRADUATED, [Tier(None, a)], "EUR")
>>> price = PriceList([Charge("email", per("0.001"), "email"),
...                    Charge("sms", per("0.07"), "sms"),
...                    Charge("sms_de", per("0.09"), "sms", {"country": "DE"})])
>>> charge_for(price, "sms", {"country": "DE"})[0], charge_for(price, "sms", {"country": "FR"})[0]
('sms_de', 'sms')
>>> charge_for(per("0.01"), "whatsapp", {})[0]
'all'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final, TypeAlias

import attrs

from subacct.errors import InvalidPricing, NoMatchingCharge, quoted
from subacct.pricing import _checks
from subacct.pricing.channels import Channel, Dimensions, dimensions
from subacct.pricing.ladder import PlanLadder
from subacct.pricing.model import PriceModel
from subacct.pricing.tiers import PackagePrice, TieredPrice

__all__ = [
    "ALL_CHARGE",
    "Charge",
    "ChargeModel",
    "PriceList",
    "charge_for",
    "charge_volumes",
    "price_never_falls",
]

ChargeModel: TypeAlias = PlanLadder | TieredPrice | PackagePrice
"""The price models a charge can have (each serializes with a ``model`` tag)."""

ALL_CHARGE: Final = "all"
"""The name of the one charge of a single-model price (every channel)."""


def _model(value: object) -> ChargeModel:
    if not isinstance(value, PlanLadder | TieredPrice | PackagePrice):
        raise InvalidPricing(
            "a charge's model must be a PlanLadder, TieredPrice or PackagePrice", field="model"
        )
    return value


def _channel(value: object) -> Channel | None:
    return None if value is None else Channel(value)


def _name(value: object) -> str:
    return _checks.text(value, field="name")


@attrs.frozen
class Charge:
    """``model`` prices the records on ``channel`` (``None``: any) whose dimensions
    include ``dimensions``."""

    name: str = attrs.field(converter=_name)
    model: ChargeModel = attrs.field(converter=_model)
    channel: Channel | None = attrs.field(default=None, converter=_channel)
    dimensions: Dimensions = attrs.field(default=None, converter=dimensions)

    @property
    def conditions(self) -> int:
        """How specific the charge is: its channel (if any) and each dimension."""
        return (self.channel is not None) + len(self.dimensions)

    def matches(self, channel: str, dims: Mapping[str, str]) -> bool:
        """Whether a record on ``channel`` with ``dims`` is one this charge can bill."""
        if self.channel is not None and self.channel != channel:
            return False
        return all(dims.get(k) == v for k, v in self.dimensions.items())

    def overlaps(self, other: Charge) -> bool:
        """Whether some record would match both charges."""
        if None not in (self.channel, other.channel) and self.channel != other.channel:
            return False
        return all(other.dimensions.get(k, v) == v for k, v in self.dimensions.items())


def _charges(value: object) -> tuple[Charge, ...]:
    if isinstance(value, str | Mapping) or not isinstance(value, Iterable):
        raise InvalidPricing("charges must be a list of Charge", field="charges")
    charges = tuple(value)
    if not charges:
        raise InvalidPricing("a price list needs at least one charge", field="charges")
    for charge in charges:
        if not isinstance(charge, Charge):
            raise InvalidPricing(f"expected a Charge, got {type(charge).__name__}", field="charges")
    names = [c.name for c in charges]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InvalidPricing(f"charge {quoted(dup)} is listed twice", field="charges")
    currencies = sorted({c.model.currency for c in charges})
    if len(currencies) > 1:
        raise InvalidPricing(
            f"every charge of a price is in one currency, got {currencies}", field="currency"
        )
    for i, a in enumerate(charges):
        for b in charges[i + 1 :]:
            if a.conditions == b.conditions and a.overlaps(b):
                raise InvalidPricing(
                    f"charges {quoted(a.name)} and {quoted(b.name)} could both bill one usage "
                    "record and neither is more specific: give one a channel or a dimension "
                    "more, or make them disjoint",
                    field="charges",
                    reason="ambiguous_charges",
                )
    return charges


@attrs.frozen
class PriceList:
    """A price made of ``charges`` (in the host's order; see the module docstring)."""

    charges: tuple[Charge, ...] = attrs.field(converter=_charges)
    _by_specificity: tuple[Charge, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        ordered = sorted(self.charges, key=lambda c: -c.conditions)  # stable: host's order
        object.__setattr__(self, "_by_specificity", tuple(ordered))

    @property
    def currency(self) -> str:
        """The currency of every charge."""
        return self.charges[0].model.currency

    def charge(self, channel: str, dims: Mapping[str, str]) -> Charge:
        """The charge that bills a record on ``channel`` with ``dims``
        (``NoMatchingCharge`` when none does)."""
        for charge in self._by_specificity:
            if charge.matches(channel, dims):
                return charge
        raise NoMatchingCharge(
            f"no charge of the price bills {quoted(str(channel))} usage with dimensions "
            f"{quoted(dict(dims))}",
            field="channel",
            channel=str(channel),
            charges=[c.name for c in self.charges],
        )


def price_never_falls(model: PriceModel) -> bool:
    """Whether ``model``'s price never falls as the volume grows: each affine piece rises
    or stays level and starts at or above where the one before ended (a package price
    never falls; a volume-mode tier list whose next tier is cheaper overall does). What
    a prepaid price must satisfy: each send pays what it adds to the period's price.

    >>> from decimal import Decimal
    >>> from subacct.pricing import Tier, TieredPrice, TierMode
    >>> tiers = [Tier(10, Decimal(1)), Tier(None, Decimal("0.1"))]
    >>> price_never_falls(TieredPrice(TierMode.GRADUATED, tiers, "EUR"))
    True
    >>> price_never_falls(TieredPrice(TierMode.VOLUME, tiers, "EUR"))  # 10 cost 10, 11 cost 1.1
    False
    """
    if isinstance(model, PackagePrice):
        return True
    pieces = model.pieces()
    if pieces is None:
        return False
    ended: Decimal | None = None
    for piece in pieces:
        if piece.slope < 0 or (ended is not None and piece.at(piece.lo) < ended):
            return False
        ended = None if piece.hi is None else piece.at(piece.hi)
    return True


def charge_for(
    price: PriceList | PriceModel, channel: str, dims: Mapping[str, str]
) -> tuple[str, PriceModel]:
    """The name and model of the charge of ``price`` that bills a record on ``channel``
    with dimensions ``dims``: for a single model, ``(ALL_CHARGE, model)``. Raises
    ``NoMatchingCharge`` (field ``channel``) when no charge matches."""
    if isinstance(price, PriceList):
        charge = price.charge(Channel(channel), dimensions(dims))
        return charge.name, charge.model
    return ALL_CHARGE, price


def charge_volumes(
    price: PriceList | PriceModel, slices: Mapping[tuple[Channel, Dimensions], int]
) -> dict[str, int]:
    """The volume each charge of ``price`` bills from ``slices`` (usage per ``(channel,
    dimensions)``), in the price's charge order, charges with no usage left out."""
    if not isinstance(price, PriceList):
        total = sum(slices.values())
        return {ALL_CHARGE: total} if total else {}
    found: dict[str, int] = {}
    for (channel, dims), quantity in slices.items():
        if quantity:
            name = price.charge(channel, dims).name
            found[name] = found.get(name, 0) + quantity
    return {c.name: found[c.name] for c in price.charges if c.name in found}
