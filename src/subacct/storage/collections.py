"""Every record collection subacct stores (usage records have a repository of their own,
``UnitOfWork.usage``).

Adapters create one table per collection (SQL) or one journaled dict (memory); the
conformance kit runs the same generic cases on every collection. Changing a collection
here (a new one, a new index) needs a new entry in ``subacct.storage.sql.MIGRATIONS``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

from subacct.domain.invitations import Invitation, InvitationToken, SeatLimit
from subacct.domain.lifecycle import StatusHistory
from subacct.domain.links import LinkRequest
from subacct.domain.resources import Resource, Share
from subacct.policy.api_keys import ApiKey, ApiKeyCredential, ApiKeyUse
from subacct.policy.audit import AuditRecord
from subacct.policy.ceilings import Ceiling
from subacct.policy.impersonation import ImpersonationSession, ImpersonationSetting
from subacct.policy.roles import Role
from subacct.pricing.adjustments import InvoiceTerms, LatePeriod
from subacct.pricing.billing_run import InvoicedAccount
from subacct.pricing.holds import Hold, SendVolume
from subacct.pricing.invoice_lifecycle import CreditNote, InvoiceNumber, NumberSeries, Payment
from subacct.pricing.invoices import Invoice
from subacct.pricing.ledger.grants import GrantBook
from subacct.pricing.plan_changes import PlanChange, Subscription
from subacct.pricing.profiles import (
    BillingProfile,
    Prerequisites,
    QuotaCounter,
    QuotaReservation,
    QuotaSetting,
)
from subacct.pricing.thresholds import (
    QuotaThresholds,
    QuotaThresholdsReached,
    WalletAlerts,
    WalletAlertState,
)
from subacct.storage.records import Collection

__all__ = [
    "BILLING_PROFILES",
    "CREDIT_NOTES",
    "INVOICE_NUMBERS",
    "INVOICE_TERMS",
    "NUMBER_SERIES",
    "PAYMENTS",
    "INVITATIONS",
    "INVITATION_TOKENS",
    "INVOICED_ACCOUNTS",
    "INVOICES",
    "LATE_PERIODS",
    "LINK_REQUESTS",
    "POLICY_COLLECTIONS",
    "QUOTAS",
    "QUOTA_COUNTERS",
    "QUOTA_RESERVATIONS",
    "SEND_HOLDS",
    "SEND_VOLUMES",
    "QUOTA_THRESHOLDS",
    "QUOTA_THRESHOLDS_REACHED",
    "WALLET_ALERTS",
    "WALLET_ALERT_STATES",
    "PLAN_CHANGES",
    "PREREQUISITES",
    "SUBSCRIPTIONS",
    "API_KEYS",
    "API_KEY_CREDENTIALS",
    "API_KEY_USES",
    "AUDIT_RECORDS",
    "CEILINGS",
    "COLLECTIONS",
    "GRANT_BOOKS",
    "IMPERSONATION_SESSIONS",
    "IMPERSONATION_SETTINGS",
    "RESOURCES",
    "ROLES",
    "SEAT_LIMITS",
    "SHARES",
    "STATUS_HISTORY",
]

# -- policy ------------------------------------------------------------------------------
ROLES: Final = Collection("roles", Role, ("id",))
"""Custom roles defined by the host (the default roles are built in)."""
CEILINGS: Final = Collection(
    "ceilings", Ceiling, ("account_id", "set_by"), indexes=("account_id", "set_by")
)
API_KEYS: Final = Collection(
    "api_keys", ApiKey, ("id",), indexes=("account_id", "created_by"), label="API key"
)
API_KEY_CREDENTIALS: Final = Collection(
    "api_key_credentials",
    ApiKeyCredential,
    ("secret_hash",),
    indexes=("key_id",),
    label="API key credential",
)
API_KEY_USES: Final = Collection("api_key_uses", ApiKeyUse, ("key_id",), label="API key use")
"""When each API key was last used. Not policy data: writing it never raises the policy
version, so the policy cache survives a key's use (``Settings.api_key_use_interval``)."""
IMPERSONATION_SESSIONS: Final = Collection(
    "impersonation_sessions",
    ImpersonationSession,
    ("id",),
    indexes=("real_user_id", "account_id"),
)
IMPERSONATION_SETTINGS: Final = Collection(
    "impersonation_settings", ImpersonationSetting, ("account_id",)
)
AUDIT_RECORDS: Final = Collection(
    "audit_records",
    AuditRecord,
    ("id",),
    indexes=("account_id", "acting_user_id", "impersonated_account_id"),
    append_only=True,
    sequenced=True,
)
"""Read in the order they were written (a storage-assigned sequence, schema version 9):
records of one clock reading keep their order, whatever their ids."""

# -- billing ------------------------------------------------------------------------------
BILLING_PROFILES: Final = Collection(
    "billing_profiles", BillingProfile, ("account_id",), versioned=True
)
INVOICES: Final = Collection(
    "invoices", Invoice, ("payer_id", "period"), indexes=("payer_id", "period")
)
INVOICED_ACCOUNTS: Final = Collection(
    "invoiced_accounts",
    InvoicedAccount,
    ("period", "account_id"),
    indexes=("payer_id",),
    label="invoiced account",
)
"""Which finalized invoice bills each account's month (written with the invoice), so a
month is billed once whoever pays for the account later."""

# -- invoice lifecycle (schema version 14) -------------------------------------------------
NUMBER_SERIES: Final = Collection(
    "number_series", NumberSeries, ("payer_id", "series"), versioned=True, label="number series"
)
"""How many invoice and credit-note numbers each payer has been given (gapless: taken in
the unit of work that uses the number)."""
INVOICE_NUMBERS: Final = Collection(
    "invoice_numbers", InvoiceNumber, ("number",), label="invoice number"
)
"""Which invoice (payer and period) each number is."""
INVOICE_TERMS: Final = Collection(
    "invoice_terms", InvoiceTerms, ("payer_id", "period"), label="invoice terms"
)
"""What each finalized invoice was priced on (the payer's billing profile then, and the
rounding), keyed like the invoice: a late arrival for its period is re-rated on them."""
CREDIT_NOTES: Final = Collection(
    "credit_notes", CreditNote, ("number",), indexes=("invoice_number",), append_only=True
)
PAYMENTS: Final = Collection(
    "payments",
    Payment,
    ("invoice_number", "reference"),
    indexes=("invoice_number",),
    append_only=True,
)
LATE_PERIODS: Final = Collection(
    "late_periods",
    LatePeriod,
    ("payer_id", "period"),
    indexes=("pending_for",),
    versioned=True,
    label="late period",
)
"""Each payer's finalized period that took usage, a setup fee or an upgrade afterwards,
and what its adjustments billed (schema version 15): an invoice re-rates only the
periods pending for its payer."""
QUOTAS: Final = Collection("quotas", QuotaSetting, ("account_id",))
QUOTA_COUNTERS: Final = Collection(
    "quota_counters", QuotaCounter, ("account_id", "period"), versioned=True
)
QUOTA_RESERVATIONS: Final = Collection(
    # a send's key is its account's own (schema version 8 re-keyed the stored ones)
    "quota_reservations",
    QuotaReservation,
    ("period", "scoped_key"),
)
SUBSCRIPTIONS: Final = Collection("subscriptions", Subscription, ("account_id",))
SEND_HOLDS: Final = Collection(
    # a send's key is its account's own; open holds are listed for the expiry sweep
    "send_holds",
    Hold,
    ("scoped_key",),
    indexes=("status",),
    versioned=True,
    label="send hold",
)
SEND_VOLUMES: Final = Collection(
    "send_volumes", SendVolume, ("payer_id", "period", "charge"), versioned=True
)
PLAN_CHANGES: Final = Collection(
    "plan_changes", PlanChange, ("request_id",), indexes=("account_id", "status")
)
PREREQUISITES: Final = Collection("prerequisites", Prerequisites, ("account_id",))

# -- thresholds (schema version 12) -------------------------------------------------------
QUOTA_THRESHOLDS: Final = Collection(
    "quota_thresholds", QuotaThresholds, ("account_id",), label="quota thresholds"
)
"""The percentages of each account's quota limit reported when reached."""
QUOTA_THRESHOLDS_REACHED: Final = Collection(
    "quota_thresholds_reached",
    QuotaThresholdsReached,
    ("account_id", "period"),
    versioned=True,
    label="quota thresholds reached",
)
"""Which of them each account reached in a period (written with the counter change)."""
WALLET_ALERTS: Final = Collection(
    "wallet_alerts", WalletAlerts, ("account_id", "currency"), label="wallet alerts"
)
"""Each wallet's low-credit threshold and auto top-up rule."""
WALLET_ALERT_STATES: Final = Collection(
    "wallet_alert_states",
    WalletAlertState,
    ("account_id", "currency"),
    versioned=True,
    label="wallet alert state",
)
"""What each wallet's alerts last fired under (written with the balance change)."""

# -- credit grants (schema version 17) ---------------------------------------------------
GRANT_BOOKS: Final = Collection(
    "grant_books",
    GrantBook,
    ("account_id", "currency"),
    indexes=("currency",),
    versioned=True,
    label="grant book",
)
"""Each wallet's credit grants and what its open holds took of them (written with the
ledger plan that changes them; ``subacct.pricing.ledger.grants``)."""

# -- accounts ------------------------------------------------------------------------------
STATUS_HISTORY: Final = Collection(
    "status_history", StatusHistory, ("account_id",), label="status history"
)
"""Every status change of each account, with its time (billing reads it per period)."""
LINK_REQUESTS: Final = Collection(
    "link_requests",
    LinkRequest,
    ("id",),
    indexes=("token_hash", "agency_id", "client_id"),
    label="link request",
)
"""Agency link requests (schema version 18): the token is stored as its SHA-256 digest,
found by it when the client presents the token. Not policy data: the link is."""

# -- invitations and seats (schema version 19) --------------------------------------------
INVITATIONS: Final = Collection(
    "invitations", Invitation, ("id",), indexes=("account_id",), versioned=True
)
"""Invitations by e-mail (versioned: two acceptances of one never both win)."""
INVITATION_TOKENS: Final = Collection(
    "invitation_tokens", InvitationToken, ("token_hash",), label="invitation token"
)
"""The hash of every token an invitation was given (its newest is on the invitation)."""
SEAT_LIMITS: Final = Collection("seat_limits", SeatLimit, ("account_id",))
"""Each account's seat limit, if it has one."""

# -- sharing -----------------------------------------------------------------------------
RESOURCES: Final = Collection("resources", Resource, ("id",), indexes=("owner_id",), versioned=True)
SHARES: Final = Collection("shares", Share, ("id",), indexes=("owner_id", "resource_id"))

POLICY_COLLECTIONS: Final[frozenset[str]] = frozenset(
    c.name
    for c in (
        ROLES,
        CEILINGS,
        API_KEYS,
        API_KEY_CREDENTIALS,
        IMPERSONATION_SESSIONS,
        IMPERSONATION_SETTINGS,
    )
)
"""The collections whose writes raise ``UnitOfWork.policy_version`` (with accounts,
users, memberships and agency links): what a policy decision and the acting principal
are read from."""

COLLECTIONS: Final[MappingProxyType[str, Collection[Any]]] = MappingProxyType(
    {
        c.name: c
        for c in (
            ROLES,
            CEILINGS,
            API_KEYS,
            API_KEY_CREDENTIALS,
            API_KEY_USES,
            IMPERSONATION_SESSIONS,
            IMPERSONATION_SETTINGS,
            AUDIT_RECORDS,
            BILLING_PROFILES,
            INVOICES,
            INVOICED_ACCOUNTS,
            LATE_PERIODS,
            QUOTAS,
            QUOTA_COUNTERS,
            QUOTA_RESERVATIONS,
            SUBSCRIPTIONS,
            PLAN_CHANGES,
            PREREQUISITES,
            RESOURCES,
            SHARES,
            STATUS_HISTORY,
            LINK_REQUESTS,
            SEND_HOLDS,
            SEND_VOLUMES,
            QUOTA_THRESHOLDS,
            QUOTA_THRESHOLDS_REACHED,
            WALLET_ALERTS,
            WALLET_ALERT_STATES,
            NUMBER_SERIES,
            INVOICE_NUMBERS,
            INVOICE_TERMS,
            CREDIT_NOTES,
            PAYMENTS,
            INVITATIONS,
            INVITATION_TOKENS,
            SEAT_LIMITS,
            GRANT_BOOKS,
        )
    }
)
