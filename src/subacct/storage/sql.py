"""SQL repositories shared by the SQLite and PostgreSQL adapters.

The statements are plain SQL with ``?`` placeholders that both databases understand; each
adapter supplies a ``SqlSession`` that runs them in its open transaction. Lists come back
in the order the ports promise, sorted here in Python (byte order of ids) so the result
does not depend on a database's collation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

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

__all__ = ["SqlAccounts", "SqlLinks", "SqlMemberships", "SqlSession", "SqlUsers"]

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
    return AgencyLink(AccountId(row[0]), AccountId(row[1]), row[2], datetime.fromisoformat(row[3]))


class SqlSession(Protocol):
    """What the shared repositories need from an adapter: run one statement written with
    ``?`` placeholders inside the open transaction."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Rows of a SELECT."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Rows changed by an INSERT, UPDATE or DELETE."""
        ...


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
            f"account {account.id!r}",
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


class SqlUsers(_Repo):
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
        self._guarded(
            "UPDATE users SET login = ?, display_name = ?, version = ? "
            "WHERE id = ? AND version = ?",
            (user.login, user.display_name, user.version, user.id, stored.version),
            f"user {user.id!r}",
        )

    def remove(self, user_id: UserId) -> None:
        self.get(user_id)
        if self._q("SELECT 1 FROM memberships WHERE user_id = ? LIMIT 1", (user_id,)):
            raise StorageError(f"user {user_id!r} still has memberships", user_id=user_id)
        self._x("DELETE FROM users WHERE id = ?", (user_id,))

    def all(self) -> list[User]:
        return [_user(r) for r in self._q(f"SELECT {self._COLS} FROM users ORDER BY id")]


class SqlMemberships(_Repo):
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
