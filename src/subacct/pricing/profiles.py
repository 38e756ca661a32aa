"""What storage keeps about billing: payer profiles, quota settings and counters.

A ``BillingProfile`` makes an account a payer: it has its own price (a plan ladder, a
tiered or a package price for every channel, or a ``PriceList`` of charges per channel
and dimension) and its own invoice; every account below it without
a profile is pooled into it. Top-level accounts (masters, linked clients) need one to be
billed. Quota counters hold the volume reserved in a period by an account and everything
below it; reservations remember what a send took, by idempotency key.

>>> from subacct.money import Money
>>> from subacct.pricing import Plan, PlanLadder
>>> from subacct.pricing.profiles import BillingProfile
>>> ladder = PlanLadder([Plan("18,000", 18000, Money("90", "USD"))])
>>> BillingProfile("agencydemo", ladder).payer().account_id
'agencydemo'
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeAlias

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import positive_version
from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, InvalidPricing, PaymentMethodRequired, quoted
from subacct.money import Money, to_decimal
from subacct.pricing import _checks
from subacct.pricing.charges import PriceList, price_never_falls
from subacct.pricing.commitments import Commitment
from subacct.pricing.fees import SetupFeeSchedule
from subacct.pricing.invoice_lifecycle import PaymentTerms
from subacct.pricing.ladder import PlanLadder
from subacct.pricing.period import BillingPeriod
from subacct.pricing.quotas import Quota
from subacct.pricing.structure import Payer
from subacct.pricing.tiers import PackagePrice, TieredPrice

__all__ = [
    "BillingProfile",
    "pays_for_itself",
    "require_pays_for_itself",
    "Prerequisites",
    "PriceSpec",
    "QuotaCounter",
    "QuotaReservation",
    "QuotaSetting",
    "scoped_key",
]

PriceSpec: TypeAlias = PlanLadder | TieredPrice | PackagePrice | PriceList
"""The prices a profile can store (each serializes with a ``model`` tag)."""


def _price(value: object) -> PriceSpec:
    if not isinstance(value, PlanLadder | TieredPrice | PackagePrice | PriceList):
        raise InvalidInput(
            "price must be a PlanLadder, TieredPrice, PackagePrice or PriceList", field="price"
        )
    return value


def _optional_rate(value: object) -> Decimal | None:
    if value is None:
        return None
    rate = to_decimal(value, field="commission_rate")  # finite, never a float
    if not Decimal(0) <= rate <= Decimal(1):
        raise InvalidInput("commission_rate is a fraction from 0 to 1", field="commission_rate")
    return rate


def _hold_fee(value: object) -> Money | None:
    return None if value is None else _checks.non_negative_money(value, field="hold_fee")


def _optional_of(cls: type, field: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, cls):
            raise InvalidInput(f"{field} must be a {cls.__name__} or None", field=field)

    return check


@attrs.frozen
class BillingProfile:
    """A payer: its price model, optional base commitment, setup-fee schedule for the
    sub-accounts it creates, (for an agency) the commission rate it earns on its linked
    clients' subscriptions (0.25 in seed 002), the fee of a month paused throughout
    (``hold_fee``; ``None``: nothing is billed), and whether its sends are paid from
    prepaid credit as they go out (``prepaid``: ``app.sending`` holds each send's price
    on the paying wallet and spends it on capture; seed 003), and when its invoices fall
    due (``payment_terms``: net 30 days by default)."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    price: PriceSpec = attrs.field(converter=_price)
    commitment: Commitment | None = attrs.field(
        default=None, validator=_optional_of(Commitment, "commitment")
    )
    setup_fees: SetupFeeSchedule | None = attrs.field(
        default=None, validator=_optional_of(SetupFeeSchedule, "setup_fees")
    )
    commission_rate: Decimal | None = attrs.field(default=None, converter=_optional_rate)
    version: int = attrs.field(default=1, converter=positive_version)
    hold_fee: Money | None = attrs.field(default=None, converter=_hold_fee)
    prepaid: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    payment_terms: PaymentTerms = attrs.field(
        factory=PaymentTerms, validator=instance_of(PaymentTerms)
    )

    def __attrs_post_init__(self) -> None:
        self.payer()  # a payer's own rules (a price of several charges takes no commitment)
        for name, money in (("hold_fee", self.hold_fee),):
            if money is not None and money.currency != self.price.currency:
                raise InvalidInput(
                    f"{name} is in {money.currency}, the price in {self.price.currency}",
                    field=name,
                )
        if self.setup_fees is not None and self.setup_fees.fee.currency != self.price.currency:
            raise InvalidInput(
                f"setup fees are in {self.setup_fees.fee.currency}, the price in "
                f"{self.price.currency}",
                field="setup_fees",
            )

        if self.prepaid:
            models = (
                [c.model for c in self.price.charges]
                if isinstance(self.price, PriceList)
                else [self.price]
            )
            if not all(price_never_falls(m) for m in models):
                raise InvalidPricing(
                    "a prepaid price must never fall as the volume grows (each send pays "
                    "what it adds to the period's price): use graduated tiers, a plan "
                    "ladder or packages, or a volume-mode tier list that never gets cheaper",
                    field="price",
                    reason="price_falls",
                )

    def payer(self) -> Payer:
        return Payer(self.account_id, self.price, self.commitment)


def pays_for_itself(parent_id: str | None, profile: BillingProfile | None) -> bool:
    """Whether an account pays for itself (seed 003), the one rule behind its invoice and
    its credit: a top-level account always does; a sub-account does exactly when it has
    its own billing profile. Then it is a payer, gets its own invoice, may top up its own
    wallet and its sends are charged from it. A sub-account without one is pooled into
    its nearest payer, whose administrators distribute its credit.

    >>> from subacct.money import Money
    >>> from subacct.pricing import Plan, PlanLadder
    >>> own = BillingProfile("berlin", PlanLadder([Plan("1,000", 1000, Money(9, "EUR"))]))
    >>> pays_for_itself(None, None), pays_for_itself("main", own), pays_for_itself("main", None)
    (True, True, False)
    """
    return parent_id is None or profile is not None


def require_pays_for_itself(
    account_id: str, parent_id: str | None, profile: BillingProfile | None, payer_id: str | None
) -> None:
    """Refuse (``PaymentMethodRequired``, ``reason`` ``pooled``) what only an account that
    pays for itself may do (top up its own wallet) for a sub-account billed through
    ``payer_id``'s invoice."""
    if not pays_for_itself(parent_id, profile):
        raise PaymentMethodRequired(
            f"sub-account {quoted(account_id)} is billed on the invoice of "
            f"{quoted(payer_id or parent_id)} (pooled): its credit is distributed from there; "
            "give it a billing profile of its own to let it pay for itself",
            account_id=account_id,
            payer_id=payer_id or parent_id,
            reason="pooled",
        )


@attrs.frozen
class QuotaSetting:
    """The monthly quota of one account (a cap within its parent's limit, for a sub)."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    quota: Quota = attrs.field(validator=attrs.validators.instance_of(Quota))


@attrs.frozen
class QuotaCounter:
    """Volume reserved in ``period`` by the account and every account below it."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=attrs.validators.instance_of(BillingPeriod))
    used: int = attrs.field(converter=_checks.quantity)
    version: int = attrs.field(default=1, converter=positive_version)


def _key(value: object) -> str:
    return _checks.text(value, field="key")


def _optional_account(value: object) -> AccountId | None:
    return None if value is None else _checks.account(value)


@attrs.frozen
class QuotaReservation:
    """What the send with idempotency ``key`` reserved (and how much of it was overage).
    A send's key is its account's own: ``scoped_key`` names the reservation in its
    period. ``payer_id`` and ``charge`` name the payer's volume it holds room in, when
    the charge's price has a top (``subacct.pricing.holds.SendVolume``; else ``None``)."""

    period: BillingPeriod = attrs.field(validator=attrs.validators.instance_of(BillingPeriod))
    key: str = attrs.field(converter=_key)
    account_id: AccountId = attrs.field(converter=_checks.account)
    quantity: int = attrs.field(converter=_checks.quantity)
    overage: int = attrs.field(default=0, converter=_checks.quantity)
    payer_id: AccountId | None = attrs.field(default=None, converter=_optional_account)
    charge: str | None = None

    @property
    def scoped_key(self) -> str:
        """``account/key``, the account's ``%`` and ``/`` escaped, so that no account and
        key pair reads as another (``a/b`` with ``c``, ``a`` with ``b/c``)."""
        return scoped_key(self.account_id, self.key)


def scoped_key(account_id: str, key: str) -> str:
    """A send's key in its period, ``QuotaReservation.scoped_key``.

    >>> scoped_key("a/b", "c"), scoped_key("a", "b/c")
    ('a%2Fb/c', 'a/b/c')
    """
    return f"{account_id.replace('%', '%25').replace('/', '%2F')}/{key}"


def _names(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("satisfied must be a set of prerequisite names", field="satisfied")
    return frozenset(_checks.text(v, field="prerequisite") for v in value)


@attrs.frozen
class Prerequisites:
    """What an account has proven for upgrades (e.g. ``spf_verified``, ``dkim_verified``)."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    satisfied: frozenset[str] = attrs.field(converter=_names)
