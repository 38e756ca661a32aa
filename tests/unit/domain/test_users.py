from datetime import UTC, datetime

import pytest

from subacct import InvalidInput, Membership, User
from subacct.domain import AccountId, RoleId, UserId, normalize_login

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Ann@Example.com", "ann@example.com"),
        ("  bob@x.test\n", "bob@x.test"),
        ("STRASSE", "strasse"),
    ],
)
def test_login_normalization(raw: str, normal: str) -> None:
    assert normalize_login(raw) == normal
    assert User(UserId("u"), raw, "Name", T0).login == normal


@pytest.mark.parametrize("bad", ["", "   ", "a b@x.test", 3])
def test_bad_logins_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_login(bad)
    assert err.value.field == "login"


def test_membership_role_change_bumps_version() -> None:
    m = Membership(UserId("u"), AccountId("a"), RoleId("basic_user"), T0)
    changed = m.with_role(RoleId("advanced_user"))
    assert (changed.role, changed.version) == ("advanced_user", 2)
    with pytest.raises(InvalidInput):
        m.with_role(RoleId(""))
