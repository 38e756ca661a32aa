"""Hypothesis strategies for the prepaid credit ledger (``subacct.pricing.ledger``).

Every strategy produces valid values, so a host can drive its own ledger store with them
and compare it with the in-memory ``Ledger``::

    from hypothesis import given, strategies as st
    from subacct.testing.ledger_strategies import ledger_setups, ledger_requests

    @given(ledger_setups().flatmap(
        lambda wallets: st.lists(ledger_requests(wallets), max_size=30)))
    def test_my_store_matches_memory(requests):
        ...

``ledger_setups`` lists a master's wallet first, then its subs' (one of each funding
style); ``ledger_requests`` draws any operation over those wallets, including replays of
earlier keys when ``keys`` is small.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from subacct.domain.ids import AccountId
from subacct.money import FINEST_AMOUNT, MAX_AMOUNT, Money
from subacct.pricing.ledger import (
    Allocation,
    Commit,
    Distribute,
    Expire,
    LedgerAccount,
    LedgerAccountKind,
    LedgerRequest,
    OperationKind,
    Reclaim,
    Refund,
    Release,
    Reserve,
    ResetMode,
    ResetPeriod,
    SetAllocation,
    Spend,
    TopUp,
    Transfer,
    Wallet,
)
from subacct.testing.strategies import account_ids, money_amounts, timestamps

__all__ = [
    "allocations",
    "bounded_credit_amounts",
    "credit_amounts",
    "idempotency_keys",
    "ledger_accounts",
    "ledger_requests",
    "ledger_setups",
    "transfer_logs",
]

_KEY_CHARS = string.ascii_letters + string.digits + "-_:./"
_START = datetime(2026, 1, 1, tzinfo=UTC)


def credit_amounts(
    currency: str = "EUR",
    *,
    max_amount: Decimal | int = 1000,
    places: int = 2,
) -> st.SearchStrategy[Money]:
    """Positive amounts with at most ``places`` decimals (exact ``Decimal``)."""
    smallest = Decimal(1).scaleb(-places)
    return st.decimals(
        min_value=smallest,
        max_value=Decimal(max_amount),
        places=places,
        allow_nan=False,
        allow_infinity=False,
    ).map(lambda amount: Money(amount, currency))


def bounded_credit_amounts(currency: str = "EUR") -> st.SearchStrategy[Money]:
    """Positive amounts, half of them cents up to 100, half at the bounds of
    ``subacct.money`` (``money_amounts``: the finest amount, the largest, 18 integer digits
    with 12 decimals), so balances reach ``MAX_AMOUNT`` and ``BalanceOutOfBounds``."""
    return st.one_of(
        credit_amounts(currency, max_amount=100),
        money_amounts(min_value=FINEST_AMOUNT, max_value=MAX_AMOUNT).map(
            lambda amount: Money(amount, currency)
        ),
    )


def idempotency_keys(max_size: int = 40) -> st.SearchStrategy[str]:
    """Idempotency keys as hosts write them (``order-42:retry``...)."""
    return st.text(_KEY_CHARS, min_size=1, max_size=max_size)


def ledger_accounts(
    owners: st.SearchStrategy[AccountId] | None = None,
) -> st.SearchStrategy[LedgerAccount]:
    """Ledger accounts of any kind."""
    return st.builds(
        LedgerAccount,
        st.sampled_from(list(LedgerAccountKind)),
        account_ids() if owners is None else owners,
    )


def allocations(
    currency: str = "EUR", *, max_amount: Decimal | int = 100
) -> st.SearchStrategy[Allocation]:
    """Unlimited, recurring (either reset mode) and non-recurring allocations."""
    amount = credit_amounts(currency, max_amount=max_amount) | st.just(Money(0, currency))
    mode = st.sampled_from(list(ResetMode))
    return st.one_of(
        st.just(Allocation.unlimited()),
        st.builds(lambda a, m: Allocation.recurring(a, on_reset=m), amount, mode),
        st.builds(lambda a, m: Allocation.non_recurring(a, on_reset=m), amount, mode),
    )


@st.composite
def ledger_setups(
    draw: st.DrawFn,
    *,
    currency: str = "EUR",
    max_overdraft: Decimal | int = 50,
) -> list[Wallet]:
    """A master's wallet and four subs: one paying for itself, one funded by manual
    distributions, one with an unlimited allocation and one funded by its master (give it an
    allocation with ``SetAllocation``). Overdraft limits are drawn, often zero."""
    overdraft = st.none() | credit_amounts(currency, max_amount=max_overdraft)
    master = AccountId("master")
    return [
        Wallet(master, overdraft_limit=draw(overdraft)),
        Wallet(
            AccountId("sub_pays"),
            master_id=master,
            own_payment_method=True,
            overdraft_limit=draw(overdraft),
        ),
        Wallet(AccountId("sub_manual"), master_id=master, overdraft_limit=draw(overdraft)),
        Wallet(AccountId("sub_unlimited"), master_id=master),
        Wallet(AccountId("sub_allocated"), master_id=master, overdraft_limit=draw(overdraft)),
    ]


def ledger_requests(
    wallets: Sequence[Wallet],
    *,
    currency: str = "EUR",
    start: datetime | None = None,
    keys: st.SearchStrategy[str] | None = None,
    reservation_ids: Sequence[str] = ("r1", "r2", "r3"),
    amounts: st.SearchStrategy[Money] | None = None,
) -> st.SearchStrategy[LedgerRequest]:
    """Any ledger operation over ``wallets`` (as made by ``ledger_setups``).

    Draws from a small key space by default so sequences contain replays and idempotency
    conflicts; pass ``keys=idempotency_keys()`` for mostly fresh keys. ``amounts`` (default:
    cents up to 100) gives the amounts moved, e.g. ``bounded_credit_amounts()`` for amounts
    at the bounds of ``subacct.money``.
    """
    if not wallets:
        raise ValueError("ledger_requests needs at least one wallet")
    ids = st.sampled_from([w.account_id for w in wallets])
    subs = [w.account_id for w in wallets if w.master_id is not None]
    sub_ids = st.sampled_from(subs) if subs else ids
    key = st.sampled_from([f"k{i}" for i in range(12)]) if keys is None else keys
    base = _START if start is None else start
    moment = st.integers(min_value=0, max_value=3600).map(lambda s: base + timedelta(seconds=s))
    amount = credit_amounts(currency, max_amount=100) if amounts is None else amounts
    held = st.sampled_from(list(reservation_ids))
    common = {"key": key, "at": moment}
    return st.one_of(
        st.builds(TopUp, account_id=ids, amount=amount, **common),
        st.builds(Distribute, sub_id=sub_ids, amount=amount, **common),
        st.builds(Reclaim, sub_id=sub_ids, amount=st.none() | amount, **common),
        st.builds(Spend, account_id=ids, amount=amount, **common),
        st.builds(Refund, account_id=ids, amount=amount, **common),
        moment.flatmap(
            lambda at: st.builds(
                Reserve,
                reservation_id=held,
                account_id=ids,
                amount=amount,
                expires_at=st.integers(min_value=1, max_value=600).map(
                    lambda s: at + timedelta(seconds=s)
                ),
                key=key,
                at=st.just(at),
            )
        ),
        st.builds(
            Commit, reservation_id=held, amount=amount | st.just(Money(0, currency)), **common
        ),
        st.builds(Release, reservation_id=held, **common),
        st.builds(Expire, **common),
        st.builds(
            SetAllocation,
            sub_id=sub_ids,
            allocation=st.none() | allocations(currency),
            **common,
        ),
        st.builds(ResetPeriod, sub_id=sub_ids, **common),
    )


@st.composite
def transfer_logs(
    draw: st.DrawFn,
    *,
    currency: str = "EUR",
    owners: Sequence[str] = ("master", "sub_a", "sub_b"),
    max_size: int = 30,
) -> list[Transfer]:
    """A log of valid transfers between a few ledger accounts, in any time order (for
    statement and replay properties; it follows no operation rules)."""
    accounts = [LedgerAccount(k, o) for k in LedgerAccountKind for o in owners]
    size = draw(st.integers(min_value=0, max_value=max_size))
    log = []
    for index in range(size):
        source = draw(st.sampled_from(accounts))
        destination = draw(st.sampled_from([a for a in accounts if a != source]))
        log.append(
            Transfer(
                key=f"t{index}",
                index=0,
                operation=draw(st.sampled_from(list(OperationKind))),
                source=source,
                destination=destination,
                amount=draw(credit_amounts(currency, max_amount=500)),
                at=draw(timestamps()),
            )
        )
    return log
