"""Storage ports: the ``typing.Protocol`` classes a host implements to plug in its database.

Every adapter must give the guarantees written on each method; the conformance kit in
``subacct.testing.conformance`` checks them. The rules themselves (who may be moved where,
which transitions are allowed) live in the pure core, never in an adapter.

Work happens inside a unit of work::

    with store.unit_of_work() as uow:
        account = uow.accounts.get(AccountId("agency1"))
        uow.accounts.update(account.renamed("Agency One"))
        uow.commit()

Leaving the block without ``commit()`` (or with an exception) rolls everything back: all or
nothing. Writes use optimistic versions: ``update(x)`` succeeds only when ``x.version`` is
exactly one more than the stored version, otherwise ``ConcurrentModification``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol, Self, TypeVar, runtime_checkable

import attrs

from subacct.domain import Account, AccountId, AgencyLink, Membership, User, UserId
from subacct.domain.events import DomainEvent
from subacct.pricing.ledger import (
    LedgerAccount,
    LedgerView,
    Plan,
    Reservation,
    Transfer,
    Wallet,
)
from subacct.pricing.period import BillingPeriod
from subacct.pricing.usage import UsageGroup, UsageRecord, UsageSlice
from subacct.storage.records import Collection, RecordRepository

T = TypeVar("T")

__all__ = [
    "AccountRepository",
    "Clock",
    "EventLog",
    "IdFactory",
    "LedgerRepository",
    "LinkRepository",
    "LoggedEvent",
    "MembershipRepository",
    "PlansFromCache",
    "Store",
    "UnitOfWork",
    "UsageKey",
    "UsageRepository",
    "UserRepository",
]


class AccountRepository(Protocol):
    """Accounts and the parent relation between them."""

    def add(self, account: Account) -> None:
        """Insert a new account. ``AlreadyExists`` if the id is taken; the parent must exist
        (``AccountNotFound`` otherwise)."""
        ...

    def get(self, account_id: AccountId) -> Account:
        """The stored account, or ``AccountNotFound``."""
        ...

    def find(self, account_id: AccountId) -> Account | None:
        """The stored account, or ``None``."""
        ...

    def update(self, account: Account) -> None:
        """Replace the stored account; ``account.version`` must be stored version + 1
        (``ConcurrentModification`` otherwise, ``AccountNotFound`` if missing)."""
        ...

    def children(self, account_id: AccountId) -> list[Account]:
        """Direct sub-accounts, in id order."""
        ...

    def ancestors(self, account_id: AccountId) -> list[Account]:
        """Parent first, root last (empty for a top-level account)."""
        ...

    def descendants(self, account_id: AccountId) -> list[Account]:
        """Every account below, depth first, children in id order."""
        ...

    def all(self) -> list[Account]:
        """Every account, in id order."""
        ...


class LinkRepository(Protocol):
    """Agency links. A client has at most one link."""

    def add(self, link: AgencyLink) -> None:
        """Insert; ``AlreadyExists`` if the client is linked already."""
        ...

    def remove(self, client_id: AccountId) -> None:
        """Delete the client's link; ``NotFound`` if there is none."""
        ...

    def for_client(self, client_id: AccountId) -> AgencyLink | None: ...

    def for_agency(self, agency_id: AccountId) -> list[AgencyLink]:
        """The agency's links, in client id order."""
        ...


class UserRepository(Protocol):
    """Users. ``login`` (already normalized) is unique across the store."""

    def add(self, user: User) -> None:
        """Insert; ``AlreadyExists`` for a taken id, ``DuplicateLogin`` for a taken login."""
        ...

    def get(self, user_id: UserId) -> User:
        """The stored user, or ``UserNotFound``."""
        ...

    def find(self, user_id: UserId) -> User | None: ...

    def find_by_login(self, login: str) -> User | None:
        """Look up by normalized login."""
        ...

    def update(self, user: User) -> None:
        """Optimistic replace (see ``AccountRepository.update``); ``DuplicateLogin`` if the
        new login is taken by someone else."""
        ...

    def remove(self, user_id: UserId) -> None:
        """Delete the user; ``UserNotFound`` if missing. Memberships must be gone first."""
        ...

    def all(self) -> list[User]:
        """Every user, in id order."""
        ...


class MembershipRepository(Protocol):
    """Memberships, unique per (user, account)."""

    def add(self, membership: Membership) -> None:
        """Insert; ``AlreadyExists`` if the user already has a membership in the account;
        the user and account must exist."""
        ...

    def find(self, user_id: UserId, account_id: AccountId) -> Membership | None: ...

    def update(self, membership: Membership) -> None:
        """Optimistic replace; ``MembershipNotFound`` if missing."""
        ...

    def remove(self, user_id: UserId, account_id: AccountId) -> None:
        """Delete; ``MembershipNotFound`` if missing."""
        ...

    def for_user(self, user_id: UserId) -> list[Membership]:
        """The user's memberships, in account id order."""
        ...

    def for_account(self, account_id: AccountId) -> list[Membership]:
        """The account's memberships, in user id order."""
        ...

    def all(self) -> list[Membership]:
        """Every membership, ordered by (account id, user id)."""
        ...


UsageKey = tuple[AccountId, str]
"""A usage record's key in its period: ``(account_id, idempotency_key)``."""


class UsageRepository(Protocol):
    """Usage records, unique per (period, account, idempotency key): a key is its
    account's own (``UsageKey``: ``(account_id, idempotency_key)``). With the per-account totals
    billing reads. ``totals`` is computed by storage (an SQL aggregate over indexed
    columns, a running total in memory): a month's invoices never read every record.
    Quantities are whole numbers up to ``subacct.pricing.usage.MAX_QUANTITY`` per record;
    totals are exact however large they grow."""

    def add(self, records: Sequence[UsageRecord]) -> None:
        """Insert all of ``records`` or (raising) none: ``AlreadyExists`` when a
        (period, account, idempotency key) is stored already or repeated in ``records``."""
        ...

    def find(self, period: BillingPeriod, keys: Iterable[UsageKey]) -> dict[UsageKey, UsageRecord]:
        """The stored records of ``period`` under ``keys`` (``(account_id,
        idempotency_key)`` pairs), by key (absent keys left out)."""
        ...

    def totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[AccountId, int]:
        """Each account's summed quantity in ``period`` (accounts with no records left
        out), only of ``account_ids`` when given."""
        ...

    def slice_totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[AccountId, dict[UsageSlice, int]]:
        """Each account's summed quantity in ``period`` per ``(channel, dimensions)``
        (``UsageRecord.usage_slice``), computed by storage like ``totals`` (zero sums
        and accounts with none left out), only of ``account_ids`` when given. What the
        charges of a price are billed from (``subacct.pricing.charges``)."""
        ...

    def report_totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[UsageGroup, int]:
        """The summed quantity in ``period`` per ``(account, label, owner, channel,
        dimensions)`` (``UsageRecord.usage_group``), computed by storage like ``totals``
        (zero sums left out), only of ``account_ids`` when given. What reports are built
        from (``subacct.pricing.usage_reports``): one row per group, never per record."""
        ...

    def for_period(self, period: BillingPeriod) -> list[UsageRecord]:
        """Every record of ``period``, by account then idempotency key."""
        ...

    def for_account(self, account_id: AccountId) -> list[UsageRecord]:
        """Every record of ``account_id``, by period then idempotency key."""
        ...


@attrs.frozen
class LoggedEvent:
    """An event as the audit log holds it: ``seq`` grows in commit order."""

    seq: int
    event: DomainEvent


class EventLog(Protocol):
    """The append-only audit log of domain events, written in the same unit of work as
    the change it records (a rollback drops the event too)."""

    def append(self, event: DomainEvent) -> int:
        """Store the event and return its sequence number; ``AlreadyExists`` for an
        event id already logged. Sequence numbers grow in commit order, so a reader
        polling ``since(last_seen)`` never skips an event."""
        ...

    def append_many(self, events: Sequence[DomainEvent]) -> None:
        """``append`` each event, in order, when their sequence numbers are not needed.
        An adapter may send them with the unit's commit (one round trip for the commit
        and the log): an event id already logged then fails the commit instead, as a
        ``ConcurrentModification`` (the unit is rolled back and may run again with
        fresh ids)."""
        ...

    def since(self, seq: int = 0, limit: int = 1000) -> list[LoggedEvent]:
        """Events with a sequence number above ``seq``, oldest first."""
        ...

    def for_account(
        self, account_id: AccountId, since: int = 0, limit: int = 1000
    ) -> list[LoggedEvent]:
        """Events about ``account_id`` above ``since``, oldest first."""
        ...


class LedgerRepository(LedgerView, Protocol):
    """The prepaid credit ledger of one currency, inside the unit of work that hands it out
    (``uow.ledger(currency)``).

    The read side is the core's ``LedgerView`` (``subacct.pricing.ledger.plan`` runs
    against it); reads see this transaction. ``write_plan`` writes a ``Plan`` made against
    this repository in the same unit of work, all of it or (raising) none of it. Amounts
    are stored exactly (decimal text or a decimal column, never a float): every amount and
    balance is within the bounds of ``subacct.money`` (at most 18 digits before the point
    and 12 after it, so a column must hold at least ``NUMERIC(30, 12)``), and a balance or
    transfer read back equals, as a ``Decimal``, the one written. Balances are added up
    exactly (``BalanceChange.applied_to``, or the database's unconstrained decimal
    arithmetic), never in a context that rounds.

    ``write_plan`` enforces at least the guards of ``Ledger.apply`` (the reference) on the
    stored values, atomically with the write, so that no concurrent writer can slip in
    between (a compare-and-set on the stored balance, a row lock or a serializable
    transaction): the idempotency key is new (a unique constraint), no balance it lowers
    ends below the change's floor, no balance it changes ends past ``MAX_AMOUNT`` either
    way (``BalanceChange.applied_to`` checks both), a new reservation id is free and a
    reservation it closes is still open; transfers are unique on ``(key, index)``. A
    failed guard raises ``ConcurrentModification``: the plan is stale. When nothing of
    the plan was written it is a ``StalePlan`` and the caller may plan again in the same
    unit of work (``subacct.ledger_service.plan_and_write``); otherwise the caller rolls
    the unit of work back and runs it again. The reference adapters check every guard before writing
    (``StalePlan``) and also compare-and-set each balance against the value this
    transaction read for it. An adapter may instead send the plan with the unit of work's
    next statement or its commit, and check it there: a failed guard is then a
    ``ConcurrentModification`` raised by that statement or by ``commit``, with the whole
    unit rolled back (the PostgreSQL adapter does this, to write a plan and commit in one
    round trip).

    Ask for the ledger before anything else in a unit of work that writes to it: an
    adapter may then pick the transaction's isolation for it (the PostgreSQL adapter runs
    such units READ COMMITTED, its plans checked by the server; see ``docs/postgres.md``).

    Order: ``transfers`` come in ledger order, oldest first: the order the operations
    committed, as seen by every single ledger account (a statement's running balance),
    and ``index`` order within one operation.
    """

    def put_wallet(self, wallet: Wallet) -> None:
        """Insert or replace ``wallet`` (already checked by ``configure_wallet``)."""
        ...

    def write_plan(self, plan: Plan) -> None:
        """Write ``plan`` under the guards above; a replay (``plan.replayed``) writes
        nothing. ``ConcurrentModification`` when a guard fails, here or (an adapter that
        sends plans later) from the next statement or ``commit``; the unit of work must
        then be rolled back and re-run."""
        ...

    def confirm_reads(self) -> bool:
        """True when everything this transaction's reads returned still holds, so a
        refusal planned from them stands; False when something changed since (the caller
        plans again, from what the check found). An adapter whose reads are one
        consistent snapshot, or whose writers take turns, returns True."""
        ...

    def balances(self) -> dict[LedgerAccount, Decimal]:
        """Every ledger account that ever moved, with its balance."""
        ...

    def wallets(self) -> list[Wallet]:
        """Every wallet, in account id order."""
        ...

    def reservations(self) -> list[Reservation]:
        """Every reservation (open or closed), in id order."""
        ...

    def transfers(
        self,
        account: LedgerAccount | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Transfer]:
        """The transfer log in ledger order; only those touching ``account`` (as source
        or destination) and with ``start <= at < end`` when given."""
        ...

    def opening_balance(self, account: LedgerAccount, at: datetime) -> Decimal:
        """The balance of ``account`` from the transfers before ``at`` (a statement's
        opening)."""
        ...


@runtime_checkable
class PlansFromCache(Protocol):
    """An optional extra of a ``LedgerRepository``: a ``LedgerView`` whose reads may come
    from a cache kept between units of work (so they may be stale), for planning only.

    An adapter offers it when its ``write_plan`` checks, on the stored rows and
    atomically with the write, everything a plan rests on (``Plan``: its key is new, the
    wallets it read are unchanged, its pinned balances are exact, its floors hold, its
    reservations are in the state it expects) and its ``confirm_reads`` compares
    everything planning read with the stored rows. ``plan_and_write`` then plans against
    ``planning_view()`` (the PostgreSQL adapter does this to plan without a round trip).
    """

    def planning_view(self) -> LedgerView: ...


class UnitOfWork(Protocol):
    """One transaction over every repository: all or nothing.

    A storage failure raises a ``StorageError`` subclass, never a driver's exception:
    ``StorageUnavailable``, ``StorageCorrupt``, ``StorageTimeout`` (``subacct.errors``),
    with ``details["outcome"]`` ``"not_committed"`` unless a lost connection left a
    commit's outcome ``"unknown"``. ``StorageUnavailable`` with reason
    ``"connection_lost"`` and outcome ``"not_committed"`` means the unit may simply run
    again (the service layer does): the next unit gets a working connection."""

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def links(self) -> LinkRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def memberships(self) -> MembershipRepository: ...

    @property
    def events(self) -> EventLog: ...

    @property
    def usage(self) -> UsageRepository: ...

    def records(self, collection: Collection[T]) -> RecordRepository[T]:
        """The repository of one record collection (see ``subacct.storage.records``)."""
        ...

    def ledger(self, currency: str) -> LedgerRepository:
        """The credit ledger of ``currency`` (ISO 4217) in this unit of work."""
        ...

    def policy_version(self) -> int | None:
        """The version of the policy data this unit reads: a number that every write to
        what the policy decides from raises, inside that write's own transaction
        (accounts, users, memberships, agency links and the records of
        ``subacct.storage.collections.POLICY_COLLECTIONS``); a rollback takes the raise
        back. ``None`` once this unit has written such data itself: its reads are then of
        its own uncommitted state, which no cache may keep. Cheap to read (an adapter may
        read it once per transaction). ``Subacct`` keeps policy state in memory under
        this number and reads it once per unit of work, so a change committed by another
        process is obeyed by the next call (``docs/performance.md``)."""
        ...

    def reads_one_snapshot(self) -> bool:
        """Whether every read of this unit sees one snapshot of the store (True for the
        reference adapters, but for PostgreSQL's READ COMMITTED ledger units): a unit
        whose reads may mix states never committed together reads the policy cache, and
        keeps what it read itself only once ``confirm_policy_version`` says no policy
        change committed meanwhile."""
        ...

    def confirm_policy_version(self, version: int) -> bool:
        """Whether the stored policy version is still ``version``, read afresh (also
        after this unit's commit)."""
        ...

    def commit(self) -> None:
        """Make every write of this unit durable and visible at once."""
        ...

    def rollback(self) -> None:
        """Discard every write of this unit."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...


class Store(Protocol):
    """A storage backend: hands out units of work. Safe to share between threads."""

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work; enter it with ``with``. Writers are serialized or
        conflict-checked so that no update is lost. ``read_only``: the unit will only
        read (an adapter may then start a lighter transaction, as SQLite's deferred one
        that does not wait for writers); it must not write."""
        ...


class Clock(Protocol):
    """Where timestamps come from (the core never reads a clock)."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class IdFactory(Protocol):
    """Where new ids come from (the core never makes ids)."""

    def new_id(self, kind: str) -> str:
        """A fresh, never reused id for an object of ``kind`` (``"account"``, ``"user"``...)."""
        ...
