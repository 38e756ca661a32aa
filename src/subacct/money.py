"""Exact money: a ``Decimal`` amount with an ISO 4217 currency. Never float.

Rounding lives here and only here. The default rule is half-even to the currency's minor
unit (cents for USD); hosts may pick another ``decimal`` rounding mode.

>>> from subacct.money import Money
>>> Money("60.00", "USD") + Money("30", "USD")
Money(amount=Decimal('90.00'), currency='USD')
>>> Money("0.125", "USD").rounded()
Money(amount=Decimal('0.12'), currency='USD')
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Final

import attrs

from subacct.errors import InvalidInput, quoted

__all__ = ["DEFAULT_ROUNDING", "Money", "minor_unit_exponent", "to_decimal"]

DEFAULT_ROUNDING: Final = ROUND_HALF_EVEN

# ISO 4217 minor units for currencies whose minor unit is not 2.
_MINOR_UNITS: Final[dict[str, int]] = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}


def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (2 unless ISO 4217 says otherwise)."""
    return _MINOR_UNITS.get(currency, 2)


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Convert ``int``, ``str`` or ``Decimal`` to a finite ``Decimal``; refuse floats."""
    if isinstance(value, bool | float):
        raise InvalidInput(
            f"{field} must be a Decimal, int or str, not {type(value).__name__}", field=field
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise InvalidInput(f"{field} {quoted(value)} is not a number", field=field) from None
    else:
        raise InvalidInput(
            f"{field} must be a Decimal, int or str, not {type(value).__name__}", field=field
        )
    if not result.is_finite():
        raise InvalidInput(f"{field} must be finite, got {quoted(value)}", field=field)
    return result


def _currency(value: object) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise InvalidInput(
            f"currency must be a 3-letter ISO 4217 code, got {quoted(value)}", field="currency"
        )
    return value.upper()


@attrs.frozen(order=False)
class Money:
    """An exact amount of one currency. Arithmetic across currencies is refused."""

    amount: Decimal = attrs.field(converter=to_decimal)
    currency: str = attrs.field(converter=_currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise InvalidInput(f"expected Money, got {type(other).__name__}")
        if other.currency != self.currency:
            raise InvalidInput(
                f"cannot combine {self.currency} with {other.currency}", field="currency"
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise InvalidInput("Money can be multiplied by a Decimal or int only")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_negative(self) -> bool:
        return self.amount < 0

    def rounded(self, rounding: str = DEFAULT_ROUNDING, exponent: int | None = None) -> Money:
        """Round to the currency's minor unit (or ``exponent`` digits) with ``rounding``."""
        digits = minor_unit_exponent(self.currency) if exponent is None else exponent
        quantum = Decimal(1).scaleb(-digits)
        return Money(self.amount.quantize(quantum, rounding=rounding), self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    @staticmethod
    def sum(items: Any, currency: str) -> Money:
        """Sum an iterable of Money in ``currency`` (zero when empty)."""
        total = Money.zero(currency)
        for item in items:
            total = total + item
        return total
