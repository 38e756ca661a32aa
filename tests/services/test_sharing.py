"""``app.sharing`` over storage: principal-checked resources, shares, copies and their
resolution (seeds 000, 002, 003, 004), on the memory and SQLite adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import subacct
from subacct import (
    SYSTEM,
    ActionDenied,
    FixedClock,
    Grant,
    MemoryStore,
    SequentialIds,
    Store,
    Subacct,
)
from subacct.domain import HierarchyRules
from subacct.domain.resolution import Origin, SharingIndex
from subacct.domain.resources import ResourceKind, ShareMode, SharePermission
from subacct.errors import (
    AccountClosed,
    ApiKeyRevoked,
    ImpersonationRefused,
    InvalidInput,
    LinkedAccountsCannotShare,
    NotADescendant,
    ResourceAccessDenied,
    ResourceNotFound,
    ShareNotFound,
)
from subacct.policy import (
    MANAGE_ACTION,
    MANAGE_CONTACTS,
    MANAGE_TEMPLATES,
    SEND_MESSAGES,
    SHARE_ACTION,
    SHARE_GROUPS,
    SHARE_TEMPLATES,
    VIEW_REPORTS,
    PrincipalKind,
)
from subacct.storage.collections import AUDIT_RECORDS, RESOURCES, SHARES
from subacct.testing.resource_strategies import sharing_worlds

from .conftest import make_app, refused, seed_agency_with_roles

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TEMPLATE = ResourceKind.TEMPLATE
USE, EDIT = SharePermission.USE, SharePermission.EDIT


@pytest.fixture
def app(store: Store) -> Subacct:
    """The seed 000/004 world of ``conftest.seed_agency_with_roles``, from 2026-01-01."""
    return seed_agency_with_roles(make_app(store, clock=FixedClock(T0)))


def brand(app: Subacct, mode: ShareMode = ShareMode.ALL_SUBS, **kw: Any) -> None:
    """Seed 000: the corporate branding template at master level, shared with the subs."""
    app.sharing.create_resource(
        "agencydemo",
        TEMPLATE,
        "Corporate branding",
        b"<h1>Agency</h1>",
        by="owner",
        resource_id="brand",
    )
    targets = kw.pop("targets", [])
    app.sharing.share(
        "brand", mode, targets, kw.pop("permission", USE), by="owner", share_id="sh_brand"
    )


def usable_ids(app: Subacct, by: Any, account: str) -> list[str]:
    return [a.resource.id for a in app.sharing.usable_resources(account, by=by)]


# -- seed 000: branding at master level -------------------------------------------------


def test_seed000_subs_use_the_master_branding_template(app: Subacct) -> None:
    brand(app)
    for user, account in [("sam", "agency1"), ("bob", "agency1"), ("yara", "agency2")]:
        [access] = app.sharing.usable_resources(account, by=user, kind=TEMPLATE)
        assert (access.resource.id, access.origin, access.shared_by) == (
            "brand",
            Origin.SHARED,
            "agencydemo",
        )
        assert (access.permission, access.share_id) == (USE, "sh_brand")
        assert access.resource.content == b"<h1>Agency</h1>"
    assert app.sharing.get_resource("agency1", "brand", by="bob").origin is Origin.SHARED
    [own] = app.sharing.usable_resources("agencydemo", by="owner")
    assert (own.origin, own.permission) == (Origin.OWN, EDIT)
    assert app.sharing.usable_resources("agency1", by="bob", kind=ResourceKind.CONTACT_GROUP) == []


def test_seed000_subs_copy_the_shared_template_and_customize_it(app: Subacct) -> None:
    brand(app)
    copy = app.sharing.copy(
        "brand", "agency1", by="dee", new_id="brand_a1", name="Agency 1 branding"
    )
    assert (copy.owner_id, copy.version, copy.content) == ("agency1", 1, b"<h1>Agency</h1>")
    assert copy.name == "Agency 1 branding"
    assert copy.copied_from is not None
    assert (copy.copied_from.resource_id, copy.copied_from.owner_id) == ("brand", "agencydemo")
    edited = app.sharing.edit_resource("brand_a1", by="dee", content=b"<h1>Agency 1</h1>")
    assert edited.version == 2
    assert app.sharing.get_resource("agency1", "brand", by="dee").resource.content == (
        b"<h1>Agency</h1>"
    )
    by_id = {a.resource.id: a.origin for a in app.sharing.usable_resources("agency1", by="dee")}
    assert by_id == {"brand": Origin.SHARED, "brand_a1": Origin.OWN}
    assert "brand_a1" not in usable_ids(app, "yara", "agency2")


def test_copy_needs_the_manage_right_in_the_target_account(app: Subacct) -> None:
    brand(app)
    err = refused(app.store, ActionDenied, lambda: app.sharing.copy("brand", "agency1", by="ada"))
    assert err.details["reason"] == "role_lacks_action"
    assert err.details["action"] == MANAGE_TEMPLATES


# -- isolation: siblings, unrelated masters ---------------------------------------------


def test_a_sibling_never_sees_another_subs_resource(app: Subacct) -> None:
    store, sharing = app.store, app.sharing
    sharing.create_resource("agency1", TEMPLATE, "Promo", b"promo", by="dee", resource_id="promo")
    assert "promo" not in usable_ids(app, "yara", "agency2")
    assert "promo" not in [a.resource.id for a in sharing.visible_resources("agency2", by="yara")]
    refused(store, ResourceNotFound, lambda: sharing.get_resource("agency2", "promo", by="yara"))
    # yara has no standing in agency1 at all: refused on the account, before any resource
    err = refused(store, ActionDenied, lambda: sharing.get_resource("agency1", "promo", by="yara"))
    assert err.details["reason"] == "no_membership"
    # probing for the resource answers exactly as for an id that does not exist
    for call in [
        lambda: sharing.edit_resource("promo", by="yara", name="Mine"),
        lambda: sharing.edit_resource("promo", by="yara", name="Mine", account_id="agency1"),
        lambda: sharing.edit_resource("promo", by="yara", name="Mine", account_id="agency2"),
        lambda: sharing.delete_resource("promo", by="yara"),
        lambda: sharing.copy("promo", "agency2", by="yara"),
        lambda: sharing.share("promo", ShareMode.ALL_SUBS, [], USE, by="yara"),
    ]:
        refused(store, ResourceNotFound, call)
    # sharing between siblings is refused by the core, even for the parent administrator
    refused(
        store,
        NotADescendant,
        lambda: sharing.share("promo", ShareMode.CHOSEN, ["agency2"], USE, by="owner"),
    )
    # the parent sees everything below it (seeds 003, 004)
    seen = {a.resource.id: a.origin for a in sharing.visible_resources("agencydemo", by="owner")}
    assert seen == {"promo": Origin.DESCENDANT}
    assert sharing.get_resource("agencydemo", "promo", by="owner").origin is Origin.DESCENDANT


def test_an_unrelated_master_never_sees_it(app: Subacct) -> None:
    store, sharing = app.store, app.sharing
    brand(app, ShareMode.SUBTREE, targets=["agencydemo"])
    assert usable_ids(app, "yara", "agency2") == ["brand"]
    assert usable_ids(app, "otto", "othermaster") == []
    assert sharing.visible_resources("othermaster", by="otto") == []
    refused(
        store, ResourceNotFound, lambda: sharing.get_resource("othermaster", "brand", by="otto")
    )
    refused(store, ActionDenied, lambda: sharing.usable_resources("agencydemo", by="otto"))
    for call in [
        lambda: sharing.edit_resource("brand", by="otto", content=b"x"),
        lambda: sharing.delete_resource("brand", by="otto"),
        lambda: sharing.copy("brand", "othermaster", by="otto"),
        lambda: sharing.share("brand", ShareMode.ALL_SUBS, [], USE, by="otto"),
    ]:
        refused(store, ResourceNotFound, call)
    refused(store, ShareNotFound, lambda: sharing.revoke("sh_brand", by="otto"))
    refused(store, ResourceNotFound, lambda: sharing.edit_resource("nope", by="otto", content=b"x"))
    refused(store, ShareNotFound, lambda: sharing.revoke("nope", by="owner"))


# -- revocation, deletion, copies -------------------------------------------------------


def test_revocation_takes_effect_at_once(app: Subacct) -> None:
    store, sharing = app.store, app.sharing
    brand(app)
    assert usable_ids(app, "bob", "agency1") == ["brand"]
    revoked = sharing.revoke("sh_brand", by="owner")
    assert revoked.id == "sh_brand"
    assert usable_ids(app, "bob", "agency1") == []
    assert usable_ids(app, "yara", "agency2") == []
    refused(store, ResourceNotFound, lambda: sharing.get_resource("agency1", "brand", by="bob"))
    refused(store, ResourceNotFound, lambda: sharing.copy("brand", "agency1", by="dee"))
    refused(store, ShareNotFound, lambda: sharing.revoke("sh_brand", by="owner"))
    assert usable_ids(app, "owner", "agencydemo") == ["brand"]  # the owner keeps it


def test_copies_survive_revocation_and_deletion(app: Subacct) -> None:
    sharing = app.sharing
    brand(app)
    sharing.share("brand", ShareMode.CHOSEN, ["agency1"], EDIT, by="owner", share_id="sh_edit")
    sharing.copy("brand", "agency1", by="dee", new_id="brand_a1")
    sharing.revoke("sh_brand", by="owner")
    assert set(usable_ids(app, "dee", "agency1")) == {"brand", "brand_a1"}  # sh_edit remains
    deleted = sharing.delete_resource("brand", by="owner")
    assert deleted.id == "brand"
    assert usable_ids(app, "dee", "agency1") == ["brand_a1"]
    assert sharing.get_resource("agency1", "brand_a1", by="dee").resource.content == (
        b"<h1>Agency</h1>"
    )
    with app.store.unit_of_work() as uow:
        assert uow.records(SHARES).list_by("resource_id", "brand") == []
        assert uow.records(RESOURCES).find("brand") is None
        last = uow.events.since(0, limit=10_000)[-1].event
    assert last.event_type == "resource_deleted"
    assert last.revoked_share_ids == ("sh_edit",)
    refused(
        app.store,
        ResourceNotFound,
        lambda: sharing.get_resource("agencydemo", "brand", by="owner"),
    )


def test_only_the_owner_side_deletes(app: Subacct) -> None:
    brand(app, ShareMode.CHOSEN, targets=["agency1"], permission=EDIT)
    err = refused(
        app.store,
        ResourceAccessDenied,
        lambda: app.sharing.delete_resource("brand", by="dee", account_id="agency1"),
    )
    assert err.code == "resource_access_denied"


# -- seed 002: agency-linked client accounts share nothing ------------------------------


def test_seed002_linked_client_sharing_refused_with_nothing_written(app: Subacct) -> None:
    store, sharing = app.store, app.sharing
    brand(app)
    for mode, targets in [(ShareMode.CHOSEN, ["client"]), (ShareMode.SUBTREE, ["client"])]:
        err = refused(
            store,
            LinkedAccountsCannotShare,
            lambda m=mode, t=targets: sharing.share("brand", m, t, USE, by="owner"),
        )
        assert err.code == "linked_accounts_cannot_share"
    sharing.create_resource("client", TEMPLATE, "Client list", b"c", by="cleo", resource_id="cl")
    refused(
        store,
        LinkedAccountsCannotShare,
        lambda: sharing.share("cl", ShareMode.CHOSEN, ["agencydemo"], USE, by="cleo"),
    )
    refused(
        store,
        LinkedAccountsCannotShare,
        lambda: sharing.share("cl", ShareMode.CHOSEN, ["agency1"], USE, by="cleo"),
    )
    assert usable_ids(app, "cleo", "client") == ["cl"]  # the master's share never reaches it
    refused(store, ResourceNotFound, lambda: sharing.get_resource("client", "brand", by="cleo"))
    refused(store, ResourceNotFound, lambda: sharing.get_resource("agencydemo", "cl", by="owner"))


def test_unknown_or_closed_targets_are_refused(app: Subacct) -> None:
    store, sharing = app.store, app.sharing
    brand(app)
    refused(
        store,
        NotADescendant,
        lambda: sharing.share("brand", ShareMode.CHOSEN, ["ghost"], USE, by="owner"),
    )
    refused(
        store,
        InvalidInput,
        lambda: sharing.share("brand", ShareMode.CHOSEN, "agency1", USE, by="owner"),
    )
    app.accounts.close("agency2", by=SYSTEM)
    refused(
        store,
        AccountClosed,
        lambda: sharing.share("brand", ShareMode.CHOSEN, ["agency2"], USE, by="owner"),
    )


# -- editing ---------------------------------------------------------------------------


def test_a_sub_cannot_edit_without_an_edit_grant(app: Subacct) -> None:
    store, sharing = app.store, app.sharing
    brand(app)
    err = refused(
        store,
        ResourceAccessDenied,
        lambda: sharing.edit_resource("brand", by="dee", content=b"hacked", account_id="agency1"),
    )
    assert err.details["permission"] == "edit"
    # acting in the owner account instead needs a membership reaching it; dee sees the
    # template from agency1, so this is a plain refusal, not "not found"
    err = refused(
        store, ActionDenied, lambda: sharing.edit_resource("brand", by="dee", content=b"x")
    )
    assert (err.details["reason"], err.details["account_id"]) == ("no_membership", "agencydemo")
    sharing.share("brand", ShareMode.CHOSEN, ["agency1"], EDIT, by="owner", share_id="sh_edit")
    edited = sharing.edit_resource("brand", by="dee", content=b"<h1>v2</h1>", account_id="agency1")
    assert (edited.version, edited.owner_id) == (2, "agencydemo")
    assert sharing.get_resource("agency2", "brand", by="yara").resource.content == b"<h1>v2</h1>"
    # agency2 holds only USE; and its sub admin lacks templates.manage anyway
    refused(
        store,
        ResourceAccessDenied,
        lambda: sharing.edit_resource("brand", by="owner", name="X", account_id="agency2"),
    )
    err = refused(
        store,
        ActionDenied,
        lambda: sharing.edit_resource("brand", by="yara", name="X", account_id="agency2"),
    )
    assert err.details["reason"] == "role_lacks_action"


def test_basic_users_cannot_create_templates_and_refusals_write_nothing_else(
    app: Subacct,
) -> None:
    store, sharing = app.store, app.sharing
    err = refused(
        store,
        ActionDenied,
        lambda: sharing.create_resource("agency1", TEMPLATE, "T", b"t", by="bob"),
    )
    assert (err.details["reason"], err.details["action"]) == ("role_lacks_action", MANAGE_TEMPLATES)
    # an unknown kind is bad input, refused before the policy is asked (the new API takes a
    # ResourceKind or its value, so "template" itself would now be accepted)
    refused(
        store,
        InvalidInput,
        lambda: sharing.create_resource("agency1", "spreadsheet", "T", b"t", by="ada"),  # type: ignore[arg-type]
    )
    sharing.create_resource(
        "agency1", ResourceKind.CONTACT_GROUP, "VIPs", b"[]", by="ada", resource_id="g"
    )
    err = refused(
        store,
        ActionDenied,
        lambda: sharing.share("g", ShareMode.ALL_SUBS, [], USE, by="sam"),
    )
    assert (err.details["reason"], err.details["action"]) == ("role_lacks_action", SHARE_GROUPS)


def test_every_mutating_call_emits_exactly_one_event_and_one_audit_record(
    app: Subacct,
) -> None:
    sharing = app.sharing
    group = ResourceKind.CONTACT_GROUP
    steps: list[tuple[Callable[[], object], str, str, str]] = [
        (
            lambda: sharing.create_resource(
                "agencydemo", TEMPLATE, "B", b"b", by="owner", resource_id="b"
            ),
            "resource_created",
            MANAGE_TEMPLATES,
            "agencydemo",
        ),
        (
            lambda: sharing.share("b", ShareMode.ALL_SUBS, [], USE, by="owner", share_id="s1"),
            "resource_shared",
            SHARE_TEMPLATES,
            "agencydemo",
        ),
        (
            lambda: sharing.copy("b", "agency1", by="dee", new_id="b1"),
            "resource_copied",
            MANAGE_TEMPLATES,
            "agency1",
        ),
        (
            lambda: sharing.edit_resource("b", by="owner", name="B2"),
            "resource_updated",
            MANAGE_TEMPLATES,
            "agencydemo",
        ),
        (
            lambda: sharing.revoke("s1", by="owner"),
            "share_revoked",
            SHARE_TEMPLATES,
            "agencydemo",
        ),
        (
            lambda: sharing.create_resource(
                "agency1", group, "VIPs", b"[]", by="ada", resource_id="g"
            ),
            "resource_created",
            MANAGE_CONTACTS,
            "agency1",
        ),
        (
            lambda: sharing.share(
                "g", ShareMode.SUBTREE, ["agency1"], USE, by="owner", share_id="s2"
            ),
            "resource_shared",
            SHARE_GROUPS,
            "agency1",
        ),
        (
            lambda: sharing.delete_resource("g", by="ada"),
            "resource_deleted",
            MANAGE_CONTACTS,
            "agency1",
        ),
        (
            lambda: sharing.delete_resource("b1", by="owner", account_id="agencydemo"),
            "resource_deleted",
            MANAGE_TEMPLATES,
            "agencydemo",
        ),
    ]
    for call, event_type, action, account in steps:
        with app.store.unit_of_work() as uow:
            seq = len(uow.events.since(0, limit=10_000))
            audited = {r.id for r in uow.records(AUDIT_RECORDS).all()}
        call()
        with app.store.unit_of_work() as uow:
            new = [e.event for e in uow.events.since(seq, limit=10_000)]
            audits = [r for r in uow.records(AUDIT_RECORDS).all() if r.id not in audited]
        assert [e.event_type for e in new] == [event_type]
        assert new[0].account_id == account
        assert [(r.action, r.account_id, r.allowed) for r in audits] == [(action, account, True)]
    assert [x.event.event_type for x in app.events.since(0, by=SYSTEM, limit=10_000)][-9:] == [
        event_type for _, event_type, _, _ in steps
    ]
    assert MANAGE_ACTION[ResourceKind.IMAGE] == MANAGE_TEMPLATES
    assert SHARE_ACTION[ResourceKind.CONTACT] == SHARE_GROUPS


# -- other principals ------------------------------------------------------------------


def test_impersonation_acts_in_the_sub_only_and_is_audited(app: Subacct) -> None:
    store, sharing = app.store, app.sharing
    brand(app)
    session = app.policy.start_impersonation("agency1", reason="support", by="owner")
    assert usable_ids(app, session, "agency1") == ["brand"]
    refused(store, ImpersonationRefused, lambda: sharing.usable_resources("agency2", by=session))
    # the session sees brand from agency1, so acting on it elsewhere is a plain refusal
    refused(
        store,
        ImpersonationRefused,
        lambda: sharing.share("brand", ShareMode.ALL_SUBS, [], USE, by=session),
    )
    # as the sub administrator: contacts yes, templates no
    refused(
        store,
        ActionDenied,
        lambda: sharing.create_resource("agency1", TEMPLATE, "T", b"t", by=session),
    )
    group = sharing.create_resource("agency1", ResourceKind.CONTACT_GROUP, "G", b"g", by=session)
    with store.unit_of_work() as uow:
        event = uow.events.since(0, limit=10_000)[-1].event
        audit = uow.records(AUDIT_RECORDS).all()
    assert (event.event_type, event.actor, event.account_id) == (
        "resource_created",
        "owner",
        "agency1",
    )
    [record] = [
        r for r in audit if r.action == MANAGE_CONTACTS and r.account_id == "agency1" and r.allowed
    ]
    assert record.principal_kind is PrincipalKind.IMPERSONATION
    assert (record.acting_user_id, record.impersonated_account_id) == ("owner", "agency1")
    # the refused template creation above is on record too, as the impersonation
    [denied] = [r for r in audit if r.action == MANAGE_TEMPLATES and not r.allowed]
    assert denied.principal_kind is PrincipalKind.IMPERSONATION
    assert (denied.acting_user_id, denied.account_id) == ("owner", "agency1")
    app.policy.end_impersonation(session.id, by="owner")
    refused(
        store,
        ImpersonationRefused,
        lambda: sharing.edit_resource(group.id, by=session, name="H"),
    )


def test_api_keys_act_for_their_account_and_revocation_is_immediate(app: Subacct) -> None:
    store, sharing = app.store, app.sharing
    brand(app)
    key, _ = app.policy.create_api_key(
        "agency1", "CRM", [Grant(SEND_MESSAGES), Grant(MANAGE_CONTACTS)], by="sam"
    )
    assert usable_ids(app, key, "agency1") == ["brand"]
    contact = sharing.create_resource(
        "agency1", ResourceKind.CONTACT, "Ann", b"ann@example.test", by=key
    )
    assert contact.owner_id == "agency1"
    err = refused(store, ActionDenied, lambda: sharing.edit_resource("brand", by=key, name="X"))
    assert err.details["reason"] == "api_key_lacks_action"
    refused(store, ActionDenied, lambda: sharing.usable_resources("agency2", by=key))
    reporter, _ = app.policy.create_api_key("agency1", "BI", [Grant(VIEW_REPORTS)], by="sam")
    err = refused(store, ActionDenied, lambda: sharing.usable_resources("agency1", by=reporter))
    assert (err.details["reason"], err.details["action"]) == ("api_key_lacks_action", SEND_MESSAGES)
    app.policy.revoke_api_key(key.id, by="sam")
    refused(store, ApiKeyRevoked, lambda: sharing.usable_resources("agency1", by=key))


# -- property: resolution through storage never crosses subtrees -------------------------


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(
    world=sharing_worlds(max_levels=3, max_accounts=8, max_resources=6, max_shares=6),
    data=st.data(),
)
def test_usable_resources_never_cross_into_sibling_subtrees_or_other_masters(
    world: Any, data: st.DataObject
) -> None:
    app = Subacct(
        MemoryStore(),
        subacct.Settings(clock=FixedClock(T0), ids=SequentialIds(), hierarchy=HierarchyRules(3)),
    )
    tree = world.tree
    for account in world.accounts:  # parents come first
        if account.parent_id is None:
            admin_id = f"admin_{account.id}"
            app.accounts.create_master(account.name, account_id=account.id, by=SYSTEM)
            app.members.create_user(
                f"{admin_id}@example.test", "Admin", user_id=admin_id, by=SYSTEM
            )
            app.members.add(admin_id, account.id, "parent_admin", by=SYSTEM)
        else:
            app.accounts.create_sub(
                account.parent_id, account.name, account_id=account.id, by=SYSTEM
            )

    def admin(account_id: str) -> str:
        return f"admin_{tree.path(account_id)[0]}"

    made = [
        app.sharing.create_resource(
            r.owner_id,
            r.kind,
            r.name,
            r.content,
            by=admin(r.owner_id),
            metadata=r.metadata,
            resource_id=r.id,
        )
        for r in world.resources
    ]
    for s in world.shares:
        app.sharing.share(
            s.resource_id, s.mode, s.targets, s.permission, by=admin(s.owner_id), share_id=s.id
        )
    revoked = data.draw(
        st.sets(st.sampled_from([s.id for s in world.shares])) if world.shares else st.just(set())
    )
    for share_id in sorted(revoked):
        owner = next(s.owner_id for s in world.shares if s.id == share_id)
        app.sharing.revoke(share_id, by=admin(owner))
    expected = SharingIndex(tree, made, [s for s in world.shares if s.id not in revoked])
    for account in world.accounts:
        got = app.sharing.usable_resources(account.id, by=admin(account.id))
        path = set(tree.path(account.id))
        assert all(a.resource.owner_id in path for a in got)  # own or an ancestor's, only
        assert [(a.resource.id, a.origin, a.permission, a.share_id) for a in got] == [
            (a.resource.id, a.origin, a.permission, a.share_id) for a in expected.usable(account.id)
        ]
        for other in tree.roots():
            if other != tree.path(account.id)[0]:
                with pytest.raises(ActionDenied):
                    app.sharing.usable_resources(account.id, by=f"admin_{other}")
