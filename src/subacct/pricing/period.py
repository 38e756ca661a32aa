"""Billing periods: one calendar month in UTC, named by the caller (the core has no clock).

>>> from datetime import datetime, UTC
>>> from subacct.pricing import BillingPeriod
>>> jan = BillingPeriod(2026, 1)
>>> str(jan), str(jan.next()), str(BillingPeriod.parse("2025-12").next())
('2026-01', '2026-02', '2026-01')
>>> jan < jan.next()
True
>>> BillingPeriod.of(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == jan, jan.end == jan.next().start
(True, True)
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from subacct.domain._validate import utc_timestamp
from subacct.errors import InvalidInput, quoted

__all__ = ["BillingPeriod"]


def _year(value: object) -> int:
    if type(value) is not int or not 1 <= value <= 9999:
        raise InvalidInput(
            f"year must be an integer from 1 to 9999, got {quoted(value)}", field="year"
        )
    return value


def _month(value: object) -> int:
    if type(value) is not int or not 1 <= value <= 12:
        raise InvalidInput(
            f"month must be an integer from 1 to 12, got {quoted(value)}", field="month"
        )
    return value


@attrs.frozen(order=True, cache_hash=True)
class BillingPeriod:
    """A billing month. Usage, quotas and invoices are kept per period; nothing carries over."""

    year: int = attrs.field(converter=_year)
    month: int = attrs.field(converter=_month)

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        """Read ``"YYYY-MM"``."""
        parts = text.split("-") if isinstance(text, str) and len(text) <= 10 else []
        if len(parts) != 2 or not all(p.isdigit() and p.isascii() for p in parts):
            raise InvalidInput(
                f"period must look like 'YYYY-MM', got {quoted(text)}", field="period"
            )
        return cls(int(parts[0]), int(parts[1]))

    @classmethod
    def of(cls, moment: datetime) -> BillingPeriod:
        """The month ``moment`` falls in (in UTC)."""
        at = utc_timestamp(moment, field="moment")
        return cls(at.year, at.month)

    @property
    def start(self) -> datetime:
        """The first moment of the month (UTC)."""
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the month (UTC): periods are ``[start, end)``."""
        following = self.next() if (self.year, self.month) != (9999, 12) else None
        if following is None:
            return datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
        return following.start

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def require_begun(self, now: datetime, *, field: str = "period") -> BillingPeriod:
        """This period, if it has begun by ``now``: usage and sends count in the month
        they happen, never in one ahead (``InvalidInput`` naming ``field``)."""
        if self.start > utc_timestamp(now, field="now"):
            raise InvalidInput(
                f"{field} {self} has not begun (it is {BillingPeriod.of(now)} now)", field=field
            )
        return self

    def next(self) -> BillingPeriod:
        """The following month."""
        if self.month == 12:
            return BillingPeriod(self.year + 1, 1)
        return BillingPeriod(self.year, self.month + 1)

    def previous(self) -> BillingPeriod:
        """The month before."""
        if self.month == 1:
            return BillingPeriod(self.year - 1, 12)
        return BillingPeriod(self.year, self.month - 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
