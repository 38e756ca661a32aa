"""The one cattrs converter that knows subacct's wire shapes.

Every public value object unstructures to plain JSON types (str, int, bool, None, list,
dict) and carries ``"schema": SCHEMA_VERSION``; ``structure`` refuses data of an unknown
schema version. Money and ``Decimal`` travel as strings (exact), datetimes as ISO 8601 in
UTC, enums by value.

>>> from datetime import datetime, UTC
>>> from subacct.serialization import converter
>>> from subacct.domain import Account, new_master
>>> acc = new_master("agencydemo", "Agency Demo", datetime(2026, 1, 1, tzinfo=UTC))
>>> data = converter.unstructure(acc)
>>> data["schema"], data["kind"], data["created_at"]
(1, 'master', '2026-01-01T00:00:00+00:00')
>>> converter.structure(data, Account) == acc
True
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from subacct.errors import SchemaError, quoted
from subacct.money import Money, to_decimal
from subacct.pricing.channels import Channel, Dimensions

__all__ = ["SCHEMA_VERSION", "converter", "make_converter", "structure", "unstructure"]

SCHEMA_VERSION: Final = 1
_SCHEMA_KEY: Final = "schema"

T = TypeVar("T")
D = TypeVar("D", date, datetime)


def _iso(value: Any, cls: type[D]) -> D:
    """A datetime or a date (``cls``) from its ISO 8601 text."""
    if type(value) is cls:
        return value
    if not isinstance(value, str):
        raise SchemaError(f"expected an ISO 8601 string, got {quoted(value)}")
    try:
        return cls.fromisoformat(value)
    except ValueError:
        raise SchemaError(f"{quoted(value)} is not an ISO 8601 {cls.__name__}") from None


def _structure_datetime(value: Any, _: type) -> datetime:
    return _iso(value, datetime)


def _structure_date(value: Any, _: type) -> date:
    return _iso(value, date)


def _structure_decimal(value: Any, _: type) -> Decimal:
    return to_decimal(value, field="decimal")


def make_converter() -> cattrs.Converter:
    """A fresh converter configured like ``subacct.serialization.converter``."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(date, lambda d: d.isoformat())  # an invoice's due date
    conv.register_structure_hook(date, _structure_date)
    conv.register_unstructure_hook(
        Money, lambda m: {"amount": str(m.amount), "currency": m.currency}
    )
    conv.register_structure_hook(Money, _structure_money)
    # channels travel as their names, dimensions as a JSON object (keys sorted)
    conv.register_unstructure_hook(Channel, lambda c: c.value)
    conv.register_structure_hook(Channel, _structure_channel)
    conv.register_unstructure_hook(Dimensions, lambda d: dict(d.items()))
    conv.register_structure_hook(Dimensions, _structure_dimensions)
    # sets travel as sorted lists: plain JSON, and the same text for the same set
    conv.register_unstructure_hook_func(
        lambda t: t in (frozenset, set) or getattr(t, "__origin__", None) in (frozenset, set),
        lambda value: sorted(conv.unstructure(v) for v in value),
    )

    def unstructure_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
        inner: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, conv)

        def hook(obj: Any) -> dict[str, Any]:
            return {_SCHEMA_KEY: SCHEMA_VERSION, **inner(obj)}

        return hook

    def structure_factory(cls: type) -> Callable[[Any, type], Any]:
        inner: Callable[[Any, type], Any] = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=True
        )

        def hook(data: Any, target: type) -> Any:
            if not isinstance(data, dict):
                raise SchemaError(f"{cls.__name__} data must be a dict, got {type(data).__name__}")
            version = data.get(_SCHEMA_KEY)
            if version != SCHEMA_VERSION:
                raise SchemaError(
                    f"{cls.__name__} data has schema {quoted(version)}; this library reads "
                    f"schema {SCHEMA_VERSION}",
                    schema=version,
                )
            body = {k: v for k, v in data.items() if k != _SCHEMA_KEY}
            return inner(body, target)

        return hook

    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    conv.register_structure_hook_factory(attrs.has, structure_factory)
    _configure_unions(conv)
    return conv


_MODEL_TAGS: Final = {
    "PlanLadder": "ladder",
    "TieredPrice": "tiered",
    "PackagePrice": "package",
    "PriceList": "charges",
}


def _configure_unions(conv: cattrs.Converter) -> None:
    """Unions stored in records carry a tag naming their member (``"model": "ladder"``)."""
    from cattrs.strategies import configure_tagged_union

    from subacct.pricing.charges import ChargeModel
    from subacct.pricing.profiles import PriceSpec

    for union in (ChargeModel, PriceSpec):
        configure_tagged_union(
            union,
            conv,
            tag_generator=lambda cls: _MODEL_TAGS[cls.__name__],
            tag_name="model",
        )

    optional: Any = ChargeModel | None  # a hold's quoted model, tagged like the others

    def structure_optional(value: Any, _: type) -> Any:
        return None if value is None else conv.structure(value, cast(Any, ChargeModel))

    def unstructure_optional(value: Any) -> Any:
        return None if value is None else conv.unstructure(value, unstructure_as=ChargeModel)

    conv.register_structure_hook(optional, structure_optional)
    conv.register_unstructure_hook(optional, unstructure_optional)


def _structure_channel(value: Any, _: type) -> Channel:
    if not isinstance(value, str):
        raise SchemaError(f"a channel is a name, got {quoted(value)}")
    return Channel(value)


def _structure_dimensions(value: Any, _: type) -> Dimensions:
    if not isinstance(value, dict):
        raise SchemaError(f"dimensions must be an object of names to text, got {quoted(value)}")
    return Dimensions(value)


def _structure_money(value: Any, _: type) -> Money:
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        raise SchemaError(f"Money must be {{'amount': str, 'currency': str}}, got {quoted(value)}")
    return Money(to_decimal(value["amount"]), value["currency"])


converter: Final = make_converter()


def unstructure(obj: Any) -> Any:
    """``converter.unstructure``: a domain object as plain JSON-able data."""
    return converter.unstructure(obj)


def structure(data: Any, cls: type[T]) -> T:
    """``converter.structure``: plain data back into ``cls``; errors are ``SchemaError``."""
    try:
        return converter.structure(data, cls)
    except SchemaError:
        raise
    except Exception as exc:  # cattrs wraps failures in exception groups
        raise SchemaError(f"cannot read {getattr(cls, '__name__', cls)}: {exc}") from exc
