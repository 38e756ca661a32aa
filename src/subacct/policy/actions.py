"""The permission catalog: every action a principal can be allowed to do in an account.

Actions are dotted snake_case names (``"messages.send"``). The built-in catalog names every
action of the seeds; hosts add their own with ``ActionCatalog.with_actions``. An action is
always checked in the account where it takes effect; sub-account management
(``sub_accounts.*``) is checked in the parent that owns the sub.

``Scope`` says which records a grant covers: ``ALL`` records of the account, or only the
principal's ``OWN`` (a basic user's own messages, inbox replies and report rows).

>>> from subacct.policy import DEFAULT_CATALOG, SEND_MESSAGES, ActionInfo, Action
>>> SEND_MESSAGES in DEFAULT_CATALOG
True
>>> catalog = DEFAULT_CATALOG.with_actions(ActionInfo(Action("surveys.run"), "Run surveys"))
>>> Action("surveys.run") in catalog, len(catalog) - len(DEFAULT_CATALOG)
(True, 1)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Final, NewType

import attrs

from subacct._validators import instance_of
from subacct.errors import InvalidInput, quoted

__all__ = [
    "ACCESS_CLIENTS",
    "ALL_BUILTIN_ACTIONS",
    "CREATE_SUB_ACCOUNTS",
    "DEFAULT_CATALOG",
    "EXPORT_REPORTS",
    "IMPERSONATE",
    "INVITE_USERS",
    "MANAGE_ACCOUNT_KEYS",
    "MANAGE_API_KEYS",
    "MANAGE_AUTOMATION_RULES",
    "MANAGE_BILLING",
    "MANAGE_CONTACTS",
    "MANAGE_EMAIL_TO_SMS",
    "MANAGE_SETTINGS",
    "MANAGE_SUB_ACCOUNTS",
    "MANAGE_TEMPLATES",
    "MANAGE_WEBHOOKS",
    "REMOVE_USERS",
    "REPORT_ON_SUB_ACCOUNTS",
    "RESUBSCRIBE_CONTACTS",
    "SEND_MESSAGES",
    "SHARE_GROUPS",
    "SHARE_TEMPLATES",
    "TOP_UP_CREDITS",
    "VIEW_BILLING",
    "VIEW_INBOX",
    "VIEW_REPORTS",
    "VIEW_USERS",
    "Action",
    "ActionCatalog",
    "ActionInfo",
    "Scope",
    "check_action",
]

Action = NewType("Action", str)

_ACTION_RE: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_MAX_ACTION: Final = 100


def check_action(value: object) -> Action:
    """Validate an action name: dotted snake_case, at most 100 characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"action must be a string, not {type(value).__name__}", field="action")
    if len(value) > _MAX_ACTION or _ACTION_RE.fullmatch(value) is None:
        raise InvalidInput(
            f"action {quoted(value)} must be dotted snake_case such as 'messages.send'",
            field="action",
        )
    return Action(value)


class Scope(enum.Enum):
    """Which records of the account a grant covers. ``ALL`` covers ``OWN``."""

    ALL = "all"
    OWN = "own"

    def covers(self, other: Scope) -> bool:
        """True when a grant of this scope is at least as wide as ``other``.

        >>> Scope.ALL.covers(Scope.OWN), Scope.OWN.covers(Scope.ALL)
        (True, False)
        """
        return self is Scope.ALL or other is Scope.OWN


SEND_MESSAGES: Final = Action("messages.send")
VIEW_INBOX: Final = Action("inbox.view")
VIEW_REPORTS: Final = Action("reports.view")
EXPORT_REPORTS: Final = Action("reports.export")
REPORT_ON_SUB_ACCOUNTS: Final = Action("reports.sub_accounts")
MANAGE_CONTACTS: Final = Action("contacts.manage")
RESUBSCRIBE_CONTACTS: Final = Action("contacts.resubscribe")
SHARE_GROUPS: Final = Action("groups.share")
MANAGE_TEMPLATES: Final = Action("templates.manage")
SHARE_TEMPLATES: Final = Action("templates.share")
CREATE_SUB_ACCOUNTS: Final = Action("sub_accounts.create")
MANAGE_SUB_ACCOUNTS: Final = Action("sub_accounts.manage")
INVITE_USERS: Final = Action("users.invite")
REMOVE_USERS: Final = Action("users.remove")
VIEW_USERS: Final = Action("users.view")
VIEW_BILLING: Final = Action("billing.view")
MANAGE_BILLING: Final = Action("billing.manage")
TOP_UP_CREDITS: Final = Action("credits.top_up")
MANAGE_SETTINGS: Final = Action("settings.manage")
MANAGE_EMAIL_TO_SMS: Final = Action("email_to_sms.manage")
MANAGE_API_KEYS: Final = Action("api_keys.manage")
MANAGE_ACCOUNT_KEYS: Final = Action("api_keys.manage_account")
MANAGE_WEBHOOKS: Final = Action("webhooks.manage")
MANAGE_AUTOMATION_RULES: Final = Action("automation_rules.manage")
IMPERSONATE: Final = Action("accounts.impersonate")
ACCESS_CLIENTS: Final = Action("clients.access")


@attrs.frozen
class ActionInfo:
    """One catalog entry: the action name and what it lets a principal do."""

    action: Action = attrs.field(converter=check_action)
    description: str = attrs.field(validator=instance_of(str))

    def __attrs_post_init__(self) -> None:
        if not self.description.strip():
            raise InvalidInput(
                f"action {quoted(self.action)} needs a description", field="description"
            )


_BUILTIN: Final = (
    ActionInfo(CREATE_SUB_ACCOUNTS, "Create sub-accounts (checked in the parent)"),
    ActionInfo(
        MANAGE_SUB_ACCOUNTS,
        "Rename, pause, move or close sub-accounts and set their ceilings (checked in the parent)",
    ),
    ActionInfo(INVITE_USERS, "Invite users into this account and change their roles"),
    ActionInfo(REMOVE_USERS, "Remove users from this account (account data is kept)"),
    ActionInfo(VIEW_USERS, "See the users of this account"),
    ActionInfo(VIEW_BILLING, "See billing data: plan, invoices, payment details"),
    ActionInfo(MANAGE_BILLING, "Change billing data and payment details"),
    ActionInfo(TOP_UP_CREDITS, "Prepaid top-ups and distributing credits"),
    ActionInfo(SHARE_GROUPS, "Share contact groups with sub-accounts"),
    ActionInfo(MANAGE_TEMPLATES, "Create and manage templates"),
    ActionInfo(SHARE_TEMPLATES, "Share templates with sub-accounts"),
    ActionInfo(REPORT_ON_SUB_ACCOUNTS, "Report on the activity of sub-accounts"),
    ActionInfo(MANAGE_SETTINGS, "Manage account settings"),
    ActionInfo(MANAGE_EMAIL_TO_SMS, "Manage email-to-SMS registrations and settings"),
    ActionInfo(RESUBSCRIBE_CONTACTS, "Resubscribe an unsubscribed contact"),
    ActionInfo(MANAGE_API_KEYS, "Create, rotate and revoke personal API keys"),
    ActionInfo(
        MANAGE_ACCOUNT_KEYS,
        "Create, rotate and revoke account API keys (owned by the account, not a person)",
    ),
    ActionInfo(MANAGE_WEBHOOKS, "Create and manage webhooks"),
    ActionInfo(MANAGE_AUTOMATION_RULES, "Create and manage automation rules"),
    ActionInfo(SEND_MESSAGES, "Send messages (email, SMTP, SMS)"),
    ActionInfo(VIEW_INBOX, "View the inbox (replies)"),
    ActionInfo(VIEW_REPORTS, "View reports on message data and account usage"),
    ActionInfo(EXPORT_REPORTS, "Export reports"),
    ActionInfo(MANAGE_CONTACTS, "Create and manage contacts and contact groups"),
    ActionInfo(IMPERSONATE, "Log on as this account from an ancestor (assume its identity)"),
    ActionInfo(
        ACCESS_CLIENTS,
        "Work in the agency's linked client accounts with each link's access role "
        "(checked in the agency)",
    ),
)

ALL_BUILTIN_ACTIONS: Final[frozenset[Action]] = frozenset(info.action for info in _BUILTIN)


def _entries(value: object) -> tuple[ActionInfo, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidInput("catalog entries must be a list or tuple of ActionInfo", field="entries")
    seen: set[Action] = set()
    for info in value:
        if not isinstance(info, ActionInfo):
            raise InvalidInput(
                f"catalog entry {quoted(info)} is not an ActionInfo", field="entries"
            )
        if info.action in seen:
            raise InvalidInput(f"action {quoted(info.action)} listed twice", field="entries")
        seen.add(info.action)
    return tuple(sorted(value, key=lambda i: i.action))


@attrs.frozen
class ActionCatalog:
    """Every action known to the engine, in name order. Checks of other actions are denied."""

    entries: tuple[ActionInfo, ...] = attrs.field(converter=_entries)
    names: frozenset[Action] = attrs.field(init=False, eq=False, repr=False)

    @names.default
    def _names(self) -> frozenset[Action]:
        return frozenset(info.action for info in self.entries)

    def __contains__(self, action: object) -> bool:
        return action in self.names

    def __iter__(self) -> Iterator[Action]:
        return (info.action for info in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def describe(self, action: Action) -> str:
        """The description of ``action`` (``InvalidInput`` if it is not in the catalog)."""
        for info in self.entries:
            if info.action == action:
                return info.description
        raise InvalidInput(f"action {quoted(action)} is not in the catalog", field="action")

    def with_actions(self, *infos: ActionInfo) -> ActionCatalog:
        """A catalog with the host's own actions added (names must be new)."""
        return ActionCatalog([*self.entries, *infos])


DEFAULT_CATALOG: Final = ActionCatalog(list(_BUILTIN))
