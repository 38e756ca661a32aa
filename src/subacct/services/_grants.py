"""Credit grants over storage (private): the grant books of the wallets a ledger plan
touches, read before the plan is written and saved after it, in the same unit of work.

``credits.ledger_operation`` runs every ledger write through ``GrantWork``:

* ``check(planned)`` (before the write) loads the books and refuses to let a plan draw
  from a wallet holding an expired grant's remainder (``ExpireFirst``: expire it, then
  plan again), so expired credit is never spent;
* ``after(planned)`` applies the plan to the books (``subacct.pricing.ledger.grants``),
  stores them (versioned records: a concurrent writer of the same wallet conflicts and
  its unit runs again), emits ``CreditGrantCreated`` and ``CreditGrantExpired``, and
  names the wallets that now hold an expired grant's remainder (a part given back to it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from subacct.domain import AccountId
from subacct.domain.events import CreditGrantCreated, CreditGrantExpired
from subacct.pricing.ledger import ExpireGrant, GrantBook, LedgerAccount, LedgerRequest, Plan
from subacct.pricing.ledger.grants import (
    apply_plan,
    drawn_wallets,
    due_grants,
    grant_wallets,
    new_book,
)
from subacct.services._runner import Unit
from subacct.services._thresholds import wallet_key
from subacct.storage.collections import GRANT_BOOKS

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

    __slots__ = ("_books", "_currency", "_new", "_request", "_unit")

    def __init__(self, unit: Unit, currency: str, request: LedgerRequest) -> None:
        self._unit, self._currency, self._request = unit, currency, request
        self._books: dict[AccountId, GrantBook] = {}
        self._new: set[AccountId] = set()

    def check(self, planned: Plan) -> None:
        """Load the books ``planned`` changes; ``ExpireFirst`` when it draws from a wallet
        holding an expired grant's remainder."""
        if planned.replayed:
            return
        wallets = grant_wallets(planned)
        if not wallets:
            return
        cur, uow = self._currency, self._unit.uow
        keys = {wallet_key(a, cur): a for a in wallets}
        found = uow.records(GRANT_BOOKS).find_many(keys)
        books: dict[AccountId, GrantBook] = {}
        self._new = set()
        for key, account in keys.items():
            book = found.get(key)
            if book is None:  # its balance so far is in no grant (the plan is not written)
                self._new.add(account)
                balance = uow.ledger(cur).balance(LedgerAccount.wallet(account))
                book = new_book(account, cur, balance)
            books[account] = book
        self._books = books
        if isinstance(self._request, ExpireGrant):
            return
        at = self._request.at
        due = [a for a in drawn_wallets(planned) if due_grants(books[a], at)]
        if due:
            raise ExpireFirst(due)

    def after(self, planned: Plan) -> list[AccountId]:
        """Store what ``planned`` (written) did to the grants and emit its grant events;
        the wallets that now hold an expired grant's remainder."""
        result = apply_plan(planned, self._books)
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
