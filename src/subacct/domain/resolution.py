"""Which resources an account can use or see, and where each came from.

Rules (seeds 000, 002, 004):

* an account **uses** its own resources and those an ancestor shared with it;
* an account **sees** what it uses plus everything owned below it (the parent sees all);
* nothing else: a sub never sees a sibling's resources, an unrelated master never sees
  anything, and an agency link grants nothing (the agency reaches a client by logging on
  as it, never through resource visibility).

Every answer is an ``Access``: the resource, its ``origin`` (``OWN``, ``SHARED`` by
``shared_by`` through ``share_id``, or ``DESCENDANT``) and the ``permission``. Owners and
their ancestors hold ``EDIT``; a shared resource carries the strongest covering grant.

Resolution walks the account's ancestor chain and looks shares up by ``TargetKey``: it costs
O(depth x shares per key), never O(accounts). ``SharingIndex`` does this in memory; a
storage-backed service does the same with ``lookup_keys`` and ``resolve_usable``.

>>> from datetime import datetime, UTC
>>> from subacct.domain import Tree, new_master, plan_new_sub, HierarchyRules
>>> from subacct.domain.resources import (Resource, ResourceKind, Share, ShareMode,
...     SharePermission, encode_content)
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> m = new_master("agencydemo", "Agency Demo", t0)
>>> a1 = plan_new_sub("agency1", "Agency 1", m, [], HierarchyRules(), t0)
>>> a2 = plan_new_sub("agency2", "Agency 2", m, [], HierarchyRules(), t0)
>>> brand = Resource("brand", "agencydemo", ResourceKind.TEMPLATE, "Brand", "", t0)
>>> own = Resource("promo", "agency1", ResourceKind.TEMPLATE, "Promo", "", t0)
>>> share = Share("sh1", "brand", "agencydemo", ShareMode.ALL_SUBS, [], SharePermission.USE, t0)
>>> index = SharingIndex(Tree([m, a1, a2]), [brand, own], [share])
>>> [(a.resource.id, a.origin.value, a.shared_by) for a in index.usable("agency1")]
[('brand', 'shared', 'agencydemo'), ('promo', 'own', None)]
>>> [a.resource.id for a in index.usable("agency2")]
['brand']
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

import attrs

from subacct.domain.hierarchy import Tree
from subacct.domain.ids import AccountId
from subacct.domain.resources import (
    Resource,
    ResourceId,
    ResourceKind,
    Share,
    ShareId,
    ShareMode,
    SharePermission,
    TargetKey,
)
from subacct.errors import (
    InvalidInput,
    ResourceAccessDenied,
    ResourceNotFound,
    ShareNotFound,
    quoted,
)

__all__ = [
    "Access",
    "Origin",
    "SharingIndex",
    "access_of",
    "lookup_keys",
    "resolve_usable",
    "visible_resources",
]


class Origin(enum.Enum):
    """Why an account can reach a resource."""

    OWN = "own"
    SHARED = "shared"
    DESCENDANT = "descendant"


@attrs.frozen
class Access:
    """Account ``account_id`` reaches ``resource`` by ``origin`` with ``permission``."""

    account_id: AccountId
    resource: Resource
    origin: Origin
    permission: SharePermission
    share_id: ShareId | None = None

    def __attrs_post_init__(self) -> None:
        # One check function instead of per-field validators: resolution builds many of these.
        if not (
            isinstance(self.resource, Resource)
            and isinstance(self.origin, Origin)
            and isinstance(self.permission, SharePermission)
        ):
            raise InvalidInput("Access needs a Resource, an Origin and a SharePermission")
        owns = self.resource.owner_id == self.account_id
        if (self.origin is Origin.OWN) != owns:
            raise InvalidInput("origin OWN means the account owns the resource", field="origin")
        if (self.origin is Origin.SHARED) != (self.share_id is not None):
            raise InvalidInput("a shared access names its share, and only then", field="share_id")

    @property
    def shared_by(self) -> AccountId | None:
        """The owner account that shared the resource (``None`` unless ``SHARED``)."""
        return self.resource.owner_id if self.origin is Origin.SHARED else None

    def require(self, needed: SharePermission) -> None:
        """Raise ``ResourceAccessDenied`` unless the permission is at least ``needed``."""
        if not self.permission.allows(needed):
            raise ResourceAccessDenied(
                f"account {quoted(self.account_id)} may {self.permission.value} resource "
                f"{quoted(self.resource.id)} but not {needed.value} it",
                account_id=self.account_id,
                resource_id=self.resource.id,
                permission=needed.value,
            )


_KIND_ORDER: Final = MappingProxyType({kind: n for n, kind in enumerate(ResourceKind)})


def _sort_key(access: Access) -> tuple[int, str, str]:
    r = access.resource
    return (_KIND_ORDER[r.kind], r.name.casefold(), r.id)


def lookup_keys(path: Sequence[AccountId]) -> tuple[TargetKey, ...]:
    """The share keys that can cover the account at the end of ``path`` (root first).

    >>> [(m.value, a) for m, a in lookup_keys(["m", "s"])]
    [('chosen', 's'), ('all_subs', 'm'), ('subtree', 'm'), ('subtree', 's')]
    """
    if not path:
        raise InvalidInput("a path names at least the account itself", field="path")
    keys: list[TargetKey] = [(ShareMode.CHOSEN, path[-1])]
    if len(path) > 1:
        keys.append((ShareMode.ALL_SUBS, path[-2]))
    keys.extend((ShareMode.SUBTREE, account) for account in path)
    return tuple(keys)


def _best(shares: Iterable[Share], path: Sequence[AccountId]) -> dict[ResourceId, Share]:
    best: dict[ResourceId, Share] = {}
    for share in shares:
        if not share.covers(path):
            continue
        held = best.get(share.resource_id)
        rank = share.permission.rank
        if held is None or (rank, held.id) > (held.permission.rank, share.id):
            best[share.resource_id] = share
    return best


def resolve_usable(
    path: Sequence[AccountId],
    own: Iterable[Resource],
    shares: Iterable[Share],
    resources: Mapping[ResourceId, Resource],
    kind: ResourceKind | None = None,
) -> list[Access]:
    """What the account at the end of ``path`` can use: ``own`` plus covering ``shares``.

    ``shares`` may hold any candidates (typically those found under ``lookup_keys(path)``);
    the ones that do not cover the account are ignored. ``resources`` maps ids of shared
    resources to their current version. Sorted by kind, name, id.
    """
    account = path[-1]
    out = [
        Access(account, r, Origin.OWN, SharePermission.EDIT)
        for r in own
        if kind is None or r.kind is kind
    ]
    if any(a.resource.owner_id != account for a in out):
        raise InvalidInput("own resources must belong to the account", field="own")
    for resource_id, share in _best(shares, path).items():
        resource = resources.get(resource_id)
        if resource is None or resource.owner_id != share.owner_id:
            continue  # deleted, or a stale share: never grants anything
        if kind is None or resource.kind is kind:
            out.append(Access(account, resource, Origin.SHARED, share.permission, share.id))
    out.sort(key=_sort_key)
    return out


def access_of(
    path: Sequence[AccountId],
    resource: Resource,
    shares: Iterable[Share],
    owner_path: Sequence[AccountId],
) -> Access | None:
    """How the account at the end of ``path`` reaches ``resource``, or ``None``.

    ``owner_path`` is the owner's path (root first); ``shares`` are the resource's shares.
    """
    account = path[-1]
    if resource.owner_id == account:
        return Access(account, resource, Origin.OWN, SharePermission.EDIT)
    if account in owner_path[:-1]:
        return Access(account, resource, Origin.DESCENDANT, SharePermission.EDIT)
    mine = (s for s in shares if s.resource_id == resource.id and s.owner_id == resource.owner_id)
    share = _best(mine, path).get(resource.id)
    if share is None:
        return None
    return Access(account, resource, Origin.SHARED, share.permission, share.id)


class SharingIndex:
    """An immutable in-memory index of resources and shares over a ``Tree``.

    Build it once per snapshot; after a share is made or revoked build a new one (revocation
    therefore takes effect for the very next question).
    """

    __slots__ = ("_by_key", "_by_owner", "_resources", "_shares", "_shares_of", "_tree")

    def __init__(self, tree: Tree, resources: Iterable[Resource], shares: Iterable[Share]):
        self._tree = tree
        self._resources: dict[ResourceId, Resource] = {}
        self._by_owner: dict[AccountId, list[Resource]] = {}
        for resource in resources:
            if resource.id in self._resources:
                raise InvalidInput(
                    f"resource {quoted(resource.id)} listed twice", field="resources"
                )
            self._resources[resource.id] = resource
            self._by_owner.setdefault(resource.owner_id, []).append(resource)
        self._shares: dict[ShareId, Share] = {}
        self._by_key: dict[TargetKey, list[Share]] = {}
        self._shares_of: dict[ResourceId, list[Share]] = {}
        for share in shares:
            if share.id in self._shares:
                raise InvalidInput(f"share {quoted(share.id)} listed twice", field="shares")
            target = self._resources.get(share.resource_id)
            if target is not None and target.owner_id != share.owner_id:
                raise InvalidInput(
                    f"share {quoted(share.id)} is not owned by the resource's owner", field="shares"
                )
            self._shares[share.id] = share
            self._shares_of.setdefault(share.resource_id, []).append(share)
            for key in share.target_keys():
                self._by_key.setdefault(key, []).append(share)

    @property
    def tree(self) -> Tree:
        return self._tree

    def resource(self, resource_id: ResourceId) -> Resource:
        """The resource by id, or ``ResourceNotFound`` (no visibility check: storage view)."""
        try:
            return self._resources[resource_id]
        except KeyError:
            raise ResourceNotFound(resource_id) from None

    def share(self, share_id: ShareId) -> Share:
        try:
            return self._shares[share_id]
        except KeyError:
            raise ShareNotFound(share_id) from None

    def shares_of(self, resource_id: ResourceId) -> list[Share]:
        """The resource's shares, in id order."""
        return sorted(self._shares_of.get(resource_id, ()), key=lambda s: s.id)

    def usable(self, account_id: AccountId, kind: ResourceKind | None = None) -> list[Access]:
        """Own plus shared resources of ``account_id``: what it can send with."""
        path = self._tree.path(account_id)
        candidates = [s for key in lookup_keys(path) for s in self._by_key.get(key, ())]
        own = self._by_owner.get(account_id, ())
        return resolve_usable(path, own, candidates, self._resources, kind)

    def visible(self, account_id: AccountId, kind: ResourceKind | None = None) -> list[Access]:
        """``usable`` plus every resource owned below ``account_id`` (the parent sees all)."""
        out = self.usable(account_id, kind)
        for below in self._tree.descendants(account_id):
            out.extend(
                Access(account_id, r, Origin.DESCENDANT, SharePermission.EDIT)
                for r in self._by_owner.get(below, ())
                if kind is None or r.kind is kind
            )
        out.sort(key=_sort_key)
        return out

    def access(self, account_id: AccountId, resource_id: ResourceId) -> Access | None:
        """How ``account_id`` reaches the resource, or ``None`` when it may not see it."""
        resource = self._resources.get(resource_id)
        if resource is None or resource.owner_id not in self._tree:
            return None
        return access_of(
            self._tree.path(account_id),
            resource,
            self._shares_of.get(resource_id, ()),
            self._tree.path(resource.owner_id),
        )

    def require(
        self,
        account_id: AccountId,
        resource_id: ResourceId,
        needed: SharePermission = SharePermission.USE,
    ) -> Access:
        """``access`` or a typed refusal: ``ResourceNotFound`` when the account may not see
        the resource at all (so siblings cannot probe for it), ``ResourceAccessDenied`` when
        it sees it without the ``needed`` permission."""
        found = self.access(account_id, resource_id)
        if found is None:
            raise ResourceNotFound(resource_id)
        found.require(needed)
        return found


def visible_resources(
    account_id: AccountId,
    tree: Tree,
    resources: Iterable[Resource],
    shares: Iterable[Share],
    kind: ResourceKind | None = None,
) -> list[Access]:
    """Everything ``account_id`` may see, with origins (see ``SharingIndex.visible``)."""
    return SharingIndex(tree, resources, shares).visible(account_id, kind)
