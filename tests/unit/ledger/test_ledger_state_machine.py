"""The ledger state machine (``subacct.testing.ledger_machine``) on the in-memory ``Ledger``.

The same machine runs on every storage adapter through ``Subacct.credits``
(``tests/adapters/test_conformance.py``, via the conformance kit).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from subacct.testing.ledger_machine import LedgerMachine

LedgerMachine.TestCase.settings = settings(
    max_examples=60,  # 40 steps each: about 2.5 s idle
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMemoryLedger = LedgerMachine.TestCase
