"""Billing over storage: payer profiles, usage, quotas, invoices and commissions.

``BillingService`` extends ``PolicyService`` with the pricing core (``subacct.pricing``)
run against what the store holds, each call in one unit of work:

* ``set_billing_profile`` makes an account a payer (its own price model and invoice);
  accounts below it without a profile are pooled into it.
* ``record_usage`` stores usage records; a repeated (period, idempotency key) counts once
  and the same key with other content is ``IdempotencyConflict``; the whole batch is
  refused if any record is.
* ``set_quota`` / ``reserve_send`` / ``release_send``: monthly quotas along the tree;
  a send over a hard limit is refused with ``QuotaExceeded`` (``over_quota``).
* ``preview_invoices`` prices a period without writing; ``issue_invoice`` stores a payer's
  invoice once per period and emits ``InvoiceIssued``.
* ``compare`` gives the seed 000 table: each account standalone vs the pool.
* ``commission_statement``: an agency's share of its linked clients' invoices.

>>> import subacct
>>> from subacct.money import Money
>>> from subacct.pricing import BillingPeriod, Plan, PlanLadder
>>> svc = subacct.BillingService(subacct.MemoryStore())
>>> _ = svc.create_master("Agency Demo", account_id="agencydemo")
>>> _ = svc.create_sub("agencydemo", "Company X", account_id="agency1")
>>> usd = lambda a: Money(a, "USD")
>>> _ = svc.set_billing_profile("agencydemo", PlanLadder([
...     Plan("2,500", 2500, usd(15)), Plan("8,500", 8500, usd(45)),
...     Plan("12,000", 12000, usd(60)), Plan("18,000", 18000, usd(90))]))
>>> jan = BillingPeriod(2026, 1)
>>> _ = svc.record_usage([subacct.UsageRecord("agencydemo", jan, "email", 9000, "u1"),
...                       subacct.UsageRecord("agency1", jan, "email", 5300, "u2")])
>>> svc.compare("agencydemo", jan).pooled_total
Money(amount=Decimal('90'), currency='USD')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from subacct.domain import Account, AccountId, AccountKind
from subacct.domain.events import InvoiceIssued
from subacct.errors import (
    IdempotencyConflict,
    InvalidBillingStructure,
    InvalidInput,
    NotFound,
    ReservationNotFound,
)
from subacct.policy_service import PolicyService
from subacct.pricing import (
    BillingPeriod,
    BillingStructure,
    CommissionStatement,
    Commitment,
    Comparison,
    Invoice,
    InvoiceLine,
    Quota,
    QuotaCheck,
    QuotaState,
    Rounding,
    SetupFeeSchedule,
    UsageBook,
    UsageRecord,
    build_invoices,
    commission_statement,
    compare,
)
from subacct.pricing.profiles import (
    BillingProfile,
    PriceSpec,
    QuotaCounter,
    QuotaReservation,
    QuotaSetting,
)
from subacct.service import _base, event_meta
from subacct.storage.collections import (
    BILLING_PROFILES,
    INVOICES,
    QUOTA_COUNTERS,
    QUOTA_RESERVATIONS,
    QUOTAS,
    USAGE,
)
from subacct.storage.ports import UnitOfWork

__all__ = ["BillingService"]


def _period_key(period: BillingPeriod) -> str:
    if not isinstance(period, BillingPeriod):
        raise InvalidInput("period must be a BillingPeriod", field="period")
    return str(period)


class BillingService(PolicyService):
    """``PolicyService`` plus pooled, tiered billing over the same store."""

    # -- payer profiles -------------------------------------------------------------------

    def set_billing_profile(
        self,
        account_id: str,
        price: PriceSpec,
        *,
        commitment: Commitment | None = None,
        setup_fees: SetupFeeSchedule | None = None,
        commission_rate: object = None,
    ) -> BillingProfile:
        """Make the account a payer (or change its terms); system level."""

        def run(uow: UnitOfWork) -> BillingProfile:
            account = uow.accounts.get(AccountId(account_id))
            repo = uow.records(BILLING_PROFILES)
            stored = repo.find(account.id)
            version = 1 if stored is None else stored.version + 1
            profile = BillingProfile(
                account.id, price, commitment, setup_fees, commission_rate, version
            )
            if stored is None:
                repo.add(profile)
            else:
                repo.update(profile)
            return profile

        return self._write(run)

    def remove_billing_profile(self, account_id: str) -> None:
        """The sub-account is pooled into its nearest payer again (masters always pay)."""

        def run(uow: UnitOfWork) -> None:
            account = uow.accounts.get(AccountId(account_id))
            if account.kind is not AccountKind.SUB:
                raise InvalidBillingStructure(
                    f"top-level account {account.id!r} must keep its billing profile",
                    account_id=account.id,
                )
            uow.records(BILLING_PROFILES).remove(account.id)

        self._write(run)

    def billing_profile(self, account_id: str) -> BillingProfile | None:
        return self._read(lambda uow: uow.records(BILLING_PROFILES).find(account_id))

    # -- usage ----------------------------------------------------------------------------

    def record_usage(self, records: Iterable[UsageRecord]) -> int:
        """Store usage records; returns how many were new. A record whose (period, key)
        is already stored with the same content is skipped; other content is refused."""
        batch = list(records)
        for record in batch:
            if not isinstance(record, UsageRecord):
                raise InvalidInput(f"expected a UsageRecord, got {type(record).__name__}")

        def run(uow: UnitOfWork) -> int:
            repo = uow.records(USAGE)
            seen: dict[str, UsageRecord] = {}
            new = 0
            for record in batch:
                key = USAGE.key_of(record)
                stored = seen.get(key) or repo.find(key)
                if stored is not None:
                    if stored != record:
                        raise IdempotencyConflict(
                            f"usage key {record.idempotency_key!r} of {record.period} was "
                            "recorded with other content",
                            key=record.idempotency_key,
                        )
                    continue
                uow.accounts.get(record.account_id)
                repo.add(record)
                seen[key] = record
                new += 1
            return new

        return self._write(run)

    def usage_book(self, period: BillingPeriod) -> UsageBook:
        """Every usage record of the period, aggregated."""
        key = _period_key(period)
        records = self._read(lambda uow: uow.records(USAGE).list_by("period", key))
        return UsageBook(period).ingest(records)

    def usage_by_label(self, account_id: str, period: BillingPeriod) -> dict[str | None, int]:
        """The account's volume per label (seed 003: labels for analysis inside a sub)."""
        return self.usage_book(period).by_label(account_id)

    def subtree_usage(self, account_id: str, period: BillingPeriod) -> int:
        """Volume of the account and everything below it."""
        below = [account_id, *self.descendants(account_id)]
        return self.usage_book(period).total_of(below)

    # -- quotas ---------------------------------------------------------------------------

    def set_quota(self, account_id: str, quota: Quota | None) -> None:
        """Set (or with ``None`` remove) the account's monthly quota. A sub's cap can
        never exceed an ancestor's limit (``QuotaCapExceedsParent``)."""

        def run(uow: UnitOfWork) -> None:
            account = uow.accounts.get(AccountId(account_id))
            chain = [account, *uow.accounts.ancestors(account.id)]
            below = uow.accounts.descendants(account.id)
            state = QuotaState(
                BillingPeriod(2000, 1),  # caps do not depend on the period
                {a.id: a.parent_id for a in [*chain, *below] if a.parent_id is not None},
                self._quotas(uow, [*chain, *below]),
            )
            state.with_quota(account.id, quota)  # raises when a cap would be broken
            repo = uow.records(QUOTAS)
            if quota is None:
                if repo.find(account.id) is not None:
                    repo.remove(account.id)
            elif repo.find(account.id) is None:
                repo.add(QuotaSetting(account.id, quota))
            else:
                repo.update(QuotaSetting(account.id, quota))

        self._write(run)

    def _quotas(self, uow: UnitOfWork, accounts: Sequence[Account]) -> dict[str, Quota]:
        repo = uow.records(QUOTAS)
        return {a.id: s.quota for a in accounts if (s := repo.find(a.id)) is not None}

    def _quota_state(
        self, uow: UnitOfWork, account_id: str, period: BillingPeriod
    ) -> tuple[QuotaState, list[Account]]:
        account = uow.accounts.get(AccountId(account_id))
        chain = [account, *uow.accounts.ancestors(account.id)]
        counters = uow.records(QUOTA_COUNTERS)
        used: dict[str, int] = {
            a.id: c.used
            for a in chain
            if (c := counters.find(f"{a.id}/{_period_key(period)}")) is not None
        }
        parents: dict[str, str] = {a.id: a.parent_id for a in chain if a.parent_id is not None}
        return QuotaState.restore(period, parents, self._quotas(uow, chain), used), chain

    def check_send(self, account_id: str, period: BillingPeriod, quantity: int) -> QuotaCheck:
        """Would a send of ``quantity`` fit? ``refusal`` is the ``QuotaExceeded`` if not."""
        return self._read(lambda uow: self._quota_state(uow, account_id, period)[0]).check(
            account_id, quantity
        )

    def reserve_send(
        self, account_id: str, period: BillingPeriod, quantity: int, *, key: str
    ) -> QuotaCheck:
        """Count a send against every quota up the tree, or raise ``QuotaExceeded``.
        Retrying with the same key changes nothing; the check says any overage."""

        def run(uow: UnitOfWork) -> QuotaCheck:
            state, chain = self._quota_state(uow, account_id, period)
            decision = state.check(account_id, quantity)
            reservations = uow.records(QUOTA_RESERVATIONS)
            stored = reservations.find(f"{_period_key(period)}/{key}")
            if stored is not None:
                if (stored.account_id, stored.quantity) != (chain[0].id, decision.requested):
                    raise IdempotencyConflict(
                        f"reservation key {key!r} was used for another send", key=key
                    )
                return QuotaCheck(stored.account_id, stored.quantity, stored.overage, None)
            reservation = QuotaReservation(
                period, key, chain[0].id, decision.requested, decision.overage
            )
            if decision.refusal is not None:
                raise decision.refusal
            reservations.add(reservation)
            self._count(uow, chain, period, decision.requested)
            return decision

        return self._write(run)

    def release_send(self, period: BillingPeriod, key: str) -> None:
        """Give back what the send with ``key`` reserved (it did not go out)."""

        def run(uow: UnitOfWork) -> None:
            reservations = uow.records(QUOTA_RESERVATIONS)
            stored = reservations.find(f"{_period_key(period)}/{key}")
            if stored is None:
                raise ReservationNotFound(f"no reservation under key {key!r}", key=key)
            account = uow.accounts.get(stored.account_id)
            chain = [account, *uow.accounts.ancestors(account.id)]
            reservations.remove(QUOTA_RESERVATIONS.key_of(stored))
            self._count(uow, chain, period, -stored.quantity)

        self._write(run)

    def _count(
        self, uow: UnitOfWork, chain: Sequence[Account], period: BillingPeriod, delta: int
    ) -> None:
        counters = uow.records(QUOTA_COUNTERS)
        for account in chain:
            stored = counters.find(f"{account.id}/{_period_key(period)}")
            if stored is None:
                counters.add(QuotaCounter(account.id, period, delta))
            else:
                counters.update(
                    QuotaCounter(account.id, period, stored.used + delta, stored.version + 1)
                )

    # -- invoices -------------------------------------------------------------------------

    def _structure(self, uow: UnitOfWork, root_id: str) -> tuple[BillingStructure, list[Account]]:
        root = uow.accounts.get(AccountId(root_id))
        if root.parent_id is not None:
            raise InvalidBillingStructure(
                f"{root.id!r} is a sub-account; bill its top-level account", account_id=root.id
            )
        accounts = [root, *uow.accounts.descendants(root.id)]
        profiles = uow.records(BILLING_PROFILES)
        payers = [p.payer() for a in accounts if (p := profiles.find(a.id)) is not None]
        parents = {a.id: a.parent_id for a in accounts if a.parent_id is not None}
        return BillingStructure(payers, parents), accounts

    def _fee_lines(
        self,
        uow: UnitOfWork,
        structure: BillingStructure,
        accounts: Sequence[Account],
        period: BillingPeriod,
    ) -> list[InvoiceLine]:
        """Setup fees of the subs created in ``period``, numbered among all subs ever
        created under the same payer (a discount never re-prices an earlier fee)."""
        lines: list[InvoiceLine] = []
        profiles = uow.records(BILLING_PROFILES)
        by_payer: dict[AccountId, list[Account]] = {}
        for account in accounts:
            if account.kind is AccountKind.SUB:
                by_payer.setdefault(structure.payer_of(account.id), []).append(account)
        for payer_id, subs in by_payer.items():
            profile = profiles.find(payer_id)
            if profile is None or profile.setup_fees is None:
                continue
            subs.sort(key=lambda a: (a.created_at, a.id))
            for ordinal, sub in enumerate(subs, start=1):
                created = BillingPeriod(sub.created_at.year, sub.created_at.month)
                if created == period:
                    lines += profile.setup_fees.lines([sub.id], already=ordinal - 1)
        return lines

    def _invoices(
        self, uow: UnitOfWork, root_id: str, period: BillingPeriod, rounding: Rounding | None
    ) -> tuple[Invoice, ...]:
        structure, accounts = self._structure(uow, root_id)
        ids = {a.id for a in accounts}
        usage = [
            r
            for r in uow.records(USAGE).list_by("period", _period_key(period))
            if r.account_id in ids
        ]
        book = UsageBook(period).ingest(usage)
        fees = self._fee_lines(uow, structure, accounts, period)
        return build_invoices(structure, book, period, rounding=rounding, extra_lines=fees)

    def preview_invoices(
        self, root_id: str, period: BillingPeriod, *, rounding: Rounding | None = None
    ) -> tuple[Invoice, ...]:
        """Every invoice of the top-level account's tree for the period (nothing stored):
        the payer's invoice with a line per pooled account, and one per standalone sub."""
        return self._read(lambda uow: self._invoices(uow, root_id, period, rounding))

    def issue_invoice(
        self, payer_id: str, period: BillingPeriod, *, rounding: Rounding | None = None
    ) -> Invoice:
        """Price and store the payer's invoice for the period, once. Issuing it again
        returns the stored invoice and changes nothing."""

        def run(uow: UnitOfWork) -> Invoice:
            repo = uow.records(INVOICES)
            stored = repo.find(f"{payer_id}/{_period_key(period)}")
            if stored is not None:
                return stored
            payer = uow.accounts.get(AccountId(payer_id))
            root = ([payer, *uow.accounts.ancestors(payer.id)])[-1]
            found = [i for i in self._invoices(uow, root.id, period, rounding)]
            invoice = next((i for i in found if i.payer_id == payer.id), None)
            if invoice is None:
                raise NotFound(f"{payer_id!r} is not a payer", account_id=payer_id)
            repo.add(invoice)
            meta = event_meta(self, None)
            uow.events.append(
                InvoiceIssued(
                    **_base(meta, payer.id),
                    invoice_id=INVOICES.key_of(invoice),
                    period=str(period),
                    total=invoice.total,
                )
            )
            return invoice

        return self._write(run)

    def invoices(self, payer_id: str) -> list[Invoice]:
        """The payer's issued invoices, oldest period first."""
        found = self._read(lambda uow: uow.records(INVOICES).list_by("payer_id", payer_id))
        return sorted(found, key=lambda i: (i.period.year, i.period.month))

    # -- comparison and commissions -------------------------------------------------------

    def compare(self, root_id: str, period: BillingPeriod) -> Comparison:
        """Seed 000's question for a payer's pool: each account billed standalone on the
        payer's model vs the pooled volume priced once."""

        def run(uow: UnitOfWork) -> Comparison:
            structure, _ = self._structure(uow, root_id)
            payer = structure.payer(root_id)
            volumes: Mapping[str, int] = {a: 0 for a in structure.members(payer.account_id)}
            book = UsageBook(period).ingest(
                r
                for r in uow.records(USAGE).list_by("period", _period_key(period))
                if r.account_id in volumes
            )
            return compare(payer.price, {a: book.total(a) for a in volumes})

        return self._read(run)

    def commission_statement(
        self, agency_id: str, period: BillingPeriod, *, rounding: Rounding | None = None
    ) -> CommissionStatement:
        """The agency's commission on its linked clients' issued invoices of the period,
        at the ``commission_rate`` of the agency's billing profile."""

        def run(uow: UnitOfWork) -> CommissionStatement:
            profile = uow.records(BILLING_PROFILES).find(agency_id)
            if profile is None or profile.commission_rate is None:
                raise InvalidBillingStructure(
                    f"{agency_id!r} has no commission rate in its billing profile",
                    account_id=agency_id,
                )
            clients = [link.client_id for link in uow.links.for_agency(AccountId(agency_id))]
            invoices = [
                inv
                for c in clients
                if (inv := uow.records(INVOICES).find(f"{c}/{_period_key(period)}")) is not None
            ]
            currency = None if invoices else profile.price.currency
            return commission_statement(
                agency_id,
                period,
                profile.commission_rate,
                invoices,
                linked_clients=clients,
                currency=currency,
                rounding=rounding,
            )

        return self._read(run)
