"""Ledger accounts: the places credit can sit, one set per customer account.

A ledger account is a kind plus the customer account that owns it, written ``kind:owner``:

* ``external:<acc>`` the account's payment source; top-ups come out of it, so its balance is
  minus everything the account ever paid in. It has no floor.
* ``wallet:<acc>`` spendable credit. Its floor is minus the wallet's overdraft limit.
* ``reserved:<acc>`` credit held for queued sends of ``<acc>`` (two-phase reservations).
* ``spent:<acc>`` credit consumed by ``<acc>``'s usage (the platform's revenue).
* ``expired:<acc>`` credit of ``<acc>`` that lapsed: unused recurring credit at a period
  reset, and the remainder of an expired credit grant (``ExpireGrant``).
* ``promotions:<acc>`` the platform's promotional credit granted to ``<acc>``
  (``GrantCredit``); its balance is minus everything the platform gave the account.

A balance is credit received minus credit sent, so the balances of all ledger accounts
always sum to zero.

>>> from subacct.pricing.ledger import LedgerAccount, LedgerAccountKind
>>> acc = LedgerAccount.parse("wallet:agency1")
>>> acc.kind, acc.owner, str(acc)
(<LedgerAccountKind.WALLET: 'wallet'>, 'agency1', 'wallet:agency1')
>>> LedgerAccount.wallet("agency1") == acc
True
"""

import enum
from typing import NamedTuple, Self

from subacct.domain.ids import AccountId
from subacct.errors import InvalidInput, quoted
from subacct.pricing.ledger._validate import identifier

__all__ = ["LedgerAccount", "LedgerAccountKind"]


class LedgerAccountKind(enum.StrEnum):
    """What a ledger account holds (see the module docstring)."""

    EXTERNAL = "external"
    WALLET = "wallet"
    RESERVED = "reserved"
    SPENT = "spent"
    EXPIRED = "expired"
    PROMOTIONS = "promotions"


class _Fields(NamedTuple):
    kind: LedgerAccountKind
    owner: AccountId


class LedgerAccount(_Fields):
    """One ledger account: ``kind`` of credit owned by customer account ``owner``.

    An immutable pair validated at construction. It is a tuple so that hashing and equality
    run in C: ledger accounts are the dict keys of every balance lookup on the hot path.
    cattrs unstructures it as ``["wallet", "agency1"]``; ``str()`` and ``parse`` give the
    ``kind:owner`` text form.
    """

    __slots__ = ()
    # repeated so that cattrs reads this class as the named tuple (kind, owner)
    kind: LedgerAccountKind
    owner: AccountId

    def __new__(cls, kind: LedgerAccountKind | str, owner: AccountId | str) -> Self:
        if not isinstance(kind, LedgerAccountKind):
            try:
                kind = LedgerAccountKind(kind)
            except ValueError:
                raise InvalidInput(
                    f"ledger account kind must be one of {[k.value for k in LedgerAccountKind]}, "
                    f"got {quoted(kind)}",
                    field="kind",
                ) from None
        return tuple.__new__(cls, (kind, AccountId(identifier(owner, "owner"))))

    @classmethod
    def external(cls, owner: AccountId | str) -> Self:
        """The payment source of ``owner`` (``external:<owner>``)."""
        return cls(LedgerAccountKind.EXTERNAL, owner)

    @classmethod
    def wallet(cls, owner: AccountId | str) -> Self:
        """The spendable credit of ``owner`` (``wallet:<owner>``)."""
        return cls(LedgerAccountKind.WALLET, owner)

    @classmethod
    def reserved(cls, owner: AccountId | str) -> Self:
        """Credit held for ``owner``'s queued sends (``reserved:<owner>``)."""
        return cls(LedgerAccountKind.RESERVED, owner)

    @classmethod
    def spent(cls, owner: AccountId | str) -> Self:
        """Credit consumed by ``owner``'s usage (``spent:<owner>``)."""
        return cls(LedgerAccountKind.SPENT, owner)

    @classmethod
    def expired(cls, owner: AccountId | str) -> Self:
        """Credit of ``owner`` that lapsed (``expired:<owner>``)."""
        return cls(LedgerAccountKind.EXPIRED, owner)

    @classmethod
    def promotions(cls, owner: AccountId | str) -> Self:
        """The platform's promotional credit granted to ``owner`` (``promotions:<owner>``)."""
        return cls(LedgerAccountKind.PROMOTIONS, owner)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read the ``kind:owner`` form written by ``str()``.

        >>> LedgerAccount.parse("spent:agency2").kind.value
        'spent'
        """
        kind, sep, owner = text.partition(":") if isinstance(text, str) else ("", "", "")
        if not sep:
            raise InvalidInput(
                f"ledger account {quoted(text)} must look like 'kind:owner'", field="ledger_account"
            )
        return cls(kind, owner)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.owner}"
