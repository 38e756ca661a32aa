"""Thresholds over storage (private): after quota counters or wallet balances change in
a unit of work, load the thresholds, ask the core what was crossed
(``subacct.pricing.thresholds``), save what was reached and emit the events.

Two entry points, for every path that changes the cause:

* ``after_quota(unit, chain, period, before, after)``: ``_quotas.save`` calls it with
  the counters it writes (``reserve_send``, ``record_usage``, ``release_send``, moves);
* ``after_ledger(unit, planned, currency)``: after a ledger plan is written
  (``plan_and_write`` in ``credits.execute``); a replay moved nothing and tells nothing.

What was reached is written in the same unit of work as the change, as versioned
records, so a retry, a unit run again after a lost race and a concurrent writer never
report a crossing twice: the later one reads it, or its write conflicts and it runs again.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from subacct.domain import Account, AccountId
from subacct.domain.events import CreditLow, QuotaThresholdReached, TopUpRequested
from subacct.money import Money, subtract
from subacct.pricing import BillingPeriod, QuotaState
from subacct.pricing.ledger import LedgerAccount, Plan
from subacct.pricing.ledger.accounts import LedgerAccountKind
from subacct.pricing.thresholds import (
    WalletAlerts,
    quota_crossings,
    reached_after,
    wallet_crossings,
)
from subacct.services._runner import Unit
from subacct.storage.collections import (
    QUOTA_THRESHOLDS,
    QUOTA_THRESHOLDS_REACHED,
    WALLET_ALERT_STATES,
    WALLET_ALERTS,
)

__all__ = ["after_ledger", "after_quota", "reached_key", "wallet_key"]


def reached_key(account_id: str, period: BillingPeriod) -> str:
    """The record key of what ``account_id`` reached in ``period``."""
    return f"{account_id}/{period}"


def wallet_key(account_id: str, currency: str) -> str:
    """The record key of a wallet's alerts and of its alert state."""
    return f"{account_id}/{currency}"


def after_quota(
    unit: Unit,
    chain: Sequence[Account],
    period: BillingPeriod,
    before: QuotaState,
    after: QuotaState,
) -> None:
    """Report each quota threshold of the accounts of ``chain`` that the change from
    ``before`` to ``after`` (their counters in ``period``) reached for the first time
    in the period. Costs one read when no account's volume rose under a quota."""
    rose = [a.id for a in chain if a.id in after.quotas and after.used(a.id) > before.used(a.id)]
    if not rose:
        return
    uow = unit.uow
    settings = uow.records(QUOTA_THRESHOLDS).find_many(rose)
    crossing: dict[AccountId, int] = {}
    for setting in settings.values():
        account, limit = setting.account_id, after.quotas[setting.account_id].limit
        old, new = before.used(account), after.used(account)
        if quota_crossings(setting.percents, limit, old, new, frozenset()):
            crossing[account] = limit
    if not crossing:
        return
    repo = uow.records(QUOTA_THRESHOLDS_REACHED)
    stored = repo.find_many(reached_key(a, period) for a in crossing)
    for account, limit in crossing.items():
        found = stored.get(reached_key(account, period))
        reached = frozenset(() if found is None else found.percents)
        used = after.used(account)
        percents = settings[account].percents
        crossed = quota_crossings(percents, limit, before.used(account), used, reached)
        if not crossed:
            continue
        record = reached_after(found, account, period, crossed)
        if found is None:
            repo.add(record)
        else:
            repo.update(record)
        for percent in crossed:
            unit.emit(
                QuotaThresholdReached(
                    **unit.meta().about(account),
                    period=str(period),
                    percent=percent,
                    used=used,
                    limit=limit,
                )
            )


def _wallet_deltas(planned: Plan) -> dict[AccountId, Decimal]:
    deltas: dict[AccountId, Decimal] = {}
    for change in planned.changes:
        if change.account.kind is LedgerAccountKind.WALLET and change.delta:
            owner = change.account.owner
            deltas[owner] = deltas.get(owner, Decimal(0)) + change.delta
    return deltas


def ledger_alerts(unit: Unit, planned: Plan, currency: str) -> dict[str, WalletAlerts]:
    """The alerts of the wallets ``planned`` moves, by record key (one read; none for a
    replay). Read them before the plan is written (``plan_and_write``'s
    ``before_write``): a store that sends the plan with its next statement then sends it
    with the commit, holding the balances' locks for one round trip, not two."""
    deltas = {} if planned.replayed else _wallet_deltas(planned)
    if not deltas:
        return {}
    keys = [wallet_key(a, currency) for a in deltas]
    return unit.uow.records(WALLET_ALERTS).find_many(keys)


def after_ledger(
    unit: Unit, planned: Plan, currency: str, alerts: dict[str, WalletAlerts] | None = None
) -> None:
    """Report the low-credit and auto top-up lines the wallets ``planned`` moved fell
    below (``planned`` written in this unit, in ``currency``'s ledger). ``alerts``: what
    ``ledger_alerts`` read before the write (read here when ``None``); with none, this
    reads nothing."""
    if planned.replayed:
        return
    deltas = _wallet_deltas(planned)
    if not deltas:
        return
    uow = unit.uow
    if alerts is None:
        alerts = ledger_alerts(unit, planned, currency)
    if not alerts:
        return
    ledger = uow.ledger(currency)
    # the balances first: a store that sends the plan with its next statement has
    # applied it (and waited for any concurrent writer of these balances) by then
    balances = {
        key: ledger.balance(LedgerAccount.wallet(a.account_id)) for key, a in alerts.items()
    }
    repo = uow.records(WALLET_ALERT_STATES)
    states = repo.find_many(alerts)
    for key, alert in alerts.items():
        after = balances[key]
        before = subtract(after, deltas[alert.account_id])
        stored = states.get(key)
        found = wallet_crossings(alert, stored, before, after)
        if found.changed:
            if stored is None:
                repo.add(found.state)
            else:
                repo.update(found.state)
        balance = Money(after, currency)
        if found.credit_low and alert.low_credit is not None:
            unit.emit(
                CreditLow(
                    **unit.meta().about(alert.account_id),
                    currency=currency,
                    balance=balance,
                    threshold=alert.low_credit,
                )
            )
        rule = alert.auto_top_up
        if found.top_up and rule is not None:
            unit.emit(
                TopUpRequested(
                    **unit.meta().about(alert.account_id),
                    currency=currency,
                    amount=rule.amount,
                    balance=balance,
                    below=rule.below,
                )
            )
