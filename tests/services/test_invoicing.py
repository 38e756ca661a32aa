"""``app.billing``'s invoice lifecycle over storage: drafts, finalizing (numbers, dates,
re-pricing), void, credit notes, payments, ``close_period`` (idempotent, resumable after
a crash) and numbers taken by concurrent finalizations."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from subacct import (
    SYSTEM,
    BillingPeriod,
    FixedClock,
    Settings,
    SqliteStore,
    Store,
    Subacct,
    UsageRecord,
)
from subacct.errors import (
    ActionDenied,
    CreditExceedsInvoice,
    IdempotencyConflict,
    InvoiceFinalized,
    InvoiceNotFound,
    InvoiceStateError,
    Overpayment,
)
from subacct.pricing import InvoiceStatus, LineKind, PaymentTerms
from subacct.testing.conformance import store_state

from .conftest import event_log, make_app, seed_agency
from .test_billing import JAN, SEED000_LADDER, usd

FEB = BillingPeriod(2026, 2)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def app(store: Store, clock: FixedClock) -> Subacct:
    a = seed_agency(make_app(store, clock=clock))
    a.billing.set_profile("agencydemo", SEED000_LADDER, by=SYSTEM)
    a.billing.record_usage(
        [
            UsageRecord("agencydemo", JAN, "email", 9000, "m-1"),
            UsageRecord("agency1", JAN, "smtp", 5300, "x-1"),
        ],
        by=SYSTEM,
    )
    clock.advance(datetime(2026, 2, 1, 9, tzinfo=UTC) - clock.now())
    return a


def _types(app: Subacct) -> list[str]:
    return [e.event_type for e in event_log(app.store)]  # type: ignore[attr-defined]


def test_seed000_month_end_draft_then_finalize_prices_what_came_in_between(app: Subacct) -> None:
    draft = app.billing.draft_invoice("agencydemo", JAN, by=SYSTEM)
    assert (draft.status, draft.number, draft.total) == (InvoiceStatus.DRAFT, None, usd("90.00"))
    late = [UsageRecord("agency2", JAN, "sms", 1700, "y-1")]
    assert app.billing.record_usage(late, by=SYSTEM) == 1  # a draft does not close January
    app.billing.set_payment_terms("agencydemo", PaymentTerms(14), by=SYSTEM)
    invoice = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM)
    assert (invoice.status, invoice.number) == (InvoiceStatus.FINALIZED, "agencydemo-00001")
    assert [line.quantity for line in invoice.lines] == [9000, 5300, 1700]  # nothing dropped
    assert invoice.total == usd("90.00")  # 16,000 pooled: the 18,000 plan
    assert (invoice.issued_at, invoice.due_date) == (
        datetime(2026, 2, 1, 9, tzinfo=UTC),
        date(2026, 2, 15),
    )
    assert app.billing.invoice("agencydemo-00001", by="owner") == invoice
    assert app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM) == invoice  # once
    before = store_state(app.store)
    with pytest.raises(InvoiceFinalized):
        app.billing.draft_invoice("agencydemo", JAN, by=SYSTEM)
    assert store_state(app.store) == before
    late = [UsageRecord("agency2", JAN, "sms", 1, "y-2")]  # billed on February's invoice
    assert app.billing.record_usage(late, by=SYSTEM) == 1
    assert app.billing.invoice("agencydemo-00001", by="owner") == invoice  # unchanged
    assert _types(app).count("invoice_finalized") == 1
    assert "invoice_drafted" in _types(app)
    with pytest.raises(ActionDenied):
        app.billing.invoice("agencydemo-00001", by="sam")  # subs cannot see it (seed 000)
    with pytest.raises(InvoiceNotFound):
        app.billing.invoice("agencydemo-00002", by="owner")


def test_credit_notes_payments_and_balance(app: Subacct) -> None:
    number = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM).number
    assert number is not None
    note = app.billing.issue_credit_note(
        number, reason="outage on 12 January", lines={1: usd("9.81")}, by=SYSTEM
    )
    assert (note.number, note.amount, note.refund) == ("agencydemo-CN-00001", usd("9.81"), usd(0))
    with pytest.raises(CreditExceedsInvoice):
        app.billing.issue_credit_note(number, reason="r", lines={1: usd("23.56")}, by=SYSTEM)
    assert app.billing.invoice(number, by=SYSTEM).balance == usd("80.19")
    with pytest.raises(Overpayment):
        app.billing.record_payment(number, usd("80.20"), reference="ch_1", by=SYSTEM)
    half = app.billing.record_payment(number, usd(40), reference="ch_1", by=SYSTEM)
    assert app.billing.record_payment(number, usd(40), reference="ch_1", by=SYSTEM) == half
    with pytest.raises(IdempotencyConflict):
        app.billing.record_payment(number, usd(41), reference="ch_1", by=SYSTEM)
    paid = app.billing.record_payment(number, usd("40.19"), reference="ch_2", by=SYSTEM)
    assert (paid.status, paid.balance) == (InvoiceStatus.PAID, usd(0))
    assert [p.reference for p in app.billing.payments(number, by="owner")] == ["ch_1", "ch_2"]
    assert app.billing.credit_notes(number, by="owner") == [note]
    with pytest.raises(InvoiceStateError):
        app.billing.void_invoice(number, reason="paid already", by=SYSTEM)
    assert _types(app).count("payment_recorded") == 2
    assert _types(app).count("invoice_paid") == 1
    with pytest.raises(ActionDenied):
        app.billing.record_payment(number, usd(1), reference="x", by="owner")  # the host's


def test_void_keeps_the_number_and_the_next_invoice_takes_the_next_one(
    app: Subacct, clock: FixedClock
) -> None:
    number = app.billing.finalize_invoice("agencydemo", JAN, by=SYSTEM).number
    voided = app.billing.void_invoice(str(number), reason="billed in error", by=SYSTEM)
    assert (voided.status, voided.number, voided.balance) == (
        InvoiceStatus.VOID,
        "agencydemo-00001",
        usd(0),
    )
    # the period stays closed for the payer: a late arrival is an adjustment of the
    # difference it makes, never January billed again
    late = [UsageRecord("agency2", JAN, "sms", 1, "y-9")]
    assert app.billing.record_usage(late, by=SYSTEM) == 1
    assert app.billing.invoice(str(number), by=SYSTEM) == voided
    with pytest.raises(InvoiceStateError):
        app.billing.record_payment(str(number), usd(1), reference="p", by=SYSTEM)
    clock.advance(datetime(2026, 3, 1, tzinfo=UTC) - clock.now())
    february = app.billing.finalize_invoice("agencydemo", FEB, by=SYSTEM)
    assert february.number == "agencydemo-00002"
    adjusted = [x for x in february.lines if x.kind is LineKind.ADJUSTMENT]
    assert sum(x.quantity for x in adjusted) == 1  # 14,301 pooled: still the $90 plan
    assert sum((x.amount for x in adjusted), usd(0)) == usd(0)


def test_close_period_finalizes_every_payer_once(app: Subacct) -> None:
    app.accounts.create_master("Client", account_id="client", by=SYSTEM)
    app.billing.set_profile("client", SEED000_LADDER, by=SYSTEM)
    app.billing.set_profile("agency2", SEED000_LADDER, by=SYSTEM)  # a standalone sub
    app.billing.draft_invoice("agencydemo", JAN, by=SYSTEM)
    first = app.billing.close_period(JAN, by=SYSTEM)
    assert (first.finalized, first.already, first.changed) == (2, 0, True)
    assert first.numbers == ("agency2-00001", "agencydemo-00001")  # client: created in February
    again = app.billing.close_period(JAN, by=SYSTEM)
    assert (again.finalized, again.already, again.changed) == (0, 2, False)
    assert _types(app).count("invoice_finalized") == 2
    with pytest.raises(ActionDenied):
        app.billing.close_period(JAN, by="owner")


# -- numbers under concurrency, and a close cut short ------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_finalizations_share_and_skip_no_number(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    def open_store() -> Any:
        if kind == "sqlite":
            return SqliteStore(tmp_path / "race.db", timeout=30)
        from subacct.storage.postgres import PostgresStore

        return PostgresStore(request.getfixturevalue("pg_cluster").conninfo(), schema=schema)

    schema = request.getfixturevalue("pg_schema") if kind == "postgres" else ""
    first = open_store()
    setup = Subacct(first, Settings(clock=FixedClock(T0)))
    setup.accounts.create_master("Acme", account_id="acme", by=SYSTEM)
    setup.billing.set_profile("acme", SEED000_LADDER, by=SYSTEM)
    months = [BillingPeriod(2026, m) for m in range(1, 7)]
    stores = [open_store() for _ in months]
    numbers: list[str | None] = []
    lock = threading.Lock()
    later = FixedClock(datetime(2026, 7, 1, tzinfo=UTC))

    def finalize(n: int) -> None:
        mine = Subacct(stores[n], Settings(clock=later, max_attempts=100))
        for period in (months[n], months[-1 - n]):  # each month twice, from two threads
            invoice = mine.billing.finalize_invoice("acme", period, by=SYSTEM)
            with lock:
                numbers.append(invoice.number)

    threads = [threading.Thread(target=finalize, args=(n,)) for n in range(len(months))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(numbers) == 12
    assert sorted(set(numbers)) == [f"acme-{n:05d}" for n in range(1, 7)]  # type: ignore[type-var]
    stored = setup.billing.invoices("acme", by=SYSTEM)
    assert sorted(str(i.number) for i in stored) == [f"acme-{n:05d}" for n in range(1, 7)]
    for store in [first, *stores]:
        store.close()


_CRASHING_CLOSE = textwrap.dedent(
    """
    import os, sys
    from datetime import UTC, datetime
    from subacct import SYSTEM, BillingPeriod, FixedClock, Settings, SqliteStore, Subacct
    from subacct.services import _invoice_lifecycle

    real, done = _invoice_lifecycle.close_tree, []

    def close_tree(*args, **kwargs):
        if len(done) == int(sys.argv[2]):
            os._exit(9)  # killed: no clean-up, no commit of the unit under way
        done.append(1)
        return real(*args, **kwargs)

    _invoice_lifecycle.close_tree = close_tree
    march = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    app = Subacct(SqliteStore(sys.argv[1]), Settings(clock=march))
    app.billing.close_period(BillingPeriod(2026, 2), by=SYSTEM)
    """
)


def test_close_period_killed_midway_resumes_with_every_invoice_issued_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "close.db"
    store = SqliteStore(path)
    clock = FixedClock(T0)
    app = Subacct(store, Settings(clock=clock))
    payers = []
    for m in range(6):
        master = f"m{m}"
        app.accounts.create_master(f"Master {m}", account_id=master, by=SYSTEM)
        app.accounts.create_sub(master, "Sub", account_id=f"{master}s", by=SYSTEM)
        app.billing.set_profile(master, SEED000_LADDER, by=SYSTEM)
        payers.append(master)
        if m % 2:
            app.billing.set_profile(f"{master}s", SEED000_LADDER, by=SYSTEM)  # standalone
            payers.append(f"{master}s")
    for period in (JAN, FEB):
        clock.advance(period.start - clock.now())
        records = [UsageRecord(p, period, "sms", 100, f"u-{p}") for p in payers]
        app.billing.record_usage(records, by=SYSTEM)
    store.close()
    later = Subacct(SqliteStore(path), Settings(clock=FixedClock(datetime(2026, 3, 1, tzinfo=UTC))))
    assert later.billing.close_period(JAN, by=SYSTEM).finalized == len(payers)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run(
        [sys.executable, "-c", _CRASHING_CLOSE, str(path), "3"], env=env, capture_output=True
    )
    assert run.returncode == 9, run.stderr.decode()[-2000:]
    cut = [i for p in payers for i in later.billing.invoices(p, by=SYSTEM) if i.period == FEB]
    assert 0 < len(cut) < len(payers)  # three trees closed whole, the rest untouched
    assert all(i.status is InvoiceStatus.FINALIZED for i in cut)
    rerun = later.billing.close_period(FEB, by=SYSTEM)
    assert (rerun.already, rerun.finalized) == (len(cut), len(payers) - len(cut))
    for payer in payers:
        numbers = [i.number for i in later.billing.invoices(payer, by=SYSTEM)]
        assert numbers == [f"{payer}-00001", f"{payer}-00002"]  # gapless, once each
    finalized = [e for e in event_log(later.store) if e.event_type == "invoice_finalized"]  # type: ignore[attr-defined]
    assert len(finalized) == 2 * len(payers)
    assert later.billing.close_period(FEB, by=SYSTEM).changed is False
