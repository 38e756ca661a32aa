"""An attrs validator that refuses with ``InvalidInput`` (a typed, coded error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from subacct.errors import InvalidInput

__all__ = ["of_type"]


def of_type(kind: type) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """Like ``attrs.validators.instance_of``, but raising ``InvalidInput``."""

    def validate(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise InvalidInput(
                f"{attribute.name} must be a {kind.__name__}, not {value!r}", field=attribute.name
            )

    return validate
