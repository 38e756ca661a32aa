"""Argument checks at the boundary of every public method (private).

Each turns a caller's value into the type the core expects or raises ``InvalidInput``
naming the field, quoting at most a short prefix of the value (``subacct.errors.quoted``):
no ``TypeError``, ``AttributeError`` or driver error reaches the caller.
"""

from __future__ import annotations

import enum
import functools
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from subacct.domain._validate import clean_name, utc_timestamp
from subacct.domain.ids import check_id
from subacct.errors import InvalidInput, quoted
from subacct.money import Money
from subacct.policy.actions import Action, check_action
from subacct.policy.api_keys import ApiKey
from subacct.policy.impersonation import ImpersonationSession
from subacct.policy.system import System
from subacct.pricing import _checks
from subacct.pricing.channels import Dimensions
from subacct.pricing.channels import dimensions as _dimensions
from subacct.pricing.ledger import LedgerAccount
from subacct.pricing.period import BillingPeriod
from subacct.principals import Actor

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

MAX_ITEMS = 10_000


@functools.lru_cache(maxsize=1 << 16)
def _valid_id(value: str, field: str) -> str:
    """``check_id`` of a string, remembered (ids repeat on every call; a refused one
    raises each time, as exceptions are not remembered)."""
    return check_id(value, field=field)


@functools.lru_cache(maxsize=1 << 12)
def _valid_action(value: str) -> Action:
    return check_action(value)


def action(value: object) -> Action:
    """An action name (``check_action``; a string already seen is not checked again)."""
    return _valid_action(value) if type(value) is str else check_action(value)


def _id(value: object, field: str) -> str:
    return _valid_id(value, field) if type(value) is str else check_id(value, field=field)


def actor(value: object) -> Actor:
    """``by=``: a user id, an ``ApiKey``, an ``ImpersonationSession`` or ``SYSTEM``."""
    if isinstance(value, System | ApiKey | ImpersonationSession):
        return value
    if isinstance(value, str):
        return _id(value, "by")
    raise InvalidInput(
        "by must name who acts: a user id, an ApiKey, an ImpersonationSession or "
        f"subacct.SYSTEM, not {type(value).__name__}",
        field="by",
    )


def ident(value: object, field: str) -> str:
    return _id(value, field)


def optional_ident(value: object, field: str) -> str | None:
    return None if value is None else check_id(value, field=field)


def name(value: object, field: str = "name") -> str:
    return clean_name(value, field=field)


def text(value: object, field: str) -> str:
    return _checks.text(value, field=field)


def of(value: object, cls: type[T], field: str) -> T:
    if not isinstance(value, cls):
        raise InvalidInput(
            f"{field} must be a {cls.__name__}, not {type(value).__name__}", field=field
        )
    return value


def optional_of(value: object, cls: type[T], field: str) -> T | None:
    return None if value is None else of(value, cls, field)


def choice(value: object, cls: type[E], field: str) -> E:
    """An enum member, or its value (``"paused"`` for ``AccountStatus.PAUSED``)."""
    if isinstance(value, cls):
        return value
    for member in cls:
        if isinstance(value, str) and member.value == value:
            return member
    allowed = ", ".join(str(m.value) for m in cls)
    raise InvalidInput(f"{field} must be one of {allowed}, got {quoted(value)}", field=field)


def items(value: object, field: str, cls: type[T] | None = None) -> list[T]:
    """A list of the values of an iterable (not a string, bytes or mapping), each a ``cls``."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidInput(f"{field} must be a list, not {type(value).__name__}", field=field)
    out: list[Any] = []
    for item in value:
        if len(out) >= MAX_ITEMS:
            raise InvalidInput(f"{field} has more than {MAX_ITEMS} items", field=field)
        if cls is not None and not isinstance(item, cls):
            raise InvalidInput(
                f"{field} must hold {cls.__name__} values, not {type(item).__name__}",
                field=field,
            )
        out.append(item)
    return out


def boolean(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be True or False", field=field)
    return value


def period(value: object, field: str = "period") -> BillingPeriod:
    """A ``BillingPeriod``, or its text ``"YYYY-MM"``."""
    if isinstance(value, BillingPeriod):
        return value
    if isinstance(value, str):
        try:
            return BillingPeriod.parse(value)
        except InvalidInput:
            pass
    raise InvalidInput(
        f"{field} must be a BillingPeriod or 'YYYY-MM', got {quoted(value)}", field=field
    )


def optional_period(value: object, field: str = "period") -> BillingPeriod | None:
    return None if value is None else period(value, field)


def quantity(value: object, field: str = "quantity") -> int:
    return _checks.quantity(value, field=field)


def timestamp(value: object, field: str) -> datetime:
    return utc_timestamp(value, field=field)


def optional_timestamp(value: object, field: str) -> datetime | None:
    return None if value is None else utc_timestamp(value, field=field)


def content(value: object, field: str = "content") -> bytes:
    if not isinstance(value, bytes):
        raise InvalidInput(f"{field} must be bytes, not {type(value).__name__}", field=field)
    return value


def optional_content(value: object, field: str = "content") -> bytes | None:
    return None if value is None else content(value, field)


def metadata(value: object, field: str = "metadata") -> Mapping[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a mapping of str to str", field=field)
    return value


def currency(value: object, field: str = "currency") -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a 3-letter ISO 4217 code", field=field)
    return Money.zero(value).currency


def ledger_currency(given: object, fallback: str | None) -> str:
    """The currency of a ledger call: ``given`` (checked), else the settings' ``fallback``,
    else ``InvalidInput`` asking for one."""
    if given is not None:
        return currency(given)
    if fallback is None:
        raise InvalidInput(
            "name the ledger's currency (currency=...), or give the settings a currency",
            field="currency",
        )
    return fallback


def ledger_account(value: object, field: str = "account") -> LedgerAccount:
    """A ``LedgerAccount`` or its text (``"wallet:agency1"``)."""
    if isinstance(value, LedgerAccount):
        return value
    if isinstance(value, str):
        try:
            return LedgerAccount.parse(value)
        except InvalidInput as err:  # name the caller's argument, not the parser's field
            raise InvalidInput(f"{field}: {err.message}", field=field) from None
    raise InvalidInput(
        f"{field} must be a LedgerAccount or text like 'wallet:agency1'", field=field
    )


def dimensions(value: object) -> Dimensions:
    """A send's dimensions (``subacct.pricing.channels.dimensions``), field
    ``dimensions``."""
    try:
        return _dimensions(value)
    except InvalidInput as bad:
        raise InvalidInput(str(bad), field="dimensions") from bad


_TOKEN_BODY = re.compile(r"[A-Za-z0-9_-]{16,200}")


def new_token(prefix: str) -> str:
    """A fresh single-use token: ``prefix`` then 43 URL-safe characters (256 random bits);
    only its digest is stored, the caller is shown it once."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def token(value: object, prefix: str, what: str) -> str:
    """A token as ``new_token(prefix)`` makes them, or ``InvalidInput`` naming ``token``
    (the value is never echoed: it may be someone's live token)."""
    if (
        not isinstance(value, str)
        or not value.startswith(prefix)
        or not _TOKEN_BODY.fullmatch(value[len(prefix) :])
    ):
        raise InvalidInput(
            f"{what} is {prefix!r} followed by 16 to 200 URL-safe characters", field="token"
        )
    return value
