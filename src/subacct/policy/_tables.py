"""Table builders for ``PolicyIndex``: ancestors, children and ceiling masks (pure helpers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.errors import AccountNotFound, HierarchyCycle, InvalidInput, quoted
from subacct.policy.actions import Action
from subacct.policy.ceilings import Ceiling

__all__ = [
    "AccountLike",
    "MembershipLike",
    "ancestor_table",
    "children_table",
    "fill_masks",
    "parent_table",
]


class AccountLike(Protocol):
    """What the index reads from an account: ``subacct.domain.Account`` fits."""

    @property
    def id(self) -> AccountId: ...

    @property
    def parent_id(self) -> AccountId | None: ...


class MembershipLike(Protocol):
    """What the index reads from a membership: ``subacct.domain.Membership`` fits."""

    @property
    def user_id(self) -> UserId: ...

    @property
    def account_id(self) -> AccountId: ...

    @property
    def role(self) -> RoleId: ...


def parent_table(accounts: Iterable[AccountLike]) -> dict[AccountId, AccountId | None]:
    """``{account: parent}``; refuses duplicates and unknown parents."""
    parent: dict[AccountId, AccountId | None] = {}
    for account in accounts:
        if account.id in parent:
            raise InvalidInput(f"account {quoted(account.id)} listed twice", account_id=account.id)
        parent[account.id] = account.parent_id
    for account_id, parent_id in parent.items():
        if parent_id is not None and parent_id not in parent:
            raise AccountNotFound(parent_id)
        if parent_id == account_id:
            raise HierarchyCycle(
                f"account {quoted(account_id)} is its own parent", account_id=account_id
            )
    return parent


def ancestor_table(
    parent: Mapping[AccountId, AccountId | None],
) -> dict[AccountId, tuple[AccountId, ...]]:
    """``{account: ancestors}``, parent first; each chain is walked once. Refuses cycles."""
    ancestors: dict[AccountId, tuple[AccountId, ...]] = {}
    for start in parent:
        chain: list[AccountId] = []
        on_chain: set[AccountId] = set()
        current: AccountId | None = start
        while current is not None and current not in ancestors:
            if current in on_chain:
                raise HierarchyCycle(f"cycle through {quoted(start)}", account_id=start)
            chain.append(current)
            on_chain.add(current)
            current = parent[current]
        base: tuple[AccountId, ...] = () if current is None else (current, *ancestors[current])
        for node in reversed(chain):
            ancestors[node] = base
            base = (node, *base)
    return ancestors


def children_table(
    parent: Mapping[AccountId, AccountId | None],
) -> dict[AccountId, tuple[AccountId, ...]]:
    """``{account: children}`` in id order, for accounts that have children."""
    children: dict[AccountId, list[AccountId]] = {}
    for account_id, parent_id in parent.items():
        if parent_id is not None:
            children.setdefault(parent_id, []).append(account_id)
    return {k: tuple(sorted(v)) for k, v in children.items()}


def fill_masks(
    masks: dict[AccountId, frozenset[Action]],
    root: AccountId,
    inherited: frozenset[Action] | None,
    ceilings: Mapping[AccountId, tuple[Ceiling, ...]],
    children: Mapping[AccountId, tuple[AccountId, ...]],
) -> None:
    """Write into ``masks`` the effective ceiling of ``root`` and its whole subtree.

    ``inherited`` is the mask of ``root``'s parent (``None``: unrestricted). An account with
    no restriction on its path gets no entry. Masks only shrink going down the tree.
    """
    stack: list[tuple[AccountId, frozenset[Action] | None]] = [(root, inherited)]
    while stack:
        node, mask = stack.pop()
        for ceiling in ceilings.get(node, ()):
            mask = ceiling.allowed if mask is None else mask & ceiling.allowed
        if mask is None:
            masks.pop(node, None)
        else:
            masks[node] = mask
        stack.extend((child, mask) for child in children.get(node, ()))
