"""Validators and exact arithmetic shared by the pricing modules (private)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from subacct.domain._validate import is_invisible
from subacct.domain.ids import _MAX_ID, AccountId, check_id
from subacct.errors import (
    AmountOutOfBounds,
    HierarchyCycle,
    InvalidInput,
    InvalidPricing,
    InvalidQuantity,
    quoted,
)
from subacct.money import Money, to_decimal

_MAX_TEXT = 200


def quantity(value: object, *, field: str = "quantity") -> int:
    """A whole, non-negative number of units (messages). Refuses bool, float and Decimal."""
    if type(value) is not int or value < 0:
        raise InvalidQuantity(
            f"{field} must be a non-negative integer, got {quoted(value)}",
            field=field,
            value=repr(value),
        )
    return value


def positive(value: object, *, field: str) -> int:
    """A whole number >= 1 (package sizes, tier bounds, ordinals)."""
    if type(value) is not int or value < 1:
        raise InvalidPricing(
            f"{field} must be a positive integer, got {quoted(value)}", field=field
        )
    return value


def price_amount(value: object, *, field: str) -> Decimal:
    """A non-negative exact amount (unit price, flat fee) within the bounds of
    ``subacct.money`` (``AmountOutOfBounds`` outside them). Floats are refused."""
    try:
        amount = to_decimal(value, field=field)
    except AmountOutOfBounds:
        raise
    except InvalidInput as err:
        raise InvalidPricing(err.message, field=field) from None
    if amount < 0:
        raise InvalidPricing(f"{field} must not be negative, got {amount}", field=field)
    return amount


def non_negative_money(value: object, *, field: str) -> Money:
    if not isinstance(value, Money):
        raise InvalidPricing(f"{field} must be Money, not {type(value).__name__}", field=field)
    if value.is_negative():
        raise InvalidPricing(f"{field} must not be negative, got {value}", field=field)
    return value


def currency(value: object) -> str:
    """A 3-letter ISO 4217 code, upper-cased (validated the way Money validates it)."""
    try:
        return Money.zero(value).currency  # type: ignore[arg-type]
    except InvalidInput as err:
        raise InvalidPricing(err.message, field="currency") from None


def account(value: object, *, field: str = "account_id") -> AccountId:
    """``check_id`` with a fast path for the common valid case (same accepted set).

    Among printable characters only the ASCII space is whitespace, so a printable string
    without ``" "`` has no whitespace at all; anything else goes through ``check_id``.
    """
    if (
        type(value) is str
        and 0 < len(value) <= _MAX_ID
        and value.isprintable()
        and " " not in value
    ):
        return AccountId(value)
    return AccountId(check_id(value, field=field))


def text(value: object, *, field: str) -> str:
    """A non-empty printable string of at most 200 characters (names, keys, labels),
    without the invisible characters ``isprintable`` lets through (``INVISIBLE_RANGES``)."""
    if not isinstance(value, str) or not value or value.isspace() or not value.isprintable():
        raise InvalidInput(f"{field} must be a non-empty printable string", field=field)
    if not value.isascii() and any(is_invisible(c) for c in value):
        raise InvalidInput(f"{field} must not contain invisible characters", field=field)
    if len(value) > _MAX_TEXT:
        raise InvalidInput(f"{field} is longer than {_MAX_TEXT} characters", field=field)
    return value


def optional_text(value: object, *, field: str) -> str | None:
    return None if value is None else text(value, field=field)


def acyclic(parents: Mapping[AccountId, AccountId]) -> None:
    """Refuse a child -> parent mapping with a cycle (``HierarchyCycle``)."""
    done: set[AccountId] = set()
    for start in parents:
        path: list[AccountId] = []
        on_path: set[AccountId] = set()
        node: AccountId | None = start
        while node is not None and node not in done:
            if node in on_path:
                raise HierarchyCycle(
                    f"the parents mapping has a cycle through {quoted(node)}", account_id=node
                )
            path.append(node)
            on_path.add(node)
            node = parents.get(node)
        done.update(path)


def parent_map(
    value: object, *, error: type[InvalidInput] = InvalidInput
) -> Mapping[AccountId, AccountId]:
    """A validated, read-only, acyclic child -> parent mapping."""
    if not isinstance(value, Mapping):
        raise error("parents must be a mapping child -> parent", field="parents")
    out: dict[AccountId, AccountId] = {}
    for child, parent in value.items():
        c = account(child, field="child")
        p = account(parent, field="parent")
        if c == p:
            raise HierarchyCycle(f"account {quoted(c)} cannot be its own parent", account_id=c)
        out[c] = p
    acyclic(out)
    return MappingProxyType(out)
