"""Monthly quotas: a limit per account, and caps a parent sets on each sub within its own.

A send by an account counts against its own quota and against every ancestor's (a parent's
limit covers its whole subtree). A sub's cap can never exceed an ancestor's limit; a
parent's limit can never drop below a sub's cap (``QuotaCapExceedsParent``). A send that
would go over a limit is refused with ``QuotaExceeded`` (code ``over_quota``) naming the
account, the limit, the volume used and the volume requested, unless that quota allows
overage (JangoMail's fluctuating-volume option): then it goes through and the excess is
billed at the end of the month by the true-up (``subacct.pricing.true_up``).

The state is an immutable value: ``reserve`` and ``release`` return a new state and
leave the old one as it was. Reservations carry an idempotency key, so a retried send
never counts twice. ``for_period`` starts the next month: usage resets, nothing carries
over.

>>> from subacct.pricing import BillingPeriod, Quota, QuotaState
>>> from subacct.errors import QuotaExceeded
>>> state = QuotaState(BillingPeriod(2026, 1), parents={"agency1": "agencydemo"},
...                    quotas={"agencydemo": Quota(10000), "agency1": Quota(6000)})
>>> state = state.reserve("agency1", 5000, key="send-1")
>>> state.check("agency1", 2000).refusal.details["limit"]
6000
>>> state.used("agencydemo"), state.remaining("agency1")
(5000, 1000)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from subacct._validators import instance_of
from subacct.domain.ids import AccountId
from subacct.errors import (
    IdempotencyConflict,
    InvalidInput,
    LifecycleError,
    QuotaCapExceedsParent,
    QuotaExceeded,
    ReservationNotFound,
    VolumeAboveLadder,
    quoted,
)
from subacct.pricing import _checks
from subacct.pricing.period import BillingPeriod

__all__ = ["Quota", "QuotaCheck", "QuotaState"]


def _limit(v: object) -> int:
    return _checks.quantity(v, field="limit")


@attrs.frozen
class Quota:
    """At most ``limit`` messages a month; past it, refuse unless ``allow_overage``.

    >>> Quota(30000, allow_overage=True).limit
    30000
    """

    limit: int = attrs.field(converter=_limit)
    allow_overage: bool = attrs.field(default=False, validator=instance_of(bool))


@attrs.frozen
class QuotaCheck:
    """The answer to "may this account send ``requested`` more messages now?"."""

    account_id: AccountId
    requested: int
    overage: int  # messages beyond a limit that allows overage (billed by the true-up)
    refusal: QuotaExceeded | LifecycleError | VolumeAboveLadder | None = attrs.field(eq=False)

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def without_figures(self) -> QuotaCheck:
        """The check as told to a caller who may not see the billing of the account whose
        limit refused (a sub's user, refused by its master's quota): which account's
        limit refused, not its limit or the volume used under it."""
        refusal = self.refusal
        if not isinstance(refusal, QuotaExceeded):
            return self
        holder = refusal.details.get("limited_by")
        told = QuotaExceeded(
            f"account {quoted(self.account_id)} may not send {self.requested} more this "
            f"period: the quota of {quoted(holder)} is reached",
            account_id=self.account_id,
            requested=self.requested,
            limited_by=holder,
            period=refusal.details.get("period"),
        )
        return attrs.evolve(self, refusal=told)


def _quotas(value: object) -> Mapping[AccountId, Quota]:
    if not isinstance(value, Mapping):
        raise InvalidInput("quotas must be a mapping account -> Quota", field="quotas")
    out: dict[AccountId, Quota] = {}
    for account, quota in value.items():
        if not isinstance(quota, Quota):
            raise InvalidInput(f"quota of {quoted(account)} must be a Quota", field="quotas")
        out[_checks.account(account)] = quota
    return MappingProxyType(out)


@attrs.frozen(eq=False)
class QuotaState:
    """Quotas, the account tree (child -> parent) and the period's usage so far."""

    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    parents: Mapping[AccountId, AccountId] = attrs.field(
        factory=dict, converter=_checks.parent_map, repr=False
    )
    quotas: Mapping[AccountId, Quota] = attrs.field(factory=dict, converter=_quotas)
    _used: Mapping[AccountId, int] = attrs.field(init=False, repr=False)
    _reservations: Mapping[str, tuple[AccountId, int]] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Checking every quota against its ancestors covers every (parent, sub) pair once.
        for account in self.quotas:
            self._check_caps(account, self.quotas[account], downward=False)
        object.__setattr__(self, "_used", MappingProxyType({}))
        object.__setattr__(self, "_reservations", MappingProxyType({}))

    def _evolve(
        self,
        *,
        quotas: Mapping[AccountId, Quota] | None = None,
        used: Mapping[AccountId, int] | None = None,
        reservations: Mapping[str, tuple[AccountId, int]] | None = None,
    ) -> QuotaState:
        # Everything here was validated already: copy the fields without re-validating.
        state: QuotaState = object.__new__(QuotaState)
        fields = {
            "period": self.period,
            "parents": self.parents,
            "quotas": self.quotas if quotas is None else MappingProxyType(dict(quotas)),
            "_used": self._used if used is None else MappingProxyType(dict(used)),
            "_reservations": (
                self._reservations if reservations is None else MappingProxyType(dict(reservations))
            ),
        }
        for name, value in fields.items():
            object.__setattr__(state, name, value)
        return state

    @classmethod
    def restore(
        cls,
        period: BillingPeriod,
        parents: Mapping[str, str],
        quotas: Mapping[str, Quota],
        used: Mapping[str, int],
        reservations: Mapping[str, tuple[str, int]] | None = None,
    ) -> QuotaState:
        """A state with ``used`` volumes already counted and ``reservations`` (key ->
        (account, quantity)) already made, as a store keeps them, so a service can check,
        reserve, release and record against what is stored."""
        state = cls(period, parents, quotas)
        counted = {_checks.account(a): _checks.quantity(n, field="used") for a, n in used.items()}
        held = {
            _checks.text(k, field="key"): (_checks.account(a), _checks.quantity(n))
            for k, (a, n) in (reservations or {}).items()
        }
        return state._evolve(used=counted, reservations=held)

    def counts(self) -> Mapping[AccountId, int]:
        """The volume counted so far per account (its own and its subtree's)."""
        return self._used

    def reservation(self, key: str) -> tuple[AccountId, int] | None:
        """``(account, quantity)`` reserved under ``key``, if any."""
        return self._reservations.get(key)

    def chain(self, account_id: str) -> tuple[AccountId, ...]:
        """The account, then its parent, up to the top."""
        out = [_checks.account(account_id)]
        while out[-1] in self.parents:
            out.append(self.parents[out[-1]])
        return tuple(out)

    def _descendants(self, account_id: AccountId) -> list[AccountId]:
        return [a for a in self.parents if account_id in self.chain(a)[1:]]

    def _check_caps(self, account: AccountId, quota: Quota, *, downward: bool = True) -> None:
        for ancestor in self.chain(account)[1:]:
            above = self.quotas.get(ancestor)
            if above is not None and quota.limit > above.limit:
                raise QuotaCapExceedsParent(
                    f"the cap of {quoted(account)} ({quota.limit}) would exceed the limit of "
                    f"{quoted(ancestor)} ({above.limit})",
                    account_id=account,
                    limit=quota.limit,
                    parent_id=ancestor,
                    parent_limit=above.limit,
                )
        for below in self._descendants(account) if downward else ():
            capped = self.quotas.get(below)
            if capped is not None and capped.limit > quota.limit:
                raise QuotaCapExceedsParent(
                    f"the limit of {quoted(account)} ({quota.limit}) would be below the cap of "
                    f"its sub {quoted(below)} ({capped.limit})",
                    account_id=below,
                    limit=capped.limit,
                    parent_id=account,
                    parent_limit=quota.limit,
                )

    def with_quota(self, account_id: str, quota: Quota | None) -> QuotaState:
        """A state where ``account_id`` has ``quota`` (``None`` removes it); usage is kept."""
        account = _checks.account(account_id)
        quotas = dict(self.quotas)
        if quota is None:
            quotas.pop(account, None)
        else:
            if not isinstance(quota, Quota):
                raise InvalidInput("quota must be a Quota or None", field="quota")
            self._check_caps(account, quota)
            quotas[account] = quota
        return self._evolve(quotas=quotas)

    def moved(self, account_id: str, new_parent: str | None) -> QuotaState:
        """The state once ``account_id`` and its subtree move under ``new_parent`` (``None``:
        it becomes top-level). Its volume of the period leaves the counts of the ancestors
        it leaves and joins those of the ancestors it gains (an ancestor it keeps keeps
        it), and every quota in the subtree must fit under its new ancestors' limits
        (``QuotaCapExceedsParent``). The state must know both chains and the subtree.

        >>> from subacct.pricing.period import BillingPeriod
        >>> state = QuotaState.restore(BillingPeriod(2026, 1), {"a": "m"}, {},
        ...                            {"a": 40, "m": 50, "n": 5})
        >>> after = state.moved("a", "n")
        >>> after.used("m"), after.used("n"), after.used("a")
        (10, 45, 40)
        """
        account = _checks.account(account_id)
        parents = dict(self.parents)
        if new_parent is None:
            parents.pop(account, None)
        else:
            parents[account] = _checks.account(new_parent, field="new_parent")
        placed = QuotaState(self.period, parents, self.quotas)  # checks every cap anew
        old, new = self.chain(account)[1:], placed.chain(account)[1:]
        volume = self.used(account)
        used = dict(self._used)
        for ancestor in old:
            if ancestor not in new:  # never below zero (as ``release``), whatever was stored
                used[ancestor] = max(0, used.get(ancestor, 0) - volume)
        for ancestor in new:
            if ancestor not in old:
                used[ancestor] = used.get(ancestor, 0) + volume
        return placed._evolve(used=used, reservations=self._reservations)

    def used(self, account_id: str) -> int:
        """Messages sent this period by the account and every account below it."""
        return self._used.get(AccountId(account_id), 0)

    def remaining(self, account_id: str) -> int | None:
        """Messages the account can still send before a hard limit (``None``: no limit)."""
        room = [
            q.limit - self.used(a)
            for a in self.chain(account_id)
            if (q := self.quotas.get(a)) is not None and not q.allow_overage
        ]
        return max(0, min(room)) if room else None

    def check(self, account_id: str, requested: int) -> QuotaCheck:
        """May ``account_id`` send ``requested`` more? The first limit crossed decides."""
        account = _checks.account(account_id)
        n = _checks.quantity(requested, field="requested")
        overage = 0
        for holder in self.chain(account):
            quota = self.quotas.get(holder)
            if quota is None:
                continue
            used = self.used(holder)
            if used + n <= quota.limit:
                continue
            if quota.allow_overage:
                overage = max(overage, min(n, used + n - quota.limit))
                continue
            refusal = QuotaExceeded(
                f"account {quoted(account)} is over quota: {used} of {quota.limit} messages used "
                f"this period{'' if holder == account else f' under {quoted(holder)}'}, "
                f"{n} more requested",
                account_id=account,
                limit=quota.limit,
                used=used,
                requested=n,
                limited_by=holder,
                period=str(self.period),
            )
            return QuotaCheck(account, n, overage, refusal)
        return QuotaCheck(account, n, overage, None)

    def reserve(self, account_id: str, requested: int, *, key: str) -> QuotaState:
        """Count a send against the quotas, or raise ``QuotaExceeded``. Idempotent by ``key``."""
        key = _checks.text(key, field="key")
        decision = self.check(account_id, requested)
        previous = self._reservations.get(key)
        if previous is not None:
            if previous == (decision.account_id, decision.requested):
                return self
            raise IdempotencyConflict(
                f"reservation key {quoted(key)} was already used for another send", key=key
            )
        if decision.refusal is not None:
            raise decision.refusal
        used = dict(self._used)
        for holder in self.chain(decision.account_id):
            used[holder] = used.get(holder, 0) + decision.requested
        reservations = {**self._reservations, key: (decision.account_id, decision.requested)}
        return self._evolve(used=used, reservations=reservations)

    def release(self, key: str) -> QuotaState:
        """Give back a reservation (the send did not happen)."""
        reservation = self._reservations.get(key)
        if reservation is None:
            raise ReservationNotFound(f"no reservation under key {quoted(key)}", key=key)
        account, n = reservation
        used = dict(self._used)
        for holder in self.chain(account):
            used[holder] = max(0, used.get(holder, 0) - n)
        reservations = {k: v for k, v in self._reservations.items() if k != key}
        return self._evolve(used=used, reservations=reservations)

    def record(self, account_id: str, quantity: int, *, settles: str | None = None) -> QuotaState:
        """Count ``quantity`` messages that were sent (recorded usage) against the quotas
        up the tree. Never refused: the messages went out; a later send is refused
        instead. ``settles`` names the reservation the usage replaces (its hold is given
        back first, so a reserved send counts once, at its recorded size).

        >>> state = QuotaState(BillingPeriod(2026, 1), quotas={"agency1": Quota(6000)})
        >>> state = state.reserve("agency1", 100, key="s1").record("agency1", 90, settles="s1")
        >>> state.used("agency1"), state.reservation("s1")
        (90, None)
        """
        account = _checks.account(account_id)
        n = _checks.quantity(quantity)
        state = self
        if settles is not None and settles in self._reservations:
            state = self.release(settles)
        used = dict(state._used)
        for holder in state.chain(account):
            used[holder] = used.get(holder, 0) + n
        return state._evolve(used=used)

    def record_many(self, sends: Iterable[tuple[str, int, str | None]]) -> QuotaState:
        """``record`` each ``(account, quantity, settles)`` in turn, in one step (a batch
        of usage costs what it counts, not the size of the state per record).

        >>> state = QuotaState(BillingPeriod(2026, 1), parents={"s": "m"})
        >>> state = state.reserve("s", 10, key="k1")
        >>> after = state.record_many([("s", 8, "k1"), ("m", 5, None)])
        >>> after.used("m"), after.used("s"), after.reservation("k1")
        (13, 8, None)
        """
        used = dict(self._used)
        reservations = dict(self._reservations)
        for account_id, quantity, settles in sends:
            account = _checks.account(account_id)
            n = _checks.quantity(quantity)
            held = reservations.pop(settles, None) if settles is not None else None
            if held is not None:
                for holder in self.chain(held[0]):
                    used[holder] = max(0, used.get(holder, 0) - held[1])
            for holder in self.chain(account):
                used[holder] = used.get(holder, 0) + n
        return self._evolve(used=used, reservations=reservations)

    def for_period(self, period: BillingPeriod) -> QuotaState:
        """The same quotas for ``period``, with nothing used (unused volume never carries)."""
        return QuotaState(period, self.parents, self.quotas)
