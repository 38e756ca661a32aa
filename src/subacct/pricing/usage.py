"""Usage: what each account sent in a period, counted once per idempotency key.

A ``UsageRecord`` says that an account sent ``quantity`` messages on a channel (any
``Channel`` name; the application's ``ChannelCatalog`` says which it offers), optionally
with ``dimensions`` (``{"country": "DE"}``: what a price's charges match on), under a
label (sms77's labels for analysis inside a sub-account) and by a user (``owner_id``),
with the idempotency key of the send. A ``UsageBook`` is
the period's immutable collection: ``ingest`` returns a new book. A key seen again with
the same content is a retry and counts once; the same key with different content raises
``IdempotencyConflict``; a record of another period raises ``PeriodMismatch``. A refused
batch leaves the book as it was (the old book is never changed).

Aggregation is per account (``total``, ``totals``), per label or channel inside an account,
over any set of accounts (``total_of``) and rolled up over a subtree given as data
(``subtree_totals`` with a child -> parent mapping).

>>> from subacct.pricing import BillingPeriod, Channel, UsageBook, UsageRecord
>>> jan = BillingPeriod(2026, 1)
>>> r1 = UsageRecord("agency1", jan, Channel.EMAIL, 5000, "send-1", label="newsletter")
>>> r2 = UsageRecord("agency1", jan, Channel.SMS, 300, "send-2")
>>> book = UsageBook(jan).ingest([r1, r2, r1])  # r1 retried: counted once
>>> book.total("agency1"), book.by_label("agency1")
(5300, {None: 300, 'newsletter': 5000})
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from operator import attrgetter
from types import MappingProxyType
from typing import Final, TypeAlias

import attrs

from subacct._validators import instance_of
from subacct.domain.ids import AccountId, UserId, check_id
from subacct.errors import (
    HierarchyCycle,
    IdempotencyConflict,
    InvalidInput,
    InvalidQuantity,
    PeriodMismatch,
    quoted,
)
from subacct.pricing import _checks
from subacct.pricing.channels import Channel, Dimensions, dimensions
from subacct.pricing.period import BillingPeriod

__all__ = [
    "MAX_QUANTITY",
    "Channel",
    "UsageBook",
    "UsageGroup",
    "UsageRecord",
    "UsageSlice",
    "fresh_usage",
    "group_totals",
    "slice_totals",
    "subtree_total",
    "subtree_totals",
    "usage_totals",
]


UsageSlice: TypeAlias = tuple[Channel, Dimensions]
"""What storage sums usage by inside an account: the channel and the dimensions."""


UsageGroup: TypeAlias = tuple[AccountId, str | None, UserId | None, Channel, Dimensions]
"""What storage sums usage by for reports: ``(account, label, owner, channel,
dimensions)`` (``UsageRecord.usage_group``)."""


MAX_QUANTITY: Final = 10**15
"""The most messages one usage record may count (storage keeps quantities as 64-bit
integers; a period's totals are exact beyond that)."""


def _quantity(value: object) -> int:
    n = _checks.quantity(value)
    if n > MAX_QUANTITY:
        raise InvalidQuantity(
            f"quantity must be at most {MAX_QUANTITY:,} messages per record, got {n}",
            field="quantity",
            value=repr(value),
        )
    return n


def _key(v: object) -> str:
    return _checks.text(v, field="idempotency_key")


def _label(v: object) -> str | None:
    return _checks.optional_text(v, field="label")


def _owner(v: object) -> UserId | None:
    return None if v is None else UserId(check_id(v, field="owner_id"))


@attrs.frozen
class UsageRecord:
    """``quantity`` messages sent by ``account_id`` in ``period`` (one idempotent send),
    on ``channel`` with ``dimensions``, under ``label``, by the user ``owner_id``
    (``None``: the system or an API key). Every field is content: the same key with other
    dimensions or another owner is an ``IdempotencyConflict``."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    channel: Channel = attrs.field(converter=Channel)
    quantity: int = attrs.field(converter=_quantity)
    idempotency_key: str = attrs.field(converter=_key)
    label: str | None = attrs.field(default=None, converter=_label)
    dimensions: Dimensions = attrs.field(default=None, converter=dimensions)
    owner_id: UserId | None = attrs.field(default=None, converter=_owner)

    @property
    def usage_slice(self) -> UsageSlice:
        """``(channel, dimensions)``: what a price's charges match the record on."""
        return (self.channel, self.dimensions)

    @property
    def usage_group(self) -> UsageGroup:
        """``(account, label, owner, channel, dimensions)``: what a report sums by."""
        return (self.account_id, self.label, self.owner_id, self.channel, self.dimensions)


_KEY = attrgetter("account_id", "idempotency_key")  # a record's identity in a period
_PERIOD = attrgetter("period")
_ACCOUNT_QUANTITY = attrgetter("account_id", "quantity")


@attrs.frozen(eq=False)
class UsageBook:
    """The usage of one period, deduplicated by (account, idempotency key): a key is the
    account's own, so two accounts may use the same key. Immutable."""

    period: BillingPeriod = attrs.field(validator=instance_of(BillingPeriod))
    _records: tuple[UsageRecord, ...] = attrs.field(init=False, repr=False)
    _keys: AbstractSet[tuple[AccountId, str]] = attrs.field(init=False, repr=False)  # frozen
    _totals: Mapping[AccountId, int] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_records", ())
        object.__setattr__(self, "_keys", frozenset())
        object.__setattr__(self, "_totals", {})

    def _with(
        self,
        records: tuple[UsageRecord, ...],
        keys: AbstractSet[tuple[AccountId, str]],
        totals: dict[AccountId, int],
    ) -> UsageBook:
        book = UsageBook(self.period)
        object.__setattr__(book, "_records", records)
        object.__setattr__(book, "_keys", keys)
        object.__setattr__(book, "_totals", totals)
        return book

    def _fresh_slow(
        self, batch: tuple[UsageRecord, ...], keys: set[tuple[AccountId, str]]
    ) -> tuple[UsageRecord, ...]:
        """New records in first-seen order; refuses a key reused with other content."""
        clashing = keys & self._keys
        seen: dict[tuple[AccountId, str], UsageRecord] = (
            {_KEY(r): r for r in self._records if _KEY(r) in clashing} if clashing else {}
        )
        fresh: list[UsageRecord] = []
        for record in batch:
            key = record.idempotency_key
            known = seen.get(_KEY(record))
            if known is None:
                seen[_KEY(record)] = record
                fresh.append(record)
            elif known != record:
                raise IdempotencyConflict(
                    f"idempotency key {quoted(key)} was already used for a different usage record",
                    idempotency_key=key,
                    account_id=record.account_id,
                )
        return tuple(fresh)

    def ingest(self, records: Iterable[UsageRecord]) -> UsageBook:
        """A new book with ``records`` added (retries counted once). All or nothing.

        The hot path sums plain integers per account; no money is computed here. A tuple
        is kept as it is (it is immutable), any other iterable is copied.
        """
        batch = records if type(records) is tuple else tuple(records)
        if set(map(type, batch)) - {UsageRecord}:
            bad = next(r for r in batch if type(r) is not UsageRecord)
            raise InvalidInput(f"expected a UsageRecord, got {type(bad).__name__}")
        period = self.period
        for record_period in set(map(_PERIOD, batch)):  # BillingPeriod caches its hash
            if record_period != period:
                raise PeriodMismatch(
                    f"a usage record for {record_period} cannot go into the book of {period}",
                    field="period",
                )
        keys = set(map(_KEY, batch))
        fresh = batch
        if len(keys) != len(batch) or not keys.isdisjoint(self._keys):
            fresh = self._fresh_slow(batch, keys)
            keys = set(map(_KEY, fresh))
        totals = dict(self._totals)
        get = totals.get
        for account, quantity in map(_ACCOUNT_QUANTITY, fresh):
            totals[account] = get(account, 0) + quantity
        return self._with(
            self._records + fresh if self._records else fresh,
            self._keys | keys if self._keys else keys,
            totals,
        )

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, identity: object) -> bool:
        """Whether ``(account_id, idempotency_key)`` is in the book."""
        return identity in self._keys

    def records(self) -> Iterator[UsageRecord]:
        """Every distinct record, in the order first ingested."""
        return iter(self._records)

    def total(self, account_id: str) -> int:
        """Messages sent by one account (0 if none)."""
        return self._totals.get(AccountId(account_id), 0)

    def totals(self) -> Mapping[AccountId, int]:
        """Messages per account that sent anything (a read-only view)."""
        return MappingProxyType(self._totals)

    def total_of(self, accounts: Iterable[str]) -> int:
        """Messages sent by a set of accounts (each counted once)."""
        return sum(self.total(a) for a in set(accounts))

    def by_label(self, account_id: str) -> dict[str | None, int]:
        """One account's messages per label (``None``: unlabelled), labels sorted."""
        out: dict[str | None, int] = {}
        for r in self._records:
            if r.account_id == account_id:
                out[r.label] = out.get(r.label, 0) + r.quantity
        return dict(sorted(out.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")))

    def by_channel(self, account_id: str) -> dict[Channel, int]:
        """One account's messages per channel."""
        out: dict[Channel, int] = {}
        for r in self._records:
            if r.account_id == account_id:
                out[r.channel] = out.get(r.channel, 0) + r.quantity
        return out


def fresh_usage(
    batch: Iterable[UsageRecord], stored: Callable[[UsageRecord], UsageRecord | None]
) -> tuple[UsageRecord, ...]:
    """The records of ``batch`` that are new, in first-seen order (usage idempotency).

    A record is identified by its period, account and idempotency key (a key is the
    account's own: two accounts may use the same key). One already stored (``stored``
    returns it) or seen earlier in the batch with the same content is a retry and is left
    out; the same identity with other content raises ``IdempotencyConflict`` and the whole
    batch is refused.

    >>> jan = BillingPeriod(2026, 1)
    >>> r = UsageRecord("agency1", jan, "sms", 3, "send-1")
    >>> fresh_usage([r, r], lambda _: None) == (r,)
    True
    >>> fresh_usage([r], lambda _: r)
    ()
    """
    seen: dict[tuple[BillingPeriod, AccountId, str], UsageRecord] = {}
    fresh: list[UsageRecord] = []
    for record in batch:
        if type(record) is not UsageRecord:
            raise InvalidInput(f"expected a UsageRecord, got {type(record).__name__}")
        identity = (record.period, record.account_id, record.idempotency_key)
        known = seen.get(identity)
        if known is None:
            known = stored(record)
            seen[identity] = record if known is None else known
            if known is None:
                fresh.append(record)
                continue
        if known != record:
            raise IdempotencyConflict(
                f"usage key {quoted(record.idempotency_key)} of {record.period} was recorded "
                "with other content",
                key=record.idempotency_key,
                account_id=record.account_id,
            )
    return tuple(fresh)


def slice_totals(records: Iterable[UsageRecord]) -> dict[AccountId, dict[UsageSlice, int]]:
    """``{account: {(channel, dimensions): quantity}}`` of ``records`` (what storage's
    ``UsageRepository.slice_totals`` sums).

    >>> jan = BillingPeriod(2026, 1)
    >>> slice_totals([UsageRecord("a", jan, "sms", 3, "k1", dimensions={"country": "DE"}),
    ...               UsageRecord("a", jan, "sms", 4, "k2", dimensions={"country": "DE"})])
    {'a': {(Channel('sms'), Dimensions({'country': 'DE'})): 7}}
    """
    out: dict[AccountId, dict[UsageSlice, int]] = {}
    for record in records:
        mine = out.setdefault(record.account_id, {})
        key = (record.channel, record.dimensions)
        mine[key] = mine.get(key, 0) + record.quantity
    return out


def group_totals(records: Iterable[UsageRecord]) -> dict[UsageGroup, int]:
    """``{(account, label, owner, channel, dimensions): quantity}`` of ``records`` (what
    storage's ``UsageRepository.report_totals`` sums, zero sums included here).

    >>> jan = BillingPeriod(2026, 1)
    >>> group_totals([UsageRecord("a", jan, "sms", 3, "k1", label="promo", owner_id="bob"),
    ...               UsageRecord("a", jan, "sms", 4, "k2", label="promo", owner_id="bob")])
    {('a', 'promo', 'bob', Channel('sms'), Dimensions({})): 7}
    """
    out: dict[UsageGroup, int] = {}
    for record in records:
        key = record.usage_group
        out[key] = out.get(key, 0) + record.quantity
    return out


def usage_totals(records: Iterable[UsageRecord]) -> dict[AccountId, tuple[int, int]]:
    """``{account: (quantity, number of records)}`` of ``records``, accounts in first-seen
    order (what one batch adds for each account)."""
    out: dict[AccountId, tuple[int, int]] = {}
    for record in records:
        quantity, count = out.get(record.account_id, (0, 0))
        out[record.account_id] = (quantity + record.quantity, count + 1)
    return out


def subtree_totals(
    totals: Mapping[str, int], parents: Mapping[str, str | None]
) -> dict[AccountId, int]:
    """Each account's own volume plus all its descendants' (``parents``: child -> parent).

    >>> subtree_totals({"m": 9000, "a": 5300, "b": 1700}, {"a": "m", "b": "m"})
    {'a': 5300, 'b': 1700, 'm': 16000}
    """
    nodes: set[str] = set(totals) | set(parents)
    nodes |= {p for p in parents.values() if p is not None}
    out: dict[AccountId, int] = {AccountId(n): 0 for n in sorted(nodes)}
    for node in sorted(nodes):
        volume = _checks.quantity(totals.get(node, 0), field=f"usage of {quoted(node)}")
        current: str | None = node
        steps = 0
        while current is not None:
            out[AccountId(current)] += volume
            current = parents.get(current)
            steps += 1
            if steps > len(nodes):
                raise HierarchyCycle(f"the parents mapping has a cycle above {quoted(node)}")
    return out


def subtree_total(totals: Mapping[str, int], parents: Mapping[str, str | None], root: str) -> int:
    """``root``'s own volume plus all its descendants' (see ``subtree_totals``)."""
    return subtree_totals(totals, parents).get(AccountId(root), 0)
