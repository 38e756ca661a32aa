"""Thresholds: when a quota's use or a wallet's balance crosses a line the host drew.

Three settings, each stored as a record:

* ``QuotaThresholds``: percentages of the account's own monthly quota limit (``80``,
  ``100``; whole numbers from 1 to 1000, so ``150`` is "half again over the limit" of a
  quota that allows overage). The account's counted volume of a period reaching one of
  them (from below to at-or-above) is a crossing, reached once per percentage per period
  (``QuotaThresholdsReached`` remembers which; a new month starts fresh). A release that
  drops the volume back does not re-arm a percentage within the period.
* ``WalletAlerts``: per wallet (account and currency), a low-credit ``threshold`` and an
  ``AutoTopUp`` rule. The balance falling from at-or-above a line to below it is a
  crossing, once until the balance is back at or above the line
  (``WalletAlertState`` remembers the line each alert fired under; changing a wallet's
  alerts re-arms them).

The rules are the functions here (``quota_crossings``, ``wallet_crossings``): given the
figures before and after a change, what was crossed and what to remember. The services
store what they return in the unit of work of the change itself, so a retried, re-run or
concurrent change never reports a crossing twice.

>>> from decimal import Decimal
>>> from subacct.pricing.period import BillingPeriod
>>> quota_crossings((80, 100), 1000, 790, 810, frozenset())
(80,)
>>> quota_crossings((80, 100), 1000, 790, 1000, frozenset({80}))
(100,)
>>> alerts = WalletAlerts("agency1", "EUR", low_credit=Money("10", "EUR"))
>>> fell = wallet_crossings(alerts, None, Decimal("12"), Decimal("9"))
>>> fell.credit_low, fell.top_up, fell.state.low_below
(True, False, Decimal('10'))
>>> wallet_crossings(alerts, fell.state, Decimal("9"), Decimal("5")).credit_low  # once
False
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final, NamedTuple

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import positive_version
from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, quoted
from subacct.money import Money, to_decimal
from subacct.pricing import _checks
from subacct.pricing.period import BillingPeriod

__all__ = [
    "MAX_PERCENT",
    "AutoTopUp",
    "QuotaThresholds",
    "QuotaThresholdsReached",
    "WalletAlertState",
    "WalletAlerts",
    "WalletCrossings",
    "quota_crossings",
    "quota_percents",
    "reached_after",
    "reached_at",
    "wallet_crossings",
]

MAX_PERCENT: Final = 1000
_MAX_THRESHOLDS: Final = 20


def _percent(value: object, field: str = "percents") -> int:
    if type(value) is not int or not 1 <= value <= MAX_PERCENT:
        raise InvalidInput(
            f"a quota threshold is a whole percentage from 1 to {MAX_PERCENT}, got {quoted(value)}",
            field=field,
        )
    return value


def quota_percents(value: object) -> tuple[int, ...]:
    """Quota thresholds as stored: sorted, unique whole percentages from 1 to 1000, 1 to
    20 of them (``InvalidInput`` naming ``percents`` otherwise).

    >>> quota_percents([100, 80])
    (80, 100)
    """
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput("percents must be a list of whole percentages", field="percents")
    out = tuple(sorted({_percent(v) for v in value}))
    if not 0 < len(out) <= _MAX_THRESHOLDS:
        raise InvalidInput(
            f"give 1 to {_MAX_THRESHOLDS} quota thresholds, got {len(out)}", field="percents"
        )
    return out


def _reached(value: object) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput("percents must be a list of whole percentages", field="percents")
    return tuple(sorted({_percent(v) for v in value}))


@attrs.frozen
class QuotaThresholds:
    """The percentages of ``account_id``'s own quota limit whose reaching is reported
    (``quota_threshold_reached``).

    >>> QuotaThresholds("agency1", [100, 80, 80]).percents
    (80, 100)
    """

    account_id: AccountId = attrs.field(converter=_checks.account)
    percents: tuple[int, ...] = attrs.field(converter=quota_percents)


@attrs.frozen
class QuotaThresholdsReached:
    """The percentages ``account_id`` reached in ``period`` (each reported once)."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    percents: tuple[int, ...] = attrs.field(converter=_reached)
    version: int = attrs.field(default=1, converter=positive_version)


def reached_at(percent: int, limit: int, used: int) -> bool:
    """Whether ``used`` is at or above ``percent`` % of ``limit`` (exact integers; a
    limit of 0 is reached by any volume, so it is never crossed).

    >>> reached_at(80, 1000, 799), reached_at(80, 1000, 800), reached_at(80, 7, 6)
    (False, True, True)
    """
    return used * 100 >= percent * limit


def quota_crossings(
    percents: Iterable[int], limit: int, before: int, after: int, reached: frozenset[int]
) -> tuple[int, ...]:
    """The percentages of ``limit`` the volume crossed going from ``before`` to
    ``after`` (below, then at or above), leaving out those already ``reached`` this
    period; in ascending order."""
    return tuple(
        p
        for p in sorted(percents)
        if p not in reached and not reached_at(p, limit, before) and reached_at(p, limit, after)
    )


def reached_after(
    stored: QuotaThresholdsReached | None,
    account_id: str,
    period: BillingPeriod,
    crossed: Iterable[int],
) -> QuotaThresholdsReached:
    """The record of what ``account_id`` reached in ``period`` once ``crossed`` is too
    (``stored``: the record as read; the result carries its next version).

    >>> reached_after(None, "a", BillingPeriod(2026, 1), [80]).percents
    (80,)
    """
    if stored is None:
        return QuotaThresholdsReached(account_id, period, crossed)
    return attrs.evolve(stored, percents=(*stored.percents, *crossed), version=stored.version + 1)


def _below(value: object) -> Money:
    return _checks.non_negative_money(value, field="below")


def _positive_money(value: object) -> Money:
    money = _checks.non_negative_money(value, field="amount")
    if money.is_zero():
        raise InvalidInput("a top-up amount must be positive", field="amount")
    return money


@attrs.frozen
class AutoTopUp:
    """When the wallet's balance falls below ``below``, request a top-up of ``amount``
    (``top_up_requested``; the host's payment code runs the ``TopUp``).

    >>> AutoTopUp(Money("5", "EUR"), Money("50", "EUR")).amount.amount
    Decimal('50')
    """

    below: Money = attrs.field(converter=_below)
    amount: Money = attrs.field(converter=_positive_money)

    def __attrs_post_init__(self) -> None:
        if self.amount.currency != self.below.currency:
            raise InvalidInput(
                f"the top-up amount is in {self.amount.currency}, the line in "
                f"{self.below.currency}",
                field="amount",
            )


def _optional_low(value: object) -> Money | None:
    return None if value is None else _checks.non_negative_money(value, field="low_credit")


def _optional_top_up(value: object) -> AutoTopUp | None:
    if value is not None and not isinstance(value, AutoTopUp):
        raise InvalidInput("auto_top_up must be an AutoTopUp or None", field="auto_top_up")
    return value


@attrs.frozen
class WalletAlerts:
    """The alerts of one wallet: ``credit_low`` under ``low_credit``, a top-up request
    under ``auto_top_up.below`` (either may be ``None``)."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    currency: str = attrs.field(converter=_checks.currency)
    low_credit: Money | None = attrs.field(default=None, converter=_optional_low)
    auto_top_up: AutoTopUp | None = attrs.field(default=None, converter=_optional_top_up)

    def __attrs_post_init__(self) -> None:
        for field, money in (
            ("low_credit", self.low_credit),
            ("auto_top_up", None if self.auto_top_up is None else self.auto_top_up.below),
        ):
            if money is not None and money.currency != self.currency:
                raise InvalidInput(
                    f"{field} is in {money.currency}, the wallet in {self.currency}", field=field
                )

    @property
    def is_empty(self) -> bool:
        return self.low_credit is None and self.auto_top_up is None


def _optional_amount(value: object) -> Decimal | None:
    return None if value is None else to_decimal(value, field="line")


@attrs.frozen
class WalletAlertState:
    """What a wallet's alerts last fired under: ``low_below`` (``top_up_below``) is the
    line ``credit_low`` (``top_up_requested``) was reported under while the balance stays
    below it; ``None``: armed."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    currency: str = attrs.field(converter=_checks.currency)
    low_below: Decimal | None = attrs.field(default=None, converter=_optional_amount)
    top_up_below: Decimal | None = attrs.field(default=None, converter=_optional_amount)
    version: int = attrs.field(default=1, converter=positive_version)

    def rearmed(self) -> WalletAlertState | None:
        """The state once the wallet's alerts change (both armed again, the next
        version), or ``None`` when both are armed already.

        >>> WalletAlertState("a", "EUR", low_below=Decimal(10)).rearmed().version
        2
        """
        if self.low_below is None and self.top_up_below is None:
            return None
        return attrs.evolve(self, low_below=None, top_up_below=None, version=self.version + 1)


def _fell(line: Decimal, before: Decimal, after: Decimal, fired: Decimal | None) -> bool:
    """From at-or-above ``line`` to below it, unless already reported under this line."""
    return fired != line and before >= line > after


def _fired(line: Decimal, after: Decimal, fired: Decimal | None, crossed: bool) -> Decimal | None:
    """What to remember: the line while the balance stays below it after a report under
    it; nothing (armed) once the balance is back at or above it."""
    return line if after < line and (crossed or fired == line) else None


class WalletCrossings(NamedTuple):
    """The answer of ``wallet_crossings``: which alerts fire, and the state to store
    (``changed``: it differs from the stored one)."""

    credit_low: bool
    top_up: bool
    state: WalletAlertState
    changed: bool


def wallet_crossings(
    alerts: WalletAlerts, stored: WalletAlertState | None, before: Decimal, after: Decimal
) -> WalletCrossings:
    """Which of ``alerts`` a balance change from ``before`` to ``after`` fires, and what
    the wallet's alert state becomes (``stored``: as it was; ``None``: never fired). The
    state to store carries the next version when ``changed``."""
    state = stored or WalletAlertState(alerts.account_id, alerts.currency)
    low = top_up = False
    low_below, top_below = state.low_below, state.top_up_below
    if alerts.low_credit is not None:
        line = alerts.low_credit.amount
        low = _fell(line, before, after, low_below)
        low_below = _fired(line, after, low_below, low)
    if alerts.auto_top_up is not None:
        line = alerts.auto_top_up.below.amount
        top_up = _fell(line, before, after, top_below)
        top_below = _fired(line, after, top_below, top_up)
    changed = (low_below, top_below) != (state.low_below, state.top_up_below)
    if not changed:
        return WalletCrossings(low, top_up, state, False)
    version = 1 if stored is None else stored.version + 1
    new = attrs.evolve(state, low_below=low_below, top_up_below=top_below, version=version)
    return WalletCrossings(low, top_up, new, True)
