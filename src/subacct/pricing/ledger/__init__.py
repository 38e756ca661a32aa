"""The prepaid credit ledger (issue 5): double-entry, idempotent, pure.

Every movement of credit is a ``Transfer`` between two ledger accounts (``external``,
``wallet``, ``reserved``, ``spent``, ``expired``, ``promotions``, each owned by a customer
account);
balances derive from transfers and always sum to zero. Operations are request values
(``TopUp``, ``Distribute``, ``Reclaim``, ``Spend``, ``Refund``, ``Reserve``, ``Commit``,
``Release``, ``Expire``, ``SetAllocation``, ``ResetPeriod``, ``GrantCredit``,
``ExpireGrant``); ``plan`` decides one against a ``LedgerView`` and returns a ``Plan`` to
write atomically. ``Ledger`` is the in-memory ledger. Credit grants (``grants``: which lot
of credit a draw takes) are kept beside it by ``app.credits``. See ``docs/credits.md``.

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> from subacct.pricing.ledger import Ledger, LedgerAccount, TopUp, Wallet, allow_all
>>> book = Ledger("EUR", authorize=allow_all)
>>> _ = book.open_wallet(Wallet("acme"))
>>> _ = book.execute(TopUp(account_id="acme", amount=Money("25.50", "EUR"), key="t1",
...                        at=datetime(2026, 1, 1, tzinfo=UTC)))
>>> sum(m.amount for m in book.balances().values())
Decimal('0.00')
"""

from subacct.pricing.ledger.accounts import LedgerAccount, LedgerAccountKind
from subacct.pricing.ledger.authorization import (
    POLICY_ACTIONS,
    Authorizer,
    LedgerAction,
    allow_all,
    authorizer_from,
    policy_authorizer,
)
from subacct.pricing.ledger.book import Ledger
from subacct.pricing.ledger.grants import (
    CreditGrant,
    GrantBook,
    GrantPart,
    HeldParts,
    spend_order,
)
from subacct.pricing.ledger.operations import plan
from subacct.pricing.ledger.planning import BalanceChange, LedgerView, Plan, configure_wallet
from subacct.pricing.ledger.records import (
    DEFAULT_PRIORITY,
    GrantKind,
    IdempotencyRecord,
    OperationKind,
    Receipt,
    Reservation,
    ReservationStatus,
    Transfer,
)
from subacct.pricing.ledger.requests import (
    Commit,
    Distribute,
    Expire,
    ExpireGrant,
    GrantCredit,
    LedgerRequest,
    Reclaim,
    Refund,
    Release,
    Reserve,
    ResetPeriod,
    SetAllocation,
    Spend,
    TopUp,
)
from subacct.pricing.ledger.statements import (
    Statement,
    StatementLine,
    period_statement,
    replay_balances,
    statement,
)
from subacct.pricing.ledger.wallets import Allocation, AllocationKind, ResetMode, Wallet

__all__ = [
    "DEFAULT_PRIORITY",
    "POLICY_ACTIONS",
    "Allocation",
    "AllocationKind",
    "Authorizer",
    "BalanceChange",
    "Commit",
    "CreditGrant",
    "Distribute",
    "Expire",
    "ExpireGrant",
    "GrantBook",
    "GrantCredit",
    "GrantKind",
    "GrantPart",
    "HeldParts",
    "IdempotencyRecord",
    "Ledger",
    "LedgerAccount",
    "LedgerAccountKind",
    "LedgerAction",
    "LedgerRequest",
    "LedgerView",
    "OperationKind",
    "Plan",
    "Receipt",
    "Reclaim",
    "Refund",
    "Release",
    "Reservation",
    "ReservationStatus",
    "Reserve",
    "ResetMode",
    "ResetPeriod",
    "SetAllocation",
    "Spend",
    "Statement",
    "StatementLine",
    "TopUp",
    "Transfer",
    "Wallet",
    "allow_all",
    "authorizer_from",
    "configure_wallet",
    "period_statement",
    "plan",
    "policy_authorizer",
    "replay_balances",
    "spend_order",
    "statement",
]
