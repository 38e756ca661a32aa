"""Pooling-advisor benchmark: how long ``advise_pooling`` takes at the exact limit and above.

    PYTHONPATH=src python bench/advisor_bench.py   # a few seconds; the last line is JSON

Cases (volumes from ``random.Random(seed)``, distinct per account, so nearly every subset
has its own pooled volume): ``--subs`` sub-accounts (20, the exact limit) and a heuristic
run on 21 and 100, on the seed ladder extended to 45,000 messages with $0.004 overage,
and on a three-tier volume price with flat fees (neither is subadditive, so the advisor
really searches). Each time is the best of ``--repeat`` runs (10).
"""

from __future__ import annotations

import argparse
import json
import random
import time

from _machine import machine
from subacct.money import Money
from subacct.pricing import (
    Plan,
    PlanLadder,
    PriceModel,
    Tier,
    TieredPrice,
    TierMode,
    advise_pooling,
)


def usd(amount: int) -> Money:
    return Money(amount, "USD")


def models() -> dict[str, PriceModel]:
    plans = [(2500, 15), (8500, 45), (12000, 60), (18000, 90), (30000, 135), (45000, 190)]
    ladder = PlanLadder([Plan(f"{q:,}", q, usd(p)) for q, p in plans], "0.004")
    tiers = [Tier(1000, "0.02", "5"), Tier(10000, "0.012", "20"), Tier(None, "0.008", "50")]
    return {"ladder": ladder, "volume_tiers": TieredPrice(TierMode.VOLUME, tiers, "USD")}


def best_of(repeat: int, model: PriceModel, payer: int, volumes: dict[str, int]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        advise_pooling(model, payer, volumes)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out: dict[str, object] = {"benchmark": "advisor", "machine": machine()}
    for name, model in models().items():
        for n in (args.subs, args.subs + 1, 100):
            volumes = dict(
                zip((f"s{i:03}" for i in range(n)), rng.sample(range(9000), n), strict=True)
            )
            advice = advise_pooling(model, 3000, volumes)
            out[f"{name}_{n}_s"] = round(best_of(args.repeat, model, 3000, volumes), 5)
            out[f"{name}_{n}_method"] = advice.method
            out[f"{name}_{n}_exact"] = advice.exact
    print(json.dumps(out))


if __name__ == "__main__":
    main()
