"""``app.reports.usage`` and ``export_usage_csv``: reports from the usage the library
stores, visibility per role (seed 004), quantities and priced cost per sub-account and
label (seeds 000, 003), on the memory and SQLite adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subacct import (
    SYSTEM,
    ActionDenied,
    BillingPeriod,
    FixedClock,
    MemoryStore,
    Money,
    Plan,
    PlanLadder,
    Store,
    Subacct,
    UsageRecord,
)
from subacct.errors import InvalidInput
from subacct.pricing import Charge, PriceList, Rounding, Tier, TieredPrice, TierMode
from subacct.pricing.invoices import LineKind
from subacct.pricing.reports import Grouping
from subacct.pricing.usage_reports import UsageReport

from .conftest import make_app, seed_agency_with_roles
from .test_billing import SEED000_LADDER, usd

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JAN = BillingPeriod(2026, 1)


LADDER = SEED000_LADDER

RECORDS = [
    UsageRecord("agencydemo", JAN, "email", 9000, "d1", owner_id="owner"),
    UsageRecord("agency1", JAN, "email", 5000, "a1", label="marketing", owner_id="bob"),
    UsageRecord("agency1", JAN, "sms", 200, "a2", label="sales", owner_id="ada"),
    UsageRecord("agency1", JAN, "sms", 100, "a3"),  # an API key's send: nobody's own
    UsageRecord("agency2", JAN, "email", 1700, "b1", owner_id="yara"),
    UsageRecord("othermaster", JAN, "email", 999, "o1", owner_id="otto"),
]


def world(store: Store) -> Subacct:
    """Seed 000/004: the pooled agency on the seed's ladder, with the month's usage."""
    app = seed_agency_with_roles(make_app(store, clock=FixedClock(T0)))
    app.billing.set_profile("agencydemo", LADDER, by=SYSTEM)
    app.billing.set_profile("othermaster", LADDER, by=SYSTEM)
    app.billing.record_usage(RECORDS, by=SYSTEM)
    return app


@pytest.fixture
def app(store: Store) -> Subacct:
    return world(store)


def lines(report: UsageReport) -> list[tuple[str, str, str | None, int, str | None]]:
    return [
        (x.account_id, x.channel, x.label, x.quantity, None if x.cost is None else str(x.cost))
        for x in report.lines
    ]


# -- seed 004: who sees which rows -----------------------------------------------------


def test_seed004_basic_user_sees_own_sends_only_at_their_cost(app: Subacct) -> None:
    report = app.reports.usage("agency1", JAN, Grouping.LABEL, by="bob")
    assert lines(report) == [("agency1", "email", "marketing", 5000, "28.12 USD")]
    assert app.reports.usage_by_label("agency1", JAN, by="bob") == {"marketing": 5000}


def test_seed004_sub_admin_and_advanced_user_see_the_account(app: Subacct) -> None:
    for who in ("sam", "ada"):
        report = app.reports.usage("agency1", JAN, Grouping.LABEL, by=who)
        assert lines(report) == [
            ("agency1", "email", "marketing", 5000, "28.12 USD"),
            ("agency1", "sms", None, 100, "0.56 USD"),
            ("agency1", "sms", "sales", 200, "1.13 USD"),
        ]
        assert report.account_cost("agency1") == usd("29.81")
    assert app.reports.usage_by_label("agency1", JAN, by="sam") == {
        None: 100,
        "marketing": 5000,
        "sales": 200,
    }


def test_seed004_parent_admin_sees_every_sub_with_its_invoice_line(app: Subacct) -> None:
    report = app.reports.usage("agencydemo", JAN, by="owner")
    assert lines(report) == [
        ("agency1", "email", None, 5000, "28.12 USD"),
        ("agency1", "sms", None, 300, "1.69 USD"),
        ("agency2", "email", None, 1700, "9.56 USD"),
        ("agencydemo", "email", None, 9000, "50.63 USD"),
    ]
    assert report.total == 16000  # seed 000: the pooled month
    assert report.costs() == {"USD": usd("90.00")}
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    for account in ("agencydemo", "agency1", "agency2"):
        (line,) = invoice.lines_for(account)
        assert report.account_cost(account) == line.amount
    assert app.reports.subtree_usage("agencydemo", JAN, by="owner") == 16000
    assert app.reports.usage("agencydemo", JAN, by="vic").accounts() == ["agencydemo"]


def test_seed004_a_siblings_user_and_another_master_see_nothing(app: Subacct) -> None:
    for who, where in [("yara", "agency1"), ("bob", "agency2"), ("otto", "agencydemo")]:
        with pytest.raises(ActionDenied) as refused:
            app.reports.usage(where, JAN, by=who)
        assert refused.value.details["action"] == "reports.view"
    with pytest.raises(ActionDenied):
        app.reports.usage_by_label("agency1", JAN, by="yara")
    with pytest.raises(ActionDenied):
        app.reports.subtree_usage("agency1", JAN, by="sam")  # no reports.sub_accounts


# -- export ------------------------------------------------------------------------------


def test_export_is_refused_to_basic_users_and_audited_for_others(app: Subacct) -> None:
    with pytest.raises(ActionDenied) as refused:
        app.reports.export_usage_csv("agency1", JAN, by="bob")
    assert (refused.value.details["action"], refused.value.reason) == (
        "reports.export",
        "role_lacks_action",
    )
    text = app.reports.export_usage_csv("agency1", JAN, Grouping.LABEL, by="sam")
    assert text == (
        "period,account_id,channel,label,quantity,cost,currency\n"
        "2026-01,agency1,email,marketing,5000,28.12,USD\n"
        "2026-01,agency1,sms,,100,0.56,USD\n"
        "2026-01,agency1,sms,sales,200,1.13,USD\n"
    )
    audited = [r for r in app.audit.records("agency1", by=SYSTEM) if r.action == "reports.export"]
    assert [(r.acting_user_id, r.allowed) for r in audited] == [("bob", False), ("sam", True)]


def test_export_neutralizes_cells_a_spreadsheet_would_run(store: Store) -> None:
    app = world(store)
    evil = UsageRecord("agency1", JAN, "sms", 7, "x1", label='=HYPERLINK("http://x.test")')
    app.billing.record_usage(
        [evil, UsageRecord("agency1", JAN, "sms", 1, "x2", label="-1")], by=SYSTEM
    )
    rows = app.reports.export_usage_csv("agency1", JAN, Grouping.LABEL, by="sam").splitlines()
    assert '2026-01,agency1,sms,"\'=HYPERLINK(""http://x.test"")",7,0.04,USD' in rows
    assert "2026-01,agency1,sms,'-1,1,0.01,USD" in rows


# -- costs -------------------------------------------------------------------------------


def test_label_costs_add_up_to_each_charge_line_of_a_price_list(store: Store) -> None:
    """A price of several charges: each charge pooled over the tree, split per account,
    then per label; the parts add up to the account's invoice lines exactly."""
    per = lambda amount: TieredPrice(TierMode.GRADUATED, [Tier(None, Decimal(amount))], "USD")  # noqa: E731
    price = PriceList(
        [
            Charge("email", LADDER, "email"),
            Charge("sms", per("0.07"), "sms"),
            Charge("sms_de", per("0.09"), "sms", {"country": "DE"}),
        ]
    )
    app = seed_agency_with_roles(make_app(store, clock=FixedClock(T0)))
    app.billing.set_profile("agencydemo", price, by=SYSTEM)
    de = {"country": "DE"}
    app.billing.record_usage(
        [
            UsageRecord("agencydemo", JAN, "email", 3000, "d1", owner_id="owner"),
            UsageRecord("agency1", JAN, "email", 2000, "a1", label="news", owner_id="bob"),
            UsageRecord("agency1", JAN, "email", 1, "a2", label="promo", owner_id="ada"),
            UsageRecord("agency1", JAN, "sms", 333, "a3", label="promo", dimensions=de),
            UsageRecord("agency1", JAN, "sms", 10, "a4", label="news", dimensions=de),
            UsageRecord("agency1", JAN, "sms", 7, "a5", label="promo"),
            UsageRecord("agency2", JAN, "sms", 100, "b1", dimensions=de),
        ],
        by=SYSTEM,
    )
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    report = app.reports.usage("agencydemo", JAN, Grouping.LABEL, by="owner")
    assert lines(report) == [
        ("agency1", "email", "news", 2000, "18.00 USD"),  # 18.01 of the 8,500 plan (5,001)
        ("agency1", "email", "promo", 1, "0.01 USD"),
        ("agency1", "sms", "news", 10, "0.90 USD"),
        ("agency1", "sms", "promo", 340, "30.46 USD"),  # 29.97 (DE) + 0.49
        ("agency2", "sms", None, 100, "9.00 USD"),
        ("agencydemo", "email", None, 3000, "26.99 USD"),
    ]
    for account in ("agencydemo", "agency1", "agency2"):
        billed = [x.amount for x in invoice.lines_for(account) if x.kind is LineKind.USAGE]
        assert report.account_cost(account) == Money.sum(billed, "USD")
    assert report.costs() == {"USD": invoice.total} == {"USD": usd("85.36")}


def test_accounts_without_a_payer_have_no_cost(store: Store) -> None:
    """No billing profile on the master: its lines cost nothing known (``None``); a sub
    with its own payment details is priced on its own invoice."""
    app = seed_agency_with_roles(make_app(store, clock=FixedClock(T0)))
    app.billing.set_profile("agency2", LADDER, by=SYSTEM)
    app.billing.record_usage(RECORDS[:5], by=SYSTEM)
    report = app.reports.usage("agencydemo", JAN, by="owner")
    assert lines(report) == [
        ("agency1", "email", None, 5000, None),
        ("agency1", "sms", None, 300, None),
        ("agency2", "email", None, 1700, "15.00 USD"),  # the 2,500 plan, standalone
        ("agencydemo", "email", None, 9000, None),
    ]
    assert report.account_cost("agency1") is None
    assert report.costs() == {"USD": usd(15)}
    assert "2026-01,agency1,email,5000,,\n" in app.reports.export_usage_csv(
        "agencydemo", JAN, by="owner"
    )


def test_a_rounding_of_whole_units_is_the_invoices(app: Subacct) -> None:
    whole = Rounding(digits=0)
    report = app.reports.usage("agencydemo", JAN, by="owner", rounding=whole)
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM, rounding=whole)
    assert report.account_cost("agency1") == invoice.lines_for("agency1")[0].amount
    assert report.costs() == {"USD": invoice.total}


# -- sends by users show up under their owner ------------------------------------------


def test_sends_through_app_sending_are_their_users_own(store: Store) -> None:
    app = seed_agency_with_roles(make_app(store, clock=FixedClock(T0)))
    app.billing.set_profile("agencydemo", LADDER, by=SYSTEM)
    for who, key, n in [("bob", "s1", 40), ("ada", "s2", 25), ("bob", "s3", 5)]:
        hold = app.sending.authorize("agency1", "sms", n, key=key, by=who, label="promo")
        app.sending.capture(hold, n, by=who)
    api = app.sending.authorize("agency1", "sms", 3, key="s4", by=SYSTEM)
    app.sending.capture(api, 3, by=SYSTEM)
    period = BillingPeriod(T0.year, T0.month)
    assert app.reports.usage("agency1", period, by="bob").total == 45
    assert app.reports.usage("agency1", period, by="ada").total == 73
    with store.unit_of_work(read_only=True) as uow:
        owners = {g[2]: n for g, n in uow.usage.report_totals(period).items()}
    assert owners == {"bob": 45, "ada": 25, None: 3}


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"grouping": Grouping.SUBTREE}, "grouping"),
        ({"grouping": "weekly"}, "grouping"),
        ({"rounding": "half_even"}, "rounding"),
        ({"account_id": ""}, "account_id"),
    ],
)
def test_bad_input_names_the_field(app: Subacct, args: dict[str, object], field: str) -> None:
    call: dict[str, object] = {"account_id": "agency1", "period": JAN, **args}
    for read in (app.reports.usage, app.reports.export_usage_csv):
        with pytest.raises(InvalidInput) as refused:
            read(by="sam", **call)  # type: ignore[arg-type]
        assert refused.value.details["field"] == field


# -- property: a parent admin sees everything, and it adds up to the invoice --------------

_USERS = ("owner", "vic", "sam", "ada", "bob", "dee", "yara", None)
_record = st.builds(
    lambda account, channel, n, label, owner, i: UsageRecord(
        account, JAN, channel, n, f"k{i}", label=label, owner_id=owner
    ),
    st.sampled_from(["agencydemo", "agency1", "agency2"]),
    st.sampled_from(["email", "sms"]),
    st.integers(1, 1500),  # 12 of them stay on the ladder (18,000 at most)
    st.sampled_from([None, "promo", "news"]),
    st.sampled_from(_USERS),
    st.integers(0, 10**6),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_record, min_size=1, max_size=12, unique_by=lambda r: r.idempotency_key))
def test_a_parent_admin_sees_the_stored_totals_and_costs_add_up_to_the_invoice(
    records: list[UsageRecord],
) -> None:
    app = world_without_usage(MemoryStore())
    app.billing.record_usage(records, by=SYSTEM)
    report = app.reports.usage("agencydemo", JAN, Grouping.LABEL, by="owner")
    with app.store.unit_of_work(read_only=True) as uow:
        stored = uow.usage.totals(JAN)
    assert {a: report.account_total(a) for a in report.accounts()} == stored
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    assert report.costs() == {"USD": invoice.total}
    for account in stored:
        assert report.account_cost(account) == Money.sum(
            [x.amount for x in invoice.lines_for(account)], "USD"
        )
    mine = app.reports.usage("agency1", JAN, by="bob")
    assert mine.total == sum(
        r.quantity for r in records if (r.account_id, r.owner_id) == ("agency1", "bob")
    )


def world_without_usage(store: Store) -> Subacct:
    app = seed_agency_with_roles(make_app(store, clock=FixedClock(T0)))
    app.billing.set_profile("agencydemo", LADDER, by=SYSTEM)
    return app


def test_an_issued_month_is_priced_as_it_was_billed(app: Subacct) -> None:
    """Once January's invoice is issued, its report shows what was billed, even after
    the payer's price changes."""
    billed = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    dearer = PlanLadder([Plan("18,000", 18000, usd(180))])
    app.billing.set_profile("agencydemo", dearer, by=SYSTEM)
    (preview,) = app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)
    assert preview.total == usd(180)  # what billing would charge now
    report = app.reports.usage("agencydemo", JAN, by="owner")
    assert report.costs() == {"USD": billed.total} == {"USD": usd(90)}
    assert report.account_cost("agency1") == billed.lines_for("agency1")[0].amount
