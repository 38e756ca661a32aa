"""Resources, shares and usage reports on behalf of a principal, over any ``Store``.

Every call runs in one unit of work: the principal is re-read (a revoked key or an ended
session stops at once), the policy engine decides in the account the principal acts in,
the pure core (``subacct.domain.sharing`` and ``.resolution``) decides what the account
may do with the resource, then the change, its one domain event and an audit record are
written together. A refusal raises one typed error and writes nothing.

Which user right each operation needs (``docs/sharing.md``, "Service layer"):

* create, edit, copy, delete: ``templates.manage`` for templates, images and landing
  pages, ``contacts.manage`` for contact groups and contacts, in the acting account;
* share and revoke: ``templates.share`` or ``groups.share`` in the owner account;
* list and read: ``messages.send``, ``templates.manage`` or ``contacts.manage`` there;
* reports: ``reports.sub_accounts`` (the account and its subtree), ``reports.view``
  (the account; scope ``own``: the acting user's rows); exports also ``reports.export``.

A principal with no standing in the acting account (no membership reaching it, a key or
session of another account) that cannot see the resource from anywhere it acts gets
``ResourceNotFound`` (``ShareNotFound``), exactly as for an id that does not exist.

>>> import subacct
>>> from subacct.domain.resources import ResourceKind, ShareMode, SharePermission
>>> store = subacct.MemoryStore()
>>> svc = SharingService(store)
>>> _ = svc.create_master("Agency Demo", account_id="agencydemo")
>>> _ = svc.create_sub("agencydemo", "Agency 1", account_id="agency1")
>>> _ = svc.create_user("owner@agency.test", "Owner", user_id="owner")
>>> _ = svc.add_membership("owner", "agencydemo", "parent_admin")
>>> brand = svc.create_resource(
...     "owner", "agencydemo", ResourceKind.TEMPLATE, "Branding", b"<h1>Hi</h1>",
...     resource_id="brand")
>>> _ = svc.share("owner", "brand", ShareMode.ALL_SUBS, [], SharePermission.USE)
>>> [(a.resource.id, a.origin.value) for a in svc.usable_resources("owner", "agency1")]
[('brand', 'shared')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final, TypeVar

from subacct.domain import Account, AccountId, AgencyLink, Tree, UserId
from subacct.domain.ids import check_id
from subacct.domain.resolution import Access, SharingIndex, access_of, resolve_usable
from subacct.domain.resources import (
    Resource,
    ResourceId,
    ResourceKind,
    Share,
    ShareId,
    ShareMode,
    SharePermission,
)
from subacct.domain.sharing import (
    plan_copy,
    plan_create_resource,
    plan_delete_resource,
    plan_edit_resource,
    plan_revoke,
    plan_share,
)
from subacct.errors import InvalidInput, ResourceNotFound, ShareNotFound, SubacctError
from subacct.policy import (
    EXPORT_REPORTS,
    MANAGE_CONTACTS,
    MANAGE_TEMPLATES,
    REPORT_ON_SUB_ACCOUNTS,
    SEND_MESSAGES,
    SHARE_GROUPS,
    SHARE_TEMPLATES,
    VIEW_REPORTS,
    Action,
    ApiKey,
    Decision,
    ImpersonationSession,
    PolicyIndex,
    Principal,
    Reason,
    Scope,
    acting_user_id,
    denial_error,
)
from subacct.policy_service import PolicyService
from subacct.pricing.period import BillingPeriod
from subacct.reports import (
    Grouping,
    Report,
    UsageRow,
    Visibility,
    build_report,
    report_csv,
    visible_rows,
)
from subacct.service import event_meta
from subacct.storage.collections import RESOURCES, SHARES
from subacct.storage.ports import UnitOfWork

__all__ = ["MANAGE_ACTION", "SHARE_ACTION", "USE_ACTIONS", "SharingService"]

T = TypeVar("T")

_TEMPLATE_LIKE: Final = (ResourceKind.TEMPLATE, ResourceKind.IMAGE, ResourceKind.LANDING_PAGE)
#: The right to create, edit, copy or delete a resource of each kind.
MANAGE_ACTION: Final[Mapping[ResourceKind, Action]] = MappingProxyType(
    {k: MANAGE_TEMPLATES if k in _TEMPLATE_LIKE else MANAGE_CONTACTS for k in ResourceKind}
)
#: The right to share a resource of each kind or revoke its shares.
SHARE_ACTION: Final[Mapping[ResourceKind, Action]] = MappingProxyType(
    {k: SHARE_TEMPLATES if k in _TEMPLATE_LIKE else SHARE_GROUPS for k in ResourceKind}
)
#: Any one of these lets a principal list and read the resources of an account.
USE_ACTIONS: Final = (SEND_MESSAGES, MANAGE_TEMPLATES, MANAGE_CONTACTS)
#: Denials meaning "this principal does not act in that account at all".
_NO_STANDING: Final = frozenset(
    {Reason.NO_MEMBERSHIP, Reason.API_KEY_WRONG_ACCOUNT, Reason.IMPERSONATION_WRONG_ACCOUNT}
)


def _kind(value: object) -> ResourceKind:
    if not isinstance(value, ResourceKind):
        raise InvalidInput(f"kind must be a ResourceKind, got {value!r}", field="kind")
    return value


def _chain(uow: UnitOfWork, account_id: str) -> list[Account]:
    """The account's path as accounts, root first (``AccountNotFound`` if unknown)."""
    account = uow.accounts.get(AccountId(account_id))
    return [*reversed(uow.accounts.ancestors(account.id)), account]


def _path(uow: UnitOfWork, account_id: str) -> list[AccountId]:
    return [a.id for a in _chain(uow, account_id)]


def _links(uow: UnitOfWork, account_ids: Iterable[AccountId]) -> list[AgencyLink]:
    """The agency links touching any of the accounts, each once."""
    found: dict[AccountId, AgencyLink] = {}
    for account_id in dict.fromkeys(account_ids):
        link = uow.links.for_client(account_id)
        for each in [*([link] if link is not None else []), *uow.links.for_agency(account_id)]:
            found[each.client_id] = each
    return list(found.values())


def _period(value: BillingPeriod | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, BillingPeriod):
        return str(value)
    return str(BillingPeriod.parse(value))


def _rows(rows: Iterable[UsageRow], period: str | None) -> list[UsageRow]:
    out = []
    for row in rows:
        if not isinstance(row, UsageRow):
            raise InvalidInput(f"rows must be UsageRow values, got {row!r}", field="rows")
        if period is None or row.period == period:
            out.append(row)
    return out


class SharingService(PolicyService):
    """The ``PolicyService`` plus resources, shares and usage reports, principal-checked."""

    # -- plumbing -----------------------------------------------------------------------

    def _as(self, principal: Principal, work: Callable[[UnitOfWork, Principal], T]) -> T:
        """Run ``work`` with the fresh principal in one retrying write unit of work."""
        return self._write(lambda uow: work(uow, self._fresh(uow, principal)))

    def _reading(self, principal: Principal, work: Callable[[UnitOfWork, Principal], T]) -> T:
        return self._read(lambda uow: work(uow, self._fresh(uow, principal)))

    def _policy(self, uow: UnitOfWork, who: Principal, account_id: str) -> PolicyIndex:
        return self._index(uow, [account_id], [acting_user_id(who)])

    @staticmethod
    def _acting(who: Principal, resource: Resource, account_id: str | None) -> AccountId:
        """The account the principal acts in: as given, else a key's or session's own
        account, else (a user) the resource's owner."""
        if account_id is not None:
            return AccountId(account_id)
        if isinstance(who, ApiKey | ImpersonationSession):
            return who.account_id
        return resource.owner_id

    @staticmethod
    def _resource(uow: UnitOfWork, resource_id: str) -> Resource:
        found = uow.records(RESOURCES).find(resource_id)
        if found is None:
            raise ResourceNotFound(resource_id)
        return found

    def _reaches(
        self,
        uow: UnitOfWork,
        who: Principal,
        resource: Resource,
        shares: Sequence[Share],
        owner_path: Sequence[AccountId],
    ) -> bool:
        """True when the resource is visible from some account the principal acts in."""
        if isinstance(who, ApiKey | ImpersonationSession):
            homes = [who.account_id]
        else:
            homes = [m.account_id for m in uow.memberships.for_user(UserId(who))]
        return any(
            access_of(_path(uow, home), resource, shares, owner_path) is not None for home in homes
        )

    def _reach(
        self,
        uow: UnitOfWork,
        who: Principal,
        resource: Resource,
        acting: AccountId,
        action: Action,
        missing: SubacctError,
    ) -> tuple[Access, Decision, list[Share]]:
        """How ``acting`` reaches the resource and the decision allowing ``action`` there.

        Raises ``missing`` when the account cannot see the resource, or when the principal
        has no standing there and sees the resource from nowhere else; else a denial is
        the policy's typed error.
        """
        shares = uow.records(SHARES).list_by("resource_id", resource.id)
        owner_path = _path(uow, resource.owner_id)
        access = access_of(_path(uow, acting), resource, shares, owner_path)
        if access is None:
            raise missing
        decision = self._policy(uow, who, acting).check(who, action, acting)
        if not decision.allowed:
            if decision.reason in _NO_STANDING and not self._reaches(
                uow, who, resource, shares, owner_path
            ):
                raise missing
            raise denial_error(who, action, acting, decision)
        return access, decision, shares

    @staticmethod
    def _require_any(
        index: PolicyIndex, who: Principal, actions: Sequence[Action], account_id: AccountId
    ) -> tuple[Action, Decision]:
        """The first allowed action among ``actions`` and its decision, else the typed
        denial of the first one."""
        decisions = [(action, index.check(who, action, account_id)) for action in actions]
        for action, decision in decisions:
            if decision.allowed:
                return action, decision
        raise denial_error(who, actions[0], account_id, decisions[0][1])

    # -- resources ----------------------------------------------------------------------

    def create_resource(
        self,
        principal: Principal,
        account_id: str,
        kind: ResourceKind,
        name: str,
        content: bytes,
        *,
        metadata: Mapping[str, str] | None = None,
        resource_id: str | None = None,
    ) -> Resource:
        """A new resource owned by the account (needs the kind's manage right there)."""
        action = MANAGE_ACTION[_kind(kind)]
        new_id = ResourceId(self._new_id(resource_id, "resource"))

        def work(uow: UnitOfWork, who: Principal) -> Resource:
            owner = uow.accounts.get(AccountId(account_id))
            decision = self._policy(uow, who, owner.id).require(who, action, owner.id)
            meta = event_meta(self, acting_user_id(who))
            resource, event = plan_create_resource(
                owner, new_id, kind, name, content, meta, metadata=metadata
            )
            uow.records(RESOURCES).add(resource)
            uow.events.append(event)
            self._audit(uow, who, action, owner.id, decision)
            return resource

        return self._as(principal, work)

    def edit_resource(
        self,
        principal: Principal,
        resource_id: str,
        *,
        content: bytes | None = None,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        account_id: str | None = None,
    ) -> Resource:
        """The next version of the resource. The owner and its ancestors may edit; a sub
        only with an ``EDIT`` share, acting in ``account_id`` (see ``_acting``)."""

        def work(uow: UnitOfWork, who: Principal) -> Resource:
            resource = self._resource(uow, resource_id)
            acting = self._acting(who, resource, account_id)
            action = MANAGE_ACTION[resource.kind]
            access, decision, _ = self._reach(
                uow, who, resource, acting, action, ResourceNotFound(resource.id)
            )
            editor = uow.accounts.get(acting)
            owner = uow.accounts.get(resource.owner_id)
            meta = event_meta(self, acting_user_id(who))
            changed, event = plan_edit_resource(
                access, editor, owner, meta, name=name, content=content, metadata=metadata
            )
            uow.records(RESOURCES).update(changed)
            uow.events.append(event)
            self._audit(uow, who, action, acting, decision)
            return changed

        return self._as(principal, work)

    def delete_resource(
        self, principal: Principal, resource_id: str, *, account_id: str | None = None
    ) -> Resource:
        """Delete the resource (by its owner or an ancestor) and all its shares; copies
        stay. Returns what was deleted."""

        def work(uow: UnitOfWork, who: Principal) -> Resource:
            resource = self._resource(uow, resource_id)
            acting = self._acting(who, resource, account_id)
            action = MANAGE_ACTION[resource.kind]
            access, decision, shares = self._reach(
                uow, who, resource, acting, action, ResourceNotFound(resource.id)
            )
            meta = event_meta(self, acting_user_id(who))
            event = plan_delete_resource(
                access,
                uow.accounts.get(acting),
                uow.accounts.get(resource.owner_id),
                shares,
                meta,
            )
            for share in shares:
                uow.records(SHARES).remove(share.id)
            uow.records(RESOURCES).remove(resource.id)
            uow.events.append(event)
            self._audit(uow, who, action, acting, decision)
            return resource

        return self._as(principal, work)

    def copy(
        self,
        principal: Principal,
        resource_id: str,
        into_account_id: str,
        *,
        new_id: str | None = None,
        name: str | None = None,
    ) -> Resource:
        """An independent copy, owned by ``into_account_id``, of a resource that account
        can use or see (needs the kind's manage right there). Survives revocation and
        deletion of the original."""
        copy_id = ResourceId(self._new_id(new_id, "resource"))

        def work(uow: UnitOfWork, who: Principal) -> Resource:
            resource = self._resource(uow, resource_id)
            into = uow.accounts.get(AccountId(into_account_id))
            action = MANAGE_ACTION[resource.kind]
            access, decision, _ = self._reach(
                uow, who, resource, into.id, action, ResourceNotFound(resource.id)
            )
            meta = event_meta(self, acting_user_id(who))
            copied, event = plan_copy(access, into, copy_id, meta, name=name)
            uow.records(RESOURCES).add(copied)
            uow.events.append(event)
            self._audit(uow, who, action, into.id, decision)
            return copied

        return self._as(principal, work)

    # -- shares -------------------------------------------------------------------------

    def share(
        self,
        principal: Principal,
        resource_id: str,
        mode: ShareMode,
        targets: Iterable[str],
        permission: SharePermission,
        *,
        share_id: str | None = None,
    ) -> Share:
        """Share the resource down the tree from its owner (needs ``templates.share`` or
        ``groups.share`` there). Agency-linked accounts are refused with
        ``LinkedAccountsCannotShare``, accounts outside the subtree with ``NotADescendant``."""
        new_id = ShareId(self._new_id(share_id, "share"))
        if isinstance(targets, str):
            raise InvalidInput("targets must be a list of account ids", field="targets")
        wanted = [AccountId(check_id(t, field="targets")) for t in targets]

        def work(uow: UnitOfWork, who: Principal) -> Share:
            resource = self._resource(uow, resource_id)
            owner_id = resource.owner_id
            action = SHARE_ACTION[resource.kind]
            _, decision, _ = self._reach(
                uow, who, resource, owner_id, action, ResourceNotFound(resource.id)
            )
            # The tree plan_share needs: the owner's chain and each known target's chain.
            chain = _chain(uow, owner_id)
            accounts = {a.id: a for a in chain}
            roots = [chain[0].id]
            for target in wanted:
                if uow.accounts.find(target) is not None:
                    target_chain = _chain(uow, target)
                    accounts.update((a.id, a) for a in target_chain)
                    roots.append(target_chain[0].id)
            links = _links(uow, [owner_id, *roots, *wanted])
            meta = event_meta(self, acting_user_id(who))
            share, event = plan_share(
                resource,
                accounts[owner_id],
                mode,
                wanted,
                permission,
                Tree(accounts.values()),
                links,
                new_id,
                meta,
            )
            uow.records(SHARES).add(share)
            uow.events.append(event)
            self._audit(uow, who, action, owner_id, decision)
            return share

        return self._as(principal, work)

    def revoke(self, principal: Principal, share_id: str) -> Share:
        """Revoke a share: the next resolution no longer sees it; copies stay. Needs the
        share right in the owner account. Returns the revoked share."""

        def work(uow: UnitOfWork, who: Principal) -> Share:
            share = uow.records(SHARES).find(share_id)
            if share is None:
                raise ShareNotFound(share_id)
            resource = uow.records(RESOURCES).find(share.resource_id)
            owner = share.owner_id
            if resource is None:  # a stale share whose resource is gone: let it be cleaned up
                index = self._policy(uow, who, owner)
                action, decision = self._require_any(
                    index, who, (SHARE_TEMPLATES, SHARE_GROUPS), owner
                )
            else:
                action = SHARE_ACTION[resource.kind]
                _, decision, _ = self._reach(
                    uow, who, resource, owner, action, ShareNotFound(share.id)
                )
            meta = event_meta(self, acting_user_id(who))
            event = plan_revoke(share, uow.accounts.get(owner), meta)
            uow.records(SHARES).remove(share.id)
            uow.events.append(event)
            self._audit(uow, who, action, owner, decision)
            return share

        return self._as(principal, work)

    # -- queries ------------------------------------------------------------------------

    def _candidates(
        self, uow: UnitOfWork, path: Sequence[AccountId]
    ) -> tuple[list[Share], dict[ResourceId, Resource]]:
        """The shares of the path's strict ancestors covering its last account, and their
        resources (only ancestors can share with an account)."""
        shares = [
            s
            for ancestor in path[:-1]
            for s in uow.records(SHARES).list_by("owner_id", ancestor)
            if s.covers(path)
        ]
        resources: dict[ResourceId, Resource] = {}
        for share in shares:
            found = uow.records(RESOURCES).find(share.resource_id)
            if found is not None:
                resources[found.id] = found
        return shares, resources

    def _usable(
        self, uow: UnitOfWork, who: Principal, account_id: str, kind: ResourceKind | None
    ) -> tuple[list[AccountId], list[Share], dict[ResourceId, Resource]]:
        if kind is not None:
            _kind(kind)
        path = _path(uow, account_id)
        self._require_any(self._policy(uow, who, path[-1]), who, USE_ACTIONS, path[-1])
        shares, resources = self._candidates(uow, path)
        return path, shares, resources

    def usable_resources(
        self, principal: Principal, account_id: str, kind: ResourceKind | None = None
    ) -> list[Access]:
        """The account's own resources plus those shared with it, each with its origin
        (``OWN`` or ``SHARED`` by ``shared_by``), sorted by kind, name, id."""

        def run(uow: UnitOfWork, who: Principal) -> list[Access]:
            path, shares, resources = self._usable(uow, who, account_id, kind)
            own = uow.records(RESOURCES).list_by("owner_id", path[-1])
            return resolve_usable(path, own, shares, resources, kind)

        return self._reading(principal, run)

    def visible_resources(
        self, principal: Principal, account_id: str, kind: ResourceKind | None = None
    ) -> list[Access]:
        """``usable_resources`` plus every resource owned below the account (origin
        ``DESCENDANT``): the parent sees all its subs' resources (seeds 003, 004)."""

        def run(uow: UnitOfWork, who: Principal) -> list[Access]:
            path, shares, resources = self._usable(uow, who, account_id, kind)
            chain = _chain(uow, path[-1])
            below = uow.accounts.descendants(path[-1])
            owned = [
                r
                for account in [path[-1], *(a.id for a in below)]
                for r in uow.records(RESOURCES).list_by("owner_id", account)
            ]
            everything = {**resources, **{r.id: r for r in owned}}
            tree = Tree([*chain, *below])
            return SharingIndex(tree, everything.values(), shares).visible(path[-1], kind)

        return self._reading(principal, run)

    def get_resource(self, principal: Principal, account_id: str, resource_id: str) -> Access:
        """How the account reaches the resource: own, shared with it, or owned below it.
        ``ResourceNotFound`` when it may not see it (a sibling's, another master's)."""

        def run(uow: UnitOfWork, who: Principal) -> Access:
            path = _path(uow, account_id)
            self._require_any(self._policy(uow, who, path[-1]), who, USE_ACTIONS, path[-1])
            resource = self._resource(uow, resource_id)
            shares = uow.records(SHARES).list_by("resource_id", resource.id)
            found = access_of(path, resource, shares, _path(uow, resource.owner_id))
            if found is None:
                raise ResourceNotFound(resource_id)
            return found

        return self._reading(principal, run)

    # -- reports ------------------------------------------------------------------------

    def _visibility(
        self, uow: UnitOfWork, who: Principal, account_id: str, export: Decision | None
    ) -> tuple[Visibility, Tree]:
        """Which rows the principal sees from the account, and the tree they roll up in.

        ``reports.sub_accounts`` opens the account and its subtree, ``reports.view`` the
        account; each with its scope (``own``: the acting user's rows). An export with
        scope ``own`` narrows everything to own rows.
        """
        account = AccountId(account_id)
        index = self._policy(uow, who, account)
        view = index.check(who, VIEW_REPORTS, account)
        subs = index.check(who, REPORT_ON_SUB_ACCOUNTS, account)
        if not (view.allowed or subs.allowed):
            raise denial_error(who, VIEW_REPORTS, account, view)
        chain = _chain(uow, account)
        below = uow.accounts.descendants(account) if subs.allowed else []
        scopes = {d.scope for d in (view, subs) if d.allowed}
        placed = {account: Scope.ALL if Scope.ALL in scopes else Scope.OWN}
        placed.update((a.id, subs.scope or Scope.OWN) for a in below)
        if export is not None and export.scope is Scope.OWN:
            placed = dict.fromkeys(placed, Scope.OWN)
        visibility = Visibility(
            acting_user_id(who),
            [a for a, s in placed.items() if s is Scope.ALL],
            [a for a, s in placed.items() if s is Scope.OWN],
        )
        return visibility, Tree([*chain, *below])

    @staticmethod
    def _report(
        rows: list[UsageRow], grouping: Grouping, visibility: Visibility, tree: Tree, root: str
    ) -> Report:
        if not isinstance(grouping, Grouping):
            raise InvalidInput(f"unknown grouping {grouping!r}", field="grouping")
        seen = visible_rows(rows, visibility)
        if grouping is Grouping.SUBTREE:
            return build_report(seen, grouping, tree=tree, root_id=AccountId(root))
        return build_report(seen, grouping)

    def usage_report(
        self,
        principal: Principal,
        account_id: str,
        rows: Iterable[UsageRow],
        grouping: Grouping,
        *,
        period: BillingPeriod | str | None = None,
    ) -> Report:
        """A report over the host's usage ``rows`` (optionally one ``period``), keeping only
        the rows the principal may see from the account; ``ActionDenied`` if none."""
        wanted = _rows(rows, _period(period))

        def run(uow: UnitOfWork, who: Principal) -> Report:
            visibility, tree = self._visibility(uow, who, account_id, None)
            return self._report(wanted, grouping, visibility, tree, account_id)

        return self._reading(principal, run)

    def export_report_csv(
        self,
        principal: Principal,
        account_id: str,
        rows: Iterable[UsageRow],
        grouping: Grouping,
        *,
        period: BillingPeriod | str | None = None,
    ) -> str:
        """``usage_report`` as CSV text; also needs ``reports.export`` in the account (basic
        users cannot export). The export is written to the audit records."""
        wanted = _rows(rows, _period(period))

        def work(uow: UnitOfWork, who: Principal) -> str:
            account = AccountId(account_id)
            decision = self._policy(uow, who, account).require(who, EXPORT_REPORTS, account)
            visibility, tree = self._visibility(uow, who, account, decision)
            text = report_csv(self._report(wanted, grouping, visibility, tree, account))
            self._audit(uow, who, EXPORT_REPORTS, account, decision)
            return text

        return self._as(principal, work)
