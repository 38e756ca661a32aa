"""Policy engine benchmark: subacct vs pycasbin vs a plain-dict baseline, on the same checks.

    pip install -e '.[bench]'          # pycasbin is the PyPI package ``casbin``
    python bench/policy_bench.py       # under a minute; the last line is one JSON object

The world: one master with 10,000 sub-accounts x 5 users (1 sub administrator, 1 advanced
user, 3 basic users), 3 parent administrators plus 4 other users in the master, 2% of the
sub users also basic users of a second sub, and ceilings on 5% of the subs. The same
100,000 mixed checks (about half allowed; own-sub, sibling, master and inherited cases)
run through:

* subacct: ``PolicyIndex.check`` (a full ``Decision`` each time);
* pycasbin: RBAC with domains; each membership is a ``g`` rule in its account's domain,
  parent administrators get a ``g`` rule in every sub domain (inheritance made explicit),
  ceilings are deny rules on domain groups (``g2``). ``FastEnforcer`` filters policies by
  action, which is casbin's own documented speed-up; results are not cached. It runs the
  first 25,000 of the same checks by default (``--casbin-checks 100000`` runs them all,
  about a minute more); its rate and its share of ``mismatches`` come from those;
* baseline: a plain-dict function written below, the least work that gives the answer.

``mismatches`` counts checks where any two engines disagree. ``index_build_s`` is the time
of ``PolicyIndex.build`` for a separate world of 50,000 accounts (5 masters x 9,999 subs,
5 users per sub). Data comes from ``random.Random(seed)``, so every run checks the same.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from _machine import machine
from subacct.domain import Account, AccountKind, Membership
from subacct.policy import (
    DEFAULT_CATALOG,
    DEFAULT_ROLES,
    MANAGE_API_KEYS,
    MANAGE_AUTOMATION_RULES,
    MANAGE_CONTACTS,
    MANAGE_WEBHOOKS,
    SEND_MESSAGES,
    VIEW_INBOX,
    VIEW_REPORTS,
    Ceiling,
    PolicyIndex,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SUB_ROLES = ("sub_admin", "advanced_user", "basic_user", "basic_user", "basic_user")
ACTIONS = sorted(DEFAULT_CATALOG.names)
RIGHTS = {role.id: sorted(role.rights) for role in DEFAULT_ROLES}
CEILING_TEMPLATES = {
    "no_integrations": sorted(
        set(ACTIONS) - {MANAGE_API_KEYS, MANAGE_WEBHOOKS, MANAGE_AUTOMATION_RULES}
    ),
    "messaging_only": sorted({SEND_MESSAGES, VIEW_INBOX, VIEW_REPORTS, MANAGE_CONTACTS}),
}
Check = tuple[str, str, str]


class World:
    """Accounts, memberships and ceilings as plain lists, shared by the three engines."""

    def __init__(self, rng: random.Random, masters: int, subs: int, users_per_sub: int) -> None:
        self.accounts: list[Account] = []
        self.memberships: list[Membership] = []
        self.ceilings: list[tuple[str, str, str]] = []  # (account, set_by, template)
        self.subs_of: dict[str, list[str]] = {}
        self.sub_users: list[tuple[str, str]] = []  # (user, sub)
        self.master_users: dict[str, list[str]] = {}
        for m in range(masters):
            master = f"m{m}"
            self.accounts.append(Account(master, master, AccountKind.MASTER, T0))
            subs_here = [f"m{m}s{i:05d}" for i in range(subs)]
            self.subs_of[master] = subs_here
            self.accounts += [Account(s, s, AccountKind.SUB, T0, master) for s in subs_here]
            staff = [("pa", "parent_admin")] * 3 + [("ma", "advanced_user")] * 2
            staff += [("mb", "basic_user")] * 2
            self.master_users[master] = []
            for k, (prefix, role) in enumerate(staff):
                user = f"{master}{prefix}{k}"
                self.memberships.append(Membership(user, master, role, T0))
                self.master_users[master].append(user)
            for sub in subs_here:
                for j in range(users_per_sub):
                    user = f"{sub}u{j}"
                    self.memberships.append(Membership(user, sub, SUB_ROLES[j % 5], T0))
                    self.sub_users.append((user, sub))
                if rng.random() < 0.05:
                    self.ceilings.append((sub, master, rng.choice(sorted(CEILING_TEMPLATES))))
            for user, sub in self.sub_users[-subs * users_per_sub :]:
                if rng.random() < 0.02:
                    other = rng.choice(subs_here)
                    if other != sub:
                        self.memberships.append(Membership(user, other, "basic_user", T0))

    def ceiling_objects(self) -> list[Ceiling]:
        return [Ceiling(a, s, CEILING_TEMPLATES[t]) for a, s, t in self.ceilings]

    def index(self) -> PolicyIndex:
        return PolicyIndex.build(self.accounts, self.memberships, ceilings=self.ceiling_objects())


def make_checks(rng: random.Random, world: World, n: int) -> list[Check]:
    """Mixed checks: own sub, sibling sub, the master, inherited (parent admin) and master
    users reaching into subs. Roughly half are allowed."""
    master = "m0"
    subs = world.subs_of[master]
    staff = world.master_users[master]
    admins, others = staff[:3], staff[3:]
    checks: list[Check] = []
    for _ in range(n):
        roll = rng.random()
        user, home = rng.choice(world.sub_users)
        role = SUB_ROLES[int(user[-1]) % 5]
        if roll < 0.35:  # own sub: mostly actions the role has
            pool = RIGHTS[role] if rng.random() < 0.6 else ACTIONS
            checks.append((user, rng.choice(pool), home))
        elif roll < 0.50:  # a sibling sub: denied unless a second membership says otherwise
            checks.append((user, rng.choice(RIGHTS[role]), rng.choice(subs)))
        elif roll < 0.58:  # up into the master: never
            checks.append((user, rng.choice(ACTIONS), master))
        elif roll < 0.85:  # parent admin in a sub: inherited, unless a ceiling says no
            checks.append((rng.choice(admins), rng.choice(ACTIONS), rng.choice(subs)))
        elif roll < 0.93:  # master advanced/basic users in a sub: their roles do not inherit
            checks.append((rng.choice(others), rng.choice(ACTIONS), rng.choice(subs)))
        else:  # master staff in the master
            checks.append((rng.choice(staff), rng.choice(ACTIONS), master))
    return checks


def baseline_engine(world: World) -> Callable[[str, str, str], bool]:
    """The plain-dict baseline: the same rules written as directly as possible."""
    parent = {a.id: a.parent_id for a in world.accounts}
    children: dict[str, list[str]] = {}
    for a in world.accounts:
        if a.parent_id is not None:
            children.setdefault(a.parent_id, []).append(a.id)
    roles = {role.id: frozenset(role.rights) for role in DEFAULT_ROLES}
    inheriting = {role.id for role in DEFAULT_ROLES if role.inherits}
    held: dict[str, dict[str, str]] = {}
    for m in world.memberships:
        held.setdefault(m.user_id, {})[m.account_id] = m.role
    mask: dict[str, frozenset[str]] = {}
    for account, _set_by, template in world.ceilings:
        allowed = frozenset(CEILING_TEMPLATES[template])
        stack = [account]
        while stack:  # a ceiling bounds its whole subtree
            node = stack.pop()
            mask[node] = mask[node] & allowed if node in mask else allowed
            stack.extend(children.get(node, ()))

    def allowed(user: str, action: str, account: str) -> bool:
        ceiling = mask.get(account)
        if ceiling is not None and action not in ceiling:
            return False
        mine = held.get(user)
        if mine is None:
            return False
        role = mine.get(account)
        if role is not None and action in roles[role]:
            return True
        up = parent.get(account)
        while up is not None:
            role = mine.get(up)
            if role is not None and role in inheriting and action in roles[role]:
                return True
            up = parent[up]
        return False

    return allowed


CASBIN_MODEL = """
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act, eft

[role_definition]
g = _, _, _
g2 = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.act == p.act && ((p.eft == "allow" && g(r.sub, p.sub, r.dom)) || \
(p.eft == "deny" && g2(r.dom, p.sub)))
"""


def casbin_enforcer(world: World) -> object:
    """RBAC with domains modelling the same hierarchy, roles and ceilings."""
    import casbin  # the optional ``bench`` extra
    from casbin.model import FastModel, Model
    from casbin.model.policy_fast import FastPolicy
    from casbin.persist.adapter import Adapter

    p_rules = [[rid, "*", action, "allow"] for rid, acts in RIGHTS.items() for action in acts]
    for name, allowed in CEILING_TEMPLATES.items():
        p_rules += [[name, "*", action, "deny"] for action in ACTIONS if action not in allowed]
    g_rules = [[m.user_id, m.role, m.account_id] for m in world.memberships]
    inheriting = {role.id for role in DEFAULT_ROLES if role.inherits}
    for m in world.memberships:  # parent admins: a grouping rule in every descendant domain
        if m.role in inheriting:
            stack = list(world.subs_of.get(m.account_id, ()))
            while stack:
                sub = stack.pop()
                g_rules.append([m.user_id, m.role, sub])
                stack.extend(world.subs_of.get(sub, ()))
    g2_rules = [[account, template] for account, _set_by, template in world.ceilings]

    class MemoryAdapter(Adapter):  # type: ignore[misc]
        def load_policy(self, model: object) -> None:
            for key, rules in (("p", p_rules), ("g", g_rules), ("g2", g2_rules)):
                sec = model.model[key[0]][key]  # type: ignore[attr-defined]
                for rule in rules:
                    sec.policy.append(rule)

    class IndexedModel(FastModel):  # type: ignore[misc]
        # FastModel.add_def drops Model.add_def's return value, so the loader stops after
        # the first role definition (g2 would be lost). Pass it through.
        def add_def(self, sec: str, key: str, value: object) -> bool:
            added = Model.add_def(self, sec, key, value)
            if sec == "p" and key == "p":
                self.model[sec][key].policy = FastPolicy(self._cache_key_order)
            return bool(added)

    model = IndexedModel([2])  # policies indexed by action (p[2] == r.act)
    model.load_model_from_text(CASBIN_MODEL)
    return casbin.FastEnforcer(model, MemoryAdapter(), cache_key_order=[2])


def timed(run: Callable[[], list[bool]]) -> tuple[list[bool], float]:
    gc.collect()
    start = time.perf_counter()
    results = run()
    return results, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subs", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=100_000)
    parser.add_argument(
        "--casbin-checks",
        type=int,
        default=25_000,
        help="run pycasbin on the first N checks (it runs about 2,000-5,000 a second)",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--build-accounts", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    world = World(rng, 1, args.subs, 5)
    checks = make_checks(rng, world, args.checks)
    index = world.index()
    base = baseline_engine(world)

    def run_subacct(part: Sequence[Check]) -> list[bool]:
        check = index.check
        return [check(u, a, acc).allowed for u, a, acc in part]

    def run_baseline(part: Sequence[Check]) -> list[bool]:
        return [base(u, a, acc) for u, a, acc in part]

    # Alternate the two fast engines over the whole list and keep each one's best round:
    # the machine may be shared, and a burst of someone else's load then hurts neither more
    # than the other. Round 1 of subacct is also reported alone: its cold run (decision
    # values are memoised by the index the first time they are met).
    sub_times: list[float] = []
    base_times: list[float] = []
    sub_results: list[bool] = []
    base_results: list[bool] = []
    for _ in range(args.rounds):
        gc.collect()
        start = time.perf_counter()
        sub_results = run_subacct(checks)
        sub_times.append(time.perf_counter() - start)
        gc.collect()
        start = time.perf_counter()
        base_results = run_baseline(checks)
        base_times.append(time.perf_counter() - start)
    sub_s, base_s = min(sub_times), min(base_times)

    start = time.perf_counter()
    enforcer = casbin_enforcer(world)
    casbin_load_s = time.perf_counter() - start
    casbin_checks = checks[: args.casbin_checks]
    enforce = enforcer.enforce  # type: ignore[attr-defined]
    cas_results, cas_s = timed(lambda: [bool(enforce(u, acc, a)) for u, a, acc in casbin_checks])

    mismatches = sum(
        1
        for i, (s, b) in enumerate(zip(sub_results, base_results, strict=True))
        if s != b or (i < len(cas_results) and cas_results[i] != s)
    )
    reasons = Counter(index.check(u, a, acc).code for u, a, acc in checks)

    per_master = max(1, args.build_accounts // 5 - 1)
    big = World(random.Random(args.seed + 1), 5, per_master, 5)
    ceilings = big.ceiling_objects()
    builds = []
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        PolicyIndex.build(big.accounts, big.memberships, ceilings=ceilings)
        builds.append(time.perf_counter() - start)

    admin = world.master_users["m0"][0]
    start = time.perf_counter()
    reachable = index.accounts_with(admin, SEND_MESSAGES)
    reverse_admin_ms = (time.perf_counter() - start) * 1000
    user, _home = world.sub_users[0]
    start = time.perf_counter()
    for _ in range(1000):
        index.accounts_with(user, SEND_MESSAGES)
    reverse_user_us = (time.perf_counter() - start) * 1000

    sub_rate = len(checks) / sub_s
    cas_rate = len(casbin_checks) / cas_s
    base_rate = len(checks) / base_s
    result = {
        "benchmark": "policy_bench",
        "machine": machine(),
        "seed": args.seed,
        "accounts": len(world.accounts),
        "memberships": len(world.memberships),
        "ceilings": len(world.ceilings),
        "checks": len(checks),
        "allowed_fraction": round(sum(sub_results) / len(checks), 3),
        "reasons": dict(sorted(reasons.items())),
        "subacct_checks_per_s": round(sub_rate),
        "subacct_first_round_checks_per_s": round(len(checks) / sub_times[0]),
        "pycasbin_checks_per_s": round(cas_rate),
        "pycasbin_checks_run": len(casbin_checks),
        "pycasbin_enforcer": "FastEnforcer(cache_key_order=[2])",
        "pycasbin_load_s": round(casbin_load_s, 3),
        "baseline_checks_per_s": round(base_rate),
        "rounds": args.rounds,
        "subacct_vs_pycasbin": round(sub_rate / cas_rate, 1),
        "subacct_vs_baseline": round(sub_rate / base_rate, 3),
        "mismatches": mismatches,
        "index_build_s": round(min(builds), 3),
        "index_build_accounts": len(big.accounts),
        "index_build_memberships": len(big.memberships),
        "accounts_with_parent_admin_ms": round(reverse_admin_ms, 2),
        "accounts_with_parent_admin_results": len(reachable),
        "accounts_with_sub_user_us": round(reverse_user_us, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
