"""Pricing fixtures: the seed ladders (built in ``pricing_helpers``)."""

from __future__ import annotations

import pytest

from subacct.pricing import PlanLadder

from .pricing_helpers import seed000_ladder, seed001_ladder


@pytest.fixture
def ladder() -> PlanLadder:
    """Seed 000's JangoMail ladder."""
    return seed000_ladder()


@pytest.fixture
def big_ladder() -> PlanLadder:
    """Seed 000's ladder plus the 30,000 and 45,000 plans of seed 001."""
    return seed001_ladder()
