"""Events about an invoice's lifecycle: drafted, finalized, paid, voided, credited, paid
against (``account_id`` is the payer)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import attrs

from subacct._validators import instance_of
from subacct.domain.events._base import BaseEvent, period, valid_count
from subacct.money import Money

__all__ = [
    "AdjustmentBilled",
    "CreditNoteIssued",
    "InvoiceDrafted",
    "InvoiceFinalized",
    "InvoicePaid",
    "InvoiceVoided",
    "PaymentRecorded",
]


@attrs.frozen(kw_only=True)
class InvoiceDrafted(BaseEvent):
    """The payer's invoice for ``period`` was priced and stored as a draft, for review."""

    event_type: ClassVar[str] = "invoice_drafted"
    period: str = attrs.field(converter=period)
    total: Money = attrs.field(validator=instance_of(Money))


@attrs.frozen(kw_only=True)
class InvoiceFinalized(BaseEvent):
    """Invoice ``number`` for ``period`` was issued: it closes the period for the payer
    and never changes; it is due on ``due_date``."""

    event_type: ClassVar[str] = "invoice_finalized"
    number: str = attrs.field(validator=instance_of(str))
    period: str = attrs.field(converter=period)
    total: Money = attrs.field(validator=instance_of(Money))
    due_date: date = attrs.field(validator=instance_of(date))


@attrs.frozen(kw_only=True)
class InvoicePaid(BaseEvent):
    """Invoice ``number``'s balance reached zero (payments and credit notes)."""

    event_type: ClassVar[str] = "invoice_paid"
    number: str = attrs.field(validator=instance_of(str))
    period: str = attrs.field(converter=period)


@attrs.frozen(kw_only=True)
class InvoiceVoided(BaseEvent):
    """Invoice ``number`` was cancelled for ``reason``; it keeps its number."""

    event_type: ClassVar[str] = "invoice_voided"
    number: str = attrs.field(validator=instance_of(str))
    period: str = attrs.field(converter=period)
    reason: str = attrs.field(validator=instance_of(str))


@attrs.frozen(kw_only=True)
class CreditNoteIssued(BaseEvent):
    """Credit note ``number`` credits ``amount`` on invoice ``invoice_number`` (``lines``
    lines; 0: the whole invoice), ``refund`` of it above what was owed."""

    event_type: ClassVar[str] = "credit_note_issued"
    number: str = attrs.field(validator=instance_of(str))
    invoice_number: str = attrs.field(validator=instance_of(str))
    amount: Money = attrs.field(validator=instance_of(Money))
    refund: Money = attrs.field(validator=instance_of(Money))
    lines: int = attrs.field(validator=valid_count)
    reason: str = attrs.field(validator=instance_of(str))


@attrs.frozen(kw_only=True)
class PaymentRecorded(BaseEvent):
    """A payment of ``amount`` (the host's ``reference``) against ``invoice_number``,
    which then owes ``balance``."""

    event_type: ClassVar[str] = "payment_recorded"
    invoice_number: str = attrs.field(validator=instance_of(str))
    reference: str = attrs.field(validator=instance_of(str))
    amount: Money = attrs.field(validator=instance_of(Money))
    balance: Money = attrs.field(validator=instance_of(Money))


@attrs.frozen(kw_only=True)
class AdjustmentBilled(BaseEvent):
    """Invoice ``invoice_number`` (of ``period``) bills ``total`` of adjustments for the
    earlier ``adjusted_period``, re-rated after something arrived for it late."""

    event_type: ClassVar[str] = "adjustment_billed"
    invoice_number: str = attrs.field(validator=instance_of(str))
    adjusted_period: str = attrs.field(converter=period)  # before ``period``, its converter
    period: str = attrs.field(converter=period)
    total: Money = attrs.field(validator=instance_of(Money))
