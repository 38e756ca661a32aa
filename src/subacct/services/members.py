"""``app.members``: users (login identities) and their memberships in accounts.

* ``create_user`` and ``remove_user``: the system only (signing up and deleting a login
  are the platform's); ``rename_user``: the user themself or the system;
* ``add`` (an existing user; a person without one: ``app.invitations``), ``change_role``,
  ``remove``:
  ``users.invite`` / ``users.remove`` in the account, with no escalation
  (``subacct.policy.plan_invite``: what is granted must be within the grantor's own
  rights there; nobody changes their own membership); the system is bound only by the
  role set and the account's lifecycle;
* ``set_seat_limit``: from above (``sub_accounts.manage`` in the parent; the system for a
  top-level account); ``transfer_ownership``: an owner of the top-level account or the
  system. The last member holding ``Settings.owner_role`` in a top-level account is not
  removed, demoted or deleted (``LastAdmin``); a new membership needs a free seat;
* reads: a user sees themself; ``members_of`` needs ``users.view`` in the account;
  ``find_user_by_login`` is the system's (a login lookup is part of signing in).

Removing a membership or a user never touches account data (seed 004). It revokes the
personal API keys the user made in the accounts they left (no membership left there or
above), each with an ``api_key_revoked`` event (reason ``creator_left``); account keys
stay.

>>> import subacct
>>> app = subacct.Subacct(subacct.MemoryStore())
>>> S = subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> _ = app.members.create_user("owner@agency.test", "Owner", user_id="owner", by=S)
>>> app.members.add("owner", "agencydemo", "parent_admin", by=S).role
'parent_admin'
>>> [m.user_id for m in app.members.members_of("agencydemo", by="owner")]
['owner']
"""

from __future__ import annotations

from subacct.domain import (
    AccountId,
    Membership,
    RoleId,
    SeatLimit,
    User,
    UserId,
    normalize_login,
)
from subacct.domain import changes as domain_changes
from subacct.domain.events import SeatLimitSet
from subacct.errors import (
    DuplicateLogin,
    MembershipNotFound,
    NotFound,
    UserNotFound,
    quoted,
)
from subacct.policy import (
    INVITE_USERS,
    REMOVE_USERS,
    VIEW_USERS,
    Action,
    System,
    plan_invite,
    plan_removal,
    plan_role_change,
)
from subacct.policy.grants import require_not_member
from subacct.principals import Actor
from subacct.services import _args, _credentials, _seats
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import SEAT_LIMITS

__all__ = ["Members"]

_CREATE_USER = Action("users.create")
_DELETE_USER = Action("users.delete")
_RENAME_USER = Action("users.rename")
_FIND_USER = Action("users.find")
_SET_SEAT_LIMIT = Action("users.set_seat_limit")


def _membership(unit: Unit, user_id: str, account_id: str) -> Membership:
    found = unit.uow.memberships.find(UserId(user_id), AccountId(account_id))
    if found is None:
        raise MembershipNotFound(user_id, account_id)
    return found


def _self_or_system(unit: Unit, user_id: str, action: Action) -> None:
    """The user acting on their own identity, or the system."""
    if not unit.is_system and unit.user == user_id and isinstance(unit.actor, str):
        return
    unit.require_system(action)


class Members:
    """Users and memberships (``app.members``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    # -- users ----------------------------------------------------------------------------

    @command
    def create_user(
        self, login: str, display_name: str, *, by: Actor, user_id: str | None = None
    ) -> User:
        """A new user; the normalized login must be free across the whole system."""
        who, key = _args.actor(by), normalize_login(login)
        label = _args.name(display_name, "display_name")
        given = _args.optional_ident(user_id, "user_id")

        def work(unit: Unit) -> User:
            unit.require_system(_CREATE_USER)
            user = User(UserId(unit.new_id(given, "user")), key, label, unit.now)
            if unit.uow.users.find_by_login(user.login) is not None:
                raise DuplicateLogin(user.login)
            unit.uow.users.add(user)
            unit.emit(domain_changes.user_created(user, unit.meta()))
            return user

        return self._runner.command(who, work)

    @command
    def rename_user(self, user_id: str, display_name: str, *, by: Actor) -> User:
        """A new display name (by the user themself, or the system)."""
        who, target = _args.actor(by), _args.ident(user_id, "user_id")
        label = _args.name(display_name, "display_name")

        def work(unit: Unit) -> User:
            _self_or_system(unit, target, _RENAME_USER)
            user = unit.uow.users.get(UserId(target)).renamed(label)
            unit.uow.users.update(user)
            unit.emit(domain_changes.user_renamed(user, unit.meta()))
            return user

        return self._runner.command(who, work)

    @command
    def remove_user(self, user_id: str, *, by: Actor) -> list[Membership]:
        """Delete the user and their memberships (account data stays; the system only).
        Returns the memberships that went."""
        who, target = _args.actor(by), _args.ident(user_id, "user_id")

        def work(unit: Unit) -> list[Membership]:
            unit.require_system(_DELETE_USER)
            user = unit.uow.users.get(UserId(target))
            gone = unit.uow.memberships.for_user(user.id)
            for membership in gone:
                _seats.require_admin_left(unit, membership)
            for membership in gone:
                unit.uow.memberships.remove(membership.user_id, membership.account_id)
            unit.uow.users.remove(user.id)
            unit.emit(domain_changes.user_deleted(user, gone, unit.meta()))
            _credentials.revoke_orphaned_keys(unit, user.id)
            return gone

        return self._runner.command(who, work)

    # -- memberships ----------------------------------------------------------------------

    @command
    def add(self, user_id: str, account_id: str, role: str, *, by: Actor) -> Membership:
        """Give an existing user ``role`` in the account (one membership per user and
        account), if ``by`` may grant it there and a seat is free. (People without a
        user are invited by e-mail: ``app.invitations``.)"""
        who = _args.actor(by)
        target, where = _args.ident(user_id, "user_id"), _args.ident(account_id, "account_id")
        role_id = RoleId(_args.ident(role, "role"))

        def work(unit: Unit) -> Membership:
            unit.uow.users.get(UserId(target))
            account = unit.uow.accounts.get(AccountId(where))
            account.require_open()
            unit.role(role_id)
            membership = Membership(target, account.id, role_id, unit.now)
            if isinstance(unit.actor, System):
                found = unit.uow.memberships.find(membership.user_id, account.id)
                require_not_member(membership, None if found is None else found.role)
                unit.require(INVITE_USERS, account.id)
            else:
                index = unit.policy([account.id], [target])
                plan_invite(index, unit.actor, membership)
                unit.allowed(INVITE_USERS, account.id)
            _seats.require_seat(unit, account.id)
            return _seats.add_member(unit, membership)

        return self._runner.command(who, work)

    @command
    def change_role(self, user_id: str, account_id: str, role: str, *, by: Actor) -> Membership:
        """Move a member to another role; both roles must be within ``by``'s rights. The
        last owner of a top-level account keeps the owner role (``LastAdmin``)."""
        who = _args.actor(by)
        target, where = _args.ident(user_id, "user_id"), _args.ident(account_id, "account_id")
        role_id = RoleId(_args.ident(role, "role"))

        def work(unit: Unit) -> Membership:
            current = _membership(unit, target, where)
            unit.role(role_id)
            if isinstance(unit.actor, System):
                unit.require(INVITE_USERS, current.account_id)
                changed = current.with_role(role_id)
            else:
                index = unit.policy([current.account_id], [target])
                changed = plan_role_change(index, unit.actor, current, role_id)
                unit.allowed(INVITE_USERS, current.account_id)
            _seats.require_admin_left(unit, current, role_id)
            return _seats.change_role(unit, current, changed)

        return self._runner.command(who, work)

    @command
    def remove(self, user_id: str, account_id: str, *, by: Actor) -> Membership:
        """Take a member out of the account (its data stays). Returns what was removed.
        The last owner of a top-level account stays (``LastAdmin``)."""
        who = _args.actor(by)
        target, where = _args.ident(user_id, "user_id"), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> Membership:
            current = _membership(unit, target, where)
            if isinstance(unit.actor, System):
                unit.require(REMOVE_USERS, current.account_id)
            else:
                index = unit.policy([current.account_id], [target])
                plan_removal(index, unit.actor, current)
                unit.allowed(REMOVE_USERS, current.account_id)
            _seats.require_admin_left(unit, current)
            return _seats.remove_member(unit, current)

        return self._runner.command(who, work)

    @command
    def transfer_ownership(
        self,
        account_id: str,
        to_user_id: str,
        *,
        by: Actor,
        from_user_id: str | None = None,
        then_role: str | None = None,
    ) -> Membership:
        """Hand the owner role (``Settings.owner_role``) of a top-level account to
        ``to_user_id`` (made a member if needed, in a free seat). The one handing it over
        is the acting owner, or for the system ``from_user_id`` (``None``: nobody, the
        system only gives it); they then hold ``then_role``, or leave the account when it
        is ``None``. Returns the new owner's membership."""
        who = _args.actor(by)
        where = _args.ident(account_id, "account_id")
        target = UserId(_args.ident(to_user_id, "to_user_id"))
        named = _args.optional_ident(from_user_id, "from_user_id")
        after = None if then_role is None else RoleId(_args.ident(then_role, "then_role"))

        def work(unit: Unit) -> Membership:
            return _seats.transfer_ownership(unit, AccountId(where), target, named, after)

        return self._runner.command(who, work)

    # -- seats ------------------------------------------------------------------------------

    @command
    def set_seat_limit(self, account_id: str, limit: int | None, *, by: Actor) -> SeatLimit | None:
        """Cap the account's seats (members plus open invitations; ``None`` removes the
        cap). Set from above, as quotas are: a sub-account's by ``sub_accounts.manage`` in
        its parent, a top-level account's by the system."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        wanted = None if limit is None else SeatLimit(where, limit)

        def work(unit: Unit) -> SeatLimit | None:
            account = unit.uow.accounts.get(AccountId(where))
            account.require_open()
            unit.require_from_above(_SET_SEAT_LIMIT, account)
            repo = unit.uow.records(SEAT_LIMITS)
            stored = repo.find(account.id)
            if wanted is None and stored is None:
                raise NotFound(
                    f"account {quoted(account.id)} has no seat limit", account_id=account.id
                )
            if wanted is None:
                repo.remove(account.id)
            elif stored is None:
                repo.add(wanted)
            else:
                repo.update(wanted)
            limit_now = None if wanted is None else wanted.limit
            unit.emit(SeatLimitSet(**unit.meta().about(account.id), limit=limit_now))
            return wanted

        return self._runner.command(who, work)

    @query
    def seat_limit(self, account_id: str, *, by: Actor) -> SeatLimit | None:
        """The account's seat limit, if it has one (``users.view`` there)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> SeatLimit | None:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require(VIEW_USERS, account.id)
            found: SeatLimit | None = unit.uow.records(SEAT_LIMITS).find(account.id)
            return found

        return self._runner.query(who, work)

    # -- reads ----------------------------------------------------------------------------

    @query
    def get_user(self, user_id: str, *, by: Actor) -> User:
        """The user: themself, the system, or someone with ``users.view`` in an account the
        user is a member of (to anyone else the user does not exist: ``UserNotFound``)."""
        who, target = _args.actor(by), _args.ident(user_id, "user_id")

        def work(unit: Unit) -> User:
            user = unit.uow.users.get(UserId(target))
            if unit.is_system or (isinstance(unit.actor, str) and unit.actor == user.id):
                return user
            for membership in unit.uow.memberships.for_user(user.id):
                if unit.decide(VIEW_USERS, membership.account_id).allowed:
                    return user
            raise UserNotFound(user.id)

        return self._runner.query(who, work)

    @query
    def find_user_by_login(self, login: str, *, by: Actor) -> User | None:
        """The user with this login (normalized), or ``None``; the system only."""
        who, key = _args.actor(by), normalize_login(login)

        def work(unit: Unit) -> User | None:
            unit.require_system(_FIND_USER)
            return unit.uow.users.find_by_login(key)

        return self._runner.query(who, work)

    @query
    def memberships_of(self, user_id: str, *, by: Actor) -> list[Membership]:
        """The user's memberships ``by`` may see (all of them for the user themself and
        the system; else those in accounts where ``by`` holds ``users.view``)."""
        who, target = _args.actor(by), _args.ident(user_id, "user_id")

        def work(unit: Unit) -> list[Membership]:
            user = unit.uow.users.get(UserId(target))
            held = unit.uow.memberships.for_user(user.id)
            if unit.is_system or (isinstance(unit.actor, str) and unit.actor == user.id):
                return held
            return [m for m in held if unit.decide(VIEW_USERS, m.account_id).allowed]

        return self._runner.query(who, work)

    @query
    def members_of(self, account_id: str, *, by: Actor) -> list[Membership]:
        """The account's memberships, in user id order (``users.view`` there)."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[Membership]:
            account = unit.uow.accounts.get(AccountId(target))
            unit.require(VIEW_USERS, account.id)
            return unit.uow.memberships.for_account(account.id)

        return self._runner.query(who, work)
