"""``app.reports``: usage reports, per account, per label (seed 003) and over a subtree.

Which rows ``by`` sees follows the policy (``subacct.pricing.reports.report_visibility``):
``reports.sub_accounts`` opens the account and its subtree, ``reports.view`` the account,
each with its scope (a basic user sees only their own rows); an export also needs
``reports.export`` (basic users cannot export) and is written to the audit records.

Reports read either the host's own rows (``UsageRow``: a message log with the sending
user) or the usage billing recorded (``usage_by_label``, ``subtree_usage``).

>>> import subacct
>>> from subacct.pricing.reports import Grouping, UsageRow
>>> app, S = subacct.Subacct(subacct.MemoryStore()), subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> rows = [UsageRow("agencydemo", "2026-01", "email", None, None, 9000)]
>>> app.reports.usage_report("agencydemo", rows, Grouping.ACCOUNT, by=S).total
9000
"""

from __future__ import annotations

from collections.abc import Iterable

from subacct.domain import AccountId, Tree
from subacct.policy import (
    EXPORT_REPORTS,
    REPORT_ON_SUB_ACCOUNTS,
    VIEW_REPORTS,
    Action,
    Decision,
    denial_error,
)
from subacct.policy.account_rights import over_all_records
from subacct.pricing import BillingPeriod, ChannelCatalog
from subacct.pricing.reports import (
    Grouping,
    Report,
    UsageRow,
    Visibility,
    build_report,
    report_csv,
    report_visibility,
    visible_rows,
)
from subacct.principals import Actor
from subacct.services import _args
from subacct.services._kinds import query
from subacct.services._runner import Runner, Unit

__all__ = ["Reports"]


def _visibility(unit: Unit, account_id: str, export: Decision | None) -> tuple[Visibility, Tree]:
    """Which rows the principal sees from the account, and the tree they roll up in."""
    account = unit.uow.accounts.get(AccountId(account_id))
    view = unit.decide(VIEW_REPORTS, account.id)
    subs = unit.decide(REPORT_ON_SUB_ACCOUNTS, account.id)
    if not (view.allowed or subs.allowed):
        raise denial_error(unit.principal, VIEW_REPORTS, account.id, view)
    chain = [*reversed(unit.uow.accounts.ancestors(account.id)), account]
    below = unit.uow.accounts.descendants(account.id) if subs.allowed else []
    visibility = report_visibility(unit.user, account.id, view, subs, [a.id for a in below], export)
    return visibility, Tree([*chain, *below])


def _report(
    rows: list[UsageRow], grouping: Grouping, visibility: Visibility, tree: Tree, root: str
) -> Report:
    seen = visible_rows(rows, visibility)
    if grouping is Grouping.SUBTREE:
        return build_report(seen, grouping, tree=tree, root_id=AccountId(root))
    return build_report(seen, grouping)


def _require_all_rows(unit: Unit, action: Action, account_id: AccountId) -> None:
    """Recorded usage has no sending user: it needs ``action`` on all of the account's rows
    (a basic user, who sees only their own rows, is refused)."""
    decision = over_all_records(unit.decide(action, account_id))
    if not decision.allowed:
        raise denial_error(unit.principal, action, account_id, decision)


def _rows(
    rows: Iterable[UsageRow], period: BillingPeriod | None, channels: ChannelCatalog
) -> list[UsageRow]:
    """The rows of ``period`` (all when ``None``); a row on a channel the application's
    catalog does not offer is refused (``UnknownChannel``), as usage on it is."""
    wanted = None if period is None else str(period)
    given = _args.items(rows, "rows", UsageRow)
    for channel in {r.channel for r in given}:
        channels.require(channel)
    return [r for r in given if wanted is None or r.period == wanted]


class Reports:
    """Usage reports (``app.reports``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    @query
    def usage_report(
        self,
        account_id: str,
        rows: Iterable[UsageRow],
        grouping: Grouping,
        *,
        by: Actor,
        period: BillingPeriod | str | None = None,
    ) -> Report:
        """A report over the host's usage ``rows`` (optionally of one ``period``), keeping
        only the rows ``by`` may see from the account; ``ActionDenied`` if none."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        how = _args.choice(grouping, Grouping, "grouping")
        wanted = _rows(rows, _args.optional_period(period), self._runner.settings.channels)

        def work(unit: Unit) -> Report:
            visibility, tree = _visibility(unit, where, None)
            return _report(wanted, how, visibility, tree, where)

        return self._runner.query(who, work)

    @query
    def export_csv(
        self,
        account_id: str,
        rows: Iterable[UsageRow],
        grouping: Grouping,
        *,
        by: Actor,
        period: BillingPeriod | str | None = None,
    ) -> str:
        """``usage_report`` as CSV text; also needs ``reports.export`` in the account. The
        export is written to the audit records."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        how = _args.choice(grouping, Grouping, "grouping")
        wanted = _rows(rows, _args.optional_period(period), self._runner.settings.channels)

        def work(unit: Unit) -> str:
            unit.uow.accounts.get(AccountId(where))
            decision = unit.require(EXPORT_REPORTS, where)
            visibility, tree = _visibility(unit, where, decision)
            return report_csv(_report(wanted, how, visibility, tree, where))

        return self._runner.command(who, work)

    @query
    def usage_by_label(
        self, account_id: str, period: BillingPeriod | str, *, by: Actor
    ) -> dict[str | None, int]:
        """The account's recorded volume per label (seed 003: labels for analysis inside a
        sub-account; ``None``: unlabelled), with ``reports.view`` on all its rows."""
        who, where, when = (
            _args.actor(by),
            _args.ident(account_id, "account_id"),
            _args.period(period),
        )

        def work(unit: Unit) -> dict[str | None, int]:
            unit.uow.accounts.get(AccountId(where))
            _require_all_rows(unit, VIEW_REPORTS, AccountId(where))
            out: dict[str | None, int] = {}
            for record in unit.uow.usage.for_account(AccountId(where)):
                if record.period == when:
                    out[record.label] = out.get(record.label, 0) + record.quantity
            return dict(sorted(out.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")))

        return self._runner.query(who, work)

    @query
    def subtree_usage(self, account_id: str, period: BillingPeriod | str, *, by: Actor) -> int:
        """The recorded volume of the account and everything below it in ``period``
        (``reports.sub_accounts`` there, on all rows)."""
        who, where, when = (
            _args.actor(by),
            _args.ident(account_id, "account_id"),
            _args.period(period),
        )

        def work(unit: Unit) -> int:
            account = unit.uow.accounts.get(AccountId(where))
            _require_all_rows(unit, REPORT_ON_SUB_ACCOUNTS, account.id)
            accounts = [account, *unit.uow.accounts.descendants(account.id)]
            return sum(unit.uow.usage.totals(when, [a.id for a in accounts]).values())

        return self._runner.query(who, work)
