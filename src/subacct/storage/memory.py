"""In-memory adapter: the reference implementation of the storage ports.

Units of work are serialized by one lock and undone from a journal on rollback, so the
adapter is safe to share between threads and never shows half a unit to anyone.

>>> from subacct.storage.memory import MemoryStore
>>> store = MemoryStore()
>>> with store.unit_of_work() as uow:
...     uow.accounts.all()
[]
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Generic, Self, TypeVar, cast

from subacct.domain import Account, AccountId, AgencyLink, Membership, User, UserId
from subacct.domain.events import DomainEvent, event_to_dict
from subacct.errors import (
    AccountNotFound,
    AlreadyExists,
    ConcurrentModification,
    DuplicateLogin,
    InvalidInput,
    MembershipNotFound,
    NotFound,
    StalePlan,
    StorageError,
    UserNotFound,
    quoted,
)
from subacct.money import Money, add, subtract
from subacct.pricing.ledger import (
    IdempotencyRecord,
    LedgerAccount,
    Plan,
    Reservation,
    ReservationStatus,
    Transfer,
    Wallet,
)
from subacct.pricing.period import BillingPeriod
from subacct.pricing.usage import UsageGroup, UsageRecord, UsageSlice
from subacct.storage.collections import POLICY_COLLECTIONS
from subacct.storage.ports import LoggedEvent, UsageKey
from subacct.storage.records import Collection, check_record_version, dump_record

__all__ = ["MemoryStore", "MemoryUnitOfWork"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ZERO: Final = Decimal(0)
_NONE: Final[frozenset[Any]] = frozenset()


class Journal:
    """Undo steps recorded while a unit of work runs."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []
        self.active = False

    def record(self, undo: Callable[[], None]) -> None:
        if not self.active:
            raise StorageError("write outside an open unit of work")
        self.steps.append(undo)

    def undo_all(self) -> None:
        while self.steps:
            self.steps.pop()()


class Table(Generic[K, V]):
    """A dict whose writes are journaled."""

    def __init__(self, journal: Journal) -> None:
        self.rows: dict[K, V] = {}
        self._journal = journal

    def get(self, key: K) -> V | None:
        return self.rows.get(key)

    def put(self, key: K, value: V) -> None:
        if key in self.rows:
            old = self.rows[key]
            self._journal.record(lambda: self.rows.__setitem__(key, old))
        else:
            self._journal.record(lambda: self._forget(key))
        self.rows[key] = value

    def _forget(self, key: K) -> None:
        del self.rows[key]

    def delete(self, key: K) -> None:
        old = self.rows.pop(key)
        self._journal.record(lambda: self.rows.__setitem__(key, old))


class Log(Generic[V]):
    """An append-only list whose appends are journaled."""

    def __init__(self, journal: Journal) -> None:
        self.items: list[V] = []
        self._journal = journal

    def append(self, item: V) -> None:
        self._journal.record(self._drop_last)
        self.items.append(item)

    def _drop_last(self) -> None:
        self.items.pop()


class Index(Generic[K, V]):
    """A journaled one-to-many index: key -> set of values. Sets change in place and the
    journal keeps one undo step per change (never a copy of the set), so a unit of work
    costs what it changes, however large the sets are."""

    def __init__(self, journal: Journal) -> None:
        self._sets: dict[K, set[V]] = {}
        self._journal = journal

    def add(self, key: K, value: V) -> None:
        held = self._sets.get(key)
        if held is None:
            held = self._sets[key] = set()
        if value not in held:
            self._journal.record(lambda: self._drop(key, value))
            held.add(value)

    def discard(self, key: K, value: V) -> None:
        held = self._sets.get(key)
        if held is not None and value in held:
            self._journal.record(lambda: self._sets.setdefault(key, set()).add(value))
            self._drop(key, value)

    def _drop(self, key: K, value: V) -> None:
        held = self._sets[key]
        held.discard(value)
        if not held:
            del self._sets[key]

    def values(self, key: K) -> AbstractSet[V]:
        """The values under ``key`` (a live view: copy it before changing the index)."""
        return self._sets.get(key, _NONE)


class _Data:
    def __init__(self) -> None:
        self.journal = Journal()
        self.accounts: Table[AccountId, Account] = Table(self.journal)
        self.links: Table[AccountId, AgencyLink] = Table(self.journal)
        self.users: Table[UserId, User] = Table(self.journal)
        self.logins: Table[str, UserId] = Table(self.journal)
        self.memberships: Table[tuple[UserId, AccountId], Membership] = Table(self.journal)
        self.children: Index[AccountId, AccountId] = Index(self.journal)
        self.user_accounts: Index[UserId, AccountId] = Index(self.journal)
        self.account_users: Index[AccountId, UserId] = Index(self.journal)
        self.events: Table[int, LoggedEvent] = Table(self.journal)
        self.event_ids: Table[str, int] = Table(self.journal)
        self.records: dict[str, Table[str, Any]] = {}
        self.record_index: dict[str, Index[tuple[str, str], str]] = {}
        # a sequenced collection's numbers by key, and the last one given per collection
        self.record_seq: dict[str, Table[str, int]] = {}
        self.last_seq: Table[str, int] = Table(self.journal)
        # the credit ledgers, keyed by currency first
        self.balances: Table[tuple[str, LedgerAccount], Decimal] = Table(self.journal)
        self.wallets: Table[tuple[str, AccountId], Wallet] = Table(self.journal)
        self.reservations: Table[tuple[str, str], Reservation] = Table(self.journal)
        # by (currency, scope, key)
        self.operations: Table[tuple[str, str, str], IdempotencyRecord] = Table(self.journal)
        self.transfers: dict[str, Log[Transfer]] = {}
        self.policy: Table[str, int] = Table(self.journal)  # "version": the policy version
        # usage: records by (period, account, key), running totals by (period, account)
        self.usage: Table[tuple[str, str, str], UsageRecord] = Table(self.journal)
        self.usage_totals: Table[tuple[str, AccountId], int] = Table(self.journal)
        # and by (period, account, channel and dimensions), with the slices of each month
        self.usage_slices: Table[tuple[str, AccountId, UsageSlice], int] = Table(self.journal)
        self.slices_of: Index[tuple[str, AccountId], UsageSlice] = Index(self.journal)
        # and by (period, account, label, owner, channel, dimensions), what reports read
        self.usage_groups: Table[tuple[str, UsageGroup], int] = Table(self.journal)
        self.groups_of: Index[tuple[str, AccountId], UsageGroup] = Index(self.journal)
        self.usage_by_period: Index[str, tuple[str, str, str]] = Index(self.journal)
        self.usage_by_account: Index[AccountId, tuple[str, str, str]] = Index(self.journal)

        self.policy_touched = False  # by the open unit of work

    def touch_policy(self) -> None:
        self.policy.put("version", self.policy.rows.get("version", 0) + 1)
        self.policy_touched = True

    def policy_version(self) -> int | None:
        return None if self.policy_touched else self.policy.rows.get("version", 0)

    def record_tables(
        self, name: str
    ) -> tuple[Table[str, Any], Index[tuple[str, str], str], Table[str, int]]:
        if name not in self.records:
            self.records[name] = Table(self.journal)
            self.record_index[name] = Index(self.journal)
            self.record_seq[name] = Table(self.journal)
        return self.records[name], self.record_index[name], self.record_seq[name]


def _check_version(stored_version: int, new_version: int, what: str) -> None:
    if new_version != stored_version + 1:
        raise ConcurrentModification(
            f"{what} changed since it was read (stored version {stored_version}, "
            f"write carries {new_version})",
            stored_version=stored_version,
            version=new_version,
        )


class MemoryAccounts:
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, account: Account) -> None:
        if self._d.accounts.get(account.id) is not None:
            raise AlreadyExists(f"account {quoted(account.id)} exists", account_id=account.id)
        if account.parent_id is not None:
            self.get(account.parent_id)
            self._d.children.add(account.parent_id, account.id)
        self._d.touch_policy()
        self._d.accounts.put(account.id, account)

    def get(self, account_id: AccountId) -> Account:
        account = self._d.accounts.get(account_id)
        if account is None:
            raise AccountNotFound(account_id)
        return account

    def find(self, account_id: AccountId) -> Account | None:
        return self._d.accounts.get(account_id)

    def update(self, account: Account) -> None:
        stored = self.get(account.id)
        _check_version(stored.version, account.version, f"account {quoted(account.id)}")
        if account.parent_id != stored.parent_id:
            if account.parent_id is not None:
                self.get(account.parent_id)
                self._d.children.add(account.parent_id, account.id)
            if stored.parent_id is not None:
                self._d.children.discard(stored.parent_id, account.id)
        self._d.touch_policy()
        self._d.accounts.put(account.id, account)

    def children(self, account_id: AccountId) -> list[Account]:
        rows = self._d.accounts.rows
        return [rows[c] for c in sorted(self._d.children.values(account_id))]

    def ancestors(self, account_id: AccountId) -> list[Account]:
        out: list[Account] = []
        current = self.get(account_id).parent_id
        while current is not None:
            parent = self.get(current)
            out.append(parent)
            current = parent.parent_id
        return out

    def descendants(self, account_id: AccountId) -> list[Account]:
        out: list[Account] = []
        stack = list(reversed(self.children(account_id)))
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self.children(current.id)))
        return out

    def all(self) -> list[Account]:
        return sorted(self._d.accounts.rows.values(), key=lambda a: a.id)


class MemoryLinks:
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, link: AgencyLink) -> None:
        if self._d.links.get(link.client_id) is not None:
            raise AlreadyExists(
                f"account {quoted(link.client_id)} is linked already", account_id=link.client_id
            )
        for account_id in (link.agency_id, link.client_id):
            if self._d.accounts.get(account_id) is None:
                raise AccountNotFound(account_id)
        self._d.touch_policy()
        self._d.links.put(link.client_id, link)

    def remove(self, client_id: AccountId) -> None:
        if self._d.links.get(client_id) is None:
            raise NotFound(f"account {quoted(client_id)} has no agency link", account_id=client_id)
        self._d.touch_policy()
        self._d.links.delete(client_id)

    def for_client(self, client_id: AccountId) -> AgencyLink | None:
        return self._d.links.get(client_id)

    def for_agency(self, agency_id: AccountId) -> list[AgencyLink]:
        return sorted(
            (lk for lk in self._d.links.rows.values() if lk.agency_id == agency_id),
            key=lambda lk: lk.client_id,
        )


class MemoryUsers:
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, user: User) -> None:
        if self._d.users.get(user.id) is not None:
            raise AlreadyExists(f"user {quoted(user.id)} exists", user_id=user.id)
        if self._d.logins.get(user.login) is not None:
            raise DuplicateLogin(user.login)
        self._d.touch_policy()
        self._d.users.put(user.id, user)
        self._d.logins.put(user.login, user.id)

    def get(self, user_id: UserId) -> User:
        user = self._d.users.get(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user

    def find(self, user_id: UserId) -> User | None:
        return self._d.users.get(user_id)

    def find_by_login(self, login: str) -> User | None:
        user_id = self._d.logins.get(login)
        return None if user_id is None else self._d.users.get(user_id)

    def update(self, user: User) -> None:
        stored = self.get(user.id)
        _check_version(stored.version, user.version, f"user {quoted(user.id)}")
        if user.login != stored.login:
            if self._d.logins.get(user.login) is not None:
                raise DuplicateLogin(user.login)
            self._d.logins.delete(stored.login)
            self._d.logins.put(user.login, user.id)
        self._d.touch_policy()
        self._d.users.put(user.id, user)

    def remove(self, user_id: UserId) -> None:
        user = self.get(user_id)
        if self._d.user_accounts.values(user_id):
            raise StorageError(f"user {quoted(user_id)} still has memberships", user_id=user_id)
        self._d.touch_policy()
        self._d.logins.delete(user.login)
        self._d.users.delete(user_id)

    def all(self) -> list[User]:
        return sorted(self._d.users.rows.values(), key=lambda u: u.id)


class MemoryMemberships:
    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, membership: Membership) -> None:
        key = (membership.user_id, membership.account_id)
        if self._d.memberships.get(key) is not None:
            raise AlreadyExists(
                f"user {quoted(membership.user_id)} is already a member of "
                f"{quoted(membership.account_id)}",
                user_id=membership.user_id,
                account_id=membership.account_id,
            )
        if self._d.users.get(membership.user_id) is None:
            raise UserNotFound(membership.user_id)
        if self._d.accounts.get(membership.account_id) is None:
            raise AccountNotFound(membership.account_id)
        self._d.touch_policy()
        self._d.memberships.put(key, membership)
        self._d.user_accounts.add(membership.user_id, membership.account_id)
        self._d.account_users.add(membership.account_id, membership.user_id)

    def find(self, user_id: UserId, account_id: AccountId) -> Membership | None:
        return self._d.memberships.get((user_id, account_id))

    def update(self, membership: Membership) -> None:
        key = (membership.user_id, membership.account_id)
        stored = self._d.memberships.get(key)
        if stored is None:
            raise MembershipNotFound(*key)
        _check_version(stored.version, membership.version, "membership")
        self._d.touch_policy()
        self._d.memberships.put(key, membership)

    def remove(self, user_id: UserId, account_id: AccountId) -> None:
        if self._d.memberships.get((user_id, account_id)) is None:
            raise MembershipNotFound(user_id, account_id)
        self._d.touch_policy()
        self._d.memberships.delete((user_id, account_id))
        self._d.user_accounts.discard(user_id, account_id)
        self._d.account_users.discard(account_id, user_id)

    def for_user(self, user_id: UserId) -> list[Membership]:
        rows = self._d.memberships.rows
        return [rows[(user_id, a)] for a in sorted(self._d.user_accounts.values(user_id))]

    def for_account(self, account_id: AccountId) -> list[Membership]:
        rows = self._d.memberships.rows
        return [rows[(u, account_id)] for u in sorted(self._d.account_users.values(account_id))]

    def all(self) -> list[Membership]:
        return sorted(self._d.memberships.rows.values(), key=lambda m: (m.account_id, m.user_id))


class MemoryRecords(Generic[V]):
    """Any collection's records, kept as the values themselves (they are immutable)."""

    def __init__(self, data: _Data, coll: Collection[V]) -> None:
        self._coll = coll
        self._d = data
        self._policy = coll.name in POLICY_COLLECTIONS
        self._rows, self._index, self._seq = data.record_tables(coll.name)

    def _missing(self, key: str) -> NotFound:
        return NotFound(
            f"{self._coll.noun} {quoted(key)} does not exist",
            collection=self._coll.name,
            key=key,
        )

    def _index_all(self, key: str, record: V, add: bool) -> None:
        for field, value in self._coll.index_values(record).items():
            if value is not None:
                if add:
                    self._index.add((field, value), key)
                else:
                    self._index.discard((field, value), key)

    def add(self, record: V) -> None:
        dump_record(self._coll, record)  # the same type and shape checks as the SQL adapters
        key = self._coll.key_of(record)
        if self._rows.get(key) is not None:
            raise AlreadyExists(
                f"{self._coll.noun} {quoted(key)} exists already",
                collection=self._coll.name,
                key=key,
            )
        if self._policy:
            self._d.touch_policy()
        self._rows.put(key, record)
        self._index_all(key, record, True)
        if self._coll.sequenced:  # one above the last: units take turns
            seq = (self._d.last_seq.get(self._coll.name) or 0) + 1
            self._d.last_seq.put(self._coll.name, seq)
            self._seq.put(key, seq)

    def _ordered(self, keys: Iterable[str]) -> list[str]:
        """``keys`` in the order reads return them: sequence order or key order."""
        if self._coll.sequenced:
            return sorted(keys, key=self._seq.rows.__getitem__)
        return sorted(keys)

    def add_many(self, records: Sequence[V]) -> None:
        for record in records:
            self.add(record)

    def get(self, key: str) -> V:
        record = self._rows.get(key)
        if record is None:
            raise self._missing(key)
        return cast(V, record)

    def find(self, key: str) -> V | None:
        return cast("V | None", self._rows.get(key))

    def find_many(self, keys: Iterable[str]) -> dict[str, V]:
        rows = self._rows.rows
        found = {k: cast(V, r) for k in keys if (r := rows.get(k)) is not None}
        if not self._coll.sequenced:
            return found
        return {k: found[k] for k in self._ordered(found)}

    def update(self, record: V) -> None:
        if self._coll.append_only:
            raise StorageError(f"{self._coll.name} is append-only")
        dump_record(self._coll, record)
        key = self._coll.key_of(record)
        stored = self.get(key)
        check_record_version(self._coll, stored, record)
        if self._policy:
            self._d.touch_policy()
        self._index_all(key, stored, False)
        self._rows.put(key, record)
        self._index_all(key, record, True)

    def remove(self, key: str) -> None:
        if self._coll.append_only:
            raise StorageError(f"{self._coll.name} is append-only")
        stored = self.get(key)
        if self._policy:
            self._d.touch_policy()
        self._index_all(key, stored, False)
        self._rows.delete(key)
        if self._seq.get(key) is not None:
            self._seq.delete(key)

    def list_by(self, field: str, value: str) -> list[V]:
        self._coll.check_index(field)
        return [self.get(k) for k in self._ordered(self._index.values((field, value)))]

    def all(self) -> list[V]:
        return [self.get(k) for k in self._ordered(self._rows.rows)]


class MemoryUsage:
    """Usage records with a running total per (period, account), per (period, account,
    channel, dimensions) and per (period, account, label, owner, channel, dimensions)."""

    def __init__(self, data: _Data) -> None:
        self._d = data

    def add(self, records: Sequence[UsageRecord]) -> None:
        d = self._d
        seen: set[tuple[str, str, str]] = set()
        for record in records:
            if type(record) is not UsageRecord:
                raise InvalidInput(f"expected a UsageRecord, got {type(record).__name__}")
            identity = (str(record.period), record.account_id, record.idempotency_key)
            if identity in seen or d.usage.get(identity) is not None:
                raise AlreadyExists(
                    f"usage record {quoted('/'.join(identity))} exists already",
                    collection="usage",
                    key="/".join(identity),
                )
            seen.add(identity)
        for record in records:
            period = str(record.period)
            identity = (period, record.account_id, record.idempotency_key)
            d.usage.put(identity, record)
            d.usage_by_period.add(period, identity)
            d.usage_by_account.add(record.account_id, identity)
            total = (period, record.account_id)
            d.usage_totals.put(total, (d.usage_totals.get(total) or 0) + record.quantity)
            part = (period, record.account_id, (record.channel, record.dimensions))
            d.usage_slices.put(part, (d.usage_slices.get(part) or 0) + record.quantity)
            d.slices_of.add(total, part[2])
            group = (period, record.usage_group)
            d.usage_groups.put(group, (d.usage_groups.get(group) or 0) + record.quantity)
            d.groups_of.add(total, group[1])

    def find(self, period: BillingPeriod, keys: Iterable[UsageKey]) -> dict[UsageKey, UsageRecord]:
        month, rows = str(period), self._d.usage.rows
        return {(a, k): r for a, k in keys if (r := rows.get((month, a, k))) is not None}

    def totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[AccountId, int]:
        month, rows = str(period), self._d.usage_totals.rows
        if account_ids is None:
            return {a: n for (p, a), n in rows.items() if p == month and n}
        return {a: n for a in account_ids if (n := rows.get((month, a)))}

    def slice_totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[AccountId, dict[UsageSlice, int]]:
        month, d = str(period), self._d
        accounts = self.totals(period, account_ids)
        rows = d.usage_slices.rows
        out: dict[AccountId, dict[UsageSlice, int]] = {}
        for account in accounts:
            parts = {
                k: n for k in d.slices_of.values((month, account)) if (n := rows[month, account, k])
            }
            if parts:
                out[account] = parts
        return out

    def report_totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[UsageGroup, int]:
        month, d = str(period), self._d
        rows = d.usage_groups.rows
        return {
            group: n
            for account in self.totals(period, account_ids)
            for group in d.groups_of.values((month, account))
            if (n := rows[month, group])
        }

    def for_period(self, period: BillingPeriod) -> list[UsageRecord]:
        month, rows = str(period), self._d.usage.rows
        return [rows[i] for i in sorted(self._d.usage_by_period.values(month))]

    def for_account(self, account_id: AccountId) -> list[UsageRecord]:
        rows = self._d.usage.rows
        return [rows[i] for i in sorted(self._d.usage_by_account.values(account_id))]


class MemoryEventLog:
    def __init__(self, data: _Data) -> None:
        self._d = data

    def append(self, event: DomainEvent) -> int:
        event_to_dict(event)  # the same type check as the SQL adapters
        if self._d.event_ids.get(event.event_id) is not None:
            raise AlreadyExists(f"event {quoted(event.event_id)} is logged already")
        seq = len(self._d.events.rows) + 1
        self._d.events.put(seq, LoggedEvent(seq, event))
        self._d.event_ids.put(event.event_id, seq)
        return seq

    def append_many(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            self.append(event)

    def since(self, seq: int = 0, limit: int = 1000) -> list[LoggedEvent]:
        rows = self._d.events.rows
        return [rows[n] for n in range(seq + 1, min(len(rows), seq + limit) + 1)]

    def for_account(
        self, account_id: AccountId, since: int = 0, limit: int = 1000
    ) -> list[LoggedEvent]:
        rows = self._d.events.rows
        hits = (rows[n] for n in range(since + 1, len(rows) + 1))
        return list(itertools.islice((e for e in hits if e.event.account_id == account_id), limit))


class MemoryLedger:
    """One currency's credit ledger: journaled tables, the guards of ``Ledger.apply``
    (checked before anything is written, so a failed one is a ``StalePlan``)."""

    def __init__(self, data: _Data, currency: str) -> None:
        self._d = data
        self._currency = Money.zero(currency).currency
        self._log = data.transfers.setdefault(self._currency, Log(data.journal))

    @property
    def currency(self) -> str:
        return self._currency

    def balance(self, account: LedgerAccount) -> Decimal:
        return self._d.balances.rows.get((self._currency, account), _ZERO)

    def wallet(self, account_id: AccountId) -> Wallet | None:
        return self._d.wallets.rows.get((self._currency, account_id))

    def reservation(self, reservation_id: str) -> Reservation | None:
        return self._d.reservations.rows.get((self._currency, reservation_id))

    def due_reservations(self, at: datetime) -> list[Reservation]:
        due = [r for r in self.reservations() if r.is_open and r.expires_at <= at]
        return sorted(due, key=lambda r: (r.expires_at, r.id))

    def idempotency(self, key: str, scope: AccountId | str) -> IdempotencyRecord | None:
        return self._d.operations.rows.get((self._currency, scope, key))

    def put_wallet(self, wallet: Wallet) -> None:
        self._d.wallets.put((self._currency, wallet.account_id), wallet)

    def confirm_reads(self) -> bool:
        return True  # units of work take turns: nothing changes under one

    def write_plan(self, plan: Plan) -> None:
        record = plan.record
        if record is None:
            return  # a replay writes nothing
        cur, balances = self._currency, self._d.balances
        scope = record.receipt.scope
        if (cur, scope, record.key) in self._d.operations.rows:
            raise StalePlan(f"key {quoted(record.key)} was used meanwhile", key=record.key)
        stale = [a for a, seen in plan.pinned if self.balance(a) != seen]
        after: list[tuple[LedgerAccount, Decimal]] = []
        for change in plan.changes:
            balance = change.applied_to(self.balance(change.account))
            if balance is None:
                stale.append(change.account)
            else:
                after.append((change.account, balance))
        if stale:
            raise StalePlan(
                f"{stale[0]} changed since the plan was made", ledger_account=str(stale[0])
            )
        for hold in plan.reservations:
            current = self.reservation(hold.id)
            fresh = hold.status is ReservationStatus.OPEN
            if (current is None) != fresh or (current is not None and not current.is_open):
                raise StalePlan(
                    f"reservation {quoted(hold.id)} changed since the plan was made",
                    reservation_id=hold.id,
                )
        self._d.operations.put((cur, scope, record.key), record)
        for account, balance in after:
            balances.put((cur, account), balance)
        for hold in plan.reservations:
            self._d.reservations.put((cur, hold.id), hold)
        for wallet in plan.wallets:
            self.put_wallet(wallet)
        for transfer in plan.transfers:
            self._log.append(transfer)

    def balances(self) -> dict[LedgerAccount, Decimal]:
        cur = self._currency
        return {a: b for (c, a), b in self._d.balances.rows.items() if c == cur}

    def wallets(self) -> list[Wallet]:
        cur = self._currency
        return sorted(
            (w for (c, _), w in self._d.wallets.rows.items() if c == cur),
            key=lambda w: w.account_id,
        )

    def reservations(self) -> list[Reservation]:
        cur = self._currency
        found = (r for (c, _), r in self._d.reservations.rows.items() if c == cur)
        return sorted(found, key=lambda r: r.id)

    def transfers(
        self,
        account: LedgerAccount | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Transfer]:
        return [
            t
            for t in self._log.items
            if (account is None or account in (t.source, t.destination))
            and (start is None or t.at >= start)
            and (end is None or t.at < end)
        ]

    def opening_balance(self, account: LedgerAccount, at: datetime) -> Decimal:
        total = _ZERO
        for t in self.transfers(account, end=at):
            amount = t.amount.amount
            total = add(total, amount) if t.destination == account else subtract(total, amount)
        return total


class MemoryUnitOfWork:
    """A unit of work over a ``MemoryStore``; holds the store's lock while open."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        data = store._data
        self.accounts = MemoryAccounts(data)
        self.links = MemoryLinks(data)
        self.users = MemoryUsers(data)
        self.memberships = MemoryMemberships(data)
        self.events = MemoryEventLog(data)
        self.usage = MemoryUsage(data)

    def records(self, coll: Collection[V]) -> MemoryRecords[V]:
        return MemoryRecords(self._store._data, coll)

    def ledger(self, currency: str) -> MemoryLedger:
        return MemoryLedger(self._store._data, currency)

    def policy_version(self) -> int | None:
        return self._store._data.policy_version()

    def reads_one_snapshot(self) -> bool:
        return True  # units take turns

    def confirm_policy_version(self, version: int) -> bool:
        return self._store._data.policy.rows.get("version", 0) == version

    def __enter__(self) -> Self:
        if self._store._owner == threading.get_ident():
            raise StorageError("units of work do not nest; finish the open one first")
        self._store._lock.acquire()
        self._store._owner = threading.get_ident()
        journal = self._store._data.journal
        journal.steps.clear()
        journal.active = True
        self._store._data.policy_touched = False
        return self

    def commit(self) -> None:
        self._store._data.journal.steps.clear()
        self._store._data.policy_touched = False

    def rollback(self) -> None:
        self._store._data.journal.undo_all()
        self._store._data.policy_touched = False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        journal = self._store._data.journal
        try:
            journal.undo_all()
        finally:
            journal.active = False
            self._store._data.policy_touched = False
            self._store._owner = None
            self._store._lock.release()


class MemoryStore:
    """Everything in process memory; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._data = _Data()

    def unit_of_work(self, *, read_only: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)  # units take turns, read-only ones too

    def close(self) -> None:
        """Nothing to release (like ``SqliteStore.close``, so stores swap freely)."""
