"""The credit ledger on PostgreSQL: plans checked and written by the server in one call.

Under many processes the ledger's hot rows (a master's wallet balance that every
distribution touches) decide throughput: a row lock held while a client round trip is
in flight makes every other writer of that row wait for a process that may not even be
scheduled. So ``PgLedger`` keeps every lock inside the server:

* Planning (``planning_view``, used by ``subacct.ledger_service.plan_and_write``) reads
  wallets and balances from a per-store cache (``LedgerCache``), filled from the server
  on a miss and refreshed by every write; an idempotency key is taken as unused unless
  this store saw it used. No read takes a lock.
* ``write_plan`` hands the plan to the server function ``subacct_ledger_apply``, sent
  with the next statement of the unit of work or with its ``COMMIT`` (one round trip for
  a unit that only writes the plan). The function locks the rows in one global order
  (wallets by id, balances by account, reservations by id) and checks everything the plan
  rests on (``subacct.pricing.ledger.Plan``): the wallets it read are unchanged, each
  pinned balance is exact, each changed balance stays at or above its floor after its
  delta, the reservations are in the state the plan expects and the key is new. Then it
  adds the deltas (commutative: two distributions from one master both apply, whichever
  committed first) and writes the rest. A failed check raises, with the current values
  of the rows it locked: the transaction rolls back, the cache takes those values and the
  caller sees ``ConcurrentModification`` (the service re-runs the unit of work).
* A refusal planned from the cache is raised only after ``confirm_reads`` has compared
  everything it read with the server in one statement.

Plain ``LedgerView`` reads on the repository itself (``balance``, ``wallet``...) always
ask the server: only planning reads the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from subacct.domain import AccountId
from subacct.money import MAX_AMOUNT
from subacct.pricing.ledger import (
    IdempotencyRecord,
    LedgerAccount,
    LedgerView,
    Plan,
    Reservation,
    Wallet,
)
from subacct.storage.sql_ledger import SqlLedger, _json, _ts_text, _wallet, transfer_fields

if TYPE_CHECKING:
    from subacct.storage.postgres import PostgresUnitOfWork

__all__ = ["LEDGER_APPLY_DDL", "STALE_SQLSTATE", "LedgerCache", "PgLedger"]

STALE_SQLSTATE: Final = "SA409"
"""The SQLSTATE ``subacct_ledger_apply`` raises when a plan no longer holds."""

_APPLY_SQL: Final = "SELECT subacct_ledger_apply(%s::jsonb)"
_WALLET_LOCK_SEED: Final = 5942433  # hashtextextended seed of wallets' advisory lock keys

LEDGER_APPLY_DDL: Final = [
    # p: {"currency", "scope", "key", "operation", "fingerprint", "reservation_ids" (JSON),
    #     "wallets": [[id, body read (null: none), read?, body to write (null: none)]] by id,
    #     "balances": [[account, delta (null: only read), floor, pinned]] by account,
    #     "holds": [[id, new status, expires_at, body]] by id,
    #     "transfers": [[index, operation, source, destination, amount, at, reference]]}
    """CREATE OR REPLACE FUNCTION subacct_ledger_apply(p JSONB) RETURNS TEXT
    LANGUAGE plpgsql AS $$
    DECLARE
        v_currency TEXT := p->>'currency';
        v_wallets JSONB := p->'wallets';
        v_changes JSONB := p->'balances';
        v_holds JSONB := p->'holds';
        v_transfers JSONB := p->'transfers';
        e JSONB;
        i INTEGER;
        v_body TEXT;
        v_balance TEXT;
        -- unconstrained NUMERIC: exact at any size and scale (a NUMERIC(p, s) would
        -- round on assignment); balances are stored as the text of it
        v_new NUMERIC;
        v_seq BIGINT;
        v_last BIGINT := 0;
        v_status TEXT;
        v_stale TEXT;
        v_used BOOLEAN;
        v_found_wallets JSONB := '{}';
        v_found JSONB := '{}';
        v_now TEXT[] := '{}';
    BEGIN
        -- 1. wallets in id order: a transaction-scoped advisory lock per wallet, shared
        -- for a wallet read, exclusive for one written (PgLedger.put_wallet takes it too)
        FOR i IN 0 .. jsonb_array_length(v_wallets) - 1 LOOP
            e := v_wallets->i;
            IF e->>3 IS NULL THEN
                PERFORM pg_advisory_xact_lock_shared(
                    hashtextextended(v_currency || ':' || (e->>0), @SEED@));
            ELSE
                PERFORM pg_advisory_xact_lock(
                    hashtextextended(v_currency || ':' || (e->>0), @SEED@));
            END IF;
            SELECT body INTO v_body FROM ledger_wallets
             WHERE currency = v_currency AND account_id = e->>0;
            v_found_wallets := v_found_wallets || jsonb_build_object(e->>0, v_body);
            IF (e->>2)::boolean AND v_body IS DISTINCT FROM e->>1 THEN
                v_stale := coalesce(v_stale, 'wallet ' || (e->>0) || ' changed');
            END IF;
        END LOOP;
        -- 2. balances in account order, update-locked; a new one starts at zero
        FOR i IN 0 .. jsonb_array_length(v_changes) - 1 LOOP
            e := v_changes->i;
            SELECT balance, seq INTO v_balance, v_seq FROM ledger_balances
             WHERE currency = v_currency AND account = e->>0 FOR UPDATE;
            IF NOT FOUND AND e->>1 IS NOT NULL THEN
                INSERT INTO ledger_balances (currency, account, balance, seq)
                VALUES (v_currency, e->>0, '0', 0) ON CONFLICT DO NOTHING;
                SELECT balance, seq INTO v_balance, v_seq FROM ledger_balances
                 WHERE currency = v_currency AND account = e->>0 FOR UPDATE;
            END IF;
            v_balance := coalesce(v_balance, '0');
            v_found := v_found || jsonb_build_object(e->>0, v_balance);
            IF e->>3 IS NOT NULL AND v_balance::numeric <> (e->>3)::numeric THEN
                v_stale := coalesce(v_stale, (e->>0) || ' changed');
            END IF;
            IF e->>1 IS NOT NULL THEN
                v_new := v_balance::numeric + (e->>1)::numeric;
                IF e->>2 IS NOT NULL AND v_new < (e->>2)::numeric THEN
                    v_stale := coalesce(v_stale, (e->>0) || ' would fall below its floor');
                END IF;
                IF abs(v_new) > @MAX_AMOUNT@ THEN
                    v_stale := coalesce(v_stale, (e->>0) || ' would pass the largest balance');
                END IF;
                v_now := v_now || v_new::text;
            ELSE
                v_now := v_now || v_balance;
            END IF;
            v_last := greatest(v_last, coalesce(v_seq, 0));
        END LOOP;
        -- 3. reservations in id order: a new one must be absent, a closed one open
        FOR i IN 0 .. jsonb_array_length(v_holds) - 1 LOOP
            e := v_holds->i;
            SELECT status INTO v_status FROM ledger_reservations
             WHERE currency = v_currency AND id = e->>0 FOR UPDATE;
            IF (e->>1 = 'open' AND v_status IS NOT NULL)
               OR (e->>1 <> 'open' AND v_status IS DISTINCT FROM 'open') THEN
                v_stale := coalesce(v_stale, 'reservation ' || (e->>0) || ' changed');
            END IF;
        END LOOP;
        IF v_stale IS NULL THEN
            -- the key must be new in its scope, and not one of the ledger-wide keys
            -- stored before schema version 8 (scope '')
            PERFORM 1 FROM ledger_operations
             WHERE currency = v_currency AND scope = '' AND op_key = p->>'key';
            IF NOT FOUND THEN
                INSERT INTO ledger_operations
                    (currency, scope, op_key, operation, fingerprint, reservation_ids)
                VALUES (v_currency, p->>'scope', p->>'key', p->>'operation',
                        p->>'fingerprint', p->>'reservation_ids')
                ON CONFLICT DO NOTHING;
                v_used := NOT FOUND;
            ELSE
                v_used := TRUE;
            END IF;
            IF v_used THEN
                v_stale := 'key ' || (p->>'key') || ' was used meanwhile';
            END IF;
        END IF;
        IF v_stale IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = '@SQLSTATE@',
                MESSAGE = 'stale ledger plan: ' || v_stale,
                DETAIL = jsonb_build_object('wallets', v_found_wallets, 'balances', v_found,
                                            'key_used', v_stale LIKE 'key %')::text;
        END IF;
        -- 4. every check held: write
        FOR i IN 0 .. jsonb_array_length(v_changes) - 1 LOOP
            e := v_changes->i;
            IF e->>1 IS NOT NULL THEN
                UPDATE ledger_balances SET balance = v_now[i + 1], seq = v_last + 1
                 WHERE currency = v_currency AND account = e->>0;
                v_found := v_found || jsonb_build_object(e->>0, v_now[i + 1]);
            END IF;
        END LOOP;
        FOR i IN 0 .. jsonb_array_length(v_holds) - 1 LOOP
            e := v_holds->i;
            IF e->>1 = 'open' THEN
                INSERT INTO ledger_reservations (currency, id, status, expires_at, body)
                VALUES (v_currency, e->>0, 'open', e->>2, e->>3);
            ELSE
                UPDATE ledger_reservations SET status = e->>1, expires_at = e->>2, body = e->>3
                 WHERE currency = v_currency AND id = e->>0;
            END IF;
        END LOOP;
        FOR i IN 0 .. jsonb_array_length(v_wallets) - 1 LOOP
            e := v_wallets->i;
            IF e->>3 IS NOT NULL THEN
                INSERT INTO ledger_wallets (currency, account_id, body)
                VALUES (v_currency, e->>0, e->>3)
                ON CONFLICT (currency, account_id) DO UPDATE SET body = excluded.body;
            END IF;
        END LOOP;
        FOR i IN 0 .. jsonb_array_length(v_transfers) - 1 LOOP
            e := v_transfers->i;
            INSERT INTO ledger_transfers
                (currency, scope, op_key, idx, seq, operation, source, destination, amount,
                 at, reference)
            VALUES (v_currency, p->>'scope', p->>'key', (e->>0)::integer, v_last + 1, e->>1,
                    e->>2, e->>3, e->>4, e->>5, e->>6);
        END LOOP;
        RETURN jsonb_build_object('balances', v_found)::text;
    END
    $$""".replace("@SEED@", str(_WALLET_LOCK_SEED))
    .replace("@SQLSTATE@", STALE_SQLSTATE)
    .replace("@MAX_AMOUNT@", f"{MAX_AMOUNT}::numeric"),
]
"""The PostgreSQL-only part of the ledger's schema: the function ``PgLedger`` writes
plans with (migrations 4 and 8 of ``subacct.storage.postgres.MIGRATIONS``; 8 adds the
bound of a balance, ``subacct.money.MAX_AMOUNT``, to the checks)."""


class LedgerCache:
    """One store's view of one ledger between units of work: wallet bodies and balances
    as last seen (text, as stored), and idempotency keys seen used. Only planning reads
    it, and the server checks every plan made from it, so a stale entry costs a retry,
    never a wrong write. Each map is cleared when it outgrows ``limit`` entries."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.wallets: dict[str, str | None] = {}
        self.balances: dict[LedgerAccount, str] = {}
        self.used: dict[tuple[str, str], None] = {}  # (scope, key)

    def _room(self, table: dict[Any, Any]) -> None:
        if len(table) >= self.limit:
            table.clear()

    def wallet(self, account_id: str, body: str | None) -> None:
        self._room(self.wallets)
        self.wallets[account_id] = body

    def balance(self, account: LedgerAccount, text: str) -> None:
        self._room(self.balances)
        self.balances[account] = text

    def key_used(self, scope: str, key: str) -> None:
        self._room(self.used)
        self.used[(scope, key)] = None

    def take(self, state: dict[str, Any]) -> None:
        """Remember the rows the server reported (``subacct_ledger_apply``'s result or
        its error detail)."""
        for account_id, body in state.get("wallets", {}).items():
            self.wallet(account_id, body)
        for account, text in state.get("balances", {}).items():
            self.balance(LedgerAccount.parse(account), text)


class _Pending:
    """A plan handed to the server with the unit of work's next statement or commit."""

    __slots__ = ("done", "failed", "params")

    def __init__(
        self,
        params: Sequence[Any],
        done: Callable[[dict[str, Any]], None],
        failed: Callable[[dict[str, Any]], None],
    ) -> None:
        self.params = params
        self.done = done
        self.failed = failed

    sql = _APPLY_SQL


class PgLedger(SqlLedger):
    """``SqlLedger`` with plans written by ``subacct_ledger_apply`` (see the module)."""

    def __init__(self, uow: PostgresUnitOfWork, currency: str, cache: LedgerCache) -> None:
        super().__init__(uow, currency, lock=" FOR UPDATE")
        self._uow = uow
        self._cache = cache
        self._assumed: set[tuple[str, str]] = set()  # (scope, key) planning took as unused

    def planning_view(self) -> LedgerView:
        """A view for ``plan`` that reads the cache first (see the module)."""
        return _CachedView(self)

    # -- writes -------------------------------------------------------------------------

    def write_plan(self, plan: Plan) -> None:
        record = plan.record
        if record is None:
            return  # a replay writes nothing
        receipt = record.receipt
        wallets: dict[str, str | None] = dict(self._wallets)  # read: the body seen
        written = {str(w.account_id): _json(w) for w in plan.wallets}
        wallet_ids = sorted(set(wallets) | set(written))
        pinned = {str(a): str(v) for a, v in plan.pinned}
        changes = {str(c.account): c for c in plan.changes}
        accounts = sorted(set(pinned) | set(changes))
        holds = sorted(plan.reservations, key=lambda h: h.id)

        def num(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        body = {
            "currency": self.currency,
            "scope": receipt.scope,
            "key": record.key,
            "operation": receipt.operation.value,
            "fingerprint": record.fingerprint,
            "reservation_ids": json.dumps(list(receipt.reservation_ids)),
            "wallets": [[i, wallets.get(i), i in wallets, written.get(i)] for i in wallet_ids],
            "balances": [
                [
                    a,
                    None if a not in changes else str(changes[a].delta),
                    None if a not in changes else num(changes[a].floor),
                    pinned.get(a),
                ]
                for a in accounts
            ],
            "holds": [[h.id, h.status.value, _ts_text(h.expires_at), _json(h)] for h in holds],
            "transfers": [transfer_fields(t) for t in plan.transfers],
        }
        params = (json.dumps(body, separators=(",", ":")),)

        by_name = {str(c.account): c.account for c in plan.changes}
        by_name.update((str(a), a) for a, _ in plan.pinned)

        def done(result: dict[str, Any]) -> None:
            cache = self._cache
            for name, text in result["balances"].items():
                account = by_name.get(name) or LedgerAccount.parse(name)
                cache.balance(account, text)
                self._balances[account] = text
                held = self._locked.get(account)
                if held is not None:
                    self._locked[account] = (text, held[1])
            for wallet in plan.wallets:
                body = written[wallet.account_id]
                cache.wallet(wallet.account_id, body)
                self._wallets[wallet.account_id] = body
            for hold in holds:
                self._holds[hold.id] = _json(hold)
            self._assumed.discard((receipt.scope, record.key))

        def failed(detail: dict[str, Any]) -> None:
            self._cache.take(detail)
            if detail.get("key_used"):
                self._cache.key_used(receipt.scope, record.key)

        self._uow.defer(_Pending(params, done, failed))

    def put_wallet(self, wallet: Wallet) -> None:
        # the wallet's advisory lock, exclusive: plans that read it (which share-lock it
        # in subacct_ledger_apply) wait for this transaction, then find it changed
        self._x(
            "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended(?, ?))) AS locked",
            (f"{self.currency}:{wallet.account_id}", _WALLET_LOCK_SEED),
        )
        try:
            super().put_wallet(wallet)
        finally:  # what the locked reads found, or what was written
            for account_id in self._locked_wallets | {wallet.account_id}:
                if account_id in self._wallets:
                    self._cache.wallet(account_id, self._wallets[account_id])

    # -- refusals -----------------------------------------------------------------------

    def confirm_reads(self) -> bool:
        """Compare, in one statement, every wallet, balance and reservation this
        transaction planned from, and the keys it took as unused, with the server."""
        wallets = sorted(self._wallets)
        balances = sorted(self._balances, key=str)
        holds = sorted(self._holds)
        keys = sorted(self._assumed)
        parts: list[str] = []
        params: list[Any] = []
        for tag, table, column, value, names in (
            ("w", "ledger_wallets", "account_id", "body", wallets),
            ("b", "ledger_balances", "account", "balance", [str(a) for a in balances]),
            ("h", "ledger_reservations", "id", "body", holds),
        ):
            if names:
                parts.append(
                    f"SELECT '{tag}', {column}, {value} FROM {table} "
                    f"WHERE currency = ? AND {column} IN ({self._marks(len(names))})"
                )
                params += [self.currency, *names]
        if keys:  # by the primary key (currency, scope, op_key); '': the keys of before 8
            scopes = sorted({scope for scope, _ in keys} | {""})
            names = sorted({key for _, key in keys})
            parts.append(
                "SELECT 'k', op_key, scope FROM ledger_operations WHERE currency = ? "
                f"AND scope IN ({self._marks(len(scopes))}) "
                f"AND op_key IN ({self._marks(len(names))})"
            )
            params += [self.currency, *scopes, *names]
        if not parts:
            return True
        rows = self._uow.query_alone(" UNION ALL ".join(parts), params)
        found: dict[tuple[str, str], str] = {
            (str(t), str(n)): str(v) for t, n, v in rows if t != "k"
        }
        scoped = {(str(v), str(n)) for t, n, v in rows if t == "k"}  # (scope, key) stored
        same = True
        for account_id in wallets:
            body = found.get(("w", account_id))
            same &= body == self._wallets[account_id]
            self._wallets[account_id] = body
            self._cache.wallet(account_id, body)
        for account in balances:
            text = found.get(("b", str(account)))
            seen = self._balances[account]
            same &= Decimal(text or 0) == Decimal(seen or 0)
            self._balances[account] = text
            if text is not None:
                self._cache.balance(account, text)
        for hold_id in holds:
            body = found.get(("h", hold_id))
            same &= body == self._holds[hold_id]
            self._holds[hold_id] = body
        for scope, key in keys:
            if (scope, key) in scoped or ("", key) in scoped:
                same = False
                self._cache.key_used(scope, key)
                self._assumed.discard((scope, key))
        return same


class _CachedView:
    """``LedgerView`` for planning: this transaction's reads, then the store's cache, then
    the server; every read is recorded where ``write_plan`` and ``confirm_reads`` look."""

    __slots__ = ("_ledger",)

    def __init__(self, ledger: PgLedger) -> None:
        self._ledger = ledger

    @property
    def currency(self) -> str:
        return self._ledger.currency

    def balance(self, account: LedgerAccount) -> Decimal:
        ledger = self._ledger
        if account in ledger._balances:
            text = ledger._balances[account]
        else:
            text = ledger._cache.balances.get(account)
            if text is None:
                found = ledger.balance(account)  # from the server, recorded as read
                stored = ledger._balances.get(account)
                if stored is not None:
                    ledger._cache.balance(account, stored)
                return found
            ledger._balances[account] = text
        return Decimal(text or 0)

    def wallet(self, account_id: AccountId) -> Wallet | None:
        ledger = self._ledger
        if account_id in ledger._wallets:
            body = ledger._wallets[account_id]
        elif account_id in ledger._cache.wallets:
            body = ledger._wallets[account_id] = ledger._cache.wallets[account_id]
        else:
            found = ledger.wallet(account_id)
            ledger._cache.wallet(account_id, ledger._wallets[account_id])
            return found
        return None if body is None else _wallet(body)

    def reservation(self, reservation_id: str) -> Reservation | None:
        return self._ledger.reservation(reservation_id)

    def due_reservations(self, at: datetime) -> Sequence[Reservation]:
        return self._ledger.due_reservations(at)

    def idempotency(self, key: str, scope: AccountId | str) -> IdempotencyRecord | None:
        ledger = self._ledger
        if (scope, key) in ledger._cache.used:
            return ledger.idempotency(key, scope)
        ledger._assumed.add((scope, key))
        return None
