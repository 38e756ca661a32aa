"""``app.sending``: one call per send to authorize it, one to settle it.

A messaging platform calls ``authorize`` before a send goes out and ``capture`` (or
``release``) when it knows what was delivered. Each is one unit of work:

* ``authorize(account_id, channel, quantity, key=..., by=...)``: ``messages.send`` in the
  account (users, API keys and impersonation sessions alike); the account and all its
  ancestors active; the quotas up the tree with room; for
  a prepaid payer (``BillingProfile.prepaid``) the send's price held on the paying wallet
  (a pooled sub draws on the wallet the ledger's funding rules name). Returns a ``Hold``.
  Each refusal is typed (``ActionDenied``, ``AccountNotActive``, ``QuotaExceeded``,
  ``InsufficientCredit``, ``WalletNotFound``, ``UnknownChannel``,
  ``NoMatchingCharge``) and names what refused; nothing stays held
  after one. The same key returns the same hold; the same key for another
  send raises ``IdempotencyConflict``.
* ``capture(hold, delivered, by=...)``: records ``delivered`` messages as usage (the
  hold's account, channel, label and the user who sent), spends their price from the
  credit held and gives back the rest of both holds. Asked again with the same
  ``delivered``, it returns the captured hold. A month invoiced while the hold was open
  takes the capture as an adjustment on the payer's next invoice
  (``subacct.pricing.adjustments``).
* ``release(hold, by=...)``: gives everything back (the send did not go out).
* ``expire_holds(by=SYSTEM)``: the host's scheduler gives back every hold open past its
  expiry (``Settings.send_hold_ttl``, 15 minutes by default).

A prepaid send is priced at capture by the model quoted at authorization, on the volume
the payer's captured sends delivered in the period (``subacct.pricing.holds``): whatever
order holds end in, a period's credit spent is exactly the price of its volume, and a
capture never needs more than its hold (``docs/sending.md``).

>>> import subacct
>>> from datetime import datetime, UTC
>>> from decimal import Decimal
>>> from subacct import Money, Settings, TopUp, Wallet, FixedClock
>>> from subacct.pricing import Tier, TieredPrice, TierMode
>>> t = datetime(2026, 1, 5, tzinfo=UTC)
>>> app = subacct.Subacct(subacct.MemoryStore(), Settings(clock=FixedClock(t), currency="EUR"))
>>> S = subacct.SYSTEM
>>> _ = app.accounts.create_master("Shop", account_id="shop", by=S)
>>> sms = TieredPrice(TierMode.GRADUATED, [Tier(None, Decimal("0.075"))], "EUR")
>>> _ = app.billing.set_profile("shop", sms, prepaid=True, by=S)
>>> _ = app.credits.open_wallet(Wallet("shop"), by=S)
>>> _ = app.credits.execute(TopUp(account_id="shop", amount=Money(10, "EUR"), key="t1", at=t),
...                         by=S)
>>> hold = app.sending.authorize("shop", "sms", 100, key="campaign-1", by=S)
>>> hold.amount
Money(amount=Decimal('7.500'), currency='EUR')
>>> app.sending.capture(hold, 98, by=S).charged
Money(amount=Decimal('7.350'), currency='EUR')
>>> app.credits.balance("wallet:shop", by=S)
Money(amount=Decimal('2.650'), currency='EUR')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final, cast

import attrs

from subacct.domain import Account
from subacct.domain.events import SendAuthorized, SendCaptured, SendReleased, UsageRecorded
from subacct.errors import (
    HoldNotFound,
    IdempotencyConflict,
    InvalidInput,
    InvalidQuantity,
    quoted,
)
from subacct.money import Money
from subacct.policy import SEND_MESSAGES, Action
from subacct.pricing import BillingPeriod, Channel, charge_for
from subacct.pricing.charges import ChargeModel
from subacct.pricing.holds import Hold, HoldStatus, SendVolume, send_bound
from subacct.pricing.ledger import Commit, LedgerRequest, Release, Reserve, Spend
from subacct.pricing.ledger.records import ReservationStatus
from subacct.pricing.model import PriceModel
from subacct.pricing.profiles import BillingProfile, scoped_key
from subacct.pricing.usage import fresh_usage
from subacct.principals import SYSTEM, Actor
from subacct.services import _adjustments, _args, _invoicing, _quotas, _volumes
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.services.credits import ledger_operation
from subacct.storage.collections import BILLING_PROFILES, SEND_HOLDS, SEND_VOLUMES

__all__ = ["Sending"]

_EXPIRE: Final = Action("sending.expire_holds")  # the sweep of due holds: a scheduler's job


def _positive(value: object) -> int:
    n = _args.quantity(value, "quantity")
    if n == 0:
        raise InvalidQuantity("a send's quantity must be at least 1", field="quantity")
    return n


def _hold_key(value: object) -> tuple[str, str]:
    if not isinstance(value, Hold):
        raise InvalidInput(f"hold must be a Hold, not {type(value).__name__}", field="hold")
    return value.account_id, value.key


class Sending:
    """Authorize, capture and release sends (``app.sending``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def _ledger(self, currency: object) -> str | None:
        return _args.currency(currency) if currency is not None else self._runner.settings.currency

    # -- commands ---------------------------------------------------------------------------

    @command
    def authorize(
        self,
        account_id: str,
        channel: Channel | str,
        quantity: int,
        *,
        key: str,
        by: Actor,
        label: str | None = None,
        dimensions: Mapping[str, str] | None = None,
        currency: str | None = None,
    ) -> Hold:
        """Hold a send of ``quantity`` messages on ``channel`` (one of the settings'
        ``channels``; ``dimensions`` such as the destination country pick the charge that
        prices it) from ``account_id`` under the send's idempotency ``key`` (the
        account's own), or refuse it with nothing held.
        ``currency`` names the credit ledger of a prepaid payer (default: the settings'
        ``currency``; it must be the payer's price currency)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        chosen = self._runner.settings.channels.require(channel)
        n, token, dims = _positive(quantity), _args.text(key, "key"), _args.dimensions(dimensions)
        tag = None if label is None else _args.text(label, "label")
        ledger = self._ledger(currency)
        ttl = self._runner.settings.send_hold_ttl

        def work(unit: Unit) -> Hold:
            holds = unit.uow.records(SEND_HOLDS)
            account, ancestors = unit.chain(where)
            unit.require(SEND_MESSAGES, account.id)
            stored = holds.find(scoped_key(account.id, token))
            if stored is not None:  # a retry answers the hold, whatever became of it
                stored.require_same_send(chosen, n, tag, dims)
                return stored
            period = BillingPeriod.of(unit.now)
            chain = [account.id, *(a.id for a in ancestors)]
            profiles = unit.uow.records(BILLING_PROFILES).find_many(chain)
            # the lifecycle up the tree, the period open, the quotas, the top of the
            # payer's price: or a typed refusal
            counted = _quotas.reserve(
                unit, account.id, period, n, token, channel=chosen, dims=dims, profiles=profiles
            )
            hold = Hold(
                unit.new_id(None, "hold"),
                account.id,
                token,
                chosen,
                n,
                period,
                unit.now,
                unit.now + ttl,
                label=tag,
                dimensions=dims,
                overage=counted.overage,
                owner_id=unit.user,
            )
            profile = _volumes.payer_profile(unit, chain, profiles)
            if profile is not None:
                hold = _priced(unit, hold, profile, ledger)
            _quotas.add_first(holds.add, hold)
            unit.emit(
                SendAuthorized(
                    **unit.meta().about(account.id),
                    hold_id=hold.id,
                    key=token,
                    period=str(period),
                    channel=str(chosen),
                    quantity=n,
                    payer_id=hold.payer_id,
                    amount=hold.amount,
                )
            )
            return hold

        return self._runner.command(who, work, ledger=ledger)

    @command
    def capture(self, hold: Hold, delivered: int, *, by: Actor) -> Hold:
        """Settle ``hold``: ``delivered`` of its messages went out (0 to its quantity).
        Records them as usage, spends their price from the credit held, gives back the
        rest; returns the captured hold."""
        who, (where, token) = _args.actor(by), _hold_key(hold)
        done = _args.quantity(delivered, "delivered")
        ledger = hold.amount.currency if hold.amount is not None else None

        def work(unit: Unit) -> Hold:
            stored = _stored(unit, where, token)
            if stored.status is HoldStatus.CAPTURED:  # a retry
                if stored.delivered != done:
                    raise IdempotencyConflict(
                        f"hold {quoted(stored.id)} was captured with {stored.delivered} "
                        f"delivered, not {done}",
                        key=stored.key,
                        account_id=stored.account_id,
                    )
                return stored
            stored.require_open(unit.now)
            volume = _captured(unit, stored) if stored.amount is not None else None
            charged = stored.delivery_price(0 if volume is None else volume.counted, done)
            captured = stored.captured(done, charged, unit.now)
            # the order every send's unit writes in (on PostgreSQL, the order row locks
            # are taken in: the same everywhere, so concurrent sends wait, never deadlock):
            # quota counters, the payer's volume, the ledger, the hold
            if done > 0:
                _record(unit, captured, volume)
            else:
                _quotas.release(unit, stored.account_id, stored.period, stored.key)
            _spend(unit, stored, charged)
            unit.uow.records(SEND_HOLDS).update(captured)
            unit.emit(
                SendCaptured(
                    **unit.meta().about(stored.account_id),
                    hold_id=stored.id,
                    key=stored.key,
                    delivered=done,
                    charged=charged,
                )
            )
            return captured

        return self._runner.command(who, work, ledger=ledger)

    @command
    def release(self, hold: Hold, *, by: Actor) -> Hold:
        """Give back all ``hold`` took (its send did not go out); a released or expired
        hold is answered as it is, a captured one refused (``HoldClosed``)."""
        who, (where, token) = _args.actor(by), _hold_key(hold)
        ledger = hold.amount.currency if hold.amount is not None else None

        def work(unit: Unit) -> Hold:
            stored = _stored(unit, where, token)
            if stored.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
                return stored
            stored.require_held()  # a captured hold is refused; one past expiry is not
            return _end(unit, stored, HoldStatus.RELEASED)

        return self._runner.command(who, work, ledger=ledger)

    @command
    def expire_holds(self, *, by: Actor = SYSTEM, now: datetime | None = None) -> list[Hold]:
        """Give back every hold open at or past its expiry (the system: a scheduler's job),
        ``now`` defaulting to the clock's time; returns the holds expired. Each hold ends
        in a unit of work of its own, so a sweep never blocks sends for long."""
        who = _args.actor(by)
        at = _args.optional_timestamp(now, "now")

        def due(unit: Unit) -> list[Hold]:
            unit.refuse_unless_system(_EXPIRE)
            cutoff = at if at is not None else unit.now
            listed = unit.uow.records(SEND_HOLDS).list_by("status", HoldStatus.HELD.value)
            return [h for h in listed if h.expires_at <= cutoff]

        expired = []
        for found in self._runner.query(who, due):
            ledger = found.amount.currency if found.amount is not None else None

            def end(unit: Unit, found: Hold = found) -> Hold | None:
                unit.refuse_unless_system(_EXPIRE)
                stored = _stored(unit, found.account_id, found.key)
                return _end(unit, stored, HoldStatus.EXPIRED) if stored.is_open else None

            ended = self._runner.command(who, end, ledger=ledger)
            if ended is not None:
                expired.append(ended)
        return expired

    # -- reads ------------------------------------------------------------------------------

    @query
    def hold(self, account_id: str, key: str, *, by: Actor) -> Hold:
        """The hold of ``account_id``'s send under ``key`` (``messages.send`` there)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        token = _args.text(key, "key")

        def work(unit: Unit) -> Hold:
            return _stored(unit, where, token)

        return self._runner.query(who, work)


# -- the steps (private) --------------------------------------------------------------------


def _stored(unit: Unit, account_id: str, key: str) -> Hold:
    """The hold of ``account_id``'s send under ``key``; ``messages.send`` there first, so
    that nobody else learns which accounts and keys exist."""
    unit.require(SEND_MESSAGES, account_id)
    found = unit.uow.records(SEND_HOLDS).find(scoped_key(account_id, key))
    if found is None:
        raise HoldNotFound(
            f"account {quoted(account_id)} has no send hold under key {quoted(key)}",
            account_id=account_id,
            key=key,
        )
    return found


def _model(profile: BillingProfile, hold: Hold) -> tuple[str, PriceModel]:
    """The charge of ``profile``'s price that bills ``hold``'s send (``NoMatchingCharge``
    when none does)."""
    return charge_for(profile.price, hold.channel, hold.dimensions)


def _priced(unit: Unit, hold: Hold, profile: BillingProfile, ledger: str | None) -> Hold:
    """``hold`` with its payer, and for a prepaid payer its price held on the wallet."""
    charge, model = _model(profile, hold)  # a send no charge bills is refused
    hold = attrs.evolve(hold, payer_id=profile.account_id, charge=charge)
    if not profile.prepaid:
        return hold
    if ledger is not None and ledger != model.currency:
        raise InvalidInput(
            f"payer {quoted(profile.account_id)} is priced in {model.currency}, not in the "
            f"ledger named ({ledger})",
            field="currency",
        )
    # (the reservation held the send within the top of the price, if it has one)
    stored = unit.uow.records(SEND_VOLUMES).find(
        _volumes.volume_key(profile.account_id, hold.period, charge)
    )
    base = 0 if stored is None else stored.counted  # captured so far: it only grows
    amount = Money(send_bound(model, base, hold.quantity), model.currency)
    reservation = None
    if amount.amount > 0:
        reservation = hold.id
        _ledger_write(
            unit,
            model.currency,
            Reserve(
                reservation_id=hold.id,
                account_id=hold.account_id,
                amount=amount,
                expires_at=hold.expires_at,
                key=f"{hold.id}.reserve",
                at=unit.now,
            ),
        )
    quoted_model = cast("ChargeModel", model)  # a profile's price is made of these
    return attrs.evolve(
        hold, base=base, model=quoted_model, amount=amount, reservation_id=reservation
    )


def _captured(unit: Unit, hold: Hold) -> SendVolume | None:
    """The volume of ``hold``'s charge its payer's captured sends delivered this period
    (``None``: none yet)."""
    if hold.payer_id is None or hold.charge is None:
        return None
    key = _volumes.volume_key(hold.payer_id, hold.period, hold.charge)
    return unit.uow.records(SEND_VOLUMES).find(key)


def _spend(unit: Unit, hold: Hold, charged: Money | None) -> None:
    """Commit ``charged`` of the hold's credit reservation, giving back the rest (a hold
    of nothing that still costs something spends it from the wallet)."""
    if charged is None:
        return
    request: LedgerRequest
    if hold.reservation_id is not None:
        request = Commit(
            reservation_id=hold.reservation_id,
            amount=charged,
            key=f"{hold.id}.capture",
            at=unit.now,
        )
    elif charged.amount > 0:  # a bound of 0 that did not hold: never silently free
        request = Spend(
            account_id=hold.account_id, amount=charged, key=f"{hold.id}.capture", at=unit.now
        )
    else:
        return
    _ledger_write(unit, charged.currency, request)


def _ledger_write(unit: Unit, currency: str, request: LedgerRequest) -> None:
    ledger_operation(unit, currency, request)  # events, low credit, auto top-up


def _record(unit: Unit, hold: Hold, volume: SendVolume | None) -> None:
    """Store what ``hold`` delivered as usage, settling its quota reservation, within the
    top of its payer's price; a prepaid hold's delivered messages join the base of its
    prices (``volume``: that base as read in this unit)."""
    assert hold.delivered is not None
    record = hold.usage(hold.delivered)
    account, ancestors = unit.chain(hold.account_id)
    chains: dict[str, tuple[Account, list[Account]]] = {account.id: (account, ancestors)}
    payers = _invoicing.Payers(unit, chains, [hold.period])
    late = payers.late(account, ancestors, hold.period)  # or PeriodAlreadyInvoiced
    identity = (record.account_id, record.idempotency_key)
    found = unit.uow.usage.find(hold.period, [identity])
    if not fresh_usage([record], lambda r: found.get(identity)):  # recorded already
        return  # (other content under the key: IdempotencyConflict)
    if late is not None:  # a late capture: billed as an adjustment on the next invoice
        _adjustments.note_late(unit, [(late, hold.period)])
    unit.uow.usage.add([record])
    captured, known = [], None
    if hold.amount is not None and hold.payer_id is not None and hold.charge is not None:
        captured = [(hold.payer_id, hold.charge, hold.delivered)]
        known = {_volumes.volume_key(hold.payer_id, hold.period, hold.charge): volume}
    _quotas.count_usage(
        unit,
        chains,
        hold.period,
        [record],
        profiles=payers.profiles,
        captured=captured,
        volumes=known,
    )
    unit.emit(
        UsageRecorded(
            **unit.meta().about(account.id),
            period=str(hold.period),
            quantity=record.quantity,
            records=1,
        )
    )


def _end(unit: Unit, hold: Hold, status: HoldStatus) -> Hold:
    """Give back all ``hold`` took: the quota, the credit, the payer's volume."""
    ended = hold.ended(status, unit.now)
    _quotas.release(unit, hold.account_id, hold.period, hold.key)  # the order of capture
    if hold.reservation_id is not None and hold.amount is not None:
        ledger = unit.uow.ledger(hold.amount.currency)
        reservation = ledger.reservation(hold.reservation_id)
        if reservation is not None and reservation.status is ReservationStatus.OPEN:
            release = Release(
                reservation_id=hold.reservation_id, key=f"{hold.id}.release", at=unit.now
            )
            _ledger_write(unit, hold.amount.currency, release)
    unit.uow.records(SEND_HOLDS).update(ended)
    unit.emit(
        SendReleased(
            **unit.meta().about(hold.account_id),
            hold_id=hold.id,
            key=hold.key,
            expired=status is HoldStatus.EXPIRED,
        )
    )
    return ended
