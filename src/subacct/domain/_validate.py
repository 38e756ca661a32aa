"""Small validators shared by the domain value objects."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

from subacct.errors import InvalidInput, quoted

MAX_NAME = 200

#: Unicode categories no name or login may hold: control characters (NUL, escape
#: sequences, line breaks) and lone surrogates (which no database can encode).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})


def plain_text(value: str, *, field: str) -> str:
    """``value`` if it holds no control character and no lone surrogate."""
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in value):
        raise InvalidInput(
            f"{field} must not contain control characters or lone surrogates", field=field
        )
    return value


def clean_name(value: object, *, field: str = "name") -> str:
    """Trim a display name; refuse empty, whitespace-only, over-long or non-string names,
    and names with control characters or lone surrogates."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, not {type(value).__name__}", field=field)
    if len(value) > 4 * MAX_NAME:  # before any work on a huge value
        raise InvalidInput(f"{field} is longer than {MAX_NAME} characters", field=field)
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput(f"{field} must not be empty or whitespace", field=field)
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"{field} is longer than {MAX_NAME} characters", field=field)
    return plain_text(cleaned, field=field)


def utc_timestamp(value: object, *, field: str = "created_at") -> datetime:
    """Accept only timezone-aware datetimes; store them in UTC."""
    if not isinstance(value, datetime):
        raise InvalidInput(f"{field} must be a datetime", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be timezone-aware", field=field)
    return value.astimezone(UTC)


def positive_version(value: object) -> int:
    """An optimistic-concurrency version: a positive integer (``bool`` refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"version must be a positive integer, got {quoted(value)}", field="version"
        )
    return value
