"""subacct: an embeddable master/sub-account system.

``Subacct(store, settings)`` is the one object a host builds; its parts (``accounts``,
``members``, ``policy``, ``billing``, ``plans``, ``sharing``, ``credits``, ``sending``, ``reports``,
``events``, ``audit``) take the acting principal as ``by=`` on every call. The everyday
names are importable from here; the rest lives in documented subpackages
(``subacct.domain``, ``subacct.policy``, ``subacct.pricing``, ``subacct.pricing.ledger``,
``subacct.errors``, ``subacct.storage``, ``subacct.testing``; see ``docs/api.md``).

>>> import subacct
>>> app = subacct.Subacct(subacct.MemoryStore())
>>> app.accounts.create_master("Agency Demo", account_id="agencydemo", by=subacct.SYSTEM).kind
<AccountKind.MASTER: 'master'>
"""

from subacct._version import __version__
from subacct.app import Subacct
from subacct.domain import (
    Account,
    AccountId,
    AccountKind,
    AccountStatus,
    AgencyLink,
    Membership,
    User,
    UserId,
)
from subacct.domain.resources import ResourceKind, ShareMode, SharePermission
from subacct.errors import (
    AccountNotActive,
    ActionDenied,
    Conflict,
    IdempotencyConflict,
    InsufficientCredit,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PrerequisitesMissing,
    QuotaExceeded,
    SubacctError,
)
from subacct.money import Money
from subacct.policy import (
    Action,
    ApiKey,
    AuditRecord,
    Ceiling,
    Decision,
    Grant,
    ImpersonationSession,
    Role,
    Scope,
)
from subacct.policy.system import SYSTEM, System
from subacct.pricing import (
    BillingPeriod,
    Commitment,
    Invoice,
    PackagePrice,
    Plan,
    PlanLadder,
    Quota,
    SetupDiscount,
    SetupFeeSchedule,
    Tier,
    TieredPrice,
    TierMode,
    UpgradePolicy,
    UpgradeRule,
    UsageRecord,
)
from subacct.pricing.ledger import (
    Allocation,
    Commit,
    Distribute,
    Expire,
    Reclaim,
    Refund,
    Release,
    Reserve,
    ResetPeriod,
    SetAllocation,
    Spend,
    TopUp,
    Wallet,
)
from subacct.runtime import FixedClock, SequentialIds
from subacct.settings import Settings
from subacct.storage import MemoryStore, SqliteStore, Store

__all__ = [
    "SYSTEM",
    "Account",
    "AccountId",
    "AccountKind",
    "AccountNotActive",
    "AccountStatus",
    "Action",
    "ActionDenied",
    "AgencyLink",
    "Allocation",
    "ApiKey",
    "AuditRecord",
    "BillingPeriod",
    "Ceiling",
    "Commit",
    "Commitment",
    "Conflict",
    "Decision",
    "Distribute",
    "Expire",
    "FixedClock",
    "Grant",
    "IdempotencyConflict",
    "ImpersonationSession",
    "InsufficientCredit",
    "InvalidInput",
    "Invoice",
    "Membership",
    "MemoryStore",
    "Money",
    "NotFound",
    "PackagePrice",
    "PermissionDenied",
    "Plan",
    "PlanLadder",
    "PrerequisitesMissing",
    "Quota",
    "QuotaExceeded",
    "Reclaim",
    "Refund",
    "Release",
    "Reserve",
    "ResetPeriod",
    "ResourceKind",
    "Role",
    "Scope",
    "SequentialIds",
    "SetAllocation",
    "SetupDiscount",
    "SetupFeeSchedule",
    "Settings",
    "ShareMode",
    "SharePermission",
    "Spend",
    "SqliteStore",
    "Store",
    "Subacct",
    "SubacctError",
    "System",
    "Tier",
    "TierMode",
    "TieredPrice",
    "TopUp",
    "UpgradePolicy",
    "UpgradeRule",
    "UsageRecord",
    "User",
    "UserId",
    "Wallet",
    "__version__",
]
