"""Record collections: one generic repository port for the data of policy, billing,
credits and sharing.

Each ``Collection`` names a kind of record (its Python type, the attributes that form its
key, the attributes it can be listed by, and whether it is versioned or append-only). An
adapter implements ``RecordRepository`` once and serves every collection: records travel
through ``subacct.serialization.converter`` (plain JSON with a schema version), so an
adapter stores them without knowing their fields.

The collections subacct stores are listed in ``subacct.storage.collections``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final, Generic, Protocol, TypeVar, cast

import attrs

from subacct.errors import ConcurrentModification, InvalidInput, quoted
from subacct.serialization import converter, structure

__all__ = ["Collection", "RecordRepository", "check_record_version", "dump_record", "load_record"]

T = TypeVar("T")
R = TypeVar("R")


@attrs.frozen
class Collection(Generic[T]):
    """A kind of stored record.

    ``key`` attributes (joined with ``/``) identify a record; ``indexes`` are attributes
    ``list_by`` can filter on; ``versioned`` records carry an integer ``version`` that
    ``update`` checks optimistically; ``append_only`` records are never updated or removed.
    ``sequenced`` records are numbered by storage as they are written (see
    ``RecordRepository``) and every read returns them in that order, not in key order.
    ``label`` is what error messages call one record (default: the name, singular).
    """

    name: str
    type: type[T]
    key: tuple[str, ...]
    indexes: tuple[str, ...] = ()
    versioned: bool = False
    append_only: bool = False
    label: str | None = None
    sequenced: bool = False

    @property
    def noun(self) -> str:
        """One record, in words: ``"plan change"`` for ``plan_changes``."""
        if self.label is not None:
            return self.label
        words = self.name.replace("_", " ")
        return words[:-1] if words.endswith("s") else words

    def key_of(self, record: T) -> str:
        return "/".join(_text(getattr(record, field)) for field in self.key)

    def index_values(self, record: T) -> dict[str, str | None]:
        return {
            field: None if getattr(record, field) is None else _text(getattr(record, field))
            for field in self.indexes
        }

    def check_index(self, field: str) -> None:
        """Refuse a ``list_by`` on an attribute that is not indexed."""
        if field not in self.indexes:
            raise InvalidInput(
                f"{self.name} records can be listed by {list(self.indexes)}, not {quoted(field)}",
                field=field,
            )


def _text(value: object) -> str:
    if value is None:
        return ""  # ids are never empty, so "" cannot clash with a real key part
    enum_value = getattr(value, "value", None)
    return str(enum_value if isinstance(enum_value, str | int) else value)


class RecordRepository(Protocol[R]):
    """Stored records of one collection, inside a unit of work.

    A ``sequenced`` collection's records get a sequence number from storage when they are
    written: strictly increasing per store (gaps allowed), in commit order where writers
    take turns, in list order within one ``add_many``. ``list_by``, ``all`` and
    ``find_many`` return them in that order: the last record written comes last, whatever
    its key or its time.
    """

    def add(self, record: R) -> None:
        """Insert; ``AlreadyExists`` when the key is taken."""
        ...

    def add_many(self, records: Sequence[R]) -> None:
        """``add`` each record. An adapter may send them with the unit's commit: a taken
        key then fails the commit instead, as a ``ConcurrentModification`` (for records
        with fresh keys, such as audit records)."""
        ...

    def get(self, key: str) -> R:
        """The record with this key (``Collection.key_of``), or ``NotFound``."""
        ...

    def find(self, key: str) -> R | None: ...

    def find_many(self, keys: Iterable[str]) -> dict[str, R]:
        """The records under ``keys``, by key (absent keys left out; a sequenced
        collection's in sequence order): one read for many (SQL adapters send an ``IN``
        list per few hundred keys)."""
        ...

    def update(self, record: R) -> None:
        """Replace; ``NotFound`` if missing; versioned records need stored version + 1
        (``ConcurrentModification``); append-only collections refuse (``StorageError``)."""
        ...

    def remove(self, key: str) -> None:
        """Delete; ``NotFound`` if missing; append-only collections refuse."""
        ...

    def list_by(self, field: str, value: str) -> list[R]:
        """Records whose index ``field`` equals ``value``, in key order (a sequenced
        collection's in sequence order)."""
        ...

    def all(self) -> list[R]:
        """Every record, in key order (a sequenced collection's in sequence order)."""
        ...


def check_record_version(coll: Collection[Any], stored: Any, new: Any) -> None:
    """The optimistic check shared by every adapter's ``update``."""
    if coll.versioned and new.version != stored.version + 1:
        raise ConcurrentModification(
            f"{coll.noun} {quoted(coll.key_of(new))} changed since it was read "
            f"(stored version {stored.version}, write carries {new.version})",
            stored_version=stored.version,
            version=new.version,
        )


def dump_record(coll: Collection[Any], record: Any) -> str:
    """The record as JSON text (through the one converter)."""
    if not isinstance(record, coll.type):
        raise InvalidInput(f"{coll.name} stores {coll.type.__name__}, not {type(record).__name__}")
    return json.dumps(converter.unstructure(record), sort_keys=True, separators=(",", ":"))


_DECODED_LIMIT: Final = 4096  # bodies remembered (each at most _DECODED_TEXT characters)
_DECODED_TEXT: Final = 2048


def load_record(coll: Collection[T], text: str) -> T:
    """Back from ``dump_record``. Records are immutable, so a body decoded before (a
    billing profile, a quota setting, read by every send) is answered from a bounded
    cache of decoded bodies: equal text, equal record."""
    if len(text) > _DECODED_TEXT:
        return structure(json.loads(text), coll.type)
    return cast("T", _decoded(cast(Any, coll.type), text))


@functools.lru_cache(maxsize=_DECODED_LIMIT)
def _decoded(cls: type[Any], text: str) -> Any:
    return structure(json.loads(text), cls)
