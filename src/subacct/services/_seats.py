"""Seats and administrators over storage (private): the rules are
``subacct.domain.invitations.require_seat`` and ``require_admin_left``; here the
account's memberships, open invitations and seat limit are read for them."""

from __future__ import annotations

from subacct.domain import AccountId, Membership, RoleId
from subacct.domain import changes as domain_changes
from subacct.domain import invitations as rules
from subacct.domain.invitations import InvitationId, open_invitations
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
