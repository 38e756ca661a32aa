"""The events of account, link, user and membership changes, made in the core.

Each function takes the values before and after a change (planned by
``subacct.domain.hierarchy``, ``.links``, ``.accounts`` or ``.users``) and the caller's
``EventMeta``, and returns the change's event; the service layer only stores them.

>>> from datetime import datetime, UTC
>>> from subacct.domain import AccountStatus, new_master
>>> from subacct.domain.changes import status_changed
>>> from subacct.domain.events import EventMeta
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> before = new_master("agencydemo", "Agency Demo", t0)
>>> status_changed(before, before.with_status(AccountStatus.PAUSED), EventMeta("e1", t0)).to_status
<AccountStatus.PAUSED: 'paused'>
"""

from __future__ import annotations

from collections.abc import Sequence

from subacct.domain.accounts import Account, AccountStatus
from subacct.domain.events import (
    AccountClosed,
    AccountCreated,
    AccountMoved,
    AccountRenamed,
    AccountStatusChanged,
    ClientLinked,
    ClientUnlinked,
    EventMeta,
    RoleChanged,
    UserCreated,
    UserDeleted,
    UserInvited,
    UserRemoved,
    UserRenamed,
)
from subacct.domain.ids import AccountId
from subacct.domain.links import AgencyLink
from subacct.domain.users import Membership, User

__all__ = [
    "created",
    "invited",
    "linked",
    "moved",
    "removed",
    "renamed",
    "role_changed",
    "status_changed",
    "subtree_ancestors",
    "subtree_height",
    "unlinked",
    "user_created",
    "user_deleted",
    "user_renamed",
]


def created(account: Account, meta: EventMeta) -> AccountCreated:
    return AccountCreated(
        **meta.about(account.id), name=account.name, kind=account.kind, parent_id=account.parent_id
    )


def renamed(before: Account, after: Account, meta: EventMeta) -> AccountRenamed:
    return AccountRenamed(**meta.about(after.id), old_name=before.name, new_name=after.name)


def moved(before: Account, after: Account, meta: EventMeta) -> AccountMoved:
    return AccountMoved(
        **meta.about(after.id), from_parent_id=before.parent_id, to_parent_id=after.parent_id
    )


def status_changed(
    before: Account, after: Account, meta: EventMeta
) -> AccountStatusChanged | AccountClosed:
    if after.status is AccountStatus.CLOSED:
        return AccountClosed(**meta.about(after.id), from_status=before.status)
    return AccountStatusChanged(
        **meta.about(after.id), from_status=before.status, to_status=after.status
    )


def linked(link: AgencyLink, meta: EventMeta) -> ClientLinked:
    return ClientLinked(
        **meta.about(link.agency_id),
        client_id=link.client_id,
        alias=link.alias,
        access_role=link.access_role,
        request_id=link.request_id,
    )


def unlinked(link: AgencyLink, meta: EventMeta) -> ClientUnlinked:
    return ClientUnlinked(**meta.about(link.agency_id), client_id=link.client_id)


def user_created(user: User, meta: EventMeta) -> UserCreated:
    return UserCreated(**meta.about(None), user_id=user.id, login=user.login)


def user_renamed(user: User, meta: EventMeta) -> UserRenamed:
    return UserRenamed(**meta.about(None), user_id=user.id, display_name=user.display_name)


def user_deleted(user: User, gone: Sequence[Membership], meta: EventMeta) -> UserDeleted:
    return UserDeleted(
        **meta.about(None), user_id=user.id, removed_from=tuple(m.account_id for m in gone)
    )


def invited(membership: Membership, meta: EventMeta) -> UserInvited:
    return UserInvited(
        **meta.about(membership.account_id), user_id=membership.user_id, role=membership.role
    )


def role_changed(before: Membership, after: Membership, meta: EventMeta) -> RoleChanged:
    return RoleChanged(
        **meta.about(after.account_id),
        user_id=after.user_id,
        from_role=before.role,
        to_role=after.role,
    )


def removed(membership: Membership, meta: EventMeta) -> UserRemoved:
    return UserRemoved(
        **meta.about(membership.account_id), user_id=membership.user_id, role=membership.role
    )


def subtree_height(account_id: AccountId, descendants: Sequence[Account]) -> int:
    """Levels from ``account_id`` down to its deepest descendant (1 for a leaf), given its
    descendants depth first (a parent before its children)."""
    levels = {account_id: 1}
    for acc in descendants:
        if acc.parent_id is not None and acc.parent_id in levels:
            levels[acc.id] = levels[acc.parent_id] + 1
    return max(levels.values())


def subtree_ancestors(
    account_id: AccountId, above: Sequence[AccountId], descendants: Sequence[Account]
) -> dict[AccountId, tuple[AccountId, ...]]:
    """The strict ancestors (parent first) of ``account_id`` and of each of its
    descendants (given depth first, a parent before its children) once ``account_id``
    sits below ``above`` (its parent first; empty: top level). What a move changes.

    >>> from datetime import datetime, UTC
    >>> from subacct.domain import Account, AccountKind
    >>> b = Account("b", "B", AccountKind.SUB, datetime(2026, 1, 1, tzinfo=UTC), "a")
    >>> subtree_ancestors("a", ["n"], [b])
    {'a': ('n',), 'b': ('a', 'n')}
    """
    chains = {account_id: tuple(above)}
    for acc in descendants:
        if acc.parent_id is not None and acc.parent_id in chains:
            chains[acc.id] = (acc.parent_id, *chains[acc.parent_id])
    return chains
