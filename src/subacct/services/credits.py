"""``app.credits``: prepaid credits on the double-entry ledger (seed 003).

Each call runs one ledger operation or read in one unit of work over the store's ledger
port (``uow.ledger(currency)``, asked for first). ``execute`` authorizes every account the
operation touches (``subacct.pricing.ledger.POLICY_ACTIONS``: top-up, distribute and
reclaim need ``credits.top_up``, allocations, refunds and wallet settings
``billing.manage``, spending ``messages.send``), plans the operation against the stored
state, writes the plan under the port's guards and appends its events. A plan gone stale
under a concurrent write is planned again, so it then answers as a replay, a refusal or
a fresh plan. A ledger keeps one currency: name it per call, once in the settings, or let
the request's amount say it.

Reads need ``billing.view`` in the account whose credit they show; the whole ledger
(``balances``, ``wallets``, ``reservations``, every transfer) is the system's.

>>> import subacct
>>> from datetime import datetime, UTC
>>> from subacct import Distribute, Money, Settings, TopUp, Wallet
>>> app = subacct.Subacct(subacct.MemoryStore(), Settings(currency="EUR"))
>>> S = subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> _ = app.accounts.create_sub("agencydemo", "Company X", account_id="agency1", by=S)
>>> _ = app.credits.open_wallet(Wallet("agencydemo"), by=S)
>>> _ = app.credits.open_wallet(Wallet("agency1", master_id="agencydemo"), by=S)
>>> t, eur = datetime(2026, 1, 1, tzinfo=UTC), Money(100, "EUR")
>>> _ = app.credits.execute(TopUp(account_id="agencydemo", amount=eur, key="t1", at=t), by=S)
>>> _ = app.credits.execute(Distribute(sub_id="agency1", amount=Money(25, "EUR"), key="d1",
...                                    at=t), by=S)
>>> app.credits.balance("wallet:agency1", by=S)
Money(amount=Decimal('25'), currency='EUR')
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import attrs

from subacct.domain import Account, AccountId, require_can_send
from subacct.domain.events import WalletConfigured
from subacct.errors import (
    ConcurrentModification,
    InvalidInput,
    PaymentMethodRequired,
    StalePlan,
    quoted,
)
from subacct.money import Money
from subacct.policy import SEND_MESSAGES, VIEW_BILLING, Action
from subacct.pricing.billing_run import payer_in
from subacct.pricing.ledger import (
    Authorizer,
    CreditGrant,
    GrantCredit,
    GrantKind,
    LedgerAccount,
    LedgerRequest,
    Plan,
    Receipt,
    Reservation,
    Statement,
    Transfer,
    Wallet,
    allow_all,
    configure_wallet,
    period_statement,
    policy_authorizer,
)
from subacct.pricing.ledger.events import ledger_events
from subacct.pricing.ledger.grants import due_grants, wallet_grants
from subacct.pricing.ledger.requests import (
    Commit,
    Distribute,
    Expire,
    Reclaim,
    Refund,
    Release,
    Reserve,
    ResetPeriod,
    SetAllocation,
    Spend,
    TopUp,
    require_this_month,
    sending_account,
)
from subacct.pricing.ledger.wallets import check_funding
from subacct.pricing.profiles import BillingProfile, pays_for_itself, require_pays_for_itself
from subacct.pricing.thresholds import WalletAlerts
from subacct.principals import Actor
from subacct.services import _args, _grants, _thresholds
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import BILLING_PROFILES, GRANT_BOOKS
from subacct.storage.ledger_writes import plan_and_write
from subacct.storage.ports import LedgerRepository

__all__ = ["Credits"]

T = TypeVar("T")

_REQUESTS = (
    TopUp, Distribute, Reclaim, Spend, Refund, Reserve, Commit, Release, Expire,
    SetAllocation, ResetPeriod, GrantCredit,
)  # fmt: skip
_WHOLE_LEDGER = Action("credits.read_ledger")
_EXPIRE = Action("credits.expire")  # the sweep of due holds: a scheduler's job
_EXPIRE_GRANTS = Action("credits.expire_grants")  # the sweep of expired grants: the same
_PROMOTE = Action("credits.grant_promotional")  # promotional credit is the platform's


def _money_in(value: object) -> Money | None:
    """The first ``Money`` a request or wallet carries (its amount, limit or allocation)."""
    for name in ("amount", "overdraft_limit"):
        found = getattr(value, name, None)
        if isinstance(found, Money):
            return found
    allocation = getattr(value, "allocation", None)
    amount = getattr(allocation, "amount", None)
    return amount if isinstance(amount, Money) else None


def _authorizer(unit: Unit) -> Authorizer:
    """Checks ``by`` on each account the core asks about (audited once each)."""
    return policy_authorizer(lambda action, account_id: unit.require(action, account_id))


def ledger_operation(
    unit: Unit,
    currency: str,
    request: LedgerRequest,
    before_write: Callable[[Plan], None] | None = None,
    authorize: Authorizer | None = None,
) -> Plan:
    """Plan and write ``request`` in ``unit`` (``plan_and_write``, ``before_write`` seeing
    each plan first), keep the wallets' credit grants (``_grants``: a draw from a wallet
    holding an expired grant expires it first), emit its events and report the wallet
    lines it crosses. The alerts and grant books are read before the plan is written: a
    store that sends the plan with its next statement then sends it with that write.
    ``authorize`` (default: ``by`` on each account) checks the acting principal."""
    alerts: list[dict[str, WalletAlerts]] = []
    grants = _grants.GrantWork(unit, currency, request)

    def checked(planned: Plan) -> Plan:
        if before_write is not None:
            before_write(planned)
        planned = grants.check(planned)
        alerts[:] = [_thresholds.ledger_alerts(unit, planned, currency)]
        return planned

    ledger = unit.uow.ledger(currency)
    check = authorize or _authorizer(unit)
    while True:
        try:
            planned = plan_and_write(ledger, request, check, before_write=checked)
            break
        except _grants.ExpireFirst as first:
            for account in first.wallets:
                expire_wallet(unit, currency, account, request.at)
    unit.emit(*ledger_events(planned, unit.meta))
    for account in grants.after(planned):
        expire_wallet(unit, currency, account, request.at)
    _thresholds.after_ledger(unit, planned, currency, alerts[0] if alerts else None)
    return planned


def _paying_account(request: LedgerRequest) -> AccountId | None:
    """The account whose paying for itself ``request`` turns on (a top-up's, an
    allocation's sub)."""
    if isinstance(request, TopUp):
        return request.account_id
    if isinstance(request, SetAllocation):
        return request.sub_id
    return None


def _payer_of(unit: Unit, account_id: str) -> tuple[Account, BillingProfile | None, str | None]:
    """The account, its own billing profile and its payer (``None``: none yet)."""
    account, above = unit.chain(account_id)
    ids = [account.id, *(a.id for a in above)]
    profiles = unit.uow.records(BILLING_PROFILES).find_many(ids)
    return account, profiles.get(account.id), payer_in(ids, set(profiles))


def _require_pays(unit: Unit, account_id: str) -> None:
    """``require_pays_for_itself`` for the stored account."""
    account, profile, payer = _payer_of(unit, account_id)
    require_pays_for_itself(account.id, account.parent_id, profile, payer)


def _paying_wallet(unit: Unit, wallet: Wallet, *, refuse: bool) -> Wallet:
    """``wallet`` whose ``own_payment_method`` says whether its account pays for itself
    (``pays_for_itself``: its billing profile decides, not the wallet); ``refuse``: a
    wallet that asks to pay for itself for a pooled sub is ``PaymentMethodRequired``."""
    account, profile, payer = _payer_of(unit, wallet.account_id)
    if refuse:
        require_pays_for_itself(account.id, account.parent_id, profile, payer)
    pays = pays_for_itself(account.parent_id, profile)
    return (
        wallet
        if wallet.own_payment_method is pays
        else attrs.evolve(wallet, own_payment_method=pays)
    )


def _sync_payment(unit: Unit, currency: str, account_id: AccountId) -> None:
    """Bring the stored wallet's ``own_payment_method`` to what the account's billing
    profile says now (a sub given a profile since may top up; one whose profile was
    removed is pooled again). A paying sub's wallet that still has an allocation keeps
    it until the allocation is removed (``SetAllocation(allocation=None)``)."""
    ledger = unit.uow.ledger(currency)
    stored = ledger.wallet(account_id)
    if stored is None:
        return
    account, profile, _payer = _payer_of(unit, account_id)
    pays = pays_for_itself(account.parent_id, profile)
    if stored.own_payment_method is pays or (pays and stored.allocation is not None):
        return
    try:
        ledger.put_wallet(attrs.evolve(stored, own_payment_method=pays))
    except StalePlan as stale:
        raise ConcurrentModification(f"wallet {quoted(account_id)} changed; retry") from stale
    unit.emit(
        WalletConfigured(
            **unit.meta().about(account_id),
            currency=currency,
            master_id=stored.master_id,
            opened=False,
        )
    )


def expire_wallet(unit: Unit, currency: str, account_id: AccountId, at: datetime) -> int:
    """Move what remains of each grant of ``account_id``'s wallet expired by ``at`` to its
    expiry account, one ``ExpireGrant`` each (a rule of the ledger, not a permission);
    how many grants expired."""
    count = 0
    while True:
        book = _grants.load_book(unit, currency, account_id)
        due = [] if book is None else _grants.expiries(book, at)
        if not due:
            return count
        ledger_operation(unit, currency, due[0], authorize=allow_all)
        count += 1


class Credits:
    """Prepaid credits on the double-entry ledger (``app.credits``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def _currency(self, given: object, value: object = None) -> str:
        """The ledger to use: ``given``, else the currency of ``value``'s amount, else the
        settings' ``currency``."""
        money = _money_in(value) if given is None else None
        if money is not None:
            return money.currency
        return _args.ledger_currency(given, self._runner.settings.currency)

    def _read(self, by: object, currency: object, work: Callable[[Unit, LedgerRepository], T]) -> T:
        who, cur = _args.actor(by), self._currency(currency)
        return self._runner.query(who, lambda unit: work(unit, unit.uow.ledger(cur)), ledger=cur)

    # -- commands ---------------------------------------------------------------------------

    @command
    def open_wallet(self, wallet: Wallet, *, by: Actor, currency: str | None = None) -> Wallet:
        """Open or re-configure ``wallet`` (``billing.manage`` on its master, or on the
        account itself). A sub-account's wallet is funded by its parent."""
        who, given = _args.actor(by), _args.of(wallet, Wallet, "wallet")
        cur = self._currency(currency, given)

        def work(unit: Unit) -> Wallet:
            ledger = unit.uow.ledger(cur)
            account = unit.uow.accounts.get(given.account_id)
            account.require_open()
            check_funding(given, account.parent_id)
            authorize = _authorizer(unit)
            wanted = _paying_wallet(unit, given, refuse=given.own_payment_method)
            for _ in range(10):  # as plan_and_write: a StalePlan wrote nothing, check again
                opened = ledger.wallet(given.account_id) is None
                stored = configure_wallet(ledger, wanted, authorize)
                try:
                    ledger.put_wallet(stored)
                except StalePlan:
                    continue
                unit.emit(
                    WalletConfigured(
                        **unit.meta().about(stored.account_id),
                        currency=cur,
                        master_id=stored.master_id,
                        opened=opened,
                    )
                )
                return stored
            raise ConcurrentModification(f"wallet {quoted(given.account_id)} kept changing")

        return self._runner.command(who, work, ledger=cur)

    @command
    def execute(self, request: LedgerRequest, *, by: Actor, currency: str | None = None) -> Receipt:
        """Run one ledger operation: its receipt (``replayed=True`` for a key used before,
        which moves nothing), or a typed refusal that changes nothing."""
        who = _args.actor(by)
        if not isinstance(request, _REQUESTS):
            raise InvalidInput(
                f"request must be a ledger request (TopUp, Spend...), not {type(request).__name__}",
                field="request",
            )
        cur = self._currency(currency, request)

        sender = sending_account(request)

        def work(unit: Unit) -> Receipt:
            if isinstance(request, Expire):  # the sweep of due holds: a scheduler's job
                unit.refuse_unless_system(_EXPIRE)
            if isinstance(request, GrantCredit) and request.kind is GrantKind.PROMOTIONAL:
                unit.require_system(_PROMOTE, request.account_id)

            def before_write(planned: Plan) -> None:  # a new operation, not its replay
                if planned.receipt.replayed:
                    return
                if not unit.is_system:  # the system alone dates requests freely
                    require_this_month(request, unit.now)
                if sender is not None:
                    require_can_send(*unit.chain(sender))

            paying = _paying_account(request)
            if paying is not None:
                _sync_payment(unit, cur, paying)
            try:
                return ledger_operation(unit, cur, request, before_write).receipt
            except PaymentMethodRequired:
                if isinstance(request, TopUp):  # say why: the sub is pooled
                    _require_pays(unit, request.account_id)
                raise

        return self._runner.command(who, work, ledger=cur)

    @command
    def expire_grants(
        self,
        *,
        by: Actor,
        at: datetime | None = None,
        account_id: str | None = None,
        currency: str | None = None,
    ) -> list[CreditGrant]:
        """Move what remains of every grant expired by ``at`` (default: now) to the expiry
        account of its wallet (``expired:<account>``), in every wallet or only
        ``account_id``'s; the system only (a scheduler's job). The grants that expired,
        as they are after it; running it again expires nothing more."""
        who, cur = _args.actor(by), self._currency(currency)
        when = _args.optional_timestamp(at, "at")
        only = None if account_id is None else AccountId(_args.ident(account_id, "account_id"))

        def work(unit: Unit) -> list[CreditGrant]:
            unit.refuse_unless_system(_EXPIRE_GRANTS)
            moment = when or unit.now
            unit.uow.ledger(cur)
            repo = unit.uow.records(GRANT_BOOKS)
            if only is not None:
                found = repo.find(_thresholds.wallet_key(only, cur))
                books = [] if found is None else [found]
            else:
                books = repo.list_by("currency", cur)
            expired: list[CreditGrant] = []
            for book in books:
                due = {g.ref for g in due_grants(book, moment)}
                if due and expire_wallet(unit, cur, book.account_id, moment):
                    after = _grants.load_book(unit, cur, book.account_id)
                    assert after is not None  # expiring a grant stores its book
                    expired += [g for g in after.grants if g.ref in due]
            return expired

        return self._runner.command(who, work, ledger=cur)

    # -- reads ------------------------------------------------------------------------------

    @query
    def grants(
        self, account_id: str, *, by: Actor, currency: str | None = None
    ) -> list[CreditGrant]:
        """The credit grants of ``account_id``'s wallet in the order a draw takes them
        (``subacct.pricing.ledger.grants``): remaining, held, spent and expired parts,
        used-up and expired grants included (``billing.view`` in the account)."""
        where = AccountId(_args.ident(account_id, "account_id"))

        def work(unit: Unit, ledger: LedgerRepository) -> list[CreditGrant]:
            unit.require(VIEW_BILLING, where)
            book = _grants.load_book(unit, ledger.currency, where)
            return [] if book is None else wallet_grants([book])

        return self._read(by, currency, work)

    @query
    def balance(
        self, account: LedgerAccount | str, *, by: Actor, currency: str | None = None
    ) -> Money:
        """The balance of one ledger account (``LedgerAccount`` or ``"wallet:agency1"``)."""
        target = _args.ledger_account(account)

        def work(unit: Unit, ledger: LedgerRepository) -> Money:
            unit.require(VIEW_BILLING, target.owner)
            return Money(ledger.balance(target), ledger.currency)

        return self._read(by, currency, work)

    @query
    def balances(self, *, by: Actor, currency: str | None = None) -> dict[LedgerAccount, Money]:
        """Every ledger account that ever moved, with its balance (they sum to zero); the
        system only."""

        def work(unit: Unit, ledger: LedgerRepository) -> dict[LedgerAccount, Money]:
            unit.require_system(_WHOLE_LEDGER)
            return {a: Money(b, ledger.currency) for a, b in ledger.balances().items()}

        return self._read(by, currency, work)

    @query
    def wallet(self, account_id: str, *, by: Actor, currency: str | None = None) -> Wallet | None:
        """The account's wallet settings, if it has a wallet."""
        where = _args.ident(account_id, "account_id")

        def work(unit: Unit, ledger: LedgerRepository) -> Wallet | None:
            unit.require(VIEW_BILLING, where)
            return ledger.wallet(AccountId(where))

        return self._read(by, currency, work)

    @query
    def wallets(self, *, by: Actor, currency: str | None = None) -> list[Wallet]:
        """Every wallet of the ledger, in account id order; the system only."""

        def work(unit: Unit, ledger: LedgerRepository) -> list[Wallet]:
            unit.require_system(_WHOLE_LEDGER)
            return ledger.wallets()

        return self._read(by, currency, work)

    @query
    def reservation(
        self, reservation_id: str, *, by: Actor, currency: str | None = None
    ) -> Reservation | None:
        """A credit reservation (``billing.view`` or ``messages.send`` in its account)."""
        wanted = _args.ident(reservation_id, "reservation_id")

        def work(unit: Unit, ledger: LedgerRepository) -> Reservation | None:
            found = ledger.reservation(wanted)
            if found is not None:
                unit.require_any((VIEW_BILLING, SEND_MESSAGES), found.account_id)
            return found

        return self._read(by, currency, work)

    @query
    def reservations(self, *, by: Actor, currency: str | None = None) -> list[Reservation]:
        """Every reservation (open and closed), in id order; the system only."""

        def work(unit: Unit, ledger: LedgerRepository) -> list[Reservation]:
            unit.require_system(_WHOLE_LEDGER)
            return ledger.reservations()

        return self._read(by, currency, work)

    @query
    def transfers(
        self,
        account: LedgerAccount | str | None = None,
        *,
        by: Actor,
        start: datetime | None = None,
        end: datetime | None = None,
        currency: str | None = None,
    ) -> list[Transfer]:
        """The transfer log in ledger order (touching ``account``, in ``[start, end)``,
        when given); every transfer is the system's."""
        target = None if account is None else _args.ledger_account(account)
        since = _args.optional_timestamp(start, "start")
        until = _args.optional_timestamp(end, "end")

        def work(unit: Unit, ledger: LedgerRepository) -> list[Transfer]:
            if target is None:
                unit.require_system(_WHOLE_LEDGER)
            else:
                unit.require(VIEW_BILLING, target.owner)
            return ledger.transfers(target, since, until)

        return self._read(by, currency, work)

    @query
    def statement(
        self,
        account: LedgerAccount | str,
        *,
        start: datetime,
        end: datetime,
        by: Actor,
        currency: str | None = None,
    ) -> Statement:
        """The statement of one ledger account for ``[start, end)``: opening balance, every
        movement with its running balance, closing balance."""
        target = _args.ledger_account(account)
        since, until = _args.timestamp(start, "start"), _args.timestamp(end, "end")
        if until <= since:
            raise InvalidInput("a statement period must end after it starts", field="end")

        def work(unit: Unit, ledger: LedgerRepository) -> Statement:
            unit.require(VIEW_BILLING, target.owner)
            opening = Money(ledger.opening_balance(target, since), ledger.currency)
            moves = ledger.transfers(target, since, until)
            return period_statement(target, opening, moves, start=since, end=until)

        return self._read(by, currency, work)
