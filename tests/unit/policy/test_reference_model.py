"""The engine against a plainly written reference model on random worlds: zero
disagreements on checks, reverse queries, incremental updates and ceilings."""

from __future__ import annotations

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subacct.policy import Ceiling, PolicyIndex, Reason
from subacct.testing.policy_strategies import (
    PolicyWorld,
    policy_checks,
    policy_worlds,
    principals,
)

from .reference import Reference

FAST = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _world_and(strategy_of_world):  # type: ignore[no-untyped-def]
    return policy_worlds().flatmap(lambda w: st.tuples(st.just(w), strategy_of_world(w)))


@FAST
@given(_world_and(lambda w: st.lists(policy_checks(w), min_size=1, max_size=25)))
def test_check_agrees_with_reference(case: tuple[PolicyWorld, list]) -> None:  # type: ignore[type-arg]
    world, questions = case
    index, ref = world.index(), Reference(world)
    for principal, action, account in questions:
        got = index.check(principal, action, account)
        assert got == ref.check(principal, action, account), (principal, action, account)
        assert attrs.evolve(got) == got  # passes Decision's own validation


@FAST
@given(policy_worlds())
def test_every_user_question_agrees_with_reference(world: PolicyWorld) -> None:
    index, ref = world.index(), Reference(world)
    for user in (*world.users, "stranger"):
        for account in world.account_ids:
            for action in world.catalog:
                expected = ref.check(user, action, account)
                assert index.check(user, action, account) == expected
                via = index.check_via(user, action, account, direct=True, inherited=True)
                assert via == expected
                assert index.check_via(user, action, account, direct=False) == ref.user(
                    user, action, account, direct=False
                )
                assert index.check_via(user, action, account, inherited=False) == ref.user(
                    user, action, account, inherited=False
                )


@FAST
@given(_world_and(lambda w: st.lists(principals(w), min_size=1, max_size=6)))
def test_reverse_queries_agree_with_check(case: tuple[PolicyWorld, list]) -> None:  # type: ignore[type-arg]
    world, people = case
    index, ref = world.index(), Reference(world)
    for principal in people:
        for account in world.account_ids:
            assert index.actions_in(principal, account) == ref.actions_in(principal, account)
        for action in world.catalog:
            assert index.accounts_with(principal, action) == ref.accounts_with(principal, action)


@FAST
@given(policy_worlds())
def test_incremental_updates_equal_a_rebuild(world: PolicyWorld) -> None:
    empty = PolicyIndex.build(
        [], roles=world.roles, catalog=world.catalog
    )  # accounts added one by one below, parents first
    index = empty
    for account in world.accounts:
        index = index.with_account(account)
    for membership in world.memberships:
        index = index.with_membership(membership)
    for ceiling in world.ceilings:
        index = index.with_ceiling(ceiling)
    for setting in world.impersonation_settings:
        index = index.with_impersonation_setting(setting)
    rebuilt = world.index()
    for user in world.users:
        for account in world.account_ids:
            for action in world.catalog:
                assert index.check(user, action, account) == rebuilt.check(user, action, account)
    for account in world.account_ids:
        assert index.ceiling_mask(account) == rebuilt.ceiling_mask(account)
    # and back: removing what was added gives the unrestricted, member-less answers again
    for ceiling in world.ceilings:
        index = index.without_ceiling(ceiling.account_id, ceiling.set_by)
    for membership in world.memberships:
        index = index.without_membership(membership.user_id, membership.account_id)
    for account in world.account_ids:
        assert index.ceiling_mask(account) is None
        for user in world.users:
            assert index.actions_in(user, account) == {}


@FAST
@given(
    _world_and(
        lambda w: st.tuples(
            st.sampled_from(w.account_ids),
            st.lists(st.sampled_from(list(w.catalog)), unique=True),
        )
    )
)
def test_a_ceiling_never_widens_anything(case: tuple[PolicyWorld, tuple]) -> None:  # type: ignore[type-arg]
    world, (account, allowed) = case
    before = world.index().without_ceiling(account, None)
    after = before.with_ceiling(Ceiling(account, None, allowed))
    for user in world.users:
        for target in world.account_ids:
            got = after.actions_in(user, target)
            was = before.actions_in(user, target)
            assert set(got) <= set(was)
            below = target == account or account in world.ancestors(target)
            expected = {a: s for a, s in was.items() if not below or a in allowed}
            assert got == expected
            for action in set(was) - set(got):
                decision = after.check(user, action, target)
                assert decision.reason is Reason.CEILING_EXCLUDES_ACTION
