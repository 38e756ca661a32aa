"""Events about sends (``app.sending``): a hold taken, captured, released or expired."""

from __future__ import annotations

from typing import ClassVar

import attrs

from subacct._validators import optional_instance_of
from subacct.domain.events._base import (
    BaseEvent,
    period,
    valid_count,
    valid_id,
    valid_key,
    valid_name,
    valid_optional_id,
    valid_positive,
)
from subacct.money import Money

__all__ = ["SendAuthorized", "SendCaptured", "SendReleased"]


@attrs.frozen(kw_only=True)
class SendAuthorized(BaseEvent):
    """``account_id`` may send ``quantity`` on ``channel`` under ``key``: hold
    ``hold_id`` counts it against the quotas and, for a prepaid payer, holds ``amount``
    of credit."""

    event_type: ClassVar[str] = "send_authorized"
    hold_id: str = attrs.field(validator=valid_id)
    key: str = attrs.field(validator=valid_key)
    period: str = attrs.field(converter=period)
    channel: str = attrs.field(validator=valid_name)
    quantity: int = attrs.field(validator=valid_positive)
    payer_id: str | None = attrs.field(validator=valid_optional_id)
    amount: Money | None = attrs.field(validator=optional_instance_of(Money))


@attrs.frozen(kw_only=True)
class SendCaptured(BaseEvent):
    """Hold ``hold_id`` settled: ``delivered`` messages went out (recorded as usage),
    costing ``charged`` of credit for a prepaid payer; the rest was given back."""

    event_type: ClassVar[str] = "send_captured"
    hold_id: str = attrs.field(validator=valid_id)
    key: str = attrs.field(validator=valid_key)
    delivered: int = attrs.field(validator=valid_count)
    charged: Money | None = attrs.field(validator=optional_instance_of(Money))


@attrs.frozen(kw_only=True)
class SendReleased(BaseEvent):
    """Hold ``hold_id`` gave everything back: ``expired`` when its time ran out."""

    event_type: ClassVar[str] = "send_released"
    hold_id: str = attrs.field(validator=valid_id)
    key: str = attrs.field(validator=valid_key)
    expired: bool = attrs.field(validator=attrs.validators.instance_of(bool))
