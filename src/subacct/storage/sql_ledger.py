"""The credit ledger's tables and repository, shared by the SQLite and PostgreSQL adapters.

``SqlLedger`` runs on any ``SqlSession`` (see ``subacct.storage.sql``); ``LEDGER_DDL`` is
the ledger's schema version in ``subacct.storage.sql.MIGRATIONS``. Amounts are exact
decimal text; timestamps are fixed-width UTC text, so text order is time order in SQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from subacct.domain import AccountId
from subacct.errors import ConcurrentModification, StalePlan, quoted
from subacct.money import Money, add, subtract
from subacct.pricing.ledger import (
    BalanceChange,
    IdempotencyRecord,
    LedgerAccount,
    OperationKind,
    Plan,
    Receipt,
    Reservation,
    ReservationStatus,
    Transfer,
    Wallet,
)
from subacct.serialization import converter
from subacct.storage.sql import SqlSession, _Repo

__all__ = ["LEDGER_DDL", "LEDGER_SCOPES_DDL", "SqlLedger", "transfer_fields"]

_ZERO: Final = Decimal(0)


def _ts_text(value: datetime) -> str:
    """A UTC timestamp as fixed-width text, so text order is time order in SQL."""
    return value.isoformat(timespec="microseconds")


def _json(value: Any) -> str:
    return json.dumps(converter.unstructure(value), sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=4096)
def _wallet(body: str) -> Wallet:
    """Wallets are immutable values: equal text, one shared object (the hot path reads
    the same few wallets over and over)."""
    return converter.structure(json.loads(body), Wallet)


def _reservation(body: str) -> Reservation:
    return converter.structure(json.loads(body), Reservation)


def transfer_fields(t: Transfer) -> tuple[int, str, str, str, str, str, str]:
    """A transfer as stored, after its currency and key: index, operation, source,
    destination, amount and timestamp as text, and reference."""
    return (
        t.index,
        t.operation.value,
        str(t.source),
        str(t.destination),
        str(t.amount.amount),
        _ts_text(t.at),
        t.reference,
    )


_MISSING: Final = object()
_TRANSFER_COLS = "op_key, idx, operation, source, destination, amount, at, reference"


class SqlLedger(_Repo):
    """One currency's credit ledger in the ``ledger_*`` tables.

    Amounts are exact decimal text, added up in Python (SQL arithmetic on text would go
    through floating point). ``write_plan`` first reads the balances and reservations the
    plan changes (with ``lock=" FOR UPDATE"`` on a database with row locks, in one global
    order) and compares them with what the plan read in this transaction: a difference
    is a ``StalePlan`` before anything is written. It then writes, each balance
    compare-and-set against the value it checked, so a write can never be lost on any
    isolation level.
    """

    def __init__(self, db: SqlSession, currency: str, *, lock: str = "") -> None:
        super().__init__(db)
        self._currency = Money.zero(currency).currency
        self._lock = lock
        # what this transaction read or wrote: balance and wallet text by key (None: no row)
        self._balances: dict[LedgerAccount, str | None] = {}
        self._wallets: dict[str, str | None] = {}
        # With row locks: the balances this transaction holds locked (text, seq), and the
        # keys found unused. Planning again after a StalePlan reads those from here: a
        # locked balance cannot change under us, and a key used meanwhile is caught by
        # the unique constraint when the plan is written.
        self._locked: dict[LedgerAccount, tuple[str, int]] = {}
        self._locked_wallets: set[str] = set()
        self._holds: dict[str, str | None] = {}  # reservation bodies read (None: absent)
        self._locked_holds: set[str] = set()
        self._unused: set[tuple[str, str]] = set()  # (scope, key)
        self._seqs: dict[LedgerAccount, int] = {}  # the seq of each balance read

    # -- LedgerView ---------------------------------------------------------------------

    @property
    def currency(self) -> str:
        return self._currency

    def _balance_text(self, account: LedgerAccount) -> str | None:
        rows = self._q(
            "SELECT balance, seq FROM ledger_balances WHERE currency = ? AND account = ?",
            (self._currency, str(account)),
        )
        text = str(rows[0][0]) if rows else None
        self._balances[account] = text
        self._seqs[account] = int(rows[0][1]) if rows else 0
        return text

    def balance(self, account: LedgerAccount) -> Decimal:
        held = self._locked.get(account)
        if held is not None:
            self._balances[account] = held[0]
            return Decimal(held[0])
        text = self._balance_text(account)
        return _ZERO if text is None else Decimal(text)

    def wallet(self, account_id: AccountId) -> Wallet | None:
        if account_id in self._wallets:  # read once per transaction (kept by its writes)
            body = self._wallets[account_id]
            return None if body is None else _wallet(body)
        rows = self._q(
            "SELECT body FROM ledger_wallets WHERE currency = ? AND account_id = ?",
            (self._currency, account_id),
        )
        body = str(rows[0][0]) if rows else None
        self._wallets[account_id] = body
        return None if body is None else _wallet(body)

    def reservation(self, reservation_id: str) -> Reservation | None:
        if reservation_id in self._locked_holds:
            body = self._holds[reservation_id]
        else:
            rows = self._q(
                "SELECT body FROM ledger_reservations WHERE currency = ? AND id = ?",
                (self._currency, reservation_id),
            )
            body = str(rows[0][0]) if rows else None
            self._holds[reservation_id] = body
        return None if body is None else _reservation(body)

    def due_reservations(self, at: datetime) -> list[Reservation]:
        rows = self._q(
            "SELECT body FROM ledger_reservations "
            "WHERE currency = ? AND status = ? AND expires_at <= ?",
            (self._currency, ReservationStatus.OPEN.value, _ts_text(at)),
        )
        return sorted((_reservation(r[0]) for r in rows), key=lambda r: (r.expires_at, r.id))

    def idempotency(self, key: str, scope: AccountId | str) -> IdempotencyRecord | None:
        """The key's record in ``scope``, or in the ledger-wide scope ``''`` where the
        operations stored before schema version 8 are (their keys stay ledger-wide)."""
        if (scope, key) in self._unused:
            return None
        rows = self._q(
            "SELECT scope, operation, fingerprint, reservation_ids FROM ledger_operations "
            "WHERE currency = ? AND scope IN (?, '') AND op_key = ? ORDER BY scope DESC",
            (self._currency, scope, key),
        )
        if not rows:
            if self._lock:
                self._unused.add((scope, key))
            return None
        found, operation, fingerprint, reservation_ids = rows[0]
        # one operation's transfers in index order: the primary key's own (ordering by
        # seq would make SQLite read the ledger's whole seq index)
        transfers = self._transfers("scope = ? AND op_key = ?", (found, key), order="idx")
        receipt = Receipt(
            key, OperationKind(operation), transfers, json.loads(reservation_ids), scope=found
        )
        return IdempotencyRecord(key, fingerprint, receipt)

    # -- writes -------------------------------------------------------------------------

    def put_wallet(self, wallet: Wallet) -> None:
        if self._lock:  # the wallet and the balance it was checked against must hold
            self._check_wallets()
            account = LedgerAccount.wallet(wallet.account_id)
            if account in self._balances:
                self._check_balances([BalanceChange(account, _ZERO, None)])
        self._write_wallet(wallet)

    def write_plan(self, plan: Plan) -> None:
        record = plan.record
        if record is None:
            return  # a replay writes nothing
        changes = sorted(plan.changes, key=lambda c: str(c.account))
        holds = sorted(plan.reservations, key=lambda r: r.id)
        # Check before writing anything (a failed check is a StalePlan: plan again). The
        # rows are read (locked, where the database has row locks) in one global order,
        # wallets then balances by account then holds by id, so writers never wait in a
        # cycle.
        self._check_wallets()
        updates, seq = self._check_balances(changes)
        self._check_holds(holds)
        # Then every write in one batch (one round trip where the database pipelines):
        # each must change exactly the rows expected, else the unit of work, now partly
        # written, is rolled back and re-run (ConcurrentModification).
        receipt = record.receipt
        batch: list[tuple[str, Sequence[Any], int]] = [
            (
                "INSERT INTO ledger_operations "
                "(currency, scope, op_key, operation, fingerprint, reservation_ids) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    self._currency,
                    receipt.scope,
                    record.key,
                    receipt.operation.value,
                    record.fingerprint,
                    json.dumps(list(receipt.reservation_ids)),
                ),
                1,
            ),
            *self._balance_writes(updates, seq),
            *(self._reservation_write(hold) for hold in holds),
            *(self._wallet_write(w) for w in sorted(plan.wallets, key=lambda w: w.account_id)),
            *self._transfer_writes(plan.transfers, receipt.scope, seq),
        ]
        counts = self._db.execute_batch([(sql, params) for sql, params, _ in batch])
        if counts != [expected for _, _, expected in batch]:
            raise ConcurrentModification(
                f"operation {quoted(record.key)} met a concurrent write; retry", key=record.key
            )
        for account, _old, new in updates:
            self._balances[account] = new
            self._seqs[account] = seq
            if self._lock:
                self._locked[account] = (new, seq)  # written here: still ours
        for wallet in plan.wallets:
            self._wallets[wallet.account_id] = _json(wallet)
        for hold in holds:  # written here: still ours
            self._holds[hold.id] = _json(hold)

    def _marks(self, count: int) -> str:
        return ", ".join("?" * count)

    def confirm_reads(self) -> bool:
        if not self._lock:
            return True  # writers take turns: what this transaction read still holds
        try:
            self._check_wallets()
            read = sorted(self._balances, key=str)
            self._check_balances([BalanceChange(a, _ZERO, None) for a in read])
        except StalePlan:
            return False
        seen = {i: b for i, b in self._holds.items() if i not in self._locked_holds}
        if seen:
            stored = self._lock_holds(list(seen))
            return all(stored[i] == b for i, b in seen.items())
        return True

    def _check_wallets(self) -> None:
        """With row locks: lock the wallets this transaction read, in id order, and
        ``StalePlan`` when one changed since (planning again then reads the locked one).
        A plan's rules read wallets it does not write (an overdraft limit, a master's
        funding), so they must hold still until it commits."""
        if not self._lock:
            return
        read = sorted(a for a, body in self._wallets.items() if body is not None)
        if not read or self._locked_wallets.issuperset(read):
            return
        rows = self._q(
            "SELECT account_id, body FROM ledger_wallets "
            f"WHERE currency = ? AND account_id IN ({self._marks(len(read))}) "
            f"ORDER BY account_id{self._lock}",
            (self._currency, *read),
        )
        stored = {str(a): str(b) for a, b in rows}
        self._locked_wallets.update(stored)
        changed = [a for a in read if stored.get(a) != self._wallets[a]]
        for account_id in changed:
            self._wallets[account_id] = stored.get(account_id)
        if changed:
            raise StalePlan(
                f"wallet {quoted(changed[0])} changed since the plan was made",
                account_id=changed[0],
            )

    def _check_balances(
        self, changes: Sequence[BalanceChange]
    ) -> tuple[list[tuple[LedgerAccount, str | None, str]], int]:
        """Per change: the account, its stored balance text and the new one; and the
        operation's ``seq``, one above the last on any of the balances. ``StalePlan`` when
        a balance is not the one the plan read or would fall below its floor."""
        if not changes:
            return [], 0
        names = [str(c.account) for c in changes]
        rows: list[Any]
        if not self._lock and all(c.account in self._seqs for c in changes):
            # writers take turns: what this transaction read is what is stored
            rows = [
                (name, text, self._seqs[c.account])
                for c, name in zip(changes, names, strict=True)
                if (text := self._balances.get(c.account)) is not None
            ]
        elif all(c.account in self._locked for c in changes):
            rows = [
                (name, *self._locked[c.account]) for c, name in zip(changes, names, strict=True)
            ]
        else:
            rows = self._q(
                "SELECT account, balance, seq FROM ledger_balances "
                f"WHERE currency = ? AND account IN ({self._marks(len(names))}) "
                f"ORDER BY account{self._lock}",
                (self._currency, *names),
            )
            if self._lock:
                parsed = {str(a): (str(b), int(n)) for a, b, n in rows}
                for change, name in zip(changes, names, strict=True):
                    if name in parsed:
                        self._locked[change.account] = parsed[name]
        stored = {str(a): str(b) for a, b, _seq in rows}
        seq = max((int(n) for _a, _b, n in rows), default=0) + 1
        updates = []
        for change, name in zip(changes, names, strict=True):
            account = change.account
            current = stored.get(name)
            seen = self._balances.get(account, _MISSING)
            new = change.applied_to(_ZERO if current is None else Decimal(current))
            if (seen is not _MISSING and seen != current) or new is None:
                raise StalePlan(f"{account} changed since the plan was made", ledger_account=name)
            updates.append((account, current, str(new)))
        return updates, seq

    def _lock_holds(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The reservations' stored bodies (None: absent), locked with row locks, in id
        order; remembered as what this transaction reads for them from now on."""
        ids = sorted(set(ids))
        if self._lock and self._locked_holds.issuperset(ids):
            return {i: self._holds[i] for i in ids}
        rows = self._q(
            "SELECT id, body FROM ledger_reservations "
            f"WHERE currency = ? AND id IN ({self._marks(len(ids))}) ORDER BY id{self._lock}",
            (self._currency, *ids),
        )
        stored: dict[str, str | None] = dict.fromkeys(ids)
        stored.update({str(i): str(b) for i, b in rows})
        if self._lock:
            self._holds.update(stored)
            self._locked_holds.update(ids)
        return stored

    def _check_holds(self, holds: Sequence[Reservation]) -> None:
        """``StalePlan`` unless each new hold's id is free and each closed one is open."""
        if not holds:
            return
        stored = self._lock_holds([h.id for h in holds])
        for hold in holds:
            body = stored[hold.id]
            current = None if body is None else _reservation(body)
            if hold.status is ReservationStatus.OPEN:
                fine = current is None
            else:
                fine = current is not None and current.is_open
            if not fine:
                raise StalePlan(
                    f"reservation {quoted(hold.id)} changed since the plan was made",
                    reservation_id=hold.id,
                )

    def _balance_writes(
        self, updates: Sequence[tuple[LedgerAccount, str | None, str]], seq: int
    ) -> list[tuple[str, Sequence[Any], int]]:
        """Compare-and-set the stored balances (one statement) and insert the new ones."""
        writes: list[tuple[str, Sequence[Any], int]] = []
        changed = [(str(a), old, new) for a, old, new in updates if old is not None]
        if changed:
            cases = " ".join(["WHEN ? THEN ?"] * len(changed))
            guards = " OR ".join(["(account = ? AND balance = ?)"] * len(changed))
            params: list[Any] = [v for name, _old, new in changed for v in (name, new)]
            params += [seq, self._currency]
            params += [v for name, old, _new in changed for v in (name, old)]
            sql = (
                f"UPDATE ledger_balances SET balance = CASE account {cases} END, seq = ? "
                f"WHERE currency = ? AND ({guards})"
            )
            writes.append((sql, params, len(changed)))
        added = [(str(a), new) for a, old, new in updates if old is None]
        if added:
            marks = ", ".join(["(?, ?, ?, ?)"] * len(added))
            values = [v for name, new in added for v in (self._currency, name, new, seq)]
            sql = (
                f"INSERT INTO ledger_balances (currency, account, balance, seq) VALUES {marks} "
                "ON CONFLICT DO NOTHING"
            )
            writes.append((sql, values, len(added)))
        return writes

    def _reservation_write(self, hold: Reservation) -> tuple[str, Sequence[Any], int]:
        params = (hold.status.value, _ts_text(hold.expires_at), _json(hold))
        if hold.status is ReservationStatus.OPEN:
            return (
                "INSERT INTO ledger_reservations (status, expires_at, body, currency, id) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*params, self._currency, hold.id),
                1,
            )
        return (
            "UPDATE ledger_reservations SET status = ?, expires_at = ?, body = ? "
            "WHERE currency = ? AND id = ? AND status = ?",
            (*params, self._currency, hold.id, ReservationStatus.OPEN.value),
            1,
        )

    def _wallet_write(self, wallet: Wallet) -> tuple[str, Sequence[Any], int]:
        """Insert, or compare-and-set against the text this transaction read, or (not
        read here) insert or replace."""
        body = _json(wallet)
        seen = self._wallets.get(wallet.account_id, _MISSING)
        key = (self._currency, wallet.account_id)
        if seen is _MISSING:
            return (
                "INSERT INTO ledger_wallets (currency, account_id, body) VALUES (?, ?, ?) "
                "ON CONFLICT (currency, account_id) DO UPDATE SET body = excluded.body",
                (*key, body),
                1,
            )
        if seen is None:
            return (
                "INSERT INTO ledger_wallets (currency, account_id, body) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (*key, body),
                1,
            )
        return (
            "UPDATE ledger_wallets SET body = ? WHERE currency = ? AND account_id = ? AND body = ?",
            (body, *key, seen),
            1,
        )

    def _write_wallet(self, wallet: Wallet) -> None:
        sql, params, expected = self._wallet_write(wallet)
        if self._x(sql, params) != expected:
            raise ConcurrentModification(
                f"wallet {quoted(wallet.account_id)} changed since it was read",
                account_id=wallet.account_id,
            )
        self._wallets[wallet.account_id] = _json(wallet)

    def _transfer_writes(
        self, transfers: Sequence[Transfer], scope: str, seq: int
    ) -> list[tuple[str, Sequence[Any], int]]:
        if not transfers:
            return []
        rows: list[Any] = []
        for t in transfers:
            index, *rest = transfer_fields(t)
            rows += (self._currency, scope, t.key, index, seq, *rest)
        marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(transfers))
        sql = (
            "INSERT INTO ledger_transfers (currency, scope, op_key, idx, seq, operation, "
            f"source, destination, amount, at, reference) VALUES {marks} ON CONFLICT DO NOTHING"
        )
        return [(sql, rows, len(transfers))]

    # -- queries ------------------------------------------------------------------------

    def balances(self) -> dict[LedgerAccount, Decimal]:
        rows = self._q(
            "SELECT account, balance FROM ledger_balances WHERE currency = ?", (self._currency,)
        )
        return {LedgerAccount.parse(a): Decimal(b) for a, b in rows}

    def wallets(self) -> list[Wallet]:
        rows = self._q("SELECT body FROM ledger_wallets WHERE currency = ?", (self._currency,))
        return sorted((_wallet(r[0]) for r in rows), key=lambda w: w.account_id)

    def reservations(self) -> list[Reservation]:
        rows = self._q("SELECT body FROM ledger_reservations WHERE currency = ?", (self._currency,))
        return sorted((_reservation(r[0]) for r in rows), key=lambda r: r.id)

    def _transfers(
        self, where: str, params: Sequence[Any], *, order: str = "seq, scope, op_key, idx"
    ) -> list[Transfer]:
        rows = self._q(
            f"SELECT {_TRANSFER_COLS} FROM ledger_transfers WHERE currency = ? AND {where} "
            f"ORDER BY {order}",
            (self._currency, *params),
        )
        currency = self._currency
        return [
            Transfer(
                key,
                int(idx),
                OperationKind(operation),
                LedgerAccount.parse(source),
                LedgerAccount.parse(destination),
                Money(Decimal(amount), currency),
                datetime.fromisoformat(at),
                reference,
            )
            for key, idx, operation, source, destination, amount, at, reference in rows
        ]

    def transfers(
        self,
        account: LedgerAccount | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Transfer]:
        where, params = _period_filter(account, start, end)
        return self._transfers(where, params)

    def opening_balance(self, account: LedgerAccount, at: datetime) -> Decimal:
        where, params = _period_filter(account, None, at)
        rows = self._q(
            f"SELECT destination, amount FROM ledger_transfers WHERE currency = ? AND {where}",
            (self._currency, *params),
        )
        text = str(account)
        total = _ZERO
        for destination, amount in rows:
            move = Decimal(amount)
            total = add(total, move) if destination == text else subtract(total, move)
        return total


def _period_filter(
    account: LedgerAccount | None, start: datetime | None, end: datetime | None
) -> tuple[str, list[Any]]:
    where, params = ["1 = 1"], []
    if account is not None:
        where.append("(source = ? OR destination = ?)")
        params += [str(account), str(account)]
    if start is not None:
        where.append("at >= ?")
        params.append(_ts_text(start))
    if end is not None:
        where.append("at < ?")
        params.append(_ts_text(end))
    return " AND ".join(where), params


LEDGER_DDL: Final = [
    # a wallet per (currency, account), as the converter's JSON
    """CREATE TABLE ledger_wallets (
        currency TEXT NOT NULL,
        account_id TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (currency, account_id)
    )""",
    # balances as exact decimal text; account is 'kind:owner'; seq: the last operation's
    """CREATE TABLE ledger_balances (
        currency TEXT NOT NULL,
        account TEXT NOT NULL,
        balance TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (currency, account)
    )""",
    # one row per idempotency key: the key is unique per ledger
    """CREATE TABLE ledger_operations (
        currency TEXT NOT NULL,
        op_key TEXT NOT NULL,
        operation TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        reservation_ids TEXT NOT NULL,
        PRIMARY KEY (currency, op_key)
    )""",
    # the transfer log: (key, idx) unique per ledger. seq orders the operations: one
    # above the last seq on any balance the operation changes (its rows are locked or
    # checked meanwhile), so per ledger account seq order is commit order
    """CREATE TABLE ledger_transfers (
        currency TEXT NOT NULL,
        op_key TEXT NOT NULL,
        idx INTEGER NOT NULL,
        seq BIGINT NOT NULL,
        operation TEXT NOT NULL,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        amount TEXT NOT NULL,
        at TEXT NOT NULL,
        reference TEXT NOT NULL,
        PRIMARY KEY (currency, op_key, idx),
        FOREIGN KEY (currency, op_key) REFERENCES ledger_operations (currency, op_key)
    )""",
    "CREATE INDEX ledger_transfers_source ON ledger_transfers(currency, source, at)",
    "CREATE INDEX ledger_transfers_destination ON ledger_transfers(currency, destination, at)",
    "CREATE INDEX ledger_transfers_seq ON ledger_transfers(currency, seq)",
    """CREATE TABLE ledger_reservations (
        currency TEXT NOT NULL,
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (currency, id)
    )""",
    "CREATE INDEX ledger_reservations_due ON ledger_reservations(currency, status, expires_at)",
]
"""The credit ledger's tables: one entry of ``subacct.storage.sql.MIGRATIONS``."""


_TRANSFER_INDEXES: Final = [
    "CREATE INDEX ledger_transfers_source ON ledger_transfers(currency, source, at)",
    "CREATE INDEX ledger_transfers_destination ON ledger_transfers(currency, destination, at)",
    "CREATE INDEX ledger_transfers_seq ON ledger_transfers(currency, seq)",
]

LEDGER_SCOPES_DDL: Final = [
    # schema version 8: idempotency keys per scope (the account an operation is authorized
    # on). The tables are rebuilt with ``scope`` in their keys; the operations stored
    # before keep scope '' (ledger-wide), where ``SqlLedger.idempotency`` still finds them.
    """CREATE TABLE ledger_operations_8 (
        currency TEXT NOT NULL,
        scope TEXT NOT NULL,
        op_key TEXT NOT NULL,
        operation TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        reservation_ids TEXT NOT NULL,
        PRIMARY KEY (currency, scope, op_key)
    )""",
    "INSERT INTO ledger_operations_8 "
    "(currency, scope, op_key, operation, fingerprint, reservation_ids) "
    "SELECT currency, '', op_key, operation, fingerprint, reservation_ids "
    "FROM ledger_operations",
    """CREATE TABLE ledger_transfers_8 (
        currency TEXT NOT NULL,
        scope TEXT NOT NULL,
        op_key TEXT NOT NULL,
        idx INTEGER NOT NULL,
        seq BIGINT NOT NULL,
        operation TEXT NOT NULL,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        amount TEXT NOT NULL,
        at TEXT NOT NULL,
        reference TEXT NOT NULL,
        PRIMARY KEY (currency, scope, op_key, idx),
        FOREIGN KEY (currency, scope, op_key)
            REFERENCES ledger_operations_8 (currency, scope, op_key)
    )""",
    "INSERT INTO ledger_transfers_8 (currency, scope, op_key, idx, seq, operation, source, "
    "destination, amount, at, reference) SELECT currency, '', op_key, idx, seq, operation, "
    "source, destination, amount, at, reference FROM ledger_transfers",
    "DROP TABLE ledger_transfers",
    "DROP TABLE ledger_operations",
    # renaming the parent rewrites the child's foreign key to the new name (SQLite) or
    # keeps pointing at the table itself (PostgreSQL)
    "ALTER TABLE ledger_operations_8 RENAME TO ledger_operations",
    "ALTER TABLE ledger_transfers_8 RENAME TO ledger_transfers",
    *_TRANSFER_INDEXES,
]
"""Schema version 8's ledger part (``subacct.storage.sql.MIGRATIONS``)."""
