"""Ledger operations as values: what the caller asks for, with key, time and reference.

Every request carries an idempotency ``key`` (the caller's; one namespace per ledger), the
caller's timestamp ``at`` and a free-text ``reference``. Replaying a key returns the first
receipt and moves nothing; the same key with different parameters is an
``IdempotencyConflict``. ``at`` is not a parameter: a retry made later is still a retry.

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import Distribute
>>> t = datetime(2026, 1, 1, tzinfo=UTC)
>>> a = Distribute(sub_id="agency1", amount=Money("10.00", "EUR"), key="d1", at=t)
>>> b = Distribute(sub_id="agency1", amount=Money("10.0", "EUR"), key="d1", at=t.replace(hour=5))
>>> a.fingerprint() == b.fingerprint()
True
>>> a.fingerprint()
"distribute|sub_id='agency1'|amount=10 EUR"
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import ClassVar, Final

import attrs

from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, quoted
from subacct.money import Money, canonical_text
from subacct.pricing.ledger import _validate as v
from subacct.pricing.ledger.records import DEFAULT_PRIORITY, GrantKind, OperationKind, priority
from subacct.pricing.ledger.wallets import Allocation

__all__ = [
    "Commit",
    "Distribute",
    "Expire",
    "ExpireGrant",
    "GrantCredit",
    "LedgerRequest",
    "Reclaim",
    "Refund",
    "Release",
    "Reserve",
    "ResetPeriod",
    "SetAllocation",
    "Spend",
    "TopUp",
    "require_this_month",
    "sending_account",
]

_COMMON: Final = frozenset({"key", "at", "reference"})


def _canon(value: object) -> str:
    """A stable text form: equal parameters give equal text (``10.0`` and ``10.00`` too)."""
    if isinstance(value, Money):
        return f"{canonical_text(value.amount)} {value.currency}"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    cls = type(value)
    if attrs.has(cls):
        inner = ",".join(_canon(getattr(value, f.name)) for f in attrs.fields(cls))
        return f"{cls.__name__}({inner})"
    return repr(value)


@attrs.frozen(kw_only=True)
class _Request:
    operation: ClassVar[OperationKind]

    key: str = attrs.field(converter=v.key)
    at: datetime = attrs.field(converter=v.timestamp)
    reference: str = attrs.field(default="", converter=v.reference)

    def fingerprint(self) -> str:
        """The request's parameters as stable text (``at`` left out); idempotency compares
        it with the fingerprint stored for the key."""
        parts = [self.operation.value]
        for f in attrs.fields(type(self)):
            if f.name not in _COMMON:
                parts.append(f"{f.name}={_canon(getattr(self, f.name))}")
        if self.reference:
            parts.append(f"reference={quoted(self.reference)}")
        return "|".join(parts)


@attrs.frozen(kw_only=True)
class TopUp(_Request):
    """Buy credit: ``external:<account>`` -> ``wallet:<account>``. The account must have its
    own payment method (a master, or a sub with its own payment details)."""

    operation: ClassVar[OperationKind] = OperationKind.TOP_UP
    account_id: AccountId = attrs.field(converter=v.account_id)
    amount: Money = attrs.field(converter=v.positive_money)


@attrs.frozen(kw_only=True)
class Distribute(_Request):
    """Hand credit from the master's wallet to a sub's wallet (never from overdraft)."""

    operation: ClassVar[OperationKind] = OperationKind.DISTRIBUTE
    sub_id: AccountId = attrs.field(converter=v.account_id)
    amount: Money = attrs.field(converter=v.positive_money)


@attrs.frozen(kw_only=True)
class Reclaim(_Request):
    """Take unused credit from a sub back to its master; ``amount=None`` takes all of it."""

    operation: ClassVar[OperationKind] = OperationKind.RECLAIM
    sub_id: AccountId = attrs.field(converter=v.account_id)
    amount: Money | None = attrs.field(default=None, converter=v.optional_positive_money)


@attrs.frozen(kw_only=True)
class Spend(_Request):
    """Consume credit for usage in one step (no reservation); may use the overdraft."""

    operation: ClassVar[OperationKind] = OperationKind.SPEND
    account_id: AccountId = attrs.field(converter=v.account_id)
    amount: Money = attrs.field(converter=v.positive_money)


@attrs.frozen(kw_only=True)
class Refund(_Request):
    """Give spent credit back to the wallet that paid for it (at most what was spent)."""

    operation: ClassVar[OperationKind] = OperationKind.REFUND
    account_id: AccountId = attrs.field(converter=v.account_id)
    amount: Money = attrs.field(converter=v.positive_money)


@attrs.frozen(kw_only=True)
class Reserve(_Request):
    """Hold credit for queued sends until ``expires_at`` (phase one of a send)."""

    operation: ClassVar[OperationKind] = OperationKind.RESERVE
    reservation_id: str = attrs.field(converter=v.reservation_id)
    account_id: AccountId = attrs.field(converter=v.account_id)
    amount: Money = attrs.field(converter=v.positive_money)
    expires_at: datetime = attrs.field(converter=v.expiry)

    def __attrs_post_init__(self) -> None:
        if self.expires_at <= self.at:
            raise InvalidInput("a reservation must expire after it is made", field="expires_at")


@attrs.frozen(kw_only=True)
class Commit(_Request):
    """Spend the actual ``amount`` of a reservation and release the rest (phase two).

    An amount above the hold draws the difference from the funding wallet; zero spends
    nothing and releases everything.
    """

    operation: ClassVar[OperationKind] = OperationKind.COMMIT
    reservation_id: str = attrs.field(converter=v.reservation_id)
    amount: Money = attrs.field(converter=v.non_negative_money)


@attrs.frozen(kw_only=True)
class Release(_Request):
    """Give a reservation's whole hold back to the funding wallet (the send was dropped)."""

    operation: ClassVar[OperationKind] = OperationKind.RELEASE
    reservation_id: str = attrs.field(converter=v.reservation_id)


@attrs.frozen(kw_only=True)
class Expire(_Request):
    """Release every open reservation whose ``expires_at`` is at or before ``at``."""

    operation: ClassVar[OperationKind] = OperationKind.EXPIRE


@attrs.frozen(kw_only=True)
class SetAllocation(_Request):
    """Give a sub an allocation policy (or none) and settle its wallet accordingly.

    Recurring and non-recurring set the sub's wallet to the amount; unused credit goes back
    to the master or expires (``on_reset``). Unlimited returns the sub's unused credit to
    the master; ``None`` (manual distributions) moves nothing.
    """

    operation: ClassVar[OperationKind] = OperationKind.SET_ALLOCATION
    sub_id: AccountId = attrs.field(converter=v.account_id)
    allocation: Allocation | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(Allocation))
    )


@attrs.frozen(kw_only=True)
class ResetPeriod(_Request):
    """Start a new period for a recurring sub: its wallet goes back to the amount."""

    operation: ClassVar[OperationKind] = OperationKind.RESET_PERIOD
    sub_id: AccountId = attrs.field(converter=v.account_id)


def _optional_grant_expiry(value: object) -> datetime | None:
    return None if value is None else v.expiry(value)


@attrs.frozen(kw_only=True)
class GrantCredit(_Request):
    """Grant ``amount`` of credit to ``account_id``'s wallet as one grant, spent in the
    order of ``subacct.pricing.ledger.grants`` (lower ``priority`` first, then the
    soonest ``expires_at``; ``None``: it never expires). ``promotional`` credit is the
    platform's (``promotions:<account>`` -> ``wallet:<account>``); ``paid`` credit is
    bought, as a top-up with a priority and an expiry (``external:<account>`` ->
    ``wallet:<account>``, and the account needs its own payment method). The grant's id
    is ``key``."""

    operation: ClassVar[OperationKind] = OperationKind.GRANT
    account_id: AccountId = attrs.field(converter=v.account_id)
    amount: Money = attrs.field(converter=v.positive_money)
    kind: GrantKind = attrs.field(
        default=GrantKind.PROMOTIONAL, validator=attrs.validators.instance_of(GrantKind)
    )
    priority: int = attrs.field(default=DEFAULT_PRIORITY, converter=priority)
    expires_at: datetime | None = attrs.field(default=None, converter=_optional_grant_expiry)

    def __attrs_post_init__(self) -> None:
        if self.expires_at is not None and self.expires_at <= self.at:
            raise InvalidInput("a grant must expire after it is made", field="expires_at")


@attrs.frozen(kw_only=True)
class ExpireGrant(_Request):
    """Move ``amount`` (what remains of grant ``(origin_id, grant_id)`` in
    ``account_id``'s wallet, past its expiry) to ``expired:<account>``. The application
    makes these (``app.credits.expire_grants``, and before a draw from a wallet holding
    an expired grant); the grant's book says the amount."""

    operation: ClassVar[OperationKind] = OperationKind.EXPIRE_GRANT
    account_id: AccountId = attrs.field(converter=v.account_id)
    origin_id: AccountId = attrs.field(converter=v.account_id)
    grant_id: str = attrs.field(converter=v.key)
    amount: Money = attrs.field(converter=v.positive_money)


LedgerRequest = (
    TopUp
    | Distribute
    | Reclaim
    | Spend
    | Refund
    | Reserve
    | Commit
    | Release
    | Expire
    | SetAllocation
    | ResetPeriod
    | GrantCredit
    | ExpireGrant
)
"""Any ledger operation ``plan`` accepts."""


def sending_account(request: LedgerRequest) -> AccountId | None:
    """The account a new ``request`` pays a send for (``Spend``, ``Reserve``): it must be
    able to send (active, under active ancestors), as for usage and quota reservations.
    ``None`` for the rest: buying, moving and refunding credit, and settling or releasing
    a hold made earlier, go on while an account is held.

    >>> from decimal import Decimal
    >>> from subacct.money import Money
    >>> from datetime import datetime, UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> sending_account(Spend(account_id="agency1", amount=Money(1, "EUR"), key="s", at=t))
    'agency1'
    >>> sending_account(TopUp(account_id="agency1", amount=Money(1, "EUR"), key="t", at=t))
    """
    if isinstance(request, Spend | Reserve):
        return request.account_id
    return None


def require_this_month(request: LedgerRequest, now: datetime) -> LedgerRequest:
    """``request`` if it is dated in the month of ``now``: what a user's (or a key's)
    request must be, so that nobody but trusted host code writes into a month whose
    statements are closed, or ahead of time (``InvalidInput`` naming ``request``)."""
    at, today = request.at, now.astimezone(UTC)
    if (at.year, at.month) != (today.year, today.month):
        raise InvalidInput(
            f"request is dated {at.isoformat()}, outside this month ({today:%Y-%m}); only "
            "the system dates ledger requests in other months",
            field="request",
        )
    return request
