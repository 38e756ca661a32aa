"""Pure operations on resources and shares; each returns the changed values and its event.

The caller loads what the rule needs (accounts, the tree, the agency links, an ``Access``
from ``subacct.domain.resolution``), passes an ``EventMeta`` (event id, time, actor) and
stores what comes back. A refused call raises one typed error and returns nothing.

Rules:

* only the owner account shares a resource or revokes its shares (``NotResourceOwner``);
* a share goes down the tree only (``NotADescendant``), never across an agency link in
  either direction (``LinkedAccountsCannotShare``, seed 002), never to a closed account;
* editing needs ``EDIT``: owners and their ancestors have it, a sub only with an edit grant;
* a copy is a new, independent resource of the copying account (``copied_from`` records
  the source and version); revoking the share or deleting the original leaves it intact;
* deleting a resource revokes all its shares (listed in the ``ResourceDeleted`` event).

Which *user* may do each of these (``templates.share``, ``groups.share``...) is the policy
engine's question and is checked by the caller first.

>>> from datetime import datetime, UTC
>>> from subacct.domain import HierarchyRules, Tree, new_master, plan_new_sub
>>> from subacct.domain.events import EventMeta
>>> from subacct.domain.resources import ResourceKind, ShareMode, SharePermission
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> m = new_master("agencydemo", "Agency Demo", t0)
>>> a1 = plan_new_sub("agency1", "Agency 1", m, [], HierarchyRules(), t0)
>>> tpl, created = plan_create_resource(
...     m, "brand", ResourceKind.TEMPLATE, "Branding", b"<h1>Hi</h1>", EventMeta("ev1", t0, "ann"))
>>> share, shared = plan_share(tpl, m, ShareMode.ALL_SUBS, [], SharePermission.USE,
...                            Tree([m, a1]), [], "sh1", EventMeta("ev2", t0, "ann"))
>>> created.event_type, shared.event_type, shared.mode.value
('resource_created', 'resource_shared', 'all_subs')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from subacct.domain.accounts import Account
from subacct.domain.events import (
    EventMeta,
    ResourceCopied,
    ResourceCreated,
    ResourceDeleted,
    ResourceShared,
    ResourceUpdated,
    ShareRevoked,
)
from subacct.domain.hierarchy import Tree
from subacct.domain.ids import AccountId
from subacct.domain.links import AgencyLink
from subacct.domain.resolution import Access, Origin
from subacct.domain.resources import (
    CopySource,
    Resource,
    ResourceId,
    ResourceKind,
    Share,
    ShareId,
    ShareMode,
    SharePermission,
    encode_content,
)
from subacct.errors import (
    InvalidInput,
    LinkedAccountsCannotShare,
    NotADescendant,
    NotResourceOwner,
    ResourceAccessDenied,
    quoted,
)

__all__ = [
    "plan_copy",
    "plan_create_resource",
    "plan_delete_resource",
    "plan_edit_resource",
    "plan_revoke",
    "plan_share",
]


def _require_actor(access: Access, account: Account) -> None:
    if access.account_id != account.id:
        raise InvalidInput(
            f"the access was resolved for {quoted(access.account_id)}, not {quoted(account.id)}",
            field="access",
        )


def _require_owner(owner: Account, owner_id: AccountId, what: str) -> None:
    if owner.id != owner_id:
        raise NotResourceOwner(
            f"account {quoted(owner.id)} does not own {what}; only {quoted(owner_id)} can "
            f"share or revoke it",
            account_id=owner.id,
            owner_id=owner_id,
        )


def plan_create_resource(
    owner: Account,
    resource_id: ResourceId,
    kind: ResourceKind,
    name: str,
    content: bytes,
    meta: EventMeta,
    *,
    metadata: Mapping[str, str] | None = None,
) -> tuple[Resource, ResourceCreated]:
    """A new resource (version 1) of the open account ``owner``."""
    owner.require_open()
    resource = Resource(
        resource_id,
        owner.id,
        kind,
        name,
        encode_content(content),
        meta.occurred_at,
        metadata={} if metadata is None else metadata,
    )
    event = ResourceCreated(
        event_id=meta.event_id,
        occurred_at=meta.occurred_at,
        actor=meta.actor,
        account_id=owner.id,
        resource_id=resource.id,
        kind=resource.kind,
        name=resource.name,
    )
    return resource, event


def plan_edit_resource(
    access: Access,
    editor: Account,
    owner: Account,
    meta: EventMeta,
    *,
    name: str | None = None,
    content: bytes | None = None,
    metadata: Mapping[str, str] | None = None,
) -> tuple[Resource, ResourceUpdated]:
    """The next version of ``access.resource``, edited by ``editor`` (needs ``EDIT``).

    ``owner`` is the resource's owner account: neither it nor the editor may be closed.
    """
    _require_actor(access, editor)
    if owner.id != access.resource.owner_id:
        raise InvalidInput(f"{quoted(owner.id)} is not the resource's owner", field="owner")
    access.require(SharePermission.EDIT)
    editor.require_open()
    owner.require_open()
    resource = access.resource.changed(name=name, content=content, metadata=metadata)
    event = ResourceUpdated(
        event_id=meta.event_id,
        occurred_at=meta.occurred_at,
        actor=meta.actor,
        account_id=editor.id,
        resource_id=resource.id,
        owner_id=resource.owner_id,
        version=resource.version,
    )
    return resource, event


def plan_copy(
    access: Access,
    into: Account,
    new_id: ResourceId,
    meta: EventMeta,
    *,
    name: str | None = None,
) -> tuple[Resource, ResourceCopied]:
    """An independent copy of ``access.resource`` owned by ``into``, free to customize.

    Any access allows a copy (``USE`` is enough). The copy is version 1 with
    ``copied_from`` set; later edits, revocation or deletion of the original leave it as is.
    """
    _require_actor(access, into)
    into.require_open()
    source = access.resource
    if new_id == source.id:
        raise InvalidInput("a copy needs an id of its own", field="resource_id")
    copy = Resource(
        new_id,
        into.id,
        source.kind,
        source.name if name is None else name,
        source.payload,
        meta.occurred_at,
        metadata=source.metadata,
        copied_from=CopySource(source.id, source.owner_id, source.version),
    )
    event = ResourceCopied(
        event_id=meta.event_id,
        occurred_at=meta.occurred_at,
        actor=meta.actor,
        account_id=into.id,
        resource_id=copy.id,
        kind=copy.kind,
        source_resource_id=source.id,
        source_owner_id=source.owner_id,
        source_version=source.version,
    )
    return copy, event


def plan_delete_resource(
    access: Access,
    actor_account: Account,
    owner: Account,
    shares: Iterable[Share],
    meta: EventMeta,
) -> ResourceDeleted:
    """Delete ``access.resource`` (by its owner or an ancestor) and revoke all its ``shares``.

    Storage deletes the resource and the shares named in the event; copies stay.
    """
    _require_actor(access, actor_account)
    resource = access.resource
    if owner.id != resource.owner_id:
        raise InvalidInput(f"{quoted(owner.id)} is not the resource's owner", field="owner")
    if access.origin is Origin.SHARED:
        raise ResourceAccessDenied(
            f"account {quoted(actor_account.id)} uses resource {quoted(resource.id)} through a "
            f"share; "
            "only the owner or its ancestors delete it (copy it to get your own)",
            account_id=actor_account.id,
            resource_id=resource.id,
            permission="delete",
        )
    actor_account.require_open()
    owner.require_open()
    share_ids = []
    for share in shares:
        if share.resource_id != resource.id:
            raise InvalidInput(f"share {quoted(share.id)} is not a share of {quoted(resource.id)}")
        share_ids.append(share.id)
    return ResourceDeleted(
        event_id=meta.event_id,
        occurred_at=meta.occurred_at,
        actor=meta.actor,
        account_id=actor_account.id,
        resource_id=resource.id,
        owner_id=resource.owner_id,
        revoked_share_ids=share_ids,
    )


def _linked(a: AccountId, b: AccountId, links: Iterable[AgencyLink]) -> bool:
    return any({link.agency_id, link.client_id} == {a, b} for link in links)


def _check_target(
    owner: Account, target: AccountId, tree: Tree, links: list[AgencyLink], *, self_ok: bool
) -> None:
    if target in tree and ((self_ok and target == owner.id) or owner.id in tree.ancestors(target)):
        tree.get(target).require_open()
        return
    owner_root = tree.path(owner.id)[0]
    target_root = tree.path(target)[0] if target in tree else target
    if _linked(owner_root, target_root, links) or _linked(owner.id, target, links):
        raise LinkedAccountsCannotShare(
            f"accounts {quoted(owner.id)} and {quoted(target)} are connected by an agency link; "
            "linked accounts share nothing, in either direction",
            account_id=owner.id,
            target_id=target,
        )
    raise NotADescendant(
        f"account {quoted(target)} is not a sub-account below {quoted(owner.id)}; "
        "resources are shared down the tree only",
        account_id=owner.id,
        target_id=target,
    )


def plan_share(
    resource: Resource,
    owner: Account,
    mode: ShareMode,
    targets: Iterable[AccountId],
    permission: SharePermission,
    tree: Tree,
    links: Iterable[AgencyLink],
    share_id: ShareId,
    meta: EventMeta,
) -> tuple[Share, ResourceShared]:
    """A share of ``resource`` from its owner to the accounts ``mode``/``targets`` cover.

    ``tree`` must hold the owner with its ancestors and the targets with theirs (the owner's
    whole tree is simplest); ``links`` the agency links of the accounts involved (passing
    all links is fine). ``ALL_SUBS`` takes no targets, ``CHOSEN`` descendants of the owner,
    ``SUBTREE`` one root: the owner itself (all descendants) or a descendant.
    """
    _require_owner(owner, resource.owner_id, f"resource {quoted(resource.id)}")
    owner.require_open()
    tree.get(owner.id)
    share = Share(
        share_id, resource.id, owner.id, mode, list(targets), permission, meta.occurred_at
    )
    link_list = list(links)
    for target in share.targets:
        _check_target(owner, target, tree, link_list, self_ok=mode is ShareMode.SUBTREE)
    event = ResourceShared(
        event_id=meta.event_id,
        occurred_at=meta.occurred_at,
        actor=meta.actor,
        account_id=owner.id,
        share_id=share.id,
        resource_id=resource.id,
        kind=resource.kind,
        mode=share.mode,
        targets=share.targets,
        permission=share.permission,
    )
    return share, event


def plan_revoke(share: Share, owner: Account, meta: EventMeta) -> ShareRevoked:
    """Revoke ``share``: storage deletes it, and the next resolution no longer sees it.

    Copies made from the resource while it was shared are the copiers' own and stay.
    Revoking is allowed on a closed owner too (it only narrows access).
    """
    _require_owner(owner, share.owner_id, f"share {quoted(share.id)}")
    return ShareRevoked(
        event_id=meta.event_id,
        occurred_at=meta.occurred_at,
        actor=meta.actor,
        account_id=owner.id,
        share_id=share.id,
        resource_id=share.resource_id,
    )
