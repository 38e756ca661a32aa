"""The attrs validator every value class uses for its typed fields: like
``attrs.validators.instance_of``, but refusing with ``InvalidInput`` (a coded error naming
the field, quoting at most a short prefix of the bad value)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from subacct.errors import InvalidInput, quoted

__all__ = ["instance_of", "optional_instance_of"]

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
