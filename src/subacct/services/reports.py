"""``app.reports``: usage reports, per account, per label (seed 003) and over a subtree.

Which rows ``by`` sees follows the policy (``subacct.pricing.reports.report_visibility``):
``reports.sub_accounts`` opens the account and its subtree, ``reports.view`` the account,
each with its scope (a basic user sees only their own rows); an export also needs
``reports.export`` (basic users cannot export) and is written to the audit records.

Reports read the usage the library stored (``usage``, ``export_usage_csv``,
``usage_by_label``, ``subtree_usage``: each record names the user who sent, and lines
are priced at their share of the payer's invoice, ``subacct.pricing.usage_reports``) or
the host's own rows (``usage_report``, ``export_csv``: ``UsageRow``, quantities only).

>>> import subacct
>>> from subacct.pricing.reports import Grouping, UsageRow
>>> app, S = subacct.Subacct(subacct.MemoryStore()), subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> rows = [UsageRow("agencydemo", "2026-01", "email", None, None, 9000)]
>>> app.reports.usage_report("agencydemo", rows, Grouping.ACCOUNT, by=S).total
9000
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from subacct.domain import AccountId, Tree
from subacct.errors import InvalidInput
from subacct.policy import (
    EXPORT_REPORTS,
    REPORT_ON_SUB_ACCOUNTS,
    VIEW_REPORTS,
    Decision,
    denial_error,
)
from subacct.pricing import BillingPeriod, ChannelCatalog, Rounding
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
from subacct.pricing.usage import UsageGroup
from subacct.pricing.usage_reports import UsageReport, usage_report, usage_report_csv
from subacct.principals import Actor
from subacct.services import _args
from subacct.services._kinds import query
from subacct.services._runner import Runner, Unit
from subacct.services._usage_costs import priced_usage

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


def _stored_args(
    account_id: object, period: object, grouping: object, rounding: object
) -> tuple[str, BillingPeriod, Grouping, Rounding | None]:
    """The checked arguments of a report of stored usage."""
    where, when = _args.ident(account_id, "account_id"), _args.period(period)
    how = _args.choice(grouping, Grouping, "grouping")
    if how is Grouping.SUBTREE:
        raise InvalidInput(
            "a report of stored usage groups by Grouping.ACCOUNT or Grouping.LABEL (each "
            "account of the subtree has its own lines; subtree_usage sums them)",
            field="grouping",
        )
    return where, when, how, _args.optional_of(rounding, Rounding, "rounding")


def _visible(
    unit: Unit, visibility: Visibility, accounts: Sequence[AccountId], period: BillingPeriod
) -> dict[UsageGroup, int]:
    """The stored usage groups of ``accounts`` in ``period`` that ``visibility`` sees."""
    groups = unit.uow.usage.report_totals(period, accounts)
    return {g: n for g, n in groups.items() if visibility.sees(g[0], g[2])}


def _stored_report(
    unit: Unit,
    visibility: Visibility,
    tree: Tree,
    period: BillingPeriod,
    grouping: Grouping,
    rounding: Rounding | None,
) -> UsageReport:
    """The priced report of what ``visibility`` sees: costs come from every group of the
    visible accounts, so a row costs the same whoever looks at it."""
    accounts = sorted(visibility.all_rows | visibility.own_rows)
    groups, costs = priced_usage(unit, accounts, tree, period, rounding)
    seen = {g: n for g, n in groups.items() if visibility.sees(g[0], g[2])}
    return usage_report(period, seen, costs, grouping)


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
    def usage(
        self,
        account_id: str,
        period: BillingPeriod | str,
        grouping: Grouping = Grouping.ACCOUNT,
        *,
        by: Actor,
        rounding: Rounding | None = None,
    ) -> UsageReport:
        """The usage the library stored for the account (and, with ``reports.sub_accounts``,
        its subtree) in ``period``, as ``by`` may see it: per account and channel (and
        label, ``Grouping.LABEL``), each line priced at its share of its payer's invoice
        (``subacct.pricing.usage_reports``; ``rounding``: the invoices', default minor
        units). ``ActionDenied`` when ``by`` may see nothing of the account."""
        who = _args.actor(by)
        where, when, how, rounded = _stored_args(account_id, period, grouping, rounding)

        def work(unit: Unit) -> UsageReport:
            visibility, tree = _visibility(unit, where, None)
            return _stored_report(unit, visibility, tree, when, how, rounded)

        return self._runner.query(who, work)

    @query
    def export_usage_csv(
        self,
        account_id: str,
        period: BillingPeriod | str,
        grouping: Grouping = Grouping.ACCOUNT,
        *,
        by: Actor,
        rounding: Rounding | None = None,
    ) -> str:
        """``usage`` as CSV text (``usage_report_csv``); also needs ``reports.export`` in
        the account (basic users cannot export). The export is written to the audit
        records."""
        who = _args.actor(by)
        where, when, how, rounded = _stored_args(account_id, period, grouping, rounding)

        def work(unit: Unit) -> str:
            unit.uow.accounts.get(AccountId(where))
            decision = unit.require(EXPORT_REPORTS, where)
            visibility, tree = _visibility(unit, where, decision)
            return usage_report_csv(_stored_report(unit, visibility, tree, when, how, rounded))

        return self._runner.command(who, work)

    @query
    def usage_by_label(
        self, account_id: str, period: BillingPeriod | str, *, by: Actor
    ) -> dict[str | None, int]:
        """The account's stored volume per label (seed 003: labels for analysis inside a
        sub-account; ``None``: unlabelled) that ``by`` may see (a basic user: their own
        sends)."""
        who, where, when = (
            _args.actor(by),
            _args.ident(account_id, "account_id"),
            _args.period(period),
        )

        def work(unit: Unit) -> dict[str | None, int]:
            visibility, _ = _visibility(unit, where, None)
            out: dict[str | None, int] = {}
            for group, n in _visible(unit, visibility, [AccountId(where)], when).items():
                out[group[1]] = out.get(group[1], 0) + n
            return dict(sorted(out.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")))

        return self._runner.query(who, work)

    @query
    def subtree_usage(self, account_id: str, period: BillingPeriod | str, *, by: Actor) -> int:
        """The stored volume of the account and everything below it in ``period`` that
        ``by`` may see (``reports.sub_accounts`` there, with its scope)."""
        who, where, when = (
            _args.actor(by),
            _args.ident(account_id, "account_id"),
            _args.period(period),
        )

        def work(unit: Unit) -> int:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require(REPORT_ON_SUB_ACCOUNTS, account.id)
            visibility, tree = _visibility(unit, where, None)
            accounts = [account.id, *tree.descendants(account.id)]
            return sum(_visible(unit, visibility, accounts, when).values())

        return self._runner.query(who, work)
