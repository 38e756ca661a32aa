"""Exact money: a ``Decimal`` amount with an ISO 4217 currency. Never float.

Rounding lives here and only here. The default rule is half-even to the currency's minor
unit (cents for USD); hosts may pick another ``decimal`` rounding mode.

**Bounds.** Every amount, price and rate has at most ``MAX_INTEGER_DIGITS`` (18) digits
before the decimal point and at most ``MAX_SCALE`` (12) after it: from ``FINEST_AMOUNT``
(``0.000000000001``) up to ``MAX_AMOUNT`` (``999999999999999999.999999999999``) either
way. ``to_decimal`` refuses anything else with ``AmountOutOfBounds`` (``details["bound"]``
is ``integer_digits`` or ``scale``); trailing zeros past the twelfth place are dropped (the
same amount) and an exponent above zero is written out (``1E+3`` is ``1000``).

**Exact arithmetic.** Money is added, subtracted and multiplied in ``money_context()``:
``MONEY_PRECISION`` (60) significant digits, twice the 30 digits of a bounded amount, so
the product of two bounded values and the sum of up to 10**30 of them are exact; any
result that would still round (or overflow, or divide by zero) raises
``AmountOutOfBounds`` (``bound="precision"``) instead. The ambient ``decimal`` context of
the host (28 digits by default) plays no part. Rounding happens only where asked for:
``Money.rounded``, ``Money.multiplied`` and ``quantized``.

>>> from subacct.money import Money
>>> Money("60.00", "USD") + Money("30", "USD")
Money(amount=Decimal('90.00'), currency='USD')
>>> Money("0.125", "USD").rounded()
Money(amount=Decimal('0.12'), currency='USD')
>>> Money(MAX_AMOUNT, "EUR") - Money(FINEST_AMOUNT, "EUR")
Money(amount=Decimal('999999999999999999.999999999998'), currency='EUR')
>>> Money("1e-13", "EUR")
Traceback (most recent call last):
...
subacct.errors.AmountOutOfBounds: amount '1e-13' has more than 12 decimal places \
(the finest amount is 0.000000000001)
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import (
    ROUND_HALF_EVEN,
    Clamped,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
)
from typing import Any, Final, cast

import attrs

from subacct.errors import AmountOutOfBounds, InvalidInput, quoted

__all__ = [
    "DEFAULT_ROUNDING",
    "FINEST_AMOUNT",
    "MAX_AMOUNT",
    "MAX_INTEGER_DIGITS",
    "MAX_SCALE",
    "MIN_AMOUNT",
    "MONEY_PRECISION",
    "Money",
    "add",
    "canonical_text",
    "exact_sum",
    "in_bounds",
    "minor_unit_exponent",
    "money_context",
    "multiply",
    "quantized",
    "subtract",
    "to_decimal",
]

DEFAULT_ROUNDING: Final = ROUND_HALF_EVEN

MAX_INTEGER_DIGITS: Final = 18
"""Digits an amount may have before the decimal point: a quintillion of any currency is
beyond every real balance (10**18 of the smallest-valued currencies is still above 10**13
US dollars), and 18 + 12 digits fit every exact store (an IEEE 754 decimal128 holds 34)."""

MAX_SCALE: Final = 12
"""Digits an amount, price or rate may have after the decimal point. Prices per message
are fractions of a cent (``0.0075``; the finest in the seeds and tests has 6 places),
prices per token or byte go to 8 or 9; 12 leaves room below those, and a unit price times
a whole quantity keeps its scale, so a line priced from it is still an amount."""

MONEY_PRECISION: Final = 2 * (MAX_INTEGER_DIGITS + MAX_SCALE)
"""Significant digits of ``money_context()``: a product of two bounded values needs 60."""

_TRAPS: Final = [Inexact, Rounded, Overflow, InvalidOperation, DivisionByZero, Clamped]
# One shared context per purpose, only ever used through its methods (``_EXACT.add``...):
# every signal that matters is trapped, so its flags are never read, and nothing here
# changes the thread's current context.
_EXACT: Final = Context(prec=MONEY_PRECISION, rounding=ROUND_HALF_EVEN, traps=_TRAPS)
# Rounding on purpose (``quantized``): the same precision, rounding allowed.
_ROUNDING: Final = Context(
    prec=MONEY_PRECISION, traps=[Overflow, InvalidOperation, DivisionByZero, Clamped]
)
# Dropping trailing zeros past the twelfth place: exact or refused.
_TRIM: Final = Context(prec=MONEY_PRECISION, traps=[Inexact, InvalidOperation, Overflow])
_ONE: Final = Decimal(1)

FINEST_AMOUNT: Final = Decimal(1).scaleb(-MAX_SCALE)
"""``0.000000000001``: the smallest amount above zero."""

MAX_AMOUNT: Final = _EXACT.subtract(Decimal(10**MAX_INTEGER_DIGITS), FINEST_AMOUNT)
"""``999999999999999999.999999999999``: the largest amount (and balance)."""

MIN_AMOUNT: Final = MAX_AMOUNT.copy_negate()
"""The smallest amount, ``-MAX_AMOUNT`` (write it so: a unary minus on a ``Decimal`` rounds
to the ambient context's 28 digits)."""


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


def money_context() -> Context:
    """A copy of the context subacct does money arithmetic in (``MONEY_PRECISION`` digits,
    rounding, overflow and invalid operations trapped), for a host's own sums:
    ``with decimal.localcontext(money_context()): ...``."""
    context = _EXACT.copy()
    context.clear_flags()  # the shared one's flags are never read, and may be set
    return context


def _out_of_bounds(field: str, value: object, bound: str) -> AmountOutOfBounds:
    if bound == "integer_digits":
        text = (
            f"{field} {quoted(value)} has more than {MAX_INTEGER_DIGITS} digits before the "
            f"decimal point (the largest amount is {MAX_AMOUNT})"
        )
        limit = MAX_INTEGER_DIGITS
    else:
        text = (
            f"{field} {quoted(value)} has more than {MAX_SCALE} decimal places "
            f"(the finest amount is {FINEST_AMOUNT:f})"
        )
        limit = MAX_SCALE
    return AmountOutOfBounds(text, field=field, bound=bound, limit=limit, value=quoted(value))


def _bounded(result: Decimal, value: object, field: str) -> Decimal:
    """``result`` if it is within the bounds (trailing zeros past ``MAX_SCALE`` dropped, a
    positive exponent written out), else ``AmountOutOfBounds``."""
    if result and result.adjusted() >= MAX_INTEGER_DIGITS:
        raise _out_of_bounds(field, value, "integer_digits")
    exponent = cast(int, result.as_tuple().exponent)  # finite: an int
    if exponent > 0:  # 1E+3 is 1000: the form stores keep and people read
        return _TRIM.quantize(result, _ONE)
    if exponent < -MAX_SCALE:
        try:  # 1.0000000000000 is 1.000000000000; 1E-13 is refused
            return _TRIM.quantize(result, FINEST_AMOUNT)
        except Inexact:
            raise _out_of_bounds(field, value, "scale") from None
    return result


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Convert ``int``, ``str`` or ``Decimal`` to a finite ``Decimal`` within the bounds
    (see the module docstring); refuse floats. ``field`` names the value in errors.

    >>> to_decimal("0.0075"), to_decimal("1.50000000000000"), to_decimal("2E+2")
    (Decimal('0.0075'), Decimal('1.500000000000'), Decimal('200'))
    """
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
    return _bounded(result, value, field)


def in_bounds(value: Decimal) -> bool:
    """Whether ``value`` (a sum of amounts, say) is at most ``MAX_AMOUNT`` either way."""
    return MIN_AMOUNT <= value <= MAX_AMOUNT


def _inexact(what: str, operands: tuple[Decimal | int, ...]) -> AmountOutOfBounds:
    shown = ", ".join(quoted(x, limit=50) for x in operands)
    return AmountOutOfBounds(
        f"the {what} of {shown} cannot be computed exactly in {MONEY_PRECISION} digits",
        bound="precision",
        limit=MONEY_PRECISION,
    )


def add(a: Decimal, b: Decimal) -> Decimal:
    """``a + b``, exact (``AmountOutOfBounds`` rather than a rounded sum)."""
    try:
        return _EXACT.add(a, b)
    except DecimalException:
        raise _inexact("sum", (a, b)) from None


def subtract(a: Decimal, b: Decimal) -> Decimal:
    """``a - b``, exact."""
    try:
        return _EXACT.subtract(a, b)
    except DecimalException:
        raise _inexact("difference", (a, b)) from None


def multiply(a: Decimal | int, b: Decimal | int) -> Decimal:
    """``a * b``, exact (a quantity times a unit price, an amount times a rate)."""
    try:
        return _EXACT.multiply(a, b)
    except DecimalException:
        raise _inexact("product", (a, b)) from None


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of ``values`` (zero when empty).

    >>> exact_sum([MAX_AMOUNT, FINEST_AMOUNT, MIN_AMOUNT])
    Decimal('1E-12')
    """
    total = Decimal(0)
    plus = _EXACT.add
    try:
        for value in values:
            total = plus(total, value)
    except DecimalException:
        raise _inexact("sum", (total,)) from None
    return total


def canonical_text(value: Decimal) -> str:
    """The same text for equal values, without exponent or trailing zeros (the
    fingerprint of a ledger request compares amounts this way).

    >>> [canonical_text(Decimal(x)) for x in ("10.00", "1E+2", "-0.5000")]
    ['10', '100', '-0.5']
    >>> canonical_text(MAX_AMOUNT)
    '999999999999999999.999999999999'
    """
    return f"{value.normalize(_EXACT):f}"


def quantized(value: Decimal, exponent: int, rounding: str = DEFAULT_ROUNDING) -> Decimal:
    """``value`` rounded with ``rounding`` to ``exponent`` digits after the decimal point:
    the one place a rounding of money happens (``Money.rounded``, invoice lines...).

    >>> quantized(Decimal("0.125"), 2), quantized(Decimal("2.5"), 0)
    (Decimal('0.12'), Decimal('2'))
    """
    try:
        return value.quantize(Decimal((0, (1,), -exponent)), rounding, _ROUNDING)
    except DecimalException:
        raise _inexact("rounding", (value,)) from None


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
        return Money(add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money(self.amount.copy_negate(), self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        """The exact product; ``AmountOutOfBounds`` when it has more than ``MAX_SCALE``
        decimal places (use ``multiplied`` to round it on purpose)."""
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise InvalidInput("Money can be multiplied by a Decimal or int only")
        return Money(multiply(self.amount, factor), self.currency)

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
        return Money(quantized(self.amount, digits, rounding), self.currency)

    def multiplied(
        self, factor: Decimal | int, rounding: str = DEFAULT_ROUNDING, exponent: int | None = None
    ) -> Money:
        """``self * factor`` computed exactly, then rounded once like ``rounded`` (a
        commission rate, a discount factor).

        >>> Money("0.99", "USD").multiplied(Decimal("0.25"))
        Money(amount=Decimal('0.25'), currency='USD')
        """
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise InvalidInput("Money can be multiplied by a Decimal or int only")
        digits = minor_unit_exponent(self.currency) if exponent is None else exponent
        product = quantized(multiply(self.amount, factor), digits, rounding)
        return Money(product, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    @staticmethod
    def sum(items: Any, currency: str) -> Money:
        """Sum an iterable of Money in ``currency`` (zero when empty), exactly."""
        total = Money.zero(currency)
        return Money(exact_sum(_amount_in(total, item) for item in items), total.currency)


def _amount_in(total: Money, item: Money) -> Decimal:
    total._same(item)
    return item.amount
