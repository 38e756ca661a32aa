"""Reverse queries and checks on 10,000 sub-accounts touch only what they must.

No timing: the tables are wrapped to count lookups, so "no scan of every account per call"
is checked exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from subacct.domain import AccountId
from subacct.policy import SEND_MESSAGES, PolicyIndex

from .helpers import MASTER, account, member

SUBS = [AccountId(f"s{i:05d}") for i in range(10_000)]


class CountingDict(dict):  # type: ignore[type-arg]
    """A dict that counts key lookups and refuses to be iterated."""

    def __init__(self, data: dict[Any, Any]) -> None:
        super().__init__(data)
        self.lookups = 0

    def get(self, key: Any, default: Any = None) -> Any:
        self.lookups += 1
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.lookups += 1
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.lookups += 1
        return super().__contains__(key)

    def __iter__(self) -> Iterator[Any]:
        raise AssertionError("a query iterated over every account")

    def items(self) -> Any:
        raise AssertionError("a query iterated over every account")


def big_index() -> PolicyIndex:
    accounts = [account(MASTER), *(account(s, MASTER) for s in SUBS)]
    members = [member("pam", MASTER, "parent_admin")]
    members += [member(f"u{i}", s, "basic_user") for i, s in enumerate(SUBS)]
    index = PolicyIndex.build(accounts, members)
    for table in ("_parent", "_ancestors", "_children", "_masks", "_ceilings"):
        setattr(index, table, CountingDict(getattr(index, table)))
    return index


def lookups(index: PolicyIndex) -> int:
    return sum(getattr(index, t).lookups for t in ("_parent", "_ancestors", "_children", "_masks"))


def test_sub_member_queries_cost_a_few_lookups() -> None:
    index = big_index()
    assert index.accounts_with("u42", SEND_MESSAGES) == [SUBS[42]]
    assert set(index.actions_in("u42", SUBS[42])) == {"messages.send", "inbox.view", "reports.view"}
    assert index.check("u42", SEND_MESSAGES, SUBS[43]).code == "no_membership"
    assert index.check("pam", SEND_MESSAGES, SUBS[9_999]).allowed
    assert lookups(index) < 20


def test_parent_admin_reverse_query_walks_only_its_subtree() -> None:
    index = big_index()
    reachable = index.accounts_with("pam", SEND_MESSAGES)
    assert len(reachable) == 10_001
    assert lookups(index) <= 2 * len(reachable) + 5
