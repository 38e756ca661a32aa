from datetime import UTC, datetime, timedelta, timezone

import pytest

from subacct import Account, AccountId, AccountKind, AccountStatus, InvalidInput
from subacct.domain import ALLOWED_TRANSITIONS, can_send, new_master
from subacct.errors import AccountClosed, AccountHasOpenSubs, ForbiddenTransition

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def master(status: AccountStatus = AccountStatus.ACTIVE) -> Account:
    return Account(AccountId("m"), "M", AccountKind.MASTER, T0, status=status)


@pytest.mark.parametrize("src", list(AccountStatus))
@pytest.mark.parametrize("dst", list(AccountStatus))
def test_every_transition_follows_the_table(src: AccountStatus, dst: AccountStatus) -> None:
    account = master(src)
    if dst in ALLOWED_TRANSITIONS[src]:
        moved = account.with_status(dst)
        assert (moved.status, moved.version) == (dst, account.version + 1)
    else:
        with pytest.raises(ForbiddenTransition) as err:
            account.with_status(dst)
        assert err.value.code == "forbidden_transition"
        assert err.value.details["from_status"] == src.value


def test_closed_never_reopens_and_is_final() -> None:
    closed = master().with_status(AccountStatus.CLOSED)
    assert ALLOWED_TRANSITIONS[AccountStatus.CLOSED] == frozenset()
    with pytest.raises(AccountClosed):
        closed.renamed("again")


def test_closing_with_open_subs_is_refused() -> None:
    with pytest.raises(AccountHasOpenSubs) as err:
        master().with_status(AccountStatus.CLOSED, open_children=[AccountId("s2"), AccountId("s1")])
    assert err.value.details["open_subs"] == ["s1", "s2"]


def test_only_active_accounts_with_active_ancestors_can_send() -> None:
    sub = Account(AccountId("s"), "S", AccountKind.SUB, T0, parent_id=AccountId("m"))
    assert can_send(sub, [master()])
    assert not can_send(sub, [master(AccountStatus.PAUSED)])
    assert not can_send(sub.with_status(AccountStatus.PAUSED), [master()])
    assert not can_send(master(AccountStatus.SUSPENDED), [])


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 201])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        new_master(AccountId("m"), name, T0)
    assert err.value.field == "name"


def test_name_is_trimmed() -> None:
    assert new_master(AccountId("m"), "  Agency  ", T0).name == "Agency"


@pytest.mark.parametrize("bad_id", ["", "a b", " a", "a\x00", 5])
def test_bad_ids_are_refused(bad_id: object) -> None:
    with pytest.raises(InvalidInput):
        new_master(bad_id, "M", T0)  # type: ignore[arg-type]


def test_kind_and_parent_must_agree() -> None:
    with pytest.raises(InvalidInput):
        Account(AccountId("s"), "S", AccountKind.SUB, T0)
    with pytest.raises(InvalidInput):
        Account(AccountId("m"), "M", AccountKind.MASTER, T0, parent_id=AccountId("x"))
    with pytest.raises(InvalidInput):
        Account(AccountId("s"), "S", AccountKind.SUB, T0, parent_id=AccountId("s"))


def test_timestamps_must_be_aware_and_are_stored_in_utc() -> None:
    with pytest.raises(InvalidInput):
        new_master(AccountId("m"), "M", datetime(2026, 1, 1))
    plus_two = timezone(timedelta(hours=2))
    account = new_master(AccountId("m"), "M", datetime(2026, 1, 1, 2, tzinfo=plus_two))
    assert account.created_at == T0
    assert account.created_at.tzinfo == UTC
