"""``app.reports`` over storage: usage reports, their CSV export and who may see which rows
(seeds 000, 003, 004), on the memory and SQLite adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from subacct import (
    SYSTEM,
    ActionDenied,
    FixedClock,
    Store,
    Subacct,
)
from subacct.errors import ImpersonationRefused, InvalidInput
from subacct.policy import (
    EXPORT_REPORTS,
    VIEW_REPORTS,
)
from subacct.pricing.reports import Grouping, UsageRow

from .conftest import make_app, refused, seed_agency_with_roles, snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def app(store: Store) -> Subacct:
    """The seed 000/004 world of ``conftest.seed_agency_with_roles``, from 2026-01-01."""
    return seed_agency_with_roles(make_app(store, clock=FixedClock(T0)))


# -- seed 004: report visibility per role ----------------------------------------------

ROWS = [
    UsageRow("agencydemo", "2026-01", "email", None, "owner", 9000),
    UsageRow("agency1", "2026-01", "sms", "marketing", "bob", 300),
    UsageRow("agency1", "2026-01", "sms", "sales", "ada", 200),
    UsageRow("agency1", "2026-01", "email", None, None, 4800),  # an API key's sends
    UsageRow("agency2", "2026-01", "email", None, "yara", 1700),
    UsageRow("othermaster", "2026-01", "email", None, "otto", 999),
    UsageRow("agency1", "2026-02", "sms", None, "bob", 50),
]


def lines(report: Any) -> list[tuple[str, str, str, int]]:
    return [(x.period, x.account_id, x.channel, x.quantity) for x in report.lines]


def test_seed004_basic_user_sees_own_rows_only(app: Subacct) -> None:
    report = app.reports.usage_report("agency1", ROWS, Grouping.ACCOUNT, by="bob")
    assert lines(report) == [("2026-01", "agency1", "sms", 300), ("2026-02", "agency1", "sms", 50)]
    assert report.total == 350


def test_seed004_advanced_user_sees_the_account(app: Subacct) -> None:
    report = app.reports.usage_report("agency1", ROWS, Grouping.ACCOUNT, by="ada")
    assert lines(report) == [
        ("2026-01", "agency1", "email", 4800),
        ("2026-01", "agency1", "sms", 500),
        ("2026-02", "agency1", "sms", 50),
    ]
    february = app.reports.usage_report(
        "agency1", ROWS, Grouping.ACCOUNT, by="ada", period="2026-02"
    )
    assert february.total == 50


def test_seed004_parent_admin_sees_all_subs_and_the_rollup_adds_up(app: Subacct) -> None:
    report = app.reports.usage_report("agencydemo", ROWS, Grouping.ACCOUNT, by="owner")
    assert {x.account_id for x in report.lines} == {"agencydemo", "agency1", "agency2"}
    visible = [r for r in ROWS if r.account_id != "othermaster"]
    assert report.total == sum(r.quantity for r in visible) == 16050
    rolled = app.reports.usage_report("agencydemo", ROWS, Grouping.SUBTREE, by="owner")
    assert rolled.total == 16050
    root = [x for x in rolled.lines if x.account_id == "agencydemo"]
    assert sum(x.quantity for x in root) == rolled.total
    assert rolled.total_for("2026-01") == 16000  # seed 000: the pooled month


def test_seed004_advanced_user_of_the_parent_sees_the_parent_only(app: Subacct) -> None:
    rows = [*ROWS, UsageRow("agency1", "2026-01", "sms", None, "vic", 7)]
    report = app.reports.usage_report("agencydemo", rows, Grouping.SUBTREE, by="vic")
    assert lines(report) == [("2026-01", "agencydemo", "email", 9000)]


def test_seed004_sibling_sub_admin_and_other_masters_are_denied(app: Subacct) -> None:
    for user, account in [("yara", "agency1"), ("otto", "agencydemo"), ("sam", "agencydemo")]:
        err = refused(
            app.store,
            ActionDenied,
            lambda u=user, a=account: app.reports.usage_report(a, ROWS, Grouping.ACCOUNT, by=u),
        )
        assert err.details["action"] == VIEW_REPORTS
    own = app.reports.usage_report("agency2", ROWS, Grouping.ACCOUNT, by="yara")
    assert lines(own) == [("2026-01", "agency2", "email", 1700)]


def test_an_impersonating_parent_admin_reports_on_that_sub_only(app: Subacct) -> None:
    session = app.policy.start_impersonation("agency1", reason="support", by="owner")
    report = app.reports.usage_report("agency1", ROWS, Grouping.SUBTREE, by=session)
    assert {x.account_id for x in report.lines} == {"agency1"}
    assert report.total == 5350
    refused(
        app.store,
        ImpersonationRefused,
        lambda: app.reports.usage_report("agencydemo", ROWS, Grouping.ACCOUNT, by=session),
    )


def test_export_is_denied_to_basic_users(app: Subacct) -> None:
    err = refused(
        app.store,
        ActionDenied,
        lambda: app.reports.export_csv("agency1", ROWS, Grouping.ACCOUNT, by="bob"),
    )
    assert (err.details["action"], err.details["reason"]) == (EXPORT_REPORTS, "role_lacks_action")


def test_export_csv_content_is_exact_and_audited(app: Subacct) -> None:
    events_before = snapshot(app.store)["events"]
    text = app.reports.export_csv("agency1", ROWS, Grouping.LABEL, by="ada")
    assert text == (
        "period,account_id,channel,label,quantity\n"
        "2026-01,agency1,email,,4800\n"
        "2026-01,agency1,sms,marketing,300\n"
        "2026-01,agency1,sms,sales,200\n"
        "2026-02,agency1,sms,,50\n"
    )
    records = app.audit.records("agency1", by=SYSTEM)
    [record] = [r for r in records if r.action == EXPORT_REPORTS]
    assert (record.acting_user_id, record.allowed) == ("ada", True)
    assert snapshot(app.store)["events"] == events_before  # a read: audited, no domain event
    rolled = app.reports.export_csv(
        "agencydemo", ROWS, Grouping.SUBTREE, by="owner", period="2026-01"
    )
    assert rolled.splitlines()[:3] == [
        "period,account_id,channel,subtree_quantity",
        "2026-01,agencydemo,email,15500",
        "2026-01,agencydemo,sms,500",
    ]


def test_report_input_is_validated(app: Subacct) -> None:
    reports = app.reports
    refused(
        app.store,
        InvalidInput,
        lambda: reports.usage_report("agency1", ["x"], Grouping.ACCOUNT, by="ada"),  # type: ignore[list-item]
    )
    refused(
        app.store,
        InvalidInput,
        lambda: reports.usage_report("agency1", ROWS, Grouping.ACCOUNT, by="ada", period="2026-13"),
    )
    # an unknown grouping is bad input (the new API takes a Grouping or its value, so
    # "account" itself would now be accepted)
    refused(
        app.store,
        InvalidInput,
        lambda: reports.usage_report("agency1", ROWS, "by_account", by="ada"),  # type: ignore[arg-type]
    )
