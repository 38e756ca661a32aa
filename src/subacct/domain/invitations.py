"""Invitations by e-mail, seat limits, and who administers a top-level account.

An ``Invitation`` asks the person behind an e-mail address to join an account with a role
(seed 004: administrators invite users to the parent or any sub-account). It holds the
hash of a token the host sends them; the token accepts it once, until ``expires_at``.
Re-sending gives it a new token and a new expiry (the old token stops working);
revoking closes it. The state at a time is ``state_at``: an open invitation past its
expiry is ``expired`` (nothing is written when time passes).

A ``SeatLimit`` caps an account's seats: its memberships plus its open invitations (an
invitation holds its seat until it is accepted, revoked or expires, so accepting one never
finds the account full). Lowering the limit below the seats taken keeps everyone; new
seats wait until enough have gone.

>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> normalize_email("  Ann@Example.COM ")
'ann@example.com'
>>> inv = Invitation("inv1", "agency1", "Ann@Example.com", "basic_user", "owner", t0,
...                  t0 + timedelta(days=7), "a" * 64)
>>> inv.email, inv.state_at(t0).value, inv.state_at(t0 + timedelta(days=7)).value
('ann@example.com', 'pending', 'expired')
>>> t8 = t0 + timedelta(days=8)
>>> inv.resent("b" * 64, t8, timedelta(days=7)).state_at(t8).value
'pending'
>>> seats_free(SeatLimit("agency1", 3), members=2, pending=1)
False
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NewType

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import positive_version, utc_timestamp
from subacct.domain.accounts import Account
from subacct.domain.ids import AccountId, RoleId, UserId, check_id
from subacct.domain.users import Membership, normalize_login
from subacct.errors import (
    InvalidInput,
    InvitationExpired,
    InvitationRevoked,
    InvitationTokenReplaced,
    InvitationUsed,
    LastAdmin,
    SeatLimitReached,
    quoted,
)

__all__ = [
    "Invitation",
    "InvitationId",
    "InvitationState",
    "InvitationToken",
    "SeatLimit",
    "SentInvitation",
    "normalize_email",
    "open_invitations",
    "require_admin_left",
    "require_seat",
    "seats_free",
]

InvitationId = NewType("InvitationId", str)

_MAX_SEATS = 10**6


def normalize_email(value: object) -> str:
    """An e-mail address as invitations store and compare it: normalized like a login
    (``subacct.domain.normalize_login``), with one ``@`` between a non-empty local part
    and a domain holding a dot (``InvalidInput``, field ``email``, otherwise).

    >>> normalize_email("bob@agency")
    Traceback (most recent call last):
    ...
    subacct.errors.InvalidInput: email 'bob@agency' is not an e-mail address
    """
    try:
        email = normalize_login(value)
    except InvalidInput as bad:
        raise InvalidInput(str(bad).replace("login", "email"), field="email") from None
    local, at, domain = email.rpartition("@")
    labels = domain.split(".")
    if not at or not local or "@" in local or len(labels) < 2 or not all(labels):
        raise InvalidInput(f"email {quoted(value)} is not an e-mail address", field="email")
    return email


def _invitation_id(value: object) -> InvitationId:
    return InvitationId(check_id(value, field="invitation_id"))


def _account_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="account_id"))


def _role_id(value: object) -> RoleId:
    return RoleId(check_id(value, field="role"))


def _hash(value: object) -> str:
    if not isinstance(value, str) or len(value) < 32 or not value.isalnum():
        raise InvalidInput("token_hash must be a hex digest of at least 32 characters")
    return value


def _optional_user(value: object) -> UserId | None:
    return None if value is None else UserId(check_id(value, field="user_id"))


def _optional_time(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="closed_at")


class InvitationState(enum.Enum):
    """Where an invitation stands at a time (``Invitation.state_at``)."""

    PENDING = "pending"
    EXPIRED = "expired"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


@attrs.frozen
class Invitation:
    """An invitation of ``email`` to ``account_id`` with ``role``, sent by ``invited_by``
    (``None``: the system). ``token_hash`` is the hash of its newest token; ``sends``
    counts how many tokens it was given. ``status`` is what was written: ``pending``,
    ``accepted`` (by ``accepted_by``) or ``revoked``, at ``closed_at``."""

    id: InvitationId = attrs.field(converter=_invitation_id)
    account_id: AccountId = attrs.field(converter=_account_id)
    email: str = attrs.field(converter=normalize_email)
    role: RoleId = attrs.field(converter=_role_id)
    invited_by: UserId | None = attrs.field(converter=_optional_user)
    created_at: datetime = attrs.field(converter=utc_timestamp)
    expires_at: datetime = attrs.field(converter=utc_timestamp)
    token_hash: str = attrs.field(converter=_hash)
    status: InvitationState = attrs.field(
        default=InvitationState.PENDING, validator=instance_of(InvitationState)
    )
    sends: int = attrs.field(default=1, converter=positive_version)
    accepted_by: UserId | None = attrs.field(default=None, converter=_optional_user)
    closed_at: datetime | None = attrs.field(default=None, converter=_optional_time)
    version: int = attrs.field(default=1, converter=positive_version)

    def __attrs_post_init__(self) -> None:
        if self.status is InvitationState.EXPIRED:
            raise InvalidInput("expired is a state at a time, never stored", field="status")
        if (self.status is InvitationState.PENDING) != (self.closed_at is None):
            raise InvalidInput("closed_at is set exactly when closed", field="closed_at")
        if (self.status is InvitationState.ACCEPTED) != (self.accepted_by is not None):
            raise InvalidInput("accepted_by is set exactly when accepted", field="accepted_by")

    def state_at(self, now: datetime) -> InvitationState:
        if self.status is InvitationState.PENDING and now >= self.expires_at:
            return InvitationState.EXPIRED
        return self.status

    def is_open(self, now: datetime) -> bool:
        """Pending and not expired: it holds a seat and its token accepts it."""
        return self.state_at(now) is InvitationState.PENDING

    def require_usable(self, token_hash: str, now: datetime) -> None:
        """Refuse a token that cannot accept this invitation now."""
        state = self.state_at(now)
        what = f"invitation {quoted(self.id)}"
        if state is InvitationState.ACCEPTED:
            raise InvitationUsed(f"{what} was accepted already", invitation_id=self.id)
        if state is InvitationState.REVOKED:
            raise InvitationRevoked(f"{what} was revoked", invitation_id=self.id)
        if token_hash != self.token_hash:
            raise InvitationTokenReplaced(
                f"{what} was re-sent: only its newest token accepts it", invitation_id=self.id
            )
        if state is InvitationState.EXPIRED:
            raise InvitationExpired(
                f"{what} expired at {self.expires_at.isoformat()}", invitation_id=self.id
            )

    def _require_not_closed(self) -> None:
        if self.status is InvitationState.ACCEPTED:
            raise InvitationUsed(
                f"invitation {quoted(self.id)} was accepted", invitation_id=self.id
            )
        if self.status is InvitationState.REVOKED:
            raise InvitationRevoked(
                f"invitation {quoted(self.id)} was revoked", invitation_id=self.id
            )

    def resent(self, token_hash: str, now: datetime, ttl: timedelta) -> Invitation:
        """A new token (the old one stops working) and a new expiry; an expired invitation
        may be re-sent, an accepted or revoked one not."""
        self._require_not_closed()
        return attrs.evolve(
            self,
            token_hash=_hash(token_hash),
            expires_at=now + ttl,
            sends=self.sends + 1,
            version=self.version + 1,
        )

    def revoked(self, now: datetime) -> Invitation:
        self._require_not_closed()
        return attrs.evolve(
            self, status=InvitationState.REVOKED, closed_at=now, version=self.version + 1
        )

    def accepted(self, user_id: UserId, now: datetime) -> Invitation:
        return attrs.evolve(
            self,
            status=InvitationState.ACCEPTED,
            accepted_by=user_id,
            closed_at=now,
            version=self.version + 1,
        )


@attrs.frozen
class SentInvitation:
    """An invitation and its new token: the token is returned this once (the host sends
    it to ``invitation.email``) and never stored; it is left out of ``repr``."""

    invitation: Invitation = attrs.field(validator=instance_of(Invitation))
    token: str = attrs.field(repr=False, validator=instance_of(str))


@attrs.frozen
class InvitationToken:
    """Maps the hash of a token (the newest or an older one) to its invitation, so an old
    token is told apart from an unknown one. The token itself is never stored."""

    token_hash: str = attrs.field(converter=_hash)
    invitation_id: InvitationId = attrs.field(converter=_invitation_id)


def _limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_SEATS:
        raise InvalidInput(f"limit must be an integer from 1 to {_MAX_SEATS}", field="limit")
    return value


@attrs.frozen
class SeatLimit:
    """At most ``limit`` seats (memberships plus open invitations) in ``account_id``."""

    account_id: AccountId = attrs.field(converter=_account_id)
    limit: int = attrs.field(converter=_limit)


def open_invitations(invitations: Iterable[Invitation], now: datetime) -> list[Invitation]:
    """The invitations still open at ``now`` (each holds a seat)."""
    return [i for i in invitations if i.is_open(now)]


def seats_free(limit: SeatLimit | None, *, members: int, pending: int) -> bool:
    """Whether one more seat fits beside ``members`` and ``pending`` open invitations."""
    return limit is None or members + pending < limit.limit


def require_seat(limit: SeatLimit | None, *, members: int, pending: int) -> None:
    """``SeatLimitReached`` unless one more seat fits (``seats_free``)."""
    if not seats_free(limit, members=members, pending=pending):
        assert limit is not None
        raise SeatLimitReached(
            f"account {quoted(limit.account_id)} has all its {limit.limit} seats taken "
            f"({members} members, {pending} open invitations)",
            account_id=limit.account_id,
            limit=limit.limit,
        )


def require_admin_left(
    account: Account,
    members: Sequence[Membership],
    owner_role: RoleId,
    leaving: Membership,
    new_role: RoleId | None = None,
) -> None:
    """Refuse (``LastAdmin``) taking ``leaving`` out of the top-level ``account`` (a
    master or a linked client), or moving them to ``new_role``, when they are its last
    member holding ``owner_role``. ``members`` are the account's memberships. A
    sub-account is administered from above and is never refused.

    >>> from datetime import datetime, UTC
    >>> from subacct.domain import new_master
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> owner = Membership("owner", "m", "parent_admin", t0)
    >>> require_admin_left(new_master("m", "M", t0), [owner], "parent_admin", owner)
    Traceback (most recent call last):
    ...
    subacct.errors.LastAdmin: user 'owner' is the last administrator of account 'm'
    """
    if account.parent_id is not None or leaving.role != owner_role or new_role == owner_role:
        return
    if any(m.role == owner_role and m.user_id != leaving.user_id for m in members):
        return
    raise LastAdmin(
        f"user {quoted(leaving.user_id)} is the last administrator of account {quoted(account.id)}",
        account_id=account.id,
        user_id=leaving.user_id,
        role=owner_role,
    )
