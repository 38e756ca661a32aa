"""Ceilings on a move: a ceiling binds only while the account that placed it is still a
strict ancestor of the account it bounds (``subacct.policy.ceilings.binds``). A move,
attach or detach drops, with a ``ceiling_removed`` event, every ceiling of the moved
subtree whose ``set_by`` is no longer above it; the others stay."""

from __future__ import annotations

import contextlib

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from subacct import SYSTEM, Ceiling, MemoryStore, Store, Subacct
from subacct.domain import AccountId, HierarchyRules, UserId
from subacct.errors import HierarchyError
from subacct.policy import MANAGE_WEBHOOKS, SEND_MESSAGES, VIEW_BILLING, VIEW_REPORTS
from subacct.storage.collections import CEILINGS

from .conftest import event_log, make_app


def world(store: Store) -> Subacct:
    """Masters m and n; a under m, b under a, c under n; o: parent admin of m and n."""
    app = make_app(store, hierarchy=HierarchyRules(3))
    app.accounts.create_master("M", account_id="m", by=SYSTEM)
    app.accounts.create_master("N", account_id="n", by=SYSTEM)
    for sub, parent in (("a", "m"), ("b", "a"), ("c", "n")):
        app.accounts.create_sub(parent, sub.upper(), account_id=sub, by=SYSTEM)
    app.members.create_user("o@x.test", "O", user_id="o", by=SYSTEM)
    app.members.add("o", "m", "parent_admin", by=SYSTEM)
    app.members.add("o", "n", "parent_admin", by=SYSTEM)
    return app


def test_seed_issue13_a_ceiling_of_the_old_parent_is_dropped_on_a_move(store: Store) -> None:
    app = world(store)
    app.policy.set_ceiling(Ceiling("a", "m", [SEND_MESSAGES, VIEW_REPORTS]), by="o")
    platform = Ceiling("a", None, [SEND_MESSAGES, VIEW_REPORTS, VIEW_BILLING])
    app.policy.set_ceiling(platform, by=SYSTEM)
    assert not app.policy.check(VIEW_BILLING, "a", by="o").allowed
    app.accounts.move("a", "n", by="o")
    # every check, report and listing on the moved account works again
    assert app.policy.check(VIEW_BILLING, "a", by="o").allowed
    assert app.policy.check(VIEW_BILLING, "b", by="o").allowed
    assert not app.policy.check(MANAGE_WEBHOOKS, "a", by="o").allowed  # the platform's stays
    assert app.policy.ceilings("a", by="o") == [platform]
    assert app.accounts.path("b", by="o") == ["n", "a", "b"]
    removed = [e for e in event_log(store) if e.event_type == "ceiling_removed"]  # type: ignore[attr-defined]
    assert [(e.account_id, e.set_by, e.reason) for e in removed] == [  # type: ignore[attr-defined]
        ("a", "m", "set_by_not_an_ancestor")
    ]
    index = app.policy.index(by=SYSTEM)
    for account in ("a", "b"):
        for action in (VIEW_BILLING, MANAGE_WEBHOOKS, SEND_MESSAGES):
            assert index.check("o", action, account) == app.policy.check(action, account, by="o")


def _removed(store: Store) -> list[tuple[object, object, object]]:
    return [
        (e.account_id, e.set_by, e.reason)  # type: ignore[attr-defined]
        for e in event_log(store)
        if e.event_type == "ceiling_removed"  # type: ignore[attr-defined]
    ]


def test_a_grandchild_keeps_what_the_moved_account_placed_and_loses_what_was_above(
    store: Store,
) -> None:
    app = world(store)
    app.policy.set_ceiling(Ceiling("b", "m", [SEND_MESSAGES, VIEW_BILLING]), by="o")
    app.policy.set_ceiling(Ceiling("b", "a", [SEND_MESSAGES, VIEW_REPORTS]), by="o")
    app.accounts.move("a", "n", by="o")
    assert app.policy.ceilings("b", by="o") == [Ceiling("b", "a", [SEND_MESSAGES, VIEW_REPORTS])]
    assert app.policy.check(VIEW_REPORTS, "b", by="o").allowed  # m's bound went with m
    assert app.policy.check(VIEW_BILLING, "b", by="o").code == "ceiling_excludes_action"
    assert _removed(store) == [("b", "m", "set_by_not_an_ancestor")]


def test_a_move_inside_the_tree_keeps_the_ceilings_of_ancestors_that_stay(store: Store) -> None:
    app = world(store)
    app.accounts.create_sub("m", "D", account_id="d", by=SYSTEM)
    app.policy.set_ceiling(Ceiling("b", "m", [SEND_MESSAGES]), by="o")
    app.policy.set_ceiling(Ceiling("b", "a", [SEND_MESSAGES, VIEW_REPORTS]), by="o")
    before = len(event_log(store))
    app.accounts.move("b", "d", by="o")  # m stays above b; a does not
    assert app.policy.ceilings("b", by="o") == [Ceiling("b", "m", [SEND_MESSAGES])]
    assert app.policy.check(VIEW_REPORTS, "b", by="o").code == "ceiling_excludes_action"
    new = event_log(store)[before:]
    assert [e.event_type for e in new] == ["ceiling_removed", "account_moved"]  # type: ignore[attr-defined]
    assert _removed(store) == [("b", "a", "set_by_not_an_ancestor")]


def test_detach_drops_every_ceiling_from_above_and_attach_keeps_the_platforms(
    store: Store,
) -> None:
    app = world(store)
    app.policy.set_ceiling(Ceiling("a", "m", [SEND_MESSAGES]), by="o")
    platform = Ceiling("a", None, [SEND_MESSAGES, VIEW_BILLING])
    app.policy.set_ceiling(platform, by=SYSTEM)
    app.accounts.detach("a", by="o")
    assert app.policy.ceilings("a", by=SYSTEM) == [platform]
    app.accounts.attach("a", "n", by=SYSTEM)
    assert app.policy.ceilings("a", by=SYSTEM) == [platform]
    assert app.policy.check(VIEW_BILLING, "b", by="o").allowed
    assert not app.policy.check(VIEW_REPORTS, "b", by="o").allowed
    assert _removed(store) == [("a", "m", "set_by_not_an_ancestor")]


def test_a_ceiling_left_behind_before_this_rule_binds_nothing_and_the_system_lifts_it(
    store: Store,
) -> None:
    """Data written before moves dropped ceilings: the stranded record is ignored by
    every decision, listing and snapshot, and the system can delete it."""
    app = world(store)
    app.accounts.move("a", "n", by="o")
    stale = Ceiling("a", "m", [SEND_MESSAGES])
    with store.unit_of_work() as uow:
        uow.records(CEILINGS).add(stale)
        uow.commit()
    assert app.policy.check(VIEW_BILLING, "a", by="o").allowed
    assert app.policy.check(VIEW_BILLING, "b", by="o").allowed
    assert app.policy.ceilings("a", by="o") == []
    assert app.policy.index(by=SYSTEM).ceilings_on("a") == ()
    assert app.policy.remove_ceiling("a", "m", by=SYSTEM) == stale
    with store.unit_of_work() as uow:
        assert uow.records(CEILINGS).all() == []


# -- property: random moves, ceilings and checks ------------------------------------------

_ACTIONS = (SEND_MESSAGES, VIEW_BILLING, VIEW_REPORTS, MANAGE_WEBHOOKS)
_SUBS = ("a", "b", "c", "d")
_USERS = ("o", "sa", "sb")


class CeilingsFollowMoves(RuleBasedStateMachine):
    """Two masters and four subs on a MemoryStore, three levels; ceilings placed from
    random ancestors (or the platform), random moves, attaches and detaches. After every
    step the full snapshot and the service agree on every check, the stored ceilings all
    bind, and nothing raises but the typed refusals of impossible moves."""

    def __init__(self) -> None:
        super().__init__()
        app = make_app(MemoryStore(), hierarchy=HierarchyRules(3))
        app.accounts.create_master("M", account_id="m", by=SYSTEM)
        app.accounts.create_master("N", account_id="n", by=SYSTEM)
        for sub, parent in (("a", "m"), ("b", "a"), ("c", "n"), ("d", "m")):
            app.accounts.create_sub(parent, sub.upper(), account_id=sub, by=SYSTEM)
        for user in _USERS:
            app.members.create_user(f"{user}@x.test", user, user_id=user, by=SYSTEM)
        for user, account, role in (
            ("o", "m", "parent_admin"),
            ("o", "n", "parent_admin"),
            ("sa", "a", "sub_admin"),
            ("sb", "b", "parent_admin"),
        ):
            app.members.add(user, account, role, by=SYSTEM)
        self.app = app

    @rule(
        account=st.sampled_from(_SUBS),
        above=st.integers(0, 1),
        actions=st.sets(st.sampled_from(_ACTIONS)),
    )
    def set_ceiling(self, account: str, above: int, actions: set[str]) -> None:
        chain = self.app.accounts.ancestors(account, by=SYSTEM)
        set_by = chain[above] if above < len(chain) else None
        self.app.policy.set_ceiling(Ceiling(account, set_by, sorted(actions)), by=SYSTEM)

    @rule(account=st.sampled_from(_SUBS), parent=st.sampled_from(("m", "n", *_SUBS)))
    def move(self, account: str, parent: str) -> None:
        with contextlib.suppress(HierarchyError):  # top level, a cycle, too deep
            self.app.accounts.move(account, parent, by=SYSTEM)

    @rule(account=st.sampled_from(_SUBS))
    def detach(self, account: str) -> None:
        with contextlib.suppress(HierarchyError):  # already top level
            self.app.accounts.detach(account, by=SYSTEM)

    @rule(account=st.sampled_from(_SUBS), parent=st.sampled_from(("m", "n", *_SUBS)))
    def attach(self, account: str, parent: str) -> None:
        with contextlib.suppress(HierarchyError):  # a sub already, a cycle, too deep
            self.app.accounts.attach(account, parent, by=SYSTEM)

    @invariant()
    def snapshot_and_service_agree(self) -> None:
        app = self.app
        index = app.policy.index(by=SYSTEM)
        for account in ("m", "n", *_SUBS):
            above = set(app.accounts.ancestors(account, by=SYSTEM))
            placed = app.policy.ceilings(account, by=SYSTEM)
            assert all(c.set_by is None or c.set_by in above for c in placed)
            assert list(index.ceilings_on(AccountId(account))) == placed
            for user in _USERS:
                rights = app.policy.actions_in(account, by=user)
                assert rights == index.actions_in(UserId(user), AccountId(account))
                for action in _ACTIONS:
                    got = app.policy.check(action, account, by=user)
                    assert got == index.check(UserId(user), action, AccountId(account))
        with app.store.unit_of_work() as uow:  # nothing stranded is left in storage
            for c in uow.records(CEILINGS).all():
                above = {a.id for a in uow.accounts.ancestors(c.account_id)}
                assert c.set_by is None or c.set_by in above


CeilingsFollowMoves.TestCase.settings = settings(max_examples=50, stateful_step_count=10)
test_ceilings_follow_moves = CeilingsFollowMoves.TestCase
