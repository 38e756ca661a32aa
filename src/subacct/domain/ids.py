"""Typed identifiers. Ids are made by the caller (or an id port), never by the core."""

from __future__ import annotations

from typing import NewType

from subacct.errors import InvalidInput, quoted

__all__ = ["AccountId", "RoleId", "UserId", "check_id"]

AccountId = NewType("AccountId", str)
UserId = NewType("UserId", str)
RoleId = NewType("RoleId", str)

_MAX_ID = 128


def check_id(value: object, *, field: str = "id") -> str:
    """Validate an identifier: a non-empty string without surrounding or inner whitespace."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, not {type(value).__name__}", field=field)
    if len(value) > _MAX_ID:
        raise InvalidInput(f"{field} is longer than {_MAX_ID} characters", field=field)
    # Among printable characters only the ASCII space is whitespace.
    if not value or not value.isprintable() or " " in value:
        raise InvalidInput(
            f"{field} {quoted(value)} must be non-empty, printable and contain no spaces",
            field=field,
        )
    return value
