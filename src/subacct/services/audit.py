"""``app.audit``: who really acted, as whom, on what, and why the policy said yes or no.

Every command writes an audit record of each decision it rested on: the user (also
behind an API key or an impersonation), the key or session, the action, the account, the
reason code. A refusal by the policy writes the denied decision and nothing else. The
system's own acts are recorded as the system (``principal_kind`` ``system``, the operator
in ``note``).

Reading an account's audit records needs ``settings.manage`` there (its administrators,
and the parent's); the system reads all, and the records of platform-wide operations
(``platform_records``).

>>> import subacct
>>> app, S = subacct.Subacct(subacct.MemoryStore()), subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> _ = app.accounts.create_sub("agencydemo", "Company X", account_id="agency1", by=S)
>>> sorted((r.action, r.principal_kind.value) for r in app.audit.records("agencydemo", by=S))
[('accounts.create_master', 'system'), ('sub_accounts.create', 'system')]
"""

from __future__ import annotations

from subacct.domain import AccountId
from subacct.policy import MANAGE_SETTINGS, Action, AuditRecord
from subacct.principals import Actor
from subacct.services import _args
from subacct.services._kinds import query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import AUDIT_RECORDS

__all__ = ["Audit"]

_PLATFORM = Action("audit.platform_records")


class Audit:
    """Audit records (``app.audit``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    @query
    def records(self, account_id: str, *, by: Actor) -> list[AuditRecord]:
        """The audit records about the account in the order they were written (storage
        numbers them): the last one is the latest, also among records of one clock
        reading."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[AuditRecord]:
            unit.uow.accounts.get(AccountId(where))
            unit.require(MANAGE_SETTINGS, where)
            return unit.uow.records(AUDIT_RECORDS).list_by("account_id", where)

        return self._runner.query(who, work)

    @query
    def platform_records(self, *, by: Actor) -> list[AuditRecord]:
        """The audit records of platform-wide operations, about no one account (creating
        and deleting users, defining roles, platform calls refused to a user), in the
        order they were written; the system only."""
        who = _args.actor(by)

        def work(unit: Unit) -> list[AuditRecord]:
            unit.require_system(_PLATFORM)
            return [r for r in unit.uow.records(AUDIT_RECORDS).all() if r.account_id is None]

        return self._runner.query(who, work)
