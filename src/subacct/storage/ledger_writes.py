"""Planning a ledger operation against a store's ledger and writing the plan.

``plan_and_write`` is the loop every writer of the credit ledger runs inside its unit of
work (``app.credits`` does; so can a host's own job working at the port level).

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import TopUp, Wallet, allow_all
>>> from subacct.storage import MemoryStore
>>> from subacct.storage.ledger_writes import plan_and_write
>>> store = MemoryStore()
>>> with store.unit_of_work() as uow:
...     ledger = uow.ledger("EUR")
...     ledger.put_wallet(Wallet("acme"))
...     buy = TopUp(account_id="acme", amount=Money(5, "EUR"), key="t1",
...                 at=datetime(2026, 1, 1, tzinfo=UTC))
...     plan_and_write(ledger, buy, allow_all).receipt.operation.value
...     uow.commit()
'top_up'
"""

from __future__ import annotations

from collections.abc import Callable

from subacct.errors import ConcurrentModification, StalePlan, SubacctError, quoted
from subacct.pricing.ledger import Authorizer, LedgerRequest, LedgerView, Plan, plan
from subacct.storage.ports import LedgerRepository

__all__ = ["plan_and_write", "planning_view"]


def planning_view(ledger: LedgerRepository) -> LedgerView:
    """The view ``plan_and_write`` plans against: ``ledger.planning_view()`` where offered
    (``PlansFromCache``), else the ledger itself. Reads through it are what a plan rests
    on (an adapter checks them when the plan is written)."""
    cached = getattr(ledger, "planning_view", None)  # PlansFromCache (isinstance is slow)
    return cached() if cached is not None else ledger


def plan_and_write(
    ledger: LedgerRepository,
    request: LedgerRequest,
    authorize: Authorizer,
    *,
    attempts: int = 10,
    before_write: Callable[[Plan], Plan | None] | None = None,
) -> Plan:
    """Plan ``request`` against ``ledger`` and write the plan, in the caller's unit of work.

    A ledger that offers a ``planning_view`` (``PlansFromCache``: the PostgreSQL adapter)
    is planned against that view, whose reads may come from a cache; its ``write_plan``
    has the server check the plan when it is sent (with the next statement or the commit,
    where a stale plan is a ``ConcurrentModification``: re-run the unit of work).

    A ``StalePlan`` from ``write_plan`` (the stored state moved after planning; nothing was
    written) plans again in the same unit of work. A refusal is raised only once
    ``confirm_reads`` says the reads it rests on still hold (reads from a cache, or made at
    different moments under READ COMMITTED, could disagree with the stored state);
    otherwise it plans again. After ``attempts`` plans, ``ConcurrentModification`` asks the
    caller to re-run the whole unit of work.

    ``before_write`` sees each plan (the request authorized, its replay answered) before it
    is written; raising there refuses the request with nothing written, and a plan it
    returns is written instead (the same plan with more to write or rest on: the credit
    grants mark a wallet's first grant so).
    """
    view = planning_view(ledger)
    for _ in range(attempts):
        try:
            planned = plan(view, request, authorize)
        except ConcurrentModification:
            raise
        except SubacctError:
            if ledger.confirm_reads():  # the refusal rests on one consistent state
                raise
            continue
        if before_write is not None:
            planned = before_write(planned) or planned
        try:
            ledger.write_plan(planned)
        except StalePlan:
            continue
        return planned
    raise ConcurrentModification(f"operation {quoted(request.key)} kept meeting concurrent writes")
