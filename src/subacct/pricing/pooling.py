"""Pooled versus standalone billing, and how a pooled price is split into per-account lines.

``compare`` prices a group of accounts both ways. Pooling is not always cheaper: it is
for every volume exactly when the price model is subadditive (see
``subacct.pricing.subadditivity``), so ``compare`` reports which structure wins.

Split rule for pooled invoices: the pooled price is rounded once (to the currency's minor
unit by default), then shared pro-rata by volume in whole minor units with the
largest-remainder method: each account gets ``floor(total * v_i / V)`` minor units and
the units left over go, one each, to the largest remainders (ties: payer first, then
account id order). The lines therefore sum exactly to the pooled total. When the pool sent
nothing, the whole (minimum plan) price is on the payer's line.

>>> from subacct.money import Money
>>> from subacct.pricing import Plan, PlanLadder, compare
>>> usd = lambda a: Money(a, "USD")
>>> ladder = PlanLadder([Plan("2,500", 2500, usd(15)), Plan("8,500", 8500, usd(45)),
...                      Plan("12,000", 12000, usd(60)), Plan("18,000", 18000, usd(90))])
>>> c = compare(ladder, {"agencydemo": 9000, "agency1": 5300, "agency2": 1700})
>>> c.standalone_total.amount, c.pooled_total.amount, c.saving.amount, c.cheaper.value
(Decimal('120'), Decimal('90'), Decimal('30'), 'pooled')

A price of several charges (``PriceList``) is compared per charge (``compare_charges``):
each charge pooled on the volume it bills, against each account's own volume of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, quoted
from subacct.money import Money
from subacct.pricing import _checks
from subacct.pricing.charges import ALL_CHARGE, PriceList, charge_volumes
from subacct.pricing.model import PriceModel
from subacct.pricing.structure import BillingMode
from subacct.pricing.usage import UsageSlice

__all__ = ["Comparison", "compare", "compare_charges", "split_pro_rata"]


def split_pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` whole units in proportion to ``weights`` (largest remainder method).

    The shares sum exactly to ``total``; ties go to the earlier weight. With all weights
    zero the first share takes everything.

    >>> split_pro_rata(9000, [9000, 5300, 1700])
    [5063, 2981, 956]
    >>> split_pro_rata(100, [1, 1, 1])
    [34, 33, 33]
    """
    if type(total) is not int or total < 0:
        raise InvalidInput(
            f"total must be a non-negative integer, got {quoted(total)}", field="total"
        )
    if not weights:
        raise InvalidInput("at least one weight is needed", field="weights")
    for w in weights:
        if type(w) is not int or w < 0:
            _checks.quantity(w, field="weight")  # raises the typed error
    whole = sum(weights)
    if whole == 0:
        return [total] + [0] * (len(weights) - 1)
    shares: list[int] = []
    remainders: list[int] = []
    for w in weights:
        share, rest = divmod(total * w, whole)
        shares.append(share)
        remainders.append(rest)
    left = total - sum(shares)
    if left:
        # Largest remainders first; the sort is stable, so ties keep the earlier weight.
        order = sorted(range(len(weights)), key=remainders.__getitem__, reverse=True)
        for i in order[:left]:
            shares[i] += 1
    return shares


@attrs.frozen
class Comparison:
    """Both prices of one group of accounts (exact, unrounded). ``by_charge``: for a
    price of several charges, the comparison of each charge (its name first)."""

    volumes: tuple[tuple[AccountId, int], ...]
    standalone: tuple[tuple[AccountId, Money], ...]
    pooled_total: Money
    by_charge: tuple[tuple[str, Comparison], ...] = ()

    @property
    def pooled_volume(self) -> int:
        return sum(v for _, v in self.volumes)

    @property
    def standalone_total(self) -> Money:
        return Money.sum((m for _, m in self.standalone), self.pooled_total.currency)

    @property
    def saving(self) -> Money:
        """Standalone total minus pooled total; negative when pooling costs more."""
        return self.standalone_total - self.pooled_total

    @property
    def cheaper(self) -> BillingMode | None:
        """The cheaper structure, or ``None`` when both cost the same."""
        if self.saving.is_zero():
            return None
        return BillingMode.STANDALONE if self.saving.is_negative() else BillingMode.POOLED


def compare(
    model: PriceModel,
    volumes: Mapping[str, int],
    *,
    standalone_models: Mapping[str, PriceModel] | None = None,
) -> Comparison:
    """Price ``volumes`` pooled on ``model`` and standalone (each on its own model if given).

    Raises ``VolumeAboveLadder`` when the pooled volume is above a ladder without overage.
    """
    if not isinstance(volumes, Mapping) or not volumes:
        raise InvalidInput("volumes must be a non-empty mapping account -> volume")
    own = dict(standalone_models or {})
    pairs = tuple(
        sorted(
            (_checks.account(a), _checks.quantity(v, field="volume")) for a, v in volumes.items()
        )
    )
    unknown = sorted(set(own) - {a for a, _ in pairs})
    if unknown:
        raise InvalidInput(f"standalone models given for unknown accounts {unknown}")
    standalone: list[tuple[AccountId, Money]] = []
    for account, volume in pairs:
        price = own.get(account, model).price(volume)
        if price.currency != model.currency:
            raise InvalidInput(
                f"account {quoted(account)} is priced in {price.currency}, the pool in "
                f"{model.currency}",
                field="currency",
            )
        standalone.append((account, price))
    pooled = model.price(sum(v for _, v in pairs))
    return Comparison(volumes=pairs, standalone=tuple(standalone), pooled_total=pooled)


def compare_charges(
    price: PriceList | PriceModel, slices: Mapping[str, Mapping[UsageSlice, int]]
) -> Comparison:
    """``compare`` per charge of ``price``: each account's volume per ``(channel,
    dimensions)`` in ``slices`` (every account of the group, even with none) goes to the
    charge that bills it; each charge is priced pooled and standalone, and the totals are
    their sums. A single model is one charge (``ALL_CHARGE``).

    >>> from subacct.pricing import Charge, Dimensions, PriceList, Tier, TieredPrice, TierMode
    >>> tiers = lambda a: [Tier(1000, a), Tier(None, "0.01")]
    >>> per = lambda a: TieredPrice(TierMode.GRADUATED, tiers(a), "EUR")
    >>> price = PriceList([Charge("email", per("0.02"), "email"),
    ...                    Charge("sms", per("0.10"), "sms")])
    >>> sms = ("sms", Dimensions())
    >>> c = compare_charges(price, {"m": {sms: 800}, "s": {sms: 700}})
    >>> str(c.standalone_total), str(c.pooled_total), [name for name, _ in c.by_charge]
    ('150.00 EUR', '105.00 EUR', ['email', 'sms'])
    """
    if not isinstance(slices, Mapping) or not slices:
        raise InvalidInput("slices must be a non-empty mapping account -> volumes")
    used = {a: charge_volumes(price, parts) for a, parts in slices.items()}
    models = price.charges if isinstance(price, PriceList) else ()
    named: list[tuple[str, PriceModel]] = [(c.name, c.model) for c in models]
    if not isinstance(price, PriceList):
        named = [(ALL_CHARGE, price)]
    parts = tuple(
        (name, compare(model, {a: mine.get(name, 0) for a, mine in used.items()}))
        for name, model in named
    )
    currency = price.currency
    accounts = [a for a, _ in parts[0][1].volumes]
    return Comparison(
        volumes=tuple((a, sum(dict(c.volumes)[a] for _, c in parts)) for a in accounts),
        standalone=tuple(
            (a, Money.sum((dict(c.standalone)[a] for _, c in parts), currency)) for a in accounts
        ),
        pooled_total=Money.sum((c.pooled_total for _, c in parts), currency),
        by_charge=parts,
    )
