"""Events about thresholds: their settings, and the crossings they report
(``subacct.pricing.thresholds``)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from subacct._validators import instance_of, optional_instance_of
from subacct.domain.events._base import BaseEvent, period, positive_money, valid_count, valid_id
from subacct.errors import InvalidInput
from subacct.money import Money

__all__ = [
    "CreditLow",
    "QuotaThresholdReached",
    "QuotaThresholdsSet",
    "TopUpRequested",
    "WalletAlertsSet",
]


def _percents(value: object) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or not all(type(v) is int and v > 0 for v in value):
        raise InvalidInput("percents must be a list of positive integers", field="percents")
    return tuple(value)


@attrs.frozen(kw_only=True)
class QuotaThresholdsSet(BaseEvent):
    """The percentages of ``account_id``'s quota limit reported when reached (empty:
    removed)."""

    event_type: ClassVar[str] = "quota_thresholds_set"
    percents: tuple[int, ...] = attrs.field(converter=_percents)


@attrs.frozen(kw_only=True)
class QuotaThresholdReached(BaseEvent):
    """``account_id``'s volume counted in ``period`` reached ``percent`` % of its quota
    ``limit`` (``used`` messages, its subtree's included): once per percentage and
    period."""

    event_type: ClassVar[str] = "quota_threshold_reached"
    period: str = attrs.field(converter=period)
    percent: int = attrs.field(validator=valid_count)
    used: int = attrs.field(validator=valid_count)
    limit: int = attrs.field(validator=valid_count)


@attrs.frozen(kw_only=True)
class WalletAlertsSet(BaseEvent):
    """The alerts of ``account_id``'s wallet in ``currency``: ``credit_low`` under
    ``low_credit``, a top-up of ``top_up_amount`` requested under ``top_up_below``
    (``None``: not set)."""

    event_type: ClassVar[str] = "wallet_alerts_set"
    currency: str = attrs.field(validator=valid_id)
    low_credit: Money | None = attrs.field(validator=optional_instance_of(Money))
    top_up_below: Money | None = attrs.field(validator=optional_instance_of(Money))
    top_up_amount: Money | None = attrs.field(validator=optional_instance_of(Money))


@attrs.frozen(kw_only=True)
class CreditLow(BaseEvent):
    """``account_id``'s wallet ``balance`` fell below its low-credit ``threshold``: once,
    until the balance is back at or above it."""

    event_type: ClassVar[str] = "credit_low"
    currency: str = attrs.field(validator=valid_id)
    balance: Money = attrs.field(validator=instance_of(Money))
    threshold: Money = attrs.field(validator=instance_of(Money))


@attrs.frozen(kw_only=True)
class TopUpRequested(BaseEvent):
    """``account_id``'s wallet ``balance`` fell below ``below``: the host's payment code
    should top it up by ``amount`` (``credits.execute(TopUp(...))``). Once, until the
    balance is back at or above ``below``."""

    event_type: ClassVar[str] = "top_up_requested"
    currency: str = attrs.field(validator=valid_id)
    amount: Money = attrs.field(validator=positive_money)
    balance: Money = attrs.field(validator=instance_of(Money))
    below: Money = attrs.field(validator=instance_of(Money))
