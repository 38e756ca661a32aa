"""Which right each change of an account's status needs, and where it is checked.

* ``suspend`` is a platform hold (abuse, non-payment): only the system suspends, and only
  the system lifts a suspension;
* a sub-account is paused, resumed and closed by its parent's administrators
  (``sub_accounts.manage`` in the parent);
* a top-level account's own lifecycle (pausing service, cancelling) goes through the
  platform (seed 001: "contact our Support Team"): only the system changes it.

``status_authority`` returns ``(action, account to check it in)``, or ``None`` when only
the system may make the change.

Seeing an account (its record, its place in the tree, its links) needs standing there:
some right at all in it (``standing``). So a sub-account's users see their own account
and not their siblings (seed 000), and the parent's administrators see every sub.

>>> from datetime import datetime, UTC
>>> from subacct.domain import AccountStatus, HierarchyRules, new_master, plan_new_sub
>>> from subacct.policy.account_rights import status_authority
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> m = new_master("agencydemo", "Agency Demo", t0)
>>> s = plan_new_sub("agency1", "Agency 1", m, [], HierarchyRules(), t0)
>>> status_authority(s, AccountStatus.PAUSED), status_authority(m, AccountStatus.PAUSED)
(('sub_accounts.manage', 'agencydemo'), None)
>>> status_authority(s, AccountStatus.SUSPENDED) is None
True
"""

from __future__ import annotations

from typing import Final

from subacct.domain.accounts import Account, AccountStatus
from subacct.domain.ids import AccountId
from subacct.policy.actions import MANAGE_SUB_ACCOUNTS, Action, Scope
from subacct.policy.decisions import Decision, Principal, Reason
from subacct.policy.index import PolicyIndex

__all__ = ["VIEW_ACCOUNT", "over_all_records", "standing", "status_authority"]

VIEW_ACCOUNT: Final = Action("accounts.view")
"""The name audit records and denials give to seeing an account (not a catalog action:
any right in the account gives it)."""


def standing(index: PolicyIndex, principal: Principal, account_id: AccountId) -> Decision:
    """Allowed when ``principal`` may do anything at all in the account (the decision of
    its first allowed action); otherwise the refusal of the catalog's first action."""
    for action in index.actions_in(principal, account_id):
        return index.check(principal, action, account_id)
    first = next(iter(index.catalog))
    return index.check(principal, first, account_id)


def status_authority(account: Account, target: AccountStatus) -> tuple[Action, AccountId] | None:
    """Who may move ``account`` to ``target`` (see the module docstring)."""
    if target is AccountStatus.SUSPENDED or account.status is AccountStatus.SUSPENDED:
        return None
    if account.parent_id is None:
        return None
    return MANAGE_SUB_ACCOUNTS, account.parent_id


def over_all_records(decision: Decision) -> Decision:
    """``decision`` for data of the account that belongs to no one user (its recorded
    usage, its totals): a right limited to one's own records (``Scope.OWN``, a basic
    user's reports) does not reach it, and is refused as ``NOT_RECORD_OWNER``."""
    if decision.allowed and decision.scope is not Scope.ALL:
        return Decision(False, Reason.NOT_RECORD_OWNER, None, decision.role_id)
    return decision
