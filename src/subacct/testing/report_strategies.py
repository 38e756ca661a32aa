"""Hypothesis strategies for usage report rows (``subacct.pricing.reports``).

>>> from subacct.testing.report_strategies import usage_rows
>>> strategy = usage_rows(["agency1", "agency2"], ["ann", "bob"])
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from subacct.domain import AccountId, UserId
from subacct.pricing.reports import UsageRow

__all__ = ["CHANNELS", "LABELS", "PERIODS", "usage_row", "usage_rows"]

CHANNELS: tuple[str, ...] = ("email", "smtp", "sms")
LABELS: tuple[str, ...] = ("marketing", "sales", "finance", "rostering")
PERIODS: tuple[str, ...] = ("2026-01", "2026-02", "2026-03")


def usage_row(
    account_ids: Sequence[AccountId], user_ids: Sequence[UserId]
) -> st.SearchStrategy[UsageRow]:
    """One row of an account in ``account_ids``, sent by one of ``user_ids`` or the system."""
    if not account_ids:
        raise ValueError("usage_row() needs at least one account id")
    owners: st.SearchStrategy[UserId | None] = st.none()
    if user_ids:
        owners = st.one_of(st.none(), st.sampled_from(list(user_ids)))
    return st.builds(
        UsageRow,
        account_id=st.sampled_from(list(account_ids)),
        period=st.sampled_from(PERIODS),
        channel=st.sampled_from(CHANNELS),
        label=st.one_of(st.none(), st.sampled_from(LABELS)),
        owner_id=owners,
        quantity=st.integers(min_value=0, max_value=100_000),
    )


def usage_rows(
    account_ids: Sequence[AccountId], user_ids: Sequence[UserId], *, max_rows: int = 30
) -> st.SearchStrategy[list[UsageRow]]:
    """A list of rows (duplicates allowed: a report sums them)."""
    return st.lists(usage_row(account_ids, user_ids), max_size=max_rows)
