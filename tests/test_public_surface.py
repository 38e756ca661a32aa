"""The public surface: a small top-level namespace, every type a public method takes or
returns importable from a documented module, every error from ``subacct.errors``, and a
``help(subacct.Subacct)`` a person can read."""

from __future__ import annotations

import importlib
import inspect
import pydoc
import types
import typing
from typing import Any

import subacct
from subacct import errors

#: The modules docs/api.md lists: where "importable from a documented module" looks.
DOCUMENTED = [
    "subacct",
    "subacct.domain",
    "subacct.domain.events",
    "subacct.domain.lifecycle",
    "subacct.domain.resolution",
    "subacct.domain.resources",
    "subacct.errors",
    "subacct.money",
    "subacct.policy",
    "subacct.pricing",
    "subacct.pricing.ledger",
    "subacct.pricing.profiles",
    "subacct.pricing.reports",
    "subacct.pricing.usage_reports",
    "subacct.principals",
    "subacct.services",
    "subacct.settings",
    "subacct.storage",
    "subacct.storage.ports",
]
SUB_APIS = ("accounts", "members", "invitations", "policy", "billing", "plans", "sharing",
            "credits",
            "reports", "events", "audit", "thresholds")  # fmt: skip


def exported() -> set[Any]:
    out: set[Any] = set()
    for name in DOCUMENTED:
        module = importlib.import_module(name)
        out |= {v for n in module.__all__ if isinstance(v := getattr(module, n), type)}
    return out


def test_the_top_level_namespace_is_small_and_importable() -> None:
    assert len(subacct.__all__) <= 70
    assert len(set(subacct.__all__)) == len(subacct.__all__)
    for name in subacct.__all__:
        assert hasattr(subacct, name), name


def test_every_documented_module_lists_what_it_exports() -> None:
    for name in DOCUMENTED:
        module = importlib.import_module(name)
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, (name, missing)
        assert (module.__doc__ or "").strip(), f"{name} has no module docstring"


def _classes(hint: Any) -> set[type]:
    """Every class named in a type hint (through unions, generics and aliases)."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return set()
    args = typing.get_args(hint)
    found: set[type] = set()
    if isinstance(origin, type) and origin is not types.UnionType:
        found.add(origin)
    for arg in args:
        found |= _classes(arg)
    if origin is None and isinstance(hint, type):
        found.add(hint)
    newtype = getattr(hint, "__supertype__", None)
    if newtype is not None:
        found |= _classes(newtype)
    return found


def test_every_type_a_public_method_uses_is_importable_from_a_documented_module() -> None:
    app = subacct.Subacct(subacct.MemoryStore())
    known = exported()
    builtin_modules = {"builtins", "datetime", "decimal", "collections.abc", "typing"}
    missing: set[str] = set()
    for api in SUB_APIS:
        cls = type(getattr(app, api))
        assert cls in known, f"{cls.__name__} is not exported by subacct.services"
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            hints = typing.get_type_hints(fn)
            for hint in hints.values():
                for used in _classes(hint):
                    if used.__module__ in builtin_modules or used in known:
                        continue
                    missing.add(f"{api}.{name}: {used.__module__}.{used.__qualname__}")
    assert not missing, sorted(missing)


def test_every_error_is_importable_from_subacct_errors() -> None:
    for code, cls in errors.error_codes().items():
        assert getattr(errors, cls.__name__) is cls, code
        assert cls.__name__ in errors.__all__, cls.__name__
        assert (cls.__doc__ or "").strip() or cls.__name__.endswith("NotFound"), cls.__name__


def test_help_on_subacct_is_short_and_readable() -> None:
    text = pydoc.render_doc(subacct.Subacct, renderer=pydoc.plaintext)
    assert len(text) < 5000, len(text)
    assert max(len(line) for line in text.splitlines()) < 120
    for api in SUB_APIS:
        assert api in text
        part = type(getattr(subacct.Subacct(subacct.MemoryStore()), api))
        page = pydoc.render_doc(part, renderer=pydoc.plaintext)
        assert len(page) < 40_000, api  # no multi-thousand-character signatures
        assert max(len(line) for line in page.splitlines()) < 300, api


def test_every_public_method_has_a_docstring_and_takes_by() -> None:
    app = subacct.Subacct(subacct.MemoryStore())
    for api in SUB_APIS:
        for name, fn in inspect.getmembers(type(getattr(app, api)), inspect.isfunction):
            if name.startswith("_"):
                continue
            assert (inspect.getdoc(fn) or "").strip(), f"{api}.{name}"
            by = inspect.signature(fn).parameters.get("by")
            assert by is not None, f"{api}.{name}"
            assert by.kind is inspect.Parameter.KEYWORD_ONLY, f"{api}.{name}"
            assert by.default is inspect.Parameter.empty, f"{api}.{name}: by= has a default"
