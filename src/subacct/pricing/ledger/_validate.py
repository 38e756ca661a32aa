"""Converters shared by the ledger's values (attrs ``converter=`` callables)."""

from __future__ import annotations

from datetime import UTC, datetime

from subacct.domain._validate import utc_timestamp
from subacct.domain.ids import AccountId, check_id
from subacct.errors import InvalidInput, quoted
from subacct.money import Money

MAX_ID = 128  # as subacct.domain.ids.check_id
MAX_KEY = 200
MAX_REFERENCE = 500


def identifier(value: object, field: str) -> str:
    """``check_id`` with a fast path for the common, valid case (the ledger's hot path):
    printable text has no whitespace but the plain space, so this accepts the same ids."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID
        and value.isprintable()
        and " " not in value
    ):
        return value
    return check_id(value, field=field)


def account_id(value: object) -> AccountId:
    return AccountId(identifier(value, "account_id"))


def optional_account_id(value: object) -> AccountId | None:
    return None if value is None else AccountId(identifier(value, "master_id"))


def key(value: object) -> str:
    """An idempotency key: non-empty printable text without spaces, at most 200 characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_KEY:
        raise InvalidInput(
            f"idempotency key must be 1 to {MAX_KEY} characters, got {quoted(value)}", field="key"
        )
    # printable excludes every whitespace character except the plain space
    if not value.isprintable() or " " in value:
        raise InvalidInput(f"idempotency key {quoted(value)} must not contain spaces", field="key")
    return value


def reservation_id(value: object) -> str:
    return identifier(value, "reservation_id")


def reference(value: object) -> str:
    """The caller's free-text reference (message batch, invoice number...); may be empty."""
    if not isinstance(value, str) or len(value) > MAX_REFERENCE:
        raise InvalidInput(
            f"reference must be text of at most {MAX_REFERENCE} characters", field="reference"
        )
    return value


def timestamp(value: object) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is UTC:
        return value
    return utc_timestamp(value, field="at")


def expiry(value: object) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is UTC:
        return value
    return utc_timestamp(value, field="expires_at")


def positive_money(value: object) -> Money:
    """A ``Money`` strictly above zero (a movement of nothing is not a movement)."""
    if not isinstance(value, Money):
        raise InvalidInput(f"amount must be Money, not {type(value).__name__}", field="amount")
    if value.amount <= 0:
        raise InvalidInput(f"amount must be positive, got {value}", field="amount")
    return value


def optional_positive_money(value: object) -> Money | None:
    return None if value is None else positive_money(value)


def non_negative_money(value: object) -> Money:
    if not isinstance(value, Money):
        raise InvalidInput(f"amount must be Money, not {type(value).__name__}", field="amount")
    if value.amount < 0:
        raise InvalidInput(f"amount must not be negative, got {value}", field="amount")
    return value


def optional_non_negative_money(value: object) -> Money | None:
    return None if value is None else non_negative_money(value)
