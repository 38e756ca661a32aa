"""A period's invoices for one account tree, from what storage keeps (pure).

``period_invoices`` is what ``app.billing`` runs for a top-level account and its
descendants. It applies every rule that reaches the invoice:

* the lifecycle (``subacct.domain.lifecycle.standing``): an account closed before the
  period, or created after it, is not billed and is left out of the pool; a payer held
  for the whole period (paused, paused then closed, or under a paused ancestor) is billed
  its hold fee only (``BillingProfile.hold_fee``, zero by default); any other month is
  billed in full on its usage (a partial month is a whole month: the plan's price is
  monthly and usage is what was sent);
* payers and pooling (``BillingStructure``): an account with a billing profile pays for
  itself and every account below it that has none;
* the subscription and its approved plan changes (``period_plan``): the period's plan is
  a floor, an upgrade approved during the period adds the difference as its own line, a
  downgrade counts from the period it takes effect in;
* setup fees (``setup_fee_lines``): each sub-account's fee is billed once, in the month it
  was created, to the payer of its parent, numbered among every sub-account ever created
  under that payer.

A payer priced by charges (``PriceList``) is billed from ``slices``, each account's usage
per channel and dimensions: each charge on the pooled volume it bills.

Usage recorded for an account always reaches an invoice: an account with usage in the
period is billed whatever its standing, so nothing recorded is dropped.

>>> from datetime import datetime, UTC
>>> from subacct.domain import new_master, plan_new_sub, HierarchyRules
>>> from subacct.money import Money
>>> from subacct.pricing import BillingPeriod, Plan, PlanLadder
>>> from subacct.pricing.profiles import BillingProfile
>>> from subacct.pricing.billing_run import period_invoices
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> m = new_master("agencydemo", "Agency Demo", t0)
>>> s = plan_new_sub("agency1", "Company X", m, [], HierarchyRules(), t0)
>>> ladder = PlanLadder([Plan("2,500", 2500, Money(15, "USD")),
...                      Plan("18,000", 18000, Money(90, "USD"))])
>>> (inv,) = period_invoices([m, s], {"agencydemo": BillingProfile("agencydemo", ladder)},
...                          {"agencydemo": 9000, "agency1": 5300}, BillingPeriod(2026, 1))
>>> str(inv.total), [line.account_id for line in inv.lines]
('90.00 USD', ['agencydemo', 'agency1'])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import attrs

from subacct._validators import instance_of
from subacct.domain.accounts import Account, AccountKind
from subacct.domain.ids import AccountId
from subacct.domain.lifecycle import Standing, StatusHistory, standing
from subacct.errors import InvalidBillingStructure, NotFound, quoted
from subacct.pricing import _checks
from subacct.pricing.charges import PriceList
from subacct.pricing.fees import setup_fee_lines
from subacct.pricing.invoices import Invoice, InvoiceLine, PayerTerms, Rounding, build_invoices
from subacct.pricing.ladder import PlanLadder
from subacct.pricing.period import BillingPeriod
from subacct.pricing.plan_changes import PlanChange, Subscription, period_plan
from subacct.pricing.pooling import Comparison, compare, compare_charges
from subacct.pricing.profiles import BillingProfile
from subacct.pricing.structure import BillingStructure
from subacct.pricing.usage import UsageSlice

__all__ = [
    "InvoicedAccount",
    "billed_accounts",
    "invoiced_accounts",
    "payer_in",
    "period_comparison",
    "period_invoices",
]


@attrs.frozen
class InvoicedAccount:
    """``account_id``'s month ``period`` is on the issued invoice of ``payer_id``: no other
    invoice of that month bills it, whoever pays for the account later."""

    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    account_id: AccountId = attrs.field(converter=_checks.account)
    payer_id: AccountId = attrs.field(converter=_checks.account)


def invoiced_accounts(invoice: Invoice) -> tuple[InvoicedAccount, ...]:
    """The accounts an issued invoice bills: its payer and every account with a line."""
    ids = dict.fromkeys([invoice.payer_id, *(line.account_id for line in invoice.lines)])
    return tuple(InvoicedAccount(invoice.period, a, invoice.payer_id) for a in ids)


def billed_accounts(
    accounts: Sequence[Account],
    histories: Mapping[AccountId, StatusHistory],
    usage: Mapping[str, int],
    period: BillingPeriod,
) -> dict[AccountId, Standing]:
    """The accounts of ``accounts`` billed in ``period``, each with its standing
    (``BILLED`` or ``HELD``, its ancestors' holds included); an account with usage counts
    as ``BILLED``."""
    by_id = {a.id: a for a in accounts}
    out: dict[AccountId, Standing] = {}
    for account in accounts:
        above: list[StatusHistory] = []
        parent = by_id.get(account.parent_id) if account.parent_id else None
        while parent is not None:
            if (history := histories.get(parent.id)) is not None:
                above.append(history)
            parent = by_id.get(parent.parent_id) if parent.parent_id else None
        own = histories.get(account.id)
        how = standing(account.created_at, own, period.start, period.end, above)
        if usage.get(account.id, 0) > 0:
            how = Standing.BILLED
        if how in (Standing.BILLED, Standing.HELD):
            out[account.id] = how
    return out


def _billable(
    accounts: Sequence[Account],
    profiles: Mapping[AccountId, BillingProfile],
    histories: Mapping[AccountId, StatusHistory],
    usage: Mapping[str, int],
    period: BillingPeriod,
    invoiced: Mapping[AccountId, AccountId],
) -> dict[AccountId, Standing]:
    """``billed_accounts``, less those on an issued invoice of another payer than theirs."""
    billed = billed_accounts(accounts, histories, usage, period)
    if not invoiced:
        return billed
    parents = {a.id: a.parent_id for a in accounts}
    payers = {a for a in billed if a in profiles}
    return {
        a: how
        for a, how in billed.items()
        if invoiced.get(a) in (None, _nearest(a, parents, payers))
    }


def _nearest(
    account_id: AccountId | None, parents: Mapping[AccountId, AccountId | None], keep: object
) -> AccountId | None:
    while account_id is not None and account_id not in keep:  # type: ignore[operator]
        account_id = parents.get(account_id)
    return account_id


def period_invoices(
    accounts: Sequence[Account],
    profiles: Mapping[AccountId, BillingProfile],
    usage: Mapping[str, int],
    period: BillingPeriod,
    *,
    histories: Mapping[AccountId, StatusHistory] | None = None,
    subscriptions: Mapping[AccountId, Subscription] | None = None,
    changes: Mapping[AccountId, Sequence[PlanChange]] | None = None,
    rounding: Rounding | None = None,
    invoiced: Mapping[AccountId, AccountId] | None = None,
    slices: Mapping[str, Mapping[UsageSlice, int]] | None = None,
) -> tuple[Invoice, ...]:
    """Every invoice of ``accounts`` (a top-level account and all its descendants) for
    ``period``, in payer id order (see the module docstring for the rules).

    ``invoiced`` maps the accounts already on an issued invoice of the period to its
    payer: one whose payer has changed since (a sub given its own profile, or moved) is
    on no other invoice of the period, so nothing is billed twice."""
    parents = {a.id: a.parent_id for a in accounts}
    billed = _billable(accounts, profiles, histories or {}, usage, period, invoiced or {})
    tree = {a: _nearest(parents[a], parents, billed) for a in billed}
    payers = [profiles[a].payer() for a in billed if a in profiles]
    if not billed:
        return ()
    missing = [a for a, parent in tree.items() if parent is None and a not in profiles]
    if missing:
        raise InvalidBillingStructure(
            f"top-level account {quoted(missing[0])} has no billing profile", account_id=missing[0]
        )
    structure = BillingStructure(payers, {a: p for a, p in tree.items() if p is not None})
    terms: dict[str, PayerTerms] = {}
    for payer in structure.payers:
        profile = profiles[payer.account_id]
        subscription = (subscriptions or {}).get(payer.account_id)
        plan = None
        if subscription is not None and isinstance(profile.price, PlanLadder):
            plan = period_plan(
                subscription, (changes or {}).get(payer.account_id, ()), profile.price, period
            )
        terms[payer.account_id] = PayerTerms(
            held=billed[payer.account_id] is Standing.HELD, hold_fee=profile.hold_fee, plan=plan
        )
    return build_invoices(
        structure,
        {a: n for a, n in usage.items() if a in billed},
        period,
        rounding=rounding,
        terms=terms,
        charges=_setup_fees(accounts, profiles, parents, set(structure.accounts), period),
        slices=None if slices is None else {a: p for a, p in slices.items() if a in billed},
    )


def payer_in(chain: Sequence[str], payers: Collection[str]) -> AccountId | None:
    """Who pays for the first account of ``chain`` (it, then its ancestors, nearest
    first): the first of them in ``payers`` (those with a billing profile)."""
    return next((AccountId(a) for a in chain if a in payers), None)


def period_comparison(
    root_id: str,
    accounts: Sequence[Account],
    profiles: Mapping[AccountId, BillingProfile],
    usage: Mapping[str, int],
    period: BillingPeriod,
    *,
    histories: Mapping[AccountId, StatusHistory] | None = None,
    invoiced: Mapping[AccountId, AccountId] | None = None,
    slices: Mapping[str, Mapping[UsageSlice, int]] | None = None,
) -> Comparison:
    """Seed 000's question for the payer ``root_id`` in ``period``: each account on its
    own invoice (itself and the accounts it pays for), billed standalone on its price,
    against their volume pooled (per charge for a ``PriceList``, from ``slices``). The
    accounts are those the invoice bills (see ``billed_accounts``): one closed before
    the period is no part of it."""
    root = AccountId(root_id)
    profile = profiles.get(root)
    if profile is None:
        raise InvalidBillingStructure(f"{quoted(root)} is not a payer", account_id=root)
    parents = {a.id: a.parent_id for a in accounts}
    billed = _billable(accounts, profiles, histories or {}, usage, period, invoiced or {})
    pool = [a for a in billed if _nearest(a, parents, profiles) == root]
    if root not in billed or not pool:
        raise NotFound(
            f"{quoted(root)} is not billed in {period}", account_id=root, period=str(period)
        )
    if isinstance(profile.price, PriceList):
        if slices is None:
            raise InvalidBillingStructure(
                f"{quoted(root)} is priced by charges: its comparison needs usage per channel",
                account_id=root,
                field="slices",
            )
        return compare_charges(profile.price, {a: slices.get(a, {}) for a in pool})
    return compare(profile.price, {a: usage.get(a, 0) for a in pool})


def _setup_fees(
    accounts: Sequence[Account],
    profiles: Mapping[AccountId, BillingProfile],
    parents: Mapping[AccountId, AccountId | None],
    billed_payers: set[AccountId],
    period: BillingPeriod,
) -> dict[str, list[InvoiceLine]]:
    """Setup-fee lines per payer: each sub's fee goes to the payer of its parent."""
    subs_of: dict[AccountId, list[tuple[str, object]]] = {}
    for account in accounts:
        if account.kind is not AccountKind.SUB:
            continue
        payer = _nearest(account.parent_id, parents, profiles)
        if payer is not None:
            subs_of.setdefault(payer, []).append((account.id, account.created_at))
    out: dict[str, list[InvoiceLine]] = {}
    for payer, subs in subs_of.items():
        schedule = profiles[payer].setup_fees
        if schedule is None or payer not in billed_payers:
            continue
        lines = setup_fee_lines(schedule, subs, period)  # type: ignore[arg-type]
        if lines:
            out[payer] = list(lines)
    return out
