"""Nothing is dropped: what arrives for a period after its invoice is issued (usage, a
captured send, a setup fee, an upgrade) is billed on the payer's next invoice, as
adjustment lines re-rating that period (``subacct.pricing.adjustments``)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from subacct import (
    SYSTEM,
    BillingPeriod,
    FixedClock,
    MemoryStore,
    Money,
    Plan,
    PlanLadder,
    SetupFeeSchedule,
    SqliteStore,
    Store,
    Subacct,
    UsageRecord,
)
from subacct.errors import AccountNotActive, IdempotencyConflict, InvalidInput
from subacct.pricing import Invoice, InvoiceLine, LineKind, Rounding
from subacct.storage.collections import INVOICE_TERMS, LATE_PERIODS

from .conftest import event_log, make_app
from .test_billing import SEED000_LADDER

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JAN, FEB, MAR, APR = (BillingPeriod(2026, m) for m in (1, 2, 3, 4))


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def agency(store: Store, **profile: object) -> tuple[Subacct, FixedClock]:
    """Seed 000's agencydemo with agency1 and agency2, on the seed's ladder."""
    clock = FixedClock(T0)
    app = make_app(store, clock=clock)
    app.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Company X", account_id="agency1", by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Company Y", account_id="agency2", by=SYSTEM)
    app.billing.set_profile("agencydemo", SEED000_LADDER, by=SYSTEM, **profile)  # type: ignore[arg-type]
    return app, clock


def to(clock: FixedClock, moment: datetime) -> None:
    clock.advance(moment - clock.now())


def adjustments(invoice: Invoice) -> list[tuple[str, str, int, str]]:
    return [
        (line.account_id, line.description, line.quantity, str(line.amount.amount))
        for line in invoice.lines
        if line.kind is LineKind.ADJUSTMENT
    ]


def test_seed000_late_usage_crossing_a_step_is_billed_on_february(store: Store) -> None:
    """January: 5,000 + 2,000 pooled = 7,000, the $45 plan (8,500). After January is
    issued, agency2 reports 3,000 more: 10,000 is the $60 plan (12,000). February's
    invoice bills the $15 step, per account line: agency2's new share and the two
    shares that fell."""
    app, clock = agency(store)
    app.billing.record_usage(
        [
            UsageRecord("agencydemo", JAN, "email", 5000, "d-1"),
            UsageRecord("agency1", JAN, "email", 2000, "x-1"),
        ],
        by=SYSTEM,
    )
    to(clock, datetime(2026, 2, 1, 6, tzinfo=UTC))
    january = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    assert january.total == usd("45.00")
    assert app.billing.record_usage([UsageRecord("agency2", JAN, "email", 3000, "y-1")], by=SYSTEM)
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert adjustments(february) == [
        ("agencydemo", "adjustment for 2026-01: usage", 0, "-2.14"),
        ("agency1", "adjustment for 2026-01: usage", 0, "-0.86"),
        ("agency2", "adjustment for 2026-01: usage", 3000, "18.00"),
    ]
    assert february.total == usd("15.00") + usd("15.00")  # its own 2,500 plan + the step
    assert app.billing.invoices("agencydemo", by=SYSTEM) == [january, february]
    (billed,) = [e for e in event_log(app.store) if e.event_type == "adjustment_billed"]
    assert (billed.adjusted_period, billed.total) == ("2026-01", usd("15.00"))  # type: ignore[attr-defined]


def test_late_usage_is_billed_once_and_a_second_arrival_only_its_difference(
    store: Store,
) -> None:
    """One account: 7,000 ($45), then 3,000 late ($60: +$15 on February), then 4,000
    more late (14,000: $90, +$30 on March, not $45). Re-issuing changes nothing."""
    app, clock = agency(store)
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 7000, "a")], by=SYSTEM)
    to(clock, datetime(2026, 2, 1, tzinfo=UTC))
    app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 3000, "b")], by=SYSTEM)
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert adjustments(february) == [("agencydemo", "adjustment for 2026-01: usage", 3000, "15.00")]
    assert app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM) == february
    to(clock, datetime(2026, 3, 1, tzinfo=UTC))
    assert adjustments(app.billing.preview_invoices("agencydemo", MAR, by=SYSTEM)[0]) == []
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 4000, "c")], by=SYSTEM)
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 4000, "c")], by=SYSTEM)
    (preview,) = app.billing.preview_invoices("agencydemo", MAR, by=SYSTEM)
    march = app.billing.finalize_invoice("agencydemo", MAR, by=SYSTEM)
    assert march.lines == preview.lines  # the preview is what finalizing bills
    assert adjustments(march) == [("agencydemo", "adjustment for 2026-01: usage", 4000, "30.00")]
    to(clock, datetime(2026, 4, 1, tzinfo=UTC))
    assert adjustments(app.billing.finalize_invoice("agencydemo", APR, by=SYSTEM)) == []
    with app.store.unit_of_work(read_only=True) as uow:
        (late,) = uow.records(LATE_PERIODS).all()
    assert (late.arrivals, late.covered, late.adjusted_on) == (2, 2, (FEB, MAR))


def test_a_sub_created_in_an_invoiced_month_has_its_setup_fee_billed(store: Store) -> None:
    """January is issued on the 20th (a final invoice); agency3 is created on the 25th:
    its $30 setup fee is an adjustment on February, never lost."""
    fees = SetupFeeSchedule(usd("30"))
    app, clock = agency(store, setup_fees=fees)
    to(clock, datetime(2026, 1, 20, tzinfo=UTC))
    january = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    assert [x.account_id for x in january.lines if x.kind is LineKind.SETUP_FEE] == [
        "agency1",
        "agency2",
    ]
    to(clock, datetime(2026, 1, 25, tzinfo=UTC))
    app.accounts.create_sub("agencydemo", "Company Z", account_id="agency3", by=SYSTEM)
    to(clock, datetime(2026, 2, 1, tzinfo=UTC))
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert adjustments(february) == [("agency3", "adjustment for 2026-01: setup fee", 1, "30.00")]


def test_an_account_first_billed_by_an_adjustment_is_billed_there_once(store: Store) -> None:
    """agency3, created after January was issued, is billed January by February's
    adjustment; given its own profile afterwards, it has no January invoice of its own."""
    app, clock = agency(store)
    to(clock, datetime(2026, 1, 20, tzinfo=UTC))
    app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    app.accounts.create_sub("agencydemo", "Company Z", account_id="agency3", by=SYSTEM)
    app.billing.record_usage([UsageRecord("agency3", JAN, "email", 100, "z")], by=SYSTEM)
    to(clock, datetime(2026, 2, 1, tzinfo=UTC))
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert adjustments(february) == [  # January's $15 plan: now all agency3's usage
        ("agencydemo", "adjustment for 2026-01: usage", 0, "-15.00"),
        ("agency3", "adjustment for 2026-01: usage", 100, "15.00"),
    ]
    app.billing.set_profile("agency3", SEED000_LADDER, by=SYSTEM)
    assert all(i.payer_id != "agency3" for i in app.billing.preview_invoices(
        "agencydemo", JAN, by=SYSTEM))  # fmt: skip


def test_late_arrivals_keep_every_other_check(store: Store) -> None:
    """A month not begun is still refused, and so is usage for a paused account, or
    other content under a stored key: and a refusal notes nothing."""
    app, clock = agency(store)
    app.billing.record_usage([UsageRecord("agency1", JAN, "email", 10, "k")], by=SYSTEM)
    to(clock, datetime(2026, 2, 1, tzinfo=UTC))
    app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    with pytest.raises(InvalidInput) as ahead:
        app.billing.record_usage([UsageRecord("agency1", MAR, "email", 1, "m")], by=SYSTEM)
    assert "has not begun" in ahead.value.message
    with pytest.raises(IdempotencyConflict):  # other content under a stored key
        app.billing.record_usage([UsageRecord("agency1", JAN, "email", 11, "k")], by=SYSTEM)
    app.accounts.pause("agency1", by=SYSTEM)
    with pytest.raises(AccountNotActive):
        app.billing.record_usage([UsageRecord("agency1", JAN, "email", 1, "p")], by=SYSTEM)
    with app.store.unit_of_work(read_only=True) as uow:
        assert uow.records(LATE_PERIODS).all() == []


def _late_january(app: Subacct, clock: FixedClock, **finalized: object) -> Invoice:
    """Seed 000's January pooled at 7,000 ($45 on the seed's ladder), finalized on
    1 February (with ``finalized``: ``rounding=``), then 3,000 more for agency2: 10,000
    is the $60 plan at January's prices."""
    app.billing.record_usage(
        [
            UsageRecord("agencydemo", JAN, "email", 5000, "d-1"),
            UsageRecord("agency1", JAN, "email", 2000, "x-1"),
        ],
        by=SYSTEM,
    )
    to(clock, datetime(2026, 2, 1, tzinfo=UTC))
    january = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM, **finalized)  # type: ignore[arg-type]
    assert app.billing.record_usage([UsageRecord("agency2", JAN, "email", 3000, "y-1")], by=SYSTEM)
    return january


RAISED = PlanLadder(
    [
        Plan("2,500", 2500, usd("20")),
        Plan("8,500", 8500, usd("60")),
        Plan("12,000", 12000, usd("80")),
        Plan("18,000", 18000, usd("120")),
    ]
)
"""Seed 000's ladder with every price raised: what February is billed on."""


def test_a_late_month_is_re_rated_on_the_prices_it_was_finalized_on(store: Store) -> None:
    """January is finalized at the seed's ladder; the prices are raised on 1 February;
    then January's late 3,000 arrive. February's invoice bills January's step at
    January's prices ($60 - $45 = $15, not $80 - $45), and its own month at the new
    ones (1,000 messages: the 2,500 plan, $20 now)."""
    app, clock = agency(store)
    january = _late_january(app, clock)
    app.billing.set_profile("agencydemo", RAISED, by=SYSTEM)
    app.billing.record_usage([UsageRecord("agencydemo", FEB, "email", 1000, "f-1")], by=SYSTEM)
    to(clock, datetime(2026, 3, 1, tzinfo=UTC))
    (preview,) = app.billing.preview_invoices("agencydemo", FEB, by=SYSTEM)
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert february.lines == preview.lines
    assert adjustments(february) == [
        ("agencydemo", "adjustment for 2026-01: usage", 0, "-2.14"),
        ("agency1", "adjustment for 2026-01: usage", 0, "-0.86"),
        ("agency2", "adjustment for 2026-01: usage", 3000, "18.00"),
    ]
    own = [x for x in february.lines if x.kind is not LineKind.ADJUSTMENT]
    assert [(x.account_id, x.quantity, str(x.amount.amount)) for x in own] == [
        ("agencydemo", 1000, "20.00"),  # the new prices
        ("agency1", 0, "0.00"),
        ("agency2", 0, "0.00"),
    ]
    assert february.total == usd("35.00")  # $20 at the new prices + January's $15 step
    assert app.billing.invoices("agencydemo", by=SYSTEM) == [january, february]
    (billed,) = [e for e in event_log(app.store) if e.event_type == "adjustment_billed"]
    assert (billed.invoice_number, billed.adjusted_period) == (february.number, "2026-01")  # type: ignore[attr-defined]
    with app.store.unit_of_work(read_only=True) as uow:
        terms = uow.records(INVOICE_TERMS).get("agencydemo/2026-01")
    assert (terms.profile.price, terms.rounding) == (SEED000_LADDER, Rounding())


def test_a_late_month_is_re_rated_with_the_rounding_it_was_finalized_with(
    store: Store,
) -> None:
    """January finalized with whole-dollar lines (32 + 13 = $45) is adjusted in whole
    dollars (30 - 32, 12 - 13, 18), whatever February's own rounding."""
    app, clock = agency(store)
    january = _late_january(app, clock, rounding=Rounding(digits=0))
    assert [x.amount.amount for x in january.lines] == [32, 13, 0]  # agency2: none yet
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert adjustments(february) == [
        ("agencydemo", "adjustment for 2026-01: usage", 0, "-2"),
        ("agency1", "adjustment for 2026-01: usage", 0, "-1"),
        ("agency2", "adjustment for 2026-01: usage", 3000, "18"),
    ]


def test_a_draft_shows_adjustments_and_never_marks_them_billed(store: Store) -> None:
    """Drafting February (twice) shows January's adjustments and bills none of them: no
    ``adjustment_billed``, January still pending; finalizing bills them once."""
    app, clock = agency(store)
    _late_january(app, clock)
    first = app.billing.draft_invoice("agencydemo", FEB, by=SYSTEM)
    again = app.billing.draft_invoice("agencydemo", FEB, by=SYSTEM)
    assert adjustments(first) == adjustments(again) != []
    with app.store.unit_of_work(read_only=True) as uow:
        (late,) = uow.records(LATE_PERIODS).all()
    assert (late.pending_for, late.covered) == ("agencydemo", 0)
    assert not [e for e in event_log(app.store) if e.event_type == "adjustment_billed"]
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert adjustments(february) == adjustments(first)
    with app.store.unit_of_work(read_only=True) as uow:
        (late,) = uow.records(LATE_PERIODS).all()
    assert (late.pending_for, late.adjusted_on) == (None, (FEB,))


def test_close_period_bills_pending_adjustments_once(store: Store) -> None:
    """``close_period`` finalizes February with January's step on it, as
    ``finalize_invoice`` would; a second run changes nothing."""
    app, clock = agency(store)
    _late_january(app, clock)
    to(clock, datetime(2026, 3, 1, tzinfo=UTC))
    closed = app.billing.close_period(FEB, by=SYSTEM)
    assert closed.numbers == ("agencydemo-00002",)
    february = app.billing.invoice("agencydemo-00002", by=SYSTEM)
    assert sum((Money(x[3], "USD") for x in adjustments(february)), usd("0")) == usd("15.00")
    assert app.billing.close_period(FEB, by=SYSTEM).changed is False
    billed = [e for e in event_log(app.store) if e.event_type == "adjustment_billed"]
    assert [e.invoice_number for e in billed] == ["agencydemo-00002"]  # type: ignore[attr-defined]


# -- property: money is conserved, whatever the order of arrivals and issues --------------

_ACCOUNTS = ("agencydemo", "agency1", "agency2")
_PERIODS = (JAN, FEB, MAR)


class LateUsageIsBilledOnce(RuleBasedStateMachine):
    """Usage arrives for January to March in any order, retried at random, invoices are
    finalized (and finalized again) in any order, pooled, and the price moves between
    the seed 000 ladder and a raised one. A finalized invoice never changes; at the end,
    once April is finalized, what every invoice billed for each month (its own lines and
    every adjustment for it) is that month re-rated from all its usage at the prices it
    was finalized on, and no adjustment is billed twice."""

    store_kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        self.store: Store = (
            MemoryStore()
            if self.store_kind == "memory"
            else SqliteStore(Path(self._dir.name) / "late.db")
        )
        self.app, self.clock = agency(self.store)
        to(self.clock, datetime(2026, 4, 2, tzinfo=UTC))
        self.sent: list[UsageRecord] = []
        self.issued: dict[BillingPeriod, Invoice] = {}
        self.ladder = SEED000_LADDER
        self.priced_on: dict[BillingPeriod, PlanLadder] = {}

    @rule(ladder=st.sampled_from([SEED000_LADDER, RAISED]))
    def reprice(self, ladder: PlanLadder) -> None:
        self.app.billing.set_profile("agencydemo", ladder, by=SYSTEM)
        self.ladder = ladder

    @rule(
        account=st.sampled_from(_ACCOUNTS),
        period=st.sampled_from(_PERIODS),
        quantity=st.integers(0, 4000),
    )
    def record(self, account: str, period: BillingPeriod, quantity: int) -> None:
        if sum(r.quantity for r in self.sent if r.period == period) + quantity > 18000:
            return  # the top of the ladder (above it: issue 15, item 4)
        record = UsageRecord(account, period, "email", quantity, f"u{len(self.sent)}")
        assert self.app.billing.record_usage([record], by=SYSTEM) == 1
        self.sent.append(record)

    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        if self.sent:
            record = data.draw(st.sampled_from(self.sent))
            assert self.app.billing.record_usage([record], by=SYSTEM) == 0

    @rule(period=st.sampled_from(_PERIODS))
    def issue(self, period: BillingPeriod) -> None:
        invoice = self.app.billing.finalize_invoice("agencydemo", period, by=SYSTEM)
        assert self.issued.setdefault(period, invoice) == invoice  # re-issued: the same
        self.priced_on.setdefault(period, self.ladder)

    @invariant()
    def issued_invoices_never_change(self) -> None:
        stored = self.app.billing.invoices("agencydemo", by=SYSTEM)
        assert {i.period: i for i in stored} == self.issued

    def teardown(self) -> None:
        try:
            for period in (*_PERIODS, APR):
                self.issue(period)
            for period in _PERIODS:
                own = [x for x in self.issued[period].lines if x.kind is not LineKind.ADJUSTMENT]
                later = [x for i in self.issued.values() for x in _adjusting(i, period)]
                self.reprice(self.priced_on[period])  # the month at the prices it was final on
                (rerated,) = self.app.billing.preview_invoices("agencydemo", period, by=SYSTEM)
                assert adjustments(rerated) == []  # nothing pending
                assert _sum([*own, *later]) == rerated.total
                for account in _ACCOUNTS:
                    mine = [x for x in (*own, *later) if x.account_id == account]
                    assert _sum(mine) == _sum(rerated.lines_for(account))
            billed = [e for e in event_log(self.store) if e.event_type == "adjustment_billed"]
            keys = [(e.period, e.adjusted_period) for e in billed]  # type: ignore[attr-defined]
            assert len(keys) == len(set(keys))
        finally:
            self.store.close()
            self._dir.cleanup()


def _adjusting(invoice: Invoice, period: BillingPeriod) -> list[InvoiceLine]:
    prefix = f"adjustment for {period}:"
    return [x for x in invoice.lines if x.description.startswith(prefix)]


def _sum(lines: object) -> Money:
    return sum((x.amount for x in lines), usd("0"))  # type: ignore[attr-defined]


class LateUsageIsBilledOnceOnSqlite(LateUsageIsBilledOnce):
    store_kind = "sqlite"


LateUsageIsBilledOnce.TestCase.settings = settings(max_examples=30, stateful_step_count=12)
LateUsageIsBilledOnceOnSqlite.TestCase.settings = settings(max_examples=8, stateful_step_count=10)
test_late_usage_is_billed_once = LateUsageIsBilledOnce.TestCase
test_late_usage_is_billed_once_on_sqlite = LateUsageIsBilledOnceOnSqlite.TestCase


def test_an_issue_that_fails_midway_bills_its_adjustments_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """February's issue fails after its adjustments are priced and marked (a crash before
    the commit): nothing of it is kept, and the issue run again bills them once."""
    from subacct.services import _invoicing

    app, clock = agency(store)
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 7000, "a")], by=SYSTEM)
    to(clock, datetime(2026, 2, 1, tzinfo=UTC))
    app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    app.billing.record_usage([UsageRecord("agencydemo", JAN, "email", 3000, "b")], by=SYSTEM)
    real = _invoicing.record_issued

    def crash(*args: object) -> None:
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(_invoicing, "record_issued", crash)
    with pytest.raises(RuntimeError):
        app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    with app.store.unit_of_work(read_only=True) as uow:
        (late,) = uow.records(LATE_PERIODS).all()
    assert late.pending_for == "agencydemo"
    monkeypatch.setattr(_invoicing, "record_issued", real)
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert adjustments(february) == [("agencydemo", "adjustment for 2026-01: usage", 3000, "15.00")]
    assert app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM) == february
    billed = [e for e in event_log(app.store) if e.event_type == "adjustment_billed"]
    assert len(billed) == 1
