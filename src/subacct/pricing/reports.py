"""Usage reports: per account, per label (seed 003) and rolled up over a subtree, per period.

Pure functions over ``UsageRow`` values the host loads. The order of work is always:

1. ``visible_rows(rows, visibility)`` keeps what the viewer may see. The ``Visibility``
   comes from the policy engine's decisions through ``report_visibility``: a sub's users
   see their own account, the parent's administrators every sub ("report on
   sub-accounts", seed 004), and a basic user only the rows they own (scope ``OWN``);
2. ``build_report(rows, grouping, ...)`` groups them;
3. ``report_csv(report)`` renders the download. **The caller checks the export right**
   (``reports.export``; basic users cannot export) before calling it.

Quantities are exact integers. A report's ``total`` always equals the sum of the rows it
was built from; hidden rows are filtered out first, so a roll-up never leaks them.

>>> from subacct.pricing.reports import Grouping, UsageRow, build_report, report_csv
>>> rows = [UsageRow("agency1", "2026-01", "email", None, None, 5300),
...         UsageRow("agency2", "2026-01", "email", None, None, 1700)]
>>> report = build_report(rows, Grouping.ACCOUNT)
>>> report.total
7000
>>> print(report_csv(report), end="")
period,account_id,channel,quantity
2026-01,agency1,email,5300
2026-01,agency2,email,1700
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import clean_name
from subacct.domain.hierarchy import Tree
from subacct.domain.ids import AccountId, UserId, check_id
from subacct.errors import InvalidInput, quoted
from subacct.policy.actions import Scope
from subacct.policy.decisions import Decision
from subacct.pricing.channels import Channel

__all__ = [
    "Grouping",
    "Report",
    "ReportLine",
    "RowScope",
    "UsageRow",
    "Visibility",
    "build_report",
    "csv_text",
    "report_csv",
    "report_visibility",
    "visible_rows",
]

_PERIOD: Final = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _account(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _owner(value: object) -> UserId | None:
    return None if value is None else UserId(check_id(value, field="owner_id"))


def _root(value: object) -> AccountId | None:
    return None if value is None else AccountId(check_id(value, field="root_id"))


def _period(value: object) -> str:
    if not isinstance(value, str) or _PERIOD.fullmatch(value) is None:
        raise InvalidInput(
            f"period must look like 'YYYY-MM' (str(BillingPeriod)), got {quoted(value)}",
            field="period",
        )
    return value


def _label(value: object) -> str | None:
    return None if value is None else clean_name(value, field="label")


def _quantity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"quantity must be a whole number >= 0, got {quoted(value)}", field="quantity"
        )
    return value


@attrs.frozen
class UsageRow:
    """``quantity`` messages sent by ``account_id`` on ``channel`` in ``period``.

    ``label`` is the sender's optional tag (seed 003); ``owner_id`` the user who sent (``None``
    for sends by the system or an API key: those are never a basic user's own rows).
    """

    account_id: AccountId = attrs.field(converter=_account)
    period: str = attrs.field(converter=_period)
    channel: Channel = attrs.field(converter=Channel)
    label: str | None = attrs.field(converter=_label)
    owner_id: UserId | None = attrs.field(converter=_owner)
    quantity: int = attrs.field(converter=_quantity)


class RowScope(enum.Enum):
    """Which rows of a visible account the viewer sees (same values as the policy ``Scope``)."""

    ALL = "all"
    OWN = "own"


def _accounts(value: object) -> frozenset[AccountId]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("expected a collection of account ids", field="accounts")
    return frozenset(_account(v) for v in value)


@attrs.frozen
class Visibility:
    """What one viewer may see: every row of ``all_rows`` accounts, and in ``own_rows``
    accounts only the rows whose ``owner_id`` is ``viewer_id``.

    >>> v = Visibility.of(["agency1"], RowScope.OWN, "bob")
    >>> v.allows(UsageRow("agency1", "2026-01", "sms", None, "bob", 3))
    True
    >>> v.allows(UsageRow("agency1", "2026-01", "sms", None, "ann", 3))
    False
    """

    viewer_id: UserId | None = attrs.field(converter=_owner)
    all_rows: frozenset[AccountId] = attrs.field(converter=_accounts)
    own_rows: frozenset[AccountId] = attrs.field(default=frozenset(), converter=_accounts)

    def __attrs_post_init__(self) -> None:
        if self.own_rows and self.viewer_id is None:
            raise InvalidInput("own-rows visibility needs the viewer's user id", field="viewer_id")
        both = sorted(self.all_rows & self.own_rows)
        if both:
            raise InvalidInput(f"accounts {both} are listed with both scopes", field="own_rows")

    @classmethod
    def of(
        cls, accounts: Iterable[AccountId], scope: RowScope, viewer_id: UserId | None
    ) -> Visibility:
        """One scope for every visible account."""
        if not isinstance(scope, RowScope):
            raise InvalidInput(f"unknown scope {quoted(scope)}", field="scope")
        ids = list(accounts)
        if scope is RowScope.ALL:
            return cls(viewer_id, ids)
        return cls(viewer_id, [], ids)

    def allows(self, row: UsageRow) -> bool:
        return self.sees(row.account_id, row.owner_id)

    def sees(self, account_id: str, owner_id: str | None) -> bool:
        """Whether a row of ``account_id`` sent by ``owner_id`` is visible (a row with no
        owner, sent by the system or an API key, is never a viewer's own)."""
        if account_id in self.all_rows:
            return True
        return account_id in self.own_rows and owner_id is not None and owner_id == self.viewer_id


def report_visibility(
    viewer_id: UserId | None,
    account_id: AccountId,
    view: Decision,
    subs: Decision,
    below: Iterable[AccountId],
    export: Decision | None = None,
) -> Visibility:
    """What a viewer sees of the account's usage, from the policy's decisions there.

    ``view`` is the decision on ``reports.view`` and ``subs`` on ``reports.sub_accounts``
    in the account; ``below`` its descendants. ``reports.sub_accounts`` opens the subtree,
    ``reports.view`` the account, each with its scope (``own``: the viewer's rows only);
    an ``export`` decision with scope ``own`` narrows everything to own rows. The caller
    refuses when neither decision allows (``InvalidInput`` here: there is nothing to see).

    >>> from subacct.policy import Decision, Reason, Scope
    >>> yes = Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL)
    >>> no = Decision(False, Reason.ROLE_LACKS_ACTION)
    >>> v = report_visibility("sam", "agency1", yes, no, ["ignored"])
    >>> sorted(v.all_rows), sorted(v.own_rows)
    (['agency1'], [])
    """
    if not (view.allowed or subs.allowed):
        raise InvalidInput("neither decision allows a report", field="view")
    scopes = {d.scope for d in (view, subs) if d.allowed}
    placed: dict[AccountId, Scope] = {account_id: Scope.ALL if Scope.ALL in scopes else Scope.OWN}
    if subs.allowed:
        placed.update((a, subs.scope or Scope.OWN) for a in below)
    if export is not None and export.scope is Scope.OWN:
        placed = dict.fromkeys(placed, Scope.OWN)
    return Visibility(
        viewer_id,
        [a for a, s in placed.items() if s is Scope.ALL],
        [a for a, s in placed.items() if s is Scope.OWN],
    )


def visible_rows(rows: Iterable[UsageRow], visibility: Visibility) -> list[UsageRow]:
    """The rows ``visibility`` allows, in their original order."""
    return [row for row in rows if visibility.allows(row)]


class Grouping(enum.Enum):
    """How a report groups rows. Every line is also split by period and channel.

    ``ACCOUNT``: one line per account. ``LABEL``: one line per account and label (``None``
    for unlabelled sends). ``SUBTREE``: one line per account of a subtree carrying that
    account's usage **plus everything below it**, so lines nest and the root's lines hold
    the total.
    """

    ACCOUNT = "account"
    LABEL = "label"
    SUBTREE = "subtree"


@attrs.frozen
class ReportLine:
    period: str = attrs.field(converter=_period)
    account_id: AccountId = attrs.field(converter=_account)
    channel: Channel = attrs.field(converter=Channel)
    label: str | None = attrs.field(converter=_label)
    quantity: int = attrs.field(converter=_quantity)


def _lines(value: object) -> tuple[ReportLine, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(x, ReportLine) for x in value):
        raise InvalidInput("lines must be a list of ReportLine", field="lines")
    return tuple(value)


@attrs.frozen
class Report:
    """Grouped usage. ``total`` is the sum of the rows the report was built from.

    ``root_id`` is the subtree root of a ``SUBTREE`` report (``None`` otherwise).
    """

    grouping: Grouping = attrs.field(validator=instance_of(Grouping))
    lines: tuple[ReportLine, ...] = attrs.field(converter=_lines)
    total: int = attrs.field(converter=_quantity)
    root_id: AccountId | None = attrs.field(default=None, converter=_root)

    def __attrs_post_init__(self) -> None:
        if (self.grouping is Grouping.SUBTREE) != (self.root_id is not None):
            raise InvalidInput("a subtree report, and only it, names its root", field="root_id")
        if self.grouping is not Grouping.LABEL and any(x.label for x in self.lines):
            raise InvalidInput("only a label report has labels", field="lines")
        if self.total != sum(x.quantity for x in self._counted()):
            raise InvalidInput("total must equal the sum of the report's rows", field="total")

    def _counted(self) -> list[ReportLine]:
        if self.grouping is Grouping.SUBTREE:
            return [x for x in self.lines if x.account_id == self.root_id]
        return list(self.lines)

    def periods(self) -> list[str]:
        return sorted({x.period for x in self.lines})

    def total_for(self, period: str) -> int:
        """The report's total within one period."""
        return sum(x.quantity for x in self._counted() if x.period == period)


def _label_key(label: str | None) -> tuple[bool, str]:
    return (label is not None, label or "")


def _grouped(rows: Iterable[UsageRow], by_label: bool) -> list[ReportLine]:
    sums: dict[tuple[str, AccountId, str, str | None], int] = {}
    for row in rows:
        key = (row.period, row.account_id, row.channel, row.label if by_label else None)
        sums[key] = sums.get(key, 0) + row.quantity
    ordered = sorted(sums, key=lambda k: (k[0], k[1], k[2], _label_key(k[3])))
    return [ReportLine(p, a, c, lbl, sums[(p, a, c, lbl)]) for p, a, c, lbl in ordered]


def _rolled_up(
    rows: Iterable[UsageRow], tree: Tree, root: AccountId
) -> tuple[list[ReportLine], int]:
    order = {account: i for i, account in enumerate([root, *tree.descendants(root)])}
    chains: dict[AccountId, list[AccountId]] = {}
    sums: dict[tuple[str, AccountId, str], int] = {}
    total = 0
    for row in rows:
        if row.account_id not in order:
            continue  # outside the subtree (or unknown to the tree): not part of this report
        chain = chains.get(row.account_id)
        if chain is None:
            path = tree.path(row.account_id)
            chain = chains[row.account_id] = path[path.index(root) :]
        total += row.quantity
        for account in chain:
            key = (row.period, account, row.channel)
            sums[key] = sums.get(key, 0) + row.quantity
    ordered = sorted(sums, key=lambda k: (k[0], order[k[1]], k[2]))
    return [ReportLine(p, a, c, None, sums[(p, a, c)]) for p, a, c in ordered], total


def build_report(
    rows: Iterable[UsageRow],
    grouping: Grouping,
    *,
    tree: Tree | None = None,
    root_id: AccountId | None = None,
) -> Report:
    """Group ``rows`` (already filtered by ``visible_rows``) into a report.

    ``SUBTREE`` needs the ``tree`` and the ``root_id``; rows of accounts outside that
    subtree are left out (the total covers the subtree only), and the roll-up follows the
    tree as it is now. Lines are ordered by period, then account (id order; tree order,
    root first, for ``SUBTREE``), then channel and label.
    """
    if grouping is Grouping.SUBTREE:
        if tree is None or root_id is None:
            raise InvalidInput("a subtree report needs the tree and its root", field="root_id")
        tree.get(root_id)
        lines, total = _rolled_up(rows, tree, root_id)
        return Report(grouping, lines, total, root_id)
    if not isinstance(grouping, Grouping):
        raise InvalidInput(f"unknown grouping {quoted(grouping)}", field="grouping")
    if tree is not None or root_id is not None:
        raise InvalidInput("only a subtree report takes a tree and a root", field="root_id")
    lines = _grouped(rows, grouping is Grouping.LABEL)
    return Report(grouping, lines, sum(x.quantity for x in lines))


class _Text:
    """A write-only text sink for ``csv.writer`` (no file, no I/O)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)


def _cell(text: str) -> str:
    # Spreadsheets run cells starting with these as formulas (CSV injection): quote them.
    return "'" + text if text.startswith(_FORMULA_START) else text


def report_csv(report: Report) -> str:
    """The report as CSV text (RFC 4180 quoting, ``\\n`` line ends, header first).

    Columns: ``period, account_id, channel, [label,] quantity``; a ``SUBTREE`` report
    names its last column ``subtree_quantity`` because its lines nest. Quantities are exact
    integers; text cells that a spreadsheet would run as a formula get a leading ``'``.
    Checking the export right (``reports.export``) is the caller's job.
    """
    header: Sequence[str] = ["period", "account_id", "channel"]
    labelled = report.grouping is Grouping.LABEL
    if labelled:
        header = [*header, "label"]
    last = "subtree_quantity" if report.grouping is Grouping.SUBTREE else "quantity"
    rows = (
        [line.period, line.account_id, line.channel, *([line.label] if labelled else []),
         str(line.quantity)]
        for line in report.lines
    )  # fmt: skip
    return csv_text([*header, last], rows, text_cells=(1, 3) if labelled else (1,))


def csv_text(
    header: Sequence[str], rows: Iterable[Sequence[str | None]], *, text_cells: Sequence[int]
) -> str:
    """CSV text (RFC 4180 quoting, ``\\n`` line ends, ``header`` first) of ``rows``; the
    cells at ``text_cells`` (free text a host or sender chose: ids, labels) are made safe
    for spreadsheets (a leading ``'`` before ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return); ``None`` is an empty cell.

    >>> print(csv_text(["label", "n"], [["=1+1", "3"], [None, "4"]], text_cells=[0]), end="")
    label,n
    '=1+1,3
    ,4
    """
    sink = _Text()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells = ["" if cell is None else cell for cell in row]
        for i in text_cells:
            cells[i] = _cell(cells[i])
        writer.writerow(cells)
    return "".join(sink.parts)
