"""The adapter conformance kit: the definition of "a correct storage adapter".

A host that implements the storage ports on its own database subclasses
``StoreConformance`` in its test suite and provides one fixture, ``store_factory``, that
returns a callable making a fresh, empty store::

    import pytest
    from subacct.testing.conformance import StoreConformance

    class TestMyPostgresStore(StoreConformance):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: MyPostgresStore(fresh_database_url())

pytest then runs every ``test_*`` method below against the host's adapter. subacct runs
the same kit against its in-memory, SQLite and PostgreSQL adapters. The credit ledger's
cases (``subacct.testing.ledger_conformance``) are part of it, concurrency included. Needs
the ``test`` extra (pytest and hypothesis).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subacct.app import Subacct
from subacct.domain import (
    Account,
    AccountId,
    AccountKind,
    AccountStatus,
    AgencyLink,
    HierarchyRules,
    LinkRequest,
    Membership,
    RoleId,
    Tree,
    User,
    UserId,
    new_master,
)
from subacct.domain.events import CreditsMoved, EventId, ShareRevoked
from subacct.domain.resources import (
    Resource,
    ResourceId,
    ResourceKind,
    Share,
    ShareId,
    ShareMode,
    SharePermission,
    encode_content,
)
from subacct.errors import (
    AccountNotFound,
    AlreadyExists,
    ConcurrentModification,
    DuplicateLogin,
    InvalidInput,
    MembershipNotFound,
    NotFound,
    StorageError,
    SubacctError,
    UserNotFound,
)
from subacct.money import FINEST_AMOUNT, MAX_AMOUNT, Money
from subacct.policy.system import SYSTEM
from subacct.runtime import FixedClock, SequentialIds
from subacct.settings import Settings
from subacct.storage.collections import COLLECTIONS, RESOURCES
from subacct.storage.ports import Store, UnitOfWork
from subacct.testing.ledger_conformance import LedgerConformance

__all__ = ["StoreConformance", "store_state"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
StoreFactory = Callable[[], Store]


def store_state(store: Store) -> dict[str, Any]:
    """Everything the ports can see, for "nothing changed" comparisons."""
    with store.unit_of_work() as uow:
        accounts = uow.accounts.all()
        return {
            "accounts": accounts,
            "links": [uow.links.for_client(a.id) for a in accounts],
            "users": uow.users.all(),
            "memberships": uow.memberships.all(),
        }


def _service(store: Store, max_levels: int = 2) -> Subacct:
    settings = Settings(
        clock=FixedClock(T0), ids=SequentialIds(), hierarchy=HierarchyRules(max_levels)
    )
    return Subacct(store, settings)


def _agency(store: Store) -> Subacct:
    """The seed 000 agency: agencydemo with agency1 and agency2, plus two users."""
    svc = _service(store)
    svc.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
    svc.accounts.create_sub("agencydemo", "Agency 1", account_id="agency1", by=SYSTEM)
    svc.accounts.create_sub("agencydemo", "Agency 2", account_id="agency2", by=SYSTEM)
    svc.members.create_user("owner@agency.test", "Owner", user_id="u_owner", by=SYSTEM)
    svc.members.create_user("ann@agency1.test", "Ann", user_id="u_ann", by=SYSTEM)
    svc.members.add("u_owner", "agencydemo", "parent_admin", by=SYSTEM)
    svc.members.add("u_ann", "agency1", "sub_admin", by=SYSTEM)
    return svc


class StoreConformance(LedgerConformance):
    """Contract tests every adapter must pass. Override ``store_factory``. The credit
    ledger's cases come from ``LedgerConformance``.

    ``hierarchy_examples`` (like ``ledger_machine_examples``) is how many random
    operation sequences run, each on a fresh store: lower it for a store whose creation
    is slow (a server schema migrated per example)."""

    hierarchy_examples: ClassVar[int] = 40

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        raise NotImplementedError("subclasses provide a store_factory fixture")

    @pytest.fixture
    def store(self, store_factory: StoreFactory) -> Store:
        return store_factory()

    # -- accounts -------------------------------------------------------------------------

    def test_account_add_get_find(self, store: Store) -> None:
        acc = new_master(AccountId("m1"), "Master", T0)
        with store.unit_of_work() as uow:
            uow.accounts.add(acc)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.accounts.get(AccountId("m1")) == acc
            assert uow.accounts.find(AccountId("nope")) is None
            with pytest.raises(AccountNotFound):
                uow.accounts.get(AccountId("nope"))
            with pytest.raises(AlreadyExists):
                uow.accounts.add(acc)

    def test_account_needs_existing_parent(self, store: Store) -> None:
        orphan = Account(AccountId("s"), "Sub", AccountKind.SUB, T0, parent_id=AccountId("gone"))
        with store.unit_of_work() as uow, pytest.raises(AccountNotFound):
            uow.accounts.add(orphan)

    def test_optimistic_version_refuses_stale_write(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.accounts.add(new_master(AccountId("m1"), "Master", T0))
            uow.commit()
        with store.unit_of_work() as uow:
            first = uow.accounts.get(AccountId("m1"))
            uow.accounts.update(first.renamed("One"))
            with pytest.raises(ConcurrentModification):
                uow.accounts.update(first.renamed("Two"))  # built from a stale read
            uow.commit()
        with store.unit_of_work() as uow:
            stored = uow.accounts.get(AccountId("m1"))
        assert (stored.name, stored.version) == ("One", 2)

    def test_tree_queries_are_ordered(self, store: Store) -> None:
        svc = _service(store, max_levels=3)
        svc.accounts.create_master("Root", account_id="r", by=SYSTEM)
        for sub in ("c", "a", "b"):
            svc.accounts.create_sub("r", sub.upper(), account_id=sub, by=SYSTEM)
        svc.accounts.create_sub("a", "A2", account_id="a2", by=SYSTEM)
        svc.accounts.create_sub("a", "A1", account_id="a1", by=SYSTEM)
        with store.unit_of_work() as uow:
            assert [a.id for a in uow.accounts.children(AccountId("r"))] == ["a", "b", "c"]
            assert [a.id for a in uow.accounts.ancestors(AccountId("a1"))] == ["a", "r"]
            assert [a.id for a in uow.accounts.ancestors(AccountId("r"))] == []
            assert [a.id for a in uow.accounts.descendants(AccountId("r"))] == [
                "a",
                "a1",
                "a2",
                "b",
                "c",
            ]
            assert [a.id for a in uow.accounts.all()] == ["a", "a1", "a2", "b", "c", "r"]

    # -- units of work --------------------------------------------------------------------

    def test_leaving_without_commit_rolls_back(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.accounts.add(new_master(AccountId("m1"), "Master", T0))
        with store.unit_of_work() as uow:
            assert uow.accounts.find(AccountId("m1")) is None

    def test_exception_rolls_back_everything(self, store: Store) -> None:

        def fail_midway() -> None:
            with store.unit_of_work() as uow:
                uow.accounts.add(new_master(AccountId("m1"), "Master", T0))
                uow.users.add(User(UserId("u1"), "a@b.test", "A", T0))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail_midway()
        assert store_state(store) == {"accounts": [], "links": [], "users": [], "memberships": []}

    def test_explicit_rollback_discards(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.accounts.add(new_master(AccountId("m1"), "Master", T0))
            uow.rollback()
            uow.accounts.add(new_master(AccountId("m2"), "Master 2", T0))
            uow.commit()
        with store.unit_of_work() as uow:
            assert [a.id for a in uow.accounts.all()] == ["m2"]

    def test_units_of_work_do_not_nest(self, store: Store) -> None:
        outer = store.unit_of_work()
        with outer, pytest.raises(StorageError), store.unit_of_work():
            pass

    def test_concurrent_read_modify_write_loses_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.accounts.add(new_master(AccountId("m1"), "0", T0))
            uow.commit()
        threads, rounds = 4, 25

        def bump() -> None:
            done = 0
            while done < rounds:  # a host retries a unit of work that lost a race
                try:
                    with store.unit_of_work() as uow:
                        acc = uow.accounts.get(AccountId("m1"))
                        uow.accounts.update(acc.renamed(str(int(acc.name) + 1)))
                        uow.commit()
                    done += 1
                except ConcurrentModification:
                    continue

        workers = [threading.Thread(target=bump) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        with store.unit_of_work() as uow:
            acc = uow.accounts.get(AccountId("m1"))
        assert (acc.name, acc.version) == (str(threads * rounds), threads * rounds + 1)

    def test_no_write_skew_between_close_and_create_sub(self, store: Store) -> None:
        """Closing a master while a sub is created under it: one of them must lose."""
        svc = _service(store)
        for trial in range(10):
            master_id = svc.accounts.create_master("M", account_id=f"m{trial}", by=SYSTEM).id
            _race(
                partial(svc.accounts.close, master_id, by=SYSTEM),
                partial(svc.accounts.create_sub, master_id, "S", by=SYSTEM),
            )
            if svc.accounts.get(master_id, by=SYSTEM).status is AccountStatus.CLOSED:
                assert all(not c.is_open for c in svc.accounts.children(master_id, by=SYSTEM))

    # -- users, memberships, links --------------------------------------------------------

    def test_login_is_unique(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.users.add(User(UserId("u1"), "Ann@Example.com", "Ann", T0))
            with pytest.raises(DuplicateLogin):
                uow.users.add(User(UserId("u2"), " ann@example.COM ", "Other Ann", T0))
            wide = "".join(chr(ord(c) + 0xFEE0) for c in "ANN@example")  # full width
            with pytest.raises(DuplicateLogin):  # the same login (NFKC, then case folded)
                uow.users.add(User(UserId("u2"), f"{wide}.com", "Wide Ann", T0))
            with pytest.raises(AlreadyExists):
                uow.users.add(User(UserId("u1"), "zed@example.com", "Zed", T0))
            found = uow.users.find_by_login("ann@example.com")
            assert found is not None
            assert found.id == "u1"
            uow.users.add(User(UserId("u3"), "bob@example.com", "Bob", T0))
            bob = uow.users.get(UserId("u3"))
            with pytest.raises(DuplicateLogin):
                uow.users.update(attrs.evolve(bob, login="ann@example.com", version=2))
            with pytest.raises(UserNotFound):
                uow.users.get(UserId("nobody"))

    def test_memberships_unique_and_ordered(self, store: Store) -> None:
        svc = _agency(store)
        svc.members.add("u_ann", "agency2", "basic_user", by=SYSTEM)
        svc.members.add("u_ann", "agencydemo", "advanced_user", by=SYSTEM)
        with store.unit_of_work() as uow:
            mine = uow.memberships.for_user(UserId("u_ann"))
            assert [m.account_id for m in mine] == ["agency1", "agency2", "agencydemo"]
            members = uow.memberships.for_account(AccountId("agencydemo"))
            assert [m.user_id for m in members] == ["u_ann", "u_owner"]
            with pytest.raises(AlreadyExists):
                uow.memberships.add(
                    Membership(UserId("u_ann"), AccountId("agency1"), RoleId("x"), T0)
                )
            with pytest.raises(UserNotFound):
                uow.memberships.add(
                    Membership(UserId("ghost"), AccountId("agency1"), RoleId("x"), T0)
                )
            with pytest.raises(AccountNotFound):
                uow.memberships.add(
                    Membership(UserId("u_ann"), AccountId("ghost"), RoleId("x"), T0)
                )
            with pytest.raises(MembershipNotFound):
                uow.memberships.remove(UserId("u_owner"), AccountId("agency1"))
            with pytest.raises(StorageError):
                uow.users.remove(UserId("u_ann"))  # memberships first

    def test_links(self, store: Store) -> None:
        svc = _agency(store)
        svc.accounts.create_master("Client", account_id="client", by=SYSTEM)
        _, token = svc.links.request("agencydemo", "Acme", client_id="client", by=SYSTEM)
        link = svc.links.accept(token, by=SYSTEM)
        assert link.access_role == "agency_manager"
        assert link.request_id is not None
        with store.unit_of_work() as uow:
            assert uow.links.for_client(AccountId("client")) == link
            assert uow.links.for_agency(AccountId("agencydemo")) == [link]
            with pytest.raises(AlreadyExists):
                uow.links.add(AgencyLink(AccountId("agency1"), AccountId("client"), "x", T0))
            with pytest.raises(NotFound):
                uow.links.remove(AccountId("agency1"))

    # -- record collections ---------------------------------------------------------------

    def test_records_add_get_list_update_remove(self, store: Store) -> None:
        first = _resource("tpl_b", "agencydemo")
        second = _resource("tpl_a", "agencydemo")
        other = _resource("tpl_c", "agency1")
        with store.unit_of_work() as uow:
            repo = uow.records(RESOURCES)
            for record in (first, second, other):
                repo.add(record)
            with pytest.raises(AlreadyExists):
                repo.add(first)
            uow.commit()
        with store.unit_of_work() as uow:
            repo = uow.records(RESOURCES)
            assert repo.get("tpl_b") == first
            assert repo.find("nope") is None
            with pytest.raises(NotFound):
                repo.get("nope")
            assert [r.id for r in repo.list_by("owner_id", "agencydemo")] == ["tpl_a", "tpl_b"]
            assert [r.id for r in repo.all()] == ["tpl_a", "tpl_b", "tpl_c"]
            with pytest.raises(InvalidInput):
                repo.list_by("name", "x")  # not an index
            changed = first.changed(content=b"v2")
            repo.update(changed)
            with pytest.raises(ConcurrentModification):
                repo.update(first.changed(content=b"stale"))
            moved = attrs.evolve(changed, owner_id="agency1", version=changed.version + 1)
            repo.update(moved)  # index follows the new value
            repo.remove("tpl_a")
            with pytest.raises(NotFound):
                repo.remove("tpl_a")
            uow.commit()
        with store.unit_of_work() as uow:
            repo = uow.records(RESOURCES)
            assert repo.get("tpl_b") == moved
            assert [r.id for r in repo.list_by("owner_id", "agency1")] == ["tpl_b", "tpl_c"]
            assert repo.list_by("owner_id", "agencydemo") == []

    def test_records_roll_back_with_the_unit(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.records(RESOURCES).add(_resource("tpl_a", "agencydemo"))
        with store.unit_of_work() as uow:
            assert uow.records(RESOURCES).all() == []
            assert uow.records(RESOURCES).list_by("owner_id", "agencydemo") == []

    def test_records_refuse_the_wrong_type(self, store: Store) -> None:
        with store.unit_of_work() as uow, pytest.raises(InvalidInput):
            uow.records(RESOURCES).add(new_master(AccountId("m"), "M", T0))  # type: ignore[arg-type]

    @pytest.mark.parametrize("name", sorted(COLLECTIONS))
    def test_every_collection_round_trips_and_lists_by_its_indexes(
        self, store: Store, name: str
    ) -> None:
        coll = COLLECTIONS[name]
        record = _samples()[name]
        with store.unit_of_work() as uow:
            uow.records(coll).add(record)
            uow.commit()
        with store.unit_of_work() as uow:
            repo = uow.records(coll)
            key = coll.key_of(record)
            assert repo.get(key) == record
            assert repo.all() == [record]
            for field, value in coll.index_values(record).items():
                if value is not None:
                    assert repo.list_by(field, value) == [record]
                    assert repo.list_by(field, value + "_other") == []
            if coll.append_only:
                with pytest.raises(StorageError):
                    repo.update(record)
                with pytest.raises(StorageError):
                    repo.remove(key)
            else:
                repo.remove(key)
                assert repo.all() == []

    def test_records_find_many(self, store: Store) -> None:
        records = [_resource(f"tpl_{n}", "agencydemo") for n in range(1, 901)]
        with store.unit_of_work() as uow:
            for record in records:
                uow.records(RESOURCES).add(record)
            uow.commit()
        with store.unit_of_work(read_only=True) as uow:
            wanted = [f"tpl_{n}" for n in range(0, 1000, 3)]  # across several IN lists
            found = uow.records(RESOURCES).find_many([*wanted, "tpl_3"])
            assert found == {r.id: r for r in records if r.id in wanted}
            assert uow.records(RESOURCES).find_many([]) == {}

    def test_add_many_and_append_many(self, store: Store) -> None:
        """Many records and events at once (an adapter may send them with the commit):
        stored in order on commit, all gone on rollback, a taken key or event id fails
        the unit (at once, or at its commit) and leaves nothing of it."""
        records = [_resource(f"tpl_{n:03d}", "agencydemo") for n in range(450)]
        events = [_event(f"ev{n:03d}", "agency1") for n in range(450)]
        before = _last_seq(store)
        with store.unit_of_work() as uow:
            uow.records(RESOURCES).add_many(records)
            uow.events.append_many(events)
        with store.unit_of_work() as uow:
            assert uow.records(RESOURCES).all() == []
            assert uow.events.since(before) == []
            uow.records(RESOURCES).add_many(records)
            uow.events.append_many(events)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.records(RESOURCES).all() == records
            logged = uow.events.since(before)
            assert [e.event for e in logged] == events
            assert [e.seq for e in logged] == list(range(before + 1, before + 451))

        def add_again(uow: UnitOfWork) -> None:
            uow.records(RESOURCES).add_many([_resource("tpl_new", "a"), records[0]])

        def append_again(uow: UnitOfWork) -> None:
            uow.events.append_many([_event("ev_new", "agency1"), events[0]])

        for again in (add_again, append_again):
            with pytest.raises((AlreadyExists, ConcurrentModification)):  # noqa: PT012, SIM117 - the commit may raise
                with store.unit_of_work() as uow:
                    again(uow)
                    uow.commit()
        with store.unit_of_work() as uow:
            assert uow.records(RESOURCES).find("tpl_new") is None
            assert len(uow.events.since(before)) == 450

    def test_audit_records_come_back_in_the_order_they_were_written(self, store: Store) -> None:
        """120 audit records of one clock reading, with ids whose text order is not their
        order (``audit_100`` before ``audit_11``): 60 in one ``add_many``, then 60 one by
        one in falling id order. Every read returns them as written, and the last one
        written is last; one rolled back leaves no trace in the order."""
        from subacct.policy import SEND_MESSAGES, Decision, Reason, Scope, audit_record
        from subacct.storage.collections import AUDIT_RECORDS

        allowed = Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL, role_id="sub_admin")

        def record(n: int, account: str = "agency1") -> Any:
            who, where = UserId(f"u{n % 3}"), AccountId(account)
            return audit_record(f"audit_{n}", T0, who, SEND_MESSAGES, where, allowed)

        written = [record(n) for n in range(1, 61)] + [record(n) for n in range(120, 60, -1)]
        with store.unit_of_work() as uow:
            uow.records(AUDIT_RECORDS).add_many(written[:60])
            uow.commit()
        with store.unit_of_work() as uow:
            for one in written[60:]:
                uow.records(AUDIT_RECORDS).add(one)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.records(AUDIT_RECORDS).add(record(500))  # rolled back
        with store.unit_of_work() as uow:
            uow.records(AUDIT_RECORDS).add(record(0, "agency2"))
            uow.commit()
        with store.unit_of_work(read_only=True) as uow:
            repo = uow.records(AUDIT_RECORDS)
            assert repo.all() == [*written, record(0, "agency2")]
            assert repo.list_by("account_id", "agency1") == written
            assert repo.list_by("account_id", "agency1")[-1].id == "audit_61"
            assert repo.list_by("acting_user_id", "u1") == [
                r for r in written if r.acting_user_id == "u1"
            ]
            keys = [r.id for r in written]
            assert list(repo.find_many(sorted(keys))) == keys
            assert repo.find("audit_500") is None

    def test_one_clock_reading_keeps_the_order_of_audit_records_and_events(
        self, store: Store
    ) -> None:
        """Through ``Subacct``, 120 renames at one clock reading (``FixedClock``): the
        audit records come back in the order they were written (``[-1]`` is the last
        one), and so do the events, read whole or page by page."""
        svc = _service(store)
        svc.accounts.create_master("Agency Demo", account_id="agencydemo", by=SYSTEM)
        for n in range(120):
            svc.accounts.rename("agencydemo", f"Name {n}", by=SYSTEM)
        records = svc.audit.records("agencydemo", by=SYSTEM)
        assert len(records) == 121
        numbers = [int(r.id.rsplit("_", 1)[1]) for r in records]  # SequentialIds: write order
        assert numbers == sorted(numbers)
        assert records[-1].id == f"audit_{max(numbers)}"
        assert {r.at for r in records} == {T0}
        logged = svc.events.for_account("agencydemo", by=SYSTEM)
        names = [getattr(x.event, "new_name", None) for x in logged[1:]]
        assert names == [f"Name {n}" for n in range(120)]
        assert {x.event.occurred_at for x in logged} == {T0}
        paged: list[Any] = []
        while len(
            page := svc.events.for_account(
                "agencydemo", by=SYSTEM, since=paged[-1].seq if paged else 0, limit=50
            )
        ):
            paged += page
        assert paged == logged

    def test_concurrent_writers_keep_their_audit_records_in_commit_order(
        self, store: Store
    ) -> None:
        """Four writers, ten units each, one audit record per unit (ids falling, so key
        order is not write order): every record is read back once, and each writer's
        records in the order it committed them."""
        from subacct.policy import SEND_MESSAGES, Decision, Reason, Scope, audit_record
        from subacct.storage.collections import AUDIT_RECORDS

        allowed = Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL, role_id="sub_admin")

        def write(worker: int) -> None:
            for n in range(10):
                one = audit_record(
                    f"audit_{worker}_{9 - n}",
                    T0,
                    UserId("u"),
                    SEND_MESSAGES,
                    AccountId("agency1"),
                    allowed,
                )
                while True:
                    try:
                        with store.unit_of_work() as uow:
                            uow.records(AUDIT_RECORDS).add(one)
                            uow.commit()
                        break
                    except ConcurrentModification:
                        continue

        _race(*(partial(write, w) for w in range(4)))
        with store.unit_of_work(read_only=True) as uow:
            ids = [r.id for r in uow.records(AUDIT_RECORDS).all()]
        assert sorted(ids) == sorted(f"audit_{w}_{n}" for w in range(4) for n in range(10))
        for w in range(4):
            assert [i for i in ids if i.startswith(f"audit_{w}_")] == [
                f"audit_{w}_{9 - n}" for n in range(10)
            ]

    # -- usage --------------------------------------------------------------------------

    def test_usage_add_find_totals_and_order(self, store: Store) -> None:
        from subacct.pricing import BillingPeriod, UsageRecord
        from subacct.pricing.usage import MAX_QUANTITY

        jan, feb = BillingPeriod(2026, 1), BillingPeriod(2026, 2)
        big = [UsageRecord("a1", jan, "sms", MAX_QUANTITY, f"big{n}") for n in range(9300)]
        small = [
            UsageRecord(f"a{n % 3}", jan, "email", n, f"k{n:04d}", label="x" if n % 2 else None)
            for n in range(1, 1001)
        ]
        later = UsageRecord("a1", feb, "smtp", 4, "k0001")  # the same key, another month
        with store.unit_of_work() as uow:
            uow.usage.add([*small[::-1], *big])
            uow.usage.add([later])
            uow.commit()
        with store.unit_of_work(read_only=True) as uow:
            usage = uow.usage
            assert usage.for_period(jan) == sorted(
                [*small, *big], key=lambda r: (r.account_id, r.idempotency_key)
            )
            assert usage.for_period(feb) == [later]
            expected = {
                a: sum(r.quantity for r in [*small, *big] if r.account_id == a)
                for a in ("a0", "a1", "a2")
            }
            assert expected["a1"] > 2**63  # exact past 64 bits
            assert usage.totals(jan) == expected
            assert usage.totals(jan, [AccountId("a2"), AccountId("nobody")]) == {
                "a2": expected["a2"]
            }
            assert usage.totals(BillingPeriod(2025, 12)) == {}
            wanted = [("a1", "k0001"), ("a0", "k0999"), ("a2", "k0001"), ("a1", "none")]
            assert usage.find(jan, [(AccountId(a), k) for a, k in wanted]) == {
                ("a1", "k0001"): small[0],
                ("a0", "k0999"): small[998],
            }
            assert usage.for_account(AccountId("a1"))[-1] == later
            assert [r.idempotency_key for r in usage.for_account(AccountId("a2"))] == sorted(
                r.idempotency_key for r in small if r.account_id == "a2"
            )

    def test_usage_add_is_all_or_nothing_and_rolls_back(self, store: Store) -> None:
        from subacct.pricing import BillingPeriod, UsageRecord

        jan = BillingPeriod(2026, 1)
        first = UsageRecord("a1", jan, "sms", 3, "k1")
        with store.unit_of_work() as uow:
            uow.usage.add([first])
            uow.commit()
        for batch in (
            [UsageRecord("a1", jan, "sms", 1, "k2"), first],  # a stored key
            [UsageRecord("a1", jan, "sms", 1, "k3"), UsageRecord("a1", jan, "email", 2, "k3")],
        ):
            with store.unit_of_work() as uow:
                with pytest.raises(AlreadyExists):
                    uow.usage.add(batch)
                assert uow.usage.find(jan, [(AccountId("a1"), "k2"), (AccountId("a1"), "k3")]) == {}
                assert uow.usage.totals(jan) == {"a1": 3}
        with store.unit_of_work() as uow:
            with pytest.raises(InvalidInput):
                uow.usage.add([_resource("tpl", "a1")])  # type: ignore[list-item]
            uow.usage.add([UsageRecord("a1", jan, "sms", 5, "k9")])  # not committed
        with store.unit_of_work(read_only=True) as uow:
            assert uow.usage.totals(jan) == {"a1": 3}
            assert uow.usage.for_period(jan) == [first]

    def test_usage_keys_are_each_accounts_own(self, store: Store) -> None:
        from subacct.pricing import BillingPeriod, UsageRecord

        jan = BillingPeriod(2026, 1)
        mine = UsageRecord("a1", jan, "sms", 3, "k1")
        theirs = UsageRecord("a2", jan, "sms", 4, "k1")
        with store.unit_of_work() as uow:
            uow.usage.add([mine, theirs])  # one key, two accounts: two records
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(AlreadyExists):
            uow.usage.add([UsageRecord("a2", jan, "email", 1, "k1")])
        with store.unit_of_work(read_only=True) as uow:
            assert uow.usage.totals(jan) == {"a1": 3, "a2": 4}
            assert uow.usage.find(jan, [(AccountId("a2"), "k1")]) == {("a2", "k1"): theirs}
            assert uow.usage.for_period(jan) == [mine, theirs]

    def test_usage_dimensions_and_owner_round_trip(self, store: Store) -> None:
        from subacct.pricing import BillingPeriod, UsageRecord

        jan = BillingPeriod(2026, 1)
        odd = {"country": "DE", "route": "prémium 'x' \"y\" ✓", "z_9": "{}"}  # any text
        records = [
            UsageRecord("a1", jan, "whatsapp", 3, "k1", "promo", odd, "ann"),
            UsageRecord("a1", jan, "sms", 4, "k2", dimensions={"country": "DE"}),
            UsageRecord("a1", jan, "sms", 5, "k3", owner_id="bob"),
        ]
        with store.unit_of_work() as uow:
            uow.usage.add(records)
            uow.commit()
        with store.unit_of_work(read_only=True) as uow:
            assert uow.usage.for_period(jan) == records
            assert uow.usage.for_account(AccountId("a1")) == records
            found = uow.usage.find(jan, [(AccountId("a1"), "k1")])
            assert found[AccountId("a1"), "k1"].dimensions == odd
            assert found[AccountId("a1"), "k1"].owner_id == "ann"
            assert uow.usage.for_period(jan)[2].dimensions == {}

    def test_usage_slice_totals_are_sums_per_channel_and_dimensions(self, store: Store) -> None:
        from subacct.pricing import BillingPeriod, Channel, Dimensions, UsageRecord
        from subacct.pricing.usage import MAX_QUANTITY, slice_totals

        jan, feb = BillingPeriod(2026, 1), BillingPeriod(2026, 2)
        de, fr = {"country": "DE"}, {"country": "FR"}
        records = [
            UsageRecord("a1", jan, "sms", 3, "k1", dimensions=de),
            UsageRecord("a1", jan, "sms", 4, "k2", dimensions=de, owner_id="ann"),
            UsageRecord("a1", jan, "sms", 5, "k3", dimensions=fr),
            UsageRecord("a1", jan, "email", 6, "k4"),
            UsageRecord("a1", jan, "email", 0, "k5", dimensions=fr),  # a zero sum: left out
            UsageRecord("a2", jan, "sms", MAX_QUANTITY, "k6", dimensions=de),
            UsageRecord("a2", jan, "sms", MAX_QUANTITY, "k7", dimensions=de),  # no overflow
            UsageRecord("a2", feb, "sms", 1, "k8"),
        ]
        with store.unit_of_work() as uow:
            uow.usage.add(records)
            uow.commit()
        with store.unit_of_work(read_only=True) as uow:
            got = uow.usage.slice_totals(jan)
            assert got == {
                "a1": {
                    (Channel.SMS, Dimensions(de)): 7,
                    (Channel.SMS, Dimensions(fr)): 5,
                    (Channel.EMAIL, Dimensions()): 6,
                },
                "a2": {(Channel.SMS, Dimensions(de)): 2 * MAX_QUANTITY},
            }
            assert got == {
                a: {k: n for k, n in parts.items() if n}
                for a, parts in slice_totals(r for r in records if r.period == jan).items()
            }
            assert uow.usage.slice_totals(jan, [AccountId("a2"), AccountId("nobody")]) == {
                "a2": got[AccountId("a2")]
            }
            assert uow.usage.slice_totals(BillingPeriod(2025, 12)) == {}
            assert {a: sum(p.values()) for a, p in got.items()} == uow.usage.totals(jan)

    def test_usage_report_totals_are_sums_per_label_owner_channel_and_dimensions(
        self, store: Store
    ) -> None:
        from subacct.pricing import BillingPeriod, Channel, Dimensions, UsageRecord
        from subacct.pricing.usage import MAX_QUANTITY, group_totals

        jan, feb = BillingPeriod(2026, 1), BillingPeriod(2026, 2)
        de = {"country": "DE"}
        records = [
            UsageRecord("a1", jan, "sms", 3, "k1", label="promo", owner_id="bob"),
            UsageRecord("a1", jan, "sms", 4, "k2", label="promo", owner_id="bob"),
            UsageRecord("a1", jan, "sms", 5, "k3", label="promo", owner_id="ann"),
            UsageRecord("a1", jan, "sms", 6, "k4", label="promo"),  # an API key's send
            UsageRecord("a1", jan, "sms", 7, "k5", owner_id="bob", dimensions=de),
            UsageRecord("a1", jan, "email", 8, "k6", owner_id="bob"),
            UsageRecord("a1", jan, "email", 0, "k7", label="x"),  # a zero sum: left out
            UsageRecord("a2", jan, "sms", MAX_QUANTITY, "k8", label="big"),
            UsageRecord("a2", jan, "sms", MAX_QUANTITY, "k9", label="big"),  # no overflow
            UsageRecord("a2", feb, "sms", 1, "k10"),
        ]
        with store.unit_of_work() as uow:
            uow.usage.add(records)
            uow.commit()
        sms, email, none = Channel.SMS, Channel.EMAIL, Dimensions()
        with store.unit_of_work(read_only=True) as uow:
            got = uow.usage.report_totals(jan)
            assert got == {
                ("a1", "promo", "bob", sms, none): 7,
                ("a1", "promo", "ann", sms, none): 5,
                ("a1", "promo", None, sms, none): 6,
                ("a1", None, "bob", sms, Dimensions(de)): 7,
                ("a1", None, "bob", email, none): 8,
                ("a2", "big", None, sms, none): 2 * MAX_QUANTITY,
            }
            assert got == {
                k: n for k, n in group_totals(r for r in records if r.period == jan).items() if n
            }
            assert {(type(k[3]), type(k[4])) for k in got} == {(Channel, Dimensions)}
            assert uow.usage.report_totals(jan, [AccountId("a2"), AccountId("nobody")]) == {
                k: n for k, n in got.items() if k[0] == "a2"
            }
            assert uow.usage.report_totals(BillingPeriod(2025, 12)) == {}
            assert uow.usage.report_totals(feb) == {("a2", None, None, sms, none): 1}
            summed: dict[str, int] = {}
            for key, n in got.items():
                summed[key[0]] = summed.get(key[0], 0) + n
            assert summed == uow.usage.totals(jan)

    # -- the policy version ---------------------------------------------------------------

    def test_policy_writes_raise_the_policy_version(self, store: Store) -> None:
        from subacct.policy import SEND_MESSAGES, ApiKeyUse, Grant, Role
        from subacct.storage.collections import API_KEY_USES, ROLES

        def version() -> int:
            with store.unit_of_work(read_only=True) as uow:
                seen = uow.policy_version()
                assert seen is not None
                return seen

        writes: list[Callable[[UnitOfWork], object]] = [
            lambda uow: uow.accounts.add(new_master(AccountId("m"), "M", T0)),
            lambda uow: uow.accounts.update(uow.accounts.get(AccountId("m")).renamed("N")),
            lambda uow: uow.users.add(User(UserId("u"), "u@x.test", "U", T0)),
            lambda uow: uow.memberships.add(
                Membership(UserId("u"), AccountId("m"), RoleId("basic_user"), T0)
            ),
            lambda uow: uow.memberships.remove(UserId("u"), AccountId("m")),
            lambda uow: uow.records(ROLES).add(Role("clerk", "Clerk", (Grant(SEND_MESSAGES),))),
            lambda uow: uow.users.remove(UserId("u")),
        ]
        seen = [version()]
        for write in writes:
            with store.unit_of_work() as uow:
                assert uow.policy_version() == seen[-1]
                write(uow)
                assert uow.policy_version() is None  # the unit reads its own writes now
                uow.commit()
            seen.append(version())
        assert seen == sorted(set(seen))  # every committed policy write raised it
        with store.unit_of_work() as uow:
            uow.accounts.add(new_master(AccountId("m2"), "M2", T0))  # rolled back
        with store.unit_of_work() as uow:
            uow.records(RESOURCES).add(_resource("tpl_a", "m"))  # not policy data
            uow.commit()
        with store.unit_of_work() as uow:  # a key's last use is not policy data either
            uow.records(API_KEY_USES).add(ApiKeyUse("key1", T0))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.records(API_KEY_USES).update(ApiKeyUse("key1", T0 + timedelta(minutes=5)))
            uow.commit()
        assert version() == seen[-1]

    # -- audit log ------------------------------------------------------------------------

    def test_event_log_appends_in_order_and_reads_back(self, store: Store) -> None:
        events = [_event(f"ev{n}", "agency1" if n % 2 else "agency2") for n in range(1, 6)]
        with store.unit_of_work() as uow:
            seqs = [uow.events.append(e) for e in events]
            with pytest.raises(AlreadyExists):
                uow.events.append(events[0])
            uow.commit()
        assert seqs == [1, 2, 3, 4, 5]
        with store.unit_of_work() as uow:
            assert [x.event for x in uow.events.since()] == events
            assert [x.seq for x in uow.events.since(3)] == [4, 5]
            assert [x.seq for x in uow.events.since(0, limit=2)] == [1, 2]
            assert [x.seq for x in uow.events.for_account(AccountId("agency1"))] == [1, 3, 5]
            assert [x.seq for x in uow.events.for_account(AccountId("agency1"), 1, 1)] == [3]

    def test_amounts_at_the_bounds_round_trip_in_the_event_log(self, store: Store) -> None:
        """An event's money (JSON text, as every record's) reads back as the same amount
        in the same form, at the largest amount, the finest and 30-digit mixtures."""
        amounts = [MAX_AMOUNT, FINEST_AMOUNT, "123456789012345678.901234567891", "0.0075"]
        events = [
            CreditsMoved(
                event_id=EventId(f"mv{n}"),
                occurred_at=T0,
                actor=UserId("u_owner"),
                account_id=AccountId("agency1"),
                operation="distribute",
                idempotency_key=f"k{n}",
                from_account_id=AccountId("agencydemo"),
                to_account_id=AccountId("agency1"),
                amount=Money(amount, "EUR"),
            )
            for n, amount in enumerate(amounts)
        ]
        with store.unit_of_work() as uow:
            for event in events:
                uow.events.append(event)
            uow.commit()
        with store.unit_of_work() as uow:
            found = [x.event for x in uow.events.since()]
        assert found == events
        assert [str(e.amount.amount) for e in found if isinstance(e, CreditsMoved)] == [
            str(e.amount.amount) for e in events
        ]

    def test_event_log_rolls_back_with_the_change(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.events.append(_event("ev1", "agency1"))
        with store.unit_of_work() as uow:
            assert uow.events.since() == []
            assert uow.events.append(_event("ev2", "agency1")) == 1
            uow.commit()

    def test_concurrent_appends_get_distinct_gapless_sequence_numbers(self, store: Store) -> None:
        def append_many(worker: int) -> None:
            for n in range(10):
                while True:
                    try:
                        with store.unit_of_work() as uow:
                            uow.events.append(_event(f"ev_{worker}_{n}", "agency1"))
                            uow.commit()
                        break
                    except ConcurrentModification:
                        continue

        _race(*(partial(append_many, w) for w in range(4)))
        with store.unit_of_work() as uow:
            logged = uow.events.since(0, limit=100)
        assert [x.seq for x in logged] == list(range(1, 41))
        assert len({x.event.event_id for x in logged}) == 40

    # -- the service over this adapter ----------------------------------------------------

    def test_removing_users_keeps_account_data(self, store: Store) -> None:
        svc = _agency(store)
        before = svc.accounts.tree(by=SYSTEM)
        svc.members.remove("u_ann", "agency1", by=SYSTEM)
        svc.members.add("u_ann", "agencydemo", "parent_admin", by=SYSTEM)  # owner: not the last
        gone = svc.members.remove_user("u_owner", by=SYSTEM)
        assert [m.account_id for m in gone] == ["agencydemo"]
        assert list(svc.accounts.tree(by=SYSTEM)) == list(before)
        assert svc.members.find_user_by_login("OWNER@agency.test", by=SYSTEM) is None
        assert svc.members.get_user("u_ann", by=SYSTEM).login == "ann@agency1.test"

    @pytest.mark.parametrize(
        "bad_call",
        [
            pytest.param(lambda s: s.accounts.create_master("   ", by=SYSTEM), id="blank-name"),
            pytest.param(lambda s: s.accounts.create_master("", by=SYSTEM), id="empty-name"),
            pytest.param(
                lambda s: s.accounts.create_master("X", account_id="agency1", by=SYSTEM),
                id="dup-id",
            ),
            pytest.param(
                lambda s: s.accounts.create_sub("ghost", "X", by=SYSTEM), id="unknown-parent"
            ),
            pytest.param(
                lambda s: s.accounts.create_sub("agency1", "X", by=SYSTEM), id="over-depth"
            ),
            pytest.param(
                lambda s: s.members.create_user(" OWNER@agency.test", "Dup", by=SYSTEM),
                id="dup-login",
            ),
            pytest.param(
                lambda s: s.members.create_user("  ", "Nobody", by=SYSTEM), id="blank-login"
            ),
            pytest.param(
                lambda s: s.members.add("ghost", "agency1", "basic_user", by=SYSTEM),
                id="no-user",
            ),
            pytest.param(
                lambda s: s.members.add("u_ann", "agency1", "basic_user", by=SYSTEM),
                id="dup-member",
            ),
            pytest.param(
                lambda s: s.accounts.move("agency1", "agency2", by=SYSTEM), id="over-depth-move"
            ),
            pytest.param(
                lambda s: s.accounts.move("agencydemo", "agency1", by=SYSTEM), id="move-master"
            ),
            pytest.param(
                lambda s: s.accounts.attach("agencydemo", "agency1", by=SYSTEM), id="cycle"
            ),
            pytest.param(
                lambda s: s.accounts.attach("agency1", "agency2", by=SYSTEM), id="second-parent"
            ),
            pytest.param(
                lambda s: s.accounts.close("agencydemo", by=SYSTEM), id="close-with-open-subs"
            ),
            pytest.param(lambda s: s.accounts.resume("agency1", by=SYSTEM), id="active-to-active"),
            pytest.param(lambda s: s.accounts.detach("agencydemo", by=SYSTEM), id="detach-master"),
            pytest.param(
                lambda s: s.links.request("agencydemo", "x", client_id="agency1", by=SYSTEM),
                id="link-sub",
            ),
            pytest.param(
                lambda s: s.members.change_role("u_ann", "agency2", "x", by=SYSTEM),
                id="no-membership",
            ),
            pytest.param(
                lambda s: s.accounts.rename("agency1", "\t", by=SYSTEM), id="blank-rename"
            ),
        ],
    )
    def test_refused_operations_change_nothing(
        self, store: Store, bad_call: Callable[[Subacct], object]
    ) -> None:
        svc = _agency(store)
        before = store_state(store)
        with pytest.raises(SubacctError):
            bad_call(svc)
        assert store_state(store) == before

    def test_closed_account_is_final(self, store: Store) -> None:
        svc = _agency(store)
        svc.accounts.close("agency2", by=SYSTEM)
        before = store_state(store)
        for call in (
            lambda: svc.accounts.resume("agency2", by=SYSTEM),
            lambda: svc.accounts.rename("agency2", "Back", by=SYSTEM),
            lambda: svc.members.add("u_ann", "agency2", "basic_user", by=SYSTEM),
            lambda: svc.accounts.move("agency2", "agencydemo", by=SYSTEM),
            lambda: svc.accounts.create_sub("agency2", "Child", by=SYSTEM),
        ):
            with pytest.raises(SubacctError):
                call()
        assert store_state(store) == before
        assert svc.accounts.get("agency2", by=SYSTEM).status is AccountStatus.CLOSED

    @pytest.mark.slow
    def test_hierarchy_invariants_under_random_operations(
        self, store_factory: StoreFactory
    ) -> None:
        _run_random_hierarchy(store_factory, self.hierarchy_examples)


def _race(*calls: Callable[[], object]) -> None:
    """Start ``calls`` at the same moment on threads; refusals are fine, crashes are not."""
    barrier = threading.Barrier(len(calls))
    crashes: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except SubacctError:
            pass
        except BaseException as exc:  # pragma: no cover - reported below
            crashes.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not crashes, crashes


def _resource(resource_id: str, owner: str) -> Resource:
    return Resource(
        ResourceId(resource_id),
        AccountId(owner),
        ResourceKind.TEMPLATE,
        "Branding",
        encode_content(b"<h1>Brand</h1>"),
        T0,
        metadata={"subject": "Hello"},
    )


def _samples() -> dict[str, Any]:
    from subacct.domain.invitations import Invitation, InvitationToken, SeatLimit
    from subacct.domain.lifecycle import StatusHistory
    from subacct.money import Money
    from subacct.policy import (
        SEND_MESSAGES,
        ApiKey,
        Ceiling,
        Decision,
        Grant,
        ImpersonationSession,
        ImpersonationSetting,
        Reason,
        Role,
        Scope,
        audit_record,
    )
    from subacct.policy.api_keys import ApiKeyCredential, ApiKeyKind, ApiKeyUse
    from subacct.pricing import BillingPeriod, Channel, Invoice, Plan, PlanLadder, Quota, Rounding
    from subacct.pricing.adjustments import InvoiceTerms, LatePeriod
    from subacct.pricing.billing_run import InvoicedAccount
    from subacct.pricing.holds import Hold, SendVolume
    from subacct.pricing.invoice_lifecycle import (
        CreditNote,
        CreditNoteLine,
        InvoiceNumber,
        NumberSeries,
        Payment,
        Series,
    )
    from subacct.pricing.plan_changes import Subscription, request_change
    from subacct.pricing.profiles import (
        BillingProfile,
        Prerequisites,
        QuotaCounter,
        QuotaReservation,
        QuotaSetting,
    )
    from subacct.pricing.thresholds import (
        AutoTopUp,
        QuotaThresholds,
        QuotaThresholdsReached,
        WalletAlerts,
        WalletAlertState,
    )

    session = ImpersonationSession("imp1", "u_owner", "agency1", T0)
    allowed = Decision(True, Reason.ALLOWED_BY_ROLE, Scope.ALL, role_id="sub_admin")
    return {
        "roles": Role("clerk", "Clerk", (Grant(SEND_MESSAGES),)),
        "ceilings": Ceiling("agency1", "agencydemo", (SEND_MESSAGES,)),
        "api_keys": ApiKey(
            "key1",
            "agency1",
            "CI",
            "u_ann",
            (Grant(SEND_MESSAGES),),
            T0,
            kind=ApiKeyKind.ACCOUNT,
            expires_at=T0 + timedelta(days=90),
        ),
        "api_key_credentials": ApiKeyCredential("ab" * 32, "key1", T0 + timedelta(hours=1)),
        "api_key_uses": ApiKeyUse("key1", T0),
        "impersonation_sessions": session,
        "impersonation_settings": ImpersonationSetting("agency1", False),
        "audit_records": audit_record(
            "aud1", T0, session, SEND_MESSAGES, AccountId("agency1"), allowed
        ),
        "billing_profiles": BillingProfile(
            "agencydemo", PlanLadder([Plan("18,000", 18000, Money("90", "USD"))])
        ),
        "invoices": Invoice("agencydemo", BillingPeriod(2026, 1), "USD", ()),
        "quotas": QuotaSetting("agency1", Quota(6000)),
        "quota_counters": QuotaCounter("agency1", BillingPeriod(2026, 1), 10),
        "quota_reservations": QuotaReservation(BillingPeriod(2026, 1), "send-1", "agency1", 10),
        "subscriptions": Subscription("agencydemo", "18,000"),
        "plan_changes": request_change(
            Subscription("agencydemo", "2,500"),
            PlanLadder(
                [Plan("2,500", 2500, Money("15", "USD")), Plan("18,000", 18000, Money("90", "USD"))]
            ),
            "18,000",
            BillingPeriod(2026, 1),
            request_id="chg-1",
        ),
        "prerequisites": Prerequisites("agencydemo", {"spf_verified"}),
        "status_history": StatusHistory("agency1").with_change(T0, AccountStatus.PAUSED),
        "link_requests": LinkRequest(
            "lr1",
            "agencydemo",
            "client",
            "Acme",
            "agency_manager",
            "u_owner",
            "ab" * 32,
            T0,
            T0 + timedelta(days=7),
        ),
        "invoiced_accounts": InvoicedAccount(BillingPeriod(2026, 1), "agency1", "agencydemo"),
        "late_periods": LatePeriod("agencydemo", BillingPeriod(2026, 1)),
        "resources": _resource("tpl_a", "agencydemo"),
        "shares": Share(
            "sh1", "tpl_a", "agencydemo", ShareMode.ALL_SUBS, (), SharePermission.USE, T0
        ),
        "send_holds": Hold(
            "hold1",
            "agency1",
            "send/1",
            Channel.SMS,
            12,
            BillingPeriod(2026, 1),
            T0,
            T0 + timedelta(minutes=15),
            label="promo",
            overage=2,
            owner_id=UserId("u_bob"),
            payer_id=AccountId("agencydemo"),
            charge="all",
            base=1000,
            amount=Money("0.960", "EUR"),
            reservation_id="hold1",
        ),
        "send_volumes": SendVolume("agencydemo", BillingPeriod(2026, 1), "all", 1012),
        "quota_thresholds": QuotaThresholds("agency1", (80, 100)),
        "quota_thresholds_reached": QuotaThresholdsReached(
            "agency1", BillingPeriod(2026, 1), (80,)
        ),
        "wallet_alerts": WalletAlerts(
            "agency1",
            "EUR",
            low_credit=Money("10", "EUR"),
            auto_top_up=AutoTopUp(Money("5", "EUR"), Money("50", "EUR")),
        ),
        "wallet_alert_states": WalletAlertState("agency1", "EUR", low_below=Decimal("10")),
        "number_series": NumberSeries("agencydemo", Series.INVOICE, 3),
        "invoice_numbers": InvoiceNumber("agencydemo-00003", "agencydemo", BillingPeriod(2026, 1)),
        "invoice_terms": InvoiceTerms(
            "agencydemo",
            BillingPeriod(2026, 1),
            BillingProfile("agencydemo", PlanLadder([Plan("18,000", 18000, Money("90", "USD"))])),
            Rounding("ROUND_HALF_UP", 0),
        ),
        "credit_notes": CreditNote(
            "agencydemo-CN-00001",
            "agencydemo-00003",
            "agencydemo",
            "outage",
            Money("10.00", "USD"),
            Money("0.00", "USD"),
            [CreditNoteLine(0, Money("10.00", "USD"))],
            datetime(2026, 2, 1, tzinfo=UTC),
        ),
        "payments": Payment(
            "agencydemo-00003",
            "ch_1",
            "agencydemo",
            Money("80.00", "USD"),
            datetime(2026, 2, 2, tzinfo=UTC),
        ),
        "invitations": Invitation(
            "inv1", "agency1", "ann@example.com", "basic_user", "u_owner", T0, T0, "a" * 64
        ),
        "invitation_tokens": InvitationToken("a" * 64, "inv1"),
        "seat_limits": SeatLimit("agency1", 5),
        "grant_books": _grant_book(),
    }


def _grant_book() -> Any:
    from subacct.money import Money
    from subacct.pricing.ledger import CreditGrant, GrantBook, GrantKind, GrantPart, HeldParts

    promo = CreditGrant.new(
        "promo",
        "agency1",
        Money(10, "EUR"),
        T0,
        kind=GrantKind.PROMOTIONAL,
        priority=1,
        expires_at=T0 + timedelta(days=30),
    )
    held = HeldParts("r1", (GrantPart("agency1", "promo", Decimal("2.5")),))
    return GrantBook(
        "agency1", "EUR", Decimal("-1.25"), Decimal("0.5"), (promo,), (held,), next_seq=1
    )


def _event(event_id: str, account_id: str) -> ShareRevoked:
    return ShareRevoked(
        event_id=EventId(event_id),
        occurred_at=T0,
        actor=UserId("u_owner"),
        account_id=AccountId(account_id),
        share_id=ShareId("sh1"),
        resource_id=ResourceId("tpl"),
    )


_OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["sub", "sub", "move", "move", "move", "attach", "detach", "close", "master"]
        ),
        st.integers(0, 9),
        st.integers(0, 9),
    ),
    max_size=25,
)


def _run_random_hierarchy(store_factory: StoreFactory, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=_OPS, max_levels=st.integers(2, 4))
    def run(ops: list[tuple[str, int, int]], max_levels: int) -> None:
        store = store_factory()
        svc = _service(store, max_levels)
        ids = [svc.accounts.create_master("Root A", account_id="a0", by=SYSTEM).id]
        ids += [
            svc.accounts.create_sub("a0", "Sub", account_id=f"a{n}", by=SYSTEM).id for n in (1, 2)
        ]
        ids += [svc.accounts.create_master("Root B", account_id="b0", by=SYSTEM).id]
        ids += [svc.accounts.create_sub("b0", "Sub", account_id="b1", by=SYSTEM).id]
        for op, i, j in ops:
            before_tree = svc.accounts.tree(by=SYSTEM)
            before_seq = _last_seq(store)
            subs = [a.id for a in before_tree if a.kind is AccountKind.SUB]
            pool = subs if op in ("move", "detach") and subs else ids
            src, dst = pool[i % len(pool)], ids[j % len(ids)]
            try:
                if op == "master":
                    ids.append(svc.accounts.create_master("M", by=SYSTEM).id)
                elif op == "sub":
                    ids.append(svc.accounts.create_sub(src, "S", by=SYSTEM).id)
                elif op == "move":
                    svc.accounts.move(src, dst, by=SYSTEM)
                elif op == "attach":
                    svc.accounts.attach(src, dst, by=SYSTEM)
                elif op == "detach":
                    svc.accounts.detach(src, by=SYSTEM)
                else:
                    svc.accounts.close(src, by=SYSTEM)
            except SubacctError:
                assert list(svc.accounts.tree(by=SYSTEM)) == list(before_tree), (
                    "a refused op changed the tree"
                )
                assert _last_seq(store) == before_seq, "a refused op logged an event"
                continue
            tree = svc.accounts.tree(
                by=SYSTEM
            )  # constructing it proves: no cycles, every parent exists
            with store.unit_of_work() as uow:
                logged = [x.event.event_type for x in uow.events.since(before_seq)]
            changed = list(tree) != list(before_tree)
            assert logged == ([_EXPECTED_EVENT[op]] if changed else []), (op, logged)
            for account in tree:
                assert tree.level(account.id) <= max_levels
                assert (account.kind is AccountKind.SUB) == (account.parent_id is not None)
            if op in ("move", "attach", "detach"):
                assert set(tree.descendants(AccountId(src))) == set(
                    before_tree.descendants(AccountId(src))
                ), "the moved subtree lost or gained accounts"
            _assert_same_tree_via_ports(store, tree)

    run()


_EXPECTED_EVENT = {
    "master": "account_created",
    "sub": "account_created",
    "move": "account_moved",
    "attach": "account_moved",
    "detach": "account_moved",
    "close": "account_closed",
}


def _last_seq(store: Store) -> int:
    with store.unit_of_work() as uow:
        logged = uow.events.since(0, limit=1_000_000)
    return logged[-1].seq if logged else 0


def _assert_same_tree_via_ports(store: Store, tree: Tree) -> None:
    with store.unit_of_work() as uow:
        for root in tree.roots():
            got = [a.id for a in uow.accounts.descendants(root)]
            assert got == tree.descendants(root)
