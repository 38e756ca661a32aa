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
  seed 000), and ``invoice``, ``credit_notes``, ``payments``; ``draft_invoice``,
  ``finalize_invoice``, ``close_period``, ``void_invoice``, ``issue_credit_note``,
  ``record_payment``: the system (a billing run, the host's payment processor).

Invoices follow the account lifecycle and the plan (``subacct.pricing.billing_run``) and
have one of their own (``subacct.pricing.invoice_lifecycle``, ``docs/invoicing.md``).

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
from subacct.domain.events import BillingProfileRemoved, BillingProfileSet
from subacct.errors import InvalidBillingStructure, InvalidInput, LifecycleError, quoted
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
from subacct.pricing.invoice_lifecycle import CreditNote, Payment, PaymentTerms, PeriodClose
from subacct.pricing.invoices import InvoiceStatus
from subacct.pricing.plan_changes import check_price_keeps_plans
from subacct.pricing.profiles import BillingProfile, PriceSpec, QuotaReservation
from subacct.principals import Actor
from subacct.services import _adjustments, _args, _invoice_lifecycle, _invoicing, _quotas, _volumes
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import (
    BILLING_PROFILES,
    CREDIT_NOTES,
    INVOICES,
    PAYMENTS,
    PLAN_CHANGES,
    QUOTAS,
    SUBSCRIPTIONS,
)

__all__ = ["Billing"]

_SET_PROFILE = Action("billing.set_profile")
_DRAFT = Action("billing.draft_invoice")
_FINALIZE = Action("billing.finalize_invoice")
_CLOSE = Action("billing.close_period")
_VOID = Action("billing.void_invoice")
_CREDIT = Action("billing.issue_credit_note")
_PAY = Action("billing.record_payment")
_BILLED = (InvoiceStatus.FINALIZED, InvoiceStatus.PAID)
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
        ``app.sending`` holds and spends each send's price). Its payment terms stay
        (``set_payment_terms``)."""
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
                PaymentTerms() if stored is None else stored.payment_terms,
            )
            if stored is None:
                repo.add(profile)
            else:
                repo.update(profile)
            self._profile_set(unit, profile)
            return profile

        return self._runner.command(who, work)

    @command
    def set_payment_terms(
        self, account_id: str, payment_terms: PaymentTerms, *, by: Actor
    ) -> BillingProfile:
        """When the payer's invoices fall due from now on (net 30 days until set): an
        invoice finalized before keeps its due date."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        terms = _args.of(payment_terms, PaymentTerms, "payment_terms")

        def work(unit: Unit) -> BillingProfile:
            account = unit.uow.accounts.get(AccountId(where))
            unit.require_system(_SET_PROFILE, account.id)
            repo = unit.uow.records(BILLING_PROFILES)
            stored = repo.get(account.id)
            profile = attrs.evolve(stored, payment_terms=terms, version=stored.version + 1)
            repo.update(profile)
            self._profile_set(unit, profile)
            return profile

        return self._runner.command(who, work)

    @staticmethod
    def _profile_set(unit: Unit, profile: BillingProfile) -> None:
        unit.emit(
            BillingProfileSet(
                **unit.meta().about(profile.account_id),
                model=_MODELS.get(type(profile.price).__name__, "custom"),
                currency=profile.price.currency,
                version=profile.version,
            )
        )

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
    def draft_invoice(
        self,
        payer_id: str,
        period: BillingPeriod | str,
        *,
        by: Actor,
        rounding: Rounding | None = None,
    ) -> Invoice:
        """Price the payer's invoice for the period and store it as a draft, for review
        (the system's billing run). Drafting again prices it again; a draft does not
        close the period (usage keeps coming in) and gets no number. A finalized
        invoice is refused (``InvoiceFinalized``); a payer with no invoice in the period
        is ``NotFound``."""
        who, payer_key, when, how = self._invoice_args(by, payer_id, period, rounding)

        def work(unit: Unit) -> Invoice:
            payer = unit.uow.accounts.get(AccountId(payer_key))
            unit.require_system(_DRAFT, payer.id)
            return _invoice_lifecycle.draft(unit, payer, when, how)

        return self._runner.command(who, work)

    @command
    def finalize_invoice(
        self,
        payer_id: str,
        period: BillingPeriod | str,
        *,
        by: Actor,
        rounding: Rounding | None = None,
    ) -> Invoice:
        """Issue the payer's invoice for the period (the system's billing run): priced
        again from what storage holds now (usage recorded after a draft is on it), given
        the next number of the payer's series (``Settings.invoice_number_format``), the
        issue time and a due date from the profile's ``payment_terms``; it also bills the
        adjustments pending for the payer's earlier months. From then on it never
        changes: what arrives for the period afterwards is billed as an adjustment on the
        payer's next invoice. Finalizing again returns it unchanged."""
        who, payer_key, when, how = self._invoice_args(by, payer_id, period, rounding)

        def work(unit: Unit) -> Invoice:
            payer = unit.uow.accounts.get(AccountId(payer_key))
            unit.require_system(_FINALIZE, payer.id)
            return _invoice_lifecycle.finalize(unit, payer, when, how)[0]

        return self._runner.command(who, work)

    @command
    def close_period(
        self, period: BillingPeriod | str, *, by: Actor, rounding: Rounding | None = None
    ) -> PeriodClose:
        """Finalize every payer's invoice of the period: each top-level tree's payers
        (its master, its standalone sub-accounts) in one unit of work of their own, so a
        run cut short leaves whole invoices and running it again finishes the rest. A
        second run changes nothing and says so (``PeriodClose.changed``)."""
        who = _args.actor(by)
        when = _args.period(period)
        how = _args.optional_of(rounding, Rounding, "rounding")

        def roots(unit: Unit) -> list[AccountId]:
            unit.require_system(_CLOSE)
            when.require_begun(unit.now)
            return sorted(a.id for a in unit.uow.accounts.all() if a.parent_id is None)

        numbers: list[str] = []
        already = 0
        for root_id in self._runner.query(who, roots):

            def work(unit: Unit, root_id: AccountId = root_id) -> tuple[list[Invoice], int]:
                unit.require_system(_CLOSE, root_id)
                root = unit.uow.accounts.get(root_id)
                return _invoice_lifecycle.close_tree(unit, root, when, how)

            done, before = self._runner.command(who, work)
            numbers += [i.number for i in done if i.number is not None]
            already += before
        return PeriodClose(when, tuple(numbers), already)

    @query
    def invoice(self, number: str, *, by: Actor) -> Invoice:
        """The invoice numbered ``number`` (``billing.view`` in its payer;
        ``InvoiceNotFound``)."""
        who, key = _args.actor(by), _args.text(number, "number")

        def work(unit: Unit) -> Invoice:
            return _invoice_lifecycle.viewed(unit, key)

        return self._runner.query(who, work)

    @command
    def void_invoice(self, number: str, *, reason: str, by: Actor) -> Invoice:
        """Cancel a finalized invoice with no payment (the system): it keeps its number,
        owes nothing and takes no credit note or payment; its period stays closed."""
        who, key, why = _args.actor(by), _args.text(number, "number"), _args.text(reason, "reason")

        def work(unit: Unit) -> Invoice:
            invoice = _invoice_lifecycle.acted_on(unit, _VOID, key)
            return _invoice_lifecycle.void(unit, invoice, why)

        return self._runner.command(who, work)

    @command
    def issue_credit_note(
        self,
        number: str,
        *,
        reason: str,
        by: Actor,
        lines: Mapping[int, Money] | None = None,
    ) -> CreditNote:
        """Correct a finalized (or paid) invoice (the system): ``lines`` maps its line
        numbers (from 0) to the amount credited on each, at most what is left of the
        line; without ``lines`` all that is left of the invoice is credited. Numbered in
        the payer's credit-note series; the part above the balance owed is a refund
        (``CreditNote.refund``). More than is left is ``CreditExceedsInvoice``."""
        who, key, why = _args.actor(by), _args.text(number, "number"), _args.text(reason, "reason")
        if lines is not None and not isinstance(lines, Mapping):
            raise InvalidInput("lines must map line numbers to Money", field="lines")
        wanted = None if lines is None else dict(lines)

        def work(unit: Unit) -> CreditNote:
            invoice = _invoice_lifecycle.acted_on(unit, _CREDIT, key)
            return _invoice_lifecycle.credit(unit, invoice, why, wanted)

        return self._runner.command(who, work)

    @command
    def record_payment(self, number: str, amount: Money, *, reference: str, by: Actor) -> Invoice:
        """Record a payment against a finalized invoice (the system: the host's payment
        processor); returns the invoice, ``PAID`` once its balance is zero. The same
        ``reference`` again changes nothing (another amount under it is
        ``IdempotencyConflict``); more than the balance is ``Overpayment``."""
        who, key = _args.actor(by), _args.text(number, "number")
        paid, ref = _args.of(amount, Money, "amount"), _args.text(reference, "reference")

        def work(unit: Unit) -> Invoice:
            invoice = _invoice_lifecycle.acted_on(unit, _PAY, key)
            return _invoice_lifecycle.pay(unit, invoice, paid, ref)

        return self._runner.command(who, work)

    @query
    def credit_notes(self, number: str, *, by: Actor) -> list[CreditNote]:
        """The credit notes of invoice ``number``, by number (``billing.view``)."""
        who, key = _args.actor(by), _args.text(number, "number")

        def work(unit: Unit) -> list[CreditNote]:
            _invoice_lifecycle.viewed(unit, key)
            return unit.uow.records(CREDIT_NOTES).list_by("invoice_number", key)

        return self._runner.query(who, work)

    @query
    def payments(self, number: str, *, by: Actor) -> list[Payment]:
        """The payments recorded against invoice ``number`` (``billing.view``)."""
        who, key = _args.actor(by), _args.text(number, "number")

        def work(unit: Unit) -> list[Payment]:
            _invoice_lifecycle.viewed(unit, key)
            found = unit.uow.records(PAYMENTS).list_by("invoice_number", key)
            return sorted(found, key=lambda p: (p.recorded_at, p.reference))

        return self._runner.query(who, work)

    @staticmethod
    def _invoice_args(
        by: object, payer_id: object, period: object, rounding: object
    ) -> tuple[Actor, str, BillingPeriod, Rounding | None]:
        return (
            _args.actor(by),
            _args.ident(payer_id, "payer_id"),
            _args.period(period),
            _args.optional_of(rounding, Rounding, "rounding"),
        )

    @query
    def invoices(self, payer_id: str, *, by: Actor) -> list[Invoice]:
        """The payer's stored invoices (drafts, finalized, paid, void), oldest period
        first (``billing.view`` there)."""
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
        """The agency's commission on its linked clients' finalized (or paid) invoices of
        the period,
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
    """Each client's finalized (or paid) invoice of the period, or else, while it has
    none (no invoice or a draft), its subscription's plan amount
    (``subscription_amount``); a void invoice earns nothing. The one place commissions
    read invoices."""
    invoices: list[Invoice] = []
    amounts: dict[str, Money] = {}
    found = unit.uow.records(INVOICES).find_many(f"{c}/{period}" for c in clients)
    for client in clients:
        invoice = found.get(f"{client}/{period}")
        if invoice is not None and invoice.final:
            if invoice.status in _BILLED:
                invoices.append(invoice)
            continue
        subscription = unit.uow.records(SUBSCRIPTIONS).find(client)
        profile = unit.uow.records(BILLING_PROFILES).find(client)
        if subscription is not None and profile is not None:
            amount = subscription_amount(subscription, profile.price, period)
            if amount is not None:
                amounts[client] = amount
    return invoices, amounts
