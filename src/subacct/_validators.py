"""The attrs validator every value class uses for its typed fields: like
``attrs.validators.instance_of``, but refusing with ``InvalidInput`` (a coded error naming
the field, quoting at most a short prefix of the bad value)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import attrs

from subacct.errors import InvalidInput, quoted

__all__ = ["MAX_TIMEOUT", "instance_of", "optional_instance_of", "timeout_seconds"]

#: The longest timeout a store takes, in seconds (about 23 days): what fits the drivers'
#: 32-bit millisecond settings.
MAX_TIMEOUT: Final = 2_000_000.0

Validator = Callable[[object, "attrs.Attribute[Any]", object], None]


def instance_of(cls: type) -> Validator:
    """Refuse a field value that is not a ``cls``."""

    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, cls):
            raise InvalidInput(
                f"{attribute.name} must be a {cls.__name__}, not {quoted(value)}",
                field=attribute.name,
            )

    return check


def optional_instance_of(cls: type) -> Validator:
    """Like ``instance_of``, and ``None`` is accepted too."""
    inner = instance_of(cls)

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


def timeout_seconds(value: object, field: str) -> float:
    """A timeout in seconds: a number above 0 and at most ``MAX_TIMEOUT`` (``InvalidInput``
    naming ``field`` otherwise).

    >>> timeout_seconds(2, "timeout")
    2.0
    >>> timeout_seconds(float("inf"), "pool_timeout")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    subacct.errors.InvalidInput: pool_timeout must be a number of seconds above 0 ..., not inf
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_TIMEOUT
    ):
        raise InvalidInput(
            f"{field} must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
            f"not {quoted(value)}",
            field=field,
        )
    return float(value)
