"""Marks on every public method of a sub-API (private): a ``command`` changes tenant data
and emits at least one event; a ``query`` reads (it may write audit records only). The
test suite walks these marks, so a new public method without one fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

KIND: Final = "__subacct_kind__"


def command(fn: F) -> F:
    setattr(fn, KIND, "command")
    return fn


def query(fn: F) -> F:
    setattr(fn, KIND, "query")
    return fn


def kind_of(fn: object) -> Literal["command", "query"] | None:
    found = getattr(fn, KIND, None)
    return found if found in ("command", "query") else None
