"""The pure billing core: plans, tiers, usage, pooling, commitments, quotas, fees, invoices.

No I/O, no clock, no randomness: periods, ids and usage come in from the caller; every
function returns a value (or raises a typed ``subacct.errors`` error) and changes nothing.
See ``docs/billing.md`` for the concepts and worked examples.

>>> from subacct.money import Money
>>> from subacct.pricing import Plan, PlanLadder, compare
>>> usd = lambda a: Money(a, "USD")
>>> ladder = PlanLadder([Plan("2,500", 2500, usd(15)), Plan("8,500", 8500, usd(45)),
...                      Plan("12,000", 12000, usd(60)), Plan("18,000", 18000, usd(90))])
>>> compare(ladder, {"agencydemo": 9000, "agency1": 5300, "agency2": 1700}).saving
Money(amount=Decimal('30'), currency='USD')
"""

from subacct.pricing.advisor import EXACT_LIMIT, Advice, advise_pooling, advise_pooling_charges
from subacct.pricing.channels import DEFAULT_CHANNELS, Channel, ChannelCatalog, Dimensions
from subacct.pricing.charges import ALL_CHARGE, Charge, PriceList, charge_for, price_never_falls
from subacct.pricing.commissions import (
    SUBSCRIPTION_KINDS,
    CommissionLine,
    CommissionStatement,
    commission_statement,
    subscription_amount,
)
from subacct.pricing.commitments import (
    Commitment,
    CommitmentCharge,
    commitment_charge,
    true_up,
)
from subacct.pricing.fees import SetupDiscount, SetupFeeSchedule
from subacct.pricing.holds import Hold, HoldStatus, SendVolume, send_bound, send_price
from subacct.pricing.invoice_lifecycle import (
    CreditNote,
    CreditNoteLine,
    Payment,
    PaymentTerms,
    PeriodClose,
)
from subacct.pricing.invoices import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Rounding,
    build_invoices,
)
from subacct.pricing.ladder import Plan, PlanLadder
from subacct.pricing.model import Piece, PriceModel
from subacct.pricing.period import BillingPeriod
from subacct.pricing.plan_changes import (
    ChangeKind,
    ChangeStatus,
    PlanChange,
    Subscription,
    UpgradePolicy,
    UpgradeRule,
    apply_change,
    approve,
    reject,
    request_change,
    upgrade_charge,
)
from subacct.pricing.pooling import Comparison, compare, compare_charges, split_pro_rata
from subacct.pricing.quotas import Quota, QuotaCheck, QuotaState
from subacct.pricing.structure import BillingMode, BillingStructure, Payer
from subacct.pricing.subadditivity import is_subadditive, subadditivity_witness
from subacct.pricing.thresholds import AutoTopUp, QuotaThresholds, WalletAlerts
from subacct.pricing.tiers import PackagePrice, Tier, TieredPrice, TierMode
from subacct.pricing.usage import (
    UsageBook,
    UsageRecord,
    subtree_total,
    subtree_totals,
)

__all__ = [
    "ALL_CHARGE",
    "DEFAULT_CHANNELS",
    "EXACT_LIMIT",
    "SUBSCRIPTION_KINDS",
    "Advice",
    "AutoTopUp",
    "BillingMode",
    "BillingPeriod",
    "BillingStructure",
    "ChangeKind",
    "ChangeStatus",
    "Channel",
    "ChannelCatalog",
    "Charge",
    "CommissionLine",
    "CommissionStatement",
    "Commitment",
    "CommitmentCharge",
    "Comparison",
    "Dimensions",
    "Hold",
    "HoldStatus",
    "CreditNote",
    "CreditNoteLine",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Payment",
    "PaymentTerms",
    "PeriodClose",
    "LineKind",
    "PackagePrice",
    "Payer",
    "Piece",
    "Plan",
    "PlanChange",
    "PlanLadder",
    "PriceList",
    "PriceModel",
    "Quota",
    "QuotaCheck",
    "QuotaState",
    "QuotaThresholds",
    "Rounding",
    "SendVolume",
    "SetupDiscount",
    "SetupFeeSchedule",
    "Subscription",
    "Tier",
    "TierMode",
    "TieredPrice",
    "UpgradePolicy",
    "UpgradeRule",
    "UsageBook",
    "UsageRecord",
    "WalletAlerts",
    "apply_change",
    "approve",
    "build_invoices",
    "charge_for",
    "commission_statement",
    "subscription_amount",
    "commitment_charge",
    "advise_pooling",
    "advise_pooling_charges",
    "compare",
    "compare_charges",
    "is_subadditive",
    "price_never_falls",
    "reject",
    "send_bound",
    "send_price",
    "request_change",
    "split_pro_rata",
    "subadditivity_witness",
    "subtree_total",
    "subtree_totals",
    "true_up",
    "upgrade_charge",
]
