"""Send holds: what one send took while it goes out, and what its delivery costs.

A send is authorized first and settled later: ``app.sending.authorize`` holds its
quantity against the quotas up the tree and, for a prepaid payer, its price on the paying
wallet, and returns a ``Hold``; ``capture`` records the delivered quantity as usage and
spends its price, giving back the rest; ``release`` (or expiry) gives everything back.
This module is the pure part: the hold itself, its lifecycle, and the price of a send.

Prices of a prepaid send follow the payer's charge on the volume the payer's captured
sends delivered in the period for that charge (``SendVolume``): a capture of ``d``
messages after ``v`` were captured costs ``price(v + d) - price(v)``, and the period's
first costs ``price(d)``. So whatever order holds are captured, released or expired in,
what a payer spends in a period is exactly the price of the volume it was delivered (the
sum telescopes). The hold is the most the send can cost at any base it may be captured
on (``send_bound``: at or above the volume captured when it was authorized), so a
capture never needs more than its hold; each send is priced by the model quoted when it
was authorized (``Hold.model``), so a price change applies to sends authorized after it.

>>> from decimal import Decimal
>>> from subacct.pricing import Tier, TieredPrice, TierMode
>>> tiers = [Tier(1000, Decimal("0.08")), Tier(None, Decimal("0.05"))]
>>> sms = TieredPrice(TierMode.GRADUATED, tiers, "EUR")
>>> send_price(sms, 0, 600), send_price(sms, 600, 600)
(Decimal('48.00'), Decimal('42.00'))
>>> send_price(sms, 0, 600) + send_price(sms, 600, 600) == sms.amount(1200)
True
>>> send_bound(sms, 0, 600)  # falling prices: the dearest base is the lowest
Decimal('48.00')
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from subacct._validators import instance_of, optional_instance_of
from subacct.domain._validate import positive_version
from subacct.domain.ids import AccountId, UserId
from subacct.errors import (
    HoldClosed,
    IdempotencyConflict,
    InvalidQuantity,
    VolumeAboveLadder,
    quoted,
)
from subacct.money import Money, subtract
from subacct.pricing import _checks
from subacct.pricing.channels import Channel, Dimensions, dimensions
from subacct.pricing.charges import ChargeModel
from subacct.pricing.model import PriceModel
from subacct.pricing.period import BillingPeriod
from subacct.pricing.profiles import scoped_key
from subacct.pricing.tiers import PackagePrice
from subacct.pricing.usage import UsageRecord

__all__ = [
    "Hold",
    "HoldStatus",
    "SendVolume",
    "room_without_figures",
    "send_bound",
    "send_price",
]


class HoldStatus(enum.Enum):
    """Where a hold is: ``held`` until it is captured, released or expired (all final)."""

    HELD = "held"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


def send_price(model: PriceModel, base: int, quantity: int) -> Decimal:
    """The exact price of ``quantity`` units counted after ``base`` units of the period
    (``price(base + quantity) - price(base)``; on a base of 0, ``price(quantity)``;
    nothing costs nothing)."""
    if quantity == 0:
        return Decimal(0)
    top = model.amount(base + quantity)
    return top if base == 0 else subtract(top, model.amount(base))


def send_bound(model: PriceModel, base: int, quantity: int) -> Decimal:
    """The most ``quantity`` units can cost counted after any volume at or above ``base``
    (``send_price`` maximised over the bases a capture may meet: the volume captured only
    grows), for a price that never falls (``price_never_falls``, which a prepaid price
    must satisfy: then fewer units never cost more). The difference is affine between
    the points where the base or the base plus ``quantity`` crosses a piece boundary, so
    only those points are tried; a package price costs most on a base of whole packages;
    another model without pieces is bounded by its price at ``base``."""
    if isinstance(model, PackagePrice):  # ceil(a + b) <= ceil(a) + ceil(b): base 0
        return model.amount(quantity)
    pieces = model.pieces()
    if pieces is None:
        return send_price(model, base, quantity)
    top = model.max_volume
    bounds = {p.lo for p in pieces} | {p.hi + 1 for p in pieces if p.hi is not None}
    tried = {base} | {
        c
        for x in bounds
        for c in (x, x - 1, x - quantity, x - quantity - 1)
        if c >= base and (top is None or c + quantity <= top)
    }
    if top is not None and top - quantity >= base:
        tried.add(top - quantity)
    return max(send_price(model, c, quantity) for c in tried)


def _hold_id(value: object) -> str:
    return _checks.text(value, field="hold_id")


def _key(value: object) -> str:
    return _checks.text(value, field="key")


def _charge(value: object) -> str:
    return _checks.text(value, field="charge")


@attrs.frozen
class Hold:
    """One send's hold, from ``app.sending.authorize``.

    ``quantity`` messages on ``channel`` (with ``dimensions``, e.g. the destination
    country) from ``account_id`` under the send's idempotency ``key`` (the account's own),
    counted in ``period``; ``payer_id`` is the account billed for it (``None``: nobody
    is) and ``charge`` the charge of its price that bills the send. For a prepaid payer,
    ``amount`` is the credit held on the paying wallet under the ledger reservation
    ``reservation_id``: the most the send can cost by ``model`` (the charge's price model
    when it was authorized) on the volume captured then (``base``) or later; for others
    these are ``None``.
    ``overage`` is how many of the messages are past a quota that allows overage (billed
    by the true-up, seed 001). ``owner_id`` is the user who sent (``None`` for the system
    or an account's API key). Once captured, ``delivered`` and ``charged`` say what went
    out and what it cost.
    """

    id: str = attrs.field(converter=_hold_id)
    account_id: AccountId = attrs.field(converter=_checks.account)
    key: str = attrs.field(converter=_key)
    channel: Channel = attrs.field(converter=Channel)
    quantity: int = attrs.field(converter=_checks.quantity)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    created_at: datetime = attrs.field(validator=instance_of(datetime))
    expires_at: datetime = attrs.field(validator=instance_of(datetime))
    label: str | None = None
    dimensions: Dimensions = attrs.field(default=None, converter=dimensions)
    overage: int = attrs.field(default=0, converter=_checks.quantity)
    owner_id: UserId | None = None
    payer_id: AccountId | None = None
    charge: str | None = None
    base: int | None = None
    model: ChargeModel | None = None
    amount: Money | None = attrs.field(default=None, validator=optional_instance_of(Money))
    reservation_id: str | None = None
    status: HoldStatus = attrs.field(default=HoldStatus.HELD, validator=instance_of(HoldStatus))
    delivered: int | None = None
    charged: Money | None = attrs.field(default=None, validator=optional_instance_of(Money))
    ended_at: datetime | None = attrs.field(default=None, validator=optional_instance_of(datetime))
    version: int = attrs.field(default=1, converter=positive_version)

    @property
    def scoped_key(self) -> str:
        """The hold's identity: its account and key (``QuotaReservation.scoped_key``)."""
        return scoped_key(self.account_id, self.key)

    @property
    def is_open(self) -> bool:
        return self.status is HoldStatus.HELD

    def same_send(
        self, channel: Channel, quantity: int, label: str | None, dims: Dimensions
    ) -> bool:
        """Whether a send asked again under this hold's key is this one."""
        mine = (self.channel, self.quantity, self.label, self.dimensions)
        return mine == (channel, quantity, label, dims)

    def require_same_send(
        self, channel: Channel, quantity: int, label: str | None, dims: Dimensions
    ) -> None:
        """Refuse another send under this hold's key (``IdempotencyConflict``)."""
        if not self.same_send(channel, quantity, label, dims):
            raise IdempotencyConflict(
                f"key {quoted(self.key)} of account {quoted(self.account_id)} was used for "
                f"another send ({self.quantity} on {self.channel})",
                key=self.key,
                account_id=self.account_id,
            )

    def require_held(self) -> None:
        """Refuse to settle a hold already captured, released or expired (``HoldClosed``)."""
        if not self.is_open:
            raise HoldClosed(
                f"hold {quoted(self.id)} is {self.status.value}",
                hold_id=self.id,
                status=self.status.value,
            )

    def require_open(self, now: datetime) -> None:
        """``require_held``, and refuse a hold past its expiry at ``now`` (``HoldClosed``:
        the expiry sweep gives it back)."""
        self.require_held()
        if now >= self.expires_at:
            raise HoldClosed(
                f"hold {quoted(self.id)} expired at {self.expires_at.isoformat()}",
                hold_id=self.id,
                status="expired",
            )

    def usage(self, delivered: int) -> UsageRecord:
        """The usage record of ``delivered`` messages of this send."""
        return UsageRecord(
            self.account_id,
            self.period,
            self.channel,
            delivered,
            self.key,
            label=self.label,
            dimensions=self.dimensions,
            owner_id=self.owner_id,
        )

    def delivery_price(self, captured: int, delivered: int) -> Money | None:
        """What ``delivered`` of this prepaid send's messages cost after ``captured`` of
        the period's were captured (by the model quoted); ``None`` for a hold of no
        credit."""
        if self.amount is None or self.model is None:
            return None
        return Money(send_price(self.model, captured, delivered), self.amount.currency)

    def captured(self, delivered: int, charged: Money | None, now: datetime) -> Hold:
        """This hold, captured: ``delivered`` (at most ``quantity``) went out."""
        if not 0 <= delivered <= self.quantity:
            raise InvalidQuantity(
                f"delivered must be from 0 to the hold's {self.quantity}, got {delivered}",
                field="delivered",
            )
        return attrs.evolve(
            self,
            status=HoldStatus.CAPTURED,
            delivered=delivered,
            charged=charged,
            ended_at=now,
            version=self.version + 1,
        )

    def ended(self, status: HoldStatus, now: datetime) -> Hold:
        """This hold, released or expired."""
        return attrs.evolve(
            self, status=status, delivered=0, ended_at=now, version=self.version + 1
        )

    def to_dict(self) -> dict[str, Any]:
        """The hold as plain JSON-able data (for a host's API answer)."""
        from subacct.serialization import converter  # the converter may import pricing

        body: dict[str, Any] = converter.unstructure(self)
        return body


@attrs.frozen
class SendVolume:
    """The volume of ``payer_id``'s pool in ``period`` for charge ``charge`` of its price,
    the one a price with a top counts against (``require_room``):

    * ``recorded``: the messages recorded as usage for the charge (``app.billing.
      record_usage`` and captured sends alike), kept for a charge whose price has a top;
    * ``held``: the messages of the open reservations and holds counted for the charge;
    * ``counted``: the part of ``recorded`` the payer's captured prepaid sends delivered,
      the base the next prepaid capture is priced on (``send_price``).
    """

    payer_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    charge: str = attrs.field(converter=_charge)
    counted: int = attrs.field(converter=_checks.quantity)
    held: int = attrs.field(default=0, converter=_checks.quantity)
    version: int = attrs.field(default=1, converter=positive_version)
    recorded: int = attrs.field(default=0, converter=_checks.quantity)

    def moved(self, *, held: int = 0, counted: int = 0, recorded: int = 0) -> SendVolume:
        """This volume with ``held`` more messages on open reservations, ``counted`` more
        captured prepaid and ``recorded`` more recorded (each may be negative)."""
        return attrs.evolve(
            self,
            held=self.held + held,
            counted=self.counted + counted,
            recorded=self.recorded + recorded,
            version=self.version + 1,
        )

    def room_refusal(self, model: PriceModel, quantity: int) -> VolumeAboveLadder | None:
        """Why ``quantity`` more messages do not fit under the top of ``model`` with what is
        recorded and held (``None``: they fit; a price without a top always has room)."""
        top = model.max_volume
        if top is None or self.recorded + self.held + quantity <= top:
            return None
        return VolumeAboveLadder(
            f"{quantity:,} more messages would take {quoted(self.payer_id)}'s {self.period} "
            f"past the {top:,} its price covers ({self.recorded:,} recorded, {self.held:,} "
            f"on open sends) and the price has no overage rate",
            field="quantity",
            top=top,
            payer_id=self.payer_id,
            charge=self.charge,
            period=str(self.period),
            requested=quantity,
            used=self.recorded + self.held,
        )

    def require_room(self, model: PriceModel, quantity: int) -> None:
        """Refuse a send or usage that, with what is recorded and held, would take the
        charge past the top of a price that prices no more (a plan ladder without an
        overage rate): ``VolumeAboveLadder``, field ``quantity``. The one rule behind
        ``app.billing.check_send``, ``reserve_send``, ``record_usage`` and
        ``app.sending.authorize``.

        >>> from subacct.money import Money
        >>> from subacct.pricing import Plan, PlanLadder
        >>> ladder = PlanLadder([Plan("18,000", 18000, Money(90, "USD"))])
        >>> pool = SendVolume("agencydemo", BillingPeriod(2026, 1), "all", 0, recorded=16000)
        >>> pool.room_refusal(ladder, 2000) is None
        True
        >>> pool.room_refusal(ladder, 2001).details["top"]
        18000
        """
        refusal = self.room_refusal(model, quantity)
        if refusal is not None:
            raise refusal


def room_without_figures(refusal: VolumeAboveLadder) -> VolumeAboveLadder:
    """``refusal`` as told to a caller who may not see the payer's billing (a pooled
    sub's user): which payer's price is used up, not its top or the volume under it."""
    details = refusal.details
    return VolumeAboveLadder(
        f"{details.get('requested', 0):,} more messages do not fit in the price of "
        f"{quoted(details.get('payer_id'))} for {details.get('period')}",
        field="quantity",
        payer_id=details.get("payer_id"),
        charge=details.get("charge"),
        period=details.get("period"),
        requested=details.get("requested"),
    )
