"""Catalog, roles and the policy value objects: validation and cattrs round trips."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.errors import (
    ActionDenied,
    ApiKeyRevoked,
    EscalationRefused,
    ImpersonationRefused,
    InvalidInput,
    PermissionDenied,
    RoleNotFound,
    SchemaError,
    SelfRoleChangeRefused,
    error_codes,
)
from subacct.policy import (
    ADVANCED_USER,
    ALL_BUILTIN_ACTIONS,
    BASIC_USER,
    DEFAULT_CATALOG,
    DEFAULT_ROLES,
    PARENT_ADMIN,
    SEND_MESSAGES,
    SUB_ADMIN,
    Action,
    ActionInfo,
    ApiKey,
    AuditRecord,
    Ceiling,
    Decision,
    Grant,
    ImpersonationSession,
    ImpersonationSetting,
    PrincipalKind,
    Reason,
    Role,
    Scope,
    check_action,
    denial_error,
    rights_cover,
)
from subacct.serialization import converter, structure
from subacct.testing.policy_strategies import (
    api_keys,
    custom_roles,
    impersonation_sessions,
    policy_worlds,
)

from .helpers import SUB1, T0, T1


def test_catalog_has_every_seed_action_and_hosts_can_add_theirs() -> None:
    assert len(DEFAULT_CATALOG) == len(ALL_BUILTIN_ACTIONS) == 26
    assert DEFAULT_CATALOG.describe(SEND_MESSAGES).startswith("Send messages")
    catalog = DEFAULT_CATALOG.with_actions(ActionInfo(Action("surveys.run"), "Run surveys"))
    assert Action("surveys.run") in catalog
    assert Action("surveys.run") not in DEFAULT_CATALOG
    with pytest.raises(InvalidInput):
        catalog.with_actions(ActionInfo(Action("surveys.run"), "twice"))
    with pytest.raises(InvalidInput):
        DEFAULT_CATALOG.describe(Action("surveys.run"))


@pytest.mark.parametrize("bad", ["", "Send", "messages..send", "messages.send ", 5, "a" * 101])
def test_action_names_are_validated(bad: object) -> None:
    with pytest.raises(InvalidInput):
        check_action(bad)


def test_default_roles_nest_as_the_matrix_says() -> None:
    assert set(PARENT_ADMIN.rights) == ALL_BUILTIN_ACTIONS
    assert rights_cover(PARENT_ADMIN.rights, SUB_ADMIN.rights)
    assert rights_cover(SUB_ADMIN.rights, ADVANCED_USER.rights)
    assert rights_cover(ADVANCED_USER.rights, BASIC_USER.rights)
    assert not rights_cover(BASIC_USER.rights, ADVANCED_USER.rights)
    assert [r.inherits for r in DEFAULT_ROLES] == [True, False, False, False, False]


def test_roles_refuse_bad_grants() -> None:
    with pytest.raises(InvalidInput):
        Role("r", "R", [Grant(SEND_MESSAGES), Grant(SEND_MESSAGES, Scope.OWN)])
    with pytest.raises(InvalidInput):
        Role("r", "R", ["messages.send"])
    with pytest.raises(InvalidInput):
        Role("has space", "R", [])
    with pytest.raises(InvalidInput):
        Grant(SEND_MESSAGES, "all")  # type: ignore[arg-type]


def test_value_objects_refuse_inconsistent_states() -> None:
    with pytest.raises(InvalidInput):
        Decision(True, Reason.NO_MEMBERSHIP, Scope.ALL)
    with pytest.raises(InvalidInput):
        Decision(True, Reason.ALLOWED_BY_ROLE)  # allowed needs a scope
    with pytest.raises(InvalidInput):
        Decision(False, Reason.NO_MEMBERSHIP, Scope.ALL)
    with pytest.raises(InvalidInput):
        Ceiling(SUB1, SUB1, [])
    with pytest.raises(InvalidInput):
        Ceiling(SUB1, None, "messages.send")
    with pytest.raises(InvalidInput):
        ApiKey("k", SUB1, "x", "u", [], T1, revoked_at=T0)
    with pytest.raises(InvalidInput):
        ImpersonationSession("i", "u", SUB1, T1, ended_at=T0)
    with pytest.raises(InvalidInput):
        ImpersonationSetting(SUB1, "no")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        AuditRecord(
            "a",
            T0,
            SEND_MESSAGES,
            SUB1,
            True,
            Reason.ALLOWED_BY_API_KEY,
            PrincipalKind.API_KEY,
            "u",
            Scope.ALL,
        )  # an API key record without the key id


def test_error_codes_are_stable_and_typed() -> None:
    codes = error_codes()
    for cls, code in [
        (ActionDenied, "action_denied"),
        (EscalationRefused, "escalation_refused"),
        (SelfRoleChangeRefused, "self_role_change_refused"),
        (ImpersonationRefused, "impersonation_refused"),
        (ApiKeyRevoked, "api_key_revoked"),
        (RoleNotFound, "role_not_found"),
    ]:
        assert codes[code] is cls
    assert issubclass(EscalationRefused, PermissionDenied)
    with pytest.raises(InvalidInput):
        denial_error("u", SEND_MESSAGES, SUB1, Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL))


def test_every_reason_has_a_stable_snake_case_code() -> None:
    for reason in Reason:
        assert re.fullmatch(r"[a-z][a-z_]*", reason.value)
        assert reason.allowed is reason.value.startswith("allowed_")


def _roundtrip(value: object) -> object:
    data = converter.unstructure(value)
    json.dumps(data)  # plain JSON types only
    assert data["schema"] == 1
    return structure(data, type(value))


@settings(max_examples=40, deadline=None)
@given(
    policy_worlds().flatmap(
        lambda w: st.tuples(
            st.just(w),
            api_keys(w),
            impersonation_sessions(w),
            custom_roles(w.catalog, "custom_x"),
        )
    )
)
def test_policy_values_roundtrip_through_cattrs(case: tuple) -> None:  # type: ignore[type-arg]
    world, key, session, role = case
    values = [key, session, role, *world.roles, *world.ceilings, *world.impersonation_settings]
    for value in values:
        assert _roundtrip(value) == value
    assert _roundtrip(role).rights == role.rights  # derived fields are rebuilt on the way in


def test_unknown_schema_is_refused() -> None:
    data = converter.unstructure(BASIC_USER)
    data["schema"] = 99
    with pytest.raises(SchemaError):
        structure(data, Role)
