"""Finding how an account reaches a resource, with the policy's say (private; the rules
are ``subacct.domain.resolution`` and ``subacct.domain.sharing``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from subacct.domain import Account, AccountId, AgencyLink
from subacct.domain.resolution import Access, access_of
from subacct.domain.resources import Resource, Share
from subacct.errors import ResourceNotFound, SubacctError
from subacct.policy import NO_STANDING, Action, ApiKey, ImpersonationSession, denial_error
from subacct.services._runner import Unit
from subacct.storage.collections import RESOURCES, SHARES


def chain(unit: Unit, account_id: str) -> list[Account]:
    """The account's path as accounts, root first (``AccountNotFound`` if unknown)."""
    account = unit.uow.accounts.get(AccountId(account_id))
    return [*reversed(unit.uow.accounts.ancestors(account.id)), account]


def path(unit: Unit, account_id: str) -> list[AccountId]:
    return [a.id for a in chain(unit, account_id)]


def links(unit: Unit, account_ids: Iterable[AccountId]) -> list[AgencyLink]:
    """The agency links touching any of the accounts, each once."""
    found: dict[AccountId, AgencyLink] = {}
    for account_id in dict.fromkeys(account_ids):
        link = unit.uow.links.for_client(account_id)
        for each in [*([link] if link is not None else []), *unit.uow.links.for_agency(account_id)]:
            found[each.client_id] = each
    return list(found.values())


def acting(unit: Unit, resource: Resource, account_id: str | None) -> AccountId:
    """The account the principal acts in: as given, else a key's or session's own
    account, else (a user, the system) the resource's owner."""
    if account_id is not None:
        return AccountId(account_id)
    if isinstance(unit.actor, ApiKey | ImpersonationSession):
        return unit.actor.account_id
    return resource.owner_id


def resource_of(unit: Unit, resource_id: str) -> Resource:
    found = unit.uow.records(RESOURCES).find(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found


def _reaches(
    unit: Unit, resource: Resource, shares: Sequence[Share], owner_path: Sequence[AccountId]
) -> bool:
    """True when the resource is visible from some account the principal acts in."""
    return any(
        access_of(path(unit, home), resource, shares, owner_path) is not None
        for home in unit.homes()
    )


def reach(
    unit: Unit, resource: Resource, acting: AccountId, action: Action, missing: SubacctError
) -> tuple[Access, list[Share]]:
    """How ``acting`` reaches the resource, with ``action`` allowed (and audited) there.

    Raises ``missing`` when the account cannot see the resource, or when the principal
    has no standing there and sees the resource from nowhere else; else a denial is the
    policy's typed error.
    """
    shares = unit.uow.records(SHARES).list_by("resource_id", resource.id)
    owner_path = path(unit, resource.owner_id)
    access = access_of(path(unit, acting), resource, shares, owner_path)
    if access is None:
        raise missing
    decision = unit.decide(action, acting)
    if not decision.allowed:
        if decision.reason in NO_STANDING and not _reaches(unit, resource, shares, owner_path):
            raise missing
        raise denial_error(unit.principal, action, acting, decision)
    unit.audit(action, acting, decision)
    return access, shares
