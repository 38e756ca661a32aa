"""Logins and names through ``Subacct`` (MemoryStore and SqliteStore): a login is one
user whatever its case or width (NFKC, then case folded), and no login or stored name
holds a control or invisible formatting character, each refused as ``InvalidInput``
naming the field, with nothing written."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

import pytest

from subacct import (
    SYSTEM,
    BillingPeriod,
    Grant,
    ResourceKind,
    Role,
    Store,
    Subacct,
    UsageRecord,
)
from subacct.domain import normalize_login
from subacct.errors import DuplicateLogin, InvalidInput
from subacct.policy import SEND_MESSAGES

from .conftest import make_app, refused


def wide(text: str) -> str:
    """The full-width form of printable ASCII (what NFKC folds back to ASCII)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# each look-alike of "pam@x.test" and what it hides: none may become a user of its own
LOOK_ALIKES = {
    "nul": "pam@x.test\x00",
    "zero-width space": "pam\u200b@x.test",
    "zero-width joiner": "p\u200dam@x.test",
    "right-to-left override": "\u202etset.x@map",
    "isolate": "pam@\u2066x.test\u2069",
    "left-to-right mark": "pam@x.test\u200e",
    "byte order mark": "\ufeffpam@x.test",
    "soft hyphen": "pam@x.te\u00adst",
    "ansi escape": "\x1b[31mpam@x.test",
    "line separator": "pam@x.test\u2028x",
    "combining grapheme joiner": "pam\u034f@x.test",
    "variation selector": "pam\ufe0f@x.test",
    "hangul filler": "pam\u115f@x.test",
    "braille blank": "pam@x.test\u2800",
    "tag character": "pam@x.test\U000e0041",
}
SAME_LOGIN = ["pam@x.test", "Pam@X.test", "PAM@X.TEST", wide("pam") + "@x.test", wide("PAM@x.test")]
# names a person may type, in any script, that must keep working
GOOD_NAMES = ["Café Zoë", "日本支社", "Ōsaka \u2013 Süd", "Имя", "שלום", "a b  c"]


@pytest.fixture
def app(store: Store) -> Subacct:
    app = make_app(store)
    app.accounts.create_master("Agency", account_id="agency", by=SYSTEM)
    app.accounts.create_master("Client", account_id="client", by=SYSTEM)
    app.members.create_user("pam@x.test", "Pam", user_id="pam", by=SYSTEM)
    app.members.add("pam", "agency", "parent_admin", by=SYSTEM)  # API keys are a user's
    return app


@pytest.mark.parametrize("form", SAME_LOGIN)
def test_every_case_and_width_of_a_login_is_one_user(app: Subacct, form: str) -> None:
    found = app.members.find_user_by_login(form, by=SYSTEM)
    assert found is not None
    assert found.id == "pam"
    assert normalize_login(form) == "pam@x.test"
    err = refused(
        app.store, DuplicateLogin, lambda: app.members.create_user(form, "Pam 2", by=SYSTEM)
    )
    assert err.code == "duplicate_login"


def test_a_full_width_login_is_stored_plain(app: Subacct) -> None:
    user = app.members.create_user(wide("BOB@X") + ".test", "Bob", user_id="bob", by=SYSTEM)
    assert user.login == "bob@x.test"
    assert app.members.get_user("bob", by=SYSTEM).login == "bob@x.test"
    assert app.members.find_user_by_login("bob@x.test", by=SYSTEM) == user


@pytest.mark.parametrize("login", LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
def test_a_look_alike_login_is_refused_naming_the_field(app: Subacct, login: str) -> None:
    err = refused(
        app.store, InvalidInput, lambda: app.members.create_user(login, "Pam?", by=SYSTEM)
    )
    assert err.details["field"] == "login"
    hidden = next(c for c in login if c not in "pam@x.test")
    assert hidden not in err.message  # the message names the code point, never shows it
    named = (f"U+{ord(hidden):04X}", f"\\u{ord(hidden):04x}", f"\\x{ord(hidden):02x}")
    assert any(form in err.message for form in named)  # a separator is a space: quoted
    with pytest.raises(InvalidInput) as lookup:
        app.members.find_user_by_login(login, by=SYSTEM)
    assert lookup.value.details["field"] == "login"


Call = tuple[str, Callable[[Subacct], object], Callable[[object], object]]


def _name_calls(name: str, n: int = 0, client: str = "client") -> dict[str, Call]:
    """Every public call that stores a human-entered name: the field a refusal names,
    the call, and how to read the stored name back from what it returns."""
    return {
        "create_master": (
            "name",
            lambda a: a.accounts.create_master(name, by=SYSTEM),
            attrgetter("name"),
        ),
        "create_sub": (
            "name",
            lambda a: a.accounts.create_sub("agency", name, by=SYSTEM),
            attrgetter("name"),
        ),
        "rename": (
            "name",
            lambda a: a.accounts.rename("agency", name, by=SYSTEM),
            attrgetter("name"),
        ),
        "link_client": (
            "alias",
            lambda a: a.links.accept(
                a.links.request("agency", name, client_id=client, by=SYSTEM)[1], by=SYSTEM
            ),
            attrgetter("alias"),
        ),
        "create_user": (
            "display_name",
            lambda a: a.members.create_user(f"new{n}@x.test", name, by=SYSTEM),
            attrgetter("display_name"),
        ),
        "rename_user": (
            "display_name",
            lambda a: a.members.rename_user("pam", name, by=SYSTEM),
            attrgetter("display_name"),
        ),
        "create_api_key": (
            "name",
            lambda a: a.policy.create_api_key("agency", name, [Grant(SEND_MESSAGES)], by="pam"),
            lambda made: made[0].name,  # type: ignore[index]
        ),
        "create_resource": (
            "name",
            lambda a: a.sharing.create_resource(
                "agency", ResourceKind.TEMPLATE, name, b"<p/>", by=SYSTEM
            ),
            attrgetter("name"),
        ),
        "define_role": (
            "name",
            lambda a: a.policy.define_role(Role("clerk", name, [Grant(SEND_MESSAGES)]), by=SYSTEM),
            attrgetter("name"),
        ),
    }


CALLS = sorted(_name_calls("x"))
BAD_NAMES = {kind: login.replace("pam@x.test", "Team") for kind, login in LOOK_ALIKES.items()}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_a_name_with_a_hidden_character_is_refused_naming_the_field(
    app: Subacct, call: str, bad: str
) -> None:
    field, run, _ = _name_calls(bad)[call]
    err = refused(app.store, InvalidInput, lambda: run(app))
    assert err.details["field"] == field
    assert err.details["code_point"].startswith("U+")


@pytest.mark.parametrize("call", CALLS)
def test_names_in_any_script_are_kept(app: Subacct, call: str) -> None:
    for n, name in enumerate(GOOD_NAMES):
        app.accounts.create_master("Client", account_id=f"c{n}", by=SYSTEM)
        _, run, stored = _name_calls(name, n, client=f"c{n}")[call]
        assert stored(run(app)) == name


def test_usage_labels_keep_refusing_hidden_characters() -> None:
    """Labels were already held to printable text (``pricing``): the same look-alikes."""
    for bad in BAD_NAMES.values():
        with pytest.raises(InvalidInput) as err:
            UsageRecord("agency", BillingPeriod(2026, 1), "sms", 1, "k1", label=bad)
        assert err.value.field == "label"
