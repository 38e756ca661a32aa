"""Small validators shared by the domain value objects."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

from subacct.errors import InvalidInput, quoted

MAX_NAME = 200

#: Unicode categories no name or login may hold: control characters (Cc: NUL, the ESC of
#: ANSI escape sequences, line breaks), format characters (Cf: zero-width space, joiner
#: and non-joiner, the byte order mark, the soft hyphen, the bidirectional controls such
#: as U+202E RIGHT-TO-LEFT OVERRIDE), line and paragraph separators (Zl, Zp) and lone
#: surrogates (Cs, which no database can encode). All of them are invisible or move text
#: around, so a name holding one can pass for another.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

#: Invisible characters of other categories, refused too: Unicode's
#: Default_Ignorable_Code_Point ranges (the combining grapheme joiner, Hangul fillers,
#: Mongolian and other variation selectors, tag characters...) and the blank Braille
#: pattern. NFKC keeps them, so ``ann\u034f@x.test`` would pass for ``ann@x.test``.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2065, 0x2065),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),
)


def is_invisible(char: str) -> bool:
    """Whether ``char`` is one ``INVISIBLE_RANGES`` holds."""
    point = ord(char)
    return any(low <= point <= high for low, high in INVISIBLE_RANGES)


#: What subacct refused before schema version 9 (control characters and lone surrogates
#: only): names that events logged then may hold (``logged_name``).
_REFUSED_BEFORE_8 = frozenset({"Cc", "Cs"})


def refused_character(value: str, refused: frozenset[str] = REFUSED_CATEGORIES) -> int | None:
    """The position of the first character of ``value`` in a ``refused`` category (or,
    under the current rule, invisible: ``INVISIBLE_RANGES``)."""
    invisible = refused is REFUSED_CATEGORIES
    for position, char in enumerate(value):
        if unicodedata.category(char) in refused or (
            invisible and not char.isascii() and is_invisible(char)
        ):
            return position
    return None


def plain_text(value: str, *, field: str) -> str:
    """``value`` if it holds no character of ``REFUSED_CATEGORIES``. The refusal names the
    code point, never the character itself (it would hide or reorder the message)."""
    position = refused_character(value)
    if position is not None:
        char = value[position]
        kind = "a control character" if unicodedata.category(char) == "Cc" else "unnamed"
        raise InvalidInput(
            f"{field} must not contain control or invisible formatting characters (escape, "
            f"zero-width, bidirectional, line separators) or lone surrogates: "
            f"U+{ord(char):04X} ({unicodedata.name(char, kind)})",
            field=field,
            code_point=f"U+{ord(char):04X}",
        )
    return value


def _trimmed(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, not {type(value).__name__}", field=field)
    if len(value) > 4 * MAX_NAME:  # before any work on a huge value
        raise InvalidInput(f"{field} is longer than {MAX_NAME} characters", field=field)
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput(f"{field} must not be empty or whitespace", field=field)
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"{field} is longer than {MAX_NAME} characters", field=field)
    return cleaned


def clean_name(value: object, *, field: str = "name") -> str:
    """Trim a display name; refuse empty, whitespace-only, over-long or non-string names,
    and names holding a character of ``REFUSED_CATEGORIES``."""
    return plain_text(_trimmed(value, field), field=field)


def logged_name(value: object, *, field: str = "name") -> str:
    """Like ``clean_name``, under the rule of the version that logged an event: a name
    copied into an event logged before schema version 9 may hold a format character (new
    events copy names ``clean_name`` has checked), and the log must still read."""
    cleaned = _trimmed(value, field)
    if refused_character(cleaned, _REFUSED_BEFORE_8) is not None:
        raise InvalidInput(
            f"{field} must not contain control characters or lone surrogates", field=field
        )
    return cleaned


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
