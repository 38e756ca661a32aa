"""The ``subacct`` command line: ``subacct demo`` builds the seed 000 agency and prints it.

>>> from subacct.cli import main
>>> import tempfile, pathlib
>>> main(["demo", "--db", str(pathlib.Path(tempfile.mkdtemp()) / "demo.db")])  # doctest: +ELLIPSIS
subacct demo: JangoMail agency example (seed 000)
...
0
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from subacct._version import __version__
from subacct.billing_service import BillingService
from subacct.domain import AccountId, Tree, UserId
from subacct.errors import SubacctError
from subacct.money import Money
from subacct.policy import (
    EXPORT_REPORTS,
    MANAGE_API_KEYS,
    SEND_MESSAGES,
    VIEW_BILLING,
    VIEW_REPORTS,
    Action,
    Principal,
)
from subacct.policy_service import PolicyService
from subacct.pricing import BillingPeriod, Plan, PlanLadder, UsageRecord
from subacct.runtime import FixedClock
from subacct.service import AccountService
from subacct.storage.sqlite import SqliteStore

__all__ = ["main", "render_tree"]

DEMO_TIME = datetime(2026, 1, 1, tzinfo=UTC)

DEMO_ACCOUNTS = [
    ("agencydemo", None, "Agency Demo"),
    ("agency1", "agencydemo", "Company X"),
    ("agency2", "agencydemo", "Company Y"),
]
DEMO_USERS = [
    ("u_owner", "owner@agencydemo.example", "Olivia Owner", "agencydemo", "parent_admin"),
    ("u_xadmin", "admin@companyx.example", "Xavier Admin", "agency1", "sub_admin"),
    ("u_xbasic", "sender@companyx.example", "Sam Sender", "agency1", "basic_user"),
    ("u_yadv", "analyst@companyy.example", "Yara Analyst", "agency2", "advanced_user"),
]


def render_tree(tree: Tree) -> list[str]:
    """The forest as indented text lines, one account per line."""
    lines: list[str] = []

    def walk(account_id: AccountId, prefix: str, last: bool, top: bool) -> None:
        account = tree.get(account_id)
        branch = "" if top else ("`-- " if last else "|-- ")
        lines.append(
            f"{prefix}{branch}{account.id}  {account.name}  "
            f"[{account.kind.value}, {account.status.value}]"
        )
        kids = tree.children(account_id)
        child_prefix = prefix if top else prefix + ("    " if last else "|   ")
        for index, kid in enumerate(kids):
            walk(kid, child_prefix, index == len(kids) - 1, False)

    for root in tree.roots():
        walk(root, "", True, True)
    return lines


def build_demo(svc: AccountService) -> None:
    """Create the seed 000 agency (idempotent: existing accounts and users are kept)."""
    existing = {a.id for a in svc.tree()}
    for account_id, parent, name in DEMO_ACCOUNTS:
        if account_id in existing:
            continue
        if parent is None:
            svc.create_master(name, account_id=account_id)
        else:
            svc.create_sub(parent, name, account_id=account_id)
    for user_id, login, display, account_id, role in DEMO_USERS:
        if svc.find_user_by_login(login) is None:
            svc.create_user(login, display, user_id=user_id)
            svc.add_membership(user_id, account_id, role)


DEMO_CHECKS: list[tuple[str, Action, str]] = [
    ("u_owner", VIEW_BILLING, "agency2"),
    ("u_xadmin", SEND_MESSAGES, "agency1"),
    ("u_xadmin", SEND_MESSAGES, "agency2"),
    ("u_xadmin", VIEW_BILLING, "agencydemo"),
    ("u_xbasic", VIEW_REPORTS, "agency1"),
    ("u_xbasic", EXPORT_REPORTS, "agency1"),
    ("u_yadv", EXPORT_REPORTS, "agency2"),
]


def _print_decisions(svc: PolicyService) -> None:
    """A few permission decisions of seed 004's role matrix, with their reasons."""
    print("Permission decisions")
    rows: list[tuple[str, Principal, Action, str]] = [
        (u, UserId(u), a, acc) for u, a, acc in DEMO_CHECKS
    ]
    session = svc.start_impersonation("u_owner", "agency1")
    rows.append(("u_owner as agency1", session, MANAGE_API_KEYS, "agency1"))
    rows.append(("u_owner as agency1", session, SEND_MESSAGES, "agency2"))
    for label, principal, action, account in rows:
        decision = svc.check(principal, action, account)
        verdict = "allowed" if decision.allowed else "denied "
        scope = f" (scope {decision.scope.value})" if decision.scope is not None else ""
        print(f"  {verdict} {label:<19} {action:<17} in {account:<10} {decision.code}{scope}")
    svc.end_impersonation(session.id)


DEMO_PERIOD = BillingPeriod(2026, 1)
DEMO_LADDER = PlanLadder(
    [
        Plan("2,500", 2500, Money("15", "USD")),
        Plan("8,500", 8500, Money("45", "USD")),
        Plan("12,000", 12000, Money("60", "USD")),
        Plan("18,000", 18000, Money("90", "USD")),
    ]
)
DEMO_USAGE = [("agencydemo", 9000), ("agency1", 5300), ("agency2", 1700)]


def _print_billing(svc: BillingService) -> None:
    """Seed 000's comparison: each account on its own plan vs the pooled volume."""
    if svc.billing_profile("agencydemo") is None:
        svc.set_billing_profile("agencydemo", DEMO_LADDER)
    svc.record_usage(
        UsageRecord(account, DEMO_PERIOD, "email", volume, f"demo-{account}")
        for account, volume in DEMO_USAGE
    )
    comparison = svc.compare("agencydemo", DEMO_PERIOD)
    volumes = dict(comparison.volumes)
    print(f"Billing for {DEMO_PERIOD} (seed 000 plan ladder)")
    print(f"  {'account':<12} {'messages':>9}  {'plan':>7}  {'standalone':>10}")
    for account, price in comparison.standalone:
        plan = DEMO_LADDER.plan_for(volumes[account]).name
        print(f"  {account:<12} {volumes[account]:>9,}  {plan:>7}  {_usd(price):>10}")
    pooled_plan = DEMO_LADDER.plan_for(comparison.pooled_volume).name
    print(f"  {'standalone total':<32}  {_usd(comparison.standalone_total):>10}")
    print(
        f"  {'pooled: ' + format(comparison.pooled_volume, ',') + ' in the ' + pooled_plan:<32}"
        f"  {_usd(comparison.pooled_total):>10}"
    )
    print(f"  {'saving with pooled billing':<32}  {_usd(comparison.saving):>10}")


def _usd(money: Money) -> str:
    return f"${money.rounded().amount:,.2f}"


def _demo(db: Path | None) -> int:
    if db is None:
        db = Path(tempfile.mkdtemp(prefix="subacct-demo-")) / "subacct.db"
    store = SqliteStore(db)
    try:
        svc = BillingService(store, clock=FixedClock(DEMO_TIME))
        build_demo(svc)
        tree = svc.tree()
        print("subacct demo: JangoMail agency example (seed 000)")
        print(f"database: {db}")
        print()
        print("Accounts")
        for line in render_tree(tree):
            print("  " + line)
        print()
        print("Users and memberships")
        for account in tree:
            for m in svc.members_of(account.id):
                user = svc.get_user(m.user_id)
                print(f"  {user.login:<28} {m.role:<14} in {account.id}")
        print()
        print("Sub-accounts of agencydemo:", ", ".join(svc.descendants("agencydemo")))
        print("Siblings of agency1:", ", ".join(svc.siblings("agency1")))
        print()
        _print_decisions(svc)
        print()
        _print_billing(svc)
    finally:
        store.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``subacct`` console script."""
    parser = argparse.ArgumentParser(prog="subacct", description=__doc__)
    parser.add_argument("--version", action="version", version=f"subacct {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="build the seed 000 agency example and print it")
    demo.add_argument("--db", type=Path, help="SQLite file to use (default: a new temp dir)")
    args = parser.parse_args(argv)
    try:
        return _demo(args.db)
    except SubacctError as exc:
        print(f"subacct: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `subacct demo | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
