"""The pure rules of invitations, seats and ownership (``subacct.domain.invitations``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.domain import Account, AccountKind, Membership, SeatLimit, new_master
from subacct.domain.invitations import (
    Invitation,
    InvitationState,
    normalize_email,
    require_admin_left,
    require_seat,
    seats_free,
)
from subacct.domain.users import normalize_login
from subacct.errors import InvalidInput, LastAdmin, SeatLimitReached

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USERS = ("a", "b", "c", "d")
ROLES = ("parent_admin", "sub_admin", "basic_user")


@st.composite
def members(draw: st.DrawFn) -> list[Membership]:
    chosen = draw(st.lists(st.sampled_from(USERS), unique=True, min_size=1))
    return [Membership(u, "m", draw(st.sampled_from(ROLES)), T0) for u in chosen]


@settings(max_examples=200)
@given(members(), st.data(), st.none() | st.sampled_from(ROLES), st.booleans())
def test_refused_exactly_when_the_last_owner_would_go(
    held: list[Membership], data: st.DataObject, new_role: str | None, top: bool
) -> None:
    leaving = data.draw(st.sampled_from(held))
    account = new_master("m", "M", T0) if top else Account("m", "M", AccountKind.SUB, T0, "p")
    owners_after = [
        m for m in held if m.role == "parent_admin" and m.user_id != leaving.user_id
    ] + ([leaving] if new_role == "parent_admin" else [])
    had_owner = any(m.role == "parent_admin" for m in held)
    should_refuse = top and had_owner and not owners_after
    if should_refuse:
        with pytest.raises(LastAdmin) as info:
            require_admin_left(account, held, "parent_admin", leaving, new_role)  # type: ignore[arg-type]
        assert info.value.details["user_id"] == leaving.user_id
    else:
        require_admin_left(account, held, "parent_admin", leaving, new_role)  # type: ignore[arg-type]


@given(st.integers(1, 6), st.integers(0, 6), st.integers(0, 6))
def test_a_seat_is_free_while_members_and_open_invitations_stay_below_the_limit(
    limit: int, members_: int, pending: int
) -> None:
    cap = SeatLimit("s1", limit)
    assert seats_free(cap, members=members_, pending=pending) == (members_ + pending < limit)
    assert seats_free(None, members=members_, pending=pending)
    if members_ + pending >= limit:
        with pytest.raises(SeatLimitReached):
            require_seat(cap, members=members_, pending=pending)


@given(st.text(max_size=30))
def test_normalize_email_is_a_normalized_login_or_refused_naming_the_field(text: str) -> None:
    try:
        email = normalize_email(text)
    except InvalidInput as err:
        field = err.field
    else:
        field = None
    if field is not None:
        assert field == "email"
        return
    assert email == normalize_login(text) == normalize_email(email)
    local, _, domain = email.rpartition("@")
    assert local
    assert "." in domain


def test_an_invitation_moves_pending_expired_accepted_revoked() -> None:
    inv = Invitation(
        "i", "s1", "a@b.test", "basic_user", None, T0, T0 + timedelta(days=1), "a" * 64
    )
    assert inv.state_at(T0) is InvitationState.PENDING
    assert inv.state_at(T0 + timedelta(days=1)) is InvitationState.EXPIRED
    taken = inv.accepted("u", T0)
    assert (taken.state_at(T0 + timedelta(days=9)), taken.version) == (InvitationState.ACCEPTED, 2)
    with pytest.raises(InvalidInput):
        attrs.evolve(inv, status=InvitationState.EXPIRED)
    assert inv.revoked(T0).state_at(T0) is InvitationState.REVOKED
