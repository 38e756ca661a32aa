r"""The pooling advisor: which sub-accounts to bill pooled and which standalone.

A payer's own usage is always on its pooled invoice. Pooling a set ``P`` of its
sub-accounts costs ``p(payer + sum of P's volumes) + sum of p(v_i) for i not in P``
(every account priced on the payer's model, as ``compare`` does). ``advise_pooling``
picks the ``P`` with the lowest total.

**Exact** for up to ``EXACT_LIMIT`` (20) sub-accounts, by meet in the middle on the
model's affine pieces: on a piece ``p(v) = c + r*v`` the total is
``c + r*payer + sum(p(v_i)) - sum over P of (p(v_i) - r*v_i)``, so each piece is a
knapsack "maximise the pooled accounts' value with the pooled volume in the piece's
range"; both halves' subsets (2 x 1,024 for 20 accounts) are paired by a sliding window
over the other half sorted by volume. A subadditive model (``is_subadditive``) is
answered at once: pooling everything is optimal (Theorem 1 of
``subacct.pricing.subadditivity``).

**Heuristic** above the limit: local search by single moves (pool one more account or
bill one standalone, best move first) from the better of all-pooled and all-standalone,
and from all-standalone. *Guarantee (proved):* it starts from the better extreme and
only takes strictly cheaper moves, so its total is never above ``min(all-pooled,
all-standalone)``; the result is also 1-move optimal. Its gap to the exact optimum is
bounded per answer by ``gap_bound = total - L`` with the lower bound
``L = min over pieces k of c_k + r_k*payer + sum p(v_i) - K_k``, where ``K_k`` is the
fractional-knapsack (linear relaxation) value of the savings ``p(v_i) - r_k*v_i`` with
at most ``hi_k - payer`` pooled messages: any grouping whose pool lies on piece ``k``
saves at most ``K_k``, since the relaxation allows more groupings.
When ``gap_bound`` is zero the answer is exact. No constant-factor bound holds in
general (the choice is a knapsack with a step-price objective).

A ``PriceList`` is advised per charge (``advise_pooling_charges``): each charge on the
volumes it bills, so an account can be pooled for one charge and standalone for another.

>>> from subacct.money import Money
>>> from subacct.pricing import Plan, PlanLadder
>>> usd = lambda a: Money(a, "USD")
>>> ladder = PlanLadder([Plan("10", 10, usd(10)), Plan("21", 21, usd(30))])
>>> advice = advise_pooling(ladder, 10, {"s1": 10})  # the payer and one sub, 10 each
>>> advice.pooled, advice.total.amount, advice.all_pooled_total.amount
((), Decimal('20'), Decimal('30'))
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_CEILING, Decimal, localcontext
from functools import cmp_to_key
from typing import Final

import attrs

from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, VolumeAboveLadder, quoted
from subacct.money import Money, add, exact_sum, multiply, subtract
from subacct.pricing import _checks
from subacct.pricing.charges import PriceList
from subacct.pricing.model import PriceModel
from subacct.pricing.subadditivity import is_subadditive
from subacct.pricing.tiers import PackagePrice

__all__ = ["EXACT_LIMIT", "Advice", "advise_pooling", "advise_pooling_charges"]

EXACT_LIMIT: Final = 20
"""Up to this many sub-accounts the advice is exact; above it, a heuristic."""


@attrs.frozen
class Advice:
    """The advised grouping of a payer's sub-accounts and what each structure costs.

    ``pooled``: the sub-accounts to pool with the payer; ``standalone``: the others with
    their own price; ``pooled_total``: the payer's pooled invoice under the advice;
    ``total``: the advised total (pooled plus standalone); ``all_pooled_total``:
    everything pooled (``None`` when the ladder cannot price that volume);
    ``all_standalone_total``: nothing pooled. ``method``: ``"enumeration"``,
    ``"subadditive"``, ``"local_search"`` or ``"per_charge"``; ``exact``: whether
    ``total`` is the lowest possible; ``gap_bound``: how far above the lowest it can
    be (zero when exact, ``None`` when no bound is known). ``by_charge``: for a
    ``PriceList``, each charge's advice (then ``pooled`` lists the accounts pooled for
    every charge). Amounts are exact and unrounded.
    """

    pooled: tuple[AccountId, ...]
    standalone: tuple[tuple[AccountId, Money], ...]
    pooled_total: Money
    total: Money
    all_pooled_total: Money | None
    all_standalone_total: Money
    method: str
    exact: bool
    gap_bound: Money | None
    by_charge: tuple[tuple[str, Advice], ...] = ()

    @property
    def saving(self) -> Money:
        """What the advice saves against billing every account standalone."""
        return self.all_standalone_total - self.total


def _cap(model: PriceModel, volume: int, what: str) -> None:
    cap = model.max_volume
    if cap is not None and volume > cap:
        raise VolumeAboveLadder(
            f"{what} sends {volume}, above what the price can bill ({cap}): no grouping "
            "can price it",
            field="volume",
            volume=volume,
            top_included=cap,
        )


def advise_pooling(
    model: PriceModel,
    payer_volume: int,
    volumes: Mapping[str, int],
    *,
    exact_limit: int = EXACT_LIMIT,
) -> Advice:
    """The cheapest split of the sub-accounts ``volumes`` into pooled (with the payer's
    own ``payer_volume``) and standalone, on the payer's ``model`` (see the module
    docstring; ``exact_limit`` exists for tests). Raises ``VolumeAboveLadder`` when
    some account alone is above what the model can price."""
    if isinstance(model, PriceList):
        raise InvalidInput("a PriceList is advised per charge: use advise_pooling_charges")
    if not isinstance(volumes, Mapping):
        raise InvalidInput("volumes must be a mapping sub-account -> volume", field="volumes")
    payer = _checks.quantity(payer_volume, field="payer_volume")
    subs = sorted(
        (_checks.account(a), _checks.quantity(v, field="volume")) for a, v in volumes.items()
    )
    _cap(model, payer, "the payer")
    for account, volume in subs:
        _cap(model, volume, f"sub-account {quoted(account)}")
    ids = [a for a, _ in subs]
    vols = [v for _, v in subs]
    own = [model.amount(v) for v in vols]
    total_volume = payer + sum(vols)
    cap = model.max_volume
    can_pool_all = cap is None or total_volume <= cap
    everyone = (1 << len(subs)) - 1

    def cost(mask: int) -> Decimal | None:
        """The total of pooling ``mask`` (``None``: above what the model can price)."""
        pooled = payer + sum(v for i, v in enumerate(vols) if mask >> i & 1)
        if cap is not None and pooled > cap:
            return None
        rest = exact_sum(w for i, w in enumerate(own) if not mask >> i & 1)
        return add(model.amount(pooled), rest)

    lower: Decimal | None = None
    shaped = model.pieces() is not None
    if can_pool_all and (isinstance(model, PackagePrice) or (shaped and is_subadditive(model))):
        mask, method = everyone, "subadditive"
    elif len(subs) <= exact_limit and shaped:
        mask, method = _enumerate(model, payer, vols, own), "enumeration"
    elif len(subs) <= exact_limit:
        mask, method = min(range(everyone + 1), key=lambda m: _order(cost(m))), "enumeration"
    else:
        start = everyone if _order(cost(everyone)) <= _order(cost(0)) else 0
        found = (_local_search(model, payer, vols, own, s) for s in sorted({start, 0}))
        mask = min(found, key=lambda m: _order(cost(m)))
        method, lower = "local_search", _lower_bound(model, payer, vols, own)
    best, alone = cost(mask), cost(0)
    assert best is not None
    assert alone is not None
    # Prefer an extreme when it ties the optimum: the simpler structure to run.
    if can_pool_all and mask != everyone and cost(everyone) == best:
        mask = everyone
    elif mask and alone == best:
        mask = 0
    currency = model.currency
    pooled_volume = payer + sum(v for i, v in enumerate(vols) if mask >> i & 1)
    exact = method != "local_search" or (lower is not None and best == lower)
    gap: Money | None = Money.zero(currency)
    if not exact:
        gap = None if lower is None else Money(subtract(best, lower), currency)
    return Advice(
        pooled=tuple(a for i, a in enumerate(ids) if mask >> i & 1),
        standalone=tuple(
            (a, Money(own[i], currency)) for i, a in enumerate(ids) if not mask >> i & 1
        ),
        pooled_total=model.price(pooled_volume),
        total=Money(best, currency),
        all_pooled_total=None if (whole := cost(everyone)) is None else Money(whole, currency),
        all_standalone_total=Money(alone, currency),
        method=method,
        exact=exact,
        gap_bound=gap,
    )


def _subsets(vols: Sequence[int], own: Sequence[Decimal]) -> tuple[list[int], list[Decimal]]:
    """Volume and standalone price of every subset, indexed by its bit mask."""
    sums, prices = [0], [Decimal(0)]
    for v, w in zip(vols, own, strict=True):
        sums += [s + v for s in sums]
        prices += [add(p, w) for p in prices]
    return sums, prices


def _enumerate(model: PriceModel, payer: int, vols: Sequence[int], own: Sequence[Decimal]) -> int:
    """The exact optimum's mask: meet in the middle, one sliding window per piece."""
    pieces = model.pieces()
    assert pieces is not None
    half = len(vols) // 2
    sums_a, prices_a = _subsets(vols[:half], own[:half])
    sums_b, prices_b = _subsets(vols[half:], own[half:])
    order_a = sorted(range(len(sums_a)), key=sums_a.__getitem__, reverse=True)
    order_b = sorted(range(len(sums_b)), key=sums_b.__getitem__)
    reach = sum(vols)
    base = exact_sum(own)
    best: tuple[Decimal, int] | None = None
    for piece in pieces:
        low = max(piece.lo - payer, 0)
        high = reach if piece.hi is None else min(piece.hi - payer, reach)
        if low > high:
            continue
        r = piece.slope
        value_a = [subtract(p, multiply(r, s)) for s, p in zip(sums_a, prices_a, strict=True)]
        value_b = [subtract(p, multiply(r, s)) for s, p in zip(sums_b, prices_b, strict=True)]
        window: deque[int] = deque()
        j = 0
        for i in order_a:  # descending volume: the window [low - s, high - s] moves right
            s = sums_a[i]
            while j < len(order_b) and sums_b[order_b[j]] <= high - s:
                k = order_b[j]
                while window and value_b[window[-1]] <= value_b[k]:
                    window.pop()
                window.append(k)
                j += 1
            while window and sums_b[window[0]] < low - s:
                window.popleft()
            if not window:
                continue
            k = window[0]
            total = subtract(
                add(piece.at(payer), base), add(value_a[i], value_b[k])
            )  # c + r*payer + sum p(v_i) - value of the pooled accounts
            mask = i | k << half
            if best is None or total < best[0]:
                best = (total, mask)
    assert best is not None  # the payer alone (mask 0) is on some piece
    return best[1]


def _order(total: Decimal | None) -> tuple[int, Decimal]:
    """Sort key: priceable totals first, cheapest first."""
    return (1, Decimal(0)) if total is None else (0, total)


def _local_search(
    model: PriceModel, payer: int, vols: Sequence[int], own: Sequence[Decimal], start: int
) -> int:
    """Best single moves from ``start`` while one is strictly cheaper (at most 4n
    moves, each pricing n neighbours from the running pooled volume and standalone sum)."""
    cap, n = model.max_volume, len(vols)
    mask = start
    pooled = payer + sum(v for i, v in enumerate(vols) if mask >> i & 1)
    rest = exact_sum(w for i, w in enumerate(own) if not mask >> i & 1)
    current = add(model.amount(pooled), rest)
    for _ in range(4 * n):
        best: tuple[Decimal, int] | None = None
        for i in range(n):
            inside = mask >> i & 1
            volume = pooled - vols[i] if inside else pooled + vols[i]
            if cap is not None and volume > cap:
                continue
            price = add(
                model.amount(volume), add(rest, own[i]) if inside else subtract(rest, own[i])
            )
            if best is None or price < best[0]:
                best = (price, i)
        if best is None or not best[0] < current:
            break
        current, i = best
        if mask >> i & 1:
            pooled, rest = pooled - vols[i], add(rest, own[i])
        else:
            pooled, rest = pooled + vols[i], subtract(rest, own[i])
        mask ^= 1 << i
    return mask


def _lower_bound(
    model: PriceModel, payer: int, vols: Sequence[int], own: Sequence[Decimal]
) -> Decimal | None:
    """A price no grouping goes below (module docstring), or ``None`` without pieces."""
    pieces = model.pieces()
    if pieces is None:
        return None
    reach = sum(vols)
    base = exact_sum(own)
    bounds = []
    for piece in pieces:
        low = max(piece.lo - payer, 0)
        high = reach if piece.hi is None else min(piece.hi - payer, reach)
        if low <= high:
            value = _relaxed_value(piece.slope, high, vols, own)
            bounds.append(subtract(add(piece.at(payer), base), value))
    return min(bounds)


def _relaxed_value(
    slope: Decimal, room: int, vols: Sequence[int], own: Sequence[Decimal]
) -> Decimal:
    """An upper bound on what pooling can save on a piece of ``slope`` with at most
    ``room`` pooled messages: the fractional knapsack of the savings ``p(v) - slope*v``
    (best saving per message first, the last account taken in part, rounded up)."""
    items = [(subtract(w, multiply(slope, v)), v) for v, w in zip(vols, own, strict=True)]
    gains = [(u, v) for u, v in items if u > 0]
    total = exact_sum(u for u, v in gains if v == 0)

    def richer(a: tuple[Decimal, int], b: tuple[Decimal, int]) -> int:
        """Exact order by saving per message, highest first (u_a/v_a vs u_b/v_b)."""
        left, right = multiply(a[0], b[1]), multiply(b[0], a[1])
        return -1 if left > right else int(left < right)

    ranked = sorted(((u, v) for u, v in gains if v), key=cmp_to_key(richer))
    for u, v in ranked:
        if v <= room:
            total, room = add(total, u), room - v
            continue
        if room:
            with localcontext() as ctx:
                ctx.rounding = ROUND_CEILING
                part = (u * room / v).quantize(_PART, rounding=ROUND_CEILING)
            total = add(total, part)
        break
    return total


_PART: Final = Decimal("1e-12")


def advise_pooling_charges(
    price: PriceList | PriceModel,
    payer_volumes: Mapping[str, int],
    volumes: Mapping[str, Mapping[str, int]],
    *,
    exact_limit: int = EXACT_LIMIT,
) -> Advice:
    """``advise_pooling`` for each charge of ``price``: ``payer_volumes`` is the payer's
    volume per charge name, ``volumes`` each sub-account's (a charge missing counts 0).
    The totals are the charges' sums; exact when every charge's advice is."""
    if not isinstance(price, PriceList):
        return advise_pooling(
            price,
            sum(payer_volumes.values()),
            {a: sum(v.values()) for a, v in volumes.items()},
            exact_limit=exact_limit,
        )
    unknown = sorted(
        {c for per in (payer_volumes, *volumes.values()) for c in per}
        - {c.name for c in price.charges}
    )
    if unknown:
        raise InvalidInput(f"no charge of the price is named {unknown}", field="volumes")
    parts = tuple(
        (
            c.name,
            advise_pooling(
                c.model,
                payer_volumes.get(c.name, 0),
                {a: per.get(c.name, 0) for a, per in volumes.items()},
                exact_limit=exact_limit,
            ),
        )
        for c in price.charges
    )
    currency = price.currency

    def total(pick: Callable[[Advice], Money | None]) -> Money:
        return Money.sum((pick(a) for _, a in parts), currency)

    ids = sorted(_checks.account(a) for a in volumes)
    pooled = tuple(a for a in ids if all(a in adv.pooled for _, adv in parts))
    gaps = [adv.gap_bound for _, adv in parts]
    no_pool = any(adv.all_pooled_total is None for _, adv in parts)
    standalone = [
        (a, Money.sum((m for _, adv in parts for b, m in adv.standalone if b == a), currency))
        for a in ids
        if a not in pooled
    ]
    return Advice(
        pooled=pooled,
        standalone=tuple(standalone),
        pooled_total=total(lambda a: a.pooled_total),
        total=total(lambda a: a.total),
        all_pooled_total=None if no_pool else total(lambda a: a.all_pooled_total),
        all_standalone_total=total(lambda a: a.all_standalone_total),
        method="per_charge",
        exact=all(adv.exact for _, adv in parts),
        gap_bound=None if None in gaps else Money.sum(gaps, currency),
        by_charge=parts,
    )
