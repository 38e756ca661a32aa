"""Permission checks for ledger operations, decided by the caller's policy engine.

The ledger does not know users or roles. Every operation calls an ``Authorizer`` with a
``LedgerAction`` and the account it acts on, once it has found the wallet or reservation the
request names and before it answers a replay or moves anything; the authorizer raises
``PermissionDenied`` to refuse. Which account is checked:

* top-up, spend, reserve, commit, release, refund: the account whose credit moves (the
  reservation's account for commit and release);
* expire: each expiring reservation's account (a sweep names no account up front, so a
  replayed sweep is answered without a check);
* distribute, reclaim, set allocation, reset period: the sub's master (it is the master's
  credit that moves), so a sub administrator cannot hand credit to their own sub;
* configuring a wallet: its master if it has one, else the account itself;
* granting credit: the account granted to (a paid grant as a top-up, ``credits.top_up``;
  a promotional one ``credits.grant``, which ``app.credits`` leaves to the system);
  expiring a grant: the account whose wallet holds it (``credits.expire``).

Wiring to the policy engine (``subacct.policy``): ``POLICY_ACTIONS`` maps each ledger
action to the engine's catalog (top-up, distribute and reclaim need ``credits.top_up``;
allocations, refunds and wallet settings need ``billing.manage``; spending needs
``messages.send``), so in seed 004's default roles only the parent administrator moves
credit. Bind the acting principal::

    authorize = policy_authorizer(functools.partial(index.require, principal))

A refusal is then the engine's own typed denial (``ActionDenied``, a ``PermissionDenied``).
``authorizer_from`` adapts any other yes/no check.

Nothing is allowed by default: a ledger is built with an explicit authorizer, and
``allow_all`` is the explicit opt-out for trusted callers (tests, system jobs).

>>> from subacct.pricing.ledger import LedgerAction, authorizer_from
>>> only_topups = authorizer_from(lambda action, account: action == "credits.top_up")
>>> only_topups(LedgerAction.TOP_UP, "agency1") is None
True
>>> only_topups(LedgerAction.DISTRIBUTE, "agencydemo")
Traceback (most recent call last):
  ...
subacct.errors.PermissionDenied: not allowed to credits.distribute on account 'agencydemo'
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Protocol

from subacct.domain.ids import AccountId
from subacct.errors import PermissionDenied, quoted
from subacct.policy.actions import MANAGE_BILLING, SEND_MESSAGES, TOP_UP_CREDITS

__all__ = [
    "POLICY_ACTIONS",
    "Authorizer",
    "LedgerAction",
    "allow_all",
    "authorizer_from",
    "policy_authorizer",
]


class LedgerAction(enum.Enum):
    """What an operation asks permission for. Values are the default action names."""

    TOP_UP = "credits.top_up"
    DISTRIBUTE = "credits.distribute"
    RECLAIM = "credits.reclaim"
    ALLOCATE = "credits.allocate"
    SPEND = "credits.spend"
    REFUND = "credits.refund"
    EXPIRE = "credits.expire"
    MANAGE_WALLET = "credits.manage_wallet"
    GRANT = "credits.grant"


POLICY_ACTIONS: Final[Mapping[LedgerAction, str]] = MappingProxyType(
    {
        LedgerAction.TOP_UP: TOP_UP_CREDITS,
        LedgerAction.DISTRIBUTE: TOP_UP_CREDITS,
        LedgerAction.RECLAIM: TOP_UP_CREDITS,
        LedgerAction.ALLOCATE: MANAGE_BILLING,
        LedgerAction.REFUND: MANAGE_BILLING,
        LedgerAction.MANAGE_WALLET: MANAGE_BILLING,
        LedgerAction.SPEND: SEND_MESSAGES,
        LedgerAction.EXPIRE: SEND_MESSAGES,
        LedgerAction.GRANT: MANAGE_BILLING,
    }
)
"""Ledger actions -> the ``subacct.policy`` catalog's action names."""


class Authorizer(Protocol):
    """Returns ``None`` to allow; raises ``PermissionDenied`` to refuse."""

    def __call__(self, action: LedgerAction, account_id: AccountId, /) -> None: ...


def allow_all(action: LedgerAction, account_id: AccountId, /) -> None:
    """Allow everything. Pass it explicitly, only where the caller already checked."""


def authorizer_from(
    is_allowed: Callable[[str, AccountId], bool],
    names: Mapping[LedgerAction, str] | None = None,
) -> Authorizer:
    """An ``Authorizer`` over a yes/no check that takes an action name and an account id.

    ``names`` maps ledger actions to the policy engine's action names (default: the
    ``LedgerAction`` values). A ledger action missing from ``names`` is refused.
    """
    mapping = {a: a.value for a in LedgerAction} if names is None else dict(names)

    def authorize(action: LedgerAction, account_id: AccountId, /) -> None:
        name = mapping.get(action)
        if name is None or not is_allowed(name, account_id):
            shown = action.value if name is None else name
            raise PermissionDenied(
                f"not allowed to {shown} on account {quoted(account_id)}",
                action=shown,
                account_id=account_id,
            )

    return authorize


def policy_authorizer(
    require: Callable[[Any, AccountId], object],
    names: Mapping[LedgerAction, str] = POLICY_ACTIONS,
) -> Authorizer:
    """An ``Authorizer`` over a check that raises on refusal, such as
    ``functools.partial(policy_index.require, principal)``; its return value is ignored."""
    mapping = dict(names)

    def authorize(action: LedgerAction, account_id: AccountId, /) -> None:
        name = mapping.get(action)
        if name is None:
            raise PermissionDenied(
                f"no policy action is mapped for {action.value}",
                action=action.value,
                account_id=account_id,
            )
        require(name, account_id)

    return authorize
