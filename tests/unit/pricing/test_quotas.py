"""Quotas: limits, parent caps, typed refusals, idempotent reservations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.domain import AccountId
from subacct.errors import (
    HierarchyCycle,
    IdempotencyConflict,
    InvalidInput,
    InvalidQuantity,
    QuotaCapExceedsParent,
    QuotaExceeded,
    ReservationNotFound,
)
from subacct.pricing import Quota, QuotaState

from .pricing_helpers import JAN


def tree() -> QuotaState:
    return QuotaState(
        JAN,
        parents={"agency1": "agencydemo", "agency2": "agencydemo"},
        quotas={"agencydemo": Quota(10_000), "agency1": Quota(6_000)},
    )


def test_a_subs_send_counts_against_its_cap_and_its_parents_limit() -> None:
    state = tree().reserve("agency1", 5_000, key="a")
    assert (state.used("agency1"), state.used("agencydemo")) == (5_000, 5_000)
    assert state.remaining("agency1") == 1_000
    assert state.remaining("agency2") == 5_000  # no cap of its own: the parent's room
    state = state.reserve("agency2", 5_000, key="b")
    refusal = state.check("agency2", 1).refusal
    assert refusal is not None
    assert refusal.details["limited_by"] == "agencydemo"
    assert refusal.details["account_id"] == "agency2"


def test_refused_reservation_raises_over_quota_and_changes_nothing() -> None:
    state = tree().reserve("agency1", 5_000, key="a")
    with pytest.raises(QuotaExceeded) as caught:
        state.reserve("agency1", 1_001, key="b")
    assert caught.value.to_dict()["details"] | {} == {
        "account_id": "agency1",
        "limit": 6_000,
        "used": 5_000,
        "requested": 1_001,
        "limited_by": "agency1",
        "period": "2026-01",
    }
    assert state.used("agency1") == 5_000
    assert state.reserve("agency1", 1_000, key="b").remaining("agency1") == 0


def test_a_sub_cap_can_never_exceed_its_parents_limit() -> None:
    with pytest.raises(QuotaCapExceedsParent) as caught:
        tree().with_quota("agency2", Quota(10_001))
    assert caught.value.code == "quota_cap_exceeds_parent"
    assert tree().with_quota("agency2", Quota(10_000)).quotas[AccountId("agency2")].limit == 10_000
    with pytest.raises(QuotaCapExceedsParent):  # nor can the parent drop below a cap
        tree().with_quota("agencydemo", Quota(5_999))
    with pytest.raises(QuotaCapExceedsParent):
        QuotaState(JAN, parents={"s": "m"}, quotas={"m": Quota(5), "s": Quota(6)})


def test_overage_allowed_lets_sends_through_and_reports_the_excess() -> None:
    state = QuotaState(JAN, quotas={"m": Quota(100, allow_overage=True)})
    state = state.reserve("m", 90, key="1")
    check = state.check("m", 30)
    assert check.allowed
    assert check.overage == 20
    assert state.reserve("m", 30, key="2").used("m") == 120
    assert state.remaining("m") is None


def test_a_hard_sub_cap_still_binds_under_a_parent_with_overage() -> None:
    state = QuotaState(
        JAN, parents={"s": "m"}, quotas={"m": Quota(100, allow_overage=True), "s": Quota(50)}
    )
    with pytest.raises(QuotaExceeded):
        state.reserve("s", 51, key="1")


def test_reservations_are_idempotent_and_can_be_released() -> None:
    state = tree().reserve("agency1", 100, key="k")
    assert state.reserve("agency1", 100, key="k") is state
    with pytest.raises(IdempotencyConflict):
        state.reserve("agency1", 101, key="k")
    released = state.release("k")
    assert released.used("agencydemo") == 0
    with pytest.raises(ReservationNotFound):
        released.release("k")


def test_next_period_starts_from_zero() -> None:
    state = tree().reserve("agency1", 6_000, key="k")
    fresh = state.for_period(JAN.next())
    assert fresh.used("agency1") == 0
    assert fresh.period == JAN.next()
    assert fresh.quotas == state.quotas


@pytest.mark.parametrize(
    "call",
    [
        lambda: tree().check("agency1", -1),
        lambda: tree().check("agency1", 1.5),  # type: ignore[arg-type]
        lambda: Quota(-1),
        lambda: Quota(10, allow_overage="yes"),  # type: ignore[arg-type]
        lambda: QuotaState(JAN, quotas={"m": 100}),
        lambda: tree().reserve("agency1", 1, key=""),
    ],
)
def test_bad_input_raises_invalid_input(call: object) -> None:
    with pytest.raises(InvalidInput):
        call()  # type: ignore[operator]


def test_cycles_are_refused() -> None:
    with pytest.raises(HierarchyCycle):
        QuotaState(JAN, parents={"a": "b", "b": "a"})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["agencydemo", "agency1", "agency2"]),
                          st.integers(0, 4_000)), max_size=20))  # fmt: skip
def test_reservations_never_take_a_hard_limit_past_its_limit(
    sends: list[tuple[str, int]],
) -> None:
    state = tree()
    own = 0  # what the master sent itself
    for i, (account, n) in enumerate(sends):
        decision = state.check(account, n)
        if decision.refusal is None:
            state = state.reserve(account, n, key=f"k{i}")
            own += n if account == "agencydemo" else 0
            continue
        assert decision.refusal.details["used"] + n > decision.refusal.details["limit"]
        with pytest.raises(QuotaExceeded):
            state.reserve(account, n, key=f"k{i}")
    assert state.used("agencydemo") <= 10_000
    assert state.used("agency1") <= 6_000
    assert state.used("agencydemo") == own + state.used("agency1") + state.used("agency2")


def test_invalid_quantity_code_is_stable() -> None:
    with pytest.raises(InvalidQuantity) as caught:
        tree().check("agency1", -3)
    assert caught.value.code == "invalid_quantity"


@given(
    sends=st.lists(
        st.tuples(
            st.sampled_from(["m", "s1", "s2"]),
            st.integers(0, 500),
            st.sampled_from([None, "k1", "k2", "k3"]),
        ),
        max_size=12,
    )
)
def test_record_many_is_record_one_after_another(
    sends: list[tuple[str, int, str | None]],
) -> None:
    state = QuotaState(JAN, parents={"s1": "m", "s2": "m"}, quotas={"m": Quota(2000)})
    state = state.reserve("s1", 100, key="k1").reserve("s2", 50, key="k2")
    folded = state
    for account, quantity, settles in sends:
        folded = folded.record(account, quantity, settles=settles)
    batched = state.record_many(sends)
    assert dict(batched.counts()) == dict(folded.counts())
    assert [batched.reservation(k) for k in ("k1", "k2", "k3")] == [
        folded.reservation(k) for k in ("k1", "k2", "k3")
    ]
