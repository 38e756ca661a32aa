"""The account tree: rules for creating, moving, attaching and detaching sub-accounts.

The functions here are pure: the caller loads the accounts involved (the parent, its
ancestors, the height of the moved subtree) and gets back the changed account or a typed
error. ``Tree`` is an immutable in-memory view with the usual queries.

Levels count from the top: a master is level 1, its subs level 2. ``HierarchyRules``
caps the number of levels (2 by default, as in the seeds: master -> subs).

>>> from datetime import datetime, UTC
>>> from subacct.domain import AccountId, HierarchyRules, Tree, new_master, plan_new_sub
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> master = new_master(AccountId("agencydemo"), "Agency Demo", t0)
>>> sub = plan_new_sub(AccountId("agency1"), "Agency 1", master, [], HierarchyRules(), t0)
>>> Tree([master, sub]).path(AccountId("agency1"))
['agencydemo', 'agency1']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import attrs

from subacct.domain.accounts import Account, AccountKind, AccountStatus
from subacct.domain.ids import AccountId
from subacct.errors import (
    AccountNotActive,
    AccountNotFound,
    DepthExceeded,
    HierarchyCycle,
    HierarchyError,
    InvalidInput,
    LinkError,
    quoted,
)

__all__ = [
    "HierarchyRules",
    "Tree",
    "plan_attach",
    "plan_detach",
    "plan_move",
    "plan_new_sub",
]


def _max_levels(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise InvalidInput(f"max_levels must be an integer from 1 to 64, got {quoted(value)}")
    return value


@attrs.frozen
class HierarchyRules:
    """How deep the tree may grow. ``max_levels=2`` allows master -> subs only."""

    max_levels: int = attrs.field(default=2, converter=_max_levels)


def _require_usable_parent(parent: Account) -> None:
    parent.require_open()
    if parent.status is not AccountStatus.ACTIVE:
        raise AccountNotActive(
            f"parent {quoted(parent.id)} is {parent.status.value}; only an active account "
            "can take on sub-accounts",
            account_id=parent.id,
            status=parent.status.value,
        )


def _check_depth(
    parent: Account, parent_ancestors: Sequence[Account], height: int, rules: HierarchyRules
) -> None:
    deepest = len(parent_ancestors) + 1 + height
    if deepest > rules.max_levels:
        raise DepthExceeded(
            f"placing it under {quoted(parent.id)} would make the tree {deepest} levels deep; "
            f"the maximum is {rules.max_levels}",
            parent_id=parent.id,
            levels=deepest,
            max_levels=rules.max_levels,
        )


def _check_no_cycle(account: Account, parent: Account, parent_ancestors: Sequence[Account]) -> None:
    if parent.id == account.id or any(a.id == account.id for a in parent_ancestors):
        raise HierarchyCycle(
            f"account {quoted(account.id)} cannot be placed under its own descendant "
            f"{quoted(parent.id)}",
            account_id=account.id,
            parent_id=parent.id,
        )


def plan_new_sub(
    sub_id: AccountId,
    name: str,
    parent: Account,
    parent_ancestors: Sequence[Account],
    rules: HierarchyRules,
    created_at: datetime,
) -> Account:
    """A new sub-account of ``parent`` (whose ancestors, nearest first, are given)."""
    _require_usable_parent(parent)
    _check_depth(parent, parent_ancestors, 1, rules)
    return Account(
        id=sub_id, name=name, kind=AccountKind.SUB, parent_id=parent.id, created_at=created_at
    )


def plan_move(
    account: Account,
    new_parent: Account,
    new_parent_ancestors: Sequence[Account],
    subtree_height: int,
    rules: HierarchyRules,
) -> Account:
    """Move sub-account ``account`` (and its whole subtree) under ``new_parent``.

    ``subtree_height`` is 1 for a leaf, 2 when it has subs, and so on.
    """
    if account.kind is not AccountKind.SUB:
        raise HierarchyError(
            f"account {quoted(account.id)} is top level; attach it instead of moving it",
            account_id=account.id,
        )
    account.require_open()
    _check_no_cycle(account, new_parent, new_parent_ancestors)
    _require_usable_parent(new_parent)
    _check_depth(new_parent, new_parent_ancestors, subtree_height, rules)
    if account.parent_id == new_parent.id:
        return account
    return account.as_sub_of(new_parent.id)


def plan_attach(
    account: Account,
    parent: Account,
    parent_ancestors: Sequence[Account],
    subtree_height: int,
    rules: HierarchyRules,
) -> Account:
    """Make the standalone master ``account`` a sub-account of ``parent``.

    A sub already has a parent and a sub-account never has two: it is refused here
    (use ``plan_move``). A linked client is unlinked first.
    """
    if account.kind is AccountKind.SUB:
        raise HierarchyError(
            f"account {quoted(account.id)} already has parent {quoted(account.parent_id)}; "
            "a sub-account has exactly one parent (move it instead)",
            account_id=account.id,
            parent_id=account.parent_id,
        )
    if account.kind is AccountKind.LINKED:
        raise LinkError(
            f"account {quoted(account.id)} is a linked client account; unlink it before attaching",
            account_id=account.id,
        )
    account.require_open()
    _check_no_cycle(account, parent, parent_ancestors)
    _require_usable_parent(parent)
    _check_depth(parent, parent_ancestors, subtree_height, rules)
    return account.as_sub_of(parent.id)


def plan_detach(account: Account) -> Account:
    """Turn sub-account ``account`` into a standalone master, keeping its own subtree."""
    if account.kind is not AccountKind.SUB:
        raise HierarchyError(
            f"account {quoted(account.id)} is not a sub-account", account_id=account.id
        )
    return account.as_top_level(AccountKind.MASTER)


class Tree:
    """An immutable view of a set of accounts with tree queries.

    Children are listed in id order, so every query is deterministic. A ``partial`` tree
    is a view of part of a forest (what one user may see): an account whose parent is
    not in it counts as one of its roots, and its ancestors stop there.
    """

    __slots__ = ("_accounts", "_children")

    def __init__(self, accounts: Iterable[Account], *, partial: bool = False) -> None:
        by_id: dict[AccountId, Account] = {}
        for account in accounts:
            if account.id in by_id:
                raise InvalidInput(
                    f"account {quoted(account.id)} listed twice", account_id=account.id
                )
            by_id[account.id] = account
        children: dict[AccountId, list[AccountId]] = {}
        for account in by_id.values():
            if account.parent_id is not None:
                if account.parent_id not in by_id:
                    if partial:
                        continue
                    raise AccountNotFound(account.parent_id)
                children.setdefault(account.parent_id, []).append(account.id)
        for ids in children.values():
            ids.sort()
        self._accounts = by_id
        self._children = {k: tuple(v) for k, v in children.items()}
        for account_id in by_id:  # refuse cycles up front
            self.ancestors(account_id)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._accounts

    def __len__(self) -> int:
        return len(self._accounts)

    def __iter__(self) -> Iterator[Account]:
        return iter(sorted(self._accounts.values(), key=lambda a: a.id))

    def get(self, account_id: AccountId) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise AccountNotFound(account_id) from None

    def roots(self) -> list[AccountId]:
        """Top-level accounts (in a partial tree: also those whose parent is not in it)."""
        return sorted(
            a.id
            for a in self._accounts.values()
            if a.parent_id is None or a.parent_id not in self._accounts
        )

    def children(self, account_id: AccountId) -> list[AccountId]:
        self.get(account_id)
        return list(self._children.get(account_id, ()))

    def ancestors(self, account_id: AccountId) -> list[AccountId]:
        """Parent first, root last."""
        seen: list[AccountId] = []
        current = self.get(account_id).parent_id
        while current is not None and current in self._accounts:
            if current == account_id or current in seen:
                raise HierarchyCycle(f"cycle through {quoted(account_id)}", account_id=account_id)
            seen.append(current)
            current = self._accounts[current].parent_id
        return seen

    def path(self, account_id: AccountId) -> list[AccountId]:
        """Root first, ``account_id`` last."""
        return [*reversed(self.ancestors(account_id)), account_id]

    def level(self, account_id: AccountId) -> int:
        """1 for a top-level account."""
        return len(self.ancestors(account_id)) + 1

    def descendants(self, account_id: AccountId) -> list[AccountId]:
        """Every account below ``account_id``, depth first, in id order."""
        out: list[AccountId] = []
        stack = list(reversed(self.children(account_id)))
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self._children.get(current, ())))
        return out

    def siblings(self, account_id: AccountId) -> list[AccountId]:
        """Other children of the same parent (top-level accounts have no siblings)."""
        parent = self.get(account_id).parent_id
        if parent is None or parent not in self._children:
            return []
        return [c for c in self._children[parent] if c != account_id]

    def height(self, account_id: AccountId) -> int:
        """1 for a leaf, 1 + the tallest child otherwise."""
        kids = self._children.get(account_id, ())
        return 1 + max((self.height(k) for k in kids), default=0)
