"""The prepaid credit ledger over storage, permission-checked (issue 5).

``LedgerService`` extends ``PolicyService`` with the pure ledger core
(``subacct.pricing.ledger``) run against the store's ledger port
(``uow.ledger(currency)``), each call in one unit of work:

* ``open_wallet(principal, wallet)`` opens or re-configures a customer account's wallet
  (its master must be the account's parent).
* ``execute(principal, request)`` re-reads the principal, authorizes every account the
  operation touches against a policy index built from storage in the same unit of work
  (``policy_authorizer``), plans the operation against the stored state, writes the plan
  under the port's guards, appends a ``CreditsMoved`` event per movement between
  accounts, and commits. A plan gone stale under a concurrent write is re-run from the
  start, so it then answers as a replay, a refusal or a fresh plan.
* ``open_wallet_as_system`` and ``execute_as_system`` are the trusted variants for system
  jobs (expiry sweeps, period resets), like ``AccountService`` is for accounts.
* ``credit_balance``, ``credit_balances``, ``credit_statement`` and the other ``credit_*``
  queries read the stored ledger (system level, like ``BillingService``'s queries: check
  ``billing.view`` with ``require`` before showing them to a principal).

A ledger keeps one currency. Name it per call (``currency=``), once for the service
(``ledger_currency=``), or let the request's amount say it.

>>> import subacct
>>> from datetime import datetime, UTC
>>> from subacct import Distribute, Money, TopUp, Wallet
>>> app = subacct.LedgerService(subacct.MemoryStore(), ledger_currency="EUR")
>>> _ = app.create_master("Agency Demo", account_id="agencydemo")
>>> _ = app.create_sub("agencydemo", "Company X", account_id="agency1")
>>> _ = app.create_user("owner@agency.test", "Owner", user_id="owner")
>>> _ = app.add_membership("owner", "agencydemo", "parent_admin")
>>> _ = app.open_wallet("owner", Wallet("agencydemo"))
>>> _ = app.open_wallet("owner", Wallet("agency1", master_id="agencydemo"))
>>> t, eur = datetime(2026, 1, 1, tzinfo=UTC), Money(100, "EUR")
>>> _ = app.execute("owner", TopUp(account_id="agencydemo", amount=eur, key="t1", at=t))
>>> _ = app.execute("owner", Distribute(sub_id="agency1", amount=Money(25, "EUR"), key="d1", at=t))
>>> app.credit_balance("wallet:agency1")
Money(amount=Decimal('25'), currency='EUR')
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from subacct.domain import AccountId, HierarchyRules
from subacct.domain._validate import utc_timestamp
from subacct.domain.events import CreditsMoved
from subacct.errors import (
    AllocationError,
    ConcurrentModification,
    InvalidInput,
    StalePlan,
    SubacctError,
)
from subacct.money import Money
from subacct.policy import (
    DEFAULT_CATALOG,
    Action,
    ActionCatalog,
    PolicyIndex,
    Principal,
    acting_user_id,
)
from subacct.policy_service import PolicyService
from subacct.pricing.ledger import (
    Authorizer,
    LedgerAccount,
    LedgerAccountKind,
    LedgerRequest,
    LedgerView,
    Plan,
    Receipt,
    Reservation,
    Statement,
    Transfer,
    Wallet,
    allow_all,
    configure_wallet,
    period_statement,
    plan,
    policy_authorizer,
)
from subacct.service import _base, event_meta
from subacct.storage.ports import (
    Clock,
    IdFactory,
    LedgerRepository,
    Store,
    UnitOfWork,
)

__all__ = ["LedgerService", "plan_and_write"]

T = TypeVar("T")

# Ledger accounts outside the system as events see them: payment sources, consumed and
# lapsed credit.
_OUTSIDE = frozenset(
    {LedgerAccountKind.EXTERNAL, LedgerAccountKind.SPENT, LedgerAccountKind.EXPIRED}
)


def _side(account: LedgerAccount) -> AccountId | None:
    return None if account.kind in _OUTSIDE else account.owner


def _money_in(value: object) -> Money | None:
    """The first ``Money`` a request or wallet carries (its amount, limit or allocation)."""
    for name in ("amount", "overdraft_limit"):
        found = getattr(value, name, None)
        if isinstance(found, Money):
            return found
    allocation = getattr(value, "allocation", None)
    amount = getattr(allocation, "amount", None)
    return amount if isinstance(amount, Money) else None


def plan_and_write(
    ledger: LedgerRepository, request: LedgerRequest, authorize: Authorizer, *, attempts: int = 10
) -> Plan:
    """Plan ``request`` against ``ledger`` and write the plan, in the caller's unit of work.

    A ledger that offers a ``planning_view`` (``PlansFromCache``: the PostgreSQL adapter)
    is planned against that view, whose reads may come from a cache; its ``write_plan``
    has the server check the plan when it is sent (with the next statement or the commit,
    where a stale plan is a ``ConcurrentModification``: re-run the unit of work).

    A ``StalePlan`` from ``write_plan`` (the stored state moved after planning; nothing was
    written) plans again in the same unit of work. A refusal is raised only once
    ``confirm_reads`` says the reads it rests on still hold (reads from a cache, or made at
    different moments under READ COMMITTED, could disagree with the stored state);
    otherwise it plans again. After ``attempts`` plans, ``ConcurrentModification`` asks the
    caller to re-run the whole unit of work.
    """
    cached = getattr(ledger, "planning_view", None)  # PlansFromCache (isinstance is slow)
    view: LedgerView = cached() if cached is not None else ledger
    for _ in range(attempts):
        try:
            planned = plan(view, request, authorize)
        except ConcurrentModification:
            raise
        except SubacctError:
            if ledger.confirm_reads():  # the refusal rests on one consistent state
                raise
            continue
        try:
            ledger.write_plan(planned)
        except StalePlan:
            continue
        return planned
    raise ConcurrentModification(f"operation {request.key!r} kept meeting concurrent writes")


def _ledger_account(account: LedgerAccount | str) -> LedgerAccount:
    return account if isinstance(account, LedgerAccount) else LedgerAccount.parse(account)


class LedgerService(PolicyService):
    """The ``PolicyService`` plus the prepaid credit ledger over the same store."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        rules: HierarchyRules | None = None,
        max_attempts: int = 5,
        catalog: ActionCatalog = DEFAULT_CATALOG,
        ledger_currency: str | None = None,
    ) -> None:
        super().__init__(
            store,
            clock=clock,
            ids=ids,
            rules=rules,
            max_attempts=max_attempts,
            catalog=catalog,
        )
        self.ledger_currency = (
            None if ledger_currency is None else Money.zero(ledger_currency).currency
        )

    # -- plumbing -----------------------------------------------------------------------

    def _currency(self, given: str | None, value: object = None) -> str:
        """The ledger to use: ``given``, else the currency of ``value``'s amount, else the
        service's ``ledger_currency``."""
        if given is not None:
            return Money.zero(given).currency
        money = _money_in(value)
        if money is not None:
            return money.currency
        if self.ledger_currency is None:
            raise InvalidInput(
                "name the ledger's currency (currency=...), or give the service a ledger_currency",
                field="currency",
            )
        return self.ledger_currency

    def _authorizer(self, uow: UnitOfWork, who: Principal) -> Authorizer:
        """An authorizer that checks ``who`` on each account the core asks about, against
        a policy index of those accounts read in this unit of work, and records each
        allowed decision in the audit records."""
        accounts: list[AccountId] = []
        index: PolicyIndex | None = None
        allowed: set[tuple[Action, AccountId]] = set()  # audited once, when planned again

        def require(action: Action, account_id: AccountId) -> None:
            nonlocal index
            if (action, account_id) in allowed:
                return
            if index is None or account_id not in accounts:
                accounts.append(account_id)
                index = self._index(uow, accounts, [acting_user_id(who)])
            decision = index.require(who, action, account_id)
            self._audit(uow, who, action, account_id, decision)
            allowed.add((action, account_id))

        return policy_authorizer(require)

    def _moved(self, planned: Plan, actor: str | None) -> list[CreditsMoved]:
        """One event per transfer between two accounts, or into or out of the system
        (holds inside one account, such as a reservation, are not movements)."""
        events = []
        for transfer in planned.transfers:
            source, destination = _side(transfer.source), _side(transfer.destination)
            if source == destination:
                continue
            meta = event_meta(self, actor)
            events.append(
                CreditsMoved(
                    **_base(meta, source if source is not None else destination),
                    operation=transfer.operation.value,
                    idempotency_key=transfer.key,
                    from_account_id=source,
                    to_account_id=destination,
                    amount=transfer.amount,
                )
            )
        return events

    def _run(
        self,
        uow: UnitOfWork,
        ledger: LedgerRepository,
        request: LedgerRequest,
        authorize: Authorizer,
        actor: str | None,
    ) -> Receipt:
        planned = plan_and_write(ledger, request, authorize)
        for event in self._moved(planned, actor):
            uow.events.append(event)
        return planned.receipt

    def _configure(
        self, uow: UnitOfWork, ledger: LedgerRepository, wallet: Wallet, authorize: Authorizer
    ) -> Wallet:
        if not isinstance(wallet, Wallet):
            raise InvalidInput(f"expected a Wallet, got {type(wallet).__name__}", field="wallet")
        account = uow.accounts.get(wallet.account_id)
        account.require_open()
        if wallet.master_id is not None and wallet.master_id != account.parent_id:
            raise AllocationError(
                f"{wallet.master_id!r} is not the parent of {account.id!r}; a sub-account's "
                "wallet is funded by its parent",
                account_id=account.id,
            )
        for _ in range(10):  # as plan_and_write: a StalePlan wrote nothing, check again
            stored = configure_wallet(ledger, wallet, authorize)
            try:
                ledger.put_wallet(stored)
            except StalePlan:
                continue
            return stored
        raise ConcurrentModification(f"wallet {wallet.account_id!r} kept changing")

    def _ledger_read(self, currency: str | None, work: Callable[[LedgerRepository], T]) -> T:
        cur = self._currency(currency)
        return self._read(lambda uow: work(uow.ledger(cur)))

    # -- commands -----------------------------------------------------------------------

    def open_wallet(
        self, principal: Principal, wallet: Wallet, *, currency: str | None = None
    ) -> Wallet:
        """Open or re-configure ``wallet`` (see ``configure_wallet``), if ``principal`` may
        manage it (``billing.manage`` on its master, or on the account itself)."""
        cur = self._currency(currency, wallet)

        def work(uow: UnitOfWork) -> Wallet:
            ledger = uow.ledger(cur)  # first: see LedgerRepository on isolation
            who = self._fresh(uow, principal)
            return self._configure(uow, ledger, wallet, self._authorizer(uow, who))

        return self._write(work)

    def open_wallet_as_system(self, wallet: Wallet, *, currency: str | None = None) -> Wallet:
        """``open_wallet`` for trusted callers (no permission check)."""
        cur = self._currency(currency, wallet)
        return self._write(lambda uow: self._configure(uow, uow.ledger(cur), wallet, allow_all))

    def execute(
        self, principal: Principal, request: LedgerRequest, *, currency: str | None = None
    ) -> Receipt:
        """Run one ledger operation for ``principal``: its receipt (``replayed=True`` for a
        key used before), or a typed refusal that changes nothing."""
        cur = self._currency(currency, request)

        def work(uow: UnitOfWork) -> Receipt:
            ledger = uow.ledger(cur)  # first: see LedgerRepository on isolation
            who = self._fresh(uow, principal)
            authorize = self._authorizer(uow, who)
            return self._run(uow, ledger, request, authorize, acting_user_id(who))

        return self._write(work)

    def execute_as_system(
        self, request: LedgerRequest, *, currency: str | None = None, actor: str | None = None
    ) -> Receipt:
        """``execute`` for trusted callers such as scheduled jobs (an ``Expire`` sweep, a
        ``ResetPeriod``): no permission check; events name ``actor`` (default: none)."""
        cur = self._currency(currency, request)
        return self._write(lambda uow: self._run(uow, uow.ledger(cur), request, allow_all, actor))

    # -- queries ------------------------------------------------------------------------

    def credit_balance(self, account: LedgerAccount | str, *, currency: str | None = None) -> Money:
        """The balance of one ledger account (``LedgerAccount`` or ``"wallet:agency1"``)."""
        target = _ledger_account(account)

        def work(ledger: LedgerRepository) -> Money:
            return Money(ledger.balance(target), ledger.currency)

        return self._ledger_read(currency, work)

    def credit_balances(self, *, currency: str | None = None) -> dict[LedgerAccount, Money]:
        """Every ledger account that ever moved, with its balance (they sum to zero)."""

        def work(ledger: LedgerRepository) -> dict[LedgerAccount, Money]:
            cur = ledger.currency
            return {a: Money(b, cur) for a, b in ledger.balances().items()}

        return self._ledger_read(currency, work)

    def credit_wallet(self, account_id: str, *, currency: str | None = None) -> Wallet | None:
        return self._ledger_read(currency, lambda ledger: ledger.wallet(AccountId(account_id)))

    def credit_wallets(self, *, currency: str | None = None) -> list[Wallet]:
        """Every wallet of the ledger, in account id order."""
        return self._ledger_read(currency, lambda ledger: ledger.wallets())

    def credit_reservation(
        self, reservation_id: str, *, currency: str | None = None
    ) -> Reservation | None:
        return self._ledger_read(currency, lambda ledger: ledger.reservation(reservation_id))

    def credit_reservations(self, *, currency: str | None = None) -> list[Reservation]:
        """Every reservation (open and closed), in id order."""
        return self._ledger_read(currency, lambda ledger: ledger.reservations())

    def credit_transfers(
        self,
        account: LedgerAccount | str | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        currency: str | None = None,
    ) -> list[Transfer]:
        """The transfer log in ledger order (touching ``account``, in ``[start, end)``,
        when given)."""
        target = None if account is None else _ledger_account(account)
        since = None if start is None else utc_timestamp(start, field="start")
        until = None if end is None else utc_timestamp(end, field="end")
        return self._ledger_read(currency, lambda ledger: ledger.transfers(target, since, until))

    def credit_statement(
        self,
        account: LedgerAccount | str,
        *,
        start: datetime,
        end: datetime,
        currency: str | None = None,
    ) -> Statement:
        """The statement of one ledger account for ``[start, end)``: opening balance, every
        movement with its running balance, closing balance (see ``period_statement``)."""
        target = _ledger_account(account)
        since, until = utc_timestamp(start, field="start"), utc_timestamp(end, field="end")
        if until <= since:
            raise InvalidInput("a statement period must end after it starts", field="end")

        def work(ledger: LedgerRepository) -> Statement:
            opening = Money(ledger.opening_balance(target, since), ledger.currency)
            moves = ledger.transfers(target, since, until)
            return period_statement(target, opening, moves, start=since, end=until)

        return self._ledger_read(currency, work)
