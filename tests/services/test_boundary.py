"""The boundary validates: every public method of every sub-API, called with hostile
values (None, wrong types, 1 MB strings, NUL, SQL, zero-width and right-to-left
characters, NaN, Infinity, 1e30...) in any one argument on SQLite, either succeeds or
raises a ``SubacctError``; a refusal leaves the database dump unchanged (a policy denial
adds its one audit record and nothing else); no message quotes more than 100
characters of an argument, and none shows a secret."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subacct import (
    SYSTEM,
    ActionDenied,
    BillingPeriod,
    Ceiling,
    FixedClock,
    Grant,
    Money,
    Quota,
    ResourceKind,
    Role,
    SequentialIds,
    Settings,
    ShareMode,
    SharePermission,
    SqliteStore,
    Subacct,
    SubacctError,
    TopUp,
    UsageRecord,
    Wallet,
)
from subacct.errors import MAX_QUOTED, InvalidInput
from subacct.policy import SEND_MESSAGES, VIEW_BILLING, ApiKeyKind
from subacct.pricing import AutoTopUp, PaymentTerms
from subacct.pricing.holds import Hold
from subacct.pricing.reports import Grouping, UsageRow

from .test_every_command_emits import LADDER, SUB_APIS, T0, world

JAN = BillingPeriod(2026, 1)
HUGE = "x" * 1_000_000

BAD: list[Any] = [
    None,
    0,
    -1,
    True,
    1.5,
    float("nan"),
    float("inf"),
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("1e30"),
    10**30,
    "",
    "   ",
    HUGE,
    "sam\x00",
    "'; DROP TABLE accounts; --",
    "\u200bsam",
    "s1\u202e",
    "\x1b[31mred",
    "a\ud800b",  # a lone surrogate: no database encodes it
    ["s1"],
    ("s1",),
    {"s1": 1},
    {"s1"},
    b"bytes",
    object(),
    datetime(2026, 1, 1),  # naive
    Money(1, "EUR"),
    JAN,
    SYSTEM,
    Grant(SEND_MESSAGES),
]

GOOD: dict[str, list[Any]] = {
    "by": ["owner", "sam", SYSTEM],
    "account_id": ["s1", "m"],
    "parent_id": ["m"],
    "new_parent_id": ["m"],
    "root_id": ["m"],
    "payer_id": ["m"],
    "agency_id": ["m"],
    "client_id": ["client"],
    "into_account_id": ["s1"],
    "name": ["Name"],
    "display_name": ["Name"],
    "alias": ["Alias"],
    "login": ["z@x.test"],
    "user_id": ["new", "sam"],
    "to_user_id": ["new"],
    "email": ["z@x.test"],
    "token": ["inv_" + "u" * 43],
    "invitation_id": ["inv9"],
    "role": ["basic_user"],
    "as_role": ["sub_admin"],
    "key_id": ["k1"],
    "session_id": ["imp"],
    "request_id": ["up"],
    "reservation_id": ["r1"],
    "resource_id": ["tpl"],
    "share_id": ["sh"],
    "new_id": [None],
    "set_by": ["m"],
    "action": [SEND_MESSAGES],
    "period": [JAN],
    "quantity": [5],
    "key": ["q9"],
    "quota": [Quota(100)],
    "price": [LADDER],
    "commitment": [None],
    "setup_fees": [None],
    "commission_rate": [None],
    "hold_fee": [None],
    "rounding": [None],
    "records": [[UsageRecord("s1", JAN, "sms", 1, "u9")]],
    "rows": [[UsageRow("s1", "2026-01", "sms", None, None, 3)]],
    "grouping": [Grouping.ACCOUNT],
    "kind": [ResourceKind.TEMPLATE],
    "content": [b"<p/>"],
    "metadata": [None],
    "mode": [ShareMode.ALL_SUBS],
    "targets": [[]],
    "permission": [SharePermission.USE],
    "grants": [[Grant(SEND_MESSAGES)]],
    "ceiling": [Ceiling("s1", "m", [SEND_MESSAGES])],
    "wallet": [Wallet("client")],
    "request": [TopUp(account_id="m", amount=Money(1, "EUR"), key="t9", at=T0)],
    "currency": [None, "EUR"],
    "account": ["wallet:s1"],
    "start": [T0],
    "end": [T0 + timedelta(days=1)],
    "allowed": [False],
    "reason": ["no"],
    "secret": ["sk_unknown"],
    "access_role": ["agency_manager"],
    "seq": [0],
    "since": [0],
    "limit": [10],
    "plan": ["2,500"],
    "to_plan": ["18,000"],
    "channel": ["sms", "email"],
    "hold": [Hold("h", "s1", "h1", "sms", 5, JAN, T0, T0 + timedelta(minutes=15))],
    "delivered": [5, 0],
    "percents": [[80, 100]],
    "threshold": [Money(5, "EUR")],
    "rule": [AutoTopUp(Money(5, "EUR"), Money(20, "EUR"))],
    "number": ["m-00001"],
    "amount": [Money(1, "USD")],
    "reference": ["ch_1"],
    "lines": [None, {0: Money(1, "USD")}],
    "payment_terms": [PaymentTerms(14)],
}
OVERRIDES: dict[str, dict[str, list[Any]]] = {
    "policy.define_role": {"role": [Role("clerk", "Clerk", [Grant(VIEW_BILLING)])]},
    "policy.create_api_key": {"kind": [ApiKeyKind.PERSONAL, ApiKeyKind.ACCOUNT]},
    "links.accept": {"token": ["lt_" + "u" * 43]},
    "links.decline": {"token": ["lt_" + "u" * 43]},
}


def methods() -> list[str]:
    app = world()
    return [
        f"{api}.{name}"
        for api in SUB_APIS
        for name, _ in inspect.getmembers(type(getattr(app, api)), inspect.isfunction)
        if not name.startswith("_")
    ]


METHODS = methods()


def parameters(qualified: str) -> list[inspect.Parameter]:
    api, name = qualified.split(".")
    cls = type(getattr(world(), api))
    return [
        p for p in inspect.signature(getattr(cls, name)).parameters.values() if p.name != "self"
    ]


def good_values(qualified: str, param: inspect.Parameter) -> list[Any]:
    values = OVERRIDES.get(qualified, {}).get(param.name) or GOOD.get(param.name)
    if values is None:
        assert param.default is not inspect.Parameter.empty, (
            f"add a good value for {qualified}({param.name}=...) to GOOD"
        )
        return [param.default]
    return values


def test_every_parameter_has_good_values() -> None:
    for qualified in METHODS:
        for param in parameters(qualified):
            good_values(qualified, param)


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Subacct]:
    path: Path = tmp_path_factory.mktemp("boundary") / "b.db"
    store = SqliteStore(path)
    app = Subacct(store, Settings(clock=FixedClock(T0), ids=SequentialIds(), currency="EUR"))
    source = world()  # build the same world through the public API, then onto SQLite
    del source
    _seed(app)
    yield app
    store.close()


def _seed(app: Subacct) -> None:
    """``world()``'s setup, on ``app``."""
    import tests.services.test_every_command_emits as emits

    original = emits.make_app
    emits.make_app = lambda *_a, **_k: app  # type: ignore[assignment]
    try:
        emits.world()
    finally:
        emits.make_app = original


_AUDIT = '"rec_audit_records"'
_DUMPS: dict[int, str] = {}


def _without_audit(dump: str) -> str:
    return "\n".join(line for line in dump.splitlines() if _AUDIT not in line)


def _texts(error: SubacctError) -> str:
    return f"{error.message} {error.details!r} {error.to_dict()!r} {error!r} {error}"


def _call_and_check(
    app: Subacct,
    qualified: str,
    args: list[Any],
    kwargs: dict[str, Any],
    bad: str | None = None,
) -> None:
    """Call one public method; a refusal must leave the database as it was (a policy
    denial adds its one audit record), quote little of the input and no secret. When
    ``bad`` names the one hostile argument, an ``InvalidInput`` must name that field."""
    api, name = qualified.split(".")
    call = getattr(getattr(app, api), name)
    store = app.store
    assert isinstance(store, SqliteStore)
    before = _DUMPS.setdefault(id(store), store.dump())
    writes = store._connection().total_changes  # rows written by this thread's connection
    try:
        call(*args, **kwargs)
        _DUMPS[id(store)] = store.dump()
    except SubacctError as error:
        # a refusal that wrote no row changed nothing; one that wrote (and rolled back, or
        # audited a denial) is compared with the dump taken after the last change
        after = before if store._connection().total_changes == writes else store.dump()
        _DUMPS[id(store)] = after
        if isinstance(error, ActionDenied):
            same = _without_audit(after) == _without_audit(before)
            same = same and after.count(_AUDIT) <= before.count(_AUDIT) + 1
        else:
            same = after == before
        if not same:
            pytest.fail(f"{qualified} was refused ({error.code}) but changed the database")
        if bad is not None and isinstance(error, InvalidInput):
            field = error.details.get("field")
            if field != bad:
                pytest.fail(f"{qualified}: a bad {bad} was refused naming the field {field!r}")
        text = _texts(error)
        for value in [*args, *kwargs.values()]:
            if isinstance(value, str) and len(value) > MAX_QUOTED and value[:101] in text:
                pytest.fail(f"{qualified}: the error quotes more than 100 characters of input")
        if name == "authenticate_api_key":
            secret = kwargs.get("secret", args[0] if args else None)
            if isinstance(secret, str) and len(secret) > 3 and secret in text:
                pytest.fail("a secret came back in an error")
    except Exception as crash:  # pragma: no cover - the point of the test
        pytest.fail(f"{qualified}({args!r:.200}, {kwargs!r:.200}) raised {crash!r:.300}")


def _arguments(
    qualified: str, params: list[inspect.Parameter], bad_at: int, pick: Any
) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for i, param in enumerate(params):
        pool = BAD if i == bad_at else good_values(qualified, param)
        value = pool[pick(param.name, len(pool))]
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[param.name] = value
        else:
            args.append(value)
    return args, kwargs


def _is_good(value: Any, good: list[Any]) -> bool:
    return any(type(value) is type(g) and value == g for g in good)


def test_every_argument_of_every_method_refuses_hostile_values(sqlite_world: Subacct) -> None:
    """Each argument of each public method in turn gets two hostile values (the pool is
    walked round-robin, so every one is used), the others good ones."""
    turn = 0
    for qualified in METHODS:
        params = parameters(qualified)
        for bad_at in range(len(params)):
            for _ in range(2):
                chosen = turn % len(BAD)
                turn += 1
                args, kwargs = _arguments(
                    qualified,
                    params,
                    bad_at,
                    lambda name, size, i=bad_at, c=chosen, p=params: c if name == p[i].name else 0,
                )
                # BAD holds a few values that are good for some parameters (JAN for a
                # period): such a call is no hostile one and may fail for other reasons.
                good = _is_good(BAD[chosen], good_values(qualified, params[bad_at]))
                bad = None if good else params[bad_at].name
                _call_and_check(sqlite_world, qualified, args, kwargs, bad)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
@given(data=st.data())
@pytest.mark.slow
def test_hostile_arguments_are_refused_cleanly_and_change_nothing(
    sqlite_world: Subacct, data: st.DataObject
) -> None:
    """Any method, any one argument hostile (or none), any good values for the others."""
    qualified = METHODS[data.draw(st.integers(0, len(METHODS) - 1), label="method (index)")]
    params = parameters(qualified)
    bad_at = data.draw(st.integers(-1, len(params) - 1), label="hostile argument")
    args, kwargs = _arguments(
        qualified,
        params,
        bad_at,
        lambda name, size: data.draw(st.integers(0, size - 1), label=f"{name} (index)"),
    )
    _call_and_check(sqlite_world, qualified, args, kwargs)
