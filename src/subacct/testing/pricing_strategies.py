"""Hypothesis strategies for pricing: ladders, tiers, price models, periods and usage.

Every strategy yields valid objects (they pass the library's own validation), so a host
can property-test its billing code against any ladder or usage stream::

    from hypothesis import given
    from subacct.testing.pricing_strategies import plan_ladders, usage_batches

    @given(plan_ladders(overage=True), usage_batches())
    def test_my_report_totals(ladder, records):
        ...

``subadditive_ladders`` yields ladders on which pooling provably never costs more than
standalone billing (see ``subacct.pricing.subadditivity``); ``plan_ladders`` yields any
valid ladder, including ones where pooling can cost more.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from hypothesis import strategies as st

from subacct.domain.ids import AccountId
from subacct.money import Money
from subacct.pricing import (
    DEFAULT_CHANNELS,
    BillingPeriod,
    Charge,
    PackagePrice,
    Plan,
    PlanLadder,
    PriceList,
    PriceModel,
    Tier,
    TieredPrice,
    TierMode,
    UsageRecord,
)

__all__ = [
    "amounts",
    "billing_periods",
    "package_prices",
    "plan_ladders",
    "price_lists",
    "price_models",
    "subadditive_ladders",
    "tiered_prices",
    "usage_batches",
    "usage_dimensions",
    "usage_records",
]


def amounts(max_value: int = 1000, places: int = 2) -> st.SearchStrategy[Decimal]:
    """Non-negative exact amounts with ``places`` decimals, up to ``max_value``."""
    scale = 10**places
    return st.integers(0, max_value * scale).map(lambda n: Decimal(n).scaleb(-places))


def billing_periods() -> st.SearchStrategy[BillingPeriod]:
    """Months from 2000-01 to 2099-12."""
    return st.builds(BillingPeriod, st.integers(2000, 2099), st.integers(1, 12))


@st.composite
def plan_ladders(
    draw: st.DrawFn,
    *,
    currency: str = "USD",
    max_plans: int = 6,
    max_included: int = 100_000,
    overage: bool | None = None,
) -> PlanLadder:
    """Any valid ladder: ascending included volumes, non-decreasing prices.

    ``overage``: ``True`` always adds a per-message overage rate, ``False`` never, ``None``
    sometimes.
    """
    volumes = sorted(draw(st.sets(st.integers(1, max_included), min_size=1, max_size=max_plans)))
    steps = draw(st.lists(amounts(200), min_size=len(volumes), max_size=len(volumes)))
    plans = []
    price = Decimal(0)
    for volume, step in zip(volumes, steps, strict=True):
        price += step
        plans.append(Plan(f"{volume:,}", volume, Money(price, currency)))
    with_overage = draw(st.booleans()) if overage is None else overage
    rate = draw(amounts(1, places=4)) if with_overage else None
    return PlanLadder(plans, overage_unit_price=rate)


@st.composite
def subadditive_ladders(
    draw: st.DrawFn,
    *,
    currency: str = "USD",
    max_plans: int = 6,
    overage: bool | None = None,
) -> PlanLadder:
    """Ladders on which pooling never costs more (plans at ``d, 2d, ..., nd``, concave prices).

    Prices grow by non-increasing steps from zero (``c1 >= c2 - c1 >= ... >= 0``), which
    makes ``c`` concave with ``c0 = 0`` and hence ``c(i+j) <= c(i) + c(j)``; an overage
    rate, if any, is at most the last step per message, so the extension stays concave.
    """
    n = draw(st.integers(1, max_plans))
    unit = draw(st.integers(1, 5000))
    steps = sorted(draw(st.lists(amounts(200), min_size=n, max_size=n)), reverse=True)
    plans = []
    price = Decimal(0)
    for j, step in enumerate(steps, start=1):
        price += step
        plans.append(Plan(f"{j * unit:,}", j * unit, Money(price, currency)))
    with_overage = draw(st.booleans()) if overage is None else overage
    rate = None
    if with_overage:
        ceiling = (steps[-1] / unit).quantize(Decimal("0.000001"), rounding=ROUND_FLOOR)
        rate = draw(st.sampled_from([ceiling, Decimal(0), (ceiling / 2).quantize(ceiling)]))
    return PlanLadder(plans, overage_unit_price=rate)


@st.composite
def tiered_prices(
    draw: st.DrawFn,
    *,
    mode: TierMode | None = None,
    currency: str = "USD",
    max_tiers: int = 5,
    flat_fees: bool = True,
) -> TieredPrice:
    """Volume or graduated tier lists with exact unit prices (4 places) and flat fees."""
    chosen = draw(st.sampled_from(TierMode)) if mode is None else mode
    bounds = sorted(draw(st.sets(st.integers(1, 100_000), max_size=max_tiers - 1)))
    count = len(bounds) + 1
    units = draw(st.lists(amounts(2, places=4), min_size=count, max_size=count))
    fees = (
        draw(st.lists(amounts(50), min_size=count, max_size=count))
        if flat_fees
        else [Decimal(0)] * count
    )
    ups: list[int | None] = [*bounds, None]
    tiers = [Tier(up, unit, fee) for up, unit, fee in zip(ups, units, fees, strict=True)]
    return TieredPrice(chosen, tiers, currency)


def package_prices(currency: str = "USD") -> st.SearchStrategy[PackagePrice]:
    """A price per started block of 1 to 10,000 units."""
    return st.builds(PackagePrice, st.integers(1, 10_000), amounts(100), st.just(currency))


def price_models(currency: str = "USD") -> st.SearchStrategy[PriceModel]:
    """Any price model defined for every volume (ladders here always have an overage rate)."""
    return st.one_of(
        plan_ladders(currency=currency, overage=True),
        tiered_prices(currency=currency),
        package_prices(currency),
    )


_KEYS = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=16)


@st.composite
def price_lists(
    draw: st.DrawFn, *, models: st.SearchStrategy[PriceModel] | None = None
) -> PriceList:
    """A price of charges that bills every record ``usage_records`` makes: email, SMS,
    SMS to DE (more specific) and, for any other channel, a catch-all; each priced by a
    model of ``models`` (``price_models()`` by default), all in USD."""
    pick = price_models() if models is None else models
    return PriceList(
        [
            Charge("email", draw(pick), "email"),
            Charge("sms", draw(pick), "sms"),
            Charge("sms_de", draw(pick), "sms", {"country": "DE"}),
            Charge("other", draw(pick)),
        ]
    )


def usage_records(
    *,
    accounts: list[str] | None = None,
    period: BillingPeriod | None = None,
    max_quantity: int = 10_000,
) -> st.SearchStrategy[UsageRecord]:
    """Single valid usage records (a default channel, optional label, dimensions and
    sending user)."""
    account_ids = st.sampled_from(accounts) if accounts else st.sampled_from(["m", "s1", "s2"])
    return st.builds(
        UsageRecord,
        account_ids.map(AccountId),
        st.just(period) if period is not None else billing_periods(),
        st.sampled_from(DEFAULT_CHANNELS.channels),
        st.integers(0, max_quantity),
        _KEYS,
        st.one_of(st.none(), st.sampled_from(["newsletter", "alerts", "marketing"])),
        usage_dimensions(),
        st.one_of(st.none(), st.sampled_from(["ann", "bob"])),
    )


def usage_dimensions() -> st.SearchStrategy[dict[str, str]]:
    """Dimensions of a usage record: none, or a destination country (and a route)."""
    return st.one_of(
        st.just({}),
        st.fixed_dictionaries(
            {"country": st.sampled_from(["DE", "FR", "US"])},
            optional={"route": st.sampled_from(["premium", "standard"])},
        ),
    )


@st.composite
def usage_batches(
    draw: st.DrawFn,
    *,
    accounts: list[str] | None = None,
    period: BillingPeriod | None = None,
    max_size: int = 40,
    retries: bool = True,
) -> list[UsageRecord]:
    """A period's records with distinct idempotency keys, plus (optionally) exact retries."""
    when = draw(billing_periods()) if period is None else period
    records = draw(
        st.lists(
            usage_records(accounts=accounts, period=when),
            max_size=max_size,
            unique_by=lambda r: r.idempotency_key,
        )
    )
    if retries and records:
        again = draw(st.lists(st.sampled_from(records), max_size=len(records)))
        records = records + again
        records = draw(st.permutations(records))
    return records
