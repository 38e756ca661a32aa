"""Credit grants: the lots of credit a wallet holds, and the order they are spent in (pure).

A grant is credit that came into a wallet together by a ``GrantCredit``
(``promotional`` or ``paid``, with a priority and an optional expiry). Its id is the key
of the operation that made it, in the account it was made for (``origin_id``). Credit in
no grant is **plain credit** (``GrantBook.plain``): what top-ups bring in, what a wallet
held before grants were kept, and plain credit a master distributes. Every draw out of
a wallet (a spend, a hold, a distribution to a sub, a reclaim, a reset) takes credit in
the **spend order**:

1. the live grants, lower ``priority`` first (0 before 100; ``DEFAULT_PRIORITY``, 50,
   for a ``GrantCredit`` that names none);
2. among equal priorities the soonest ``expires_at`` (a grant that never expires comes
   after every one that does);
3. then the oldest grant (``created_at``, then the order the wallet received it);
4. then plain credit, after every grant whatever its priority (it never expires: it
   is the customer's own money), and the overdraft after that (``plain`` then goes
   below zero).

A wallet that never received a grant holds plain credit only and keeps no book
(``Wallet.has_grants`` is false): its draws take plain credit, as the order says, at no
cost. What a draw took from each grant is recorded: a spend adds to the grant's
``spent`` (plain credit to the book's ``plain_spent``), a hold to its ``held`` (per
reservation, so its capture spends, and its release gives back, exactly those parts), a
distribution moves the parts into the sub's wallet as parts of the same grants (same
kind, priority and expiry; the sub's wallet then keeps a book too). A refund gives
credit back in the reverse of the spend order: first plain credit, as much as was spent
of it since the wallet's book was made (``plain_spent``), then the grants spent, the
last in the spend order first; any more is plain credit. Credit coming into a wallet in
debt (``plain`` below zero) first settles the debt, in the spend order.

A grant past its ``expires_at`` is never drawn from; its ``remaining`` part moves to
``expired:<account>`` (``ExpireGrant``). A part held by an open reservation when the grant
expires stays held: its capture spends it; a release gives it back to the grant, where
it expires at once. So a wallet's balance is always ``plain`` plus the ``remaining`` of
its grants (or all plain, for a wallet with no book).

>>> from datetime import datetime, UTC
>>> from subacct.money import Money
>>> jan = lambda day: datetime(2026, 1, day, tzinfo=UTC)
>>> promo = CreditGrant.new("promo", "acme", Money(10, "USD"), jan(1), kind=GrantKind.PROMOTIONAL,
...                         priority=1, expires_at=jan(31))
>>> paid = CreditGrant.new("p1", "acme", Money(50, "USD"), jan(2), priority=90)
>>> [g.id for g in spend_order([paid, promo], jan(15))]
['promo', 'p1']
>>> [g.id for g in spend_order([paid, promo], jan(31))]
['p1']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from subacct.domain.ids import AccountId
from subacct.money import Money, add, subtract
from subacct.pricing.ledger import _validate as v
from subacct.pricing.ledger.accounts import LedgerAccount, LedgerAccountKind
from subacct.pricing.ledger.planning import Plan
from subacct.pricing.ledger.records import (
    DEFAULT_PRIORITY,
    MAX_PRIORITY,
    GrantKind,
    OperationKind,
    Reservation,
    priority,
)
from subacct.pricing.ledger.requests import ExpireGrant, GrantCredit
from subacct.pricing.ledger.wallets import Wallet

__all__ = [
    "DEFAULT_PRIORITY",
    "MAX_PRIORITY",
    "CreditGrant",
    "GrantBook",
    "GrantKind",
    "GrantPart",
    "GrantsAfter",
    "HeldParts",
    "apply_plan",
    "book_balance",
    "books_needed",
    "drawn_wallets",
    "due_grants",
    "grant_wallets",
    "spend_order",
    "with_books",
]

_ZERO: Final = Decimal(0)


def _optional_expiry(value: object) -> datetime | None:
    return None if value is None else v.expiry(value)


def _non_negative(value: object) -> Money:
    return v.non_negative_money(value)


@attrs.frozen
class CreditGrant:
    """One grant's part in one wallet (``account_id``).

    ``amount`` is what was granted (to ``origin_id``); ``remaining`` is spendable here,
    ``held`` is held by open reservations, ``spent`` was spent from here (refunds give
    it back) and ``expired`` moved to the expiry account. ``seq`` numbers the parts a
    wallet received, oldest first.
    """

    id: str = attrs.field(converter=v.key)
    origin_id: AccountId = attrs.field(converter=v.account_id)
    account_id: AccountId = attrs.field(converter=v.account_id)
    kind: GrantKind = attrs.field(validator=attrs.validators.instance_of(GrantKind))
    priority: int = attrs.field(converter=priority)
    expires_at: datetime | None = attrs.field(converter=_optional_expiry)
    created_at: datetime = attrs.field(converter=v.timestamp)
    amount: Money = attrs.field(converter=v.positive_money)
    remaining: Money = attrs.field(converter=_non_negative)
    held: Money = attrs.field(converter=_non_negative)
    spent: Money = attrs.field(converter=_non_negative)
    expired: Money = attrs.field(converter=_non_negative)
    seq: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))

    @classmethod
    def new(
        cls,
        grant_id: str,
        account_id: AccountId | str,
        amount: Money,
        at: datetime,
        *,
        kind: GrantKind = GrantKind.PAID,
        priority: int = DEFAULT_PRIORITY,
        expires_at: datetime | None = None,
    ) -> CreditGrant:
        """A grant just made in ``account_id``'s wallet, all of it remaining."""
        zero = Money.zero(amount.currency)
        return cls(
            grant_id, account_id, account_id, kind, priority, expires_at, at, amount, amount,
            zero, zero, zero,
        )  # fmt: skip

    @property
    def ref(self) -> tuple[str, str]:
        """``(origin_id, id)``: what names the grant in every wallet holding part of it."""
        return (self.origin_id, self.id)

    def is_live(self, at: datetime) -> bool:
        """Spendable at ``at``: it has not expired (``expires_at`` is the first moment it
        is not)."""
        return self.expires_at is None or at < self.expires_at

    def order_key(self) -> tuple[int, bool, datetime, datetime, int]:
        """The spend order (module docstring): priority, soonest expiry, oldest."""
        expires = self.expires_at
        return (
            self.priority,
            expires is None,
            expires or self.created_at,
            self.created_at,
            self.seq,
        )


@attrs.frozen
class GrantPart:
    """``amount`` of grant ``(origin_id, grant_id)``; no grant id: plain credit."""

    origin_id: str | None
    grant_id: str | None
    amount: Decimal


@attrs.frozen
class HeldParts:
    """What the open reservation ``reservation_id`` holds of each grant."""

    reservation_id: str
    parts: tuple[GrantPart, ...]


@attrs.frozen
class GrantBook:
    """The grants of one wallet in one currency, stored as one versioned record (only
    for a wallet that received a grant: ``Wallet.has_grants``).

    ``plain`` is the part of the wallet's balance in no grant (top-ups, credit held
    before the book was made), below zero the overdraft in use; ``plain_spent`` is what
    was spent of plain credit since the book was made, less what refunds gave back.
    """

    account_id: AccountId = attrs.field(converter=v.account_id)
    currency: str
    plain: Decimal
    plain_spent: Decimal = _ZERO
    grants: tuple[CreditGrant, ...] = ()
    holds: tuple[HeldParts, ...] = ()
    next_seq: int = 0
    version: int = 0


def book_balance(book: GrantBook) -> Decimal:
    """The wallet balance the book accounts for: ``plain`` plus every remainder."""
    total = book.plain
    for grant in book.grants:
        total = add(total, grant.remaining.amount)
    return total


def spend_order(grants: Iterable[CreditGrant], at: datetime) -> list[CreditGrant]:
    """The grants a draw at ``at`` takes from, in the order it takes them: live ones with
    something remaining."""
    live = [g for g in grants if g.remaining.amount > 0 and g.is_live(at)]
    return sorted(live, key=CreditGrant.order_key)


def due_grants(book: GrantBook, at: datetime) -> list[CreditGrant]:
    """The grants of ``book`` expired by ``at`` with something remaining to expire."""
    return [g for g in book.grants if g.remaining.amount > 0 and not g.is_live(at)]


def drawn_wallets(planned: Plan) -> set[AccountId]:
    """The wallets ``planned`` takes credit out of."""
    return {t.source.owner for t in planned.transfers if t.source.kind is LedgerAccountKind.WALLET}


def grant_wallets(planned: Plan) -> set[AccountId]:
    """The wallets whose grants ``planned`` may change (none for a replay)."""
    found = {
        a.owner
        for t in planned.transfers
        for a in (t.source, t.destination)
        if a.kind is LedgerAccountKind.WALLET
    }
    found.update(h.funding_id for h in planned.reservations)
    return found


class _Wallet:
    """One book being changed by a plan (mutable working state; ``done`` freezes it)."""

    __slots__ = (
        "book", "changed", "currency", "grants", "holds", "next_seq", "plain", "plain_spent",
    )  # fmt: skip

    def __init__(self, book: GrantBook) -> None:
        self.book = book
        self.currency = book.currency
        self.plain = book.plain
        self.plain_spent = book.plain_spent
        self.grants: dict[tuple[str, str], CreditGrant] = {g.ref: g for g in book.grants}
        self.holds: dict[str, list[GrantPart]] = {
            h.reservation_id: list(h.parts) for h in book.holds
        }
        self.next_seq = book.next_seq
        self.changed = False

    def money(self, amount: Decimal) -> Money:
        return Money(amount, self.currency)

    def _put(self, grant: CreditGrant) -> None:
        self.grants[grant.ref] = grant
        self.changed = True

    def _adjust(
        self,
        ref: tuple[str, str],
        *,
        remaining: Decimal = _ZERO,
        held: Decimal = _ZERO,
        spent: Decimal = _ZERO,
        expired: Decimal = _ZERO,
    ) -> None:
        g, money = self.grants[ref], self.money
        self._put(
            attrs.evolve(
                g,
                remaining=money(add(g.remaining.amount, remaining)),
                held=money(add(g.held.amount, held)),
                spent=money(add(g.spent.amount, spent)),
                expired=money(add(g.expired.amount, expired)),
            )
        )

    def draw(self, amount: Decimal, at: datetime) -> list[GrantPart]:
        """Take ``amount`` out of the remainders in the spend order, then plain credit."""
        parts: list[GrantPart] = []
        for grant in spend_order(self.grants.values(), at):
            if not amount:
                break
            take = min(amount, grant.remaining.amount)
            self._adjust(grant.ref, remaining=take.copy_negate())
            parts.append(GrantPart(grant.origin_id, grant.id, take))
            amount = subtract(amount, take)
        if amount:
            self.plain = subtract(self.plain, amount)
            self.changed = True
            parts.append(GrantPart(None, None, amount))
        return parts

    def receive(self, parts: Iterable[GrantPart], source: _Wallet | None, at: datetime) -> None:
        """Credit drawn from ``source`` comes in as parts of the same grants."""
        for part in parts:
            if part.grant_id is None or part.origin_id is None or source is None:
                self.add_plain(part.amount)
                continue
            ref = (part.origin_id, part.grant_id)
            if ref not in self.grants:
                model = source.grants[ref]
                zero = self.money(_ZERO)
                self._put(
                    attrs.evolve(
                        model, account_id=self.book.account_id, remaining=zero, held=zero,
                        spent=zero, expired=zero, created_at=model.created_at, seq=self.next_seq,
                    )
                )  # fmt: skip
                self.next_seq += 1
            self._adjust(ref, remaining=part.amount)

    def add_plain(self, amount: Decimal) -> None:
        self.plain = add(self.plain, amount)
        self.changed = True

    def create(self, grant: CreditGrant) -> CreditGrant:
        found = self.grants.get(grant.ref)
        if found is not None:
            # A key is used once in its scope, so only a stale plan gets here (planned
            # from a cache: the store refuses it with its next statement). Add it up.
            self._adjust(grant.ref, remaining=grant.amount.amount)
            return found
        made = attrs.evolve(grant, seq=self.next_seq)
        self.next_seq += 1
        self._put(made)
        return made

    def spend(self, parts: Iterable[GrantPart]) -> None:
        for part in parts:
            if part.grant_id is not None and part.origin_id is not None:
                self._adjust((part.origin_id, part.grant_id), spent=part.amount)
            else:
                self.plain_spent = add(self.plain_spent, part.amount)
                self.changed = True

    def expire(self, parts: Iterable[GrantPart]) -> None:
        for part in parts:
            if part.grant_id is not None and part.origin_id is not None:
                self._adjust((part.origin_id, part.grant_id), expired=part.amount)

    def hold(self, reservation_id: str, parts: list[GrantPart]) -> None:
        self.holds[reservation_id] = parts
        for part in parts:
            if part.grant_id is not None and part.origin_id is not None:
                self._adjust((part.origin_id, part.grant_id), held=part.amount)
        self.changed = True

    def _held(self, reservation_id: str, amount: Decimal) -> list[GrantPart]:
        """Take ``amount`` off the hold's parts, in the order they were drawn."""
        parts = self.holds.get(reservation_id)
        if parts is None:  # held before the wallet kept a book: plain credit
            return [GrantPart(None, None, amount)]
        taken: list[GrantPart] = []
        while amount and parts:
            first = parts[0]
            take = min(amount, first.amount)
            taken.append(GrantPart(first.origin_id, first.grant_id, take))
            left = subtract(first.amount, take)
            if left:
                parts[0] = GrantPart(first.origin_id, first.grant_id, left)
            else:
                parts.pop(0)
            amount = subtract(amount, take)
        if amount:
            taken.append(GrantPart(None, None, amount))
        self.changed = True
        for part in taken:
            if part.grant_id is not None and part.origin_id is not None:
                self._adjust((part.origin_id, part.grant_id), held=part.amount.copy_negate())
        return taken

    def capture(self, reservation_id: str, amount: Decimal) -> None:
        self.spend(self._held(reservation_id, amount))

    def give_back(self, reservation_id: str, amount: Decimal) -> None:
        for part in self._held(reservation_id, amount):
            if part.grant_id is None or part.origin_id is None:
                self.add_plain(part.amount)
            else:
                self._adjust((part.origin_id, part.grant_id), remaining=part.amount)

    def close_hold(self, reservation_id: str) -> None:
        if self.holds.pop(reservation_id, None) is not None:
            self.changed = True

    def refund(self, amount: Decimal) -> None:
        """Give ``amount`` back in the reverse of the spend order: plain credit spent, then
        the grants spent, the last first; the rest is plain credit."""
        back = min(amount, max(self.plain_spent, _ZERO))
        if back:
            self.plain_spent = subtract(self.plain_spent, back)
            self.add_plain(back)
            amount = subtract(amount, back)
        spent = [g for g in self.grants.values() if g.spent.amount > 0]
        for grant in sorted(spent, key=CreditGrant.order_key, reverse=True):
            if not amount:
                break
            back = min(amount, grant.spent.amount)
            self._adjust(grant.ref, spent=back.copy_negate(), remaining=back)
            amount = subtract(amount, back)
        if amount:
            self.add_plain(amount)

    def settle(self, at: datetime) -> None:
        """Credit that came into a wallet in debt pays the debt first, in the spend
        order (the debt was spent: the grants that pay it count it as spent, and plain
        credit as much less spent)."""
        if self.plain >= 0:
            return
        debt = self.plain.copy_negate()
        for grant in spend_order(self.grants.values(), at):
            if not debt:
                break
            take = min(debt, grant.remaining.amount)
            self._adjust(grant.ref, remaining=take.copy_negate(), spent=take)
            self.plain = add(self.plain, take)
            self.plain_spent = max(subtract(self.plain_spent, take), _ZERO)
            debt = subtract(debt, take)

    def done(self) -> GrantBook:
        grants = sorted(self.grants.values(), key=lambda g: g.seq)
        holds = tuple(HeldParts(r, tuple(p)) for r, p in sorted(self.holds.items()) if p)
        return attrs.evolve(
            self.book,
            plain=self.plain,
            plain_spent=self.plain_spent,
            grants=tuple(grants),
            holds=holds,
            next_seq=self.next_seq,
            version=self.book.version + 1,
        )


@attrs.frozen
class GrantsAfter:
    """What a plan did to the grants: the changed ``books`` (to store, version raised),
    the grants it made, and the grants that are past their expiry with something
    remaining (to expire now: a part given back to an expired grant)."""

    books: dict[AccountId, GrantBook]
    created: tuple[CreditGrant, ...]
    due: tuple[CreditGrant, ...]


def apply_plan(planned: Plan, books: Mapping[AccountId, GrantBook]) -> GrantsAfter:
    """The grants after ``planned`` (a new plan) given the ``books`` it needs
    (``books_needed``); a wallet with no book in ``books`` holds plain credit only."""
    request = planned.request
    if request is None or planned.replayed or not books:
        return GrantsAfter({}, (), ())
    at = request.at
    work = {account: _Wallet(book) for account, book in books.items()}
    holds = list(planned.reservations)
    opened = [h for h in holds if h.is_open]
    closing = iter([h for h in holds if not h.is_open])
    current: Reservation | None = None
    created: list[CreditGrant] = []
    received: set[AccountId] = set()
    for transfer in planned.transfers:
        source, destination, amount = transfer.source, transfer.destination, transfer.amount
        s, d = source.kind, destination.kind
        if s is LedgerAccountKind.WALLET:
            wallet = work.get(source.owner)
            if wallet is not None and isinstance(request, ExpireGrant):
                ref = (request.origin_id, request.grant_id)
                part = GrantPart(request.origin_id, request.grant_id, amount.amount)
                wallet._adjust(ref, remaining=amount.amount.copy_negate())
                wallet.expire([part])
                continue
            if wallet is None:  # plain credit only
                parts = [GrantPart(None, None, amount.amount)]
            else:
                parts = wallet.draw(amount.amount, at)
                if d is LedgerAccountKind.RESERVED:
                    wallet.hold(opened[0].id, parts)
                elif d is LedgerAccountKind.SPENT:
                    wallet.spend(parts)
                elif d is LedgerAccountKind.EXPIRED:
                    wallet.expire(parts)
            into = work.get(destination.owner) if d is LedgerAccountKind.WALLET else None
            if into is not None:
                into.receive(parts, wallet, at)
                received.add(destination.owner)
        elif s is LedgerAccountKind.RESERVED:
            if current is None or transfer.operation is OperationKind.EXPIRE:
                current = next(closing)
            funding = work.get(current.funding_id)
            if funding is None:
                continue
            if d is LedgerAccountKind.SPENT:
                funding.capture(current.id, amount.amount)
            else:
                funding.give_back(current.id, amount.amount)
                received.add(current.funding_id)
        elif d is LedgerAccountKind.WALLET and (wallet := work.get(destination.owner)):
            if s is LedgerAccountKind.SPENT:
                wallet.refund(amount.amount)
            elif isinstance(request, GrantCredit):  # granted from outside: a new grant
                created.append(wallet.create(_new_grant(request, destination.owner, amount)))
            else:  # bought (a top-up): plain credit
                wallet.add_plain(amount.amount)
            received.add(destination.owner)
    for hold in holds:
        if not hold.is_open and (funding := work.get(hold.funding_id)) is not None:
            funding.close_hold(hold.id)
    for account in received:
        work[account].settle(at)
    after = {a: w.done() for a, w in work.items() if w.changed}
    due = tuple(g for book in after.values() for g in due_grants(book, at))
    return GrantsAfter(after, tuple(created), due)


def _new_grant(request: GrantCredit, account_id: AccountId, amount: Money) -> CreditGrant:
    return CreditGrant.new(
        request.key, account_id, amount, request.at, kind=request.kind,
        priority=request.priority, expires_at=request.expires_at,
    )  # fmt: skip


def books_needed(
    planned: Plan, has_grants: Callable[[AccountId], bool]
) -> tuple[set[AccountId], set[AccountId]]:
    """The wallets whose grant books ``planned`` needs: ``(kept, new)``, those that keep
    one already (``has_grants``: ``Wallet.has_grants`` as stored) and those that may get
    their first grant (granted to, or receiving credit from a wallet with grants). A
    plan that touches only wallets of plain credit needs none."""
    request = planned.request
    if request is None or planned.replayed:
        return set(), set()
    kept = {a for a in grant_wallets(planned) if has_grants(a)}
    new: set[AccountId] = set()
    if isinstance(request, GrantCredit) and request.account_id not in kept:
        new.add(request.account_id)
    for t in planned.transfers:
        source, destination = t.source, t.destination
        if (
            source.kind is LedgerAccountKind.WALLET
            and destination.kind is LedgerAccountKind.WALLET
            and (source.owner in kept or source.owner in new)
            and destination.owner not in kept
        ):
            new.add(destination.owner)
    return kept, new


def with_books(
    planned: Plan, wallets: Sequence[Wallet], balances: Mapping[AccountId, Decimal]
) -> Plan:
    """``planned``, also marking ``wallets`` (as read) as holding grants (``has_grants``),
    and resting on each one's balance being ``balances[account]``: its new book's plain
    credit was read from it, so a concurrent writer of that balance makes the plan stale."""
    if not wallets:
        return planned
    marking = {w.account_id for w in wallets}
    written = [attrs.evolve(w, has_grants=True) if w.account_id in marking else w
               for w in planned.wallets]  # fmt: skip
    in_plan = {w.account_id for w in planned.wallets}
    written += [attrs.evolve(w, has_grants=True) for w in wallets if w.account_id not in in_plan]
    pinned = dict(planned.pinned)
    for account in marking:
        pinned.setdefault(LedgerAccount.wallet(account), balances[account])
    return attrs.evolve(planned, wallets=tuple(written), pinned=tuple(pinned.items()))


def new_book(account_id: AccountId, currency: str, balance: Decimal) -> GrantBook:
    """The book of a wallet with no grants yet: its whole ``balance`` plain credit."""
    return GrantBook(account_id, currency, balance)


def wallet_grants(books: Sequence[GrantBook]) -> list[CreditGrant]:
    """Every grant part of ``books``, in the spend order (spent and expired ones too)."""
    return sorted((g for b in books for g in b.grants), key=CreditGrant.order_key)
