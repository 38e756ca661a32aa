"""Wallet settings: who funds a wallet, its overdraft limit and its allocation policy.

Allocation policies, as SendGrid gives its subusers, apply to sub-accounts funded by their
master (a sub that pays for itself keeps its own credit and has no allocation):

* ``unlimited`` the sub's sends draw on the master's wallet.
* ``recurring`` each period the sub's wallet is reset to ``amount``; unused credit goes back
  to the master or expires, as ``on_reset`` says.
* ``non_recurring`` the sub's wallet is set to ``amount`` once; there is no reset.

>>> from subacct.money import Money
>>> from subacct.pricing.ledger import Allocation, ResetMode, Wallet
>>> monthly = Allocation.recurring(Money("50.00", "EUR"), on_reset=ResetMode.EXPIRE)
>>> w = Wallet("agency1", master_id="agencydemo", allocation=monthly)
>>> w.own_payment_method, w.allocation.kind.value
(False, 'recurring')
>>> Wallet("agencydemo").own_payment_method
True
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Final

import attrs

from subacct.domain.ids import AccountId
from subacct.errors import AllocationError, InvalidInput, quoted
from subacct.money import Money
from subacct.pricing.ledger import _validate as v
from subacct.pricing.ledger.accounts import LedgerAccount

__all__ = ["Allocation", "AllocationKind", "ResetMode", "Wallet", "check_funding"]

_ZERO: Final = Decimal(0)


class AllocationKind(enum.Enum):
    UNLIMITED = "unlimited"
    RECURRING = "recurring"
    NON_RECURRING = "non_recurring"


class ResetMode(enum.Enum):
    """Where a sub's unused credit goes when its allocation is reset or replaced."""

    RETURN_TO_MASTER = "return_to_master"
    EXPIRE = "expire"


@attrs.frozen
class Allocation:
    """How a master funds one sub-account. Build it with the three class methods."""

    kind: AllocationKind = attrs.field(validator=attrs.validators.instance_of(AllocationKind))
    amount: Money | None = attrs.field(default=None, converter=v.optional_non_negative_money)
    on_reset: ResetMode = attrs.field(
        default=ResetMode.RETURN_TO_MASTER, validator=attrs.validators.instance_of(ResetMode)
    )

    def __attrs_post_init__(self) -> None:
        if (self.kind is AllocationKind.UNLIMITED) != (self.amount is None):
            raise InvalidInput(
                "an unlimited allocation has no amount; the others need one", field="amount"
            )
        if (
            self.kind is AllocationKind.UNLIMITED
            and self.on_reset is not ResetMode.RETURN_TO_MASTER
        ):
            raise InvalidInput("an unlimited allocation is never reset", field="on_reset")

    @classmethod
    def unlimited(cls) -> Allocation:
        """The sub spends straight from the master's wallet."""
        return cls(AllocationKind.UNLIMITED)

    @classmethod
    def recurring(
        cls, amount: Money, *, on_reset: ResetMode = ResetMode.RETURN_TO_MASTER
    ) -> Allocation:
        """The sub's wallet goes back to ``amount`` at every period reset."""
        return cls(AllocationKind.RECURRING, amount, on_reset)

    @classmethod
    def non_recurring(
        cls, amount: Money, *, on_reset: ResetMode = ResetMode.RETURN_TO_MASTER
    ) -> Allocation:
        """The sub's wallet is set to ``amount`` once (``on_reset`` applies if replaced)."""
        return cls(AllocationKind.NON_RECURRING, amount, on_reset)


def _own_payment_default(wallet: Wallet) -> bool:
    return wallet.master_id is None


def _optional_allocation(value: object) -> Allocation | None:
    if value is not None and not isinstance(value, Allocation):
        raise InvalidInput("allocation must be an Allocation or None", field="allocation")
    return value


@attrs.frozen
class Wallet:
    """The ledger settings of one customer account.

    ``master_id`` names the master that distributes credit to this sub-account and
    reclaims it (``None`` for a top-level account). ``own_payment_method`` says whether the
    account may top itself up (seed 003: a sub with its own payment details); it defaults to
    true for top-level accounts only. ``overdraft_limit`` lets sends go that far below zero.
    ``has_grants`` is kept by the ledger, not set by hosts (``configure_wallet`` keeps the
    stored value): true once a credit grant came into the wallet, so its grant book is read
    with every operation on it; a wallet of plain credit only (top-ups) never reads one.
    ``wallet_account``, ``spent_account`` and ``reserved_account`` are the account's ledger
    accounts, derived once (not part of equality or the wire shape).
    """

    account_id: AccountId = attrs.field(converter=v.account_id)
    master_id: AccountId | None = attrs.field(default=None, converter=v.optional_account_id)
    own_payment_method: bool = attrs.field(
        default=attrs.Factory(_own_payment_default, takes_self=True),
        validator=attrs.validators.instance_of(bool),
    )
    overdraft_limit: Money | None = attrs.field(
        default=None, converter=v.optional_non_negative_money
    )
    allocation: Allocation | None = attrs.field(default=None, converter=_optional_allocation)
    has_grants: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    # this account's ledger accounts, made once (they key every balance the planner touches)
    wallet_account: LedgerAccount = attrs.field(init=False, eq=False, repr=False)
    spent_account: LedgerAccount = attrs.field(init=False, eq=False, repr=False)
    reserved_account: LedgerAccount = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "wallet_account", LedgerAccount.wallet(self.account_id))
        object.__setattr__(self, "spent_account", LedgerAccount.spent(self.account_id))
        object.__setattr__(self, "reserved_account", LedgerAccount.reserved(self.account_id))
        if self.master_id == self.account_id:
            raise InvalidInput("a wallet cannot be its own master", field="master_id")
        if self.allocation is not None:
            if self.master_id is None:
                raise InvalidInput(
                    "only a sub-account funded by a master can have an allocation",
                    field="allocation",
                )
            if self.own_payment_method:
                raise InvalidInput(
                    "a sub that pays for itself keeps its own credit and has no allocation",
                    field="allocation",
                )

    @property
    def floor(self) -> Decimal:
        """The lowest balance a send may leave in this wallet (minus the overdraft limit)."""
        return _ZERO if self.overdraft_limit is None else self.overdraft_limit.amount.copy_negate()

    @property
    def draws_on_master(self) -> bool:
        """True when the sub's sends are paid from its master's wallet (unlimited)."""
        return self.allocation is not None and self.allocation.kind is AllocationKind.UNLIMITED


def check_funding(wallet: Wallet, parent_id: AccountId | None) -> Wallet:
    """Refuse a wallet whose master is not its account's parent: a sub-account's wallet is
    funded by its parent (or by nobody: a top-level account, or a sub that pays itself).

    >>> check_funding(Wallet("agency1", master_id="agencydemo"), "agencydemo").master_id
    'agencydemo'
    """
    if wallet.master_id is not None and wallet.master_id != parent_id:
        raise AllocationError(
            f"{quoted(wallet.master_id)} is not the parent of {quoted(wallet.account_id)}; a "
            f"sub-account's "
            "wallet is funded by its parent",
            account_id=wallet.account_id,
        )
    return wallet
