"""When each API key was last used, written cheaply (private).

A call made with a key (and the key's ``authenticate_api_key``) counts as a use. A use is
written at most once per ``Settings.api_key_use_interval`` (``use_is_due``): each
application remembers the last use it wrote for each key, so a use within the interval
costs no I/O at all, and a due one costs one small unit of work of its own, after the
call. The record (``API_KEY_USES``) is not policy data: writing it leaves the store's
policy version, and so every cached decision, as they were.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from subacct.errors import AlreadyExists, ConcurrentModification, StorageError
from subacct.policy.api_keys import ApiKeyId, ApiKeyUse, use_is_due
from subacct.settings import Settings
from subacct.storage.collections import API_KEY_USES
from subacct.storage.ports import Store

__all__ = ["KeyUses"]

_KEPT: Final = 100_000  # keys whose last written use one application remembers


class KeyUses:
    """The last-use writer of one application."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._written: dict[ApiKeyId, datetime] = {}

    def note(self, key_id: ApiKeyId) -> None:
        """Record that key ``key_id`` is used now, if a use is due (see the module). Best
        effort, after the call's own unit of work has committed: a concurrent writer of
        the same use wins, and a write storage refuses (a lost connection, a timeout) is
        dropped; the next use tries again. Nothing is raised, so a call that succeeded
        never reports a failure, nor runs again, for its last-use record."""
        at, every = self._settings.clock.now(), self._settings.api_key_use_interval
        if not use_is_due(self._written.get(key_id), at, every):
            return
        try:
            with self._store.unit_of_work() as uow:
                repo = uow.records(API_KEY_USES)
                stored = repo.find(key_id)
                if stored is None:
                    repo.add(ApiKeyUse(key_id, at))
                elif use_is_due(stored.last_used_at, at, every):
                    repo.update(ApiKeyUse(key_id, at))
                else:  # another application wrote it meanwhile
                    at = stored.last_used_at
                uow.commit()
        except (ConcurrentModification, AlreadyExists):
            return  # another unit recorded this use at the same moment
        except StorageError:
            return  # dropped: the call it records has succeeded; the next use writes it
        if len(self._written) >= _KEPT:
            self._written.clear()
        self._written[key_id] = at
