"""Seats, administrators and ownership transfers over storage (private): the rules are
``subacct.domain.invitations.require_seat`` and ``require_admin_left``; here the
account's memberships, open invitations and seat limit are read for them."""

from __future__ import annotations

from subacct.domain import AccountId, Membership, RoleId, UserId
from subacct.domain import changes as domain_changes
from subacct.domain import invitations as rules
from subacct.domain.events import OwnershipTransferred
from subacct.domain.invitations import InvitationId, open_invitations
from subacct.errors import Conflict, InvalidInput, MembershipNotFound, quoted
from subacct.policy import INVITE_USERS, System, plan_ownership_transfer
from subacct.services import _credentials
from subacct.services._runner import Unit
from subacct.storage.collections import INVITATIONS, SEAT_LIMITS


def require_seat(unit: Unit, account_id: AccountId, excluding: InvitationId | None = None) -> None:
    """``SeatLimitReached`` unless one more seat fits in the account (its members and its
    open invitations but ``excluding``, which holds the seat being taken)."""
    limit = unit.uow.records(SEAT_LIMITS).find(account_id)
    if limit is None:
        return
    members = len(unit.uow.memberships.for_account(account_id))
    held = unit.uow.records(INVITATIONS).list_by("account_id", account_id)
    pending = [i for i in open_invitations(held, unit.now) if i.id != excluding]
    rules.require_seat(limit, members=members, pending=len(pending))


def require_admin_left(unit: Unit, leaving: Membership, new_role: RoleId | None = None) -> None:
    """``LastAdmin`` when ``leaving`` is the last owner of a top-level account and would
    leave (``new_role`` ``None``) or take another role."""
    owner = unit.settings.owner_role
    if leaving.role != owner or new_role == owner:
        return  # (the common case reads nothing more)
    account = unit.uow.accounts.get(leaving.account_id)
    members = unit.uow.memberships.for_account(account.id)
    rules.require_admin_left(account, members, owner, leaving, new_role)


def add_member(unit: Unit, membership: Membership) -> Membership:
    """Store a new membership (its seat checked by the caller) with its event."""
    unit.uow.memberships.add(membership)
    unit.emit(domain_changes.invited(membership, unit.meta()))
    return membership


def change_role(unit: Unit, current: Membership, changed: Membership) -> Membership:
    unit.uow.memberships.update(changed)
    unit.emit(domain_changes.role_changed(current, changed, unit.meta()))
    return changed


def remove_member(unit: Unit, current: Membership) -> Membership:
    """Delete the membership with its event; revoke the personal keys it orphans."""
    unit.uow.memberships.remove(current.user_id, current.account_id)
    unit.emit(domain_changes.removed(current, unit.meta()))
    _credentials.revoke_orphaned_keys(unit, current.user_id)
    return current


def _member(unit: Unit, user_id: UserId, account_id: AccountId) -> Membership:
    found = unit.uow.memberships.find(user_id, account_id)
    if found is None:
        raise MembershipNotFound(user_id, account_id)
    return found


def transfer_ownership(
    unit: Unit,
    where: AccountId,
    target: UserId,
    named: str | None,
    after: RoleId | None,
) -> Membership:
    """``members.transfer_ownership``: ``target`` gets the owner role of the top-level
    account ``where``; the one handing it over (the acting owner, or ``named`` for the
    system) then holds ``after``, or leaves when it is ``None``."""
    account = unit.uow.accounts.get(AccountId(where))
    account.require_open()
    owner = unit.settings.owner_role
    if account.parent_id is not None:
        raise Conflict(
            f"account {quoted(account.id)} is a sub-account: it is administered "
            "from above and has no owner of its own",
            account_id=account.id,
        )
    if isinstance(unit.actor, System):
        unit.require(INVITE_USERS, account.id)
        giver = None if named is None else UserId(named)
    else:
        index = unit.policy([account.id], [target])
        giver = plan_ownership_transfer(index, unit.actor, account.id, owner)
        if named is not None and named != giver:
            raise InvalidInput("a user hands over their own ownership", field="from_user_id")
        unit.allowed(INVITE_USERS, account.id)
    unit.uow.users.get(target)
    if after is not None:
        unit.role(after)
    if giver == target:
        raise InvalidInput("ownership goes to another user", field="to_user_id")
    given = None if giver is None else _member(unit, giver, account.id)
    if given is not None and given.role != owner:
        raise Conflict(
            f"user {quoted(giver)} does not hold the owner role of {quoted(account.id)}",
            account_id=account.id,
            user_id=giver,
        )
    found = unit.uow.memberships.find(target, account.id)
    if found is None:
        require_seat(unit, account.id)
        taken = add_member(unit, Membership(target, account.id, owner, unit.now))
    elif found.role != owner:
        taken = change_role(unit, found, found.with_role(owner))
    else:
        taken = found
    if given is not None and after is None:
        remove_member(unit, given)
    elif given is not None and after != owner:
        assert after is not None
        change_role(unit, given, given.with_role(after))
    unit.emit(
        OwnershipTransferred(
            **unit.meta().about(account.id),
            to_user_id=target,
            from_user_id=giver,
            role=owner,
            then_role=after if given is not None else None,
        )
    )
    return taken
