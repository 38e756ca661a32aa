"""Record scope: an ``OWN`` grant covers only the acting user's records.

Basic users see only their own messages, inbox replies and report rows. ``filter_records``
applies a decision's scope to the host's records, given how to read a record's owner.
"Own" means owned by ``acting_user_id(principal)``: the user, the real user behind an
impersonation, or the user who made an API key.

>>> from subacct.policy import Decision, Reason, Scope, filter_records
>>> d = Decision(True, Reason.ALLOWED_BY_ROLE, Scope.OWN, "basic_user", "agency1")
>>> replies = [{"id": 1, "owner": "bob"}, {"id": 2, "owner": "ann"}]
>>> [r["id"] for r in filter_records("bob", d, replies, lambda r: r["owner"])]
[1]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from subacct.domain.ids import UserId
from subacct.policy.actions import Scope
from subacct.policy.decisions import Decision, Principal, acting_user_id

__all__ = ["filter_records", "record_visible"]

R = TypeVar("R")


def record_visible(principal: Principal, decision: Decision, owner_id: UserId | None) -> bool:
    """True when ``decision`` (made for ``principal``) covers a record owned by ``owner_id``
    (``None``: a record without an owner, visible only with ``Scope.ALL``)."""
    if not decision.allowed:
        return False
    return decision.scope is Scope.ALL or owner_id == acting_user_id(principal)


def filter_records(
    principal: Principal,
    decision: Decision,
    records: Iterable[R],
    owner_of: Callable[[R], UserId | None],
) -> list[R]:
    """The records ``decision`` lets ``principal`` see, in their original order.

    Denied: none. ``ALL``: every record. ``OWN``: those owned by the acting user.
    """
    if not decision.allowed:
        return []
    if decision.scope is Scope.ALL:
        return list(records)
    me = acting_user_id(principal)
    return [r for r in records if owner_of(r) == me]
