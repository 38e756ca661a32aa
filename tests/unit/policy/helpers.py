"""A small seed-shaped world: the JangoMail agency of seed 000 with seed 004's roles."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from subacct.domain import Account, AccountId, AccountKind, Membership
from subacct.policy import Ceiling, ImpersonationSetting, PolicyIndex

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)

MASTER = AccountId("agencydemo")
SUB1 = AccountId("agency1")
SUB2 = AccountId("agency2")


def account(account_id: str, parent: str | None = None) -> Account:
    kind = AccountKind.MASTER if parent is None else AccountKind.SUB
    return Account(account_id, account_id, kind, T0, parent)


def member(user: str, account_id: str, role: str) -> Membership:
    return Membership(user, account_id, role, T0)


ACCOUNTS = (account(MASTER), account(SUB1, MASTER), account(SUB2, MASTER))
MEMBERS = (
    member("pam", MASTER, "parent_admin"),  # parent administrator
    member("mia", MASTER, "advanced_user"),  # advanced user of the master only
    member("sam", SUB1, "sub_admin"),
    member("ada", SUB1, "advanced_user"),
    member("bob", SUB1, "basic_user"),
    member("sue", SUB2, "sub_admin"),
    member("bea", SUB2, "basic_user"),
)


def seed_index(
    *,
    extra_accounts: Iterable[Account] = (),
    extra_members: Iterable[Membership] = (),
    ceilings: Iterable[Ceiling] = (),
    settings: Iterable[ImpersonationSetting] = (),
) -> PolicyIndex:
    return PolicyIndex.build(
        [*ACCOUNTS, *extra_accounts],
        [*MEMBERS, *extra_members],
        ceilings=ceilings,
        impersonation_settings=settings,
    )
