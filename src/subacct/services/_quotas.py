"""Usage and quotas over storage (private): load the state, call the core
(``subacct.pricing.QuotaState``, ``fresh_usage``, ``require_can_send``,
``require_billed``), save what changed, emit the events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, TypeVar

from subacct.domain import Account, AccountId, require_can_send
from subacct.domain.events import QuotaReleased, QuotaReserved, QuotaSet, UsageRecorded
from subacct.domain.lifecycle import require_billed
from subacct.errors import (
    AlreadyExists,
    ConcurrentModification,
    NotFound,
    QuotaExceeded,
    ReservationNotFound,
    quoted,
)
from subacct.policy import SEND_MESSAGES, VIEW_BILLING, Action
from subacct.pricing import BillingPeriod, Quota, QuotaCheck, QuotaState, UsageRecord
from subacct.pricing.channels import Dimensions
from subacct.pricing.profiles import (
    BillingProfile,
    QuotaCounter,
    QuotaReservation,
    QuotaSetting,
    scoped_key,
)
from subacct.pricing.usage import fresh_usage
from subacct.services import _adjustments, _invoicing, _thresholds, _volumes
from subacct.services._runner import Unit
from subacct.storage.collections import (
    BILLING_PROFILES,
    QUOTA_COUNTERS,
    QUOTA_RESERVATIONS,
    QUOTAS,
    STATUS_HISTORY,
)
from subacct.storage.ports import UnitOfWork

_SET_QUOTA: Final = Action("billing.set_quota")
R = TypeVar("R")


def quotas_of(uow: UnitOfWork, accounts: Iterable[Account]) -> dict[str, Quota]:
    found = uow.records(QUOTAS).find_many(a.id for a in accounts)
    return {a: s.quota for a, s in found.items()}


def counter_key(account_id: str, period: BillingPeriod) -> str:
    return f"{account_id}/{period}"


def reservation_key(period: BillingPeriod, account_id: str, key: str) -> str:
    """A stored reservation's record key (``QUOTA_RESERVATIONS``): a send's key is its
    account's own (``QuotaReservation.scoped_key``)."""
    return f"{period}/{scoped_key(account_id, key)}"


def held_key(account_id: str, key: str) -> str:
    """A reservation's key in a ``QuotaState`` over several accounts' chains."""
    return scoped_key(account_id, key)


def load(
    uow: UnitOfWork, account: Account, period: BillingPeriod, keys: Iterable[str] = ()
) -> tuple[QuotaState, list[Account]]:
    """The stored quota state of ``account``'s chain in ``period``, with ``account``'s
    reservations under ``keys``."""
    chain = [account, *uow.accounts.ancestors(account.id)]
    state, _counters, _held = restore(uow, chain, period, [(account.id, k) for k in keys])
    return state, chain


def restore(
    uow: UnitOfWork,
    accounts: Sequence[Account],
    period: BillingPeriod,
    keys: Iterable[tuple[str, str]] = (),
) -> tuple[QuotaState, dict[str, QuotaCounter], dict[str, QuotaReservation]]:
    """The stored quota state of ``accounts`` (whole chains) in ``period`` with the
    reservations under ``keys`` (``(account, key)`` pairs; in the state under
    ``held_key``), from one read of each kind; and the counters and reservations read,
    by record key."""
    counters = uow.records(QUOTA_COUNTERS).find_many(counter_key(a.id, period) for a in accounts)
    held = uow.records(QUOTA_RESERVATIONS).find_many(reservation_key(period, a, k) for a, k in keys)
    state = QuotaState.restore(
        period,
        {a.id: a.parent_id for a in accounts if a.parent_id is not None},
        quotas_of(uow, accounts),
        {c.account_id: c.used for c in counters.values()},
        {held_key(r.account_id, r.key): (r.account_id, r.quantity) for r in held.values()},
    )
    return state, counters, held


def save(
    unit: Unit,
    chain: Sequence[Account],
    period: BillingPeriod,
    before: QuotaState,
    after: QuotaState,
    stored: dict[str, QuotaCounter] | None = None,
) -> None:
    """Write the counters of ``chain`` that changed from ``before`` to ``after``
    (``stored``: the counters as already read, by key; else each is read here), and
    report the quota thresholds they reached (``_thresholds.after_quota``)."""
    counters = unit.uow.records(QUOTA_COUNTERS)
    for account in chain:
        old, new = before.used(account.id), after.used(account.id)
        if old == new:
            continue
        key = counter_key(account.id, period)
        found = counters.find(key) if stored is None else stored.get(key)
        if (0 if found is None else found.used) != old:
            # read again under READ COMMITTED (a unit using the ledger on PostgreSQL),
            # the counter moved since ``before`` was read: writing ``new`` would lose it
            raise ConcurrentModification(f"quota counter {quoted(key)} changed; retry")
        if found is None:
            add_first(counters.add, QuotaCounter(AccountId(account.id), period, new))
        else:
            counters.update(QuotaCounter(account.id, period, new, found.version + 1))
    _thresholds.after_quota(unit, chain, period, before, after)


def add_first(add: Callable[[R], None], record: R) -> None:
    """``add`` a record a concurrent unit may add first under the same key (a period's
    first counter, a send's reservation): that is a lost race (``ConcurrentModification``:
    the unit runs again and finds it), not a refusal."""
    try:
        add(record)
    except AlreadyExists as taken:
        raise ConcurrentModification(f"{taken} (added concurrently)") from taken


def told(unit: Unit, check: QuotaCheck) -> QuotaCheck:
    """``check`` as the caller may see it: the figures of a quota refusal by an ancestor's
    limit only for those with ``billing.view`` there (``QuotaCheck.without_figures``)."""
    refusal = check.refusal
    holder = refusal.details.get("limited_by") if isinstance(refusal, QuotaExceeded) else None
    if holder is None or holder == check.account_id:
        return check
    return check if unit.decide(VIEW_BILLING, holder).allowed else check.without_figures()


def follow_move(
    unit: Unit, account: Account, new_chain: Sequence[Account], subtree: Sequence[Account]
) -> None:
    """Before ``account`` and ``subtree`` (its descendants) move under ``new_chain`` (the
    new parent, then its ancestors; empty: to the top): refuse a quota of the subtree
    above its new ancestors' limits, and carry the subtree's counts of the current month
    from the old ancestors to the new ones (``QuotaState.moved``). Earlier months keep
    the counts they were enforced with."""
    uow, period = unit.uow, BillingPeriod.of(unit.now)
    old_chain = uow.accounts.ancestors(account.id)
    known = {a.id: a for a in (account, *old_chain, *new_chain, *subtree)}
    counters = uow.records(QUOTA_COUNTERS)
    used: dict[str, int] = {
        a.id: c.used
        for a in (account, *old_chain, *new_chain)
        if (c := counters.find(counter_key(a.id, period))) is not None
    }
    parents: dict[str, str] = {a.id: a.parent_id for a in known.values() if a.parent_id}
    state = QuotaState.restore(period, parents, quotas_of(uow, known.values()), used)
    after = state.moved(account.id, new_chain[0].id if new_chain else None)
    save(unit, [*old_chain, *new_chain], period, state, after)


def record_usage(unit: Unit, batch: Sequence[UsageRecord]) -> int:
    """Store the new records of ``batch`` (rights first, for every account named; then the
    lifecycle, for the accounts with new records), count them against the quotas (each
    settling the reservation under its key), and emit their events. Returns how many
    were new. Storage is read once per batch, not once per record: a batch costs about
    what a few of its accounts and its rows cost."""
    uow = unit.uow
    chains: dict[str, tuple[Account, list[Account]]] = {}  # each account and its ancestors
    for record in batch:
        if record.account_id not in chains:
            chains[record.account_id] = unit.chain(record.account_id)
            unit.require(SEND_MESSAGES, record.account_id)
    stored: dict[tuple[BillingPeriod, AccountId, str], UsageRecord] = {}
    for period, keys in _keys_by_period(batch).items():
        stored.update(((period, *k), r) for k, r in uow.usage.find(period, keys).items())
    fresh = fresh_usage(batch, lambda r: stored.get((r.period, r.account_id, r.idempotency_key)))
    for account_id in dict.fromkeys(r.account_id for r in fresh):
        require_can_send(*chains[account_id])
    months = dict.fromkeys((r.account_id, r.period) for r in fresh)
    for period in dict.fromkeys(p for _, p in months):
        period.require_begun(unit.now, field="records")
    chain_ids = {a.id for account, above in chains.values() for a in (account, *above)}
    histories = uow.records(STATUS_HISTORY).find_many(chain_ids)
    payers = _invoicing.Payers(unit, chains, [p for _, p in months])
    late: list[tuple[AccountId, BillingPeriod]] = []
    for account_id, period in months:
        account, ancestors = chains[account_id]
        if (payer := payers.late(account, ancestors, period)) is not None:
            late.append((payer, period))  # billed as an adjustment on its next invoice
        require_billed(
            account.id, account.created_at, histories.get(account.id), period.start,
            period.end, label=str(period),
            ancestors=[h for a in ancestors if (h := histories.get(a.id)) is not None],
        )  # fmt: skip
    for record in fresh:  # a charge of its payer's price bills it (NoMatchingCharge)
        payers.require_charged(record, *chains[record.account_id])
    uow.usage.add(fresh)
    _adjustments.note_late(unit, late)
    for period, records in _by_period(fresh).items():
        count_usage(unit, chains, period, records, profiles=payers.profiles)
    grouped: dict[tuple[AccountId, str], list[UsageRecord]] = {}
    for record in fresh:
        grouped.setdefault((record.account_id, str(record.period)), []).append(record)
    for (account_id, period_text), rows in grouped.items():
        unit.emit(
            UsageRecorded(
                **unit.meta().about(account_id),
                period=period_text,
                quantity=sum(r.quantity for r in rows),
                records=len(rows),
            )
        )
    return len(fresh)


def _by_period(records: Iterable[UsageRecord]) -> dict[BillingPeriod, list[UsageRecord]]:
    out: dict[BillingPeriod, list[UsageRecord]] = {}
    for record in records:
        out.setdefault(record.period, []).append(record)
    return out


def _keys_by_period(
    records: Iterable[UsageRecord],
) -> dict[BillingPeriod, list[tuple[AccountId, str]]]:
    return {
        p: [(r.account_id, r.idempotency_key) for r in rs] for p, rs in _by_period(records).items()
    }


def count_usage(
    unit: Unit,
    chains: dict[str, tuple[Account, list[Account]]],
    period: BillingPeriod,
    records: Sequence[UsageRecord],
    *,
    profiles: Mapping[str, BillingProfile] | None = None,
    captured: Iterable[tuple[str, str, int]] = (),
    volumes: _volumes.Volumes | None = None,
) -> None:
    """Count ``records`` (all of ``period``) against the quotas up the tree, in one
    state over every chain they touch, and against the top of their payers' prices
    (``_volumes.count``: ``VolumeAboveLadder``); a record under the key of a reservation
    of the same account settles that reservation. ``profiles``: the billing profiles of
    the chains, when read; ``captured`` and ``volumes``: a prepaid capture's delivered
    messages and the volumes read for it (``_volumes.count``)."""
    uow = unit.uow
    touched = {
        a.id: a for r in records for a in (chains[r.account_id][0], *chains[r.account_id][1])
    }
    accounts = list(touched.values())
    pairs = [(r.account_id, r.idempotency_key) for r in records]
    state, counters, held = restore(uow, accounts, period, pairs)
    settled: list[QuotaReservation] = []
    sends: list[tuple[str, int, str | None]] = []
    for record in records:
        stored_key = reservation_key(period, record.account_id, record.idempotency_key)
        hold = held.pop(stored_key, None)  # a key settles once
        settles = None
        if hold is not None:
            settled.append(hold)
            settles = held_key(record.account_id, record.idempotency_key)
        sends.append((record.account_id, record.quantity, settles))
    after = state.record_many(sends)
    save(unit, accounts, period, state, after, counters)
    if profiles is None:
        profiles = uow.records(BILLING_PROFILES).find_many(touched)
    recorded = []
    for record in records:
        account, above = chains[record.account_id]
        profile = _volumes.payer_profile(unit, [a.id for a in (account, *above)], profiles)
        room = _volumes.room_of(profile, record.channel, record.dimensions)
        if room is not None:
            recorded.append((room, record.quantity))
    _volumes.count(
        unit,
        period,
        released=[(r.payer_id, r.charge, r.quantity) for r in settled],
        recorded=recorded,
        captured=captured,
        found=volumes,
    )
    repo = uow.records(QUOTA_RESERVATIONS)
    for reservation in settled:
        repo.remove(QUOTA_RESERVATIONS.key_of(reservation))
        unit.emit(
            QuotaReleased(
                **unit.meta().about(reservation.account_id),
                period=str(period),
                key=reservation.key,
                quantity=reservation.quantity,
                settled=True,
            )
        )


def reserve(
    unit: Unit,
    account_id: str,
    period: BillingPeriod,
    quantity: int,
    key: str,
    *,
    channel: str | None = None,
    dims: Dimensions | None = None,
    profiles: Mapping[str, BillingProfile] | None = None,
) -> QuotaCheck:
    """Count a send of ``quantity`` under ``key`` on ``channel`` against the quotas up the
    tree and the top of its payer's price (a retry of the key answers what it
    reserved), or refuse it. ``profiles``: the chain's billing profiles, when read."""
    account, above = unit.chain(account_id)
    unit.require(SEND_MESSAGES, account.id)
    chain = [account, *above]
    state, counters, held = restore(unit.uow, chain, period, [(account.id, key)])
    stored = held.get(reservation_key(period, account.id, key))
    if stored is not None:  # a retry, or IdempotencyConflict
        state.reserve(account.id, quantity, key=held_key(account.id, key))
        return QuotaCheck(stored.account_id, stored.quantity, stored.overage, None)
    require_can_send(account, chain[1:])
    period.require_begun(unit.now)
    decision = state.check(account.id, quantity)
    refusal = told(unit, decision).refusal
    if refusal is not None:
        raise refusal
    room = send_room(unit, chain, channel, dims, profiles)
    after = state.reserve(account.id, quantity, key=held_key(account.id, key))
    reservation = QuotaReservation(
        period,
        key,
        account.id,
        quantity,
        decision.overage,
        None if room is None else room.payer_id,
        None if room is None else room.charge,
    )
    add_first(unit.uow.records(QUOTA_RESERVATIONS).add, reservation)
    save(unit, chain, period, state, after, counters)
    _volumes.take(unit, room, period, quantity)  # within the top of the payer's price
    unit.emit(
        QuotaReserved(
            **unit.meta().about(account.id),
            period=str(period),
            key=key,
            quantity=quantity,
            overage=decision.overage,
        )
    )
    return decision


def release(unit: Unit, account_id: str, period: BillingPeriod, key: str) -> QuotaReservation:
    """Give back what ``account_id``'s send under ``key`` reserved."""
    account, above = unit.chain(account_id)
    unit.require(SEND_MESSAGES, account.id)
    chain = [account, *above]
    state, counters, held = restore(unit.uow, chain, period, [(account.id, key)])
    stored = held.get(reservation_key(period, account.id, key))
    if stored is None:
        raise ReservationNotFound(
            f"account {quoted(account.id)} has no reservation under key {quoted(key)}",
            key=key,
            account_id=account.id,
        )
    save(unit, chain, period, state, state.release(held_key(account.id, key)), counters)
    _volumes.count(unit, period, released=[(stored.payer_id, stored.charge, stored.quantity)])
    unit.uow.records(QUOTA_RESERVATIONS).remove(QUOTA_RESERVATIONS.key_of(stored))
    unit.emit(
        QuotaReleased(
            **unit.meta().about(account.id),
            period=str(period),
            key=key,
            quantity=stored.quantity,
            settled=False,
        )
    )
    return stored


def send_room(
    unit: Unit,
    chain: Sequence[Account],
    channel: str | None,
    dims: Dimensions | None,
    profiles: Mapping[str, BillingProfile] | None = None,
) -> _volumes.Room | None:
    """The payer's volume a send from ``chain[0]`` on ``channel`` counts in, when its
    price has a top (``_volumes.room_of``)."""
    profile = _volumes.payer_profile(unit, [a.id for a in chain], profiles)
    return _volumes.room_of(profile, channel, dims)


def set_quota(unit: Unit, account_id: str, quota: Quota | None) -> Quota | None:
    """Set (or with ``None`` remove) the account's quota, its caps checked up and down."""
    uow = unit.uow
    account = uow.accounts.get(AccountId(account_id))
    account.require_open()  # like a billing profile or a subscription
    unit.require_from_above(_SET_QUOTA, account)
    tree = [account, *uow.accounts.ancestors(account.id), *uow.accounts.descendants(account.id)]
    state = QuotaState(
        BillingPeriod(2000, 1),  # caps do not depend on the period
        {a.id: a.parent_id for a in tree if a.parent_id is not None},
        quotas_of(uow, tree),
    )
    state.with_quota(account.id, quota)  # refuses a cap above an ancestor's limit
    repo = uow.records(QUOTAS)
    stored = repo.find(account.id)
    if quota is None:
        if stored is None:
            raise NotFound(f"account {quoted(account.id)} has no quota", account_id=account.id)
        repo.remove(account.id)
    elif stored is None:
        repo.add(QuotaSetting(account.id, quota))
    else:
        repo.update(QuotaSetting(account.id, quota))
    unit.emit(
        QuotaSet(
            **unit.meta().about(account.id),
            limit=None if quota is None else quota.limit,
            allow_overage=False if quota is None else quota.allow_overage,
        )
    )
    return quota
