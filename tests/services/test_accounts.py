"""``app.accounts`` and ``app.members``: who may change the tree, the lifecycle and
memberships, and who sees what (seed 000: subs cannot see each other; seed 004: parent
administrators see every sub)."""

from __future__ import annotations

import pytest

from subacct import (
    SYSTEM,
    AccountStatus,
    ActionDenied,
    Store,
    Subacct,
)
from subacct.errors import (
    AccountNotFound,
    DuplicateLogin,
    LinkError,
    MembershipNotFound,
    UserNotFound,
)

from .conftest import event_log, make_app, seed_agency


@pytest.fixture
def app(store: Store) -> Subacct:
    return seed_agency(make_app(store))


def test_subs_cannot_see_each_other_and_the_parent_sees_all(app: Subacct) -> None:
    assert app.accounts.siblings("agency1", by="sam") == []
    assert app.accounts.siblings("agency1", by="owner") == ["agency2"]
    assert app.accounts.siblings("agency1", by=SYSTEM) == ["agency2"]
    with pytest.raises(ActionDenied) as err:
        app.accounts.get("agency2", by="sam")
    assert err.value.reason == "no_membership"
    with pytest.raises(ActionDenied):
        app.accounts.get("agencydemo", by="bob")
    assert app.accounts.get("agency1", by="bob").name == "Company X"
    assert app.accounts.descendants("agencydemo", by="owner") == ["agency1", "agency2"]
    assert [a.id for a in app.accounts.children("agencydemo", by="owner")] == [
        "agency1",
        "agency2",
    ]
    assert app.accounts.path("agency1", by="sam") == ["agencydemo", "agency1"]
    assert app.accounts.can_send("agency1", by="bob")
    with pytest.raises(AccountNotFound):
        app.accounts.get("ghost", by="owner")


def test_a_users_tree_is_what_it_may_see(app: Subacct) -> None:
    assert [a.id for a in app.accounts.tree(by="sam")] == ["agency1"]
    assert app.accounts.tree(by="sam").roots() == ["agency1"]
    assert [a.id for a in app.accounts.tree(by="owner")] == ["agency1", "agency2", "agencydemo"]
    assert len(app.accounts.tree(by=SYSTEM)) == 3
    assert [a.id for a in app.accounts.tree(by="owner", root_id="agency2")] == ["agency2"]
    with pytest.raises(ActionDenied):
        app.accounts.tree(by="sam", root_id="agency2")


def test_who_may_change_the_tree(app: Subacct) -> None:
    with pytest.raises(ActionDenied):
        app.accounts.create_sub("agencydemo", "Mine", by="sam")
    with pytest.raises(ActionDenied):
        app.accounts.rename("agency2", "Taken over", by="sam")
    assert app.accounts.rename("agency1", "Company X Ltd", by="sam").name == "Company X Ltd"
    app.accounts.create_master("Other", account_id="other", by=SYSTEM)
    with pytest.raises(ActionDenied):  # the owner has no say in another master
        app.accounts.attach("other", "agencydemo", by="owner")
    with pytest.raises(ActionDenied):
        app.accounts.detach("agency1", by="sam")
    assert app.accounts.detach("agency1", by="owner").parent_id is None


def test_lifecycle_rights(app: Subacct) -> None:
    assert app.accounts.pause("agency1", by="owner").status is AccountStatus.PAUSED
    assert app.accounts.resume("agency1", by="owner").status is AccountStatus.ACTIVE
    for call in (
        lambda: app.accounts.pause("agency1", by="sam"),  # its own admin cannot
        lambda: app.accounts.suspend("agency1", by="owner"),  # a platform hold
        lambda: app.accounts.pause("agencydemo", by="owner"),  # a top-level account
    ):
        with pytest.raises(ActionDenied) as err:
            call()
        assert err.value.details["action"].startswith(("accounts.", "sub_accounts."))
    app.accounts.suspend("agency1", by=SYSTEM)
    with pytest.raises(ActionDenied):  # lifting a suspension is the platform's too
        app.accounts.resume("agency1", by="owner")
    assert app.accounts.resume("agency1", by=SYSTEM).status is AccountStatus.ACTIVE


def test_moving_where_it_is_changes_nothing(app: Subacct) -> None:
    events = event_log(app.store)
    assert app.accounts.move("agency1", "agencydemo", by="owner").version == 1
    assert event_log(app.store) == events


def test_agency_links_need_both_sides(app: Subacct) -> None:
    app.accounts.create_master("Client Co", account_id="client", by=SYSTEM)
    app.members.create_user("cleo@client.test", "Cleo", user_id="cleo", by=SYSTEM)
    app.members.add("cleo", "client", "parent_admin", by=SYSTEM)
    _, token = app.links.request("agencydemo", "Client", login="cleo@client.test", by="owner")
    with pytest.raises(ActionDenied):  # the agency cannot accept for the client
        app.links.accept(token, by="owner")
    link = app.links.accept(token, by="cleo")
    assert app.links.clients("agencydemo", by="owner") == [link]
    assert app.links.agency_of("client", by="cleo") == link
    assert app.links.unlink("client", by="cleo").kind.value == "master"
    with pytest.raises(LinkError):
        app.links.unlink("client", by="cleo")


def test_members(app: Subacct) -> None:
    with pytest.raises(ActionDenied):
        app.members.create_user("mine@example.test", "Mine", by="owner")
    with pytest.raises(DuplicateLogin):
        app.members.create_user(" SAM@example.test ", "Other Sam", by=SYSTEM)
    assert app.members.rename_user("sam", "Samuel", by="sam").display_name == "Samuel"
    with pytest.raises(ActionDenied):
        app.members.rename_user("sam", "Sammy", by="bob")
    assert app.members.get_user("bob", by="sam").login == "bob@example.test"  # users.view
    with pytest.raises(UserNotFound):  # a user bob may not see does not exist for him
        app.members.get_user("yara", by="bob")
    assert [m.user_id for m in app.members.members_of("agency1", by="sam")] == ["bob", "sam"]
    with pytest.raises(ActionDenied):
        app.members.members_of("agency2", by="sam")
    assert [m.account_id for m in app.members.memberships_of("owner", by="owner")] == ["agencydemo"]
    assert app.members.memberships_of("owner", by="sam") == []
    assert app.members.find_user_by_login("BOB@example.test", by=SYSTEM) is not None
    with pytest.raises(ActionDenied):
        app.members.find_user_by_login("bob@example.test", by="bob")
    with pytest.raises(MembershipNotFound):
        app.members.remove("yara", "agency1", by="owner")
    gone = app.members.remove_user("bob", by=SYSTEM)
    assert [m.account_id for m in gone] == ["agency1"]
    with pytest.raises(UserNotFound):  # an unknown user acts nowhere
        app.accounts.get("agency1", by="bob")
