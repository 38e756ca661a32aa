"""Credit grants over storage (private): the grant books of the wallets a ledger plan
touches, read before the plan is written and saved after it, in the same unit of work.

``credits.ledger_operation`` runs every ledger write through ``GrantWork``:

* ``check(planned)`` (before the write) finds the wallets whose books the plan needs
  (``books_needed``: those marked ``Wallet.has_grants``, read by planning anyway, and
  those getting a first grant; none for wallets of plain credit only, so they cost
  nothing), loads them, refuses to let a plan draw from a wallet holding an expired
  grant's remainder (``ExpireFirst``: expire it, then plan again), so expired credit is
  never spent, applies the plan to the books (``subacct.pricing.ledger.grants``) and
  returns the plan to write: the same one, or with the wallets that got their first
  grant marked (``with_books``);
* ``after(planned)`` stores the books (versioned records: a concurrent writer of the
  same wallet conflicts and its unit runs again), emits ``CreditGrantCreated`` and
  ``CreditGrantExpired``, and names the wallets that now hold an expired grant's
  remainder (a part given back to it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from subacct.domain import AccountId
from subacct.domain.events import CreditGrantCreated, CreditGrantExpired
from subacct.pricing.ledger import (
    ExpireGrant,
    GrantBook,
    LedgerAccount,
    LedgerRequest,
    LedgerView,
    Plan,
)
from subacct.pricing.ledger.grants import (
    GrantsAfter,
    apply_plan,
    books_needed,
    drawn_wallets,
    due_grants,
    new_book,
    with_books,
)
from subacct.services._runner import Unit
from subacct.services._thresholds import wallet_key
from subacct.storage.collections import GRANT_BOOKS
from subacct.storage.ledger_writes import planning_view

__all__ = ["ExpireFirst", "GrantWork", "expiries", "load_book"]


class ExpireFirst(Exception):  # a signal inside ledger_operation, never raised out
    """A plan would draw from wallets holding expired grants: expire them first."""

    def __init__(self, wallets: Iterable[AccountId]) -> None:
        super().__init__("expire these wallets' grants first")
        self.wallets = sorted(wallets)


def load_book(unit: Unit, currency: str, account_id: AccountId) -> GrantBook | None:
    """The stored grant book of one wallet (``None``: it never had a grant)."""
    return unit.uow.records(GRANT_BOOKS).find(wallet_key(account_id, currency))


def expiries(book: GrantBook, at: datetime) -> list[ExpireGrant]:
    """The requests that expire what remains of ``book``'s grants expired by ``at``, with
    keys unique to the book's version (a unit run again makes the same ones)."""
    return [
        ExpireGrant(
            account_id=book.account_id,
            origin_id=grant.origin_id,
            grant_id=grant.id,
            amount=grant.remaining,
            key=f"grant-expiry.{book.version}.{n}",
            at=at,
        )
        for n, grant in enumerate(due_grants(book, at))
    ]


class GrantWork:
    """The grant books of one ledger operation (see the module docstring)."""

    __slots__ = ("_currency", "_new", "_request", "_result", "_unit")

    def __init__(self, unit: Unit, currency: str, request: LedgerRequest) -> None:
        self._unit, self._currency, self._request = unit, currency, request
        self._new: set[AccountId] = set()
        self._result = GrantsAfter({}, (), ())

    def check(self, planned: Plan) -> Plan:
        """Apply ``planned`` to the books it needs; the plan to write (see the module)."""
        self._new, self._result = set(), GrantsAfter({}, (), ())
        cur, uow = self._currency, self._unit.uow
        view = planning_view(uow.ledger(cur))
        kept, new = books_needed(planned, lambda account: _has_grants(view, account))
        if not kept and not new:
            return planned
        keys = {wallet_key(a, cur): a for a in kept}
        found = uow.records(GRANT_BOOKS).find_many(keys) if keys else {}
        books = {a: found.get(k) or self._first(view, a) for k, a in keys.items()}
        books.update((a, self._first(view, a)) for a in new)
        request = self._request
        if not isinstance(request, ExpireGrant):
            due = [
                a for a in drawn_wallets(planned) if a in kept and due_grants(books[a], request.at)
            ]
            if due:
                raise ExpireFirst(due)
        result = apply_plan(planned, books)
        # a new book that took no grant stays unwritten: the wallet keeps plain credit only
        stored = {a: b for a, b in result.books.items() if a not in new or b.grants}
        self._new &= set(stored)
        self._result = GrantsAfter(stored, result.created, result.due)
        marked = [w for a in sorted(new & set(stored)) if (w := view.wallet(a)) is not None]
        return with_books(planned, marked, {a: books[a].plain for a in new})

    def _first(self, view: LedgerView, account: AccountId) -> GrantBook:
        """A new book: the wallet's balance before the plan, all of it plain credit."""
        self._new.add(account)
        return new_book(account, self._currency, view.balance(LedgerAccount.wallet(account)))

    def after(self, planned: Plan) -> list[AccountId]:
        """Store what ``planned`` (written) did to the grants and emit its grant events;
        the wallets that now hold an expired grant's remainder."""
        result = self._result
        unit = self._unit
        repo = unit.uow.records(GRANT_BOOKS)
        for account, book in result.books.items():
            if account in self._new:
                repo.add(book)
            else:
                repo.update(book)
        for grant in result.created:
            unit.emit(
                CreditGrantCreated(
                    **unit.meta().about(grant.account_id),
                    grant_id=grant.id,
                    kind=grant.kind.value,
                    priority=grant.priority,
                    expires_at=grant.expires_at,
                    amount=grant.amount,
                )
            )
        request = self._request
        if isinstance(request, ExpireGrant):
            unit.emit(
                CreditGrantExpired(
                    **unit.meta().about(request.account_id),
                    grant_id=request.grant_id,
                    origin_id=request.origin_id,
                    amount=request.amount,
                )
            )
            return []
        return sorted({g.account_id for g in result.due})


def _has_grants(view: LedgerView, account_id: AccountId) -> bool:
    wallet = view.wallet(account_id)
    return wallet is not None and wallet.has_grants
