"""Schema version 9's step that SQL alone cannot take: stored logins and names brought
under the text rules of that version (``subacct.domain.normalize_login``: NFKC, then case
folded; no control or invisible formatting character in a login or a name).

* **Logins** are rewritten to their normalized form, so a lookup by login finds the users
  an older version stored. A stored login that holds a refused character, or two stored
  logins that become one, stop the migration with a ``StorageError`` naming the users:
  only a person can tell which of two look-alike logins is the real one. Nothing is
  changed; the database stays at version 8 until those users are removed (or their
  ``users.login`` corrected), and opens once they are.
* **Names** (account names, user display names, agency link aliases, and the names of
  roles, API keys and resources) lose the characters this version refuses (format
  characters are dropped, line and paragraph separators become spaces). Most are
  invisible, so the name reads as it did; but a zero-width joiner or non-joiner can
  shape what is around it (emoji sequences, Persian and Indic spelling), and such a name
  may look different afterwards. A name left empty becomes the id of what it names.
  Events logged before keep their text (``subacct.domain.events`` reads them).
"""

from __future__ import annotations

import json
import unicodedata
from typing import TYPE_CHECKING, Final

from subacct.domain import normalize_login
from subacct.domain._validate import (
    REFUSED_CATEGORIES,
    clean_name,
    is_invisible,
    refused_character,
)
from subacct.errors import InvalidInput, StorageError

if TYPE_CHECKING:
    from subacct.storage.sql import SqlRunner

__all__ = ["apply_text_rules"]

#: Tables and columns holding a name: (table, key column, name column).
_NAME_COLUMNS: Final = (
    ("accounts", "id", "name"),
    ("users", "id", "display_name"),
    ("agency_links", "client_id", "alias"),
)
#: Record tables whose JSON body holds a ``name`` (and an ``id``).
_NAMED_RECORDS: Final = ("rec_roles", "rec_api_keys", "rec_resources")
_SHOWN: Final = 20  # user ids an error message lists


def apply_text_rules(db: SqlRunner) -> None:
    """Normalize stored logins (or refuse, changing nothing) and clean stored names."""
    _normalize_logins(db)
    for table, key, column in _NAME_COLUMNS:
        for row_key, name in db.query(f"SELECT {key}, {column} FROM {table}"):
            fixed = _fixed_name(str(name), str(row_key))
            if fixed is not None:
                db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (fixed, row_key))
    for table in _NAMED_RECORDS:
        # json.dumps writes every non-ASCII character as \uXXXX: only those rows can hold one
        for row_key, body in db.query(
            f"SELECT k, body FROM {table} WHERE body LIKE ? ESCAPE '#'", ("%\\u%",)
        ):
            data = json.loads(body)
            fixed = _fixed_name(data["name"], data["id"])
            if fixed is not None:
                data["name"] = fixed
                text = json.dumps(data, sort_keys=True, separators=(",", ":"))
                db.execute(f"UPDATE {table} SET body = ? WHERE k = ?", (text, row_key))


def _normalize_logins(db: SqlRunner) -> None:
    refused: list[str] = []
    owners: dict[str, list[str]] = {}
    changed: list[tuple[str, str]] = []
    for user_id, login in db.query("SELECT id, login FROM users"):
        try:
            normal = normalize_login(login)
        except InvalidInput:
            refused.append(str(user_id))
            continue
        owners.setdefault(normal, []).append(str(user_id))
        if normal != login:
            changed.append((normal, str(user_id)))
    shared = sorted(sorted(ids) for ids in owners.values() if len(ids) > 1)
    if refused or shared:
        raise _logins_refused(sorted(refused), shared)
    for normal, user_id in changed:
        db.execute("UPDATE users SET login = ? WHERE id = ?", (normal, user_id))


def _logins_refused(refused: list[str], shared: list[list[str]]) -> StorageError:
    parts = []
    if refused:
        listed = ", ".join(refused[:_SHOWN]) + (" ..." if len(refused) > _SHOWN else "")
        parts.append(
            f"the logins of users {listed} hold control or invisible formatting characters"
        )
    if shared:
        groups = [" and ".join(ids) for ids in shared[:_SHOWN]]
        listed = "; ".join(groups) + (" ..." if len(shared) > _SHOWN else "")
        parts.append(f"these users' logins become one login: {listed}")
    return StorageError(
        "schema version 9 normalizes stored logins (NFKC, case folded) and cannot: "
        + "; ".join(parts)
        + ". Nothing was changed. Remove those users (or correct users.login) with the "
        "subacct version that wrote this database, then open it again.",
        schema_version=8,
        refused_logins=refused,
        shared_logins=shared,
    )


def _fixed_name(name: str, fallback: str) -> str | None:
    """``name`` without the characters this version refuses, or ``None`` if it holds
    none; ``fallback`` (an id) if nothing else is left."""
    if refused_character(name) is None:
        return None
    kept = "".join(_kept(c) for c in name)
    try:
        return clean_name(kept)
    except InvalidInput:
        return fallback


def _kept(char: str) -> str:
    category = unicodedata.category(char)
    if category in ("Zl", "Zp"):
        return " "
    return "" if category in REFUSED_CATEGORIES or is_invisible(char) else char
