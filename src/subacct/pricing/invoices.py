"""Invoices for a period: one per payer, one line per account it pays for.

Each payer's invoice has a usage line for itself and for every account pooled into it
(each department or client shows separately, seeds 003/004); a standalone account (own
payment details, or an agency-linked client) gets its own invoice. Lines are final
amounts and ``Invoice.total`` is their exact sum, checked when the invoice is built.

Rounding (explicit, configurable with ``Rounding``): by default half-even to the
currency's minor unit, per line. A pooled price is rounded once and then split into
lines in whole minor units (see ``subacct.pricing.pooling``), so the usage lines add up
to the rounded pooled price exactly. A commitment adds a payer line when the base is
above the price reached (``max(base, reached)``, seed 000); a prepaid commitment adds a
credit line for the amount paid in advance, so the invoice total is the true-up (seed 001).

A payer priced by a ``PriceList`` is billed per charge: each charge is priced once on the
pooled volume of the records it bills (``slices``: usage per channel and dimensions),
rounded, and split pro rata among the accounts that sent that volume, one line per
account and charge (the charge's name starts the description). A charge with no usage
is still priced at volume 0 (a ladder's smallest plan), on the payer's line.

>>> from subacct.money import Money
>>> from subacct.pricing import (BillingPeriod, BillingStructure, Plan, PlanLadder,
...                              build_invoices)
>>> ladder = PlanLadder([Plan("2,500", 2500, Money("15", "USD")),
...                      Plan("18,000", 18000, Money("90", "USD"))])
>>> s = BillingStructure.pooled("agencydemo", ["agency1", "agency2"], ladder)
>>> usage = {"agencydemo": 9000, "agency1": 5300, "agency2": 1700}
>>> (inv,) = build_invoices(s, usage, BillingPeriod(2026, 1))
>>> [str(line.amount) for line in inv.lines], str(inv.total)
(['50.63 USD', '29.81 USD', '9.56 USD'], '90.00 USD')
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import (
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from typing import Final, cast

import attrs

from subacct._validators import instance_of
from subacct.domain.ids import AccountId
from subacct.errors import InvalidBillingStructure, InvalidInput, PeriodMismatch, quoted
from subacct.money import (
    MAX_SCALE,
    Money,
    exact_sum,
    minor_unit_exponent,
    multiply,
    quantized,
    subtract,
)
from subacct.pricing import _checks
from subacct.pricing.charges import PriceList, charge_volumes
from subacct.pricing.period import BillingPeriod
from subacct.pricing.plan_changes import PeriodPlan
from subacct.pricing.pooling import split_pro_rata
from subacct.pricing.structure import BillingStructure, Payer
from subacct.pricing.usage import UsageBook, UsageSlice, slice_totals

__all__ = [
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "LineKind",
    "PayerTerms",
    "Rounding",
    "build_invoices",
]

_MODES: Final = frozenset(
    {
        ROUND_05UP,
        ROUND_CEILING,
        ROUND_DOWN,
        ROUND_FLOOR,
        ROUND_HALF_DOWN,
        ROUND_HALF_EVEN,
        ROUND_HALF_UP,
        ROUND_UP,
    }
)


_ZERO: Final = Decimal(0)


def _mode(value: object) -> str:
    if value not in _MODES:
        raise InvalidInput(f"unknown decimal rounding mode {quoted(value)}", field="mode")
    assert isinstance(value, str)
    return value


def _digits(value: object) -> int | None:
    if value is not None and (type(value) is not int or not 0 <= value <= MAX_SCALE):
        raise InvalidInput(f"digits must be an integer from 0 to {MAX_SCALE}, got {quoted(value)}")
    return value


@attrs.frozen
class Rounding:
    """How line amounts are rounded: ``mode`` to ``digits`` places (None: the minor unit).

    >>> Rounding().round(Money("0.125", "USD")), Rounding(digits=0).round(Money("2.5", "USD"))
    (Money(amount=Decimal('0.12'), currency='USD'), Money(amount=Decimal('2'), currency='USD'))
    """

    mode: str = attrs.field(default=ROUND_HALF_EVEN, converter=_mode)
    digits: int | None = attrs.field(default=None, converter=_digits)

    def places(self, currency: str) -> int:
        return minor_unit_exponent(currency) if self.digits is None else self.digits

    def round(self, money: Money) -> Money:
        return money.rounded(self.mode, self.places(money.currency))


class LineKind(enum.Enum):
    """What an invoice line is for. Commissions apply to the subscription's lines:
    ``USAGE``, ``COMMITMENT`` (a base commitment or plan above the usage), ``UPGRADE`` (a
    plan upgraded to during the period) and ``HOLD`` (the hold fee of a paused period)."""

    USAGE = "usage"
    COMMITMENT = "commitment"
    UPGRADE = "upgrade"
    HOLD = "hold"
    PREPAID = "prepaid"
    SETUP_FEE = "setup_fee"
    ADJUSTMENT = "adjustment"


@attrs.frozen
class PayerTerms:
    """What a payer's lifecycle and subscription add to its invoice for one period.

    ``held``: the account was paused for the whole period (``subacct.domain.lifecycle``),
    so it is billed ``hold_fee`` only (zero when ``None``) unless usage was recorded
    anyway. ``plan``: the subscribed plan the period starts on (its price is a floor, like a
    base commitment) and the plans upgraded to during it (each adds the difference not
    covered already, as its own ``UPGRADE`` line).
    """

    held: bool = attrs.field(default=False, validator=instance_of(bool))
    hold_fee: Money | None = attrs.field(
        default=None, validator=attrs.validators.optional(instance_of(Money))
    )
    plan: PeriodPlan | None = attrs.field(
        default=None, validator=attrs.validators.optional(instance_of(PeriodPlan))
    )


def _description(v: object) -> str:
    return _checks.text(v, field="description")


@attrs.frozen
class InvoiceLine:
    """One line: ``amount`` charged for ``account_id`` (``quantity`` messages or items)."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    kind: LineKind = attrs.field(validator=instance_of(LineKind))
    description: str = attrs.field(converter=_description)
    quantity: int = attrs.field(converter=_checks.quantity)
    amount: Money = attrs.field(validator=instance_of(Money))


def _lines(value: object) -> tuple[InvoiceLine, ...]:
    if not isinstance(value, Iterable):
        raise InvalidInput("lines must be a list of InvoiceLine", field="lines")
    lines = tuple(value)
    for line in lines:
        if not isinstance(line, InvoiceLine):
            raise InvalidInput(f"expected an InvoiceLine, got {type(line).__name__}")
    return lines


class InvoiceStatus(enum.Enum):
    """Where an invoice is in its lifecycle (``subacct.pricing.invoice_lifecycle``):
    ``DRAFT`` (a stored preview, priced again when finalized), ``FINALIZED`` (numbered,
    issued, never changes again), then ``PAID`` (its balance reached zero) or ``VOID``
    (cancelled; it keeps its number)."""

    DRAFT = "draft"
    FINALIZED = "finalized"
    PAID = "paid"
    VOID = "void"


def _amount(value: object) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidInput("settled amounts are non-negative Decimals", field="amount")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _checks.text(value, field="number")


def _sum_lines(invoice: Invoice) -> Money:
    return Money(exact_sum(line.amount.amount for line in invoice.lines), invoice.currency)


@attrs.frozen
class Invoice:
    """A payer's invoice for ``period``; ``total`` is the exact sum of ``lines``.

    Its lifecycle (``subacct.pricing.invoice_lifecycle``): ``status``, the ``number``
    given when it is finalized (``None`` while a draft, and on an invoice finalized
    before schema version 14), the ``issued_at`` time and the ``due_date``; ``credited``
    and ``paid`` are the amounts of its credit notes and payments (net of refunds), so
    ``balance`` is ``total - credited - paid``, exactly."""

    payer_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    currency: str = attrs.field(converter=_checks.currency)
    lines: tuple[InvoiceLine, ...] = attrs.field(converter=_lines)
    status: InvoiceStatus = attrs.field(
        default=InvoiceStatus.DRAFT, validator=instance_of(InvoiceStatus)
    )
    number: str | None = attrs.field(default=None, converter=_optional_text)
    issued_at: datetime | None = attrs.field(
        default=None, validator=attrs.validators.optional(instance_of(datetime))
    )
    due_date: date | None = attrs.field(
        default=None, validator=attrs.validators.optional(instance_of(date))
    )
    credited: Decimal = attrs.field(default=Decimal(0), converter=_amount)
    paid: Decimal = attrs.field(default=Decimal(0), converter=_amount)
    _total: Money = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        for line in self.lines:
            if line.amount.currency != self.currency:
                raise InvalidInput(
                    f"line for {quoted(line.account_id)} is in {line.amount.currency}, "
                    f"the invoice in {self.currency}",
                    field="currency",
                )
        object.__setattr__(self, "_total", _sum_lines(self))
        if self.status is InvoiceStatus.DRAFT and (
            self.number is not None or self.credited or self.paid
        ):
            raise InvalidInput("a draft has no number, credit notes or payments", field="status")

    @property
    def total(self) -> Money:
        """The exact sum of the lines (derived, so it can never disagree with them)."""
        return self._total

    @property
    def final(self) -> bool:
        """Whether the invoice closes its period for the payer: finalized, paid or void
        (a void invoice keeps its month closed, so nothing of it is billed twice), not a
        draft. What arrives for a closed period afterwards is billed as an adjustment on
        the payer's next invoice (``subacct.pricing.adjustments``)."""
        return self.status is not InvoiceStatus.DRAFT

    @property
    def balance(self) -> Money:
        """What is still owed: ``total - credited - paid`` (zero on a void invoice)."""
        if self.status is InvoiceStatus.VOID:
            return Money.zero(self.currency)
        left = subtract(subtract(self._total.amount, self.credited), self.paid)
        return Money(left, self.currency)

    def lines_for(self, account_id: str) -> tuple[InvoiceLine, ...]:
        """The lines of one account (a department, a client) on this invoice."""
        return tuple(line for line in self.lines if line.account_id == account_id)


def _usage_map(usage: Mapping[str, int] | UsageBook, period: BillingPeriod) -> Mapping[str, int]:
    if isinstance(usage, UsageBook):
        if usage.period != period:
            raise PeriodMismatch(
                f"usage is for {usage.period}, the invoices for {period}", field="period"
            )
        return cast(Mapping[str, int], usage.totals())
    if not isinstance(usage, Mapping):
        raise InvalidInput("usage must be a UsageBook or a mapping account -> volume")
    for account, volume in usage.items():
        _checks.quantity(volume, field=f"usage of {quoted(account)}")
    return usage


def _slices(
    structure: BillingStructure,
    usage: Mapping[str, int] | UsageBook,
    slices: Mapping[str, Mapping[UsageSlice, int]] | None,
) -> Mapping[str, Mapping[UsageSlice, int]]:
    """Usage per channel and dimensions, for the payers priced by charges (checked: a
    ``PriceList`` cannot bill volumes that say no channel)."""
    if not any(isinstance(p.price, PriceList) for p in structure.payers):
        return {}
    if slices is None and isinstance(usage, UsageBook):
        return {str(a): parts for a, parts in slice_totals(usage.records()).items()}
    if slices is None:
        raise InvalidInput(
            "a payer priced by charges is billed from usage per channel: pass slices or a "
            "UsageBook",
            field="slices",
        )
    if not isinstance(slices, Mapping):
        raise InvalidInput("slices must map accounts to volumes per (channel, dimensions)")
    for account, parts in slices.items():
        if not isinstance(parts, Mapping):
            raise InvalidInput(f"slices of {quoted(account)} must be a mapping", field="slices")
        for volume in parts.values():
            _checks.quantity(volume, field=f"usage of {quoted(account)}")
    strangers = structure.unknown(slices)
    if strangers:
        raise InvalidBillingStructure(
            f"usage for accounts outside the billing structure: {strangers[:10]}",
            accounts=strangers,
        )
    return slices


def _usage_line(account: AccountId, description: str, quantity: int, amount: Money) -> InvoiceLine:
    """A usage line from parts that are valid by construction (hot path: no re-validation).

    ``account`` comes from a validated ``BillingStructure``, ``quantity`` from validated
    usage, ``amount`` is a ``Money`` and ``description`` is generated here.
    """
    line: InvoiceLine = object.__new__(InvoiceLine)
    set_field = object.__setattr__
    set_field(line, "account_id", account)
    set_field(line, "kind", LineKind.USAGE)
    set_field(line, "description", description)
    set_field(line, "quantity", quantity)
    set_field(line, "amount", amount)
    return line


def _money(units: int, quantum: Decimal, currency: str, cache: dict[int, Money]) -> Money:
    """``units`` minor units as Money; equal amounts share one (immutable) instance."""
    money = cache.get(units)
    if money is None:
        money = cache[units] = Money(multiply(units, quantum), currency)
    return money


def _invoice(
    payer_id: AccountId,
    period: BillingPeriod,
    currency: str,
    lines: list[InvoiceLine],
    total: Money,
) -> Invoice:
    """An invoice from lines checked by ``build_invoices`` (hot path: no re-validation).

    ``total`` is the exact sum of ``lines``, known by construction (the usage lines split
    the rounded pooled price exactly); the tests check it against ``Invoice``'s own sum.
    """
    invoice: Invoice = object.__new__(Invoice)
    set_field = object.__setattr__
    set_field(invoice, "payer_id", payer_id)
    set_field(invoice, "period", period)
    set_field(invoice, "currency", currency)
    set_field(invoice, "lines", tuple(lines))
    set_field(invoice, "status", InvoiceStatus.DRAFT)
    set_field(invoice, "number", None)
    set_field(invoice, "issued_at", None)
    set_field(invoice, "due_date", None)
    set_field(invoice, "credited", _ZERO)
    set_field(invoice, "paid", _ZERO)
    set_field(invoice, "_total", total)
    return invoice


def _payer_lines(
    structure: BillingStructure,
    payer: Payer,
    usage: Mapping[str, int],
    rounding: Rounding,
    caches: dict[tuple[Decimal, str], dict[int, Money]],
    terms: PayerTerms | None = None,
) -> tuple[list[InvoiceLine], Money]:
    """The payer's lines and their exact total."""
    model = payer.price
    assert not isinstance(model, PriceList)
    currency = model.currency
    places = rounding.places(currency)
    quantum = Decimal(1).scaleb(-places)
    cache = caches.setdefault((quantum, currency), {})
    members = structure.members(payer.account_id)
    volumes = [usage.get(m, 0) for m in members]
    pooled = sum(volumes)
    if terms is not None and terms.held and pooled == 0:
        return _held_lines(payer, terms, rounding)
    reached = quantized(model.amount(pooled), places, rounding.mode)
    units = int(multiply(reached, 10**places))
    shares = split_pro_rata(units, volumes)
    how = model.describe(pooled)
    note = (
        f"messages (pro rata share of {pooled} pooled: {how})"
        if len(members) > 1
        else f"messages ({how})"
    )
    usage_line, cached = _usage_line, cache.get
    lines = [
        usage_line(m, note, v, cached(s) or _money(s, quantum, currency, cache))
        for m, v, s in zip(members, volumes, shares, strict=True)
    ]
    total = cached(units) or _money(units, quantum, currency, cache)
    if payer.commitment is None and (terms is None or terms.plan is None):
        return lines, total
    return _floor_lines(payer, terms, pooled, reached, lines, rounding, places)


def _charged_lines(
    structure: BillingStructure,
    payer: Payer,
    slices: Mapping[str, Mapping[UsageSlice, int]],
    rounding: Rounding,
    terms: PayerTerms | None = None,
) -> tuple[list[InvoiceLine], Money]:
    """The lines of a payer priced by charges (``PriceList``) and their exact total: each
    charge priced on its pooled volume, split among the accounts that sent it."""
    price = payer.price
    assert isinstance(price, PriceList)
    currency = price.currency
    places = rounding.places(currency)
    quantum = Decimal(1).scaleb(-places)
    members = structure.members(payer.account_id)
    used = [charge_volumes(price, slices.get(m, {})) for m in members]
    if terms is not None and terms.held and not any(used):
        return _held_lines(payer, terms, rounding)
    lines: dict[AccountId, list[InvoiceLine]] = {m: [] for m in members}
    units_in_all = 0
    for charge in price.charges:
        volumes = [mine.get(charge.name, 0) for mine in used]
        pooled = sum(volumes)
        reached = quantized(charge.model.amount(pooled), places, rounding.mode)
        units = int(multiply(reached, 10**places))
        units_in_all += units
        how = charge.model.describe(pooled)
        note = (
            f"{charge.name}: messages (pro rata share of {pooled} pooled: {how})"
            if len(members) > 1
            else f"{charge.name}: messages ({how})"
        )
        for m, v, share in zip(members, volumes, split_pro_rata(units, volumes), strict=True):
            if v or share or (m == payer.account_id and charge is price.charges[0]):
                amount = Money(multiply(share, quantum), currency)
                lines[m].append(_usage_line(m, note, v, amount))
    for m, mine in lines.items():
        if not mine:  # every account billed shows on the invoice, as with one model
            first = price.charges[0]
            mine.append(_usage_line(m, f"{first.name}: messages", 0, Money(0, currency)))
    out = [line for m in members for line in lines[m]]
    return out, Money(multiply(units_in_all, quantum), currency)


def _floor_lines(
    payer: Payer,
    terms: PayerTerms | None,
    pooled: int,
    reached: Decimal,
    lines: list[InvoiceLine],
    rounding: Rounding,
    places: int,
) -> tuple[list[InvoiceLine], Money]:
    """Add to the usage ``lines`` what the payer's floors add: the base commitment or the
    subscribed plan, whichever is higher, when usage stayed below it; each upgrade made
    during the period; the credit for a prepaid commitment."""
    model = payer.price
    assert not isinstance(model, PriceList)  # a PriceList takes no commitment nor plan
    currency = model.currency
    commitment = payer.commitment
    plan = None if terms is None else terms.plan
    floor = Decimal(0)
    why: tuple[str, int] | None = None
    if commitment is not None:
        floor = quantized(model.amount(commitment.volume), places, rounding.mode)
        why = (
            f"base commitment {commitment.volume} messages ({model.describe(commitment.volume)})",
            commitment.volume,
        )
    if plan is not None:
        price = quantized(plan.plan.price.amount, places, rounding.mode)
        if price > floor or why is None:
            floor, why = price, (f"plan {plan.plan.name} ({plan.plan.included} messages)", 0)
    added = False
    if why is not None and floor > reached:
        lines.append(
            InvoiceLine(
                payer.account_id,
                LineKind.COMMITMENT,
                f"{why[0]}, above the {pooled} messages used",
                why[1] or (plan.plan.included if plan is not None else 0),
                Money(subtract(floor, reached), currency),
            )
        )
        added = True
    level = max(floor, reached)
    for upgrade in () if plan is None else plan.upgrades:
        price = quantized(upgrade.price.amount, places, rounding.mode)
        if price > level:
            lines.append(
                InvoiceLine(
                    payer.account_id,
                    LineKind.UPGRADE,
                    f"upgrade to plan {upgrade.name} during the period (as if upgraded "
                    "mid-month: the difference not covered already)",
                    upgrade.included,
                    Money(subtract(price, level), currency),
                )
            )
            added = True
            level = price
    if commitment is not None and commitment.prepaid:
        base = quantized(model.amount(commitment.volume), places, rounding.mode)
        lines.append(
            InvoiceLine(
                payer.account_id,
                LineKind.PREPAID,
                f"prepaid in advance: {commitment.volume} messages "
                f"({model.describe(commitment.volume)})",
                commitment.volume,
                Money(base.copy_negate(), currency),
            )
        )
        added = True
    if not added:
        return lines, Money(reached, currency)
    return lines, Money(exact_sum(line.amount.amount for line in lines), currency)


def _held_lines(
    payer: Payer, terms: PayerTerms, rounding: Rounding
) -> tuple[list[InvoiceLine], Money]:
    fee = terms.hold_fee if terms.hold_fee is not None else Money.zero(payer.price.currency)
    fee = rounding.round(fee)
    line = InvoiceLine(
        payer.account_id,
        LineKind.HOLD,
        "account paused for the whole period: hold fee only",
        0,
        fee,
    )
    return [line], fee


def build_invoices(
    structure: BillingStructure,
    usage: Mapping[str, int] | UsageBook,
    period: BillingPeriod,
    *,
    rounding: Rounding | None = None,
    extra_lines: Iterable[InvoiceLine] = (),
    terms: Mapping[str, PayerTerms] | None = None,
    charges: Mapping[str, Iterable[InvoiceLine]] | None = None,
    slices: Mapping[str, Mapping[UsageSlice, int]] | None = None,
) -> tuple[Invoice, ...]:
    """Every payer's invoice for ``period``, in payer id order.

    ``usage`` is the volume per account (a ``UsageBook`` of the same period, or a mapping).
    ``slices`` is each account's volume per ``(channel, dimensions)``
    (``subacct.pricing.usage.slice_totals``), which a payer priced by a ``PriceList``
    is billed from; a ``UsageBook`` gives it by itself.
    ``extra_lines`` (adjustments) go on the invoice of each line's account's payer;
    ``charges`` are lines billed to a named payer (a setup fee goes to the payer of the
    account that created the sub-account, whoever pays for the sub afterwards).
    ``terms`` say, per payer, what the account's lifecycle and subscription add
    (``PayerTerms``: a held period, the plan and its upgrades). Everything is validated
    before anything is priced; a refusal returns nothing.
    """
    if not isinstance(structure, BillingStructure):
        raise InvalidInput("structure must be a BillingStructure", field="structure")
    if not isinstance(period, BillingPeriod):
        raise InvalidInput("period must be a BillingPeriod", field="period")
    rounding = Rounding() if rounding is None else rounding
    volumes = dict(_usage_map(usage, period))
    strangers = structure.unknown(volumes)
    if strangers:
        raise InvalidBillingStructure(
            f"usage for accounts outside the billing structure: {strangers[:10]}",
            accounts=strangers,
        )
    extras: dict[AccountId, list[InvoiceLine]] = {}
    for line in extra_lines:
        if not isinstance(line, InvoiceLine):
            raise InvalidInput(f"expected an InvoiceLine, got {type(line).__name__}")
        payer_id = structure.payer_of(line.account_id)
        if line.amount.currency != structure.payer(payer_id).price.currency:
            raise InvalidInput(
                f"line for {quoted(line.account_id)} is in {line.amount.currency}, its payer "
                f"{quoted(payer_id)} is billed in {structure.payer(payer_id).price.currency}",
                field="currency",
            )
        extras.setdefault(payer_id, []).append(line)
    for charged_id, lines_of in (charges or {}).items():
        charged = structure.payer(charged_id)
        for line in lines_of:
            if not isinstance(line, InvoiceLine):
                raise InvalidInput(f"expected an InvoiceLine, got {type(line).__name__}")
            if line.amount.currency != charged.price.currency:
                raise InvalidInput(
                    f"a charge in {line.amount.currency} cannot go on the invoice of "
                    f"{quoted(charged_id)}, billed in {charged.price.currency}",
                    field="currency",
                )
            extras.setdefault(charged.account_id, []).append(line)
    parts = _slices(structure, usage, slices)
    invoices = []
    caches: dict[tuple[Decimal, str], dict[int, Money]] = {}
    by_payer = {} if terms is None else dict(terms)
    if not all(isinstance(t, PayerTerms) for t in by_payer.values()):
        raise InvalidInput("terms must map payers to PayerTerms", field="terms")
    for payer in sorted(structure.payers, key=lambda p: p.account_id):
        payer_terms = by_payer.get(payer.account_id)
        if isinstance(payer.price, PriceList):
            lines, total = _charged_lines(structure, payer, parts, rounding, payer_terms)
        else:
            lines, total = _payer_lines(structure, payer, volumes, rounding, caches, payer_terms)
        extra = extras.get(payer.account_id)
        if extra:
            lines.extend(extra)
            total = Money(exact_sum(line.amount.amount for line in lines), total.currency)
        invoices.append(_invoice(payer.account_id, period, total.currency, lines, total))
    return tuple(invoices)
