"""Events about billing: payer profiles, usage, quotas, invoices, subscriptions and plan
changes."""

from __future__ import annotations

from typing import ClassVar

import attrs

from subacct._validators import instance_of, optional_instance_of
from subacct.domain.events._base import (
    BaseEvent,
    optional_period,
    period,
    valid_count,
    valid_id,
    valid_key,
    valid_positive,
)

__all__ = [
    "BillingProfileRemoved",
    "BillingProfileSet",
    "PlanChangeApproved",
    "PlanChangeCancelled",
    "PlanChangeRejected",
    "PlanChangeRequested",
    "PrerequisiteRecorded",
    "QuotaReleased",
    "QuotaReserved",
    "QuotaSet",
    "SubscriptionStarted",
    "UsageRecorded",
]


@attrs.frozen(kw_only=True)
class BillingProfileSet(BaseEvent):
    """``account_id`` is a payer on a ``model`` price (``"ladder"``, ``"tiered"``,
    ``"package"``) in ``currency``; ``version`` counts the changes of its terms."""

    event_type: ClassVar[str] = "billing_profile_set"
    model: str = attrs.field(validator=valid_id)
    currency: str = attrs.field(validator=valid_id)
    version: int = attrs.field(validator=valid_positive)


@attrs.frozen(kw_only=True)
class BillingProfileRemoved(BaseEvent):
    """The sub-account is pooled into its nearest payer again."""

    event_type: ClassVar[str] = "billing_profile_removed"


@attrs.frozen(kw_only=True)
class UsageRecorded(BaseEvent):
    """``records`` new usage records of ``account_id`` for ``period``, ``quantity`` in all."""

    event_type: ClassVar[str] = "usage_recorded"
    period: str = attrs.field(converter=period)
    quantity: int = attrs.field(validator=valid_count)
    records: int = attrs.field(validator=valid_positive)


@attrs.frozen(kw_only=True)
class QuotaSet(BaseEvent):
    """The monthly quota of ``account_id``: ``limit`` messages (``None``: removed)."""

    event_type: ClassVar[str] = "quota_set"
    limit: int | None = attrs.field(validator=optional_instance_of(int))
    allow_overage: bool = attrs.field(validator=instance_of(bool))


@attrs.frozen(kw_only=True)
class QuotaReserved(BaseEvent):
    """A send of ``quantity`` under ``key`` counts against the quotas up the tree."""

    event_type: ClassVar[str] = "quota_reserved"
    period: str = attrs.field(converter=period)
    key: str = attrs.field(validator=valid_key)
    quantity: int = attrs.field(validator=valid_count)
    overage: int = attrs.field(validator=valid_count)


@attrs.frozen(kw_only=True)
class QuotaReleased(BaseEvent):
    """What the send under ``key`` reserved was given back (``settled``: its usage was
    recorded, so the usage counts instead)."""

    event_type: ClassVar[str] = "quota_released"
    period: str = attrs.field(converter=period)
    key: str = attrs.field(validator=valid_key)
    quantity: int = attrs.field(validator=valid_count)
    settled: bool = attrs.field(validator=instance_of(bool))


@attrs.frozen(kw_only=True)
class SubscriptionStarted(BaseEvent):
    event_type: ClassVar[str] = "subscription_started"
    plan: str = attrs.field(validator=instance_of(str))


@attrs.frozen(kw_only=True)
class PrerequisiteRecorded(BaseEvent):
    """``account_id`` meets ``name`` (``"spf_verified"``, ``"dkim_verified"``...)."""

    event_type: ClassVar[str] = "prerequisite_recorded"
    name: str = attrs.field(validator=instance_of(str))


@attrs.frozen(kw_only=True)
class PlanChangeRequested(BaseEvent):
    """A request to move from ``from_plan`` to ``to_plan``: an upgrade waits for review
    (``status`` ``"pending"``), a downgrade is approved for ``effective_from``."""

    event_type: ClassVar[str] = "plan_change_requested"
    request_id: str = attrs.field(validator=instance_of(str))
    kind: str = attrs.field(validator=instance_of(str))
    from_plan: str = attrs.field(validator=instance_of(str))
    to_plan: str = attrs.field(validator=instance_of(str))
    status: str = attrs.field(validator=instance_of(str))
    effective_from: str | None = attrs.field(converter=optional_period)


@attrs.frozen(kw_only=True)
class PlanChangeApproved(BaseEvent):
    """The upgrade ``request_id`` is billed from ``effective_from``; ``reviewed_by`` names
    the reviewer (``"user:<id>"``, ``"system"`` or ``"system:<operator>"``)."""

    event_type: ClassVar[str] = "plan_change_approved"
    request_id: str = attrs.field(validator=instance_of(str))
    to_plan: str = attrs.field(validator=instance_of(str))
    effective_from: str = attrs.field(converter=period)
    reviewed_by: str = attrs.field(validator=valid_id)


@attrs.frozen(kw_only=True)
class PlanChangeRejected(BaseEvent):
    event_type: ClassVar[str] = "plan_change_rejected"
    request_id: str = attrs.field(validator=instance_of(str))
    reason: str = attrs.field(validator=instance_of(str))
    reviewed_by: str = attrs.field(validator=valid_id)


@attrs.frozen(kw_only=True)
class PlanChangeCancelled(BaseEvent):
    """A pending or scheduled change was withdrawn (by request, or because the account
    closed)."""

    event_type: ClassVar[str] = "plan_change_cancelled"
    request_id: str = attrs.field(validator=instance_of(str))
    reason: str = attrs.field(validator=instance_of(str))
