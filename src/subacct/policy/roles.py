"""Roles: named bundles of grants, held by users through memberships.

A ``Grant`` is one action with a scope. A ``Role`` is data (hosts define their own and store
them through the cattrs converter); ``inherits=True`` makes a membership in an account also
act in every descendant of that account (the parent administrator's reach).

The default role set is the matrix of seed 004; ``docs/permissions.md`` has it as a table.
It also holds ``AGENCY_MANAGER``, the role an agency's administrators act with in a linked
client account (seed 002): everything a parent administrator does in one account except
managing billing (``billing.manage``, ``credits.top_up``), impersonating, and reaching
further clients (``clients.access``); it does not inherit.

>>> from subacct.policy import BASIC_USER, SEND_MESSAGES, VIEW_INBOX, Scope
>>> BASIC_USER.rights[SEND_MESSAGES], BASIC_USER.rights[VIEW_INBOX]
(<Scope.ALL: 'all'>, <Scope.OWN: 'own'>)
>>> PARENT_ADMIN.inherits, SUB_ADMIN.inherits
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import clean_name
from subacct.domain.ids import RoleId, check_id
from subacct.errors import Conflict, InvalidInput, quoted
from subacct.policy.actions import (
    ACCESS_CLIENTS,
    ALL_BUILTIN_ACTIONS,
    EXPORT_REPORTS,
    IMPERSONATE,
    INVITE_USERS,
    MANAGE_ACCOUNT_KEYS,
    MANAGE_API_KEYS,
    MANAGE_AUTOMATION_RULES,
    MANAGE_BILLING,
    MANAGE_CONTACTS,
    MANAGE_EMAIL_TO_SMS,
    MANAGE_SETTINGS,
    MANAGE_WEBHOOKS,
    REMOVE_USERS,
    RESUBSCRIBE_CONTACTS,
    SEND_MESSAGES,
    TOP_UP_CREDITS,
    VIEW_INBOX,
    VIEW_REPORTS,
    VIEW_USERS,
    Action,
    ActionCatalog,
    Scope,
    check_action,
)

__all__ = [
    "ADVANCED_USER",
    "ADVANCED_USER_ID",
    "AGENCY_MANAGER",
    "AGENCY_MANAGER_ID",
    "BASIC_USER",
    "BASIC_USER_ID",
    "DEFAULT_ROLES",
    "PARENT_ADMIN",
    "PARENT_ADMIN_ID",
    "SUB_ADMIN",
    "SUB_ADMIN_ID",
    "Grant",
    "Role",
    "check_grants",
    "grants_from",
    "plan_role_definition",
    "rights_cover",
]


def _role_id(value: object) -> RoleId:
    return RoleId(check_id(value, field="role"))


@attrs.frozen
class Grant:
    """Permission to do ``action``, on all records of the account or only the principal's own."""

    action: Action = attrs.field(converter=check_action)
    scope: Scope = attrs.field(default=Scope.ALL, validator=instance_of(Scope))


def check_grants(value: object) -> tuple[Grant, ...]:
    """Grants in action order; refuses non-grants and an action granted twice."""
    if not isinstance(value, list | tuple | frozenset | set):
        raise InvalidInput("grants must be a list of Grant", field="grants")
    seen: set[Action] = set()
    for grant in value:
        if not isinstance(grant, Grant):
            raise InvalidInput(f"{quoted(grant)} is not a Grant", field="grants")
        if grant.action in seen:
            raise InvalidInput(f"action {quoted(grant.action)} granted twice", field="grants")
        seen.add(grant.action)
    return tuple(sorted(value, key=lambda g: g.action))


def grants_from(rights: Mapping[Action, Scope]) -> tuple[Grant, ...]:
    """Grants for an ``{action: scope}`` mapping, in action order.

    >>> grants_from({Action("messages.send"): Scope.ALL})
    (Grant(action='messages.send', scope=<Scope.ALL: 'all'>),)
    """
    return tuple(Grant(a, s) for a, s in sorted(rights.items()))


def rights_cover(held: Mapping[Action, Scope], wanted: Mapping[Action, Scope]) -> bool:
    """True when every wanted grant is held with at least the same scope.

    >>> rights_cover({Action("a"): Scope.ALL}, {Action("a"): Scope.OWN})
    True
    >>> rights_cover({Action("a"): Scope.OWN}, {Action("a"): Scope.ALL})
    False
    """
    for action, scope in wanted.items():
        have = held.get(action)
        if have is None or not have.covers(scope):
            return False
    return True


@attrs.frozen
class Role:
    """A named set of grants. ``inherits`` extends a membership's rights to all descendants."""

    id: RoleId = attrs.field(converter=_role_id)
    name: str = attrs.field(converter=clean_name)
    grants: tuple[Grant, ...] = attrs.field(converter=check_grants)
    inherits: bool = attrs.field(default=False, validator=instance_of(bool))
    rights: Mapping[Action, Scope] = attrs.field(init=False, eq=False, repr=False, hash=False)

    @rights.default
    def _rights(self) -> Mapping[Action, Scope]:
        return MappingProxyType({g.action: g.scope for g in self.grants})

    def actions(self) -> frozenset[Action]:
        """The actions this role grants, whatever their scope."""
        return frozenset(self.rights)


def _role(role_id: str, name: str, rights: Mapping[Action, Scope], inherits: bool = False) -> Role:
    return Role(RoleId(role_id), name, grants_from(rights), inherits)


PARENT_ADMIN_ID: Final = RoleId("parent_admin")
SUB_ADMIN_ID: Final = RoleId("sub_admin")
ADVANCED_USER_ID: Final = RoleId("advanced_user")
BASIC_USER_ID: Final = RoleId("basic_user")
AGENCY_MANAGER_ID: Final = RoleId("agency_manager")

BASIC_USER: Final = _role(
    BASIC_USER_ID,
    "Basic user",
    {SEND_MESSAGES: Scope.ALL, VIEW_INBOX: Scope.OWN, VIEW_REPORTS: Scope.OWN},
)

_ADVANCED_RIGHTS: Final[Mapping[Action, Scope]] = MappingProxyType(
    {
        SEND_MESSAGES: Scope.ALL,
        VIEW_REPORTS: Scope.ALL,
        EXPORT_REPORTS: Scope.ALL,
        VIEW_INBOX: Scope.ALL,
        MANAGE_CONTACTS: Scope.ALL,
        VIEW_USERS: Scope.ALL,
    }
)
ADVANCED_USER: Final = _role(ADVANCED_USER_ID, "Advanced user", _ADVANCED_RIGHTS)

# Seed 004: "All users associated with a sub-account have access to the information
# above", so a sub-account administrator also holds every advanced-user right.
SUB_ADMIN: Final = _role(
    SUB_ADMIN_ID,
    "Administrator (sub-account level)",
    {
        **_ADVANCED_RIGHTS,
        INVITE_USERS: Scope.ALL,
        REMOVE_USERS: Scope.ALL,
        MANAGE_SETTINGS: Scope.ALL,
        MANAGE_EMAIL_TO_SMS: Scope.ALL,
        RESUBSCRIBE_CONTACTS: Scope.ALL,
        MANAGE_API_KEYS: Scope.ALL,
        MANAGE_ACCOUNT_KEYS: Scope.ALL,
        MANAGE_WEBHOOKS: Scope.ALL,
        MANAGE_AUTOMATION_RULES: Scope.ALL,
    },
)

PARENT_ADMIN: Final = _role(
    PARENT_ADMIN_ID,
    "Administrator (parent account level)",
    {action: Scope.ALL for action in ALL_BUILTIN_ACTIONS},
    inherits=True,
)

_NOT_FOR_AGENCIES: Final = frozenset({MANAGE_BILLING, TOP_UP_CREDITS, IMPERSONATE, ACCESS_CLIENTS})

AGENCY_MANAGER: Final = _role(
    AGENCY_MANAGER_ID,
    "Agency manager (in a linked client account)",
    {action: Scope.ALL for action in ALL_BUILTIN_ACTIONS - _NOT_FOR_AGENCIES},
)

DEFAULT_ROLES: Final = (PARENT_ADMIN, SUB_ADMIN, ADVANCED_USER, BASIC_USER, AGENCY_MANAGER)


def plan_role_definition(role: Role, catalog: ActionCatalog, builtin: Iterable[RoleId]) -> Role:
    """Check a custom role before it is stored: its id is not a built-in role's, and it
    grants only actions of the catalog.

    >>> from subacct.policy import DEFAULT_CATALOG
    >>> clerk = Role("billing_clerk", "Billing clerk", [Grant("billing.view")])
    >>> plan_role_definition(clerk, DEFAULT_CATALOG, ["parent_admin"]).id
    'billing_clerk'
    """
    if not isinstance(role, Role):
        raise InvalidInput("role must be a Role", field="role")
    if role.id in set(builtin):
        raise Conflict(
            f"role {quoted(role.id)} is built in and cannot be redefined", role_id=role.id
        )
    unknown = sorted(a for a in role.rights if a not in catalog)
    if unknown:
        raise InvalidInput(
            f"role {quoted(role.id)} names unknown actions {unknown}", field="grants"
        )
    return role
