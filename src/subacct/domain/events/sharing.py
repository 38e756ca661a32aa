"""Events about shareable resources and their shares."""

from __future__ import annotations

from typing import ClassVar

import attrs

from subacct._validators import instance_of
from subacct.domain.events._base import (
    BaseEvent,
    id_tuple,
    valid_id,
    valid_name,
    valid_positive,
)
from subacct.domain.ids import AccountId
from subacct.domain.resources import ResourceId, ResourceKind, ShareId, ShareMode, SharePermission

__all__ = [
    "ResourceCopied",
    "ResourceCreated",
    "ResourceDeleted",
    "ResourceShared",
    "ResourceUpdated",
    "ShareRevoked",
]


@attrs.frozen(kw_only=True)
class ResourceCreated(BaseEvent):
    event_type: ClassVar[str] = "resource_created"
    resource_id: ResourceId = attrs.field(validator=valid_id)
    kind: ResourceKind = attrs.field(validator=instance_of(ResourceKind))
    name: str = attrs.field(validator=valid_name)


@attrs.frozen(kw_only=True)
class ResourceUpdated(BaseEvent):
    """Account ``account_id`` (the owner, an ancestor, or a sub with an edit grant) changed it."""

    event_type: ClassVar[str] = "resource_updated"
    resource_id: ResourceId = attrs.field(validator=valid_id)
    owner_id: AccountId = attrs.field(validator=valid_id)
    version: int = attrs.field(validator=valid_positive)


@attrs.frozen(kw_only=True)
class ResourceCopied(BaseEvent):
    """``account_id`` copied version ``source_version`` of another resource as its own."""

    event_type: ClassVar[str] = "resource_copied"
    resource_id: ResourceId = attrs.field(validator=valid_id)
    kind: ResourceKind = attrs.field(validator=instance_of(ResourceKind))
    source_resource_id: ResourceId = attrs.field(validator=valid_id)
    source_owner_id: AccountId = attrs.field(validator=valid_id)
    source_version: int = attrs.field(validator=valid_positive)


@attrs.frozen(kw_only=True)
class ResourceDeleted(BaseEvent):
    """The resource is gone, and with it the shares in ``revoked_share_ids`` (copies stay)."""

    event_type: ClassVar[str] = "resource_deleted"
    resource_id: ResourceId = attrs.field(validator=valid_id)
    owner_id: AccountId = attrs.field(validator=valid_id)
    revoked_share_ids: tuple[ShareId, ...] = attrs.field(converter=id_tuple)


@attrs.frozen(kw_only=True)
class ResourceShared(BaseEvent):
    """Owner ``account_id`` shared a resource (``targets`` as in ``Share``)."""

    event_type: ClassVar[str] = "resource_shared"
    share_id: ShareId = attrs.field(validator=valid_id)
    resource_id: ResourceId = attrs.field(validator=valid_id)
    kind: ResourceKind = attrs.field(validator=instance_of(ResourceKind))
    mode: ShareMode = attrs.field(validator=instance_of(ShareMode))
    targets: tuple[AccountId, ...] = attrs.field(converter=id_tuple)
    permission: SharePermission = attrs.field(validator=instance_of(SharePermission))


@attrs.frozen(kw_only=True)
class ShareRevoked(BaseEvent):
    event_type: ClassVar[str] = "share_revoked"
    share_id: ShareId = attrs.field(validator=valid_id)
    resource_id: ResourceId = attrs.field(validator=valid_id)
