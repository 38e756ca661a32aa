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
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from subacct._version import __version__
from subacct.app import Subacct
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
from subacct.policy.system import SYSTEM
from subacct.pricing import BillingPeriod, Plan, PlanLadder, UsageRecord
from subacct.runtime import FixedClock
from subacct.settings import Settings
from subacct.storage.sqlite import SqliteStore

__all__ = ["main", "render_tree"]

DESCRIPTION = """\
subacct: an embeddable master/sub-account system (accounts, users and roles,
permission policies, sharing, pooled tiered billing, prepaid credits).

commands:
  demo   build the JangoMail agency of seed 000 (a master with two sub-accounts,
         four users) in a SQLite file, then print its tree, a few permission
         decisions with their reasons, and the pooled vs standalone bill
         ($90 against $120). --db FILE keeps the database; it must be new or
         empty (a database that already holds accounts is refused, unchanged).
"""


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


def build_demo(app: Subacct) -> None:
    """Create the seed 000 agency in an empty store (as the system, like a signup)."""
    for account_id, parent, name in DEMO_ACCOUNTS:
        if parent is None:
            app.accounts.create_master(name, account_id=account_id, by=SYSTEM)
        else:
            app.accounts.create_sub(parent, name, account_id=account_id, by=SYSTEM)
    for user_id, login, display, account_id, role in DEMO_USERS:
        app.members.create_user(login, display, user_id=user_id, by=SYSTEM)
        app.members.add(user_id, account_id, role, by=SYSTEM)


DEMO_CHECKS: list[tuple[str, Action, str]] = [
    ("u_owner", VIEW_BILLING, "agency2"),
    ("u_xadmin", SEND_MESSAGES, "agency1"),
    ("u_xadmin", SEND_MESSAGES, "agency2"),
    ("u_xadmin", VIEW_BILLING, "agencydemo"),
    ("u_xbasic", VIEW_REPORTS, "agency1"),
    ("u_xbasic", EXPORT_REPORTS, "agency1"),
    ("u_yadv", EXPORT_REPORTS, "agency2"),
]


def _print_decisions(app: Subacct) -> None:
    """A few permission decisions of seed 004's role matrix, with their reasons."""
    print("Permission decisions")
    rows: list[tuple[str, Principal, Action, str]] = [
        (u, UserId(u), a, acc) for u, a, acc in DEMO_CHECKS
    ]
    session = app.policy.start_impersonation("agency1", by="u_owner", reason="demo")
    rows.append(("u_owner as agency1", session, MANAGE_API_KEYS, "agency1"))
    rows.append(("u_owner as agency1", session, SEND_MESSAGES, "agency2"))
    for label, principal, action, account in rows:
        decision = app.policy.check(action, account, by=principal)
        verdict = "allowed" if decision.allowed else "denied "
        scope = f" (scope {decision.scope.value})" if decision.scope is not None else ""
        print(f"  {verdict} {label:<19} {action:<17} in {account:<10} {decision.code}{scope}")
    app.policy.end_impersonation(session.id, by="u_owner")


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


def _print_billing(app: Subacct) -> None:
    """Seed 000's comparison: each account on its own plan vs the pooled volume."""
    app.billing.set_profile("agencydemo", DEMO_LADDER, by=SYSTEM)
    app.billing.record_usage(
        [
            UsageRecord(account, DEMO_PERIOD, "email", volume, f"demo-{account}")
            for account, volume in DEMO_USAGE
        ],
        by=SYSTEM,
    )
    comparison = app.billing.compare("agencydemo", DEMO_PERIOD, by="u_owner")
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


_ONLY_EMPTY = "the demo writes only into a new or empty database"


def _refusal(db: Path) -> str | None:
    """Why the demo must not write into ``db``, read without changing it: it is not a
    file, not a SQLite database, or already holds accounts."""
    if not db.exists():
        return None
    if not db.is_file():
        return f"{db} is not a file"
    if db.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "accounts" in tables and conn.execute("SELECT 1 FROM accounts LIMIT 1").fetchone():
                return f"{db} already holds accounts; {_ONLY_EMPTY}"
            if tables and "accounts" not in tables:
                return f"{db} is another application's database; {_ONLY_EMPTY}"
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return f"{db} is not a SQLite database"
    return None


def _demo(db: Path | None) -> int:
    if db is None:
        db = Path(tempfile.mkdtemp(prefix="subacct-demo-")) / "subacct.db"
    refusal = _refusal(db)
    if refusal is not None:
        print(f"subacct: {refusal} (nothing was changed)", file=sys.stderr)
        return 2
    store = SqliteStore(db)
    try:
        app = Subacct(store, Settings(clock=FixedClock(DEMO_TIME)))
        build_demo(app)
        tree = app.accounts.tree(by=SYSTEM)
        print("subacct demo: JangoMail agency example (seed 000)")
        print(f"database: {db}")
        print()
        print("Accounts")
        for line in render_tree(tree):
            print("  " + line)
        print()
        print("Users and memberships")
        for account in tree:
            for m in app.members.members_of(account.id, by=SYSTEM):
                user = app.members.get_user(m.user_id, by=SYSTEM)
                print(f"  {user.login:<28} {m.role:<14} in {account.id}")
        print()
        subs = app.accounts.descendants("agencydemo", by="u_owner")
        print("Sub-accounts of agencydemo:", ", ".join(subs))
        mates = app.accounts.siblings("agency1", by="u_xadmin")
        print("Siblings of agency1, as its administrator sees them:", ", ".join(mates) or "none")
        print()
        _print_decisions(app)
        print()
        _print_billing(app)
    finally:
        store.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``subacct`` console script."""
    parser = argparse.ArgumentParser(
        prog="subacct",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"subacct {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="build the seed 000 agency example and print it")
    demo.add_argument(
        "--db", type=Path, help="a new or empty SQLite file to write (default: a new temp dir)"
    )
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
