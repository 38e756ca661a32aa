"""Invitations by e-mail and seat limits (issue 16, item 3; seed 004: administrators invite
users to the parent or any sub-account), on memory and SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from subacct import SYSTEM, FixedClock, Store
from subacct.domain import InvitationState
from subacct.domain.events import (
    InvitationAccepted,
    InvitationResent,
    InvitationRevoked,
    InvitationSent,
    SeatLimitSet,
    UserCreated,
    UserInvited,
)
from subacct.errors import (
    ActionDenied,
    AlreadyExists,
    DuplicateLogin,
    EscalationRefused,
    InvalidInput,
    InvitationExpired,
    InvitationNotFound,
    InvitationPending,
    InvitationRefused,
    InvitationTokenReplaced,
    InvitationUsed,
    SeatLimitReached,
)
from subacct.errors import (
    InvitationRevoked as Revoked,
)
from subacct.storage.collections import INVITATION_TOKENS, INVITATIONS

from .conftest import T0, event_log, make_app, refused, seed_agency

S = SYSTEM


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def app(store: Store, clock: FixedClock):  # type: ignore[no-untyped-def]
    return seed_agency(make_app(store, clock=clock))


def test_seed004_a_parent_admin_invites_to_the_parent_and_to_any_sub(app, store) -> None:  # type: ignore[no-untyped-def]
    to_parent = app.invitations.invite(
        "Ann@Example.TEST", "agencydemo", "advanced_user", by="owner"
    )
    to_sub = app.invitations.invite("carl@example.test", "agency2", "sub_admin", by="owner")
    assert to_parent.invitation.email == "ann@example.test"
    assert to_parent.invitation.invited_by == "owner"
    assert to_parent.invitation.expires_at == T0 + timedelta(days=7)
    assert to_parent.token not in repr(to_parent)
    before = len(event_log(store))
    ann = app.invitations.accept(to_parent.token, display_name="Ann", by=S)
    new = event_log(store)[before:]
    assert [type(e) for e in new] == [UserCreated, UserInvited, InvitationAccepted]
    assert app.members.get_user(ann.user_id, by=S).login == "ann@example.test"
    assert (ann.account_id, ann.role) == ("agencydemo", "advanced_user")
    carl = app.invitations.accept(to_sub.token, display_name="Carl", login="Carl", by=S)
    assert app.members.get_user(carl.user_id, by=S).login == "carl"
    state = app.invitations.get(to_sub.invitation.id, by="owner")
    assert (state.status, state.accepted_by) == (InvitationState.ACCEPTED, carl.user_id)


def test_seed004_a_sub_admin_invites_to_that_sub_only_and_never_above_their_rights(
    app,
    store,  # type: ignore[no-untyped-def]
) -> None:
    sent = app.invitations.invite("dora@example.test", "agency1", "basic_user", by="sam")
    assert sent.invitation.account_id == "agency1"
    refused(
        store,
        ActionDenied,
        lambda: app.invitations.invite("e@x.test", "agency2", "basic_user", by="sam"),
    )
    err = refused(
        store,
        EscalationRefused,
        lambda: app.invitations.invite("e@x.test", "agency1", "parent_admin", by="sam"),
    )
    assert err.details["reason"] == "grant_exceeds_own_rights"
    refused(
        store,
        ActionDenied,
        lambda: app.invitations.invite("e@x.test", "agency1", "basic_user", by="bob"),
    )


def test_an_existing_user_accepts_as_themself(app, store) -> None:  # type: ignore[no-untyped-def]
    sent = app.invitations.invite("new@example.test", "agency2", "advanced_user", by="owner")
    refused(
        store, InvalidInput, lambda: app.invitations.accept(sent.token, display_name="N", by="new")
    )
    refused(store, InvalidInput, lambda: app.invitations.accept(sent.token, by=S))  # no name
    member = app.invitations.accept(sent.token, by="new")
    assert (member.user_id, member.account_id) == ("new", "agency2")
    last = event_log(store)[-1]
    assert isinstance(last, InvitationAccepted)
    assert last.new_user is False


def test_a_new_user_whose_login_is_taken_is_refused_and_nothing_changes(app, store) -> None:  # type: ignore[no-untyped-def]
    sent = app.invitations.invite("bob@example.test", "agency2", "basic_user", by="owner")
    refused(
        store, DuplicateLogin, lambda: app.invitations.accept(sent.token, display_name="B", by=S)
    )
    assert app.invitations.accept(sent.token, by="bob").account_id == "agency2"


def test_every_unusable_token_has_its_own_code_and_changes_nothing(app, store, clock) -> None:  # type: ignore[no-untyped-def]
    def accept(token: str):  # type: ignore[no-untyped-def]
        return lambda: app.invitations.accept(token, display_name="X", by=S)

    refused(store, InvitationNotFound, accept("inv_" + "n" * 43))
    used = app.invitations.invite("u@example.test", "agency1", "basic_user", by="sam")
    app.invitations.accept(used.token, display_name="U", by=S)
    assert refused(store, InvitationUsed, accept(used.token)).code == "invitation_used"
    gone = app.invitations.invite("r@example.test", "agency1", "basic_user", by="sam")
    assert app.invitations.revoke(gone.invitation.id, by="sam").status is InvitationState.REVOKED
    refused(store, Revoked, accept(gone.token))
    refused(store, Revoked, lambda: app.invitations.resend(gone.invitation.id, by="sam"))
    old = app.invitations.invite("o@example.test", "agency1", "basic_user", by="sam")
    new = app.invitations.resend(old.invitation.id, by="sam")
    assert new.token != old.token
    assert new.invitation.sends == 2
    refused(store, InvitationTokenReplaced, accept(old.token))
    late = app.invitations.invite("l@example.test", "agency1", "basic_user", by="sam")
    clock.advance(timedelta(days=7))
    err = refused(store, InvitationExpired, accept(late.token))
    assert isinstance(err, InvitationRefused)
    assert late.token not in str(err.to_dict())
    again = app.invitations.resend(late.invitation.id, by="sam")  # an expired one may be re-sent
    assert again.invitation.expires_at == T0 + timedelta(days=14)
    assert app.invitations.accept(again.token, display_name="L", by=S).role == "basic_user"


def test_tokens_are_stored_only_hashed(app, store) -> None:  # type: ignore[no-untyped-def]
    sent = app.invitations.invite("h@example.test", "agency1", "basic_user", by="sam")
    again = app.invitations.resend(sent.invitation.id, by="sam")
    with store.unit_of_work(read_only=True) as uow:
        stored = repr(uow.records(INVITATIONS).all()) + repr(uow.records(INVITATION_TOKENS).all())
    for token in (sent.token, again.token):
        assert token not in stored
        assert token not in repr(event_log(store))
    sent_events = [e for e in event_log(store) if isinstance(e, InvitationSent | InvitationResent)]
    assert [e.email for e in sent_events] == ["h@example.test", "h@example.test"]


def test_bad_input_names_the_field(app, store) -> None:  # type: ignore[no-untyped-def]
    for email in ["bob", "bob@", "@x.test", "a@b@c.test", "bob@localhost", " ", 7]:
        err = refused(
            store,
            InvalidInput,
            lambda e=email: app.invitations.invite(e, "agency1", "basic_user", by="sam"),
        )
        assert err.field == "email"
    for token in ["", 5, "x" * 1001]:
        err = refused(store, InvalidInput, lambda t=token: app.invitations.accept(t, by="new"))
        assert err.field == "token"


def test_one_open_invitation_per_email_and_account_and_none_for_a_member(app, store) -> None:  # type: ignore[no-untyped-def]
    app.invitations.invite("p@example.test", "agency1", "basic_user", by="sam")
    refused(
        store,
        InvitationPending,
        lambda: app.invitations.invite("P@example.test", "agency1", "basic_user", by="sam"),
    )
    refused(
        store,
        AlreadyExists,
        lambda: app.invitations.invite("bob@example.test", "agency1", "basic_user", by="sam"),
    )
    other = app.invitations.invite("p@example.test", "agency2", "basic_user", by="owner")
    assert other.invitation.account_id == "agency2"
    assert [i.email for i in app.invitations.invitations_of("agency1", by="sam")] == [
        "p@example.test"
    ]
    refused(store, ActionDenied, lambda: app.invitations.invitations_of("agency1", by="yara"))


def test_a_seat_limit_counts_members_and_open_invitations(app, store, clock) -> None:  # type: ignore[no-untyped-def]
    # agency1 has sam and bob; set from above (the parent's sub_accounts.manage)
    refused(store, ActionDenied, lambda: app.members.set_seat_limit("agency1", 3, by="sam"))
    refused(store, ActionDenied, lambda: app.members.set_seat_limit("agencydemo", 3, by="owner"))
    limit = app.members.set_seat_limit("agency1", 3, by="owner")
    assert limit is not None
    assert app.members.seat_limit("agency1", by="sam") == limit
    assert isinstance(event_log(store)[-1], SeatLimitSet)
    seat = app.invitations.invite("s3@example.test", "agency1", "basic_user", by="sam")
    err = refused(
        store,
        SeatLimitReached,
        lambda: app.invitations.invite("s4@example.test", "agency1", "basic_user", by="sam"),
    )
    assert err.details == {"account_id": "agency1", "limit": 3}
    refused(
        store, SeatLimitReached, lambda: app.members.add("new", "agency1", "basic_user", by="sam")
    )
    assert app.invitations.accept(seat.token, display_name="Three", by=S).account_id == "agency1"
    app.members.set_seat_limit("agency1", 4, by="owner")
    late = app.invitations.invite("s4@example.test", "agency1", "basic_user", by="sam")
    clock.advance(timedelta(days=8))  # an expired invitation holds no seat
    app.members.add("new", "agency1", "basic_user", by="sam")
    refused(store, SeatLimitReached, lambda: app.invitations.resend(late.invitation.id, by="sam"))
    assert app.members.set_seat_limit("agency1", None, by="owner") is None
    assert app.invitations.resend(late.invitation.id, by="sam").invitation.sends == 2
    assert app.members.set_seat_limit("agencydemo", 1, by=S) is not None  # the master: system


def test_revoking_and_resending_emit_their_events(app, store) -> None:  # type: ignore[no-untyped-def]
    sent = app.invitations.invite("ev@example.test", "agency1", "basic_user", by="sam")
    app.invitations.resend(sent.invitation.id, by="sam")
    app.invitations.revoke(sent.invitation.id, by="owner")
    kinds = [type(e) for e in event_log(store)[-3:]]
    assert kinds == [InvitationSent, InvitationResent, InvitationRevoked]
