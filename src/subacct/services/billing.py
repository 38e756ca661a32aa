"""``app.billing``: payer profiles, usage, quotas, invoices, comparisons and commissions.

* ``set_profile`` / ``remove_profile``: a payer's price and terms are the platform's (the
  system); reading them needs ``billing.view`` in the account;
* ``record_usage``: ``messages.send`` in each record's account (or the system), only for
  an active account whose ancestors are active and for a period it is billed in; a
  repeated (period, key) counts once, other content under the same key is refused; the
  usage counts against the quotas up the tree (and settles the reservation made under
  the same key); a record on a channel missing from ``Settings.channels``
  (``UnknownChannel``) or that no charge of its payer's price bills
  (``NoMatchingCharge``) is refused, and with it the batch;
* ``set_quota``: a sub's quota is set by its parent's administrators
  (``sub_accounts.manage`` there), a top-level account's by the system;
  ``check_send`` / ``reserve_send`` / ``release_send``: ``messages.send`` in the account;
* ``preview_invoices``, ``invoices``, ``compare``, ``advise_pooling``,
  ``commission_statement``:
  ``billing.view`` in the account named (sub-accounts cannot see the master's billing,
  seed 000); ``issue_invoice``: the system (a billing run).

Invoices follow the lifecycle and the plan (``subacct.pricing.billing_run``).

>>> import subacct
>>> from datetime import datetime, UTC
>>> from subacct import BillingPeriod, FixedClock, Money, Plan, PlanLadder, Settings, UsageRecord
>>> clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
>>> app, S = subacct.Subacct(subacct.MemoryStore(), Settings(clock=clock)), subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> _ = app.accounts.create_sub("agencydemo", "Company X", account_id="agency1", by=S)
>>> usd = lambda a: Money(a, "USD")
>>> _ = app.billing.set_profile("agencydemo", PlanLadder([
...     Plan("2,500", 2500, usd(15)), Plan("8,500", 8500, usd(45)),
...     Plan("12,000", 12000, usd(60)), Plan("18,000", 18000, usd(90))]), by=S)
>>> jan = BillingPeriod(2026, 1)
>>> app.billing.record_usage([UsageRecord("agencydemo", jan, "email", 9000, "u1"),
...                           UsageRecord("agency1", jan, "email", 5300, "u2")], by=S)
2
>>> app.billing.compare("agencydemo", jan, by=S).pooled_total
Money(amount=Decimal('90'), currency='USD')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import attrs

from subacct.domain import AccountId, AccountKind, require_can_send
from subacct.domain.events import (
    BillingProfileRemoved,
    BillingProfileSet,
    InvoiceIssued,
)
from subacct.errors import (
    InvalidBillingStructure,
    LifecycleError,
    NotFound,
    quoted,
)
from subacct.money import Money
from subacct.policy import SEND_MESSAGES, VIEW_BILLING, Action
from subacct.pricing import (
    Advice,
    BillingPeriod,
    Channel,
    CommissionStatement,
    Commitment,
    Comparison,
    Invoice,
    Quota,
    QuotaCheck,
    Rounding,
    SetupFeeSchedule,
    UsageBook,
    UsageRecord,
    commission_statement,
)
from subacct.pricing.channels import Dimensions
from subacct.pricing.commissions import subscription_amount
from subacct.pricing.plan_changes import check_price_keeps_plans
from subacct.pricing.profiles import BillingProfile, PriceSpec, QuotaReservation
from subacct.principals import Actor
from subacct.services import _adjustments, _args, _invoicing, _quotas, _volumes
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import (
    BILLING_PROFILES,
    INVOICES,
    PLAN_CHANGES,
    QUOTAS,
    SUBSCRIPTIONS,
)

__all__ = ["Billing"]

_SET_PROFILE = Action("billing.set_profile")
_ISSUE = Action("billing.issue_invoice")
_USAGE_BOOK = Action("billing.usage_book")
_MODELS = {
    "PlanLadder": "ladder",
    "TieredPrice": "tiered",
    "PackagePrice": "package",
    "PriceList": "charges",
}


class Billing:
    """Payer profiles, usage, quotas and invoices (``app.billing``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    # -- payer profiles -------------------------------------------------------------------

    @command
    def set_profile(
        self,
        account_id: str,
        price: PriceSpec,
        *,
        by: Actor,
        commitment: Commitment | None = None,
        setup_fees: SetupFeeSchedule | None = None,
        commission_rate: Decimal | int | str | None = None,
        hold_fee: Money | None = None,
        prepaid: bool = False,
    ) -> BillingProfile:
        """Make the account a payer (or change its terms): its price model, its base
        commitment, the setup fees of the subs created under it, the commission it earns
        on linked clients (seed 002), the fee of a month paused throughout, and whether
        its sends are paid from prepaid credit as they go out (``prepaid``, seed 003:
        ``app.sending`` holds and spends each send's price)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> BillingProfile:
            account = unit.uow.accounts.get(AccountId(where))
            account.require_open()
            unit.require_system(_SET_PROFILE, account.id)
            repo = unit.uow.records(BILLING_PROFILES)
            stored = repo.find(account.id)
            check_price_keeps_plans(
                price,
                unit.uow.records(SUBSCRIPTIONS).find(account.id),
                unit.uow.records(PLAN_CHANGES).list_by("account_id", account.id),
            )
            profile = BillingProfile(
                account.id,
                price,
                commitment,
                setup_fees,
                commission_rate,
                1 if stored is None else stored.version + 1,
                hold_fee,
                prepaid,
            )
            if stored is None:
                repo.add(profile)
            else:
                repo.update(profile)
            unit.emit(
                BillingProfileSet(
                    **unit.meta().about(account.id),
                    model=_MODELS.get(type(profile.price).__name__, "custom"),
                    currency=profile.price.currency,
                    version=profile.version,
                )
            )
            return profile

        return self._runner.command(who, work)

    @command
    def remove_profile(self, account_id: str, *, by: Actor) -> BillingProfile:
        """The sub-account is pooled into its nearest payer again (a top-level account
        always keeps its profile). Returns the profile removed."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> BillingProfile:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require_system(_SET_PROFILE, account.id)
            if account.kind is not AccountKind.SUB:
                raise InvalidBillingStructure(
                    f"top-level account {quoted(account.id)} must keep its billing profile",
                    account_id=account.id,
                )
            repo = unit.uow.records(BILLING_PROFILES)
            profile = repo.get(account.id)
            repo.remove(account.id)
            unit.emit(BillingProfileRemoved(**unit.meta().about(account.id)))
            return profile

        return self._runner.command(who, work)

    @query
    def profile(self, account_id: str, *, by: Actor) -> BillingProfile | None:
        """The account's billing profile, if it is a payer (``billing.view`` there)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> BillingProfile | None:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require(VIEW_BILLING, account.id)
            return unit.uow.records(BILLING_PROFILES).find(account.id)

        return self._runner.query(who, work)

    # -- usage ----------------------------------------------------------------------------

    @command
    def record_usage(self, records: Iterable[UsageRecord], *, by: Actor) -> int:
        """Store usage records; returns how many were new. A record whose (period, key)
        is stored with the same content is skipped; other content is refused, and so is
        the whole batch when any record is. ``messages.send`` in each record's account
        is checked first, then that the account can send and is billed in the period."""
        who = _args.actor(by)
        batch = _args.items(records, "records", UsageRecord)
        for channel in {r.channel for r in batch}:  # the application's channels only
            self._runner.settings.channels.require(channel)
        return self._runner.command(who, lambda unit: _quotas.record_usage(unit, batch))

    @query
    def usage_book(self, period: BillingPeriod | str, *, by: Actor) -> UsageBook:
        """Every usage record of the period, of every tenant (the system only)."""
        who, when = _args.actor(by), _args.period(period)

        def work(unit: Unit) -> UsageBook:
            unit.require_system(_USAGE_BOOK)
            return UsageBook(when).ingest(unit.uow.usage.for_period(when))

        return self._runner.query(who, work)

    # -- quotas ---------------------------------------------------------------------------

    @command
    def set_quota(self, account_id: str, quota: Quota | None, *, by: Actor) -> Quota | None:
        """Set (or with ``None`` remove) the account's monthly quota. A sub's cap can never
        exceed an ancestor's limit (``QuotaCapExceedsParent``)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        wanted = _args.optional_of(quota, Quota, "quota")
        return self._runner.command(who, lambda unit: _quotas.set_quota(unit, where, wanted))

    @query
    def quota(self, account_id: str, *, by: Actor) -> Quota | None:
        """The account's own monthly quota, if it has one."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> Quota | None:
            unit.see(where)
            found = unit.uow.records(QUOTAS).find(where)
            return None if found is None else found.quota

        return self._runner.query(who, work)

    @query
    def check_send(
        self,
        account_id: str,
        period: BillingPeriod | str,
        quantity: int,
        *,
        by: Actor,
        channel: Channel | str | None = None,
        dimensions: Mapping[str, str] | None = None,
    ) -> QuotaCheck:
        """Would a send of ``quantity`` go through now? ``refusal`` says why not: the
        account (or an ancestor) is not active, a quota would be exceeded, or the payer's
        pooled volume of the period (recorded usage and open sends) would pass the top of
        its price (``VolumeAboveLadder``: a plan ladder without an overage rate). A price
        of several charges is checked on the charge that bills ``channel`` (and
        ``dimensions``); named no channel, its usage is checked when recorded."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        when, n = _args.period(period), _args.quantity(quantity)
        chosen, dims = self._channel(channel, dimensions)

        def work(unit: Unit) -> QuotaCheck:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require(SEND_MESSAGES, account.id)
            try:
                require_can_send(account, unit.uow.accounts.ancestors(account.id))
            except LifecycleError as refusal:
                return QuotaCheck(account.id, n, 0, refusal)
            when.require_begun(unit.now)
            state, chain = _quotas.load(unit.uow, account, when)
            check = _quotas.told(unit, state.check(account.id, n))
            if check.refusal is not None:
                return check
            room = _quotas.send_room(unit, chain, chosen, dims)
            above = _volumes.refusal(unit, room, when, n)
            return check if above is None else attrs.evolve(check, refusal=above)

        return self._runner.query(who, work)

    def _channel(
        self, channel: object, dimensions: object
    ) -> tuple[Channel | None, Dimensions | None]:
        """A send's channel (one of the settings' ``channels``) and dimensions, if named."""
        chosen = None if channel is None else self._runner.settings.channels.require(channel)
        return chosen, _args.dimensions(dimensions)

    @command
    def reserve_send(
        self,
        account_id: str,
        period: BillingPeriod | str,
        quantity: int,
        *,
        key: str,
        by: Actor,
        channel: Channel | str | None = None,
        dimensions: Mapping[str, str] | None = None,
    ) -> QuotaCheck:
        """Count a send against every quota up the tree and the top of its payer's price,
        or raise ``QuotaExceeded``, ``VolumeAboveLadder`` (or ``AccountNotActive``), as
        ``check_send`` would. Retrying with the same key changes nothing; the check says
        any overage. Record the send's usage under the same key to settle it. The key is
        ``account_id``'s own: other accounts' sends may use the same key."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        when, n, token = _args.period(period), _args.quantity(quantity), _args.text(key, "key")
        chosen, dims = self._channel(channel, dimensions)
        return self._runner.command(
            who,
            lambda unit: _quotas.reserve(unit, where, when, n, token, channel=chosen, dims=dims),
        )

    @command
    def release_send(
        self, account_id: str, period: BillingPeriod | str, key: str, *, by: Actor
    ) -> QuotaReservation:
        """Give back what ``account_id``'s send under ``key`` reserved (it did not go out).
        Returns the reservation released. A send's key is its account's own: another
        account's send under the same key is another reservation."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        when, token = _args.period(period), _args.text(key, "key")
        return self._runner.command(who, lambda unit: _quotas.release(unit, where, when, token))

    # -- invoices -------------------------------------------------------------------------

    @query
    def preview_invoices(
        self,
        root_id: str,
        period: BillingPeriod | str,
        *,
        by: Actor,
        rounding: Rounding | None = None,
    ) -> tuple[Invoice, ...]:
        """Every invoice of the top-level account's tree for the period (nothing stored):
        the payer's invoice with a line per pooled account, and one per standalone sub."""
        who, root_key, when = _args.actor(by), _args.ident(root_id, "root_id"), _args.period(period)
        how = _args.optional_of(rounding, Rounding, "rounding")

        def work(unit: Unit) -> tuple[Invoice, ...]:
            root = _invoicing.root_of(unit, root_key)
            unit.require(VIEW_BILLING, root.id)
            found = _invoicing.invoices_of(unit, root, when, how)
            return _adjustments.with_pending(unit, root, when, found, how)

        return self._runner.query(who, work)

    @command
    def issue_invoice(
        self,
        payer_id: str,
        period: BillingPeriod | str,
        *,
        by: Actor,
        rounding: Rounding | None = None,
    ) -> Invoice:
        """Price and store the payer's invoice for the period, once (the system's billing
        run). Issuing it again returns the stored invoice and changes nothing. What
        arrives for the period afterwards (usage, a capture, a setup fee, an upgrade) is
        billed on the payer's next invoice: that invoice re-rates each earlier period with
        late arrivals and bills the difference as ``ADJUSTMENT`` lines
        (``subacct.pricing.adjustments``). A payer with no invoice in the period (closed
        before it, created after it, pooled into another) is ``NotFound``."""
        who, payer_key, when = (
            _args.actor(by),
            _args.ident(payer_id, "payer_id"),
            _args.period(period),
        )
        how = _args.optional_of(rounding, Rounding, "rounding")

        def work(unit: Unit) -> Invoice:
            payer = unit.uow.accounts.get(AccountId(payer_key))
            unit.require_system(_ISSUE, payer.id)
            when.require_begun(unit.now)  # a month ahead has nothing to bill yet
            repo = unit.uow.records(INVOICES)
            stored = repo.find(f"{payer.id}/{when}")
            if stored is not None:
                return stored
            root = [payer, *unit.uow.accounts.ancestors(payer.id)][-1]
            found = _invoicing.invoices_of(unit, root, when, how)
            invoice = next((i for i in found if i.payer_id == payer.id), None)
            # what arrived for earlier periods after their invoices: adjustments
            invoice = _adjustments.adjust(unit, root, payer, when, invoice, how)
            if invoice is None:
                raise NotFound(
                    f"{quoted(payer.id)} has no invoice for {when}: it is not billed as a "
                    f"payer then",
                    account_id=payer.id,
                    period=str(when),
                )
            repo.add(invoice)
            _invoicing.record_issued(unit, invoice)
            unit.emit(
                InvoiceIssued(
                    **unit.meta().about(payer.id),
                    invoice_id=INVOICES.key_of(invoice),
                    period=str(when),
                    total=invoice.total,
                )
            )
            return invoice

        return self._runner.command(who, work)

    @query
    def invoices(self, payer_id: str, *, by: Actor) -> list[Invoice]:
        """The payer's issued invoices, oldest period first (``billing.view`` there)."""
        who, payer_key = _args.actor(by), _args.ident(payer_id, "payer_id")

        def work(unit: Unit) -> list[Invoice]:
            payer = unit.uow.accounts.get(AccountId(payer_key))
            unit.require(VIEW_BILLING, payer.id)
            found = unit.uow.records(INVOICES).list_by("payer_id", payer.id)
            return sorted(found, key=lambda i: (i.period.year, i.period.month))

        return self._runner.query(who, work)

    @query
    def compare(self, root_id: str, period: BillingPeriod | str, *, by: Actor) -> Comparison:
        """Seed 000's question for the top-level payer's pool: each account it bills in
        the period, standalone on the payer's model, vs the pooled volume priced once."""
        who, root_key, when = _args.actor(by), _args.ident(root_id, "root_id"), _args.period(period)

        def work(unit: Unit) -> Comparison:
            root = _invoicing.root_of(unit, root_key)
            unit.require(VIEW_BILLING, root.id)
            return _invoicing.comparison_of(unit, root, when)

        return self._runner.query(who, work)

    @query
    def advise_pooling(self, root_id: str, period: BillingPeriod | str, *, by: Actor) -> Advice:
        """Which of the accounts the top-level payer's invoice bills in the period to pool
        and which to bill standalone, for the lowest total (``subacct.pricing.advisor``):
        the payer's own usage stays pooled; a nested payer's accounts are no part of it;
        a price of several charges is advised per charge."""
        who, root_key, when = _args.actor(by), _args.ident(root_id, "root_id"), _args.period(period)

        def work(unit: Unit) -> Advice:
            root = _invoicing.root_of(unit, root_key)
            unit.require(VIEW_BILLING, root.id)
            return _invoicing.advice_of(unit, root, when)

        return self._runner.query(who, work)

    @query
    def commission_statement(
        self,
        agency_id: str,
        period: BillingPeriod | str,
        *,
        by: Actor,
        rounding: Rounding | None = None,
    ) -> CommissionStatement:
        """The agency's commission on its linked clients' issued invoices of the period,
        at the ``commission_rate`` of its billing profile (``billing.view`` there)."""
        who, agency_key, when = (
            _args.actor(by),
            _args.ident(agency_id, "agency_id"),
            _args.period(period),
        )
        how = _args.optional_of(rounding, Rounding, "rounding")

        def work(unit: Unit) -> CommissionStatement:
            agency = unit.uow.accounts.get(AccountId(agency_key))
            unit.require(VIEW_BILLING, agency.id)
            profile = unit.uow.records(BILLING_PROFILES).find(agency.id)
            if profile is None or profile.commission_rate is None:
                raise InvalidBillingStructure(
                    f"{quoted(agency.id)} has no commission_rate in its billing profile "
                    "(set_profile(..., commission_rate=...))",
                    field="commission_rate",
                    account_id=agency.id,
                )
            clients = [link.client_id for link in unit.uow.links.for_agency(agency.id)]
            invoices, amounts = _commission_bases(unit, clients, when)
            return commission_statement(
                agency.id,
                when,
                profile.commission_rate,
                invoices,
                linked_clients=clients,
                currency=None if invoices or amounts else profile.price.currency,
                rounding=how,
                subscriptions=amounts,
            )

        return self._runner.query(who, work)


def _commission_bases(
    unit: Unit, clients: list[AccountId], period: BillingPeriod
) -> tuple[list[Invoice], dict[str, Money]]:
    """Each client's issued invoice of the period, or else its subscription's plan amount
    (``subscription_amount``). The one place commissions read invoices: only issued ones
    count."""
    invoices: list[Invoice] = []
    amounts: dict[str, Money] = {}
    for client in clients:
        invoice = unit.uow.records(INVOICES).find(f"{client}/{period}")
        if invoice is not None:
            invoices.append(invoice)
            continue
        subscription = unit.uow.records(SUBSCRIPTIONS).find(client)
        profile = unit.uow.records(BILLING_PROFILES).find(client)
        if subscription is not None and profile is not None:
            amount = subscription_amount(subscription, profile.price, period)
            if amount is not None:
                amounts[client] = amount
    return invoices, amounts
