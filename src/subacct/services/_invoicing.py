"""Loading what a period's invoices rest on (private; the rules are in
``subacct.pricing.billing_run``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from subacct.domain import Account, AccountId
from subacct.domain.lifecycle import StatusHistory
from subacct.errors import InvalidBillingStructure, quoted
from subacct.pricing import BillingPeriod, Invoice, PriceList, Rounding, UsageRecord
from subacct.pricing.adjustments import late_payer
from subacct.pricing.advisor import Advice, advise_pooling, advise_pooling_charges
from subacct.pricing.billing_run import (
    invoiced_accounts,
    payer_in,
    period_comparison,
    period_invoices,
)
from subacct.pricing.charges import charge_for
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


def finalized(
    unit: Unit, wanted: Iterable[tuple[str, BillingPeriod]]
) -> dict[tuple[AccountId, BillingPeriod], Invoice]:
    """The final invoice (``Invoice.final``: finalized, paid or void, not a draft) of
    each (payer, period) of ``wanted`` that has one. The one place services ask "is this
    period closed for this payer?": what comes for it afterwards is billed as an
    adjustment on the payer's next invoice (``subacct.pricing.adjustments``)."""
    pairs = list(dict.fromkeys((AccountId(p), period) for p, period in wanted))
    found = unit.uow.records(INVOICES).find_many(f"{p}/{period}" for p, period in pairs)
    final = {key: invoice for key, invoice in found.items() if invoice.final}
    return {(p, period): final[f"{p}/{period}"] for p, period in pairs if f"{p}/{period}" in final}


class Payers:
    """Who pays for each account's period, and whether its invoice is final, for many
    accounts and periods from a few reads: what ``chains`` (each account and its
    ancestors) and ``periods`` can need is read at once."""

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
        found = uow.records(BILLING_PROFILES).find_many(ids)
        self.profiles: Mapping[str, BillingProfile] = found
        """The billing profiles of every account of the chains (the payers among them)."""
        self._paying = set(found)
        self._charged = any(isinstance(p.price, PriceList) for p in found.values())
        payers = {
            payer_in([a.id for a in (c, *above)], self._paying) for c, above in chains.values()
        }
        payers |= {on.payer_id for on in self._on.values()}
        self._final = set(
            finalized(unit, ((p, m) for p in payers if p is not None for m in months))
        )

    def late(
        self, account: Account, ancestors: Sequence[Account], period: BillingPeriod
    ) -> AccountId | None:
        """The payer whose finalized invoice of ``period`` an arrival for ``account``
        comes after (``None``: in time), or ``PeriodAlreadyInvoiced``
        (``subacct.pricing.adjustments.late_payer``)."""
        on = self._on.get(f"{period}/{account.id}")
        payer = payer_in([a.id for a in (account, *ancestors)], self._paying)
        final = {p for p, m in self._final if m == period}
        return late_payer(account.id, period, None if on is None else on.payer_id, payer, final)

    def require_charged(
        self, record: UsageRecord, account: Account, ancestors: Sequence[Account]
    ) -> None:
        """Refuse (``NoMatchingCharge``, field ``channel``) a record that no charge of its
        payer's price bills."""
        if not self._charged:  # one model bills every channel
            return
        payer = payer_in([a.id for a in (account, *ancestors)], self._paying)
        if payer is not None:
            charge_for(self.profiles[payer].price, record.channel, record.dimensions)


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
    unit: Unit,
    root: Account,
    period: BillingPeriod,
    rounding: Rounding | None,
    *,
    terms: BillingProfile | None = None,
) -> tuple[Invoice, ...]:
    """Every invoice of ``root``'s tree for ``period``, priced from what storage holds
    now: the point where an invoice's lines are built (a preview, a draft, a finalized
    invoice and a late period's re-rating all come from here). ``terms``: a payer's
    profile to price with instead of its stored one (the one its finalized invoice of
    ``period`` was priced on)."""
    accounts, profiles, histories = _tree(unit, root)
    if terms is not None:
        profiles[terms.account_id] = terms
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
