"""The ledger's values refuse what is invalid; fast paths agree with the full checks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subacct.domain.ids import check_id
from subacct.errors import InvalidInput
from subacct.money import Money
from subacct.pricing.ledger import (
    Distribute,
    LedgerAccount,
    LedgerAccountKind,
    OperationKind,
    Reclaim,
    Transfer,
    Wallet,
)
from subacct.pricing.ledger._validate import identifier
from subacct.testing.ledger_strategies import (
    credit_amounts,
    idempotency_keys,
    ledger_accounts,
)
from subacct.testing.strategies import timestamps

from .helpers import T0, eur


def outcome(check: object, value: object) -> object:
    try:
        return check(value)  # type: ignore[operator]
    except InvalidInput:
        return "refused"


@given(st.text(max_size=140) | st.sampled_from(["a b", "a\u00a0b", "a\u2028", "\u3000", "x" * 129]))
def test_the_fast_id_check_accepts_exactly_what_check_id_accepts(value: str) -> None:
    fast = outcome(lambda v: identifier(v, "id"), value)
    assert fast == outcome(lambda v: check_id(v, field="id"), value)


@given(ledger_accounts())
def test_ledger_accounts_round_trip_through_text(account: LedgerAccount) -> None:
    assert LedgerAccount.parse(str(account)) == account
    assert LedgerAccount(account.kind.value, account.owner) == account


@pytest.mark.parametrize("text", ["wallet", "bank:acme", ":acme", "wallet:", "wallet:a b"])
def test_malformed_ledger_accounts_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        LedgerAccount.parse(text)


@given(
    key=idempotency_keys(),
    index=st.integers(min_value=0, max_value=9),
    pair=st.lists(ledger_accounts(), min_size=2, max_size=2, unique=True),
    amount=credit_amounts(),
    at=timestamps(),
    reference=st.text(max_size=20),
)
def test_trusted_transfers_equal_validated_ones(
    key: str,
    index: int,
    pair: list[LedgerAccount],
    amount: Money,
    at: object,
    reference: str,
) -> None:
    source, destination = pair
    checked = Transfer(key, index, OperationKind.SPEND, source, destination, amount, at, reference)  # type: ignore[arg-type]
    trusted = Transfer._trusted(
        key, index, OperationKind.SPEND, source, destination, amount, checked.at, reference
    )
    assert trusted == checked
    assert hash(trusted) == hash(checked)


def transfer(**changes: object) -> Transfer:
    fields: dict[str, object] = {
        "key": "k",
        "index": 0,
        "operation": OperationKind.SPEND,
        "source": LedgerAccount.wallet("a"),
        "destination": LedgerAccount.spent("a"),
        "amount": eur("1"),
        "at": T0,
    }
    fields.update(changes)
    return Transfer(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"destination": LedgerAccount.wallet("a")},
        {"amount": eur("0")},
        {"amount": eur("-1")},
        {"amount": Decimal("1")},
        {"key": ""},
        {"key": "two words"},
        {"index": -1},
        {"at": T0.replace(tzinfo=None)},
        {"source": "wallet:a"},
    ],
)
def test_invalid_transfers_cannot_exist(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        transfer(**changes)


def test_fingerprints_ignore_time_and_number_spelling_only() -> None:
    a = Distribute(sub_id="s", amount=eur("10.0"), key="k", at=T0)
    assert (
        a.fingerprint()
        == Distribute(sub_id="s", amount=eur("10.00"), key="k", at=T0.replace(hour=3)).fingerprint()
    )
    assert (
        a.fingerprint() != Distribute(sub_id="s", amount=eur("10.01"), key="k", at=T0).fingerprint()
    )
    assert (
        a.fingerprint()
        != Distribute(sub_id="s", amount=eur("10"), key="k", at=T0, reference="r").fingerprint()
    )
    assert (
        Reclaim(sub_id="s", key="k", at=T0).fingerprint()
        != Reclaim(sub_id="s", amount=eur("1"), key="k", at=T0).fingerprint()
    )


def test_wallet_rules() -> None:
    assert Wallet("m").own_payment_method
    assert not Wallet("s", master_id="m").own_payment_method
    assert Wallet("s", master_id="m", overdraft_limit=eur("2.5")).floor == Decimal("-2.5")
    assert Wallet("s", master_id="m").wallet_account == LedgerAccount(LedgerAccountKind.WALLET, "s")
    with pytest.raises(InvalidInput):
        Wallet("m", master_id="m")
    with pytest.raises(InvalidInput):
        Wallet("m", overdraft_limit=eur("-1"))
