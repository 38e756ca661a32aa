"""The permission policy engine (pure): actions, roles, ceilings, decisions, impersonation,
API keys and audit records.

Build a ``PolicyIndex`` from accounts, memberships, roles and ceilings, then ask it:

* ``check(principal, action, account)`` -> ``Decision`` (``require`` raises instead);
* ``actions_in(principal, account)`` and ``accounts_with(principal, action)`` for UIs;
* the ``plan_*`` functions before storing anything that hands out rights.

See ``docs/permissions.md`` for the matrix, the rules and the benchmark.

>>> from datetime import datetime, UTC
>>> from subacct.domain import Account, AccountKind, Membership
>>> from subacct.policy import PolicyIndex, EXPORT_REPORTS
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> index = PolicyIndex.build([Account("m", "M", AccountKind.MASTER, t0)],
...                           [Membership("bob", "m", "basic_user", t0)])
>>> index.check("bob", EXPORT_REPORTS, "m").code
'role_lacks_action'
"""

from subacct.policy.account_rights import VIEW_ACCOUNT, standing, status_authority
from subacct.policy.actions import (
    ALL_BUILTIN_ACTIONS,
    CREATE_SUB_ACCOUNTS,
    DEFAULT_CATALOG,
    EXPORT_REPORTS,
    IMPERSONATE,
    INVITE_USERS,
    MANAGE_API_KEYS,
    MANAGE_AUTOMATION_RULES,
    MANAGE_BILLING,
    MANAGE_CONTACTS,
    MANAGE_EMAIL_TO_SMS,
    MANAGE_SETTINGS,
    MANAGE_SUB_ACCOUNTS,
    MANAGE_TEMPLATES,
    MANAGE_WEBHOOKS,
    REMOVE_USERS,
    REPORT_ON_SUB_ACCOUNTS,
    RESUBSCRIBE_CONTACTS,
    SEND_MESSAGES,
    SHARE_GROUPS,
    SHARE_TEMPLATES,
    TOP_UP_CREDITS,
    VIEW_BILLING,
    VIEW_INBOX,
    VIEW_REPORTS,
    VIEW_USERS,
    Action,
    ActionCatalog,
    ActionInfo,
    Scope,
    check_action,
)
from subacct.policy.api_keys import ApiKey, ApiKeyId
from subacct.policy.audit import AuditId, AuditRecord, audit_record
from subacct.policy.ceilings import Ceiling
from subacct.policy.decisions import (
    Decision,
    Principal,
    PrincipalKind,
    Reason,
    acting_user_id,
    denial_details,
    denial_error,
    explain,
    principal_label,
)
from subacct.policy.grants import (
    check_ceiling,
    plan_api_key,
    plan_api_key_revocation,
    plan_ceiling,
    plan_ceiling_removal,
    plan_impersonation,
    plan_impersonation_end,
    plan_impersonation_setting,
    plan_invite,
    plan_removal,
    plan_role_change,
)
from subacct.policy.impersonation import (
    ImpersonationId,
    ImpersonationSession,
    ImpersonationSetting,
)
from subacct.policy.index import PolicyIndex
from subacct.policy.resource_rights import MANAGE_ACTION, NO_STANDING, SHARE_ACTION, USE_ACTIONS
from subacct.policy.roles import (
    ADVANCED_USER,
    ADVANCED_USER_ID,
    BASIC_USER,
    BASIC_USER_ID,
    DEFAULT_ROLES,
    PARENT_ADMIN,
    PARENT_ADMIN_ID,
    SUB_ADMIN,
    SUB_ADMIN_ID,
    Grant,
    Role,
    check_grants,
    grants_from,
    plan_role_definition,
    rights_cover,
)
from subacct.policy.scope import filter_records, record_visible
from subacct.policy.system import SYSTEM, SYSTEM_DECISION, System

__all__ = [
    "ADVANCED_USER",
    "ADVANCED_USER_ID",
    "ALL_BUILTIN_ACTIONS",
    "BASIC_USER",
    "BASIC_USER_ID",
    "CREATE_SUB_ACCOUNTS",
    "DEFAULT_CATALOG",
    "DEFAULT_ROLES",
    "EXPORT_REPORTS",
    "IMPERSONATE",
    "INVITE_USERS",
    "MANAGE_ACTION",
    "MANAGE_API_KEYS",
    "MANAGE_AUTOMATION_RULES",
    "MANAGE_BILLING",
    "MANAGE_CONTACTS",
    "MANAGE_EMAIL_TO_SMS",
    "MANAGE_SETTINGS",
    "MANAGE_SUB_ACCOUNTS",
    "MANAGE_TEMPLATES",
    "MANAGE_WEBHOOKS",
    "NO_STANDING",
    "PARENT_ADMIN",
    "PARENT_ADMIN_ID",
    "REMOVE_USERS",
    "REPORT_ON_SUB_ACCOUNTS",
    "RESUBSCRIBE_CONTACTS",
    "SEND_MESSAGES",
    "SHARE_ACTION",
    "SHARE_GROUPS",
    "SHARE_TEMPLATES",
    "SUB_ADMIN",
    "SUB_ADMIN_ID",
    "SYSTEM",
    "SYSTEM_DECISION",
    "TOP_UP_CREDITS",
    "USE_ACTIONS",
    "VIEW_BILLING",
    "VIEW_INBOX",
    "VIEW_REPORTS",
    "VIEW_ACCOUNT",
    "VIEW_USERS",
    "Action",
    "ActionCatalog",
    "ActionInfo",
    "ApiKey",
    "ApiKeyId",
    "AuditId",
    "AuditRecord",
    "Ceiling",
    "Decision",
    "Grant",
    "ImpersonationId",
    "ImpersonationSession",
    "ImpersonationSetting",
    "PolicyIndex",
    "Principal",
    "PrincipalKind",
    "Reason",
    "Role",
    "Scope",
    "System",
    "acting_user_id",
    "audit_record",
    "check_ceiling",
    "check_action",
    "check_grants",
    "denial_details",
    "denial_error",
    "explain",
    "filter_records",
    "grants_from",
    "plan_api_key",
    "plan_api_key_revocation",
    "plan_ceiling",
    "plan_ceiling_removal",
    "plan_impersonation",
    "plan_impersonation_end",
    "plan_impersonation_setting",
    "plan_invite",
    "plan_removal",
    "plan_role_change",
    "plan_role_definition",
    "principal_label",
    "record_visible",
    "rights_cover",
    "standing",
    "status_authority",
]
