import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subacct import Account, AgencyLink, Membership, Money, User
from subacct.domain import AccountId, HierarchyRules
from subacct.errors import AmountOutOfBounds, SchemaError
from subacct.pricing import UsageRecord
from subacct.serialization import structure, unstructure
from subacct.testing.pricing_strategies import usage_records
from subacct.testing.strategies import (
    account_names,
    accounts,
    hierarchies,
    money_amounts,
    organizations,
    timestamps,
)


def roundtrip(obj: object) -> object:
    data = unstructure(obj)
    text = json.dumps(data)  # plain JSON types only
    return structure(json.loads(text), type(obj))


@given(accounts())
def test_account_roundtrip(account: Account) -> None:
    assert roundtrip(account) == account


@given(usage_records())
def test_usage_record_roundtrip_keeps_dimensions_and_owner(record: UsageRecord) -> None:
    back = roundtrip(record)
    assert back == record
    assert isinstance(back, UsageRecord)
    assert back.dimensions == record.dimensions


def test_usage_record_shape_is_stable() -> None:
    from subacct.pricing import BillingPeriod

    record = UsageRecord("a", BillingPeriod(2026, 1), "sms", 2, "k", None, {"country": "DE"}, "ann")
    data = unstructure(record)
    assert data["channel"] == "sms"
    assert data["dimensions"] == {"country": "DE"}
    assert data["owner_id"] == "ann"
    old = {k: v for k, v in data.items() if k not in ("dimensions", "owner_id")}
    assert structure(old, UsageRecord).dimensions == {}  # data written before reads


@given(hierarchies(max_levels=3))
def test_hierarchy_roundtrip(items: list[Account]) -> None:
    assert [roundtrip(a) for a in items] == items


@given(organizations())
def test_users_and_memberships_roundtrip(org: object) -> None:
    for user in org.users:  # type: ignore[attr-defined]
        assert roundtrip(user) == user
    for membership in org.memberships:  # type: ignore[attr-defined]
        assert roundtrip(membership) == membership


@given(timestamps(), account_names())
def test_link_roundtrip(ts: datetime, alias: str) -> None:
    link = AgencyLink(AccountId("a"), AccountId("c"), alias, ts)
    assert roundtrip(link) == link


@given(money_amounts(), st.sampled_from(["USD", "EUR", "JPY"]))
def test_money_roundtrip_is_exact(amount: Decimal, currency: str) -> None:
    """At the bounds too (30 digits): the same amount, in the same form."""
    money = Money(amount, currency)
    back = roundtrip(money)
    assert back == money
    assert str(back.amount) == str(money.amount) == str(amount)  # type: ignore[attr-defined]
    assert unstructure(money) == {"amount": str(money.amount), "currency": currency}


@pytest.mark.parametrize("text", ["1E+18", "-1000000000000000000", "1E-13", "0.0000000000001"])
def test_stored_money_out_of_bounds_does_not_load(text: str) -> None:
    with pytest.raises(SchemaError, match=r"cannot read Money: amount .* has more than"):
        structure({"amount": text, "currency": "EUR"}, Money)
    with pytest.raises(AmountOutOfBounds):
        Money(text, "EUR")


def test_every_shape_carries_the_schema_version() -> None:
    user = User("u1", "a@b.test", "A", datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert unstructure(user)["schema"] == 1
    assert unstructure(HierarchyRules())["schema"] == 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("schema"),
        lambda d: d.update(schema=99),
        lambda d: d.update(extra="field"),
        lambda d: d.update(login="  "),
        lambda d: d.update(created_at="yesterday"),
    ],
)
def test_bad_data_is_refused_with_schema_error(mutate: object) -> None:
    user = User("u1", "a@b.test", "A", datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    data = unstructure(user)
    mutate(data)  # type: ignore[operator]
    with pytest.raises(SchemaError):
        structure(data, User)


def test_membership_shape_is_stable() -> None:
    m = Membership("u1", "a1", "basic_user", datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert unstructure(m) == {
        "schema": 1,
        "user_id": "u1",
        "account_id": "a1",
        "role": "basic_user",
        "created_at": "2026-01-01T00:00:00+00:00",
        "version": 1,
    }
