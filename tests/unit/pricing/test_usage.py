"""Usage records, idempotent ingestion and aggregation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.errors import (
    HierarchyCycle,
    IdempotencyConflict,
    InvalidInput,
    InvalidQuantity,
    PeriodMismatch,
)
from subacct.pricing import (
    BillingPeriod,
    Channel,
    Dimensions,
    UsageBook,
    UsageRecord,
    subtree_total,
    subtree_totals,
)
from subacct.pricing.usage import fresh_usage
from subacct.testing.pricing_strategies import usage_batches

from .pricing_helpers import JAN


def rec(account: str, qty: int, key: str, label: str | None = None) -> UsageRecord:
    return UsageRecord(account, JAN, Channel.EMAIL, qty, key, label=label)


def test_a_retried_key_counts_once() -> None:
    book = UsageBook(JAN).ingest([rec("a", 10, "k1"), rec("a", 10, "k1")])
    book = book.ingest([rec("a", 10, "k1"), rec("b", 5, "k2")])
    assert book.totals() == {"a": 10, "b": 5}
    assert len(book) == 2
    assert ("a", "k1") in book
    assert ("b", "k1") not in book


def test_a_key_is_its_accounts_own() -> None:
    book = UsageBook(JAN).ingest([rec("a", 10, "k1"), rec("b", 5, "k1")])
    assert book.totals() == {"a": 10, "b": 5}
    assert len(book) == 2
    with pytest.raises(IdempotencyConflict):  # still one record per key in one account
        book.ingest([rec("b", 6, "k1")])


def test_same_key_other_content_is_a_conflict_and_changes_nothing() -> None:
    book = UsageBook(JAN).ingest([rec("a", 10, "k1")])
    with pytest.raises(IdempotencyConflict) as caught:
        book.ingest([rec("b", 3, "k2"), rec("a", 11, "k1")])
    assert caught.value.code == "idempotency_conflict"
    assert caught.value.details["idempotency_key"] == "k1"
    assert book.totals() == {"a": 10}
    assert ("b", "k2") not in book
    with pytest.raises(IdempotencyConflict):  # within one batch too
        UsageBook(JAN).ingest([rec("a", 1, "x"), rec("a", 2, "x")])


@pytest.mark.parametrize("quantity", [-1, 1.5, Decimal("2"), True, "3", None])
def test_negative_or_non_integer_quantity_is_refused(quantity: object) -> None:
    with pytest.raises(InvalidQuantity) as caught:
        UsageRecord("a", JAN, Channel.SMS, quantity, "k")
    assert caught.value.code == "invalid_quantity"


def test_a_record_of_another_period_is_refused_and_nothing_is_ingested() -> None:
    other = UsageRecord("a", JAN.next(), Channel.SMTP, 1, "k2")
    with pytest.raises(PeriodMismatch):
        UsageBook(JAN).ingest([rec("a", 1, "k1"), other])
    equal_not_same = UsageRecord("a", BillingPeriod(2026, 1), Channel.SMTP, 1, "k3")
    assert UsageBook(JAN).ingest([equal_not_same]).total("a") == 1


@pytest.mark.parametrize(
    "build",
    [
        lambda: UsageRecord("a", JAN, "Fax!", 1, "k"),  # a channel's shape is checked
        lambda: UsageRecord("a", JAN, "sms", 1, "k", dimensions={"": "DE"}),
        lambda: UsageRecord("a", JAN, "sms", 1, "k", dimensions={"country": ""}),
        lambda: UsageRecord("a", JAN, "sms", 1, "k", dimensions={f"d{i}": "x" for i in range(9)}),
        lambda: UsageRecord("a", JAN, "sms", 1, "k", dimensions="country"),
        lambda: UsageRecord("a", JAN, "sms", 1, "k", owner_id=""),
        lambda: UsageRecord("a", JAN, Channel.SMS, 1, ""),
        lambda: UsageRecord("", JAN, Channel.SMS, 1, "k"),
        lambda: UsageRecord("a", "2026-01", Channel.SMS, 1, "k"),  # type: ignore[arg-type]
        lambda: UsageRecord("a", JAN, Channel.SMS, 1, "k", label=" "),
        lambda: UsageBook(JAN).ingest([("a", 1)]),  # type: ignore[list-item]
    ],
)
def test_malformed_usage_raises_invalid_input(build: object) -> None:
    with pytest.raises(InvalidInput):
        build()  # type: ignore[operator]


def test_channel_may_be_given_by_value() -> None:
    assert UsageRecord("a", JAN, "sms", 1, "k").channel == Channel.SMS


def test_any_well_formed_channel_name_is_a_channel_in_the_pure_core() -> None:
    # which channels an application offers is its catalog's business (the services)
    record = UsageRecord("a", JAN, "whatsapp", 1, "k")
    assert record.channel == Channel("whatsapp")
    assert isinstance(record.channel, str)


def test_dimensions_and_owner_are_content_of_a_record() -> None:
    de = UsageRecord("a", JAN, "sms", 1, "k", dimensions={"country": "DE"}, owner_id="ann")
    assert de.dimensions == {"country": "DE"}
    assert de.owner_id == "ann"
    assert de == UsageRecord("a", JAN, "sms", 1, "k", dimensions={"country": "DE"}, owner_id="ann")
    assert hash(de.dimensions) == hash(Dimensions({"country": "DE"}))
    plain = UsageRecord("a", JAN, "sms", 1, "k")
    assert plain.dimensions == {}
    assert plain.owner_id is None
    book = UsageBook(JAN).ingest([de])
    for other in (
        plain,
        UsageRecord("a", JAN, "sms", 1, "k", dimensions={"country": "FR"}, owner_id="ann"),
        UsageRecord("a", JAN, "sms", 1, "k", dimensions={"country": "DE"}, owner_id="bob"),
    ):
        with pytest.raises(IdempotencyConflict):
            book.ingest([other])
        with pytest.raises(IdempotencyConflict):
            fresh_usage([other], lambda _: de)


def test_dimensions_are_immutable_and_keyed_canonically() -> None:
    d = Dimensions({"route": "premium", "country": "DE"})
    assert d.key == '{"country":"DE","route":"premium"}' == Dimensions.from_key(d.key).key
    assert list(d) == ["country", "route"]
    assert d["country"] == "DE"
    with pytest.raises(AttributeError):
        d._items = ()  # type: ignore[misc]
    assert d.matches({"country": "DE"})
    assert not d.matches({"country": "FR"})


def test_aggregation_per_label_channel_and_set_of_accounts() -> None:
    book = UsageBook(JAN).ingest(
        [
            rec("a", 10, "k1", "promo"),
            rec("a", 5, "k2"),
            UsageRecord("a", JAN, Channel.SMS, 7, "k3", label="promo"),
            rec("b", 3, "k4"),
        ]
    )
    assert book.by_label("a") == {None: 5, "promo": 17}
    assert book.by_channel("a") == {Channel.EMAIL: 15, Channel.SMS: 7}
    assert book.total_of(["a", "b", "b", "c"]) == 25
    assert [r.idempotency_key for r in book.records()] == ["k1", "k2", "k3", "k4"]


def test_totals_view_is_read_only() -> None:
    book = UsageBook(JAN).ingest([rec("a", 1, "k")])
    with pytest.raises(TypeError):
        book.totals()["a"] = 5  # type: ignore[index]


def test_subtree_rollup_from_a_child_to_parent_mapping() -> None:
    totals = {"m": 9000, "a": 5300, "b": 1700, "a1": 100}
    parents = {"a": "m", "b": "m", "a1": "a"}
    rolled = subtree_totals(totals, parents)
    assert rolled == {"m": 16100, "a": 5400, "b": 1700, "a1": 100}
    assert subtree_total(totals, parents, "a") == 5400
    assert subtree_total(totals, parents, "nobody") == 0
    with pytest.raises(HierarchyCycle):
        subtree_totals(totals, {"a": "b", "b": "a"})


@settings(max_examples=60, deadline=None)
@given(usage_batches(accounts=["m", "s1", "s2", "s3"]))
def test_ingesting_the_same_records_twice_changes_nothing(records: list[UsageRecord]) -> None:
    once = UsageBook(records[0].period if records else JAN).ingest(records)
    twice = once.ingest(records)
    assert dict(twice.totals()) == dict(once.totals())
    assert list(twice.records()) == list(once.records())
    distinct = {r.idempotency_key: r for r in records}
    expected: dict[str, int] = {}
    for r in distinct.values():
        expected[r.account_id] = expected.get(r.account_id, 0) + r.quantity
    assert dict(once.totals()) == expected


@settings(max_examples=40, deadline=None)
@given(usage_batches(), st.integers(0, 40))
def test_ingesting_in_two_batches_equals_one_batch(records: list[UsageRecord], cut: int) -> None:
    period = records[0].period if records else JAN
    whole = UsageBook(period).ingest(records)
    split = UsageBook(period).ingest(records[:cut]).ingest(records[cut:])
    assert dict(split.totals()) == dict(whole.totals())
