"""Pure reports from stored usage (``subacct.pricing.usage_reports``): a group's cost is
its share of its account's invoice line, exact, adding up to the line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subacct.errors import InvalidInput
from subacct.money import Money
from subacct.pricing import BillingStructure, Channel, Dimensions, build_invoices
from subacct.pricing.reports import Grouping, RowScope, Visibility
from subacct.pricing.usage import UsageGroup
from subacct.pricing.usage_reports import (
    UsageReport,
    UsageReportLine,
    group_costs,
    usage_report,
    usage_report_csv,
)

from .pricing_helpers import JAN, seed000_ladder, usd

SMS, NONE = Channel.SMS, Dimensions()


def _groups(volumes: dict[str, list[int]]) -> dict[UsageGroup, int]:
    return {
        (account, f"label{i}", None, SMS, NONE): n
        for account, parts in volumes.items()
        for i, n in enumerate(parts)
    }


def test_seed000_label_costs_add_up_to_the_pooled_lines() -> None:
    ladder = seed000_ladder()
    s = BillingStructure.pooled("agencydemo", ["agency1", "agency2"], ladder)
    groups = _groups({"agencydemo": [9000], "agency1": [5000, 200, 100], "agency2": [1700]})
    totals = {"agencydemo": 9000, "agency1": 5300, "agency2": 1700}
    (invoice,) = build_invoices(s, totals, JAN)
    costs = group_costs(groups, [invoice], dict.fromkeys(totals, ladder))
    for account in totals:
        mine = [c for g, c in costs.items() if g[0] == account]
        assert Money.sum(mine, "USD") == invoice.lines_for(account)[0].amount
    assert Money.sum(costs.values(), "USD") == invoice.total == usd(90)
    assert [str(costs[("agency1", f"label{i}", None, SMS, NONE)]) for i in range(3)] == [
        "28.12 USD",
        "1.13 USD",
        "0.56 USD",
    ]


@given(
    # at most 16 parts of 1,100: the pool stays on the ladder (18,000 at most)
    parts=st.lists(st.lists(st.integers(0, 1100), min_size=1, max_size=4), min_size=1, max_size=4)
)
def test_costs_add_up_to_each_account_line_for_any_volumes(parts: list[list[int]]) -> None:
    ladder = seed000_ladder()
    names = [f"a{i}" for i in range(len(parts))]
    volumes = dict(zip(names, parts, strict=True))
    s = BillingStructure.pooled(names[0], names[1:], ladder)
    totals = {a: sum(p) for a, p in volumes.items()}
    (invoice,) = build_invoices(s, totals, JAN)
    costs = group_costs(_groups(volumes), [invoice], dict.fromkeys(names, ladder))
    for account in names:
        line = invoice.lines_for(account)[0]
        mine = [c for g, c in costs.items() if g[0] == account]
        if line.quantity:
            assert Money.sum(mine, "USD") == line.amount
        else:  # no usage: the plan at volume 0 stays on the payer's line, in no group
            assert mine == []


def test_usage_the_invoices_do_not_bill_is_refused() -> None:
    ladder = seed000_ladder()
    s = BillingStructure.pooled("m", [], ladder)
    (invoice,) = build_invoices(s, {"m": 100}, JAN)
    with pytest.raises(InvalidInput) as refused:
        group_costs(_groups({"m": [60, 50]}), [invoice], {"m": ladder})
    assert refused.value.details["field"] == "invoices"
    assert group_costs(_groups({"m": [60, 50]}), [invoice], {}) == {}  # no payer: no cost


def test_a_basic_users_rows_are_their_own_only() -> None:
    mine = Visibility.of(["a"], RowScope.OWN, "bob")
    assert mine.sees("a", "bob")
    assert not mine.sees("a", None)  # the system's or an API key's send
    assert not mine.sees("b", "bob")


def test_a_report_names_its_lines_and_renders_safely() -> None:
    groups: dict[UsageGroup, int] = {
        ("a", "@x", "bob", SMS, NONE): 3,
        ("a", None, None, SMS, NONE): 2,
    }
    report = usage_report(JAN, groups, {}, Grouping.LABEL)
    assert [(x.label, x.quantity, x.cost) for x in report.lines] == [
        (None, 2, None),
        ("@x", 3, None),
    ]
    assert usage_report_csv(report).splitlines()[2] == "2026-01,a,sms,'@x,3,,"
    assert usage_report(JAN, groups, {}, Grouping.ACCOUNT).lines == (
        UsageReportLine("a", "sms", None, 5, None),
    )
    with pytest.raises(InvalidInput) as refused:
        usage_report(JAN, groups, {}, Grouping.SUBTREE)
    assert refused.value.details["field"] == "grouping"
    with pytest.raises(InvalidInput):
        UsageReport(JAN, Grouping.ACCOUNT, [UsageReportLine("a", "sms", "x", 1, None)])
