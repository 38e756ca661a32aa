"""Record scope: basic users see only their own messages, inbox replies and report rows."""

from __future__ import annotations

import pytest

from subacct.errors import ActionDenied
from subacct.policy import (
    VIEW_BILLING,
    VIEW_INBOX,
    VIEW_REPORTS,
    ApiKey,
    Grant,
    ImpersonationSession,
    Reason,
    Scope,
    filter_records,
    record_visible,
)

from .helpers import MASTER, SUB1, T0, seed_index

REPLIES = [
    {"id": 1, "owner": "bob"},
    {"id": 2, "owner": "ada"},
    {"id": 3, "owner": None},
    {"id": 4, "owner": "bob"},
]


def owner(record: dict[str, object]) -> str | None:
    return record["owner"]  # type: ignore[return-value]


def ids(records: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in records]


def test_basic_user_sees_only_own_replies_and_report_rows() -> None:
    index = seed_index()
    for action in (VIEW_INBOX, VIEW_REPORTS):
        decision = index.check("bob", action, SUB1)
        assert decision.scope is Scope.OWN
        assert ids(filter_records("bob", decision, REPLIES, owner)) == [1, 4]


def test_advanced_user_and_parent_admin_see_everything() -> None:
    index = seed_index()
    for user in ("ada", "pam"):
        decision = index.check(user, VIEW_INBOX, SUB1)
        assert ids(filter_records(user, decision, REPLIES, owner)) == [1, 2, 3, 4]


def test_denied_sees_nothing() -> None:
    index = seed_index()
    decision = index.check("bob", VIEW_BILLING, MASTER)
    assert filter_records("bob", decision, REPLIES, owner) == []
    assert not record_visible("bob", decision, "bob")


def test_check_record_and_require_record() -> None:
    index = seed_index()
    assert index.check_record("bob", VIEW_INBOX, SUB1, "bob").allowed
    other = index.check_record("bob", VIEW_INBOX, SUB1, "ada")
    assert (other.reason, other.role_id) == (Reason.NOT_RECORD_OWNER, "basic_user")
    assert index.check_record("bob", VIEW_INBOX, SUB1, None).reason is Reason.NOT_RECORD_OWNER
    assert index.check_record("ada", VIEW_INBOX, SUB1, "bob").allowed
    with pytest.raises(ActionDenied) as err:
        index.require_record("bob", VIEW_REPORTS, SUB1, "ada")
    assert err.value.reason == "not_record_owner"
    assert index.require_record("bob", VIEW_REPORTS, SUB1, "bob").scope is Scope.OWN


def test_own_means_the_key_creator_or_the_real_user() -> None:
    index = seed_index()
    key = ApiKey("k1", SUB1, "bot", "bob", [Grant(VIEW_INBOX, Scope.OWN)], T0)
    decision = index.check(key, VIEW_INBOX, SUB1)
    assert ids(filter_records(key, decision, REPLIES, owner)) == [1, 4]
    assert record_visible(key, decision, "bob")
    assert not record_visible(key, decision, "ada")
    session = ImpersonationSession("i1", "pam", SUB1, T0, "basic_user")
    as_basic = index.check(session, VIEW_INBOX, SUB1)
    assert as_basic.scope is Scope.OWN
    assert filter_records(session, as_basic, REPLIES, owner) == []  # pam owns nothing there
