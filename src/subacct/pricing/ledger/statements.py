"""Statements: per ledger account and period, opening balance, every movement, closing.

Periods are half-open, ``start <= at < end``. Lines are in time order (ledger order for
equal times); each shows the signed amount (in positive, out negative), the other ledger
account and the running balance. A statement reconciles by construction: ``closing ==
opening + money_in - money_out`` and the last line's balance is the closing balance.
Amounts are exact ``Decimal``; statements unstructure with ``subacct.serialization``.
Balances never leave the bounds of ``subacct.money`` (the ledger refuses a move that would
take one past ``MAX_AMOUNT``), but ``money_in`` and ``money_out`` add up every movement of
the period: one whose flows pass ``MAX_AMOUNT`` raises ``AmountOutOfBounds``; a shorter
period always has a statement (a single movement is an amount).

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import LedgerAccount, OperationKind, Transfer, statement
>>> t = lambda day: datetime(2026, 1, day, tzinfo=UTC)
>>> wallet = LedgerAccount.wallet("acme")
>>> log = [
...     Transfer(key="t1", index=0, operation=OperationKind.TOP_UP, at=t(1),
...              source=LedgerAccount.external("acme"), destination=wallet,
...              amount=Money("50", "EUR")),
...     Transfer(key="s1", index=0, operation=OperationKind.SPEND, at=t(3),
...              source=wallet, destination=LedgerAccount.spent("acme"),
...              amount=Money("7.25", "EUR")),
... ]
>>> s = statement(wallet, log, start=t(2), end=t(4), currency="EUR")
>>> str(s.opening), [str(line.amount) for line in s.lines], str(s.closing)
('50 EUR', ['-7.25 EUR'], '42.75 EUR')
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from subacct.domain._validate import utc_timestamp
from subacct.errors import InvalidInput
from subacct.money import Money, add, subtract
from subacct.pricing.ledger.accounts import LedgerAccount
from subacct.pricing.ledger.records import OperationKind, Transfer

__all__ = [
    "Statement",
    "StatementLine",
    "period_statement",
    "replay_balances",
    "statement",
]

_ZERO: Final = Decimal(0)


@attrs.frozen
class StatementLine:
    """One movement seen from the statement's account."""

    transfer_id: str
    operation: OperationKind
    at: datetime
    counterparty: LedgerAccount
    amount: Money
    balance: Money
    reference: str = ""


def _period_start(value: object) -> datetime:
    return utc_timestamp(value, field="start")


def _period_end(value: object) -> datetime:
    return utc_timestamp(value, field="end")


@attrs.frozen
class Statement:
    """The account's movements in ``[start, end)`` between its opening and closing."""

    account: LedgerAccount
    start: datetime = attrs.field(converter=_period_start)
    end: datetime = attrs.field(converter=_period_end)
    opening: Money
    lines: tuple[StatementLine, ...]
    money_in: Money
    money_out: Money
    closing: Money

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidInput("a statement period must end after it starts", field="end")
        last = self.lines[-1].balance if self.lines else self.opening
        moved = subtract(self.money_in.amount, self.money_out.amount)
        if add(self.opening.amount, moved) != self.closing.amount or last != self.closing:
            raise InvalidInput("statement does not reconcile", field="closing")


def _line(account: LedgerAccount, transfer: Transfer, running: Decimal) -> StatementLine:
    incoming = transfer.destination == account
    amount = transfer.amount if incoming else -transfer.amount
    return StatementLine(
        transfer.id,
        transfer.operation,
        transfer.at,
        transfer.source if incoming else transfer.destination,
        amount,
        Money(running, transfer.amount.currency),
        transfer.reference,
    )


def _check(transfer: Transfer, currency: str) -> None:
    if transfer.amount.currency != currency:
        raise InvalidInput(
            f"transfer {transfer.id} is in {transfer.amount.currency}, not {currency}",
            field="currency",
        )


def period_statement(
    account: LedgerAccount,
    opening: Money,
    transfers: Iterable[Transfer],
    *,
    start: datetime,
    end: datetime,
) -> Statement:
    """A statement from an opening balance and the period's transfers touching ``account``
    (a store sums the opening in its query; transfers outside the period are refused)."""
    start, end = _period_start(start), _period_end(end)
    currency = opening.currency
    running, money_in, money_out = opening.amount, _ZERO, _ZERO
    touching = [t for t in transfers if account in (t.source, t.destination)]
    lines = []
    for transfer in sorted(touching, key=lambda t: t.at):
        _check(transfer, currency)
        if not start <= transfer.at < end:
            raise InvalidInput(f"transfer {transfer.id} is outside the period", field="at")
        if transfer.destination == account:
            money_in = add(money_in, transfer.amount.amount)
            running = add(running, transfer.amount.amount)
        else:
            money_out = add(money_out, transfer.amount.amount)
            running = subtract(running, transfer.amount.amount)
        lines.append(_line(account, transfer, running))
    return Statement(
        account,
        start,
        end,
        opening,
        tuple(lines),
        Money(money_in, currency),
        Money(money_out, currency),
        Money(running, currency),
    )


def statement(
    account: LedgerAccount,
    transfers: Iterable[Transfer],
    *,
    start: datetime,
    end: datetime,
    currency: str,
) -> Statement:
    """The statement of ``account`` for ``[start, end)`` from a transfer log (any order)."""
    start, end = _period_start(start), _period_end(end)
    opening = _ZERO
    in_period = []
    for transfer in transfers:
        if account not in (transfer.source, transfer.destination):
            continue
        _check(transfer, currency)
        if transfer.at < start:
            if transfer.destination == account:
                opening = add(opening, transfer.amount.amount)
            else:
                opening = subtract(opening, transfer.amount.amount)
        elif transfer.at < end:
            in_period.append(transfer)
    return period_statement(account, Money(opening, currency), in_period, start=start, end=end)


def replay_balances(transfers: Iterable[Transfer]) -> dict[LedgerAccount, Decimal]:
    """Every ledger account's balance recomputed from the transfer log alone.

    >>> replay_balances([])
    {}
    """
    balances: dict[LedgerAccount, Decimal] = {}
    for transfer in transfers:
        amount = transfer.amount.amount
        balances[transfer.source] = subtract(balances.get(transfer.source, _ZERO), amount)
        balances[transfer.destination] = add(balances.get(transfer.destination, _ZERO), amount)
    return balances
