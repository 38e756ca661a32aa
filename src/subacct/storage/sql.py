"""SQL repositories shared by the SQLite and PostgreSQL adapters.

The statements are plain SQL with ``?`` placeholders that both databases understand; each
adapter supplies a ``SqlSession`` that runs them in its open transaction. Lists come back
in the order the ports promise, sorted here in Python (byte order of ids) so the result
does not depend on a database's collation; a sequenced collection's records and the
audit log's events in the order of their integer sequence numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Generic, Protocol, TypeVar

from subacct.domain import (
    Account,
    AccountId,
    AccountKind,
    AccountStatus,
    AgencyLink,
    Membership,
    RoleId,
    User,
    UserId,
)
from subacct.domain.events import DomainEvent, event_from_dict, event_to_dict
from subacct.errors import (
    AccountNotFound,
    AlreadyExists,
    ConcurrentModification,
    DuplicateLogin,
    InvalidInput,
    MembershipNotFound,
    NotFound,
    StorageError,
    UserNotFound,
    quoted,
)
from subacct.pricing.channels import NO_DIMENSIONS, Channel, Dimensions
from subacct.pricing.period import BillingPeriod
from subacct.pricing.usage import UsageGroup, UsageRecord, UsageSlice
from subacct.storage.collections import POLICY_COLLECTIONS, QUOTA_RESERVATIONS
from subacct.storage.ports import LoggedEvent, UsageKey
from subacct.storage.records import (
    Collection,
    check_record_version,
    dump_record,
    load_record,
)

__all__ = [
    "AUDIT_LOG_DDL",
    "MIGRATIONS",
    "SEQUENCED_BY_MIGRATION",
    "MigrationStep",
    "PolicyVersion",
    "SqlAccounts",
    "SqlEventLog",
    "SqlLinks",
    "SqlMemberships",
    "SqlRecords",
    "SqlRunner",
    "SqlSession",
    "SqlUsage",
    "SqlUsers",
    "event_json",
    "move_usage_records",
    "number_records",
    "record_table_ddl",
    "rekey_quota_reservations",
    "sequence_ddl",
]

R = TypeVar("R")

_ACCOUNT_COLS = "id, name, kind, parent_id, status, created_at, version"
_PREFIXED_COLS = ", ".join("a." + c.strip() for c in _ACCOUNT_COLS.split(","))


def _by_id(account: Account) -> str:
    return account.id


def _ts(value: datetime) -> str:
    return value.isoformat()


def _account(row: Sequence[Any]) -> Account:
    return Account(
        id=AccountId(row[0]),
        name=row[1],
        kind=AccountKind(row[2]),
        parent_id=row[3],
        status=AccountStatus(row[4]),
        created_at=datetime.fromisoformat(row[5]),
        version=row[6],
    )


def _user(row: Sequence[Any]) -> User:
    return User(UserId(row[0]), row[1], row[2], datetime.fromisoformat(row[3]), row[4])


def _membership(row: Sequence[Any]) -> Membership:
    return Membership(
        UserId(row[0]), AccountId(row[1]), RoleId(row[2]), datetime.fromisoformat(row[3]), row[4]
    )


def _link(row: Sequence[Any]) -> AgencyLink:
    return AgencyLink(
        AccountId(row[0]),
        AccountId(row[1]),
        row[2],
        datetime.fromisoformat(row[3]),
        access_role=RoleId(row[4]),
        request_id=row[5],
    )


class SqlRunner(Protocol):
    """Runs one statement written with ``?`` placeholders (what a migration step in
    ``MIGRATIONS`` is given)."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Rows of a SELECT."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Rows changed by an INSERT, UPDATE or DELETE."""
        ...


class SqlSession(SqlRunner, Protocol):
    """What the shared repositories need from an adapter: run one statement written with
    ``?`` placeholders inside the open transaction."""

    def numbering(self, table: str, count: int) -> tuple[str, Sequence[Any]]:
        """A SELECT (its SQL and parameters) of one row whose column ``start`` is the
        number after which ``count`` new rows of ``table`` (a sequenced record table) are
        numbered: the rows get ``start + 1`` ... ``start + count``. Each call takes new
        numbers, above every number taken before, in commit order where writers take
        turns (SQLite: the table's largest ``seq``; PostgreSQL: a sequence read under
        the lock that orders audit appends, held until the commit)."""
        ...

    def execute_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        """``execute`` each statement in order; the rows each changed. An adapter may
        send them in one round trip (PostgreSQL pipelines them)."""
        ...

    def touch_policy(self) -> None:
        """Raise the policy version in this transaction (once is enough per transaction;
        ``PolicyVersion`` does it)."""
        ...


class PolicyVersion:
    """``UnitOfWork.policy_version`` over the one-row table ``policy_version``, for an
    adapter whose unit of work is a ``SqlSession``: read once per transaction, raised
    once per transaction by its first policy write (``touch_policy``). Call
    ``_policy_done`` when the transaction ends."""

    _policy_seen: int | None = None
    _policy_touched: bool = False

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        raise NotImplementedError  # the adapter's unit of work runs the statement

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def policy_version(self) -> int | None:
        if self._policy_touched:
            return None
        if self._policy_seen is None:
            rows = self.query("SELECT version FROM policy_version WHERE id = 1")
            self._policy_seen = int(rows[0][0])
        return self._policy_seen

    def touch_policy(self) -> None:
        if not self._policy_touched:
            self.execute("UPDATE policy_version SET version = version + 1 WHERE id = 1")
            self._policy_touched = True

    def confirm_policy_version(self, version: int) -> bool:
        rows = self.query("SELECT version FROM policy_version WHERE id = 1")
        return int(rows[0][0]) == version

    def reads_one_snapshot(self) -> bool:
        return True  # SQLite: one transaction; PostgreSQL says otherwise for its ledger units

    def _policy_done(self) -> None:
        self._policy_seen = None
        self._policy_touched = False


class _Repo:
    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._db.query(sql, params)

    def _x(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params)

    def _guarded(self, sql: str, params: Sequence[Any], what: str) -> None:
        """Run a version-guarded UPDATE; no row changed means someone else won the race."""
        if self._x(sql, params) != 1:
            raise ConcurrentModification(f"{what} was changed concurrently; retry")

    def _stored_version(self, sql: str, params: Sequence[Any]) -> int | None:
        rows = self._q(sql, params)
        return None if not rows else int(rows[0][0])


def _version_conflict(what: str, stored: int, new: int) -> ConcurrentModification:
    return ConcurrentModification(
        f"{what} changed since it was read (stored version {stored}, write carries {new})",
        stored_version=stored,
        version=new,
    )


class SqlAccounts(_Repo):
    def add(self, account: Account) -> None:
        if self.find(account.id) is not None:
            raise AlreadyExists(f"account {quoted(account.id)} exists", account_id=account.id)
        if account.parent_id is not None:
            self.get(account.parent_id)
        self._db.touch_policy()
        self._x(
            f"INSERT INTO accounts ({_ACCOUNT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                account.id,
                account.name,
                account.kind.value,
                account.parent_id,
                account.status.value,
                _ts(account.created_at),
                account.version,
            ),
        )

    def find(self, account_id: AccountId) -> Account | None:
        rows = self._q(f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE id = ?", (account_id,))
        return _account(rows[0]) if rows else None

    def get(self, account_id: AccountId) -> Account:
        account = self.find(account_id)
        if account is None:
            raise AccountNotFound(account_id)
        return account

    def update(self, account: Account) -> None:
        stored = self._stored_version("SELECT version FROM accounts WHERE id = ?", (account.id,))
        if stored is None:
            raise AccountNotFound(account.id)
        if account.version != stored + 1:
            raise _version_conflict(f"account {quoted(account.id)}", stored, account.version)
        if account.parent_id is not None:
            self.get(account.parent_id)
        self._db.touch_policy()
        self._guarded(
            "UPDATE accounts SET name = ?, kind = ?, parent_id = ?, status = ?, version = ? "
            "WHERE id = ? AND version = ?",
            (
                account.name,
                account.kind.value,
                account.parent_id,
                account.status.value,
                account.version,
                account.id,
                stored,
            ),
            f"account {quoted(account.id)}",
        )

    def children(self, account_id: AccountId) -> list[Account]:
        rows = self._q(
            f"SELECT {_ACCOUNT_COLS} FROM accounts WHERE parent_id = ? ORDER BY id", (account_id,)
        )
        return [_account(r) for r in rows]

    def ancestors(self, account_id: AccountId) -> list[Account]:
        self.get(account_id)
        rows = self._q(
            f"""WITH RECURSIVE up(id, depth) AS (
                    SELECT parent_id, 1 FROM accounts WHERE id = ? AND parent_id IS NOT NULL
                    UNION ALL
                    SELECT a.parent_id, up.depth + 1 FROM accounts a JOIN up ON a.id = up.id
                    WHERE a.parent_id IS NOT NULL
                )
                SELECT {_PREFIXED_COLS}
                FROM up JOIN accounts a ON a.id = up.id ORDER BY up.depth""",
            (account_id,),
        )
        return [_account(r) for r in rows]

    def descendants(self, account_id: AccountId) -> list[Account]:
        self.get(account_id)
        rows = self._q(
            f"""WITH RECURSIVE down(id) AS (
                    SELECT id FROM accounts WHERE parent_id = ?
                    UNION ALL
                    SELECT a.id FROM accounts a JOIN down ON a.parent_id = down.id
                )
                SELECT {_PREFIXED_COLS} FROM down JOIN accounts a ON a.id = down.id""",
            (account_id,),
        )
        children: dict[AccountId | None, list[Account]] = {}
        for account in map(_account, rows):
            children.setdefault(account.parent_id, []).append(account)
        out: list[Account] = []
        stack = sorted(children.get(account_id, []), key=_by_id, reverse=True)
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(sorted(children.get(current.id, []), key=_by_id, reverse=True))
        return out

    def all(self) -> list[Account]:
        return [_account(r) for r in self._q(f"SELECT {_ACCOUNT_COLS} FROM accounts ORDER BY id")]


class SqlLinks(_Repo):
    _COLS = "agency_id, client_id, alias, created_at, access_role, request_id"

    def add(self, link: AgencyLink) -> None:
        if self.for_client(link.client_id) is not None:
            raise AlreadyExists(
                f"account {quoted(link.client_id)} is linked already", account_id=link.client_id
            )
        for account_id in (link.agency_id, link.client_id):
            if not self._q("SELECT 1 FROM accounts WHERE id = ?", (account_id,)):
                raise AccountNotFound(account_id)
        self._db.touch_policy()
        self._x(
            f"INSERT INTO agency_links ({self._COLS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                link.agency_id,
                link.client_id,
                link.alias,
                _ts(link.created_at),
                link.access_role,
                link.request_id,
            ),
        )

    def remove(self, client_id: AccountId) -> None:
        self._db.touch_policy()
        if not self._x("DELETE FROM agency_links WHERE client_id = ?", (client_id,)):
            raise NotFound(f"account {quoted(client_id)} has no agency link", account_id=client_id)

    def for_client(self, client_id: AccountId) -> AgencyLink | None:
        rows = self._q(f"SELECT {self._COLS} FROM agency_links WHERE client_id = ?", (client_id,))
        return _link(rows[0]) if rows else None

    def for_agency(self, agency_id: AccountId) -> list[AgencyLink]:
        rows = self._q(
            f"SELECT {self._COLS} FROM agency_links WHERE agency_id = ? ORDER BY client_id",
            (agency_id,),
        )
        return [_link(r) for r in rows]


class SqlUsers(_Repo):
    _COLS = "id, login, display_name, created_at, version"

    def add(self, user: User) -> None:
        if self.find(user.id) is not None:
            raise AlreadyExists(f"user {quoted(user.id)} exists", user_id=user.id)
        if self.find_by_login(user.login) is not None:
            raise DuplicateLogin(user.login)
        self._db.touch_policy()
        self._x(
            f"INSERT INTO users ({self._COLS}) VALUES (?, ?, ?, ?, ?)",
            (user.id, user.login, user.display_name, _ts(user.created_at), user.version),
        )

    def find(self, user_id: UserId) -> User | None:
        rows = self._q(f"SELECT {self._COLS} FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def get(self, user_id: UserId) -> User:
        user = self.find(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user

    def find_by_login(self, login: str) -> User | None:
        rows = self._q(f"SELECT {self._COLS} FROM users WHERE login = ?", (login,))
        return _user(rows[0]) if rows else None

    def update(self, user: User) -> None:
        stored = self.get(user.id)
        if user.version != stored.version + 1:
            raise _version_conflict(f"user {quoted(user.id)}", stored.version, user.version)
        other = self.find_by_login(user.login)
        if other is not None and other.id != user.id:
            raise DuplicateLogin(user.login)
        self._db.touch_policy()
        self._guarded(
            "UPDATE users SET login = ?, display_name = ?, version = ? "
            "WHERE id = ? AND version = ?",
            (user.login, user.display_name, user.version, user.id, stored.version),
            f"user {quoted(user.id)}",
        )

    def remove(self, user_id: UserId) -> None:
        self.get(user_id)
        if self._q("SELECT 1 FROM memberships WHERE user_id = ? LIMIT 1", (user_id,)):
            raise StorageError(f"user {quoted(user_id)} still has memberships", user_id=user_id)
        self._db.touch_policy()
        self._x("DELETE FROM users WHERE id = ?", (user_id,))

    def all(self) -> list[User]:
        return [_user(r) for r in self._q(f"SELECT {self._COLS} FROM users ORDER BY id")]


class SqlMemberships(_Repo):
    _COLS = "user_id, account_id, role, created_at, version"

    def add(self, membership: Membership) -> None:
        if self.find(membership.user_id, membership.account_id) is not None:
            raise AlreadyExists(
                f"user {quoted(membership.user_id)} is already a member of "
                f"{quoted(membership.account_id)}",
                user_id=membership.user_id,
                account_id=membership.account_id,
            )
        if not self._q("SELECT 1 FROM users WHERE id = ?", (membership.user_id,)):
            raise UserNotFound(membership.user_id)
        if not self._q("SELECT 1 FROM accounts WHERE id = ?", (membership.account_id,)):
            raise AccountNotFound(membership.account_id)
        self._db.touch_policy()
        self._x(
            f"INSERT INTO memberships ({self._COLS}) VALUES (?, ?, ?, ?, ?)",
            (
                membership.user_id,
                membership.account_id,
                membership.role,
                _ts(membership.created_at),
                membership.version,
            ),
        )

    def find(self, user_id: UserId, account_id: AccountId) -> Membership | None:
        rows = self._q(
            f"SELECT {self._COLS} FROM memberships WHERE user_id = ? AND account_id = ?",
            (user_id, account_id),
        )
        return _membership(rows[0]) if rows else None

    def update(self, membership: Membership) -> None:
        stored = self.find(membership.user_id, membership.account_id)
        if stored is None:
            raise MembershipNotFound(membership.user_id, membership.account_id)
        if membership.version != stored.version + 1:
            raise _version_conflict("membership", stored.version, membership.version)
        self._db.touch_policy()
        self._guarded(
            "UPDATE memberships SET role = ?, version = ? "
            "WHERE user_id = ? AND account_id = ? AND version = ?",
            (
                membership.role,
                membership.version,
                membership.user_id,
                membership.account_id,
                stored.version,
            ),
            "membership",
        )

    def remove(self, user_id: UserId, account_id: AccountId) -> None:
        self._db.touch_policy()
        if not self._x(
            "DELETE FROM memberships WHERE user_id = ? AND account_id = ?", (user_id, account_id)
        ):
            raise MembershipNotFound(user_id, account_id)

    def for_user(self, user_id: UserId) -> list[Membership]:
        rows = self._q(
            f"SELECT {self._COLS} FROM memberships WHERE user_id = ? ORDER BY account_id",
            (user_id,),
        )
        return [_membership(r) for r in rows]

    def for_account(self, account_id: AccountId) -> list[Membership]:
        rows = self._q(
            f"SELECT {self._COLS} FROM memberships WHERE account_id = ? ORDER BY user_id",
            (account_id,),
        )
        return [_membership(r) for r in rows]

    def all(self) -> list[Membership]:
        rows = self._q(f"SELECT {self._COLS} FROM memberships ORDER BY account_id, user_id")
        return [_membership(r) for r in rows]


def record_table(coll: Collection[Any]) -> str:
    return f"rec_{coll.name}"


def record_table_ddl(coll: Collection[Any]) -> list[str]:
    """CREATE statements for one collection (same SQL on SQLite and PostgreSQL)."""
    table = record_table(coll)
    columns = ["k TEXT PRIMARY KEY", "body TEXT NOT NULL"]
    columns += [f"i_{field} TEXT" for field in coll.indexes]
    statements = [f"CREATE TABLE {table} ({', '.join(columns)})"]
    statements += [record_index_ddl(coll, field) for field in coll.indexes]
    return statements


def record_index_ddl(coll: Collection[Any], field: str) -> str:
    """The index ``list_by(field, ...)`` reads: partial, so that a record whose
    ``field`` is empty (a system's audit record has no acting user) costs no entry."""
    table = record_table(coll)
    return f"CREATE INDEX {table}_{field} ON {table}(i_{field}, k) WHERE i_{field} IS NOT NULL"


class SqlRecords(Generic[R]):
    """Any collection's records as JSON text with their key and index columns."""

    def __init__(self, db: SqlSession, coll: Collection[R]) -> None:
        self._db = db
        self._coll = coll
        self._table = record_table(coll)
        self._policy = coll.name in POLICY_COLLECTIONS
        self._seq = ", seq" if coll.sequenced else ""  # a column find_many reads

    def _missing(self, key: str) -> NotFound:
        return NotFound(
            f"{self._coll.noun} {quoted(key)} does not exist",
            collection=self._coll.name,
            key=key,
        )

    def _insert(self, rows: Sequence[Sequence[Any]], conflict: str) -> tuple[str, list[Any]]:
        """One INSERT of ``rows`` (key, body, index values) and its parameters; a
        sequenced collection's rows numbered in their order (``SqlSession.numbering``)."""
        names = ", ".join(["k", "body", *(f"i_{f}" for f in self._coll.indexes)])
        width = 2 + len(self._coll.indexes)
        values = [value for row in rows for value in row]
        if not self._coll.sequenced:
            marks = ", ".join([f"({', '.join('?' * width)})"] * len(rows))
            return f"INSERT INTO {self._table} ({names}) VALUES {marks}{conflict}", values
        start, params = self._db.numbering(self._table, len(rows))
        marks = ", ".join(f"({', '.join('?' * width)}, {n})" for n in range(1, len(rows) + 1))
        columns = ", ".join(f"v.column{n}" for n in range(1, width + 1))
        # the numbers are read once (a CTE: PostgreSQL evaluates one with a volatile
        # function once), inside the INSERT (Python's sqlite3 counts the rows of a
        # statement that begins with INSERT only); "WHERE 1 = 1" keeps SQLite from
        # reading ON CONFLICT as a join's
        return (
            f"INSERT INTO {self._table} ({names}, seq) WITH b AS ({start}) "
            f"SELECT {columns}, b.start + v.column{width + 1} "
            f"FROM (VALUES {marks}) AS v, b WHERE 1 = 1{conflict}",
            [*params, *values],
        )

    def add(self, record: R) -> None:
        body = dump_record(self._coll, record)
        key = self._coll.key_of(record)
        index = self._coll.index_values(record)
        if self._policy:
            self._db.touch_policy()
        # one statement: a taken key inserts nothing (SQLite 3.24+ and PostgreSQL)
        added = self._db.execute(
            *self._insert([(key, body, *index.values())], " ON CONFLICT (k) DO NOTHING")
        )
        if added != 1:
            raise AlreadyExists(
                f"{self._coll.noun} {quoted(key)} exists already",
                collection=self._coll.name,
                key=key,
            )

    def find(self, key: str) -> R | None:
        rows = self._db.query(f"SELECT body FROM {self._table} WHERE k = ?", (key,))
        return load_record(self._coll, rows[0][0]) if rows else None

    def get(self, key: str) -> R:
        record = self.find(key)
        if record is None:
            raise self._missing(key)
        return record

    def add_many(self, records: Sequence[R]) -> None:
        if not records:
            return
        if self._policy:
            self._db.touch_policy()
        rows = []
        for record in records:
            index = self._coll.index_values(record)
            body = dump_record(self._coll, record)
            rows.append((self._coll.key_of(record), body, *index.values()))
        width = 2 + len(self._coll.indexes)
        if len({row[0] for row in rows}) != len(rows):
            raise AlreadyExists(
                f"{self._coll.noun} keys repeat in one batch", collection=self._coll.name
            )
        later = getattr(self._db, "later", None)  # an adapter that sends with the commit
        room = 1 if self._coll.sequenced else 0  # for numbering's parameters
        for part in _chunks(rows, width + room):
            if later is not None:  # sent with the commit: a taken key fails it
                later(*self._insert(part, ""))
                continue
            added = self._db.execute(*self._insert(part, " ON CONFLICT (k) DO NOTHING"))
            if added != len(part):
                raise AlreadyExists(
                    f"a {self._coll.noun} key of this batch exists already",
                    collection=self._coll.name,
                )

    def find_many(self, keys: Iterable[str]) -> dict[str, R]:
        rows: list[Sequence[Any]] = []
        for part in _chunks(list(dict.fromkeys(keys))):
            marks = ", ".join("?" * len(part))
            rows += self._db.query(
                f"SELECT k, body{self._seq} FROM {self._table} WHERE k IN ({marks})", part
            )
        if self._coll.sequenced:
            rows.sort(key=lambda r: int(r[2]))
        return {str(r[0]): load_record(self._coll, r[1]) for r in rows}

    def update(self, record: R) -> None:
        if self._coll.append_only:
            raise StorageError(f"{self._coll.name} is append-only")
        body = dump_record(self._coll, record)
        key = self._coll.key_of(record)
        rows = self._db.query(f"SELECT body FROM {self._table} WHERE k = ?", (key,))
        if not rows:
            raise self._missing(key)
        check_record_version(self._coll, load_record(self._coll, rows[0][0]), record)
        index = self._coll.index_values(record)
        if self._policy:
            self._db.touch_policy()
        sets = ", ".join(["body = ?", *(f"i_{f} = ?" for f in index)])
        changed = self._db.execute(
            f"UPDATE {self._table} SET {sets} WHERE k = ? AND body = ?",
            (body, *index.values(), key, rows[0][0]),
        )
        if changed != 1:
            raise ConcurrentModification(
                f"{self._coll.noun} {quoted(key)} changed; retry",
                collection=self._coll.name,
                key=key,
            )

    def remove(self, key: str) -> None:
        if self._coll.append_only:
            raise StorageError(f"{self._coll.name} is append-only")
        if self._policy:
            self._db.touch_policy()
        if not self._db.execute(f"DELETE FROM {self._table} WHERE k = ?", (key,)):
            raise self._missing(key)

    def list_by(self, field: str, value: str) -> list[R]:
        self._coll.check_index(field)
        return self._load_sorted(f"WHERE i_{field} = ?", (value,))

    def all(self) -> list[R]:
        return self._load_sorted("", ())

    def _load_sorted(self, where: str, params: Sequence[Any]) -> list[R]:
        """The records ``where`` selects: in sequence order (an integer column, ordered
        by the database) or in key order (sorted here: byte order, whatever the
        database's collation)."""
        if self._coll.sequenced:
            rows = self._db.query(f"SELECT body FROM {self._table} {where} ORDER BY seq", params)
            return [load_record(self._coll, str(r[0])) for r in rows]
        rows = self._db.query(f"SELECT k, body FROM {self._table} {where}", params)
        return [load_record(self._coll, str(r[1])) for r in sorted(rows, key=lambda r: str(r[0]))]


_USAGE_COLS_8: Final = "period, idempotency_key, account_id, channel, quantity, label"
"""The columns of usage_records from version 7 to 10 (what those migrations copy)."""
_USAGE_COLS = f"{_USAGE_COLS_8}, dimensions, owner_id"
_CHUNK: Final = 400  # ids per IN list (one more parameter stays under 999)
_VARIABLES: Final = 999  # the fewest bound parameters per statement (SQLite before 3.32)


def _usage(row: Sequence[Any]) -> UsageRecord:
    return UsageRecord(
        AccountId(row[2]),
        BillingPeriod.parse(row[0]),
        row[3],
        int(row[4]),
        row[1],
        row[5],
        _dimensions(row[6]),
        row[7],
    )


def _dimensions(key: object) -> Dimensions:
    """The dimensions stored as ``key`` (most rows have none: one shared value)."""
    return NO_DIMENSIONS if key == NO_DIMENSIONS.key else Dimensions.from_key(str(key))


def _chunks(values: Sequence[Any], width: int = 0) -> list[Sequence[Any]]:
    """``values`` in parts: of ``_CHUNK`` ids, or of rows of ``width`` parameters each
    that fit in one statement on every SQLite and PostgreSQL."""
    size = _CHUNK if not width else max(1, _VARIABLES // width)
    return [values[i : i + size] for i in range(0, len(values), size)]


class SqlUsage(_Repo):
    """Usage records in ``usage_records``; totals are ``SUM`` aggregates over the index
    on (period, account, quantity), summed in two parts so that no 64-bit sum can
    overflow."""

    def add(self, records: Sequence[UsageRecord]) -> None:
        by_period: dict[BillingPeriod, list[UsageKey]] = {}
        seen: set[tuple[str, str, str]] = set()
        for record in records:
            if type(record) is not UsageRecord:
                raise InvalidInput(f"expected a UsageRecord, got {type(record).__name__}")
            identity = (str(record.period), record.account_id, record.idempotency_key)
            if identity in seen:
                raise _usage_taken(identity)
            seen.add(identity)
            by_period.setdefault(record.period, []).append(
                (record.account_id, record.idempotency_key)
            )
        for period, keys in by_period.items():
            taken = self.find(period, keys)
            if taken:
                raise _usage_taken((str(period), *next(iter(taken))))
        rows = [
            (
                str(r.period),
                r.idempotency_key,
                r.account_id,
                r.channel.value,
                r.quantity,
                r.label,
                r.dimensions.key,
                r.owner_id,
            )
            for r in records
        ]
        for part in _chunks(rows, 8):
            marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(part))
            self._x(
                f"INSERT INTO usage_records ({_USAGE_COLS}) VALUES {marks}",
                [value for row in part for value in row],
            )

    def find(self, period: BillingPeriod, keys: Iterable[UsageKey]) -> dict[UsageKey, UsageRecord]:
        wanted = list(dict.fromkeys(keys))
        found: dict[UsageKey, UsageRecord] = {}
        for part in _chunks(wanted, 2):
            pairs = ", ".join(["(?, ?)"] * len(part))
            # IN a SELECT of the pairs, not IN (VALUES ...): SQLite then looks each pair
            # up in the primary key instead of scanning the whole period
            rows = self._q(
                f"SELECT {_USAGE_COLS} FROM usage_records WHERE period = ? "
                "AND (account_id, idempotency_key) IN "
                f"(SELECT column1, column2 FROM (VALUES {pairs}) AS wanted)",
                (str(period), *(value for pair in part for value in pair)),
            )
            found.update(((AccountId(row[2]), str(row[1])), _usage(row)) for row in rows)
        return found

    def _sums(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None, by: str
    ) -> list[Any]:
        """``by``'s columns, then the sum of quantity in two parts (high, low), per group
        of ``by`` in ``period``, of ``account_ids`` only when given."""
        select = (
            f"SELECT {by}, SUM(quantity / 1000000000), "
            "SUM(quantity - quantity / 1000000000 * 1000000000) "
            "FROM usage_records WHERE period = ?"
        )
        if account_ids is None:
            return self._q(f"{select} GROUP BY {by}", (str(period),))
        rows = []
        for part in _chunks(list(dict.fromkeys(account_ids))):
            marks = ", ".join("?" * len(part))
            rows += self._q(
                f"{select} AND account_id IN ({marks}) GROUP BY {by}", (str(period), *part)
            )
        return rows

    def totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[AccountId, int]:
        rows = self._sums(period, account_ids, "account_id")
        totals = {AccountId(a): int(high) * 1_000_000_000 + int(low) for a, high, low in rows}
        return {a: n for a, n in totals.items() if n}

    def slice_totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[AccountId, dict[UsageSlice, int]]:
        rows = self._sums(period, account_ids, "account_id, channel, dimensions")
        out: dict[AccountId, dict[UsageSlice, int]] = {}
        slices: dict[tuple[str, str], UsageSlice] = {}  # each read once
        for account, channel, key, high, low in rows:
            n = int(high) * 1_000_000_000 + int(low)
            if n:
                piece = slices.get((channel, key))
                if piece is None:
                    piece = slices[channel, key] = (Channel(channel), _dimensions(key))
                out.setdefault(AccountId(account), {})[piece] = n
        return out

    def report_totals(
        self, period: BillingPeriod, account_ids: Iterable[AccountId] | None = None
    ) -> dict[UsageGroup, int]:
        # grouped in the order of the totals index (version 13): read from it alone
        by = "account_id, channel, dimensions, label, owner_id"
        out: dict[UsageGroup, int] = {}
        slices: dict[tuple[str, str], UsageSlice] = {}  # each read once
        for account, channel, key, label, owner, high, low in self._sums(period, account_ids, by):
            n = int(high) * 1_000_000_000 + int(low)
            if n:
                piece = slices.get((channel, key))
                if piece is None:
                    piece = slices[channel, key] = (Channel(channel), _dimensions(key))
                group = (AccountId(account), label, None if owner is None else UserId(owner))
                out[(*group, *piece)] = n
        return out

    def for_period(self, period: BillingPeriod) -> list[UsageRecord]:
        rows = self._q(f"SELECT {_USAGE_COLS} FROM usage_records WHERE period = ?", (str(period),))
        return [_usage(r) for r in sorted(rows, key=lambda r: (str(r[2]), str(r[1])))]

    def for_account(self, account_id: AccountId) -> list[UsageRecord]:
        rows = self._q(
            f"SELECT {_USAGE_COLS} FROM usage_records WHERE account_id = ?", (account_id,)
        )
        return [_usage(r) for r in sorted(rows, key=lambda r: (str(r[0]), str(r[1])))]


def _usage_taken(identity: tuple[str, ...]) -> AlreadyExists:
    key = "/".join(identity)
    return AlreadyExists(f"usage record {quoted(key)} exists already", collection="usage", key=key)


USAGE_DDL: Final = [
    """CREATE TABLE usage_records (
        period TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        account_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        label TEXT,
        PRIMARY KEY (period, idempotency_key)
    )""",
    "CREATE INDEX usage_records_totals ON usage_records(period, account_id, quantity)",
    "CREATE INDEX usage_records_account ON usage_records(account_id, period)",
]


def event_json(event: DomainEvent) -> str:
    """The event as the audit log's ``body`` text."""
    return json.dumps(event_to_dict(event), sort_keys=True, separators=(",", ":"))


class SqlEventLog:
    """The audit log: each event is stored as JSON with ``seq`` one above the last. That
    grows in commit order when writers take turns (SQLite); the PostgreSQL adapter
    serializes appends with a lock instead (``subacct.storage.postgres.PgEventLog``)."""

    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def append(self, event: DomainEvent) -> int:
        return self._insert([event])

    def append_many(self, events: Sequence[DomainEvent]) -> None:
        for part in _chunks(list(events), 4):
            self._insert(part)

    def _insert(self, events: Sequence[DomainEvent]) -> int:
        """Two statements for any number of events: the next sequence number, then one
        insert (an event id already logged inserts nothing: ``AlreadyExists``, the unit
        left to be rolled back). The first event's sequence number."""
        rows = []
        row = self._db.query("SELECT coalesce(max(seq), 0) + 1 FROM audit_log")
        first = int(row[0][0])
        for seq, event in enumerate(events, start=first):
            body = event_json(event)
            rows += [seq, event.event_id, event.account_id, body]
        marks = ", ".join(["(?, ?, ?, ?)"] * len(events))
        added = self._db.execute(
            f"INSERT INTO audit_log (seq, event_id, account_id, body) VALUES {marks} "
            "ON CONFLICT (event_id) DO NOTHING",
            rows,
        )
        if added != len(events):
            if len(events) == 1:
                raise AlreadyExists(f"event {quoted(events[0].event_id)} is logged already")
            raise AlreadyExists("an event id of this batch is logged already")
        return first

    def _rows(self, where: str, params: Sequence[Any], limit: int) -> list[LoggedEvent]:
        rows = self._db.query(
            f"SELECT seq, body FROM audit_log WHERE {where} ORDER BY seq LIMIT ?",
            (*params, limit),
        )
        return [LoggedEvent(int(seq), event_from_dict(json.loads(body))) for seq, body in rows]

    def since(self, seq: int = 0, limit: int = 1000) -> list[LoggedEvent]:
        return self._rows("seq > ?", (seq,), limit)

    def for_account(
        self, account_id: AccountId, since: int = 0, limit: int = 1000
    ) -> list[LoggedEvent]:
        return self._rows("account_id = ? AND seq > ?", (account_id, since), limit)


AUDIT_LOG_DDL: Final = [
    "CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
    "account_id TEXT, body TEXT NOT NULL)",
    "CREATE INDEX audit_log_account ON audit_log(account_id, seq)",
]


MigrationStep = Callable[[SqlRunner], None]
"""A migration step SQL alone cannot take (version 9 normalizes stored logins in Python),
run by the adapter in the migration's transaction, between its statements."""


def _migrations() -> list[list[str | MigrationStep]]:
    from subacct.storage.collections import COLLECTIONS
    from subacct.storage.sql_ledger import LEDGER_DDL, LEDGER_SCOPES_DDL
    from subacct.storage.sql_text import apply_text_rules

    core = [
        """CREATE TABLE accounts (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            parent_id TEXT REFERENCES accounts(id),
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            version INTEGER NOT NULL
        )""",
        "CREATE INDEX accounts_parent ON accounts(parent_id)",
        """CREATE TABLE agency_links (
            client_id TEXT PRIMARY KEY REFERENCES accounts(id),
            agency_id TEXT NOT NULL REFERENCES accounts(id),
            alias TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX agency_links_agency ON agency_links(agency_id)",
        """CREATE TABLE users (
            id TEXT PRIMARY KEY,
            login TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            version INTEGER NOT NULL
        )""",
        """CREATE TABLE memberships (
            user_id TEXT NOT NULL REFERENCES users(id),
            account_id TEXT NOT NULL REFERENCES accounts(id),
            role TEXT NOT NULL,
            created_at TEXT NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (user_id, account_id)
        )""",
        "CREATE INDEX memberships_account ON memberships(account_id, user_id)",
    ]
    listed = [name for names in RECORD_TABLES_BY_MIGRATION.values() for name in names]
    listed = [name for name in listed if name not in RETIRED_COLLECTIONS]
    if sorted(listed) != sorted(COLLECTIONS) or len(set(listed)) != len(listed):
        raise AssertionError(
            "every record collection is created by exactly one migration: add new "
            "collections to a new entry of RECORD_TABLES_BY_MIGRATION"
        )
    records = list(AUDIT_LOG_DDL)
    known = {**COLLECTIONS, **RETIRED_COLLECTIONS}
    for name in RECORD_TABLES_BY_MIGRATION[2]:
        records += record_table_ddl(known[name])

    def tables(version: int) -> list[str]:
        names = RECORD_TABLES_BY_MIGRATION[version]
        return [s for name in names for s in record_table_ddl(COLLECTIONS[name])]

    # version 4: nothing here; PostgreSQL adds its ledger function (storage.postgres)
    # version 7: the policy version (``UnitOfWork.policy_version``)
    version_7 = [
        "CREATE TABLE policy_version (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)",
        "INSERT INTO policy_version (id, version) VALUES (1, 0)",
        *USAGE_DDL,
        # every record index partial (``record_index_ddl``)
        *(
            statement
            for name, field in _INDEXED_BEFORE_7
            for statement in (
                f"DROP INDEX {record_table(COLLECTIONS[name])}_{field}",
                record_index_ddl(COLLECTIONS[name], field),
            )
        ),
        # then each adapter moves the records of rec_usage in and drops it (its own
        # JSON functions: ``move_usage_records``)
    ]
    # version 8: idempotency keys per scope (the account acted on): the ledger's tables
    # (``LEDGER_SCOPES_DDL``) and usage_records rebuilt with it in their keys; then each
    # adapter re-keys the stored quota reservations (``rekey_quota_reservations``)
    version_8 = [*LEDGER_SCOPES_DDL, *USAGE_SCOPES_DDL]
    sequenced = [name for names in SEQUENCED_BY_MIGRATION.values() for name, _ in names]
    if sorted(sequenced) != sorted(c.name for c in COLLECTIONS.values() if c.sequenced):
        raise AssertionError(
            "every sequenced collection is numbered by exactly one migration: add it to "
            "a new entry of SEQUENCED_BY_MIGRATION"
        )
    # version 9: audit records numbered by storage (``Collection.sequenced``), then each
    # adapter numbers the rows already there (``number_records``); stored logins and
    # names brought under the rules of this version (``subacct.storage.sql_text``)
    version_9: list[str | MigrationStep] = [
        *(
            statement
            for name, fields in SEQUENCED_BY_MIGRATION[9]
            for statement in sequence_ddl(record_table(COLLECTIONS[name]), fields)
        ),
        apply_text_rules,
    ]
    versions: list[list[str | MigrationStep]] = [
        [*core],
        [*records],
        [*LEDGER_DDL],
        [],
        [*tables(5)],
        [*tables(6)],
        [*version_7],
        [*version_8],
        version_9,
        [*tables(10)],
        [*tables(11), *USAGE_SLICES_DDL],
        [*tables(12)],
        [*USAGE_REPORT_DDL],
        [*tables(14), finalize_stored_invoices],
        [*tables(15)],
        [],  # version 16: nothing (a number held for a change that needed none)
        [*tables(17)],
        [*LINKS_18_DDL, *tables(18)],
        [*tables(19)],
    ]
    return versions


LINKS_18_DDL: Final = [
    # version 18: links by consent (seed 002): each link's access role and the request
    # it was accepted from; a link stored before acts with the default role
    "ALTER TABLE agency_links ADD COLUMN access_role TEXT NOT NULL DEFAULT 'agency_manager'",
    "ALTER TABLE agency_links ADD COLUMN request_id TEXT",
]


_INDEXED_BEFORE_7: Final = (
    # every record index of versions 2 to 6, which version 7 makes partial (a fixed list:
    # a later collection or index must not change what version 7 runs)
    ("api_key_credentials", "key_id"),
    ("api_keys", "account_id"),
    ("api_keys", "created_by"),
    ("audit_records", "account_id"),
    ("audit_records", "acting_user_id"),
    ("audit_records", "impersonated_account_id"),
    ("ceilings", "account_id"),
    ("ceilings", "set_by"),
    ("impersonation_sessions", "real_user_id"),
    ("impersonation_sessions", "account_id"),
    ("invoiced_accounts", "payer_id"),
    ("invoices", "payer_id"),
    ("invoices", "period"),
    ("plan_changes", "account_id"),
    ("plan_changes", "status"),
    ("resources", "owner_id"),
    ("shares", "owner_id"),
    ("shares", "resource_id"),
)

RETIRED_COLLECTIONS: Final[dict[str, Collection[Any]]] = {
    # version 7 moved usage records into the table usage_records (``SqlUsage``)
    "usage": Collection(
        "usage", UsageRecord, ("period", "idempotency_key"), indexes=("account_id", "period")
    ),
}
"""Record collections an earlier version created and a later one replaced: kept here so
that a database of an old version can still be brought up to date."""


def move_usage_records(field: str) -> list[str]:
    """Version 7's last statements: copy rec_usage into usage_records and drop it.
    ``field`` reads one JSON field of ``body`` as text, ``{name}`` standing for the field
    (each database's own JSON access)."""
    json = {name: field.format(name=name) for name in ("channel", "quantity", "label")}
    return [
        f"INSERT INTO usage_records ({_USAGE_COLS_8}) SELECT i_period, "
        f"substr(k, length(i_period) + 2), i_account_id, {json['channel']}, "
        f"CAST({json['quantity']} AS BIGINT), {json['label']} FROM rec_usage",
        "DROP TABLE rec_usage",
    ]


USAGE_SCOPES_DDL: Final = [
    # version 8: a usage key is its account's own
    """CREATE TABLE usage_records_8 (
        period TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        account_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        label TEXT,
        PRIMARY KEY (period, account_id, idempotency_key)
    )""",
    f"INSERT INTO usage_records_8 ({_USAGE_COLS_8}) SELECT {_USAGE_COLS_8} FROM usage_records",
    "DROP TABLE usage_records",
    "ALTER TABLE usage_records_8 RENAME TO usage_records",
    "CREATE INDEX usage_records_totals ON usage_records(period, account_id, quantity)",
    "CREATE INDEX usage_records_account ON usage_records(account_id, period)",
]


USAGE_SLICES_DDL: Final = [
    # version 11: a usage record's dimensions (canonical JSON text, ``Dimensions.key``;
    # rows stored before have none) and the user who sent (NULL before); the totals
    # index widened so that the sums per (account, channel, dimensions) billing reads
    # are read from the index alone (it still serves the sums per account)
    "ALTER TABLE usage_records ADD COLUMN dimensions TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE usage_records ADD COLUMN owner_id TEXT",
    "DROP INDEX usage_records_totals",
    "CREATE INDEX usage_records_totals ON usage_records"
    "(period, account_id, channel, dimensions, quantity)",
]


USAGE_REPORT_DDL: Final = [
    # version 13: the totals index widened by the label and the sending user, so that the
    # sums per (account, channel, dimensions, label, owner) reports read come from the
    # index alone, in its order (it still serves the sums billing reads)
    "DROP INDEX usage_records_totals",
    "CREATE INDEX usage_records_totals ON usage_records"
    "(period, account_id, channel, dimensions, label, owner_id, quantity)",
]


def finalize_stored_invoices(db: SqlRunner) -> None:
    """Version 14's last step: every invoice stored before was issued (storing it closed
    its period), so it becomes ``finalized``; it keeps no number (none was given)."""
    table = "rec_invoices"  # by name: a later change to INVOICES must not change this
    for key, body in db.query(f"SELECT k, body FROM {table}"):
        data = json.loads(body)
        if "status" in data:
            continue
        data["status"] = "finalized"
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        db.execute(f"UPDATE {table} SET body = ? WHERE k = ?", (text, key))


def rekey_quota_reservations(field: str, slash: str) -> list[str]:
    """Version 8's last statements: a quota reservation's record key was
    ``period/key``; it becomes ``period/account/key``, the account's ``%`` and ``/``
    escaped (``QuotaReservation.scoped_key``). ``field`` reads a JSON field of ``body`` as
    text (``{name}``: the field), ``slash`` finds the first ``/`` of ``k`` (each
    database's own functions). In two passes, through keys no row has (every stored key
    begins with its period's digits), so that no row meets another's key on the way."""
    table = record_table(QUOTA_RESERVATIONS)
    account = f"replace(replace({field.format(name='account_id')}, '%', '%25'), '/', '%2F')"
    return [
        f"UPDATE {table} SET k = '~' || substr(k, 1, {slash}) || {account} || '/' || "
        f"substr(k, {slash} + 1)",
        f"UPDATE {table} SET k = substr(k, 2)",
    ]


def sequence_ddl(table: str, indexes: Sequence[str]) -> list[str]:
    """A record table numbered by storage: a ``seq`` column (unique; the adapter fills
    it, see ``number_records``), and the indexes ``list_by`` reads on (field, seq)."""
    statements = [
        f"ALTER TABLE {table} ADD COLUMN seq BIGINT",
        f"CREATE UNIQUE INDEX {table}_by_seq ON {table}(seq)",
    ]
    for field in indexes:
        statements += [
            f"DROP INDEX {table}_{field}",
            f"CREATE INDEX {table}_{field} ON {table}(i_{field}, seq) WHERE i_{field} IS NOT NULL",
        ]
    return statements


def number_records(table: str, at: str, collate: str = "") -> list[str]:
    """Version 9's statements (each adapter's own ``at`` and ``collate``) that number the
    records already in ``table`` in their best order: by time (``at`` reads it from the
    JSON body), then by the number ending the key (``audit_11`` before ``audit_100``),
    then by key; ``collate`` orders text by bytes where the database's collation would
    not."""
    head = f"rtrim(k, '0123456789'){collate}"  # the key without its closing digits
    digits = "ltrim(substr(k, length(rtrim(k, '0123456789')) + 1), '0')"
    order = f"{at}, {head}, length({digits}), {digits}{collate}, k{collate}"
    return [
        "CREATE TABLE subacct_numbering (k TEXT PRIMARY KEY, n BIGINT NOT NULL)",
        f"INSERT INTO subacct_numbering (k, n) "
        f"SELECT k, row_number() OVER (ORDER BY {order}) FROM {table}",
        f"UPDATE {table} SET seq = "
        f"(SELECT n FROM subacct_numbering WHERE subacct_numbering.k = {table}.k)",
        "DROP TABLE subacct_numbering",
    ]


SEQUENCED_BY_MIGRATION: Final[dict[int, tuple[tuple[str, tuple[str, ...]], ...]]] = {
    # version 9: the audit records, with their indexes of version 7
    9: (("audit_records", ("account_id", "acting_user_id", "impersonated_account_id")),),
}
"""Which migration numbers each sequenced collection's table (with the indexes it then
had, remade on (field, seq)): a collection sequenced later needs a new version."""


RECORD_TABLES_BY_MIGRATION: Final[dict[int, tuple[str, ...]]] = {
    # version 2: the audit log and the record tables of subacct 0.1.0
    2: (
        "roles",
        "ceilings",
        "api_keys",
        "api_key_credentials",
        "impersonation_sessions",
        "impersonation_settings",
        "audit_records",
        "billing_profiles",
        "usage",
        "invoices",
        "quotas",
        "quota_counters",
        "quota_reservations",
        "subscriptions",
        "plan_changes",
        "prerequisites",
        "resources",
        "shares",
    ),
    # version 5: each account's status history (billing follows the lifecycle)
    5: ("status_history",),
    # version 6: which issued invoice bills each account's month (billed once)
    6: ("invoiced_accounts",),
    # version 10: when each API key was last used (outside the policy data)
    10: ("api_key_uses",),
    # version 11: send holds and the volume each payer's prepaid sends are priced on
    11: ("send_holds", "send_volumes"),
    # version 12: quota thresholds, wallet alerts and what each reached
    12: (
        "quota_thresholds",
        "quota_thresholds_reached",
        "wallet_alerts",
        "wallet_alert_states",
    ),
    # version 14: the invoice lifecycle: number series, numbers, the terms each finalized
    # invoice was priced on, credit notes, payments
    14: ("number_series", "invoice_numbers", "invoice_terms", "credit_notes", "payments"),
    # version 15: the finalized periods that took arrivals afterwards (adjustments)
    15: ("late_periods",),
    # version 17: each wallet's credit grants
    17: ("grant_books",),
    # version 18: agency link requests (their tokens stored hashed)
    18: ("link_requests",),
    # version 19: invitations by e-mail, their tokens, seat limits
    19: ("invitations", "invitation_tokens", "seat_limits"),
}
"""Which migration creates each record collection's table. A collection added later goes
into a new migration entry (a new version), never into an existing one."""


def record_tables_after(version: int) -> list[str]:
    """The record tables that migrations after ``version`` create (to take a database
    back to ``version`` in a migration test)."""
    from subacct.storage.collections import COLLECTIONS

    return [
        record_table(COLLECTIONS[name])
        for number, names in sorted(RECORD_TABLES_BY_MIGRATION.items())
        if number > version
        for name in names
    ]


def undone_by_18(version: int, schema: str = "") -> list[str]:
    """What takes a database back from version 18 to ``version`` (below 18) in a
    migration test: the link requests' table and the link columns it added (``schema``:
    a prefix such as ``"s."``)."""
    if version >= 18:
        return []
    return [
        f"DROP TABLE IF EXISTS {schema}rec_link_requests",
        f"ALTER TABLE {schema}agency_links DROP COLUMN request_id",
        f"ALTER TABLE {schema}agency_links DROP COLUMN access_role",
    ]


MIGRATIONS: Final = _migrations()
"""Schema versions, shared by the SQLite and PostgreSQL adapters: version N is reached by
running the statements of ``MIGRATIONS[N - 1]`` in one transaction, an SQL text as it is
and a ``MigrationStep`` called with the adapter's ``SqlRunner`` (each adapter runs a few
statements of its own with some versions: ``subacct.storage.sqlite.MIGRATIONS``,
``subacct.storage.postgres.MIGRATIONS``)."""
