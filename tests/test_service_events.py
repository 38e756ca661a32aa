"""Every public mutating operation of the service emits exactly one event of its type,
in the same unit of work; a refused one emits none."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from subacct import AccountService, FixedClock, MemoryStore, SequentialIds, SubacctError
from subacct.domain.events import event_from_dict, event_to_dict

OPS: list[tuple[str, Callable[[AccountService], object]]] = [
    ("account_created", lambda s: s.create_master("New")),
    ("account_created", lambda s: s.create_sub("agencydemo", "New sub")),
    ("account_renamed", lambda s: s.rename("agency1", "Company X Ltd")),
    ("account_status_changed", lambda s: s.pause("agency1")),
    ("account_status_changed", lambda s: s.suspend("agency1")),
    ("account_closed", lambda s: s.close("agency2")),
    ("account_moved", lambda s: s.detach("agency2")),
    ("client_linked", lambda s: s.link_client("agencydemo", "client", "Acme")),
    ("user_created", lambda s: s.create_user("new@x.test", "New")),
    ("user_renamed", lambda s: s.rename_user("u_ann", "Ann B.")),
    ("user_deleted", lambda s: s.remove_user("u_ann")),
    ("user_invited", lambda s: s.add_membership("u_ann", "agency2", "basic_user")),
    ("role_changed", lambda s: s.change_role("u_ann", "agency1", "advanced_user")),
    ("user_removed", lambda s: s.remove_membership("u_ann", "agency1")),
]


def agency() -> AccountService:
    svc = AccountService(
        MemoryStore(), clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), ids=SequentialIds()
    )
    svc.create_master("Agency Demo", account_id="agencydemo")
    svc.create_sub("agencydemo", "Company X", account_id="agency1")
    svc.create_sub("agencydemo", "Company Y", account_id="agency2")
    svc.create_master("Client", account_id="client")
    svc.create_user("ann@x.test", "Ann", user_id="u_ann")
    svc.add_membership("u_ann", "agency1", "sub_admin")
    return svc


def events(svc: AccountService) -> list[object]:
    with svc.store.unit_of_work() as uow:
        return [x.event for x in uow.events.since(0, limit=10_000)]


@pytest.mark.parametrize(
    ("event_type", "op"), OPS, ids=[f"{i}-{t}" for i, (t, _) in enumerate(OPS)]
)
def test_one_event_of_the_right_type(
    event_type: str, op: Callable[[AccountService], object]
) -> None:
    svc = agency()
    before = events(svc)
    op(svc)
    after = events(svc)
    assert after[: len(before)] == before
    new = after[len(before) :]
    assert [e.event_type for e in new] == [event_type]  # type: ignore[attr-defined]
    assert event_from_dict(event_to_dict(new[0])) == new[0]  # type: ignore[arg-type]


def test_unlink_and_actor_are_recorded() -> None:
    svc = agency()
    svc.link_client("agencydemo", "client", "Acme")
    svc.unlink_client("client", actor="u_ann")
    last = events(svc)[-1]
    assert (last.event_type, last.account_id, last.actor) == (  # type: ignore[attr-defined]
        "client_unlinked",
        "agencydemo",
        "u_ann",
    )


def test_refused_operation_emits_nothing() -> None:
    svc = agency()
    before = events(svc)
    with pytest.raises(SubacctError):
        svc.create_sub("agency1", "Too deep")
    with pytest.raises(SubacctError):
        svc.close("agencydemo")
    assert events(svc) == before
