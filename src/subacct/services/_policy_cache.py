"""Policy state kept in memory between units of work (private).

A ``Subacct`` keeps one ``PolicyCache``. Every unit of work that needs policy state reads
the store's policy version (``UnitOfWork.policy_version``: one cheap read) and takes the
``Snapshot`` of that version: what earlier units read at the same version (accounts with
their ancestors, memberships, roles, ceilings, impersonation settings, agency links, the acting
principals, built policy indexes) is still what storage holds, because every write to
any of it raises the version in its own transaction. A different version starts an empty
snapshot, so a change committed anywhere (another thread, another process) is seen by
the next unit of work: a revoked API key is refused on the very next call.

A unit fills the snapshot only with what it read while the version was still the one it
started with: after a policy write of its own (not yet committed, maybe rolled back) it
reads storage directly and keeps nothing. Values are shared between units: tuples and
frozen records, never changed in place. Each table of a snapshot holds at most
``limit`` entries; a full table is emptied and fills again (the cache bounds its memory,
the version bounds its staleness).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from subacct.domain import Account, AccountId, AgencyLink, Membership, UserId
from subacct.policy import Ceiling, ImpersonationSetting, PolicyIndex, Role

__all__ = ["PolicyCache", "Snapshot", "Table"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING: Any = object()


class Table(Generic[K, V]):
    """One bounded table of a snapshot."""

    __slots__ = ("_limit", "_rows")

    def __init__(self, limit: int) -> None:
        self._rows: dict[K, V] = {}
        self._limit = limit

    def get(self, key: K) -> V:
        """The value, or ``_MISSING``."""
        return self._rows.get(key, _MISSING)  # type: ignore[no-any-return]

    def put(self, key: K, value: V) -> None:
        if len(self._rows) >= self._limit:
            self._rows.clear()
        self._rows[key] = value

    def put_new(self, key: K, value: V) -> V:
        """``put``, returning the value."""
        self.put(key, value)
        return value

    def __len__(self) -> int:
        return len(self._rows)

    def staged(self, name: str, staged: list[tuple[str, Any, Any]]) -> Table[K, V]:
        """A view of this table that reads what is kept and notes what is put into it
        in ``staged`` (as ``(name, key, value)``) instead of keeping it."""
        view: _StagedTable[K, V] = _StagedTable(self._limit)
        view._rows = self._rows
        view._name = name
        view._staged = staged
        return view


class _StagedTable(Table[K, V]):
    __slots__ = ("_name", "_staged")
    _name: str
    _staged: list[tuple[str, Any, Any]]

    def put(self, key: K, value: V) -> None:
        self._staged.append((self._name, key, value))


class Snapshot:
    """What was read at one policy version."""

    def __init__(self, version: int, limit: int) -> None:
        self.version = version
        self.roles: Table[None, list[Role]] = Table(1)
        self.chains: Table[AccountId, tuple[Account, list[Account]]] = Table(limit)
        self.memberships: Table[UserId, list[Membership]] = Table(limit)
        self.ceilings: Table[AccountId, list[Ceiling]] = Table(limit)
        self.settings: Table[AccountId, ImpersonationSetting | None] = Table(limit)
        self.principals: Table[tuple[str, str], Any] = Table(limit)
        self.links: Table[AccountId, AgencyLink | None] = Table(limit)
        self.indexes: Table[tuple[frozenset[AccountId], frozenset[UserId]], PolicyIndex] = Table(
            limit
        )
        # the index of a unit's first decision, by (account, acting user): one lookup
        self.decisions: Table[tuple[str, UserId | None], PolicyIndex] = Table(limit)

    def staged(self, staged: list[tuple[str, Any, Any]]) -> Snapshot:
        """This snapshot for a unit whose reads are not one snapshot (READ COMMITTED):
        it reads what is kept, and what it reads itself goes to ``staged``, to be kept
        (``keep``) only once the store's policy version is confirmed unchanged since the
        unit read it: its reads could otherwise mix states never committed together."""
        view = object.__new__(Snapshot)
        view.version = self.version
        for name in _TABLES:
            setattr(view, name, getattr(self, name).staged(name, staged))
        return view

    def keep(self, staged: list[tuple[str, Any, Any]]) -> None:
        """Keep what a unit staged (its reads are confirmed to be of this version)."""
        for name, key, value in staged:
            getattr(self, name).put(key, value)


_TABLES = ("roles", "chains", "memberships", "ceilings", "settings", "principals", "indexes",
           "decisions", "links")  # fmt: skip


class PolicyCache:
    """The latest snapshot of one application (shared by its threads). A unit that
    reads an older version than the latest gets a snapshot of its own and empties the
    cache."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None

    def at(self, version: int) -> Snapshot:
        """The snapshot of ``version``: the kept one, or a new one that replaces it (a
        unit still in an older transaction gets a private snapshot of its own)."""
        latest = self._latest
        if latest is not None and latest.version == version:
            return latest
        with self._lock:
            latest = self._latest
            if latest is not None and latest.version == version:
                return latest
            snapshot = Snapshot(version, self._limit)
            if latest is None or version > latest.version:
                self._latest = snapshot
            else:
                # an older version: a unit still in an older transaction, or a store put
                # back from a backup (whose versions will climb again to numbers cached
                # here): forget everything, the next unit starts afresh
                self._latest = None
            return snapshot

    def clear(self) -> None:
        """Forget everything (the next unit reads storage again)."""
        with self._lock:
            self._latest = None


def cached(
    snapshot: Snapshot | None,
    table: Callable[[Snapshot], Table[K, V]],
    key: K,
    load: Callable[[], V],
) -> V:
    """``key`` from the snapshot's ``table``, else ``load()``, kept there. (The unit
    passes a snapshot only while it reads at the snapshot's version: what it loads is
    what storage holds at that version, or newer under READ COMMITTED, never older.)"""
    if snapshot is None:
        return load()
    rows = table(snapshot)
    found = rows.get(key)
    if found is not _MISSING:
        return found
    value = load()
    rows.put(key, value)
    return value
