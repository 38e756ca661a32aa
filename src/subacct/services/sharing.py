"""``app.sharing``: templates, contact groups and other resources, shared down the tree.

Every call decides twice: the policy says whether ``by`` may do it in the account it acts
in (``subacct.policy.MANAGE_ACTION``, ``SHARE_ACTION``, ``USE_ACTIONS``), and the core
(``subacct.domain.sharing`` and ``.resolution``) says whether that account may do it with
the resource (its own, shared with it, owned below it). A principal with no standing in
the account that cannot see the resource from anywhere it acts gets ``ResourceNotFound``
(``ShareNotFound``), exactly as for an id that does not exist.

>>> import subacct
>>> from subacct import ResourceKind, ShareMode, SharePermission
>>> app, S = subacct.Subacct(subacct.MemoryStore()), subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> _ = app.accounts.create_sub("agencydemo", "Agency 1", account_id="agency1", by=S)
>>> _ = app.members.create_user("owner@agency.test", "Owner", user_id="owner", by=S)
>>> _ = app.members.add("owner", "agencydemo", "parent_admin", by=S)
>>> _ = app.sharing.create_resource("agencydemo", ResourceKind.TEMPLATE, "Branding",
...     b"<h1>Hi</h1>", by="owner", resource_id="brand")
>>> _ = app.sharing.share("brand", ShareMode.ALL_SUBS, [], SharePermission.USE, by="owner")
>>> [(a.resource.id, a.origin.value) for a in app.sharing.usable_resources("agency1", by="owner")]
[('brand', 'shared')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from subacct.domain import AccountId, Tree
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
from subacct.errors import ResourceNotFound, ShareNotFound
from subacct.policy import (
    MANAGE_ACTION,
    SHARE_ACTION,
    SHARE_GROUPS,
    SHARE_TEMPLATES,
    USE_ACTIONS,
)
from subacct.principals import Actor
from subacct.services import _args, _resources
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import RESOURCES, SHARES

__all__ = ["Sharing"]


class Sharing:
    """Resources and shares (``app.sharing``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    # -- resources ------------------------------------------------------------------------

    @command
    def create_resource(
        self,
        account_id: str,
        kind: ResourceKind,
        name: str,
        content: bytes,
        *,
        by: Actor,
        metadata: Mapping[str, str] | None = None,
        resource_id: str | None = None,
    ) -> Resource:
        """A new resource owned by the account (needs the kind's manage right there)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        what = _args.choice(kind, ResourceKind, "kind")
        label, body = _args.name(name), _args.content(content)
        extra, given = _args.metadata(metadata), _args.optional_ident(resource_id, "resource_id")

        def work(unit: Unit) -> Resource:
            owner = unit.uow.accounts.get(AccountId(where))
            unit.require(MANAGE_ACTION[what], owner.id)
            resource, event = plan_create_resource(
                owner,
                ResourceId(unit.new_id(given, "resource")),
                what,
                label,
                body,
                unit.meta(),
                metadata=extra,
            )
            unit.uow.records(RESOURCES).add(resource)
            unit.emit(event)
            return resource

        return self._runner.command(who, work)

    @command
    def edit_resource(
        self,
        resource_id: str,
        *,
        by: Actor,
        content: bytes | None = None,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        account_id: str | None = None,
    ) -> Resource:
        """The next version of the resource. The owner and its ancestors may edit; a sub
        only with an ``EDIT`` share, acting in ``account_id`` (by default a key's or
        session's own account, else the owner)."""
        who, wanted = _args.actor(by), _args.ident(resource_id, "resource_id")
        body, extra = _args.optional_content(content), _args.metadata(metadata)
        label = None if name is None else _args.name(name)
        where = _args.optional_ident(account_id, "account_id")

        def work(unit: Unit) -> Resource:
            resource = _resources.resource_of(unit, wanted)
            acting = _resources.acting(unit, resource, where)
            access, _ = _resources.reach(
                unit, resource, acting, MANAGE_ACTION[resource.kind], ResourceNotFound(resource.id)
            )
            changed, event = plan_edit_resource(
                access,
                unit.uow.accounts.get(acting),
                unit.uow.accounts.get(resource.owner_id),
                unit.meta(),
                name=label,
                content=body,
                metadata=extra,
            )
            unit.uow.records(RESOURCES).update(changed)
            unit.emit(event)
            return changed

        return self._runner.command(who, work)

    @command
    def delete_resource(
        self, resource_id: str, *, by: Actor, account_id: str | None = None
    ) -> Resource:
        """Delete the resource (by its owner or an ancestor) and all its shares; copies
        stay. Returns what was deleted."""
        who, wanted = _args.actor(by), _args.ident(resource_id, "resource_id")
        where = _args.optional_ident(account_id, "account_id")

        def work(unit: Unit) -> Resource:
            resource = _resources.resource_of(unit, wanted)
            acting = _resources.acting(unit, resource, where)
            access, shares = _resources.reach(
                unit, resource, acting, MANAGE_ACTION[resource.kind], ResourceNotFound(resource.id)
            )
            event = plan_delete_resource(
                access,
                unit.uow.accounts.get(acting),
                unit.uow.accounts.get(resource.owner_id),
                shares,
                unit.meta(),
            )
            for share in shares:
                unit.uow.records(SHARES).remove(share.id)
            unit.uow.records(RESOURCES).remove(resource.id)
            unit.emit(event)
            return resource

        return self._runner.command(who, work)

    @command
    def copy(
        self,
        resource_id: str,
        into_account_id: str,
        *,
        by: Actor,
        new_id: str | None = None,
        name: str | None = None,
    ) -> Resource:
        """An independent copy, owned by ``into_account_id``, of a resource that account
        can use or see (needs the kind's manage right there). It survives revocation and
        deletion of the original."""
        who, wanted = _args.actor(by), _args.ident(resource_id, "resource_id")
        into_key = _args.ident(into_account_id, "into_account_id")
        given = _args.optional_ident(new_id, "new_id")
        label = None if name is None else _args.name(name)

        def work(unit: Unit) -> Resource:
            resource = _resources.resource_of(unit, wanted)
            into = unit.uow.accounts.get(AccountId(into_key))
            access, _ = _resources.reach(
                unit, resource, into.id, MANAGE_ACTION[resource.kind], ResourceNotFound(resource.id)
            )
            copied, event = plan_copy(
                access, into, ResourceId(unit.new_id(given, "resource")), unit.meta(), name=label
            )
            unit.uow.records(RESOURCES).add(copied)
            unit.emit(event)
            return copied

        return self._runner.command(who, work)

    # -- shares -----------------------------------------------------------------------------

    @command
    def share(
        self,
        resource_id: str,
        mode: ShareMode,
        targets: Iterable[str],
        permission: SharePermission,
        *,
        by: Actor,
        share_id: str | None = None,
    ) -> Share:
        """Share the resource down the tree from its owner (needs ``templates.share`` or
        ``groups.share`` there). Agency-linked accounts are refused with
        ``LinkedAccountsCannotShare``, accounts outside the subtree with ``NotADescendant``."""
        who, wanted = _args.actor(by), _args.ident(resource_id, "resource_id")
        how = _args.choice(mode, ShareMode, "mode")
        grant = _args.choice(permission, SharePermission, "permission")
        named = [AccountId(_args.ident(t, "targets")) for t in _args.items(targets, "targets", str)]
        given = _args.optional_ident(share_id, "share_id")

        def work(unit: Unit) -> Share:
            resource = _resources.resource_of(unit, wanted)
            owner_id = resource.owner_id
            _resources.reach(
                unit, resource, owner_id, SHARE_ACTION[resource.kind], ResourceNotFound(resource.id)
            )
            # The tree plan_share needs: the owner's chain and each known target's chain.
            chain = _resources.chain(unit, owner_id)
            accounts = {a.id: a for a in chain}
            roots = [chain[0].id]
            for target in named:
                if unit.uow.accounts.find(target) is not None:
                    target_chain = _resources.chain(unit, target)
                    accounts.update((a.id, a) for a in target_chain)
                    roots.append(target_chain[0].id)
            share, event = plan_share(
                resource,
                accounts[owner_id],
                how,
                named,
                grant,
                Tree(accounts.values()),
                _resources.links(unit, [owner_id, *roots, *named]),
                ShareId(unit.new_id(given, "share")),
                unit.meta(),
            )
            unit.uow.records(SHARES).add(share)
            unit.emit(event)
            return share

        return self._runner.command(who, work)

    @command
    def revoke(self, share_id: str, *, by: Actor) -> Share:
        """Revoke a share: the next resolution no longer sees it; copies stay. Needs the
        share right in the owner account. Returns the revoked share."""
        who, wanted = _args.actor(by), _args.ident(share_id, "share_id")

        def work(unit: Unit) -> Share:
            share = unit.uow.records(SHARES).find(wanted)
            if share is None:
                raise ShareNotFound(wanted)
            resource = unit.uow.records(RESOURCES).find(share.resource_id)
            owner = share.owner_id
            if resource is None:  # a stale share whose resource is gone: let it be cleaned up
                unit.require_any((SHARE_TEMPLATES, SHARE_GROUPS), owner)
            else:
                _resources.reach(
                    unit, resource, owner, SHARE_ACTION[resource.kind], ShareNotFound(share.id)
                )
            event = plan_revoke(share, unit.uow.accounts.get(owner), unit.meta())
            unit.uow.records(SHARES).remove(share.id)
            unit.emit(event)
            return share

        return self._runner.command(who, work)

    # -- reads ----------------------------------------------------------------------------

    def _usable(
        self, unit: Unit, account_id: str
    ) -> tuple[list[AccountId], list[Share], dict[ResourceId, Resource]]:
        """The account's path, the shares of its ancestors covering it and their
        resources, once the principal may use resources there."""
        path = _resources.path(unit, account_id)
        unit.require_any(USE_ACTIONS, path[-1])
        shares = [
            s
            for ancestor in path[:-1]
            for s in unit.uow.records(SHARES).list_by("owner_id", ancestor)
            if s.covers(path)
        ]
        resources: dict[ResourceId, Resource] = {}
        for share in shares:
            found = unit.uow.records(RESOURCES).find(share.resource_id)
            if found is not None:
                resources[found.id] = found
        return path, shares, resources

    @query
    def usable_resources(
        self, account_id: str, *, by: Actor, kind: ResourceKind | None = None
    ) -> list[Access]:
        """The account's own resources plus those shared with it, each with its origin
        (``OWN`` or ``SHARED`` by ``shared_by``), sorted by kind, name, id."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        what = None if kind is None else _args.choice(kind, ResourceKind, "kind")

        def work(unit: Unit) -> list[Access]:
            path, shares, resources = self._usable(unit, where)
            own = unit.uow.records(RESOURCES).list_by("owner_id", path[-1])
            return resolve_usable(path, own, shares, resources, what)

        return self._runner.query(who, work)

    @query
    def visible_resources(
        self, account_id: str, *, by: Actor, kind: ResourceKind | None = None
    ) -> list[Access]:
        """``usable_resources`` plus every resource owned below the account (origin
        ``DESCENDANT``): the parent sees all its subs' resources (seeds 003, 004)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        what = None if kind is None else _args.choice(kind, ResourceKind, "kind")

        def work(unit: Unit) -> list[Access]:
            path, shares, resources = self._usable(unit, where)
            chain = _resources.chain(unit, path[-1])
            below = unit.uow.accounts.descendants(path[-1])
            owned = [
                r
                for account in [path[-1], *(a.id for a in below)]
                for r in unit.uow.records(RESOURCES).list_by("owner_id", account)
            ]
            everything = {**resources, **{r.id: r for r in owned}}
            tree = Tree([*chain, *below])
            return SharingIndex(tree, everything.values(), shares).visible(path[-1], what)

        return self._runner.query(who, work)

    @query
    def get_resource(self, account_id: str, resource_id: str, *, by: Actor) -> Access:
        """How the account reaches the resource: own, shared with it, or owned below it.
        ``ResourceNotFound`` when it may not see it (a sibling's, another master's)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        wanted = _args.ident(resource_id, "resource_id")

        def work(unit: Unit) -> Access:
            path = _resources.path(unit, where)
            unit.require_any(USE_ACTIONS, path[-1])
            resource = _resources.resource_of(unit, wanted)
            shares = unit.uow.records(SHARES).list_by("resource_id", resource.id)
            found = access_of(path, resource, shares, _resources.path(unit, resource.owner_id))
            if found is None:
                raise ResourceNotFound(wanted)
            return found

        return self._runner.query(who, work)
