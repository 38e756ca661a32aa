"""Who pays for whom: payers (their own invoice and price) and the accounts pooled into them.

The tree is plain data: ``parents`` maps each child account to its parent. An account
that is a ``Payer`` is billed standalone: its own price model, its own invoice (a
sub-account with its own payment details, or an agency-linked client). Every other account
is pooled: its usage is priced together with its nearest payer ancestor's, on that
payer's price model, and shows as its own line on that payer's invoice. Top-level
accounts must be payers.

>>> from subacct.money import Money
>>> from subacct.pricing import BillingStructure, Plan, PlanLadder, BillingMode
>>> ladder = PlanLadder([Plan("18,000", 18000, Money("90", "USD"))])
>>> s = BillingStructure.pooled("agencydemo", ["agency1", "agency2"], ladder)
>>> s.members("agencydemo"), s.mode_of("agency1")
(('agencydemo', 'agency1', 'agency2'), <BillingMode.POOLED: 'pooled'>)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from subacct.domain.ids import AccountId
from subacct.errors import InvalidBillingStructure, quoted
from subacct.pricing import _checks
from subacct.pricing.charges import PriceList
from subacct.pricing.commitments import Commitment
from subacct.pricing.model import PriceModel

__all__ = ["BillingMode", "BillingStructure", "Payer"]


class BillingMode(enum.Enum):
    """Pooled into an ancestor's invoice, or standalone with its own invoice."""

    POOLED = "pooled"
    STANDALONE = "standalone"


def _price(value: object) -> PriceModel | PriceList:
    if not isinstance(value, PriceModel | PriceList):
        raise InvalidBillingStructure(
            f"price must be a PriceModel or a PriceList, not {type(value).__name__}"
        )
    return value


def _commitment(value: object) -> Commitment | None:
    if value is not None and not isinstance(value, Commitment):
        raise InvalidBillingStructure("commitment must be a Commitment or None")
    return value


@attrs.frozen
class Payer:
    """An account that receives an invoice, priced on ``price`` (one model, or a
    ``PriceList`` of charges), with an optional commitment (one model only)."""

    account_id: AccountId = attrs.field(converter=_checks.account)
    price: PriceModel | PriceList = attrs.field(converter=_price)
    commitment: Commitment | None = attrs.field(default=None, converter=_commitment)

    def __attrs_post_init__(self) -> None:
        if self.commitment is not None and isinstance(self.price, PriceList):
            raise InvalidBillingStructure(
                "a base commitment is a volume of one price model: a price of several "
                "charges takes none",
                field="commitment",
            )


def _payers(value: object) -> tuple[Payer, ...]:
    if not isinstance(value, Iterable):
        raise InvalidBillingStructure("payers must be a list of Payer")
    payers = tuple(value)
    if not payers:
        raise InvalidBillingStructure("a billing structure needs at least one payer")
    for payer in payers:
        if not isinstance(payer, Payer):
            raise InvalidBillingStructure(f"expected a Payer, got {type(payer).__name__}")
    ids = [p.account_id for p in payers]
    if len(set(ids)) != len(ids):
        raise InvalidBillingStructure("an account can be listed as payer only once")
    return payers


def _parents(v: object) -> Mapping[AccountId, AccountId]:
    return _checks.parent_map(v, error=InvalidBillingStructure)


@attrs.frozen(eq=False)
class BillingStructure:
    """Payers and the pooled tree; validated (acyclic, every account has a payer) when built."""

    payers: tuple[Payer, ...] = attrs.field(converter=_payers)
    parents: Mapping[AccountId, AccountId] = attrs.field(
        factory=dict,
        converter=_parents,
        repr=False,
    )
    _by_id: Mapping[AccountId, Payer] = attrs.field(init=False, repr=False)
    _payer_of: Mapping[AccountId, AccountId] = attrs.field(init=False, repr=False)
    _members: Mapping[AccountId, tuple[AccountId, ...]] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        by_id = {p.account_id: p for p in self.payers}
        payer_of: dict[AccountId, AccountId] = {a: a for a in by_id}
        for start in self.parents:
            path: list[AccountId] = []
            node = start
            while node not in payer_of:
                path.append(node)
                parent = self.parents.get(node)
                if parent is None:
                    raise InvalidBillingStructure(
                        f"top-level account {quoted(node)} is not a payer: it has no price model "
                        "and no parent to pool into",
                        account_id=node,
                    )
                node = parent
            for account in path:
                payer_of[account] = payer_of[node]
        grouped: dict[AccountId, list[AccountId]] = {a: [] for a in by_id}
        for account, payer in payer_of.items():
            if account != payer:
                grouped[payer].append(account)
        members = {p: (p, *sorted(subs)) for p, subs in grouped.items()}
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))
        object.__setattr__(self, "_payer_of", MappingProxyType(payer_of))
        object.__setattr__(self, "_members", MappingProxyType(members))

    @classmethod
    def pooled(
        cls,
        master: str,
        subs: Iterable[str],
        price: PriceModel | PriceList,
        commitment: Commitment | None = None,
    ) -> BillingStructure:
        """One master paying for all its subs, pooled on ``price`` (the seed 000 setup)."""
        m = _checks.account(master, field="master")
        return cls([Payer(m, price, commitment)], {AccountId(s): m for s in subs})

    @property
    def accounts(self) -> frozenset[AccountId]:
        """Every account the structure knows (payers and pooled accounts)."""
        return frozenset(self._payer_of)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._payer_of

    def unknown(self, accounts: Iterable[str]) -> list[str]:
        """The accounts (sorted) that the structure does not know."""
        return sorted(set(accounts).difference(self._payer_of))

    def payer(self, payer_id: str) -> Payer:
        """The ``Payer`` record of a paying account."""
        try:
            return self._by_id[AccountId(payer_id)]
        except KeyError:
            raise InvalidBillingStructure(
                f"{quoted(payer_id)} is not a payer", account_id=payer_id
            ) from None

    def payer_of(self, account_id: str) -> AccountId:
        """The account whose invoice carries ``account_id``'s usage."""
        try:
            return self._payer_of[AccountId(account_id)]
        except KeyError:
            raise InvalidBillingStructure(
                f"account {quoted(account_id)} is not in the billing structure",
                account_id=account_id,
            ) from None

    def members(self, payer_id: str) -> tuple[AccountId, ...]:
        """The payer first, then every account pooled into it, in id order."""
        self.payer(payer_id)
        return self._members[AccountId(payer_id)]

    def mode_of(self, account_id: str) -> BillingMode:
        """``STANDALONE`` for a payer, ``POOLED`` for an account billed through another."""
        payer = self.payer_of(account_id)
        return BillingMode.STANDALONE if payer == account_id else BillingMode.POOLED
