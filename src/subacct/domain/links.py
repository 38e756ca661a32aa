"""Agency links (Benchmark seed): a relation between two independent top-level accounts.

A linked client account is never a descendant of its agency: it keeps its own billing, it
shares nothing with the agency, and the agency reaches it through the link (and may earn a
commission on its subscription). An agency is an ordinary master; a client is linked to at
most one agency; a client cannot itself be an agency.

>>> from datetime import datetime, UTC
>>> from subacct.domain import AccountId, new_master, plan_link
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> agency = new_master(AccountId("agency"), "Agency", t0)
>>> client = new_master(AccountId("client"), "Client", t0)
>>> client2, link = plan_link(
...     agency, client, "acme", t0, client_has_link=False, client_is_agency=False
... )
>>> client2.kind.value, link.alias
('linked', 'acme')
"""

from __future__ import annotations

from datetime import datetime

import attrs

from subacct.domain._validate import clean_name, utc_timestamp
from subacct.domain.accounts import Account, AccountKind, AccountStatus
from subacct.domain.ids import AccountId, check_id
from subacct.errors import AccountNotActive, LinkError, quoted

__all__ = ["AgencyLink", "plan_link", "plan_unlink"]


def _agency_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="agency_id"))


def _client_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="client_id"))


def _alias(value: object) -> str:
    return clean_name(value, field="alias")


@attrs.frozen
class AgencyLink:
    """Agency ``agency_id`` reaches client ``client_id`` under ``alias``."""

    agency_id: AccountId = attrs.field(converter=_agency_id)
    client_id: AccountId = attrs.field(converter=_client_id)
    alias: str = attrs.field(converter=_alias)
    created_at: datetime = attrs.field(converter=utc_timestamp)


def plan_link(
    agency: Account,
    client: Account,
    alias: str,
    created_at: datetime,
    *,
    client_has_link: bool,
    client_is_agency: bool,
) -> tuple[Account, AgencyLink]:
    """Link the standalone ``client`` to ``agency``; returns the client (now ``LINKED``)."""
    if agency.id == client.id:
        raise LinkError("an account cannot be linked to itself", account_id=agency.id)
    if agency.kind is not AccountKind.MASTER:
        raise LinkError(
            f"agency {quoted(agency.id)} must be a standalone master account, not "
            f"{agency.kind.value}",
            account_id=agency.id,
        )
    if client.kind is not AccountKind.MASTER or client_has_link:
        raise LinkError(
            f"client {quoted(client.id)} must be a standalone master that is not linked yet "
            f"(it is {client.kind.value})",
            account_id=client.id,
        )
    if client_is_agency:
        raise LinkError(
            f"client {quoted(client.id)} has linked clients of its own; links do not chain",
            account_id=client.id,
        )
    for account in (agency, client):
        account.require_open()
        if account.status is not AccountStatus.ACTIVE:
            raise AccountNotActive(
                f"account {quoted(account.id)} is {account.status.value}", account_id=account.id
            )
    link = AgencyLink(agency.id, client.id, alias, created_at)
    return client.as_top_level(AccountKind.LINKED), link


def plan_unlink(client: Account) -> Account:
    """The client after its link is removed: a standalone master again."""
    if client.kind is not AccountKind.LINKED:
        raise LinkError(f"account {quoted(client.id)} is not a linked client", account_id=client.id)
    return client.as_top_level(AccountKind.MASTER)
