"""Adjustments: what arrives for a period after its invoice is finalized (pure).

Usage recorded late, a send captured late, the setup fee of a sub-account created in a
month already invoiced, an upgrade approved for it: none of it changes the finalized
invoice, and none of it is dropped. The arrival notes its payer's period
(``LatePeriod``); the payer's next invoice re-rates that period from everything stored
now (the same ``period_invoices`` as the original: pooling, ladders, commitments,
setup fees, plan changes), on the terms the period's invoice was priced on when it was
finalized (``InvoiceTerms``: the payer's billing profile as it was, and the rounding), and
bills the difference from what the period was
billed already (its invoice and the adjustments before), per account and kind of line,
as ``LineKind.ADJUSTMENT`` lines named after the period (``adjustment_lines``).

An adjustment on the next invoice, not a debit note: a late arrival is usually small,
the payer pays one document a month, and a re-rating can also lower a line (a pooled
share falls when another account's late usage raises the pool). ``LatePeriod`` keeps
what the adjustments billed, so a period is never billed twice.

>>> from subacct.money import Money
>>> from subacct.pricing import BillingPeriod, Invoice, InvoiceLine, LineKind
>>> jan, feb = BillingPeriod(2026, 1), BillingPeriod(2026, 2)
>>> def invoice(messages, amount):
...     line = InvoiceLine("m", LineKind.USAGE, "messages", messages, Money(amount, "USD"))
...     return Invoice("m", jan, "USD", [line])
>>> late = noted(None, "m", jan)  # 3,000 messages arrive after January's $45 invoice
>>> lines, covered = adjustment_lines(late, invoice(7000, "45.00"), invoice(10000, "60.00"), feb)
>>> [(line.description, line.quantity, str(line.amount)) for line in lines]
[('adjustment for 2026-01: usage', 3000, '15.00 USD')]
>>> covered.pending_for is None, covered.adjusted_on
(True, (BillingPeriod(year=2026, month=2),))
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from types import MappingProxyType
from typing import Final

import attrs

from subacct._validators import instance_of
from subacct.domain.ids import AccountId
from subacct.errors import InvalidBillingStructure, PeriodAlreadyInvoiced, quoted
from subacct.money import Money, exact_sum, subtract
from subacct.pricing import _checks
from subacct.pricing.invoices import Invoice, InvoiceLine, LineKind, Rounding
from subacct.pricing.period import BillingPeriod
from subacct.pricing.profiles import BillingProfile

__all__ = [
    "BilledPart",
    "InvoiceTerms",
    "LatePeriod",
    "adjusted_invoice",
    "adjustment_lines",
    "billed_parts",
    "late_payer",
    "noted",
]

_WHAT: Final = MappingProxyType(
    {
        LineKind.USAGE: "usage",
        LineKind.COMMITMENT: "commitment",
        LineKind.UPGRADE: "upgrade",
        LineKind.HOLD: "hold fee",
        LineKind.PREPAID: "prepaid",
        LineKind.SETUP_FEE: "setup fee",
    }
)
"""What the description of an adjustment for each kind of line names."""


def _count(value: object) -> int:
    return _checks.quantity(value, field="count")


def _positive(value: object) -> int:
    return _checks.positive(value, field="version")


@attrs.frozen
class BilledPart:
    """What a period has billed ``account_id`` in lines of ``kind``, in all."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    kind: LineKind = attrs.field(validator=instance_of(LineKind))
    quantity: int = attrs.field(converter=_checks.quantity)
    amount: Money = attrs.field(validator=instance_of(Money))


def _parts(value: object) -> tuple[BilledPart, ...]:
    parts = tuple(value) if isinstance(value, Iterable) else None
    if parts is None or not all(isinstance(p, BilledPart) for p in parts):
        raise InvalidBillingStructure("billed must be a list of BilledPart", field="billed")
    return parts


def _periods(value: object) -> tuple[BillingPeriod, ...]:
    periods = tuple(value) if isinstance(value, Iterable) else None
    if periods is None or not all(isinstance(p, BillingPeriod) for p in periods):
        raise InvalidBillingStructure(
            "adjusted_on must be a list of BillingPeriod", field="adjusted_on"
        )
    return periods


@attrs.frozen
class LatePeriod:
    """``payer_id``'s ``period``, finalized, that took arrivals afterwards.

    ``arrivals`` counts the units of work that brought something late, ``covered`` how
    many of them an adjustment has billed; while some are not (``pending_for``: the
    payer), the payer's next invoice re-rates the period. ``billed`` is what the invoice
    and the adjustments billed for the period after the last adjustment (empty: the
    invoice alone); ``adjusted_on``, the invoices that carried its adjustments."""

    payer_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    arrivals: int = attrs.field(default=1, converter=_count)
    covered: int = attrs.field(default=0, converter=_count)
    billed: tuple[BilledPart, ...] = attrs.field(default=(), converter=_parts)
    adjusted_on: tuple[BillingPeriod, ...] = attrs.field(default=(), converter=_periods)
    version: int = attrs.field(default=1, converter=_positive)

    def __attrs_post_init__(self) -> None:
        if self.covered > self.arrivals:
            raise InvalidBillingStructure(
                f"{self.covered} late arrivals covered of {self.arrivals}", field="covered"
            )

    @property
    def pending_for(self) -> AccountId | None:
        """The payer while arrivals wait for an adjustment (what its next invoice lists
        the periods to re-rate by), else ``None``."""
        return self.payer_id if self.arrivals > self.covered else None


@attrs.frozen
class InvoiceTerms:
    """What ``payer_id``'s invoice of ``period`` was priced on when it was finalized: its
    billing ``profile`` as it was then, and the ``rounding`` used. A late arrival for the
    period is re-rated on these, so a price changed after the month was finalized is not
    billed back over the whole month.

    >>> from subacct.pricing import Plan, PlanLadder
    >>> ladder = PlanLadder([Plan("2,500", 2500, Money(15, "USD"))])
    >>> terms = InvoiceTerms("m", BillingPeriod(2026, 1), BillingProfile("m", ladder))
    >>> terms.rounding
    Rounding(mode='ROUND_HALF_EVEN', digits=None)
    """

    payer_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    profile: BillingProfile = attrs.field(validator=instance_of(BillingProfile))
    rounding: Rounding = attrs.field(factory=Rounding, validator=instance_of(Rounding))

    def __attrs_post_init__(self) -> None:
        if self.profile.account_id != self.payer_id:
            raise InvalidBillingStructure(
                f"the terms of {quoted(self.payer_id)}'s invoice hold the profile of "
                f"{quoted(self.profile.account_id)}",
                account_id=self.payer_id,
                field="profile",
            )


def noted(stored: LatePeriod | None, payer_id: str, period: BillingPeriod) -> LatePeriod:
    """``stored`` (or a new ``LatePeriod``) with one more arrival."""
    if stored is None:
        return LatePeriod(payer_id, period)
    return attrs.evolve(stored, arrivals=stored.arrivals + 1, version=stored.version + 1)


def late_payer(
    account_id: str,
    period: BillingPeriod,
    invoiced_by: str | None,
    payer_id: str | None,
    finalized: Collection[str],
) -> AccountId | None:
    """The payer whose finalized invoice of ``period`` an arrival for ``account_id`` comes
    after (``None``: it is not late). ``invoiced_by``: the payer of the finalized invoice
    that bills the account's month, if one does; ``payer_id``: who pays for the account
    now; ``finalized``: the payers (of those two) whose invoice of the period is final.

    A month finalized by a payer that pays for the account no longer (a sub given its
    own profile, or moved, since) cannot be re-rated with its pool as it was billed:
    that arrival is refused (``PeriodAlreadyInvoiced``), never left off silently."""
    if invoiced_by is not None and invoiced_by != payer_id:
        raise PeriodAlreadyInvoiced(
            f"{quoted(account_id)}'s {period} is on the invoice of {quoted(invoiced_by)}, "
            f"which pays for it no longer: it cannot be re-rated",
            account_id=account_id,
            payer_id=invoiced_by,
            period=str(period),
        )
    return AccountId(payer_id) if payer_id is not None and payer_id in finalized else None


def billed_parts(invoice: Invoice) -> tuple[BilledPart, ...]:
    """What ``invoice`` bills for its own period, per account and kind of line (the
    adjustments it carries for earlier periods left out), in the order of its lines."""
    sums: dict[tuple[AccountId, LineKind], tuple[int, list[Money]]] = {}
    for line in invoice.lines:
        if line.kind is LineKind.ADJUSTMENT:
            continue
        quantity, amounts = sums.setdefault((line.account_id, line.kind), (0, []))
        sums[(line.account_id, line.kind)] = (quantity + line.quantity, [*amounts, line.amount])
    return tuple(
        BilledPart(account, kind, quantity, _total(amounts, invoice.currency))
        for (account, kind), (quantity, amounts) in sums.items()
    )


def _total(amounts: Iterable[Money], currency: str) -> Money:
    return Money(exact_sum(a.amount for a in amounts), currency)


def adjustment_lines(
    late: LatePeriod, issued: Invoice, rerated: Invoice | None, on: BillingPeriod
) -> tuple[list[InvoiceLine], LatePeriod]:
    """The adjustment lines for ``late``'s period on the payer's invoice of ``on``, and
    ``late`` with them covered. ``issued`` is the period's finalized invoice; ``rerated``
    the period priced again from what is stored now (``None``: the payer bills nothing
    in it now).

    Each account and kind of line is billed the difference between the re-rating and
    what the period billed already; a part the re-rating no longer has (an account that
    left the payer's tree) keeps what it was billed, so nothing billed is taken back by
    a structure that changed since."""
    if not on > late.period:
        raise InvalidBillingStructure(
            f"the adjustments for {late.period} go on a later invoice, not on {on}",
            field="period",
        )
    before = late.billed or billed_parts(issued)
    after = billed_parts(rerated) if rerated is not None else ()
    if after and rerated is not None and rerated.currency != issued.currency:
        raise InvalidBillingStructure(
            f"{quoted(late.payer_id)} was billed {late.period} in {issued.currency} and is "
            f"priced in {rerated.currency} now: the period cannot be re-rated",
            account_id=late.payer_id,
            field="currency",
        )
    was = {(p.account_id, p.kind): p for p in before}
    now = {(p.account_id, p.kind): p for p in after}
    lines: list[InvoiceLine] = []
    for key, part in now.items():
        old = was.get(key)
        quantity = part.quantity - (0 if old is None else old.quantity)
        amount = (
            part.amount.amount if old is None else subtract(part.amount.amount, old.amount.amount)
        )
        if quantity == 0 and amount == 0:
            continue
        lines.append(
            InvoiceLine(
                part.account_id,
                LineKind.ADJUSTMENT,
                f"adjustment for {late.period}: {_WHAT.get(part.kind, part.kind.value)}",
                max(quantity, 0),
                Money(amount, issued.currency),
            )
        )
    kept = [p for key, p in was.items() if key not in now]  # left the tree: billed as was
    covered = attrs.evolve(
        late,
        covered=late.arrivals,
        billed=(*after, *kept),
        adjusted_on=(*late.adjusted_on, on) if lines else late.adjusted_on,
        version=late.version + 1,
    )
    return lines, covered


def adjusted_invoice(
    invoice: Invoice | None,
    payer_id: str,
    period: BillingPeriod,
    currency: str,
    lines: Iterable[InvoiceLine],
) -> Invoice | None:
    """``invoice`` with the adjustment ``lines`` at its end; with no ``invoice`` (the
    payer bills nothing of its own in ``period``), an invoice of the adjustments alone
    (``None`` when there are none)."""
    extra = tuple(lines)
    if invoice is None:
        return Invoice(payer_id, period, currency, extra) if extra else None
    if not extra:
        return invoice
    return Invoice(invoice.payer_id, invoice.period, invoice.currency, (*invoice.lines, *extra))
