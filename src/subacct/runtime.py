"""Clock and id adapters (outside the pure core).

>>> from subacct.runtime import FixedClock, SequentialIds
>>> ids = SequentialIds()
>>> ids.new_id("account"), ids.new_id("account")
('account_1', 'account_2')
"""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime, timedelta

from subacct.errors import InvalidInput

__all__ = ["FixedClock", "SequentialIds", "SystemClock", "UuidIds"]


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests and demos: returns ``start`` and moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if not isinstance(start, datetime) or start.utcoffset() is None:
            raise InvalidInput("FixedClock needs a timezone-aware datetime", field="start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if not isinstance(delta, timedelta):
            raise InvalidInput("advance takes a datetime.timedelta", field="delta")
        with self._lock:
            self._now = self._now + delta
            return self._now


class UuidIds:
    """Random, globally unique ids: ``"account_<uuid4 hex>"``."""

    def new_id(self, kind: str) -> str:
        return f"{kind}_{uuid.uuid4().hex}"


class SequentialIds:
    """Readable ids for tests and demos: ``"account_1"``, ``"account_2"``... (per process)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new_id(self, kind: str) -> str:
        with self._lock:
            return f"{kind}_{next(self._counter)}"
