"""Ceilings: the most that is possible at all in an account and everything below it.

Like AWS service control policies, a ceiling grants nothing; it only bounds. Rule:

    effective rights of any principal in account A
        = (rights from roles, API key or impersonation)
          intersected with every ceiling placed on A or on any ancestor of A.

A ceiling is placed on ``account_id`` by the administrators of ``set_by``, a strict
ancestor (``None`` means the host platform itself, the only way to bound a top-level
account). An account may carry one ceiling per ``set_by``, so an intermediate
administrator can narrow a grandchild further but never lift what a higher level placed.

>>> from subacct.policy import Ceiling, SEND_MESSAGES, VIEW_INBOX
>>> c = Ceiling("agency1", "agencydemo", [VIEW_INBOX, SEND_MESSAGES])
>>> c.actions
('inbox.view', 'messages.send')
>>> SEND_MESSAGES in c.allowed
True
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from subacct.domain.ids import AccountId, check_id
from subacct.errors import InvalidInput
from subacct.policy.actions import Action, check_action

__all__ = ["Ceiling"]


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
