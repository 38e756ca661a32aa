import csv
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.domain import AccountId, HierarchyRules, Tree, UserId, new_master, plan_new_sub
from subacct.errors import AccountNotFound, InvalidInput
from subacct.pricing.reports import (
    Grouping,
    Report,
    ReportLine,
    RowScope,
    UsageRow,
    Visibility,
    build_report,
    report_csv,
    visible_rows,
)
from subacct.testing.report_strategies import usage_rows
from subacct.testing.strategies import hierarchies

T0 = datetime(2026, 1, 1, tzinfo=UTC)
A, U = AccountId, UserId


def seed000_tree() -> Tree:
    master = new_master(A("agencydemo"), "Agency Demo", T0)
    rules = HierarchyRules()
    return Tree(
        [
            master,
            plan_new_sub(A("agency1"), "Agency 1", master, [], rules, T0),
            plan_new_sub(A("agency2"), "Agency 2", master, [], rules, T0),
            new_master(A("other"), "Other", T0),
        ]
    )


def row(account: str, qty: int, *, label: str | None = None, owner: str | None = None,
        period: str = "2026-01", channel: str = "email") -> UsageRow:  # fmt: skip
    return UsageRow(account, period, channel, label, owner, qty)  # type: ignore[arg-type]


SEED000 = [row("agencydemo", 9000), row("agency1", 5300), row("agency2", 1700), row("other", 4)]


def test_seed000_rolled_up_over_the_agency() -> None:
    report = build_report(SEED000, Grouping.SUBTREE, tree=seed000_tree(), root_id=A("agencydemo"))
    assert [(x.account_id, x.quantity) for x in report.lines] == [
        ("agencydemo", 16000),
        ("agency1", 5300),
        ("agency2", 1700),
    ]
    assert report.total == 16000  # the other master's usage is not in this subtree
    assert report.total_for("2026-01") == 16000
    assert report.root_id == "agencydemo"
    assert report_csv(report) == (
        "period,account_id,channel,subtree_quantity\n"
        "2026-01,agencydemo,email,16000\n"
        "2026-01,agency1,email,5300\n"
        "2026-01,agency2,email,1700\n"
    )


def test_seed003_labels_split_usage_inside_a_sub() -> None:
    rows = [
        row("branch", 120, label="marketing", channel="sms"),
        row("branch", 30, label="sales", channel="sms"),
        row("branch", 80, label="marketing", channel="sms"),
        row("branch", 5, channel="sms"),
        row("branch", 7, label="marketing", channel="sms", period="2026-02"),
    ]
    by_label = build_report(rows, Grouping.LABEL)
    assert [(x.period, x.label, x.quantity) for x in by_label.lines] == [
        ("2026-01", None, 5),
        ("2026-01", "marketing", 200),
        ("2026-01", "sales", 30),
        ("2026-02", "marketing", 7),
    ]
    assert by_label.total == 242
    assert (by_label.total_for("2026-01"), by_label.periods()) == (235, ["2026-01", "2026-02"])
    assert report_csv(by_label).splitlines()[:2] == [
        "period,account_id,channel,label,quantity",
        "2026-01,branch,sms,,5",
    ]
    by_account = build_report(rows, Grouping.ACCOUNT)
    assert [(x.period, x.quantity, x.label) for x in by_account.lines] == [
        ("2026-01", 235, None),
        ("2026-02", 7, None),
    ]


def test_seed004_visibility_sub_parent_and_basic_user() -> None:
    rows = [
        row("agencydemo", 10, owner="ann"),
        row("agency1", 20, owner="bob"),
        row("agency1", 30, owner="cid"),
        row("agency1", 40),  # sent by an API key: nobody's own row
        row("agency2", 50, owner="bob"),
    ]
    parent = Visibility.of([A("agencydemo"), A("agency1"), A("agency2")], RowScope.ALL, U("ann"))
    assert sum(r.quantity for r in visible_rows(rows, parent)) == 150
    sub_admin = Visibility.of([A("agency1")], RowScope.ALL, U("dan"))
    assert [r.quantity for r in visible_rows(rows, sub_admin)] == [20, 30, 40]
    basic = Visibility.of([A("agency1")], RowScope.OWN, U("bob"))
    assert [r.quantity for r in visible_rows(rows, basic)] == [20]  # not agency2's row
    mixed = Visibility(U("bob"), [A("agency2")], [A("agency1")])
    assert [r.quantity for r in visible_rows(rows, mixed)] == [20, 50]
    report = build_report(visible_rows(rows, basic), Grouping.ACCOUNT)
    assert report.total == 20


def test_visibility_rules() -> None:
    with pytest.raises(InvalidInput):
        Visibility.of([A("a")], RowScope.OWN, None)
    with pytest.raises(InvalidInput):
        Visibility(U("u"), [A("a")], [A("a")])
    with pytest.raises(InvalidInput):
        Visibility.of([A("a")], "all", U("u"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Visibility(U("u"), "agency1")  # type: ignore[arg-type]


def test_rows_validate() -> None:
    for bad in [
        {"period": "2026-1"},
        {"period": "2026-13"},
        {"channel": "E-mail"},
        {"channel": ""},
        {"label": "  "},
        {"quantity": -1},
        {"quantity": 1.0},
        {"quantity": True},
        {"account": "a b"},
        {"owner": ""},
    ]:
        fields = {"account": "a", "qty": 1, "label": None, "owner": None, "period": "2026-01"}
        fields.update({"channel": "email"})
        fields.update({("qty" if k == "quantity" else k): v for k, v in bad.items()})
        with pytest.raises(InvalidInput):
            row(fields.pop("account"), fields.pop("qty"), **fields)  # type: ignore[arg-type]
    assert row("a", 1, label=" marketing ").label == "marketing"


def test_reports_validate() -> None:
    line = ReportLine("2026-01", "a", "email", None, 5)  # type: ignore[arg-type]
    assert Report(Grouping.ACCOUNT, [line], 5).total == 5
    with pytest.raises(InvalidInput):
        Report(Grouping.ACCOUNT, [line], 6)
    with pytest.raises(InvalidInput):
        Report(Grouping.ACCOUNT, [line], 5, "a")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Report(Grouping.SUBTREE, [line], 5)
    with pytest.raises(InvalidInput):
        Report(Grouping.ACCOUNT, [ReportLine("2026-01", "a", "email", "x", 5)], 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Report(Grouping.ACCOUNT, ["not a line"], 0)  # type: ignore[list-item]
    with pytest.raises(InvalidInput):
        build_report([], Grouping.SUBTREE)
    with pytest.raises(InvalidInput):
        build_report([], Grouping.ACCOUNT, root_id=A("a"))
    with pytest.raises(InvalidInput):
        build_report([], "account")  # type: ignore[arg-type]
    with pytest.raises(AccountNotFound):
        build_report([], Grouping.SUBTREE, tree=seed000_tree(), root_id=A("nope"))
    empty = build_report([], Grouping.ACCOUNT)
    assert (empty.total, empty.lines, report_csv(empty)) == (
        0,
        (),
        "period,account_id,channel,quantity\n",
    )


def test_csv_quotes_and_defuses_formulas() -> None:
    rows = [
        row("=cmd", 1, label='a "quoted", label'),
        row("acc", 2, label="=HYPERLINK(1)"),
        row("acc", 10**30, label="@sum"),
    ]
    text = report_csv(build_report(rows, Grouping.LABEL))
    parsed = list(csv.reader(text.splitlines()))
    assert parsed == [
        ["period", "account_id", "channel", "label", "quantity"],
        ["2026-01", "'=cmd", "email", 'a "quoted", label', "1"],
        ["2026-01", "acc", "email", "'=HYPERLINK(1)", "2"],
        ["2026-01", "acc", "email", "'@sum", str(10**30)],
    ]
    assert '"a ""quoted"", label"' in text


@st.composite
def world(draw: st.DrawFn) -> tuple[Tree, list[UsageRow], AccountId]:
    accounts = draw(hierarchies(max_levels=3, max_accounts=8))
    tree = Tree(accounts)
    rows = draw(usage_rows([a.id for a in accounts], [U("ann"), U("bob")]))
    root = draw(st.sampled_from([a.id for a in accounts]))
    return tree, rows, root


@settings(max_examples=60)
@given(world())
def test_totals_equal_the_sum_of_rows(data: tuple[Tree, list[UsageRow], AccountId]) -> None:
    tree, rows, root = data
    for grouping in (Grouping.ACCOUNT, Grouping.LABEL):
        report = build_report(rows, grouping)
        assert report.total == sum(r.quantity for r in rows)
        assert sum(x.quantity for x in report.lines) == report.total
        for period in report.periods():
            assert report.total_for(period) == sum(r.quantity for r in rows if r.period == period)
    subtree = {root, *tree.descendants(root)}
    rolled = build_report(rows, Grouping.SUBTREE, tree=tree, root_id=root)
    assert rolled.total == sum(r.quantity for r in rows if r.account_id in subtree)
    for line in rolled.lines:
        below = {line.account_id, *tree.descendants(line.account_id)}
        expected = sum(
            r.quantity
            for r in rows
            if r.account_id in below and (r.period, r.channel) == (line.period, line.channel)
        )
        assert line.quantity == expected
    assert {x.account_id for x in rolled.lines} <= subtree


@settings(max_examples=60)
@given(world(), st.sampled_from(list(RowScope)), st.sampled_from(["ann", "bob"]))
def test_hidden_rows_never_reach_a_report(
    data: tuple[Tree, list[UsageRow], AccountId], scope: RowScope, viewer: str
) -> None:
    tree, rows, root = data
    visible = {root, *tree.descendants(root)}
    spec = Visibility.of(visible, scope, U(viewer))
    kept = visible_rows(rows, spec)
    assert all(r.account_id in visible for r in kept)
    if scope is RowScope.OWN:
        assert all(r.owner_id == viewer for r in kept)
    hidden = [r for r in rows if r not in kept]
    assert all(not spec.allows(r) for r in hidden)
    report = build_report(kept, Grouping.SUBTREE, tree=tree, root_id=root)
    assert report.total == sum(r.quantity for r in kept)


@settings(max_examples=40)
@given(world(), st.sampled_from(list(Grouping)))
def test_csv_reads_back_exactly(
    data: tuple[Tree, list[UsageRow], AccountId], grouping: Grouping
) -> None:
    tree, rows, root = data
    extra = {"tree": tree, "root_id": root} if grouping is Grouping.SUBTREE else {}
    report = build_report(rows, grouping, **extra)  # type: ignore[arg-type]
    parsed = list(csv.reader(report_csv(report).splitlines()))
    assert len(parsed) == len(report.lines) + 1
    for cells, line in zip(parsed[1:], report.lines, strict=True):
        assert (cells[0], cells[1], cells[2], int(cells[-1])) == (
            line.period,
            line.account_id,
            line.channel,
            line.quantity,
        )
    assert report_csv(report) == report_csv(build_report(list(reversed(rows)), grouping, **extra))  # type: ignore[arg-type]


def test_rows_and_reports_roundtrip_through_json() -> None:
    import json

    from subacct.serialization import structure, unstructure

    report = build_report(SEED000, Grouping.SUBTREE, tree=seed000_tree(), root_id=A("agencydemo"))
    back = structure(json.loads(json.dumps(unstructure(report))), Report)
    assert back == report
    one = row("agency1", 3, label="sales", owner="bob")
    assert unstructure(one) == {
        "schema": 1,
        "account_id": "agency1",
        "period": "2026-01",
        "channel": "email",
        "label": "sales",
        "owner_id": "bob",
        "quantity": 3,
    }
    assert structure(unstructure(one), UsageRow) == one
