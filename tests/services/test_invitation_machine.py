"""A state machine over invitations (invite, re-send, revoke, accept with the newest or an
older token, time passing, seat limits), on memory and SQLite, against a plain model: every
call succeeds or fails exactly as the model says, with its code, and storage then holds
what the model holds (a refusal changes nothing)."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from subacct import SYSTEM, FixedClock, MemoryStore, SqliteStore, Store, Subacct
from subacct.errors import SubacctError

from .conftest import T0, make_app

_EMAILS = ("ann@x.test", "bea@x.test", "cy@x.test")
_TTL = timedelta(days=7)


@attrs.define
class _Invite:
    email: str
    tokens: list[str]
    expires_at: datetime
    status: str = "pending"  # pending, accepted, revoked

    def open_at(self, now: datetime) -> bool:
        return self.status == "pending" and now < self.expires_at


class InvitationMachine(RuleBasedStateMachine):
    store_kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        store: Store = (
            MemoryStore()
            if self.store_kind == "memory"
            else SqliteStore(Path(self._dir.name) / "m.db")
        )
        self.clock = FixedClock(T0)
        app = make_app(store, clock=self.clock)
        app.accounts.create_master("Agency", account_id="m", by=SYSTEM)
        app.accounts.create_sub("m", "Sub", account_id="s1", by=SYSTEM)
        app.members.create_user("owner@x.test", "Owner", user_id="owner", by=SYSTEM)
        app.members.add("owner", "m", "parent_admin", by=SYSTEM)
        self.app: Subacct = app
        self.invites: dict[str, _Invite] = {}
        self.members: set[str] = set()  # e-mails with a membership in s1
        self.limit: int | None = None

    def teardown(self) -> None:
        close = getattr(self.app.store, "close", None)
        if close is not None:
            close()
        self._dir.cleanup()

    # -- the model's answers ------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now()

    def _full(self, excluding: str | None = None) -> bool:
        now = self._now()
        pending = sum(1 for i, v in self.invites.items() if i != excluding and v.open_at(now))
        return self.limit is not None and len(self.members) + pending >= self.limit

    def _run(self, expected: str | None, call: Any) -> Any:
        got, code = None, None
        try:
            got = call()
        except SubacctError as err:
            code = err.code
        assert code == expected, (code, expected)
        return got

    # -- rules --------------------------------------------------------------------------

    @rule(email=st.sampled_from(_EMAILS))
    def invite(self, email: str) -> None:
        now = self._now()
        if email in self.members:
            expected: str | None = "already_exists"
        elif any(v.email == email and v.open_at(now) for v in self.invites.values()):
            expected = "invitation_pending"
        elif self._full():
            expected = "seat_limit_reached"
        else:
            expected = None
        sent = self._run(
            expected, lambda: self.app.invitations.invite(email, "s1", "basic_user", by="owner")
        )
        if sent is not None:
            self.invites[sent.invitation.id] = _Invite(email, [sent.token], now + _TTL)

    @precondition(lambda self: self.invites)
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        inv_id = data.draw(st.sampled_from(sorted(self.invites)))
        inv = self.invites[inv_id]
        now = self._now()
        if inv.status != "pending":
            expected: str | None = (
                "invitation_used" if inv.status == "accepted" else "invitation_revoked"
            )
        elif not inv.open_at(now) and self._full(excluding=inv_id):
            expected = "seat_limit_reached"
        else:
            expected = None
        sent = self._run(expected, lambda: self.app.invitations.resend(inv_id, by="owner"))
        if sent is not None:
            inv.tokens.append(sent.token)
            inv.expires_at = now + _TTL

    @precondition(lambda self: self.invites)
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        inv_id = data.draw(st.sampled_from(sorted(self.invites)))
        inv = self.invites[inv_id]
        expected = {"pending": None, "accepted": "invitation_used"}.get(
            inv.status, "invitation_revoked"
        )
        if self._run(expected, lambda: self.app.invitations.revoke(inv_id, by="owner")):
            inv.status = "revoked"

    @precondition(lambda self: self.invites)
    @rule(data=st.data(), newest=st.booleans())
    def accept(self, data: st.DataObject, newest: bool) -> None:
        inv_id = data.draw(st.sampled_from(sorted(self.invites)))
        inv = self.invites[inv_id]
        token = inv.tokens[-1] if newest else inv.tokens[0]
        now = self._now()
        if inv.status == "accepted":
            expected: str | None = "invitation_used"
        elif inv.status == "revoked":
            expected = "invitation_revoked"
        elif token != inv.tokens[-1]:
            expected = "invitation_token_replaced"
        elif not inv.open_at(now):
            expected = "invitation_expired"
        elif inv.email in self.members:
            expected = "duplicate_login"  # the system makes a new user with that login
        elif self._full(excluding=inv_id):
            expected = "seat_limit_reached"
        else:
            expected = None
        call = lambda: self.app.invitations.accept(token, display_name="Someone", by=SYSTEM)  # noqa: E731
        if self._run(expected, call) is not None:
            inv.status = "accepted"
            self.members.add(inv.email)

    @rule(hours=st.integers(1, 24 * 8))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    @rule(limit=st.none() | st.integers(1, 4))
    def set_seat_limit(self, limit: int | None) -> None:
        expected = "not_found" if limit is None and self.limit is None else None
        self._run(expected, lambda: self.app.members.set_seat_limit("s1", limit, by="owner"))
        self.limit = limit

    # -- what storage holds ---------------------------------------------------------------

    @invariant()
    def storage_holds_the_model(self) -> None:
        app, now = self.app, self._now()
        logins = {
            app.members.get_user(m.user_id, by=SYSTEM).login
            for m in app.members.members_of("s1", by=SYSTEM)
        }
        assert logins == self.members
        stored = {i.id: i for i in app.invitations.invitations_of("s1", by="owner")}
        assert set(stored) == set(self.invites)
        for inv_id, inv in self.invites.items():
            got = stored[inv_id]
            assert (got.email, got.status.value, got.expires_at) == (
                inv.email,
                inv.status,
                inv.expires_at,
            )
            assert got.is_open(now) == inv.open_at(now)
            assert got.sends == len(inv.tokens)


class SqliteInvitationMachine(InvitationMachine):
    store_kind = "sqlite"


InvitationMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=15)
SqliteInvitationMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=15)
test_invitations_on_memory = InvitationMachine.TestCase
test_invitations_on_sqlite = SqliteInvitationMachine.TestCase
