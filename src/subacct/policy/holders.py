"""Who can do an action in an account: every principal holding it there, and why.

``who_can(index, action, account_id, keys=..., sessions=...)`` lists the users, API keys
and impersonation sessions that ``index.check`` allows to do ``action`` in the account,
each as a ``Holder`` carrying the engine's own ``Decision`` (the reason code, the record
scope, the role and the account it is held in). Nothing here decides anything: the users
are the index's ``candidates`` (members of the account and of its ancestors, the only
ones ``check`` can allow there) and every candidate, key and session is put to ``check``,
so the answer agrees with the engine by construction (``tests/unit/policy/test_who_can.py``
holds it to ``check`` for every principal of random worlds). It costs O(depth +
candidates), never a look at every user of the platform.

API keys and sessions are not in the index: pass those of the account as loaded (revoked
keys and ended sessions are refused by ``check`` and left out). The index has no clock:
give ``at`` to leave out keys and sessions that have expired by then. The system (trusted host code)
may do everything everywhere and is never listed.

>>> from datetime import datetime, UTC
>>> from subacct.domain import Account, AccountKind, Membership
>>> from subacct.policy import PolicyIndex, VIEW_BILLING, who_can
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> index = PolicyIndex.build(
...     [Account("agencydemo", "Agency Demo", AccountKind.MASTER, t0),
...      Account("agency1", "Company X", AccountKind.SUB, t0, "agencydemo")],
...     [Membership("pam", "agencydemo", "parent_admin", t0),
...      Membership("sam", "agency1", "sub_admin", t0)])
>>> [(h.id, h.code, h.role_id, h.granted_in) for h in who_can(index, VIEW_BILLING, "agency1")]
[('pam', 'allowed_by_inherited_role', 'parent_admin', 'agencydemo')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final

import attrs

from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.errors import AccountNotFound, InvalidInput, quoted
from subacct.policy.actions import Action, Scope
from subacct.policy.api_keys import ApiKey
from subacct.policy.decisions import (
    Decision,
    Principal,
    PrincipalKind,
    Reason,
    acting_user_id,
    explain,
    principal_label,
)
from subacct.policy.impersonation import ImpersonationSession
from subacct.policy.index import PolicyIndex

__all__ = ["Holder", "who_can"]

_ORDER: Final[Mapping[PrincipalKind, int]] = MappingProxyType(
    {PrincipalKind.USER: 0, PrincipalKind.API_KEY: 1, PrincipalKind.IMPERSONATION: 2}
)


@attrs.frozen
class Holder:
    """A principal that may do ``action`` in ``account_id``, with the engine's decision.

    ``kind`` and ``id`` name the principal (``principal_label``). ``decision`` is what
    ``check`` answered: ``code`` (``allowed_by_role``, ``allowed_by_inherited_role``,
    ``allowed_by_api_key``, ``allowed_by_impersonation``), ``scope`` (``Scope.OWN``: only
    the acting user's records), ``role_id`` and ``granted_in``: the account where that
    role is held (the account itself, or the administering ancestor; for a session, the
    assumed role and the ancestor the real user administers; for a key, neither: its
    grants decide, within its creator's rights for a personal key).
    """

    principal: Principal
    action: Action
    account_id: AccountId
    decision: Decision

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.principal, str | ApiKey | ImpersonationSession):
            raise InvalidInput(
                "principal must be a UserId, an ApiKey or an ImpersonationSession, not "
                f"{quoted(self.principal)}",
                field="principal",
            )
        if not isinstance(self.decision, Decision) or not self.decision.allowed:
            raise InvalidInput("a holder's decision is an allowing Decision", field="decision")

    @property
    def kind(self) -> PrincipalKind:
        return principal_label(self.principal)[0]

    @property
    def id(self) -> str:
        """The user id, API key id or impersonation session id."""
        return principal_label(self.principal)[1]

    @property
    def acting_user_id(self) -> UserId:
        """The person behind it: the user, a key's creator, a session's real user."""
        return acting_user_id(self.principal)

    @property
    def reason(self) -> Reason:
        return self.decision.reason

    @property
    def code(self) -> str:
        """The decision's stable reason code."""
        return self.decision.code

    @property
    def scope(self) -> Scope:
        scope = self.decision.scope
        assert scope is not None  # an allowing decision has one
        return scope

    @property
    def role_id(self) -> RoleId | None:
        return self.decision.role_id

    @property
    def granted_in(self) -> AccountId | None:
        """The account where ``role_id`` is held (``None`` for an API key)."""
        if self.decision.role_id is None:
            return None
        return self.decision.inherited_from or self.account_id

    def explain(self) -> str:
        """One sentence, as ``subacct.policy.explain`` says it."""
        return explain(self.principal, self.action, self.account_id, self.decision)

    def sort_key(self) -> tuple[int, str]:
        """Users first, then API keys, then sessions; each kind in id order."""
        kind, principal_id = principal_label(self.principal)
        return _ORDER[kind], principal_id


def who_can(
    index: PolicyIndex,
    action: Action,
    account_id: AccountId,
    *,
    keys: Iterable[ApiKey] = (),
    sessions: Iterable[ImpersonationSession] = (),
    at: datetime | None = None,
) -> list[Holder]:
    """Every principal allowed to do ``action`` in the account (see the module docstring),
    in ``Holder.sort_key`` order. ``InvalidInput`` for an action outside the catalog,
    ``AccountNotFound`` for an account the index does not know."""
    if action not in index.catalog:
        raise InvalidInput(f"action {quoted(action)} is not in the catalog", field="action")
    if account_id not in index:
        raise AccountNotFound(account_id)
    check = index.check
    out = [
        Holder(user, action, account_id, d)
        for user in index.candidates(account_id)  # in id order
        if (d := check(user, action, account_id)).allowed
    ]
    live: dict[str, ApiKey] = {k.id: k for k in keys if at is None or not k.expired(at)}
    acting: dict[str, ImpersonationSession] = {
        s.id: s for s in sessions if at is None or not s.expired(at)
    }
    others: list[Principal] = [live[i] for i in sorted(live)]
    others += [acting[i] for i in sorted(acting)]
    for principal in others:  # keys, then sessions, each in id order
        decision = check(principal, action, account_id)
        if decision.allowed:
            out.append(Holder(principal, action, account_id, decision))
    return out
