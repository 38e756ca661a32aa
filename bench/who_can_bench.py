"""``who_can`` benchmark: every principal holding an action in an account, on 10,000 subs.

    PYTHONPATH=src python bench/who_can_bench.py   # about a minute; the last line is JSON

The world (``random.Random(seed)``): one master ``m`` (3 parent administrators, 2
advanced and 2 basic users) over a tree of ``--subs`` sub-accounts on three levels: 10
regions (a parent administrator each), 100 districts (a parent administrator and an
advanced user each) and the rest as leaf subs with a sub administrator, an advanced and a
basic user each; 2% of the leaf users are also basic users of another leaf; ceilings on
5% of the leaves; an account key on every leaf; one live impersonation of the deep
account by a master administrator. About 30,000 users.

Questions: who may send messages (many holders) and view billing (administrators above
only) in a deep account (a leaf, three levels down) and in a shallow one (a region).

* ``pure``: ``subacct.policy.who_can`` on the full ``PolicyIndex`` against two floors:
  ``platform_scan`` asks ``index.check`` for every user of the platform (what the answer
  would cost without the account-to-users table), ``candidates_scan`` is a few lines of
  plain Python: the members of the account and its ancestors from a dict, each put to
  ``index.check``. ``first_call_ms`` is the first call on a new index, which builds the
  account-to-users table (once per index).
* ``app_sqlite``: ``app.policy.who_can`` over SQLite (the world written in one unit of
  work, as a host's import would) against ``app.policy.check`` for each principal that
  holds or could hold the action there (the same candidates, keys and session), each its
  own unit of work; both after one warm-up round (the policy cache is warm).

Figures are ratios to their floor (lower is better for subacct) and best-of-``--repeat``
times per call, subacct and its floors alternating within each round.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _machine import machine
from subacct import SqliteStore, Subacct
from subacct.domain import Account, AccountKind, HierarchyRules, Membership, User
from subacct.policy import (
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_INBOX,
    VIEW_REPORTS,
    ApiKey,
    ApiKeyKind,
    Ceiling,
    Grant,
    ImpersonationSession,
    PolicyIndex,
    who_can,
)
from subacct.settings import Settings
from subacct.storage.collections import API_KEYS, CEILINGS, IMPERSONATION_SESSIONS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEAF_ROLES = ("sub_admin", "advanced_user", "basic_user")


class World:
    def __init__(self, rng: random.Random, subs: int) -> None:
        self.accounts = [Account("m", "M", AccountKind.MASTER, T0)]
        self.memberships: list[Membership] = []
        self.parent: dict[str, str | None] = {"m": None}
        staff = ["parent_admin"] * 3 + ["advanced_user"] * 2 + ["basic_user"] * 2
        for k, role in enumerate(staff):
            self._member(f"m_staff{k}", "m", role)
        regions = [f"r{i}" for i in range(10)]
        districts = [f"{r}d{j}" for r in regions for j in range(10)]
        for r in regions:
            self._account(r, "m")
            self._member(f"{r}_admin", r, "parent_admin")
        for d in districts:
            self._account(d, d.split("d")[0])
            self._member(f"{d}_admin", d, "parent_admin")
            self._member(f"{d}_analyst", d, "advanced_user")
        self.leaves = [f"{districts[i % 100]}s{i:05d}" for i in range(subs - 110)]
        self.keys: dict[str, list[ApiKey]] = {}
        self.ceilings: list[Ceiling] = []
        leaf_users = []
        for leaf in self.leaves:
            self._account(leaf, leaf.split("s")[0])
            for j, role in enumerate(LEAF_ROLES):
                self._member(f"{leaf}u{j}", leaf, role)
                leaf_users.append(f"{leaf}u{j}")
            key = ApiKey(
                f"{leaf}_ci", leaf, "CI", f"{leaf}u0", [Grant(SEND_MESSAGES)], T0,
                kind=ApiKeyKind.ACCOUNT,
            )  # fmt: skip
            self.keys[leaf] = [key]
            if rng.random() < 0.05:
                actions = [SEND_MESSAGES, VIEW_INBOX, VIEW_REPORTS]
                self.ceilings.append(Ceiling(leaf, "m", actions))
        for user in leaf_users:
            if rng.random() < 0.02:
                other = rng.choice(self.leaves)
                if not user.startswith(other):
                    self._member(user, other, "basic_user")
        self.users = sorted({m.user_id for m in self.memberships})
        self.deep, self.shallow = self.leaves[len(self.leaves) // 2], "r3"
        self.session = ImpersonationSession("imp1", "m_staff0", self.deep, T0)

    def _account(self, account_id: str, parent: str) -> None:
        self.accounts.append(Account(account_id, account_id, AccountKind.SUB, T0, parent))
        self.parent[account_id] = parent

    def _member(self, user: str, account: str, role: str) -> None:
        self.memberships.append(Membership(user, account, role, T0))

    def chain(self, account: str) -> list[str]:
        out: list[str] = []
        node: str | None = account
        while node is not None:
            out.append(node)
            node = self.parent[node]
        return out

    def sessions(self, account: str) -> list[ImpersonationSession]:
        return [self.session] if account == self.session.account_id else []


def best(repeat: int, *runs: tuple[int, Callable[[], object]]) -> list[float]:
    """Best-of-``repeat`` seconds per call of each ``(calls, fn)``; the runs alternate
    within each round, so a busy machine slows them alike."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for out, (calls, fn) in zip(times, runs, strict=True):
            gc.collect()
            started = time.perf_counter()
            for _ in range(calls):
                fn()
            out.append((time.perf_counter() - started) / calls)
    return [min(t) for t in times]


def pure(world: World, repeat: int) -> dict[str, Any]:
    index = PolicyIndex.build(world.accounts, world.memberships, ceilings=world.ceilings)
    started = time.perf_counter()
    who_can(index, SEND_MESSAGES, world.deep)
    first_ms = (time.perf_counter() - started) * 1e3
    members: dict[str, list[str]] = {}
    for m in world.memberships:
        members.setdefault(m.account_id, []).append(m.user_id)
    out: dict[str, Any] = {"first_call_ms": round(first_ms, 2)}
    for where, account in (("deep", world.deep), ("shallow", world.shallow)):
        keys, sessions = world.keys.get(account, []), world.sessions(account)
        for name, action in (("send", SEND_MESSAGES), ("billing", VIEW_BILLING)):

            def subacct() -> list[str]:
                return [h.id for h in who_can(index, action, account, keys=keys, sessions=sessions)]  # noqa: B023

            def platform_scan() -> list[str]:
                principals = [*world.users, *keys, *sessions]  # noqa: B023
                return [p for p in principals if index.check(p, action, account)]  # type: ignore[misc]  # noqa: B023

            def candidates_scan() -> list[str]:
                found = {u for a in world.chain(account) for u in members.get(a, ())}  # noqa: B023
                principals = [*sorted(found), *keys, *sessions]  # noqa: B023
                return [p for p in principals if index.check(p, action, account)]  # type: ignore[misc]  # noqa: B023

            assert len(subacct()) == len(platform_scan()) == len(candidates_scan())
            s, p, c = best(repeat, (200, subacct), (2, platform_scan), (200, candidates_scan))
            key = f"{where}_{name}"
            out[f"{key}_holders"] = len(subacct())
            out[f"{key}_us"] = round(s * 1e6, 1)
            out[f"{key}_over_platform_scan"] = round(s / p, 5)
            out[f"{key}_over_candidates_scan"] = round(s / c, 2)
    out["users"] = len(world.users)
    out["memberships"] = len(world.memberships)
    out["accounts"] = len(world.accounts)
    return out


def app_sqlite(world: World, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "who_can.db")
        with store.unit_of_work() as uow:
            for account in world.accounts:
                uow.accounts.add(account)
            for user in world.users:
                uow.users.add(User(user, f"{user}@x.test", user, T0))
            for m in world.memberships:
                uow.memberships.add(m)
            for c in world.ceilings:
                uow.records(CEILINGS).add(c)
            for keys in world.keys.values():
                uow.records(API_KEYS).add_many(keys)
            uow.records(IMPERSONATION_SESSIONS).add(world.session)
            uow.commit()
        app = Subacct(store, Settings(hierarchy=HierarchyRules(4)))
        members: dict[str, list[str]] = {}
        for m in world.memberships:
            members.setdefault(m.account_id, []).append(m.user_id)
        asker = "m_staff0"
        for where, account in (("deep", world.deep), ("shallow", world.shallow)):
            found = sorted({u for a in world.chain(account) for u in members.get(a, ())})
            principals = [*found, *world.keys.get(account, []), *world.sessions(account)]
            for name, action in (("send", SEND_MESSAGES), ("billing", VIEW_BILLING)):

                def subacct() -> int:
                    return len(app.policy.who_can(action, account, by=asker))  # noqa: B023

                def each_check() -> int:
                    check = app.policy.check
                    return sum(bool(check(action, account, by=p)) for p in principals)  # noqa: B023

                assert subacct() == each_check()  # (also the warm-up round)
                s, c = best(repeat, (50, subacct), (50, each_check))
                key = f"{where}_{name}"
                out[f"{key}_us"] = round(s * 1e6, 1)
                out[f"{key}_floor_us"] = round(c * 1e6, 1)
                out[f"{key}_over_each_check"] = round(s / c, 2)
            out[f"{where}_candidates"] = len(principals)
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    world = World(random.Random(args.seed), args.subs)
    out: dict[str, Any] = {"benchmark": "who_can", "machine": machine(), "subs": args.subs}
    out["pure"] = pure(world, args.repeat)
    out["app_sqlite"] = app_sqlite(world, args.repeat)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
