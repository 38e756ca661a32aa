"""Loading what a period's invoices rest on (private; the rules are in
``subacct.pricing.billing_run``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from subacct.domain import Account, AccountId
from subacct.domain.lifecycle import StatusHistory
from subacct.errors import InvalidBillingStructure, quoted
from subacct.pricing import BillingPeriod, Invoice, PriceList, Rounding, UsageRecord, billing_run
from subacct.pricing.advisor import Advice, advise_pooling, advise_pooling_charges
from subacct.pricing.billing_run import (
    invoiced_accounts,
    payer_in,
    period_comparison,
    period_invoices,
)
from subacct.pricing.charges import charge_for
from subacct.pricing.invoices import InvoiceStatus
from subacct.pricing.pooling import Comparison
from subacct.pricing.profiles import BillingProfile
from subacct.pricing.usage import UsageSlice
from subacct.services._runner import Unit
from subacct.storage.collections import (
    BILLING_PROFILES,
    INVOICED_ACCOUNTS,
    INVOICES,
    PLAN_CHANGES,
    STATUS_HISTORY,
    SUBSCRIPTIONS,
)


def root_of(unit: Unit, account_id: str) -> Account:
    """The top-level account a tree is billed from (a sub-account is refused)."""
    account = unit.uow.accounts.get(AccountId(account_id))
    if account.parent_id is not None:
        raise InvalidBillingStructure(
            f"{quoted(account.id)} is a sub-account; bill its top-level account",
            account_id=account.id,
        )
    return account


def usage_of(
    unit: Unit,
    accounts: Sequence[Account],
    period: BillingPeriod,
    profiles: Mapping[AccountId, BillingProfile],
) -> tuple[dict[str, int], dict[str, dict[UsageSlice, int]] | None]:
    """Each account's recorded volume in ``period`` (accounts with none left out), summed
    by storage; and, when a payer of the tree is priced by charges, each account's volume
    per channel and dimensions (else ``None``: one sum per account is read)."""
    ids = [a.id for a in accounts]
    if not any(isinstance(p.price, PriceList) for p in profiles.values()):
        return {str(a): n for a, n in unit.uow.usage.totals(period, ids).items()}, None
    slices = unit.uow.usage.slice_totals(period, ids)
    totals = {str(a): sum(parts.values()) for a, parts in slices.items()}
    return totals, {str(a): parts for a, parts in slices.items()}


def require_uninvoiced(
    unit: Unit, account: Account, ancestors: Sequence[Account], period: BillingPeriod
) -> None:
    """Refuse to bill more for ``account``'s ``period`` once an issued invoice bills it,
    or once its payer's invoice of the period is issued
    (``subacct.pricing.billing_run.require_uninvoiced``)."""
    Payers(unit, {account.id: (account, list(ancestors))}, [period]).require_uninvoiced(
        account, ancestors, period
    )


class Payers:
    """``require_uninvoiced`` for many accounts and periods, from a few reads: what
    ``chains`` (each account and its ancestors) and ``periods`` can need is read at
    once."""

    def __init__(
        self,
        unit: Unit,
        chains: Mapping[str, tuple[Account, Sequence[Account]]],
        periods: Iterable[BillingPeriod],
    ) -> None:
        uow = unit.uow
        months = list(dict.fromkeys(periods))
        ids = list(dict.fromkeys(a.id for c, above in chains.values() for a in (c, *above)))
        self._on = uow.records(INVOICED_ACCOUNTS).find_many(
            f"{p}/{a}" for p in months for a in chains
        )
        self._profiles = uow.records(BILLING_PROFILES).find_many(ids)
        self._paying = set(self._profiles)
        self._charged = any(isinstance(p.price, PriceList) for p in self._profiles.values())
        payers = {
            payer_in([a.id for a in (c, *above)], self._paying) for c, above in chains.values()
        }
        self._issued = finalized_among(
            unit, [(payer, p) for payer in payers if payer is not None for p in months]
        )

    def require_uninvoiced(
        self, account: Account, ancestors: Sequence[Account], period: BillingPeriod
    ) -> None:
        on = self._on.get(f"{period}/{account.id}")
        if on is not None:
            billing_run.require_uninvoiced(account.id, period, on.payer_id, True)
        payer = payer_in([a.id for a in (account, *ancestors)], self._paying)
        invoiced = payer is not None and f"{payer}/{period}" in self._issued
        billing_run.require_uninvoiced(account.id, period, payer, invoiced)

    def require_charged(
        self, record: UsageRecord, account: Account, ancestors: Sequence[Account]
    ) -> None:
        """Refuse (``NoMatchingCharge``, field ``channel``) a record that no charge of its
        payer's price bills."""
        if not self._charged:  # one model bills every channel
            return
        payer = payer_in([a.id for a in (account, *ancestors)], self._paying)
        if payer is not None:
            charge_for(self._profiles[payer].price, record.channel, record.dimensions)


def finalized_among(unit: Unit, invoices: Iterable[tuple[str, BillingPeriod]]) -> set[str]:
    """Which of the (payer, period) ``invoices`` have their invoice finalized (finalized,
    paid or void: not a draft), as ``"payer/period"`` keys. The one place that answers
    "is this period closed for this payer?": a finalized invoice is what closes it."""
    found = unit.uow.records(INVOICES).find_many(f"{payer}/{p}" for payer, p in invoices)
    return {key for key, invoice in found.items() if invoice.status is not InvoiceStatus.DRAFT}


def finalized(unit: Unit, payer_id: str, period: BillingPeriod) -> bool:
    """Whether the payer's invoice for ``period`` is finalized (``finalized_among``)."""
    return bool(finalized_among(unit, [(payer_id, period)]))


def invoiced_in(
    unit: Unit, accounts: Sequence[Account], period: BillingPeriod
) -> dict[AccountId, AccountId]:
    """The accounts of ``accounts`` on an issued invoice of ``period``, with its payer."""
    found = unit.uow.records(INVOICED_ACCOUNTS).find_many(f"{period}/{a.id}" for a in accounts)
    return {on.account_id: on.payer_id for on in found.values()}


def record_issued(unit: Unit, invoice: Invoice) -> None:
    """Note which accounts the just-finalized ``invoice`` bills (``invoiced_accounts``)."""
    repo = unit.uow.records(INVOICED_ACCOUNTS)
    for on in invoiced_accounts(invoice):
        repo.add(on)


def invoices_of(
    unit: Unit, root: Account, period: BillingPeriod, rounding: Rounding | None
) -> tuple[Invoice, ...]:
    """Every invoice of ``root``'s tree for ``period``, priced from what storage holds
    now: the point where an invoice's lines are built (a preview, a draft and a
    finalized invoice all come from here)."""
    accounts, profiles, histories = _tree(unit, root)
    uow = unit.uow
    held = uow.records(SUBSCRIPTIONS).find_many(profiles)
    subscriptions = {a: held[a] for a in profiles if a in held}
    changes = {a: uow.records(PLAN_CHANGES).list_by("account_id", a) for a in subscriptions}
    usage, slices = usage_of(unit, accounts, period, profiles)
    return period_invoices(
        accounts,
        profiles,
        usage,
        period,
        histories=histories,
        subscriptions=subscriptions,
        changes=changes,
        rounding=rounding,
        invoiced=invoiced_in(unit, accounts, period),
        slices=slices,
    )


def comparison_of(unit: Unit, root: Account, period: BillingPeriod) -> Comparison:
    """Seed 000's comparison for ``root``'s own invoice in ``period``."""
    accounts, profiles, histories = _tree(unit, root)
    usage, slices = usage_of(unit, accounts, period, profiles)
    return period_comparison(
        root.id,
        accounts,
        profiles,
        usage,
        period,
        histories=histories,
        invoiced=invoiced_in(unit, accounts, period),
        slices=slices,
    )


def advice_of(unit: Unit, root: Account, period: BillingPeriod) -> Advice:
    """The pooling advice for ``root``'s own invoice in ``period``, on the accounts and
    volumes of its comparison (per charge for a ``PriceList``)."""
    comparison = comparison_of(unit, root, period)
    profile = unit.uow.records(BILLING_PROFILES).find(root.id)
    assert profile is not None  # the comparison refused a root that is not a payer
    if not isinstance(profile.price, PriceList):
        volumes: dict[str, int] = dict(comparison.volumes)
        payer = volumes.pop(root.id)
        return advise_pooling(profile.price, payer, volumes)
    per: dict[str, dict[str, int]] = {}
    for name, part in comparison.by_charge:
        for account, volume in part.volumes:
            per.setdefault(account, {})[name] = volume
    payer_volumes = per.pop(root.id)
    return advise_pooling_charges(profile.price, payer_volumes, per)


def _tree(
    unit: Unit, root: Account
) -> tuple[list[Account], dict[AccountId, BillingProfile], dict[AccountId, StatusHistory]]:
    """``root``'s tree, its billing profiles and its status histories."""
    uow = unit.uow
    accounts = [root, *uow.accounts.descendants(root.id)]
    ids = [a.id for a in accounts]
    paying = uow.records(BILLING_PROFILES).find_many(ids)
    changed = uow.records(STATUS_HISTORY).find_many(ids)
    profiles = {a: paying[a] for a in ids if a in paying}
    histories = {a: changed[a] for a in ids if a in changed}
    return accounts, profiles, histories
