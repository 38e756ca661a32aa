"""``app.invitations``: invite people by e-mail to an account with a role (seed 004).

* ``invite`` and ``resend``: by whoever may grant the role there (``users.invite`` and no
  escalation, as ``members.add``), or the system; each returns the invitation with a new
  token, shown this once and stored only hashed; a token accepts its invitation once,
  until ``Settings.invitation_ttl`` after it was sent; re-sending stops the old token;
* ``revoke``: the same people; a revoked invitation accepts nobody;
* ``accept``: with the token. By the system (the host's sign-up page), it creates the user
  (login: the invited e-mail unless another is given; display name from the call) and the
  membership in one unit of work; by an existing user (signed in: the token is their
  proof), it gives them the membership;
* reads: ``get`` and ``invitations_of`` need ``users.view`` in the account.

An open invitation takes a seat (``members.set_seat_limit``), so accepting it never finds
the account full.

>>> import subacct
>>> app = subacct.Subacct(subacct.MemoryStore())
>>> S = subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> sent = app.invitations.invite("Ann@Example.com", "agencydemo", "parent_admin", by=S)
>>> sent.invitation.email, sent.invitation.state_at(sent.invitation.created_at).value
('ann@example.com', 'pending')
>>> member = app.invitations.accept(sent.token, display_name="Ann", by=S)
>>> app.members.get_user(member.user_id, by=S).login, member.role
('ann@example.com', 'parent_admin')
"""

from __future__ import annotations

from subacct.domain import (
    AccountId,
    Invitation,
    InvitationId,
    InvitationToken,
    Membership,
    RoleId,
    SentInvitation,
    User,
    UserId,
    normalize_email,
    normalize_login,
)
from subacct.domain import changes as domain_changes
from subacct.domain.events import (
    InvitationAccepted,
    InvitationResent,
    InvitationRevoked,
    InvitationSent,
)
from subacct.errors import (
    DuplicateLogin,
    InvalidInput,
    InvitationNotFound,
    InvitationPending,
    quoted,
)
from subacct.policy import INVITE_USERS, VIEW_USERS, System, plan_invitation
from subacct.policy.api_keys import secret_hash
from subacct.policy.grants import require_not_member
from subacct.principals import Actor
from subacct.services import _args, _seats
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import INVITATION_TOKENS, INVITATIONS

__all__ = ["Invitations"]


def _invitation(unit: Unit, invitation_id: str) -> Invitation:
    found: Invitation | None = unit.uow.records(INVITATIONS).find(invitation_id)
    if found is None:
        raise InvitationNotFound(
            f"invitation {quoted(invitation_id)} does not exist", invitation_id=invitation_id
        )
    return found


def _may_grant(unit: Unit, account_id: AccountId, role: RoleId) -> None:
    """The system (audited), or a principal who may grant ``role`` in the account."""
    unit.role(role)
    if isinstance(unit.actor, System):
        unit.require(INVITE_USERS, account_id)
    else:
        plan_invitation(unit.policy([account_id]), unit.actor, account_id, role)
        unit.allowed(INVITE_USERS, account_id)


def _store_token(unit: Unit, invitation: Invitation) -> None:
    unit.uow.records(INVITATION_TOKENS).add(InvitationToken(invitation.token_hash, invitation.id))


class Invitations:
    """Invitations by e-mail (``app.invitations``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    @command
    def invite(
        self,
        email: str,
        account_id: str,
        role: str,
        *,
        by: Actor,
        invitation_id: str | None = None,
    ) -> SentInvitation:
        """Invite ``email`` to the account with ``role``; the token is in the result."""
        who, address = _args.actor(by), normalize_email(email)
        where = AccountId(_args.ident(account_id, "account_id"))
        role_id = RoleId(_args.ident(role, "role"))
        given = _args.optional_ident(invitation_id, "invitation_id")
        token = _args.new_token("inv_")

        def work(unit: Unit) -> SentInvitation:
            unit.uow.accounts.get(where).require_open()
            _may_grant(unit, where, role_id)
            user = unit.uow.users.find_by_login(address)
            if user is not None:
                found = unit.uow.memberships.find(user.id, where)
                require_not_member(
                    Membership(user.id, where, role_id, unit.now),
                    None if found is None else found.role,
                )
            held = unit.uow.records(INVITATIONS).list_by("account_id", where)
            if any(i.email == address and i.is_open(unit.now) for i in held):
                raise InvitationPending(
                    f"{quoted(address)} has an open invitation to {quoted(where)}: re-send it",
                    account_id=where,
                )
            _seats.require_seat(unit, where)
            invitation = Invitation(
                InvitationId(unit.new_id(given, "invitation")),
                where,
                address,
                role_id,
                unit.user,
                unit.now,
                unit.now + unit.settings.invitation_ttl,
                secret_hash(token),
            )
            unit.uow.records(INVITATIONS).add(invitation)
            _store_token(unit, invitation)
            unit.emit(
                InvitationSent(
                    **unit.meta().about(where),
                    invitation_id=invitation.id,
                    email=invitation.email,
                    role=invitation.role,
                    expires_at=invitation.expires_at,
                )
            )
            return SentInvitation(invitation, token)

        return self._runner.command(who, work)

    @command
    def resend(self, invitation_id: str, *, by: Actor) -> SentInvitation:
        """A new token and expiry for a pending or expired invitation; the old token stops
        working. An expired one takes a seat again (``SeatLimitReached`` when full)."""
        who, target = _args.actor(by), _args.ident(invitation_id, "invitation_id")
        token = _args.new_token("inv_")

        def work(unit: Unit) -> SentInvitation:
            stored = _invitation(unit, target)
            unit.uow.accounts.get(stored.account_id).require_open()
            _may_grant(unit, stored.account_id, stored.role)
            ttl = unit.settings.invitation_ttl
            again = stored.resent(secret_hash(token), unit.now, ttl)
            if not stored.is_open(unit.now):
                _seats.require_seat(unit, stored.account_id, excluding=stored.id)
            unit.uow.records(INVITATIONS).update(again)
            _store_token(unit, again)
            unit.emit(
                InvitationResent(
                    **unit.meta().about(again.account_id),
                    invitation_id=again.id,
                    email=again.email,
                    expires_at=again.expires_at,
                    sends=again.sends,
                )
            )
            return SentInvitation(again, token)

        return self._runner.command(who, work)

    @command
    def revoke(self, invitation_id: str, *, by: Actor) -> Invitation:
        """Close a pending or expired invitation: no token accepts it any more."""
        who, target = _args.actor(by), _args.ident(invitation_id, "invitation_id")

        def work(unit: Unit) -> Invitation:
            stored = _invitation(unit, target)
            _may_grant(unit, stored.account_id, stored.role)
            revoked = stored.revoked(unit.now)
            unit.uow.records(INVITATIONS).update(revoked)
            unit.emit(
                InvitationRevoked(**unit.meta().about(revoked.account_id), invitation_id=revoked.id)
            )
            return revoked

        return self._runner.command(who, work)

    @command
    def accept(
        self,
        token: str,
        *,
        by: Actor,
        display_name: str | None = None,
        login: str | None = None,
        user_id: str | None = None,
    ) -> Membership:
        """Accept the invitation ``token`` belongs to. ``by=SYSTEM``: a new user with
        ``display_name`` and ``login`` (default: the invited e-mail), and ``user_id`` if
        given. ``by=`` a user id: that existing user (give none of the three). Refused:
        ``InvitationNotFound`` (unknown token), ``InvitationExpired``, ``InvitationUsed``,
        ``InvitationRevoked``, ``InvitationTokenReplaced``; nothing changes then."""
        who, digest = (
            _args.actor(by),
            secret_hash(_args.token(token, "inv_", "an invitation token")),
        )
        label = None if display_name is None else _args.name(display_name, "display_name")
        key = None if login is None else normalize_login(login)
        given = _args.optional_ident(user_id, "user_id")

        def work(unit: Unit) -> Membership:
            new_user = isinstance(unit.actor, System)
            if not new_user and not isinstance(unit.actor, str):
                raise InvalidInput(
                    "an invitation is accepted by a user, or by the system for a new user",
                    field="by",
                )
            if not new_user and (label, key, given) != (None, None, None):
                raise InvalidInput(
                    "an existing user accepts as themself: display_name, login and user_id "
                    "are for a new user",
                    field="display_name" if label is not None else "login",
                )
            if new_user and label is None:
                raise InvalidInput("a new user needs a display_name", field="display_name")
            found = unit.uow.records(INVITATION_TOKENS).find(digest)
            if found is None:
                raise InvitationNotFound("no invitation has this token")
            invitation = _invitation(unit, found.invitation_id)
            invitation.require_usable(digest, unit.now)
            account = unit.uow.accounts.get(invitation.account_id)
            account.require_open()
            unit.role(invitation.role)
            if new_user:
                assert label is not None
                user = User(
                    UserId(unit.new_id(given, "user")),
                    invitation.email if key is None else key,
                    label,
                    unit.now,
                )
                if unit.uow.users.find_by_login(user.login) is not None:
                    raise DuplicateLogin(user.login)
                if unit.uow.users.find(user.id) is not None:
                    raise InvalidInput(f"user {quoted(user.id)} exists", field="user_id")
                unit.require(INVITE_USERS, account.id)
            else:
                user = unit.uow.users.get(UserId(str(unit.actor)))
            membership = Membership(user.id, account.id, invitation.role, unit.now)
            held = unit.uow.memberships.find(user.id, account.id)
            require_not_member(membership, None if held is None else held.role)
            _seats.require_seat(unit, account.id, excluding=invitation.id)
            if new_user:
                unit.uow.users.add(user)
                unit.emit(domain_changes.user_created(user, unit.meta()))
            _seats.add_member(unit, membership)
            unit.uow.records(INVITATIONS).update(invitation.accepted(user.id, unit.now))
            unit.emit(
                InvitationAccepted(
                    **unit.meta().about(account.id),
                    invitation_id=invitation.id,
                    user_id=user.id,
                    role=invitation.role,
                    new_user=new_user,
                )
            )
            return membership

        return self._runner.command(who, work)

    # -- reads ----------------------------------------------------------------------------

    @query
    def get(self, invitation_id: str, *, by: Actor) -> Invitation:
        """The invitation (``users.view`` in its account)."""
        who, target = _args.actor(by), _args.ident(invitation_id, "invitation_id")

        def work(unit: Unit) -> Invitation:
            invitation = _invitation(unit, target)
            unit.require(VIEW_USERS, invitation.account_id)
            return invitation

        return self._runner.query(who, work)

    @query
    def invitations_of(self, account_id: str, *, by: Actor) -> list[Invitation]:
        """Every invitation of the account, in id order, whatever its state
        (``Invitation.state_at`` tells open ones; ``users.view`` there)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[Invitation]:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require(VIEW_USERS, account.id)
            held = unit.uow.records(INVITATIONS).list_by("account_id", account.id)
            return sorted(held, key=lambda i: i.id)

        return self._runner.query(who, work)
