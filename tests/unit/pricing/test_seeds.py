"""The worked examples of the seeds, exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from subacct.errors import PrerequisitesMissing, QuotaExceeded
from subacct.pricing import (
    BillingMode,
    BillingStructure,
    Channel,
    Commitment,
    LineKind,
    Payer,
    PlanLadder,
    Quota,
    QuotaState,
    SetupDiscount,
    SetupFeeSchedule,
    Subscription,
    UpgradePolicy,
    UpgradeRule,
    UsageBook,
    UsageRecord,
    apply_change,
    approve,
    build_invoices,
    commission_statement,
    commitment_charge,
    compare,
    request_change,
    true_up,
    upgrade_charge,
)

from .pricing_helpers import JAN, usd

SEED000_VOLUMES = {"agencydemo": 9000, "agency1": 5300, "agency2": 1700}


# -- seed 000: JangoMail agency --------------------------------------------------------------


def test_seed000_each_account_alone_needs_the_12000_8500_and_2500_plans(
    ladder: PlanLadder,
) -> None:
    plans = {a: ladder.plan_for(v).name for a, v in SEED000_VOLUMES.items()}
    assert plans == {"agencydemo": "12,000", "agency1": "8,500", "agency2": "2,500"}


def test_seed000_pooled_bill_is_90_not_120(ladder: PlanLadder) -> None:
    result = compare(ladder, SEED000_VOLUMES)
    assert dict(result.standalone) == {
        "agency1": usd(45),
        "agency2": usd(15),
        "agencydemo": usd(60),
    }
    assert result.standalone_total == usd(120)
    assert result.pooled_volume == 16000
    assert ladder.plan_for(16000).name == "18,000"
    assert result.pooled_total == usd(90)
    assert result.saving == usd(30)
    assert result.cheaper is BillingMode.POOLED


def test_seed000_pooled_invoice_shows_each_account_and_totals_90(ladder: PlanLadder) -> None:
    structure = BillingStructure.pooled("agencydemo", ["agency1", "agency2"], ladder)
    (invoice,) = build_invoices(structure, SEED000_VOLUMES, JAN)
    assert invoice.payer_id == "agencydemo"
    assert [(line.account_id, line.quantity) for line in invoice.lines] == [
        ("agencydemo", 9000),
        ("agency1", 5300),
        ("agency2", 1700),
    ]
    # $90 pro rata by volume: 50.625, 29.8125, 9.5625 -> largest remainder gives 50.63.
    assert [line.amount for line in invoice.lines] == [usd("50.63"), usd("29.81"), usd("9.56")]
    assert invoice.total == usd("90.00")


def test_seed000_base_commitment_bills_the_plan_reached_never_less_than_the_base(
    ladder: PlanLadder,
) -> None:
    base = Commitment(5000)  # covered by the 8,500 plan: $45
    assert commitment_charge(ladder, base, 16000).charge == usd(90)  # no penalty: plan reached
    assert commitment_charge(ladder, base, 2000).charge == usd(45)  # never less than the base
    low = commitment_charge(ladder, base, 2000)
    assert (low.reached, low.top_up) == (usd(15), usd(30))


def test_seed000_unused_commitment_does_not_carry_over(ladder: PlanLadder) -> None:
    structure = BillingStructure(
        [Payer("agencydemo", ladder, Commitment(5000))], {"agency1": "agencydemo"}
    )
    (quiet_month,) = build_invoices(structure, {"agencydemo": 1000}, JAN)
    (busy_month,) = build_invoices(structure, {"agencydemo": 9000, "agency1": 7000}, JAN.next())
    assert quiet_month.total == usd(45)
    commitment_lines = [line for line in quiet_month.lines if line.kind is LineKind.COMMITMENT]
    assert [line.amount for line in commitment_lines] == [usd(30)]
    assert busy_month.total == usd(90)  # the unused 4,000 of January bought nothing


def test_seed000_setup_fee_is_30_per_sub_with_a_configurable_discount() -> None:
    plain = SetupFeeSchedule(usd(30))
    assert plain.total(2) == usd(60)
    discounted = SetupFeeSchedule(usd(30), [SetupDiscount(3, 50)])
    assert [discounted.fee_for(n) for n in (1, 2, 3, 4)] == [usd(30), usd(30), usd(15), usd(15)]
    assert discounted.total(2, already=1) == usd(45)


# -- seed 001: JangoMail plans ----------------------------------------------------------------


def test_seed001_fluctuating_volume_pays_45000_plan_minus_30000_plan(
    big_ladder: PlanLadder,
) -> None:
    charge = true_up(big_ladder, 30000, 40000)
    assert big_ladder.plan_for(40000).name == "45,000"
    assert charge == big_ladder.plan_named("45,000").price - big_ladder.plan_named("30,000").price
    assert charge == usd(55)  # $190 - $135
    assert true_up(big_ladder, 30000, 29000) == usd(0)


def test_seed001_prepaid_invoice_totals_the_true_up(big_ladder: PlanLadder) -> None:
    structure = BillingStructure([Payer("acme", big_ladder, Commitment(30000, prepaid=True))])
    (invoice,) = build_invoices(structure, {"acme": 40000}, JAN)
    kinds = [(line.kind, line.amount) for line in invoice.lines]
    assert kinds == [(LineKind.USAGE, usd(190)), (LineKind.PREPAID, usd(-135))]
    assert invoice.total == usd(55)


def test_seed001_true_up_equals_a_mid_month_upgrade(big_ladder: PlanLadder) -> None:
    sub = Subscription("acme", "30,000")
    change = request_change(sub, big_ladder, "45,000", JAN, request_id="up-1")
    approved = approve(change, ladder=big_ladder, policy=UpgradePolicy(), satisfied=(), period=JAN)
    assert upgrade_charge(big_ladder, approved) == true_up(big_ladder, 30000, 40000)


def test_seed001_over_quota_send_is_refused_with_a_typed_reason() -> None:
    state = QuotaState(JAN, quotas={"acme": Quota(30000)}).reserve("acme", 29000, key="s1")
    with pytest.raises(QuotaExceeded) as caught:
        state.reserve("acme", 2000, key="s2")
    err = caught.value
    assert err.code == "over_quota"
    assert err.details["account_id"] == "acme"
    assert (err.details["limit"], err.details["used"], err.details["requested"]) == (
        30000,
        29000,
        2000,
    )


def test_seed001_fluctuating_volume_lets_the_send_through_and_bills_the_true_up(
    big_ladder: PlanLadder,
) -> None:
    state = QuotaState(JAN, quotas={"acme": Quota(30000, allow_overage=True)})
    state = state.reserve("acme", 29000, key="s1")
    check = state.check("acme", 11000)
    assert check.allowed
    assert check.overage == 10000
    state = state.reserve("acme", 11000, key="s2")
    assert true_up(big_ladder, 30000, state.used("acme")) == usd(55)


def test_seed001_upgrade_needs_spf_and_dkim_before_approval(big_ladder: PlanLadder) -> None:
    policy = UpgradePolicy([UpgradeRule(30000, {"spf_verified", "dkim_verified"})])
    sub = Subscription("acme", "12,000")
    change = request_change(sub, big_ladder, "30,000", JAN, request_id="up-1")
    assert change.status.value == "pending"
    with pytest.raises(PrerequisitesMissing) as caught:
        approve(change, ladder=big_ladder, policy=policy, satisfied={"spf_verified"}, period=JAN)
    assert caught.value.code == "prerequisites_missing"
    assert caught.value.details["missing"] == ["dkim_verified"]
    ok = approve(
        change,
        ladder=big_ladder,
        policy=policy,
        satisfied={"spf_verified", "dkim_verified"},
        period=JAN,
    )
    assert apply_change(sub, ok).plan == "30,000"


# -- seed 002: Benchmark agency ---------------------------------------------------------------


def test_seed002_agency_earns_25_percent_of_each_linked_client_subscription(
    ladder: PlanLadder,
) -> None:
    structure = BillingStructure([Payer("client-a", ladder), Payer("client-b", ladder)])
    invoices = build_invoices(structure, {"client-a": 9000, "client-b": 1700}, JAN)
    statement = commission_statement(
        "agency", JAN, Decimal("0.25"), invoices, linked_clients={"client-a", "client-b"}
    )
    assert [(line.client_id, line.subscription, line.commission) for line in statement.lines] == [
        ("client-a", usd("60.00"), usd("15.00")),
        ("client-b", usd("15.00"), usd("3.75")),
    ]
    assert statement.total == usd("18.75")


def test_seed002_linked_clients_are_billed_separately(ladder: PlanLadder) -> None:
    structure = BillingStructure(
        [Payer("agency", ladder), Payer("client", ladder)], {"sub": "agency"}
    )
    invoices = build_invoices(structure, {"agency": 100, "sub": 100, "client": 100}, JAN)
    assert [inv.payer_id for inv in invoices] == ["agency", "client"]
    assert structure.mode_of("client") is BillingMode.STANDALONE
    assert structure.mode_of("sub") is BillingMode.POOLED


# -- seeds 003 and 004: own invoices, labels, lines per department -----------------------------


def test_seed003_creating_a_sub_is_free_and_a_sub_with_own_payment_gets_its_own_invoice(
    ladder: PlanLadder,
) -> None:
    assert SetupFeeSchedule.free("EUR").total(25).is_zero()
    structure = BillingStructure(
        [Payer("main", ladder), Payer("shop", ladder)], {"shop": "main", "dept": "main"}
    )
    main, shop = build_invoices(structure, {"main": 1000, "dept": 1000, "shop": 3000}, JAN)
    assert (main.payer_id, main.total) == ("main", usd(15))
    assert (shop.payer_id, shop.total) == ("shop", usd(45))
    assert [line.account_id for line in main.lines] == ["main", "dept"]


def test_seed003_labels_split_a_subs_usage_for_analysis() -> None:
    records = [
        UsageRecord("marketing", JAN, Channel.SMS, 400, "k1", label="spring-campaign"),
        UsageRecord("marketing", JAN, Channel.SMS, 100, "k2", label="newsletter"),
        UsageRecord("marketing", JAN, Channel.SMS, 50, "k3"),
    ]
    book = UsageBook(JAN).ingest(records)
    assert book.by_label("marketing") == {None: 50, "newsletter": 100, "spring-campaign": 400}
    assert book.total("marketing") == 550


def test_seed004_each_department_has_its_own_invoice_line(ladder: PlanLadder) -> None:
    departments = ["finance", "marketing", "rostering", "sales"]
    structure = BillingStructure.pooled("parent", departments, ladder)
    usage = {"marketing": 4000, "sales": 3000, "finance": 500, "rostering": 500}
    (invoice,) = build_invoices(structure, usage, JAN)
    assert [line.account_id for line in invoice.lines] == ["parent", *departments]
    assert invoice.total == usd(45)
    assert invoice.lines_for("marketing")[0].amount == usd("22.50")
    assert invoice.lines_for("parent")[0].amount == usd(0)
