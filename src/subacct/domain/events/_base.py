"""What every event has, and the validators the event modules share (private)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar, Final, NewType

import attrs

from subacct.domain._validate import logged_name, utc_timestamp
from subacct.domain.ids import AccountId, UserId, check_id
from subacct.errors import InvalidInput, quoted
from subacct.money import Money

EventId = NewType("EventId", str)

PERIOD: Final = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_OPERATION: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MAX_KEY: Final = 200  # as the ledger's idempotency keys (subacct.pricing.ledger)


def valid_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_id(value, field=attribute.name)


def valid_optional_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_id(value, field=attribute.name)


def valid_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A trimmed name, as the entity the event describes held it (``logged_name``: the
    log written by an older version still reads)."""
    if logged_name(value, field=attribute.name) != value:
        raise InvalidInput(f"{attribute.name} must be trimmed", field=attribute.name)


def valid_positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"{attribute.name} must be a positive integer, got {quoted(value)}",
            field=attribute.name,
        )


def valid_count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"{attribute.name} must be a whole number >= 0, got {quoted(value)}",
            field=attribute.name,
        )


def id_tuple(value: object) -> tuple[str, ...]:
    """Sorted, unique ids (a set of accounts or shares has no order of its own)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("expected a list of ids", field="ids")
    return tuple(sorted({check_id(v, field="ids") for v in value}))


def text_tuple(value: object) -> tuple[str, ...]:
    """Sorted, unique short names (actions, prerequisites)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("expected a list of names", field="names")
    out = set()
    for v in value:
        if not isinstance(v, str) or not v or not v.isprintable() or len(v) > 200:
            raise InvalidInput(f"{quoted(v)} is not a short printable name", field="names")
        out.add(v)
    return tuple(sorted(out))


def operation(value: object) -> str:
    if not isinstance(value, str) or _OPERATION.fullmatch(value) is None:
        raise InvalidInput(f"operation must be snake_case, got {quoted(value)}", field="operation")
    return value


def period(value: object) -> str:
    if not isinstance(value, str) or PERIOD.fullmatch(value) is None:
        raise InvalidInput(f"period must look like 'YYYY-MM', got {quoted(value)}", field="period")
    return value


def valid_code(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A stable snake_case code (a reason), 1 to 64 characters."""
    if not isinstance(value, str) or _OPERATION.fullmatch(value) is None:
        raise InvalidInput(
            f"{attribute.name} must be a snake_case code, got {quoted(value)}",
            field=attribute.name,
        )


def optional_period(value: object) -> str | None:
    return None if value is None else period(value)


def valid_key(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An idempotency key: printable text without whitespace, 1 to 200 characters."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= _MAX_KEY
        or not value.isprintable()
        or " " in value
    ):
        raise InvalidInput(
            f"{attribute.name} must be 1 to {_MAX_KEY} printable characters without spaces",
            field=attribute.name,
        )


def positive_money(_: object, attribute: attrs.Attribute[Any], value: Money) -> None:
    if not isinstance(value, Money) or value.is_negative() or value.is_zero():
        raise InvalidInput(f"{attribute.name} must be positive Money", field=attribute.name)


@attrs.frozen
class EventMeta:
    """What the caller supplies for an event: its id, its time and who acted."""

    event_id: EventId = attrs.field(validator=valid_id)
    occurred_at: datetime = attrs.field(converter=utc_timestamp)
    actor: UserId | None = attrs.field(default=None, validator=valid_optional_id)

    def about(self, account_id: AccountId | None) -> dict[str, Any]:
        """The fields every event takes, for an event about ``account_id``."""
        return {
            "event_id": self.event_id,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "account_id": account_id,
        }


@attrs.frozen(kw_only=True)
class BaseEvent:
    """Fields every event has. ``event_type`` is the stable wire name of the kind.

    ``account_scoped`` is ``True`` for events about one account (``account_id`` set),
    ``False`` for system-wide ones (``account_id`` is ``None``), ``None`` when it may be
    either (a credit sweep that touched no account).
    """

    event_type: ClassVar[str] = "event"
    account_scoped: ClassVar[bool | None] = True

    event_id: EventId = attrs.field(validator=valid_id)
    occurred_at: datetime = attrs.field(converter=utc_timestamp)
    actor: UserId | None = attrs.field(validator=valid_optional_id)
    account_id: AccountId | None = attrs.field(validator=valid_optional_id)

    def __attrs_post_init__(self) -> None:
        if self.account_scoped is True and self.account_id is None:
            raise InvalidInput(f"a {self.event_type} event needs an account_id", field="account_id")
        if self.account_scoped is False and self.account_id is not None:
            raise InvalidInput(f"a {self.event_type} event is not about one account")
