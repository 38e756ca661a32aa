"""Ceilings: the most that is possible at all in an account and everything below it.

Like AWS service control policies, a ceiling grants nothing; it only bounds. Rule:

    effective rights of any principal in account A
        = (rights from roles, API key or impersonation)
          intersected with every ceiling placed on A or on any ancestor of A.

A ceiling is placed on ``account_id`` by the administrators of ``set_by``, a strict
ancestor (``None`` means the host platform itself, the only way to bound a top-level
account). An account may carry one ceiling per ``set_by``, so an intermediate
administrator can narrow a grandchild further but never lift what a higher level placed.

A ceiling binds only while ``set_by`` is still above the account (``binds``): after a
move, attach or detach, a ceiling whose ``set_by`` is no longer a strict ancestor of its
account is dropped (``stranded``: the service deletes it with a ``ceiling_removed`` event,
reason ``set_by_not_an_ancestor``; a ``PolicyIndex`` ignores one it is given), while the
ceilings placed by ancestors that remain above, and platform ceilings, stay. The old
parent's administrators no longer have any say over the account; the new ancestors'
ceilings bound it through the path as for every account below them.

>>> from subacct.policy import Ceiling, SEND_MESSAGES, VIEW_INBOX
>>> c = Ceiling("agency1", "agencydemo", [VIEW_INBOX, SEND_MESSAGES])
>>> c.actions
('inbox.view', 'messages.send')
>>> SEND_MESSAGES in c.allowed
True
>>> binds(c, ["agencydemo"]), binds(c, ["othermaster"])  # after a move under othermaster
(True, False)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Final

import attrs

from subacct.domain.ids import AccountId, check_id
from subacct.errors import InvalidInput
from subacct.policy.actions import Action, check_action

__all__ = ["STRANDED", "Ceiling", "binds", "stranded"]

STRANDED: Final = "set_by_not_an_ancestor"
"""The ``reason`` of the ``ceiling_removed`` event of a ceiling dropped by a move."""


def _account(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _set_by(value: object) -> AccountId | None:
    return None if value is None else AccountId(check_id(value, field="set_by"))


def _actions(value: object) -> tuple[Action, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("ceiling actions must be a list of action names", field="actions")
    return tuple(sorted({check_action(a) for a in value}))


@attrs.frozen
class Ceiling:
    """At most ``actions`` are possible in ``account_id`` and all its descendants."""

    account_id: AccountId = attrs.field(converter=_account)
    set_by: AccountId | None = attrs.field(converter=_set_by)
    actions: tuple[Action, ...] = attrs.field(converter=_actions)
    allowed: frozenset[Action] = attrs.field(init=False, eq=False, repr=False, hash=False)

    @allowed.default
    def _allowed(self) -> frozenset[Action]:
        return frozenset(self.actions)

    def __attrs_post_init__(self) -> None:
        if self.set_by == self.account_id:
            raise InvalidInput(
                "a ceiling is placed from a strict ancestor, not by the account on itself",
                field="set_by",
                account_id=self.account_id,
            )


def binds(ceiling: Ceiling, ancestors: Collection[AccountId]) -> bool:
    """Whether ``ceiling`` bounds its account, whose strict ancestors are ``ancestors``: a
    platform ceiling (``set_by=None``) always; one placed by an account only while that
    account is one of the ancestors."""
    return ceiling.set_by is None or ceiling.set_by in ancestors


def stranded(
    ceilings: Iterable[Ceiling], ancestors: Mapping[AccountId, Collection[AccountId]]
) -> list[Ceiling]:
    """The ceilings among ``ceilings`` that no longer bind once each account of
    ``ancestors`` has those strict ancestors (after a move: what to drop). Ceilings on
    accounts ``ancestors`` does not name are left out.

    >>> from subacct.policy import SEND_MESSAGES
    >>> old = Ceiling("a", "m", [SEND_MESSAGES])
    >>> kept = Ceiling("b", "a", [SEND_MESSAGES])
    >>> stranded([old, kept], {"a": ("n",), "b": ("a", "n")}) == [old]
    True
    """
    return [
        c for c in ceilings if c.account_id in ancestors and not binds(c, ancestors[c.account_id])
    ]
