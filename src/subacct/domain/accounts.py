"""Accounts and their lifecycle.

An account is a master (top level, may own sub-accounts), a sub-account (has exactly one
parent) or a linked client account (top level, connected to an agency by a link, never a
descendant of it). Accounts are immutable values: every change returns a new instance with
``version`` increased by one, which storage uses for optimistic concurrency.

Lifecycle rules (see ``docs/concepts.md``):

* ``active`` -> ``suspended`` | ``paused`` | ``closed``
* ``suspended`` -> ``active`` | ``closed``  (a platform hold, e.g. abuse or non-payment)
* ``paused`` -> ``active`` | ``suspended`` | ``closed``  (the customer's seasonal hold)
* ``closed`` is final: a closed account never reopens, moves or gains members.

Only an ``active`` account whose ancestors are all ``active`` can send.

>>> from datetime import datetime, UTC
>>> from subacct.domain import AccountId, new_master, AccountStatus
>>> acc = new_master(AccountId("agencydemo"), "Agency Demo", datetime(2026, 1, 1, tzinfo=UTC))
>>> acc.with_status(AccountStatus.PAUSED).status
<AccountStatus.PAUSED: 'paused'>
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final

import attrs

from subacct.domain._validate import clean_name, positive_version, utc_timestamp
from subacct.domain.ids import AccountId, check_id
from subacct.errors import (
    AccountClosed,
    AccountHasOpenSubs,
    AccountNotActive,
    ForbiddenTransition,
    InvalidInput,
    quoted,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Account",
    "AccountKind",
    "AccountStatus",
    "can_send",
    "new_master",
    "require_can_send",
]


class AccountKind(enum.Enum):
    MASTER = "master"
    SUB = "sub"
    LINKED = "linked"


class AccountStatus(enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    PAUSED = "paused"
    CLOSED = "closed"


ALLOWED_TRANSITIONS: Final[Mapping[AccountStatus, frozenset[AccountStatus]]] = MappingProxyType(
    {
        AccountStatus.ACTIVE: frozenset(
            {AccountStatus.SUSPENDED, AccountStatus.PAUSED, AccountStatus.CLOSED}
        ),
        AccountStatus.SUSPENDED: frozenset({AccountStatus.ACTIVE, AccountStatus.CLOSED}),
        AccountStatus.PAUSED: frozenset(
            {AccountStatus.ACTIVE, AccountStatus.SUSPENDED, AccountStatus.CLOSED}
        ),
        AccountStatus.CLOSED: frozenset(),
    }
)


def _account_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _optional_account_id(value: object) -> AccountId | None:
    return None if value is None else AccountId(check_id(value, field="parent_id"))


@attrs.frozen
class Account:
    """One account. ``parent_id`` is set exactly when ``kind`` is ``SUB``."""

    id: AccountId = attrs.field(converter=_account_id)
    name: str = attrs.field(converter=clean_name)
    kind: AccountKind = attrs.field(validator=attrs.validators.instance_of(AccountKind))
    created_at: datetime = attrs.field(converter=utc_timestamp)
    parent_id: AccountId | None = attrs.field(default=None, converter=_optional_account_id)
    status: AccountStatus = attrs.field(
        default=AccountStatus.ACTIVE, validator=attrs.validators.instance_of(AccountStatus)
    )
    version: int = attrs.field(default=1, converter=positive_version)

    def __attrs_post_init__(self) -> None:
        if (self.kind is AccountKind.SUB) != (self.parent_id is not None):
            raise InvalidInput(
                "a sub-account needs exactly one parent and a top-level account has none",
                field="parent_id",
                account_id=self.id,
            )
        if self.parent_id == self.id:
            raise InvalidInput("an account cannot be its own parent", field="parent_id")

    @property
    def is_open(self) -> bool:
        return self.status is not AccountStatus.CLOSED

    def _next(self, **changes: object) -> Account:
        return attrs.evolve(self, version=self.version + 1, **changes)  # type: ignore[arg-type]

    def require_open(self) -> None:
        """Raise ``AccountClosed`` when the account is closed."""
        if not self.is_open:
            raise AccountClosed(f"account {quoted(self.id)} is closed", account_id=self.id)

    def renamed(self, name: str) -> Account:
        self.require_open()
        return self._next(name=clean_name(name))

    def with_status(
        self, status: AccountStatus, *, open_children: Iterable[AccountId] = ()
    ) -> Account:
        """Move to ``status`` if the lifecycle allows it.

        Closing is refused while any child is still open (``open_children``): close or
        detach the sub-accounts first, so no sub is left without a payer.
        """
        if not isinstance(status, AccountStatus):
            raise InvalidInput(f"unknown status {quoted(status)}", field="status")
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise ForbiddenTransition(
                f"account {quoted(self.id)} cannot go from {self.status.value} to {status.value}",
                account_id=self.id,
                from_status=self.status.value,
                to_status=status.value,
            )
        if status is AccountStatus.CLOSED:
            still_open = sorted(open_children)
            if still_open:
                raise AccountHasOpenSubs(
                    f"account {quoted(self.id)} still has open sub-accounts {still_open}; "
                    "close or detach them first",
                    account_id=self.id,
                    open_subs=still_open,
                )
        return self._next(status=status)

    def as_sub_of(self, parent_id: AccountId) -> Account:
        self.require_open()
        return self._next(kind=AccountKind.SUB, parent_id=parent_id)

    def as_top_level(self, kind: AccountKind = AccountKind.MASTER) -> Account:
        self.require_open()
        return self._next(kind=kind, parent_id=None)


def new_master(account_id: AccountId, name: str, created_at: datetime) -> Account:
    """A new, active, top-level account."""
    return Account(id=account_id, name=name, kind=AccountKind.MASTER, created_at=created_at)


def can_send(account: Account, ancestors: Iterable[Account]) -> bool:
    """True when the account and every ancestor are active (a paused master stops its subs)."""
    if account.status is not AccountStatus.ACTIVE:
        return False
    return all(a.status is AccountStatus.ACTIVE for a in ancestors)


def require_can_send(account: Account, ancestors: Iterable[Account]) -> None:
    """Raise ``AccountNotActive`` (naming the account that stops it) unless the account and
    every ancestor are active: nothing is sent, reserved or recorded otherwise."""
    for holder in (account, *ancestors):
        if holder.status is not AccountStatus.ACTIVE:
            where = "" if holder.id == account.id else f" (its ancestor {quoted(holder.id)} is)"
            raise AccountNotActive(
                f"account {quoted(account.id)} cannot send: it is not active{where}; "
                f"{quoted(holder.id)} is {holder.status.value}",
                account_id=account.id,
                inactive_account_id=holder.id,
                status=holder.status.value,
            )
