"""The text rules of logins and names (``subacct.domain._validate``, ``normalize_login``):
pure, no storage."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from subacct import InvalidInput, User
from subacct.domain import UserId, normalize_login
from subacct.domain._validate import REFUSED_CATEGORIES, clean_name
from subacct.domain.events import AccountRenamed, EventId
from subacct.testing.strategies import account_names

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def wide(text: str) -> str:
    """The full-width form of printable ASCII (what NFKC folds back to ASCII)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@given(st.text(max_size=30))
@example("\u033b\u0130\u0318")  # NFKC then case folding alone would change it again
@example("\u01f0")  # case folding decomposes it; NFKC composes it again
def test_a_normalized_login_does_not_change_when_normalized_again(raw: str) -> None:
    try:
        login = normalize_login(raw)
    except InvalidInput as err:
        refused = err
    else:
        assert normalize_login(login) == login
        assert unicodedata.is_normalized("NFKC", login)
        assert not any(unicodedata.category(c) in REFUSED_CATEGORIES for c in login)
        return
    assert refused.field == "login"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (wide("pam@x.test"), "pam@x.test"),
        (wide("PAM") + "@" + wide("X.TEST"), "pam@x.test"),
        ("Pam@X.Test", "pam@x.test"),
        ("\ufb01nn@x.test", "finn@x.test"),  # a ligature
        ("\u3000pam@x.test\u3000", "pam@x.test"),  # ideographic spaces around
        ("STRAẞE@x.test", "strasse@x.test"),
    ],
)
def test_compatibility_forms_and_case_are_one_login(raw: str, stored: str) -> None:
    assert normalize_login(raw) == stored
    assert User(UserId("u"), raw, "Name", T0).login == stored


@pytest.mark.parametrize(
    "hidden",
    [
        "\x00",
        "\x1b",
        "\x7f",
        "\u200b",
        "\u200c",
        "\u200d",
        "\u200e",
        "\u200f",
        "\u202a",
        "\u202e",
        "\u2066",
        "\u2069",
        "\ufeff",
        "\u00ad",
        "\u2028",
        "\u2029",
    ],
)
def test_hidden_characters_are_refused_in_names_and_logins(hidden: str) -> None:
    with pytest.raises(InvalidInput) as name:
        clean_name(f"Team{hidden}X", field="name")
    assert name.value.field == "name"
    assert name.value.details["code_point"] == f"U+{ord(hidden):04X}"
    assert hidden not in name.value.message
    with pytest.raises(InvalidInput) as login:
        User(UserId("u"), f"pam{hidden}@x.test", "Pam", T0)
    assert login.value.field == "login"
    with pytest.raises(InvalidInput) as display:
        User(UserId("u"), "pam@x.test", f"Pam{hidden}Smith", T0)
    assert display.value.field == "display_name"


@given(account_names())
def test_the_exported_name_strategy_draws_names_the_library_accepts(name: str) -> None:
    assert clean_name(name) == name.strip()


def test_events_logged_before_version_8_still_read() -> None:
    """An event copies a name its entity held when it was logged: one logged by an older
    version may hold a format character (refused now in new names), never a control
    character."""
    meta = {"event_id": EventId("e1"), "occurred_at": T0, "actor": None, "account_id": "m"}
    old = AccountRenamed(**meta, old_name="Team", new_name="Team\u200dX")  # type: ignore[arg-type]
    assert old.new_name == "Team\u200dX"
    with pytest.raises(InvalidInput) as err:
        AccountRenamed(**meta, old_name="Team", new_name="Team\x1bX")  # type: ignore[arg-type]
    assert err.value.field == "new_name"
