"""``app.billing`` over storage: the seed examples end to end, idempotent usage, quotas
that count recorded usage, invoices issued once, setup fees, commissions, and who may
see billing (seed 000: sub-accounts cannot see the master's)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from subacct import (
    SYSTEM,
    AccountNotActive,
    ActionDenied,
    BillingPeriod,
    FixedClock,
    IdempotencyConflict,
    Money,
    NotFound,
    Plan,
    PlanLadder,
    Quota,
    QuotaExceeded,
    SetupDiscount,
    SetupFeeSchedule,
    Store,
    Subacct,
    UsageRecord,
)
from subacct.errors import InvalidInput, PeriodAlreadyInvoiced, QuotaCapExceedsParent
from subacct.pricing import BillingMode, LineKind
from subacct.testing.conformance import store_state

from .conftest import T0, event_log, make_app, seed_agency

JAN = BillingPeriod(2026, 1)


def usd(amount: str | int) -> Money:
    return Money(amount, "USD")


SEED000_LADDER = PlanLadder(
    [
        Plan("2,500", 2500, usd(15)),
        Plan("8,500", 8500, usd(45)),
        Plan("12,000", 12000, usd(60)),
        Plan("18,000", 18000, usd(90)),
    ]
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 - timedelta(days=14))  # 2026-01-01


@pytest.fixture
def app(store: Store, clock: FixedClock) -> Subacct:
    a = seed_agency(make_app(store, clock=clock))
    a.billing.set_profile("agencydemo", SEED000_LADDER, by=SYSTEM)
    return a


def seed000_usage(app: Subacct) -> None:
    app.billing.record_usage(
        [
            UsageRecord("agencydemo", JAN, "email", 9000, "m-1"),
            UsageRecord("agency1", JAN, "smtp", 5300, "x-1", "promo"),
            UsageRecord("agency2", JAN, "sms", 1700, "y-1"),
        ],
        by=SYSTEM,
    )


def test_seed000_pooled_bill_is_90_not_120(app: Subacct) -> None:
    seed000_usage(app)
    comparison = app.billing.compare("agencydemo", JAN, by="owner")
    assert dict(comparison.standalone) == {
        "agencydemo": usd(60),
        "agency1": usd(45),
        "agency2": usd(15),
    }
    assert comparison.standalone_total == usd(120)
    assert comparison.pooled_volume == 16000
    assert comparison.pooled_total == usd(90)
    assert comparison.saving == usd(30)
    assert comparison.cheaper is BillingMode.POOLED
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by="owner")
    assert invoice.total == usd("90.00")
    assert [line.account_id for line in invoice.lines] == ["agencydemo", "agency1", "agency2"]
    assert sum((line.amount for line in invoice.lines), usd(0)) == invoice.total


def month_over(clock: FixedClock, period: BillingPeriod) -> None:
    """Move the clock to the first moment after ``period``: its invoice can be issued."""
    clock.advance(period.end - clock.now())


def test_subs_cannot_see_the_masters_billing(app: Subacct, clock: FixedClock) -> None:
    seed000_usage(app)
    month_over(clock, JAN)
    app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    for call in (
        lambda: app.billing.invoices("agencydemo", by="sam"),
        lambda: app.billing.preview_invoices("agencydemo", JAN, by="sam"),
        lambda: app.billing.compare("agencydemo", JAN, by="yara"),
        lambda: app.billing.profile("agencydemo", by="sam"),
        lambda: app.billing.invoices("agencydemo", by="bob"),
    ):
        with pytest.raises(ActionDenied) as err:
            call()
        assert err.value.details["account_id"] == "agencydemo"
    assert [i.period for i in app.billing.invoices("agencydemo", by="owner")] == [JAN]


def test_sub_with_own_payment_details_gets_its_own_invoice(app: Subacct) -> None:
    seed000_usage(app)
    app.billing.set_profile("agency1", SEED000_LADDER, by=SYSTEM)
    invoices = {i.payer_id: i for i in app.billing.preview_invoices("agencydemo", JAN, by="owner")}
    assert invoices["agency1"].total == usd("45.00")
    assert invoices["agencydemo"].total == usd("60.00")  # 10,700 pooled: the 12,000 plan
    app.billing.remove_profile("agency1", by=SYSTEM)
    assert len(app.billing.preview_invoices("agencydemo", JAN, by="owner")) == 1


def test_usage_is_idempotent_and_conflicts_write_nothing(app: Subacct) -> None:
    seed000_usage(app)
    retry = [UsageRecord("agency1", JAN, "smtp", 5300, "x-1", "promo")]
    assert app.billing.record_usage(retry, by=SYSTEM) == 0
    before = app.billing.usage_book(JAN, by=SYSTEM).totals()
    state, events = store_state(app.store), event_log(app.store)
    with pytest.raises(IdempotencyConflict):
        app.billing.record_usage(
            [
                UsageRecord("agency2", JAN, "sms", 10, "y-2"),
                UsageRecord("agency1", JAN, "smtp", 9999, "x-1"),  # same key, other content
            ],
            by=SYSTEM,
        )
    assert app.billing.usage_book(JAN, by=SYSTEM).totals() == before
    assert store_state(app.store) == state
    assert event_log(app.store) == events
    assert app.reports.usage_by_label("agency1", JAN, by="sam") == {"promo": 5300}
    assert app.reports.subtree_usage("agencydemo", JAN, by="owner") == 16000


def test_usage_is_recorded_by_senders_and_told_as_events(app: Subacct) -> None:
    assert app.billing.record_usage([UsageRecord("agency1", JAN, "sms", 3, "b-1")], by="bob") == 1
    with pytest.raises(ActionDenied):  # bob sends in agency1 only
        app.billing.record_usage([UsageRecord("agency2", JAN, "sms", 3, "b-2")], by="bob")
    recorded = event_log(app.store)[-1]
    assert (recorded.event_type, recorded.account_id, recorded.quantity) == (  # type: ignore[attr-defined]
        "usage_recorded",
        "agency1",
        3,
    )


def test_invoice_is_issued_once_with_one_event(app: Subacct, clock: FixedClock) -> None:
    seed000_usage(app)
    month_over(clock, JAN)
    first = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    again = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    assert first == again
    assert app.billing.invoices("agencydemo", by="owner") == [first]
    issued = [e for e in event_log(app.store) if e.event_type == "invoice_finalized"]  # type: ignore[attr-defined]
    assert len(issued) == 1
    assert issued[0].total == usd("90.00")  # type: ignore[attr-defined]
    with pytest.raises(ActionDenied):
        app.billing.finalize_invoice("agencydemo", JAN.next(), by="owner")  # the system's
    with pytest.raises(NotFound):
        app.billing.finalize_invoice("agency1", JAN, by=SYSTEM)  # pooled, not a payer


def test_quotas_refuse_over_quota_sends_unless_overage_is_allowed(app: Subacct) -> None:
    billing = app.billing
    billing.set_quota("agencydemo", Quota(10000), by=SYSTEM)
    billing.set_quota("agency1", Quota(6000), by="owner")
    with pytest.raises(QuotaCapExceedsParent):
        billing.set_quota("agency2", Quota(12000), by="owner")
    with pytest.raises(ActionDenied):  # a sub's quota is its parent's to set
        billing.set_quota("agency1", Quota(9000), by="sam")
    billing.reserve_send("agency1", JAN, 5000, key="s1", by="sam")
    assert billing.reserve_send("agency1", JAN, 5000, key="s1", by="sam").allowed  # retry
    with pytest.raises(QuotaExceeded) as err:
        billing.reserve_send("agency1", JAN, 2000, key="s2", by="sam")
    assert err.value.code == "over_quota"
    assert err.value.details["limit"] == 6000
    with pytest.raises(QuotaExceeded) as err:
        billing.reserve_send("agency2", JAN, 5001, key="s3", by="yara")  # the master's 10,000
    assert err.value.details["limited_by"] == "agencydemo"
    billing.release_send("agency1", JAN, "s1", by="sam")
    assert billing.check_send("agency1", JAN, 6000, by="sam").allowed
    billing.set_quota("agency1", Quota(6000, allow_overage=True), by="owner")
    billing.set_quota("agencydemo", Quota(10000, allow_overage=True), by=SYSTEM)
    assert billing.reserve_send("agency1", JAN, 7000, key="s4", by="sam").overage == 1000
    with pytest.raises(IdempotencyConflict):
        billing.reserve_send("agency1", JAN, 1, key="s4", by="sam")
    assert billing.quota("agency1", by="sam") == Quota(6000, allow_overage=True)


def test_recorded_usage_counts_against_the_quota(app: Subacct) -> None:
    app.billing.set_quota("agency1", Quota(6000), by="owner")
    app.billing.record_usage([UsageRecord("agency1", JAN, "email", 10000, "bulk")], by=SYSTEM)
    check = app.billing.check_send("agency1", JAN, 1, by="sam")
    assert isinstance(check.refusal, QuotaExceeded)
    assert check.refusal.details["used"] == 10000
    with pytest.raises(QuotaExceeded):
        app.billing.reserve_send("agency1", JAN, 1, key="one-more", by="sam")


def test_usage_under_a_reservation_key_settles_it(app: Subacct) -> None:
    app.billing.set_quota("agency1", Quota(1000), by="owner")
    app.billing.reserve_send("agency1", JAN, 600, key="batch-1", by="sam")
    assert not app.billing.check_send("agency1", JAN, 500, by="sam").allowed
    app.billing.record_usage([UsageRecord("agency1", JAN, "sms", 550, "batch-1")], by="sam")
    assert app.billing.check_send("agency1", JAN, 450, by="sam").allowed  # 550 counted, once
    assert not app.billing.check_send("agency1", JAN, 451, by="sam").allowed
    with pytest.raises(NotFound):
        app.billing.release_send("agency1", JAN, "batch-1", by="sam")  # settled already
    released = [e for e in event_log(app.store) if e.event_type == "quota_released"]  # type: ignore[attr-defined]
    assert [(e.key, e.settled) for e in released] == [("batch-1", True)]  # type: ignore[attr-defined]


def test_no_reservation_or_usage_on_an_account_that_cannot_send(app: Subacct) -> None:
    app.accounts.pause("agencydemo", by=SYSTEM)
    for call in (
        lambda: app.billing.reserve_send("agency1", JAN, 1, key="k", by="sam"),
        lambda: app.billing.record_usage([UsageRecord("agency1", JAN, "sms", 1, "u")], by="sam"),
    ):
        with pytest.raises(AccountNotActive) as err:
            call()
        assert err.value.details["inactive_account_id"] == "agencydemo"
    refusal = app.billing.check_send("agency1", JAN, 1, by="sam").refusal
    assert isinstance(refusal, AccountNotActive)
    app.accounts.resume("agencydemo", by=SYSTEM)
    app.accounts.close("agency2", by="owner")
    with pytest.raises(AccountNotActive):
        app.billing.record_usage([UsageRecord("agency2", JAN, "sms", 1, "late")], by=SYSTEM)


def test_setup_fees_with_a_volume_discount(app: Subacct) -> None:
    app.billing.set_profile(
        "agencydemo",
        SEED000_LADDER,
        setup_fees=SetupFeeSchedule(usd(30), [SetupDiscount(3, Decimal(50))]),
        by=SYSTEM,
    )
    app.accounts.create_sub("agencydemo", "Company Z", account_id="agency3", by="owner")
    seed000_usage(app)
    (invoice,) = app.billing.preview_invoices("agencydemo", JAN, by="owner")
    fees = [line.amount for line in invoice.lines if line.kind.value == "setup_fee"]
    assert fees == [usd(30), usd(30), usd(15)]


def test_a_sub_paying_for_itself_still_has_its_setup_fee_billed_to_its_master(
    app: Subacct,
) -> None:
    app.billing.set_profile(
        "agencydemo", SEED000_LADDER, setup_fees=SetupFeeSchedule(usd(30)), by=SYSTEM
    )
    app.billing.set_profile("agency2", SEED000_LADDER, by=SYSTEM)
    invoices = {i.payer_id: i for i in app.billing.preview_invoices("agencydemo", JAN, by=SYSTEM)}
    master_fees = [
        line.account_id for line in invoices["agencydemo"].lines if line.kind.value == "setup_fee"
    ]
    assert master_fees == ["agency1", "agency2"]
    assert not [line for line in invoices["agency2"].lines if line.kind.value == "setup_fee"]


def test_agency_earns_25_percent_of_linked_client_subscription(
    app: Subacct, clock: FixedClock
) -> None:
    app.billing.set_profile("agencydemo", SEED000_LADDER, commission_rate="0.25", by=SYSTEM)
    app.accounts.create_master("Client Co", account_id="client", by=SYSTEM)
    app.links.accept(
        app.links.request("agencydemo", "Client Co", client_id="client", by=SYSTEM)[1], by=SYSTEM
    )
    app.billing.set_profile("client", SEED000_LADDER, by=SYSTEM)
    app.billing.record_usage([UsageRecord("client", JAN, "email", 8000, "c-1")], by=SYSTEM)
    month_over(clock, JAN)
    assert app.billing.finalize_invoice("client", JAN, by=SYSTEM).total == usd("45.00")
    statement = app.billing.commission_statement("agencydemo", JAN, by="owner")
    assert statement.total == usd("11.25")
    assert app.billing.preview_invoices("agencydemo", JAN, by="owner")[0].payer_id == "agencydemo"
    # the agency's administrators see the client's invoices through the link, and do
    # not manage its billing (agency_manager)
    assert [inv.payer_id for inv in app.billing.invoices("client", by="owner")] == ["client"]
    refused = app.policy.check("billing.manage", "client", by="owner")
    assert (refused.code, refused.role_id) == ("role_lacks_action", "agency_manager")


def test_profile_terms_are_checked_before_anything_is_stored(app: Subacct) -> None:
    before = store_state(app.store)
    with pytest.raises(InvalidInput):
        app.billing.set_profile("agency1", SEED000_LADDER, hold_fee=Money(5, "EUR"), by=SYSTEM)
    with pytest.raises(InvalidInput):
        app.billing.set_profile("agency1", SEED000_LADDER, commission_rate="2", by=SYSTEM)
    assert store_state(app.store) == before
    assert app.billing.profile("agency1", by="owner") is None


def test_rights_come_before_idempotency(app: Subacct) -> None:
    """A stranger retrying another tenant's usage learns nothing: it is refused before the
    key is looked at."""
    seed000_usage(app)
    for record in (
        UsageRecord("agency1", JAN, "smtp", 5300, "x-1", "promo"),  # a retry
        UsageRecord("agency1", JAN, "smtp", 1, "x-1"),  # a conflict
    ):
        with pytest.raises(ActionDenied):
            app.billing.record_usage([record], by="yara")


def test_nothing_is_counted_in_a_month_that_has_not_begun(app: Subacct) -> None:
    """Usage, reservations and checks are for the month they happen in (it is January):
    a February record would slip past a January close, so it is refused."""
    feb = JAN.next()
    before = store_state(app.store)
    with pytest.raises(InvalidInput) as err:
        app.billing.record_usage(
            [
                UsageRecord("agency1", JAN, "sms", 1, "ok"),
                UsageRecord("agency1", feb, "sms", 1, "f"),
            ],
            by="sam",
        )
    assert err.value.details["field"] == "records"
    for call in (
        lambda: app.billing.reserve_send("agency1", feb, 5, key="f", by="sam"),
        lambda: app.billing.check_send("agency1", feb, 5, by="sam"),
        lambda: app.billing.finalize_invoice("agencydemo", feb, by=SYSTEM),
    ):
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.details["field"] == "period"
    assert store_state(app.store) == before


def test_a_sub_refused_by_its_masters_quota_is_not_told_the_masters_figures(
    app: Subacct,
) -> None:
    """Seed 000: sub-accounts do not see the master's billing. yara (agency2) is refused
    by agencydemo's limit: she learns which limit refused, not the master's volume."""
    app.billing.set_quota("agencydemo", Quota(10000), by=SYSTEM)
    app.billing.record_usage([UsageRecord("agency1", JAN, "email", 9000, "x-1")], by=SYSTEM)
    for refused in (
        lambda: app.billing.reserve_send("agency2", JAN, 1001, key="y-1", by="yara"),
        lambda: _raise(app.billing.check_send("agency2", JAN, 1001, by="yara").refusal),
    ):
        with pytest.raises(QuotaExceeded) as err:
            refused()
        told = err.value.to_dict()
        assert told["details"]["limited_by"] == "agencydemo"
        assert "limit" not in told["details"]
        assert "used" not in told["details"]
        assert "9000" not in told["message"]
        assert "10000" not in told["message"]
    full = app.billing.check_send("agency2", JAN, 1001, by="owner").refusal  # billing.view
    assert isinstance(full, QuotaExceeded)
    assert (full.details["limit"], full.details["used"]) == (10000, 9000)
    app.billing.set_quota("agency2", Quota(500), by="owner")  # its own limit: told in full
    own = app.billing.check_send("agency2", JAN, 501, by="yara").refusal
    assert isinstance(own, QuotaExceeded)
    assert (own.details["limit"], own.details["used"]) == (500, 0)


def _raise(error: BaseException | None) -> None:
    assert error is not None
    raise error


def test_what_arrives_after_an_issued_invoice_is_billed_on_the_next(
    app: Subacct, clock: FixedClock
) -> None:
    """Issued mid-month (a final invoice, say), January still takes usage and sends for
    the payer's accounts: the issued invoice never changes, and February's invoice bills
    January re-rated, the difference per account line (the 10 messages move the pooled
    shares by a cent, and the pool stays on the $90 plan)."""
    seed000_usage(app)
    issued = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    late = [UsageRecord("agency2", JAN, "sms", 10, "late")]
    assert app.billing.record_usage(late, by=SYSTEM) == 1
    assert app.billing.record_usage(late, by=SYSTEM) == 0  # a replay is answered
    assert app.billing.reserve_send("agency1", JAN, 10, key="late-send", by="sam").overage == 0
    assert app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM) == issued
    (rerated,) = app.billing.preview_invoices("agencydemo", JAN, by="owner")
    assert rerated.total == issued.total == usd("90.00")
    month_over(clock, JAN)
    february = app.billing.finalize_invoice("agencydemo", JAN.next(), by=SYSTEM)
    adjustments = [line for line in february.lines if line.kind is LineKind.ADJUSTMENT]
    assert {line.description for line in adjustments} == {"adjustment for 2026-01: usage"}
    moved = {line.account_id: (line.quantity, str(line.amount)) for line in adjustments}
    assert moved["agency2"][0] == 10
    assert sum((line.amount for line in adjustments), usd("0")) == usd("0.00")
    for line in issued.lines:  # issued + adjustments = January re-rated, per account
        mine = [x.amount for x in adjustments if x.account_id == line.account_id]
        assert sum(mine, line.amount) == rerated.lines_for(line.account_id)[0].amount
    assert app.billing.invoices("agencydemo", by="owner") == [issued, february]


def test_a_month_is_billed_once_whoever_pays_for_the_account_later(
    app: Subacct, clock: FixedClock
) -> None:
    """agencydemo's January bills agency2's 1,700. agency2 then pays for itself, or moves
    to another master: its January is on no other invoice, and takes no more usage."""
    app.accounts.create_master("Other", account_id="other", by=SYSTEM)
    app.billing.set_profile("other", SEED000_LADDER, by=SYSTEM)
    seed000_usage(app)
    month_over(clock, JAN)
    app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    app.billing.set_profile("agency2", SEED000_LADDER, by=SYSTEM)  # pays for itself now
    late = [UsageRecord("agency2", JAN, "sms", 10, "late")]
    with pytest.raises(PeriodAlreadyInvoiced) as err:
        app.billing.record_usage(late, by=SYSTEM)
    assert err.value.details["payer_id"] == "agencydemo"
    with pytest.raises(NotFound):  # nothing of agency2's January is left to bill
        app.billing.finalize_invoice("agency2", JAN, by=SYSTEM)
    assert all(i.payer_id != "agency2" for i in app.billing.preview_invoices(
        "agencydemo", JAN, by=SYSTEM))  # fmt: skip
    app.billing.remove_profile("agency2", by=SYSTEM)
    app.accounts.move("agency2", "other", by=SYSTEM)
    theirs = app.billing.finalize_invoice("other", JAN, by=SYSTEM)  # agency2's January: billed
    assert [line.account_id for line in theirs.lines] == ["other"]
    (again,) = app.billing.invoices("agencydemo", by="owner")
    assert again.total == usd("90.00")
    app.billing.record_usage([UsageRecord("agency2", JAN.next(), "sms", 10, "feb")], by=SYSTEM)
    (february,) = app.billing.preview_invoices("other", JAN.next(), by=SYSTEM)
    assert [line.account_id for line in february.lines] == ["other", "agency2"]


def test_a_send_key_is_its_accounts_own_whatever_characters_either_holds(app: Subacct) -> None:
    """Account ids and send keys may both hold ``/``: account ``t/u`` with key ``v`` and
    account ``t`` with key ``u/v`` are two reservations, released one at a time."""
    app.accounts.create_master("T", account_id="t", by=SYSTEM)
    app.accounts.create_sub("t", "T/U", account_id="t/u", by=SYSTEM)
    app.billing.reserve_send("t/u", JAN, 5, key="v", by=SYSTEM)
    app.billing.reserve_send("t", JAN, 7, key="u/v", by=SYSTEM)
    assert app.billing.release_send("t", JAN, "u/v", by=SYSTEM).quantity == 7
    assert app.billing.release_send("t/u", JAN, "v", by=SYSTEM).quantity == 5
    with pytest.raises(NotFound):
        app.billing.release_send("t", JAN, "u/v", by=SYSTEM)
