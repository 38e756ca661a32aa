"""SQLite adapter (standard library ``sqlite3``): the embedded default.

* The schema is created on first use and versioned with ``PRAGMA user_version``; each
  migration in ``MIGRATIONS`` runs once, in order, in its own transaction.
* WAL journal, foreign keys on, a busy timeout so writers queue instead of failing.
* One transaction per unit of work, begun with ``BEGIN IMMEDIATE``: writers are serialized
  by SQLite's write lock, so a read-modify-write inside a unit can never lose an update.
* One connection per thread and store; a store object is safe to share between threads.

>>> import tempfile, pathlib
>>> from subacct.storage.sqlite import SqliteStore
>>> store = SqliteStore(pathlib.Path(tempfile.mkdtemp()) / "subacct.db")
>>> with store.unit_of_work() as uow:
...     uow.accounts.all()
[]
>>> store.schema_version() == len(MIGRATIONS)
True
>>> store.close()
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from os import PathLike
from types import TracebackType
from typing import Any, Final, Self

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
from subacct.errors import (
    AccountNotFound,
    AlreadyExists,
    ConcurrentModification,
    DuplicateLogin,
    MembershipNotFound,
    NotFound,
    StorageError,
    UserNotFound,
)

__all__ = ["MIGRATIONS", "SqliteStore", "SqliteUnitOfWork"]

MIGRATIONS: Final[list[str]] = [
    # 1: accounts, links, users, memberships
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        parent_id TEXT REFERENCES accounts(id),
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL
    );
    CREATE INDEX accounts_parent ON accounts(parent_id);
    CREATE TABLE agency_links (
        client_id TEXT PRIMARY KEY REFERENCES accounts(id),
        agency_id TEXT NOT NULL REFERENCES accounts(id),
        alias TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX agency_links_agency ON agency_links(agency_id);
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL
    );
    CREATE TABLE memberships (
        user_id TEXT NOT NULL REFERENCES users(id),
        account_id TEXT NOT NULL REFERENCES accounts(id),
        role TEXT NOT NULL,
        created_at TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (user_id, account_id)
    );
    CREATE INDEX memberships_account ON memberships(account_id, user_id);
    """,
]

_ACCOUNT_COLS = "id, name, kind, parent_id, status, created_at, version"


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
    return AgencyLink(AccountId(row[0]), AccountId(row[1]), row[2], datetime.fromisoformat(row[3]))


class _Repo:
    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._uow.connection.execute(sql, params).fetchall()

    def _x(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._uow.connection.execute(sql, params).rowcount

    def _stored_version(self, sql: str, params: Sequence[Any]) -> int | None:
        rows = self._q(sql, params)
        return None if not rows else int(rows[0][0])


def _version_conflict(what: str, stored: int, new: int) -> ConcurrentModification:
    return ConcurrentModification(
        f"{what} changed since it was read (stored version {stored}, write carries {new})",
        stored_version=stored,
        version=new,
    )


class SqliteAccounts(_Repo):
    def add(self, account: Account) -> None:
        if self.find(account.id) is not None:
            raise AlreadyExists(f"account {account.id!r} exists", account_id=account.id)
        if account.parent_id is not None:
            self.get(account.parent_id)
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
            raise _version_conflict(f"account {account.id!r}", stored, account.version)
        if account.parent_id is not None:
            self.get(account.parent_id)
        self._x(
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
                SELECT {", ".join("a." + c.strip() for c in _ACCOUNT_COLS.split(","))}
                FROM up JOIN accounts a ON a.id = up.id ORDER BY up.depth""",
            (account_id,),
        )
        return [_account(r) for r in rows]

    def descendants(self, account_id: AccountId) -> list[Account]:
        self.get(account_id)
        cols = ", ".join("a." + c.strip() for c in _ACCOUNT_COLS.split(","))
        rows = self._q(
            f"""WITH RECURSIVE down(id, path) AS (
                    SELECT id, id FROM accounts WHERE parent_id = ?
                    UNION ALL
                    SELECT a.id, down.path || char(1) || a.id FROM accounts a
                    JOIN down ON a.parent_id = down.id
                )
                SELECT {cols} FROM down JOIN accounts a ON a.id = down.id ORDER BY down.path""",
            (account_id,),
        )
        return [_account(r) for r in rows]

    def all(self) -> list[Account]:
        return [_account(r) for r in self._q(f"SELECT {_ACCOUNT_COLS} FROM accounts ORDER BY id")]


class SqliteLinks(_Repo):
    _COLS = "agency_id, client_id, alias, created_at"

    def add(self, link: AgencyLink) -> None:
        if self.for_client(link.client_id) is not None:
            raise AlreadyExists(
                f"account {link.client_id!r} is linked already", account_id=link.client_id
            )
        for account_id in (link.agency_id, link.client_id):
            if not self._q("SELECT 1 FROM accounts WHERE id = ?", (account_id,)):
                raise AccountNotFound(account_id)
        self._x(
            f"INSERT INTO agency_links ({self._COLS}) VALUES (?, ?, ?, ?)",
            (link.agency_id, link.client_id, link.alias, _ts(link.created_at)),
        )

    def remove(self, client_id: AccountId) -> None:
        if not self._x("DELETE FROM agency_links WHERE client_id = ?", (client_id,)):
            raise NotFound(f"account {client_id!r} has no agency link", account_id=client_id)

    def for_client(self, client_id: AccountId) -> AgencyLink | None:
        rows = self._q(f"SELECT {self._COLS} FROM agency_links WHERE client_id = ?", (client_id,))
        return _link(rows[0]) if rows else None

    def for_agency(self, agency_id: AccountId) -> list[AgencyLink]:
        rows = self._q(
            f"SELECT {self._COLS} FROM agency_links WHERE agency_id = ? ORDER BY client_id",
            (agency_id,),
        )
        return [_link(r) for r in rows]


class SqliteUsers(_Repo):
    _COLS = "id, login, display_name, created_at, version"

    def add(self, user: User) -> None:
        if self.find(user.id) is not None:
            raise AlreadyExists(f"user {user.id!r} exists", user_id=user.id)
        if self.find_by_login(user.login) is not None:
            raise DuplicateLogin(user.login)
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
            raise _version_conflict(f"user {user.id!r}", stored.version, user.version)
        other = self.find_by_login(user.login)
        if other is not None and other.id != user.id:
            raise DuplicateLogin(user.login)
        self._x(
            "UPDATE users SET login = ?, display_name = ?, version = ? WHERE id = ?",
            (user.login, user.display_name, user.version, user.id),
        )

    def remove(self, user_id: UserId) -> None:
        self.get(user_id)
        if self._q("SELECT 1 FROM memberships WHERE user_id = ? LIMIT 1", (user_id,)):
            raise StorageError(f"user {user_id!r} still has memberships", user_id=user_id)
        self._x("DELETE FROM users WHERE id = ?", (user_id,))

    def all(self) -> list[User]:
        return [_user(r) for r in self._q(f"SELECT {self._COLS} FROM users ORDER BY id")]


class SqliteMemberships(_Repo):
    _COLS = "user_id, account_id, role, created_at, version"

    def add(self, membership: Membership) -> None:
        if self.find(membership.user_id, membership.account_id) is not None:
            raise AlreadyExists(
                f"user {membership.user_id!r} is already a member of {membership.account_id!r}",
                user_id=membership.user_id,
                account_id=membership.account_id,
            )
        if not self._q("SELECT 1 FROM users WHERE id = ?", (membership.user_id,)):
            raise UserNotFound(membership.user_id)
        if not self._q("SELECT 1 FROM accounts WHERE id = ?", (membership.account_id,)):
            raise AccountNotFound(membership.account_id)
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
        self._x(
            "UPDATE memberships SET role = ?, version = ? WHERE user_id = ? AND account_id = ?",
            (membership.role, membership.version, membership.user_id, membership.account_id),
        )

    def remove(self, user_id: UserId, account_id: AccountId) -> None:
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


class SqliteUnitOfWork:
    """One SQLite transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``/``ROLLBACK``)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = None
        self.accounts = SqliteAccounts(self)
        self.links = SqliteLinks(self)
        self.users = SqliteUsers(self)
        self.memberships = SqliteMemberships(self)

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection; a new transaction starts after a commit or rollback."""
        if self._conn is None:
            raise StorageError("the unit of work is not open; use it in a with block")
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __enter__(self) -> Self:
        conn = self._store._acquire()
        try:
            if conn.in_transaction:
                raise StorageError("units of work do not nest; finish the open one first")
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._store._release()
            raise
        self._conn = conn
        return self

    def commit(self) -> None:
        conn = self.connection
        conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self._conn = None
            self._store._release()


class SqliteStore:
    """A SQLite database file.

    ``":memory:"`` gives a private in-process database whose one connection is shared by
    all threads, with units of work taking turns.
    """

    def __init__(self, path: str | PathLike[str], *, timeout: float = 30.0) -> None:
        self._path = str(path)
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._memory_lock = threading.RLock() if self._path == ":memory:" else None
        self._shared: sqlite3.Connection | None = None
        self._migrate()

    @property
    def path(self) -> str:
        return self._path

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        if self._memory_lock is None:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._memory_lock is not None:
            if self._shared is None:
                self._shared = self._open()
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _acquire(self) -> sqlite3.Connection:
        if self._memory_lock is not None:
            self._memory_lock.acquire()
        return self._connection()

    def _release(self) -> None:
        if self._memory_lock is not None:
            self._memory_lock.release()

    def _migrate(self) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > len(MIGRATIONS):
                raise StorageError(
                    f"database schema version {current} is newer than this library "
                    f"({len(MIGRATIONS)}); upgrade subacct",
                    schema_version=current,
                )
            for number in range(current, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    def unit_of_work(self) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self)

    def dump(self) -> str:
        """Every row of every table as SQL text (for backups and byte-for-byte checks)."""
        return "\n".join(self._connection().iterdump())

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        self._shared = None


def _statements(script: str) -> Iterator[str]:
    for part in script.split(";"):
        if part.strip():
            yield part.strip()
