r"""When does pooling never cost more? Exactly when the price function is subadditive.

Pooling prices the combined volume once: ``p(v1 + ... + vn)``; standalone billing pays
``p(v1) + ... + p(vn)``. Call ``p`` *subadditive* when ``p(a + b) <= p(a) + p(b)`` for all
volumes ``a, b`` whose sum the model can price.

**Theorem 1.** The pooled bill never exceeds the standalone sum, for every group of
accounts and every volumes, if and only if ``p`` is subadditive.
*Proof.* If: by induction, ``p(v1+...+vn) <= p(v1+...+v(n-1)) + p(vn) <= ... <= sum p(vi)``
(every partial sum is at most the total, so it is priceable). Only if: two accounts
sending ``a`` and ``b`` with ``p(a+b) > p(a)+p(b)`` are a counter-example. QED

A falling price per message is *not* enough. Plans 1,000 = $10 (1 cent a message) and
10,000 = $30 (0.3 cents): two accounts sending 1,000 each pay $20 standalone but $30
pooled (the smallest counter-example is 1 + 1,000 messages: $20 against $30). The
seed's own ladder (2,500 = $15, 8,500 = $45, 12,000 = $60, 18,000 = $90)
fails too: two accounts sending 2,500 each pay $30 standalone and $45 pooled.

**Theorem 2 (plan ladders).** Let plans ``(q1, c1) ... (qk, ck)`` have ascending included
volumes ``q`` and non-decreasing prices ``c``; plan ``i`` prices the volumes
``q(i-1) < v <= qi`` (with ``q0 = -1``: the first plan also prices 0).

* Without overage (``p`` defined up to ``qk``): ``p`` is subadditive iff for every pair of
  plans ``i <= j`` (a plan paired with itself included) whose smallest pooled volume
  ``q(i-1) + q(j-1) + 2`` is at most ``qk``, the plan covering ``min(qi + qj, qk)`` costs
  at most ``ci + cj``. When ``qi + qj <= qk`` this reads: *the smallest plan covering the
  two plans' combined volume costs at most the two plans together*.
* With an overage rate ``r`` above ``qk``: ``p`` is subadditive iff ``p(qi + qj) <= ci + cj``
  for every pair ``i <= j`` **and** ``r * qj <= cj`` for every plan ``j`` (no plan is
  cheaper per message than the overage rate).

*Proof.* ``p`` is non-decreasing. For ``a`` on plan ``i`` and ``b`` on plan ``j``:
``p(a) = ci`` and ``p(b) = cj`` whatever ``a, b`` in those ranges, while ``a + b`` ranges
over every integer from ``q(i-1)+q(j-1)+2`` to ``qi+qj``; the worst case is the largest
priceable sum, ``min(qi+qj, qk)`` without overage, ``qi+qj`` with it. So the pair
condition is necessary (that sum is a counter-example) and sufficient. With overage, also
let ``a > qk``: ``p(a+b) - p(a) = r*b``, so subadditivity needs ``r*b <= p(b)`` for all
``b``; the worst ``b`` on plan ``j`` is ``qj``, giving ``r*qj <= cj``, and ``b > qk``
reduces to ``r*qk <= ck``. QED

**Theorem 3 (what the code checks, for any piecewise model).** A model given as affine
pieces ``p(v) = alpha + beta*v`` on consecutive integer ranges (ladders, volume and graduated
tiers, with or without flat fees) is subadditive iff ``f(a, b) = p(a+b) - p(a) - p(b) <= 0``
at the finitely many points ``(x, y)`` and ``(x, s - x)`` with ``x, y, s`` piece endpoints.
*Proof.* With ``a`` on piece ``I``, ``b`` on ``J`` and ``a+b`` on ``K``, ``f`` is affine
on the polygon ``{a in I, b in J, a+b in K}``; its vertices are where two of the lines
``a = x``, ``b = y``, ``a + b = s`` (``x, y, s`` endpoints) meet, which are exactly the
candidate points (``(s - y, y)`` is ``(y, s - y)`` mirrored, and ``f`` is symmetric). The
polygon is unbounded only when ``a`` or ``b`` lies on the last, open piece; then so does
``a+b`` and ``f`` is constant along the open direction (slope minus the same slope). So
``f`` reaches its maximum on every cell at a candidate point. QED
Package pricing is always subadditive: ``ceil((a+b)/N) <= ceil(a/N) + ceil(b/N)``.

>>> from subacct.money import Money
>>> from subacct.pricing import Plan, PlanLadder, subadditivity_witness
>>> usd = lambda a: Money(a, "USD")
>>> subadditivity_witness(PlanLadder([Plan("1k", 1000, usd(10)), Plan("10k", 10000, usd(30))]))
(1, 1000)
>>> subadditivity_witness(PlanLadder([Plan("1k", 1000, usd(10)), Plan("2k", 2000, usd(15))]))
"""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal
from itertools import pairwise

from subacct.errors import InvalidPricing
from subacct.money import add
from subacct.pricing.model import Piece, PriceModel
from subacct.pricing.tiers import PackagePrice

__all__ = ["is_subadditive", "subadditivity_witness"]


def _check_pieces(pieces: tuple[Piece, ...], max_volume: int | None) -> None:
    if not pieces or pieces[0].lo != 0:
        raise InvalidPricing("pieces must start at volume 0")
    for left, right in pairwise(pieces):
        if left.hi is None or right.lo != left.hi + 1:
            raise InvalidPricing("pieces must be consecutive, and only the last may be open")
    if pieces[-1].hi != max_volume:
        raise InvalidPricing("the last piece must end at the model's max_volume")


def subadditivity_witness(model: PriceModel) -> tuple[int, int] | None:
    """Volumes ``(a, b)`` where pooling costs more (``p(a+b) > p(a)+p(b)``), or ``None``.

    ``None`` proves that pooled billing on ``model`` never exceeds the standalone sum
    (Theorems 1 and 3 above). A witness is a real counter-example, chosen among the
    candidate points of Theorem 3 (smallest ``a + b`` first); it is not necessarily the
    smallest counter-example overall.
    """
    if isinstance(model, PackagePrice):
        return None
    pieces = model.pieces()
    if pieces is None:
        raise InvalidPricing(
            f"{type(model).__name__} has no finite piecewise form; cannot decide subadditivity"
        )
    cap = model.max_volume
    _check_pieces(pieces, cap)
    ends = sorted({p.lo for p in pieces} | {p.hi for p in pieces if p.hi is not None})
    cache: dict[int, Decimal] = {}

    def p(volume: int) -> Decimal:
        if volume not in cache:
            cache[volume] = model.amount(volume)
        return cache[volume]

    candidates: set[tuple[int, int]] = set()
    for i, x in enumerate(ends):
        candidates.update((x, y) for y in ends[i:])
        # (x, s - x) for every endpoint s >= x; f is symmetric, so store pairs sorted.
        candidates.update((min(x, s - x), max(x, s - x)) for s in ends[bisect_left(ends, x) :])
    best: tuple[int, int] | None = None
    for a, b in sorted(candidates, key=lambda c: (c[0] + c[1], c[0])):
        if cap is not None and a + b > cap:
            continue
        if p(a + b) > add(p(a), p(b)):
            best = (a, b)
            break
    return best


def is_subadditive(model: PriceModel) -> bool:
    """True when pooling on ``model`` can never cost more than standalone billing.

    >>> from subacct.pricing import TieredPrice, TierMode, Tier
    >>> is_subadditive(TieredPrice(TierMode.GRADUATED, [Tier(10, 2), Tier(None, 1)], "USD"))
    True
    """
    return subadditivity_witness(model) is None
