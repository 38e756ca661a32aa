"""``app.thresholds``: quota-percentage and low-credit thresholds, auto top-up rules.

* ``set_quota_thresholds`` / ``remove_quota_thresholds``: as ``billing.set_quota``: a
  sub's by its parent's administrators (``sub_accounts.manage`` there), a top-level
  account's by ``billing.manage`` in it (or the system);
* ``set_low_credit`` / ``remove_low_credit``, ``set_auto_top_up`` /
  ``remove_auto_top_up``: as the wallet's settings, ``billing.manage`` in the account or
  in the master that funds its wallet;
* ``quota_thresholds``, ``wallet_alerts``: ``billing.view`` in the account.

Reaching a threshold emits ``quota_threshold_reached``; a wallet falling below its line
emits ``credit_low`` and ``top_up_requested`` (once per crossing: see
``subacct.pricing.thresholds``). Changing a wallet's alerts re-arms them.

>>> import subacct
>>> from datetime import datetime, UTC
>>> from subacct import BillingPeriod, FixedClock, Quota, Settings
>>> clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
>>> app, S = subacct.Subacct(subacct.MemoryStore(), Settings(clock=clock)), subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> _ = app.billing.set_quota("agencydemo", Quota(1000), by=S)
>>> app.thresholds.set_quota_thresholds("agencydemo", [80, 100], by=S).percents
(80, 100)
>>> _ = app.billing.reserve_send("agencydemo", BillingPeriod(2026, 1), 850, key="s1", by=S)
>>> [e.event.percent for e in app.events.since(0, by=S)
...  if e.event.event_type == "quota_threshold_reached"]
[80]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from subacct.domain import AccountId
from subacct.domain.events import QuotaThresholdsSet, WalletAlertsSet
from subacct.errors import NotFound, WalletNotFound, quoted
from subacct.money import Money
from subacct.policy import MANAGE_BILLING, MANAGE_SUB_ACCOUNTS, VIEW_BILLING
from subacct.pricing import _checks
from subacct.pricing.thresholds import AutoTopUp, QuotaThresholds, WalletAlerts, quota_percents
from subacct.principals import Actor
from subacct.services import _args
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.services._thresholds import wallet_key
from subacct.storage.collections import QUOTA_THRESHOLDS, WALLET_ALERT_STATES, WALLET_ALERTS

__all__ = ["Thresholds"]


def _may_set_quota_thresholds(unit: Unit, account_id: str) -> AccountId:
    """The account, once ``by`` may set its quota thresholds (and it is open)."""
    account = unit.uow.accounts.get(AccountId(account_id))
    account.require_open()
    if account.parent_id is None:
        unit.require(MANAGE_BILLING, account.id)
    else:
        unit.require(MANAGE_SUB_ACCOUNTS, account.parent_id)
    return account.id


def _may_set_wallet_alerts(unit: Unit, account_id: str, currency: str) -> AccountId:
    """The account, once ``by`` may set its wallet's alerts in ``currency`` (it has that
    wallet and is open)."""
    account = unit.uow.accounts.get(AccountId(account_id))
    wallet = unit.uow.ledger(currency).wallet(account.id)
    if wallet is None or wallet.master_id is None:
        unit.require(MANAGE_BILLING, account.id)
    else:
        unit.require_in_either(MANAGE_BILLING, account.id, wallet.master_id)
    account.require_open()
    if wallet is None:
        raise WalletNotFound(
            f"account {quoted(account.id)} has no wallet in {currency}", account_id=account.id
        )
    return account.id


def _changed_alerts(
    unit: Unit,
    account_id: str,
    currency: str,
    change: Callable[[WalletAlerts], WalletAlerts],
    *,
    removing: str | None = None,
) -> WalletAlerts:
    """Apply ``change`` to the wallet's alerts, store them (removed once empty), re-arm
    them and emit ``wallet_alerts_set``. ``removing`` names the alert a removal needs."""
    account = _may_set_wallet_alerts(unit, account_id, currency)
    repo, key = unit.uow.records(WALLET_ALERTS), wallet_key(account, currency)
    stored = repo.find(key)
    current = stored or WalletAlerts(account, currency)
    if removing is not None and getattr(current, removing) is None:
        raise NotFound(
            f"the wallet of {quoted(account)} in {currency} has no {removing.replace('_', ' ')}",
            account_id=account,
            currency=currency,
        )
    new = change(current)
    if new.is_empty:
        repo.remove(key)
    elif stored is None:
        repo.add(new)
    else:
        repo.update(new)
    states = unit.uow.records(WALLET_ALERT_STATES)
    state = states.find(key)
    rearmed = None if state is None else state.rearmed()
    if rearmed is not None:
        states.update(rearmed)
    rule = new.auto_top_up
    unit.emit(
        WalletAlertsSet(
            **unit.meta().about(account),
            currency=currency,
            low_credit=new.low_credit,
            top_up_below=None if rule is None else rule.below,
            top_up_amount=None if rule is None else rule.amount,
        )
    )
    return new


class Thresholds:
    """Quota and credit thresholds (``app.thresholds``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def _currency(self, given: object) -> str:
        return _args.ledger_currency(given, self._runner.settings.currency)

    # -- quota thresholds -----------------------------------------------------------------

    @command
    def set_quota_thresholds(
        self, account_id: str, percents: Iterable[int], *, by: Actor
    ) -> QuotaThresholds:
        """Report ``quota_threshold_reached`` when the account's volume of a month reaches
        each of ``percents`` (whole numbers from 1 to 1000) of its own quota limit."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        wanted = quota_percents(percents)

        def work(unit: Unit) -> QuotaThresholds:
            account = _may_set_quota_thresholds(unit, where)
            repo, setting = unit.uow.records(QUOTA_THRESHOLDS), QuotaThresholds(account, wanted)
            if repo.find(account) is None:
                repo.add(setting)
            else:
                repo.update(setting)
            unit.emit(QuotaThresholdsSet(**unit.meta().about(account), percents=wanted))
            return setting

        return self._runner.command(who, work)

    @command
    def remove_quota_thresholds(self, account_id: str, *, by: Actor) -> QuotaThresholds:
        """Stop reporting the account's quota thresholds; returns the ones removed."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> QuotaThresholds:
            account = _may_set_quota_thresholds(unit, where)
            repo = unit.uow.records(QUOTA_THRESHOLDS)
            stored = repo.find(account)
            if stored is None:
                raise NotFound(
                    f"account {quoted(account)} has no quota thresholds", account_id=account
                )
            repo.remove(account)
            unit.emit(QuotaThresholdsSet(**unit.meta().about(account), percents=()))
            return stored

        return self._runner.command(who, work)

    @query
    def quota_thresholds(self, account_id: str, *, by: Actor) -> QuotaThresholds | None:
        """The account's quota thresholds, if it has any."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> QuotaThresholds | None:
            account = unit.chain(where)[0]
            unit.require(VIEW_BILLING, account.id)
            return unit.uow.records(QUOTA_THRESHOLDS).find(account.id)

        return self._runner.query(who, work)

    # -- wallet alerts --------------------------------------------------------------------

    @command
    def set_low_credit(self, account_id: str, threshold: Money, *, by: Actor) -> WalletAlerts:
        """Report ``credit_low`` when the balance of the account's wallet in
        ``threshold``'s currency falls below ``threshold``. Returns the wallet's alerts."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        line = _checks.non_negative_money(threshold, field="threshold")
        cur = line.currency

        def work(unit: Unit) -> WalletAlerts:
            return _changed_alerts(unit, where, cur, lambda a: attrs.evolve(a, low_credit=line))

        return self._runner.command(who, work, ledger=cur)

    @command
    def remove_low_credit(
        self, account_id: str, *, by: Actor, currency: str | None = None
    ) -> WalletAlerts:
        """Stop reporting ``credit_low`` for the account's wallet; returns its alerts."""
        return self._remove(account_id, by, currency, "low_credit")

    @command
    def set_auto_top_up(self, account_id: str, rule: AutoTopUp, *, by: Actor) -> WalletAlerts:
        """Emit ``top_up_requested`` (for the host's payment code) when the balance of the
        account's wallet falls below ``rule.below``. Returns the wallet's alerts."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        given = _args.of(rule, AutoTopUp, "rule")
        cur = given.below.currency

        def work(unit: Unit) -> WalletAlerts:
            return _changed_alerts(unit, where, cur, lambda a: attrs.evolve(a, auto_top_up=given))

        return self._runner.command(who, work, ledger=cur)

    @command
    def remove_auto_top_up(
        self, account_id: str, *, by: Actor, currency: str | None = None
    ) -> WalletAlerts:
        """Stop requesting top-ups for the account's wallet; returns its alerts."""
        return self._remove(account_id, by, currency, "auto_top_up")

    def _remove(self, account_id: object, by: object, currency: object, alert: str) -> WalletAlerts:
        """Remove the wallet's ``alert`` (``low_credit`` or ``auto_top_up``)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        cur = self._currency(currency)

        def work(unit: Unit) -> WalletAlerts:
            return _changed_alerts(
                unit, where, cur, lambda a: attrs.evolve(a, **{alert: None}), removing=alert
            )

        return self._runner.command(who, work, ledger=cur)

    @query
    def wallet_alerts(
        self, account_id: str, *, by: Actor, currency: str | None = None
    ) -> WalletAlerts | None:
        """The alerts of the account's wallet, if any is set."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        cur = self._currency(currency)

        def work(unit: Unit) -> WalletAlerts | None:
            account = unit.chain(where)[0]
            unit.require(VIEW_BILLING, account.id)
            return unit.uow.records(WALLET_ALERTS).find(wallet_key(account.id, cur))

        return self._runner.query(who, work)
