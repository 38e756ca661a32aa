"""Billing periods: one calendar month, named by the caller (the core has no clock).

>>> from subacct.pricing import BillingPeriod
>>> jan = BillingPeriod(2026, 1)
>>> str(jan), str(jan.next()), str(BillingPeriod.parse("2025-12").next())
('2026-01', '2026-02', '2026-01')
>>> jan < jan.next()
True
"""

from __future__ import annotations

import attrs

from subacct.errors import InvalidInput

__all__ = ["BillingPeriod"]


def _year(value: object) -> int:
    if type(value) is not int or not 1 <= value <= 9999:
        raise InvalidInput(f"year must be an integer from 1 to 9999, got {value!r}", field="year")
    return value


def _month(value: object) -> int:
    if type(value) is not int or not 1 <= value <= 12:
        raise InvalidInput(f"month must be an integer from 1 to 12, got {value!r}", field="month")
    return value


@attrs.frozen(order=True, cache_hash=True)
class BillingPeriod:
    """A billing month. Usage, quotas and invoices are kept per period; nothing carries over."""

    year: int = attrs.field(converter=_year)
    month: int = attrs.field(converter=_month)

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        """Read ``"YYYY-MM"``."""
        parts = text.split("-") if isinstance(text, str) else []
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise InvalidInput(f"period must look like 'YYYY-MM', got {text!r}", field="period")
        return cls(int(parts[0]), int(parts[1]))

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
