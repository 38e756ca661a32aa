"""Sharing benchmark: "which templates can this account use" on 10,000 subs.

    python bench/sharing_bench.py      # a few seconds; the last line is one JSON object

The world: one master with 10,000 sub-accounts (the default two levels), 100 master
templates shared down (60 with all subs, 20 with 50 chosen subs each, 10 of those with an
edit grant, 20 as subtrees: 10 rooted at the master, 10 at single subs), two own templates
per sub, and an unrelated master with 100 templates shared with its own subs. Resolution
is ``SharingIndex.usable(account, TEMPLATE)`` for every sub in turn, each result a full
``Access`` with origin and permission, sorted.

``mismatches`` compares every sub's answer with a brute-force scan of all shares written
below. ``index_build_s`` builds the ``SharingIndex`` (the ``Tree`` is built before, timed as
``tree_build_s``). Data comes from ``random.Random(seed)``, so every run is the same.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from _machine import machine
from subacct.domain import Account, AccountId, AccountKind, Tree
from subacct.domain.resolution import Origin, SharingIndex
from subacct.domain.resources import (
    Resource,
    ResourceId,
    ResourceKind,
    Share,
    ShareId,
    ShareMode,
    SharePermission,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TEMPLATE = ResourceKind.TEMPLATE


def build_world(
    rng: random.Random, subs: int
) -> tuple[list[Account], list[Resource], list[Share], list[AccountId]]:
    accounts: list[Account] = []
    resources: list[Resource] = []
    shares: list[Share] = []
    sub_ids: list[AccountId] = []
    for master_no, master in enumerate(("m0", "m1")):
        master_id = AccountId(master)
        accounts.append(Account(master_id, master.upper(), AccountKind.MASTER, T0))
        count = subs if master_no == 0 else 100
        kids = [AccountId(f"{master}_s{i:05d}") for i in range(count)]
        for kid in kids:
            accounts.append(Account(kid, kid, AccountKind.SUB, T0, parent_id=master_id))
            if master_no == 0:
                sub_ids.append(kid)
                for n in range(2):
                    rid = ResourceId(f"{kid}_own{n}")
                    resources.append(Resource(rid, kid, TEMPLATE, f"Own {n}", "", T0))
        for t in range(100):
            rid = ResourceId(f"{master}_tpl{t:03d}")
            resources.append(Resource(rid, master_id, TEMPLATE, f"Brand {t:03d}", "", T0))
            perm = SharePermission.USE
            targets: list[AccountId] = []
            if t < 60:
                mode = ShareMode.ALL_SUBS
            elif t < 80:
                mode = ShareMode.CHOSEN
                targets = rng.sample(kids, min(50, len(kids)))
                perm = SharePermission.EDIT if t < 70 else SharePermission.USE
            else:
                mode = ShareMode.SUBTREE
                targets = [master_id if t < 90 else rng.choice(kids)]
            sid = ShareId(f"{master}_sh{t:03d}")
            shares.append(Share(sid, rid, master_id, mode, targets, perm, T0))
    return accounts, resources, shares, sub_ids


def brute_force(
    account: AccountId, tree: Tree, resources: list[Resource], shares: list[Share]
) -> list[tuple[str, str, str]]:
    """Every share checked against the tree, no index: the answer to compare with."""
    parent = tree.get(account).parent_id
    above = set(tree.ancestors(account))
    by_id = {r.id: r for r in resources}
    best: dict[str, Share] = {}
    for share in shares:
        if share.owner_id not in above:
            continue
        if share.mode is ShareMode.ALL_SUBS:
            covered = parent == share.owner_id
        elif share.mode is ShareMode.CHOSEN:
            covered = account in share.targets
        else:
            covered = share.targets[0] == account or share.targets[0] in above
        if not covered:
            continue
        held = best.get(share.resource_id)
        if held is None or (share.permission.rank, held.id) > (held.permission.rank, share.id):
            best[share.resource_id] = share
    rows = [(r.id, "own", "edit") for r in resources if r.owner_id == account]
    rows += [(rid, "shared", s.permission.value) for rid, s in best.items() if rid in by_id]
    return sorted(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subs", type=int, default=10_000)
    parser.add_argument("--check", type=int, default=500, help="subs compared to brute force")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    accounts, resources, shares, sub_ids = build_world(random.Random(args.seed), args.subs)
    gc.collect()
    start = time.perf_counter()
    tree = Tree(accounts)
    tree_build_s = time.perf_counter() - start

    builds = []
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        index = SharingIndex(tree, resources, shares)
        builds.append(time.perf_counter() - start)

    gc.collect()
    start = time.perf_counter()
    answers = [index.usable(account, TEMPLATE) for account in sub_ids]
    resolve_s = time.perf_counter() - start
    sizes = [len(a) for a in answers]

    checked = random.Random(args.seed + 1).sample(sub_ids, min(args.check, len(sub_ids)))
    mismatches = 0
    for account in checked:
        got = sorted(
            (a.resource.id, a.origin.value, a.permission.value) for a in index.usable(account)
        )
        if got != brute_force(account, tree, resources, shares):
            mismatches += 1
    leaks = sum(
        1
        for answer in answers
        for access in answer
        if access.origin is Origin.SHARED and access.resource.owner_id != "m0"
    )

    start = time.perf_counter()
    master_view = index.visible(AccountId("m0"), TEMPLATE)
    master_visible_ms = (time.perf_counter() - start) * 1000

    result = {
        "benchmark": "sharing_bench",
        "machine": machine(),
        "seed": args.seed,
        "accounts": len(accounts),
        "resources": len(resources),
        "shares": len(shares),
        "resolutions": len(sub_ids),
        "results_per_resolution_min": min(sizes),
        "results_per_resolution_max": max(sizes),
        "resolutions_per_s": round(len(sub_ids) / resolve_s),
        "resolution_us": round(resolve_s / len(sub_ids) * 1e6, 1),
        "tree_build_s": round(tree_build_s, 3),
        "index_build_s": round(min(builds), 3),
        "master_visible_ms": round(master_visible_ms, 1),
        "master_visible_results": len(master_view),
        "checked_against_brute_force": len(checked),
        "mismatches": mismatches,
        "cross_master_leaks": leaks,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
