"""Every cell of the seed 004 role matrix, allowed and denied, written out by hand."""

from __future__ import annotations

import pytest

from subacct.domain import AccountId
from subacct.policy import (
    ALL_BUILTIN_ACTIONS,
    DEFAULT_CATALOG,
    Action,
    PolicyIndex,
    Reason,
    Scope,
)

from .helpers import MASTER, SUB1, SUB2, member, seed_index

A, OWN, N = Scope.ALL, Scope.OWN, None
ROLES = ("parent_admin", "sub_admin", "advanced_user", "basic_user")

# action: (parent admin, sub admin, advanced user, basic user). Seed 004 plus the readings
# documented in docs/permissions.md (sub admins also hold the advanced-user rights).
MATRIX: dict[str, tuple[Scope | None, ...]] = {
    "sub_accounts.create": (A, N, N, N),
    "sub_accounts.manage": (A, N, N, N),
    "users.invite": (A, A, N, N),
    "users.remove": (A, A, N, N),
    "users.view": (A, A, A, N),
    "billing.view": (A, N, N, N),
    "billing.manage": (A, N, N, N),
    "credits.top_up": (A, N, N, N),
    "groups.share": (A, N, N, N),
    "templates.manage": (A, N, N, N),
    "templates.share": (A, N, N, N),
    "reports.sub_accounts": (A, N, N, N),
    "settings.manage": (A, A, N, N),
    "email_to_sms.manage": (A, A, N, N),
    "contacts.resubscribe": (A, A, N, N),
    "api_keys.manage": (A, A, N, N),
    "api_keys.manage_account": (A, A, N, N),
    "webhooks.manage": (A, A, N, N),
    "automation_rules.manage": (A, A, N, N),
    "messages.send": (A, A, A, A),
    "inbox.view": (A, A, A, OWN),
    "reports.view": (A, A, A, OWN),
    "reports.export": (A, A, A, N),
    "contacts.manage": (A, A, A, N),
    "accounts.impersonate": (A, N, N, N),
    "clients.access": (A, N, N, N),
}

CELLS = [
    (action, role, expected[i])
    for action, expected in MATRIX.items()
    for i, role in enumerate(ROLES)
]


def test_matrix_names_every_catalog_action() -> None:
    assert set(MATRIX) == set(ALL_BUILTIN_ACTIONS) == set(DEFAULT_CATALOG)


def _index_with(role: str) -> tuple[PolicyIndex, str, AccountId]:
    """A fresh user holding ``role``: parent admins in the master, others in agency1."""
    home = MASTER if role == "parent_admin" else SUB1
    return seed_index(extra_members=[member("cell", home, role)]), "cell", home


@pytest.mark.parametrize(("action", "role", "expected"), CELLS)
def test_seed004_cell_in_home_account(action: str, role: str, expected: Scope | None) -> None:
    index, user, home = _index_with(role)
    decision = index.check(user, Action(action), home)
    assert decision.allowed is (expected is not None)
    assert decision.scope is expected
    assert decision.role_id == role
    if expected is None:
        assert decision.reason is Reason.ROLE_LACKS_ACTION
    else:
        assert decision.reason is Reason.ALLOWED_BY_ROLE
        assert decision.inherited_from is None


@pytest.mark.parametrize("action", sorted(MATRIX))
def test_seed004_parent_admin_acts_in_every_sub_by_inheritance(action: str) -> None:
    index = seed_index()
    for sub in (SUB1, SUB2):
        decision = index.check("pam", Action(action), sub)
        assert decision.reason is Reason.ALLOWED_BY_INHERITED_ROLE
        assert (decision.scope, decision.role_id, decision.inherited_from) == (
            Scope.ALL,
            "parent_admin",
            MASTER,
        )


@pytest.mark.parametrize("role", ROLES[1:])
@pytest.mark.parametrize("action", sorted(MATRIX))
def test_seed004_sub_roles_act_nowhere_else(role: str, action: str) -> None:
    index, user, _home = _index_with(role)
    for elsewhere in (MASTER, SUB2):  # the master and a sibling
        decision = index.check(user, Action(action), elsewhere)
        assert not decision.allowed
        assert decision.reason is Reason.NO_MEMBERSHIP


def test_seed004_basic_user_cannot_export_but_sees_own_reports() -> None:
    index = seed_index()
    assert index.check("bob", Action("reports.export"), SUB1).code == "role_lacks_action"
    assert index.check("bob", Action("reports.view"), SUB1).scope is Scope.OWN
    assert index.check("bob", Action("inbox.view"), SUB1).scope is Scope.OWN


def test_seed004_master_advanced_user_does_not_inherit() -> None:
    index = seed_index()
    assert index.check("mia", Action("messages.send"), MASTER).allowed
    # Her membership is in the master and her role does not inherit: nothing in the sub.
    assert index.check("mia", Action("messages.send"), SUB1).code == "no_membership"
