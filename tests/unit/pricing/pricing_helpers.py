"""Helpers shared by the pricing tests: the seed ladders and a few shorthands."""

from __future__ import annotations

from decimal import Decimal

from subacct.money import Money
from subacct.pricing import BillingPeriod, Plan, PlanLadder

JAN = BillingPeriod(2026, 1)


def usd(amount: str | int) -> Money:
    return Money(amount, "USD")


def seed000_ladder() -> PlanLadder:
    """JangoMail's ladder from seed 000: 2,500 = $15, 8,500 = $45, 12,000 = $60, 18,000 = $90."""
    return PlanLadder(
        [
            Plan("2,500", 2500, usd(15)),
            Plan("8,500", 8500, usd(45)),
            Plan("12,000", 12000, usd(60)),
            Plan("18,000", 18000, usd(90)),
        ]
    )


def seed001_ladder() -> PlanLadder:
    """Seed 000's ladder extended with the 30,000 and 45,000 plans seed 001 talks about.

    The seed gives no prices for them; we pick $135 and $190 (falling price per message).
    """
    return PlanLadder(
        [
            *seed000_ladder().plans,
            Plan("30,000", 30000, usd(135)),
            Plan("45,000", 45000, usd(190)),
        ]
    )


def amounts(*values: str) -> list[Decimal]:
    return [Decimal(v) for v in values]
