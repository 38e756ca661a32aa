"""Shareable resources owned by an account, and the share grants that hand them down the tree.

A ``Resource`` is a template (seed 000: corporate branding kept at master level), a contact
group or contact (seed 004), an image or a landing page (seed 002). The library does not
interpret its content: ``payload`` is the content as **canonical base64 text** (so images and
HTML travel alike and every value stays immutable, hashable and JSON-able), ``metadata`` is
a small ``str -> str`` mapping the host may filter on (subject line, MIME type, locale...).
Every change returns a new value with ``version`` increased by one.

A ``Share`` grants the resource's owner account's descendants the right to ``USE`` it (read
it, send with it, copy it) or also to ``EDIT`` it. Who is covered depends on ``mode``:

* ``ALL_SUBS``: the owner's direct sub-accounts, including subs created later;
* ``CHOSEN``: the listed accounts, each a descendant of the owner;
* ``SUBTREE``: one account in the owner's subtree and everything below it (the owner itself
  as root means "all my descendants"), including accounts added there later.

Coverage is decided against the tree at the time of the question, never copied into the
share, so a sub moved out of the owner's subtree stops seeing the owner's resources at once.

>>> from datetime import datetime, UTC
>>> from subacct.domain.resources import Resource, ResourceKind, encode_content
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> tpl = Resource("tpl_brand", "agencydemo", ResourceKind.TEMPLATE, "Branding",
...                encode_content(b"<h1>Agency</h1>"), t0)
>>> tpl.content, tpl.version
(b'<h1>Agency</h1>', 1)
>>> tpl.changed(content=b"<h1>Agency Demo</h1>").version
2
"""

from __future__ import annotations

import base64
import binascii
import bisect
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Final, NewType, TypeAlias

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import clean_name, utc_timestamp
from subacct.domain.ids import AccountId, check_id
from subacct.errors import InvalidInput, quoted

__all__ = [
    "MAX_METADATA_ENTRIES",
    "CopySource",
    "Resource",
    "ResourceId",
    "ResourceKind",
    "Share",
    "ShareId",
    "ShareMode",
    "SharePermission",
    "TargetKey",
    "encode_content",
]

ResourceId = NewType("ResourceId", str)
ShareId = NewType("ShareId", str)

MAX_METADATA_ENTRIES: Final = 64
_MAX_METADATA_VALUE: Final = 1024
_METADATA_KEY: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class ResourceKind(enum.Enum):
    """What a resource is. Sharing rules are the same for every kind."""

    TEMPLATE = "template"
    CONTACT_GROUP = "contact_group"
    CONTACT = "contact"
    IMAGE = "image"
    LANDING_PAGE = "landing_page"


class ShareMode(enum.Enum):
    """Which descendants of the owner a share covers."""

    ALL_SUBS = "all_subs"
    CHOSEN = "chosen"
    SUBTREE = "subtree"


class SharePermission(enum.Enum):
    """``USE``: read, send with, copy. ``EDIT``: also change the original (implies ``USE``)."""

    USE = "use"
    EDIT = "edit"

    @property
    def rank(self) -> int:
        return 2 if self is SharePermission.EDIT else 1

    def allows(self, needed: SharePermission) -> bool:
        """True when this permission is at least ``needed``.

        >>> SharePermission.EDIT.allows(SharePermission.USE)
        True
        >>> SharePermission.USE.allows(SharePermission.EDIT)
        False
        """
        return self.rank >= needed.rank


#: How shares are indexed: ``(ALL_SUBS, owner)``, ``(CHOSEN, account)`` or ``(SUBTREE, root)``.
TargetKey: TypeAlias = tuple[ShareMode, AccountId]


def encode_content(content: bytes) -> str:
    """The canonical base64 text of ``content``, as ``Resource.payload`` stores it.

    >>> encode_content(b"hi")
    'aGk='
    """
    if not isinstance(content, bytes | bytearray | memoryview):
        raise InvalidInput(f"content must be bytes, not {type(content).__name__}", field="content")
    return base64.b64encode(bytes(content)).decode("ascii")


def _payload(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("payload must be base64 text (use encode_content)", field="payload")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise InvalidInput("payload is not valid base64 text", field="payload") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise InvalidInput("payload must be canonical base64 (padded, no spaces)", field="payload")
    return value


def _metadata(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("metadata must be a mapping of str to str", field="metadata")
    if len(value) > MAX_METADATA_ENTRIES:
        raise InvalidInput(
            f"metadata has {len(value)} entries; at most {MAX_METADATA_ENTRIES} are allowed",
            field="metadata",
        )
    for key, item in value.items():
        if not isinstance(key, str) or _METADATA_KEY.fullmatch(key) is None:
            raise InvalidInput(
                f"metadata key {quoted(key)} must be 1-64 characters of letters, digits and _.:-",
                field="metadata",
            )
        if not isinstance(item, str) or len(item) > _MAX_METADATA_VALUE:
            raise InvalidInput(
                f"metadata value for {quoted(key)} must be a string of at most "
                f"{_MAX_METADATA_VALUE} characters",
                field="metadata",
            )
    return MappingProxyType(dict(sorted(value.items())))


def _positive(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{field} must be a positive integer, got {quoted(value)}", field=field)
    return value


def _version(value: object) -> int:
    return _positive(value, "version")


def _source_version(value: object) -> int:
    return _positive(value, "source_version")


def _resource_id(value: object) -> ResourceId:
    return ResourceId(check_id(value, field="resource_id"))


def _share_id(value: object) -> ShareId:
    return ShareId(check_id(value, field="share_id"))


def _owner_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="owner_id"))


def _copied_from(value: object) -> CopySource | None:
    if value is None or isinstance(value, CopySource):
        return value
    raise InvalidInput("copied_from must be a CopySource or None", field="copied_from")


@attrs.frozen
class CopySource:
    """Where a copy came from: the original's id, owner and the version that was copied.

    A historical reference only: the original may later change, be unshared or deleted.
    """

    resource_id: ResourceId = attrs.field(converter=_resource_id)
    owner_id: AccountId = attrs.field(converter=_owner_id)
    version: int = attrs.field(converter=_source_version)


@attrs.frozen
class Resource:
    """A template, contact group, contact, image or landing page owned by ``owner_id``."""

    id: ResourceId = attrs.field(converter=_resource_id)
    owner_id: AccountId = attrs.field(converter=_owner_id)
    kind: ResourceKind = attrs.field(validator=instance_of(ResourceKind))
    name: str = attrs.field(converter=clean_name)
    payload: str = attrs.field(converter=_payload, repr=False)
    created_at: datetime = attrs.field(converter=utc_timestamp)
    metadata: Mapping[str, str] = attrs.field(
        factory=dict, converter=_metadata, hash=False, repr=False
    )
    version: int = attrs.field(default=1, converter=_version)
    copied_from: CopySource | None = attrs.field(default=None, converter=_copied_from)

    @property
    def content(self) -> bytes:
        """The payload decoded back to bytes."""
        return base64.b64decode(self.payload)

    def changed(
        self,
        *,
        name: str | None = None,
        content: bytes | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Resource:
        """A new version with the given fields replaced (at least one must be given)."""
        if name is None and content is None and metadata is None:
            raise InvalidInput("give a new name, content or metadata", field="changes")
        return attrs.evolve(
            self,
            name=self.name if name is None else name,
            payload=self.payload if content is None else encode_content(content),
            metadata=self.metadata if metadata is None else metadata,
            version=self.version + 1,
        )


def _targets(value: object) -> tuple[AccountId, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("targets must be a list of account ids", field="targets")
    return tuple(sorted({AccountId(check_id(v, field="targets")) for v in value}))


@attrs.frozen
class Share:
    """Owner ``owner_id`` lets the accounts covered by ``mode``/``targets`` use a resource.

    ``targets`` is empty for ``ALL_SUBS``, the chosen accounts (sorted, unique) for ``CHOSEN``
    and exactly one subtree root for ``SUBTREE``. Whether each target really is a descendant
    of the owner is checked by ``subacct.domain.sharing.plan_share`` against the tree.
    """

    id: ShareId = attrs.field(converter=_share_id)
    resource_id: ResourceId = attrs.field(converter=_resource_id)
    owner_id: AccountId = attrs.field(converter=_owner_id)
    mode: ShareMode = attrs.field(validator=instance_of(ShareMode))
    targets: tuple[AccountId, ...] = attrs.field(converter=_targets)
    permission: SharePermission = attrs.field(validator=instance_of(SharePermission))
    created_at: datetime = attrs.field(converter=utc_timestamp)

    def __attrs_post_init__(self) -> None:
        count = len(self.targets)
        if self.mode is ShareMode.ALL_SUBS and count:
            raise InvalidInput("an all-subs share lists no targets", field="targets")
        if self.mode is ShareMode.CHOSEN and not count:
            raise InvalidInput("a chosen share needs at least one target", field="targets")
        if self.mode is ShareMode.SUBTREE and count != 1:
            raise InvalidInput("a subtree share names exactly one root account", field="targets")
        if self.mode is ShareMode.CHOSEN and self.owner_id in self.targets:
            raise InvalidInput("an account cannot share with itself", field="targets")

    @property
    def root(self) -> AccountId | None:
        """The subtree root of a ``SUBTREE`` share, else ``None``."""
        return self.targets[0] if self.mode is ShareMode.SUBTREE else None

    def target_keys(self) -> tuple[TargetKey, ...]:
        """The index keys under which storage finds this share (one row per key).

        >>> from datetime import datetime, UTC
        >>> s = Share("sh1", "tpl", "m", ShareMode.CHOSEN, ["b", "a"], SharePermission.USE,
        ...           datetime(2026, 1, 1, tzinfo=UTC))
        >>> [(mode.value, account) for mode, account in s.target_keys()]
        [('chosen', 'a'), ('chosen', 'b')]
        """
        if self.mode is ShareMode.ALL_SUBS:
            return ((ShareMode.ALL_SUBS, self.owner_id),)
        return tuple((self.mode, target) for target in self.targets)

    def covers(self, path: Sequence[AccountId]) -> bool:
        """True when the account at the end of ``path`` (root first) is covered by this share.

        The owner must be a strict ancestor on the path; a ``SUBTREE`` root must sit at or
        below the owner on it, so later moves never widen a share.
        """
        if len(path) < 2:
            return False
        ancestors = path[:-1]
        try:
            owner_at = ancestors.index(self.owner_id)
        except ValueError:
            return False
        if self.mode is ShareMode.ALL_SUBS:
            return owner_at == len(path) - 2
        if self.mode is ShareMode.CHOSEN:
            at = bisect.bisect_left(self.targets, path[-1])
            return at < len(self.targets) and self.targets[at] == path[-1]
        return self.targets[0] in path[owner_at:]
