"""The pricing validators accept exactly what the domain's validators accept."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from subacct.domain.ids import check_id
from subacct.errors import InvalidInput
from subacct.pricing import _checks


def accepted(check: object, value: object) -> bool:
    try:
        check(value)  # type: ignore[operator]
    except InvalidInput:
        return False
    return True


@given(st.one_of(st.text(max_size=140), st.integers(), st.none()))
@example("a b")
@example("a\u3000b")
@example("a\u00a0b")
@example("tab\there")
@example("x" * 128)
@example("x" * 129)
@example("")
def test_fast_account_check_agrees_with_check_id(value: object) -> None:
    assert accepted(_checks.account, value) == accepted(check_id, value)
