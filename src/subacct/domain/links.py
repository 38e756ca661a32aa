"""Agency links (Benchmark seed): a relation between two independent top-level accounts.

A linked client account is never a descendant of its agency: it keeps its own billing, it
shares nothing with the agency, and the agency reaches it through the link (and may earn a
commission on its subscription). An agency is an ordinary master; a client is linked to at
most one agency; a client cannot itself be an agency.

A link is made by consent: the agency asks (a ``LinkRequest``, holding the hash of a
single-use token that expires), and an administrator of the client accepts it, presenting
the token, or declines it. A request is ``pending`` until then (``expired`` once its time
is up: ``status_at``); asking again for the same client replaces a pending request
(``superseded``). The link records the access role the agency's administrators act with
in the client (``agency_manager`` unless the request named another).

>>> from datetime import datetime, timedelta, UTC
>>> from subacct.domain import AccountId, new_master, plan_link_request, plan_acceptance
>>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
>>> agency = new_master(AccountId("agency"), "Agency", t0)
>>> client = new_master(AccountId("client"), "Client", t0)
>>> request = plan_link_request(
...     "lr1", agency, client, "acme", "agency_manager", "ann", "0" * 64, t0, timedelta(days=7),
...     client_has_link=False, client_is_agency=False,
... )
>>> request.status_at(t0 + timedelta(days=8)).value
'expired'
>>> accepted, client2, link = plan_acceptance(
...     request, agency, client, "cleo", t0, client_has_link=False, client_is_agency=False
... )
>>> accepted.status.value, client2.kind.value, link.alias, link.access_role
('accepted', 'linked', 'acme', 'agency_manager')
"""

from __future__ import annotations

import enum
import re
from datetime import datetime, timedelta
from typing import Final, NewType

import attrs

from subacct._validators import instance_of
from subacct.domain._validate import clean_name, utc_timestamp
from subacct.domain.accounts import Account, AccountKind, AccountStatus
from subacct.domain.ids import AccountId, RoleId, UserId, check_id
from subacct.errors import (
    AccountNotActive,
    InvalidInput,
    LinkError,
    LinkRequestDeclined,
    LinkTokenExpired,
    LinkTokenInvalid,
    LinkTokenUsed,
    quoted,
)

__all__ = [
    "AGENCY_ACCESS_ROLE",
    "AgencyLink",
    "LinkRequest",
    "LinkRequestId",
    "LinkRequestStatus",
    "check_linkable",
    "plan_acceptance",
    "plan_decline",
    "plan_link",
    "plan_link_request",
    "plan_unlink",
]

LinkRequestId = NewType("LinkRequestId", str)

AGENCY_ACCESS_ROLE: Final = RoleId("agency_manager")
"""The access role of a link whose request named none (``subacct.policy.AGENCY_MANAGER``)."""

_HEX_64: Final = re.compile(r"[0-9a-f]{64}")


def _agency_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="agency_id"))


def _client_id(value: object) -> AccountId:
    return AccountId(check_id(value, field="client_id"))


def _alias(value: object) -> str:
    return clean_name(value, field="alias")


def _role(value: object) -> RoleId:
    return RoleId(check_id(value, field="access_role"))


def _requested_by(value: object) -> UserId | None:
    return None if value is None else UserId(check_id(value, field="requested_by"))


def _decided_by(value: object) -> UserId | None:
    return None if value is None else UserId(check_id(value, field="decided_by"))


def _optional_time(value: object) -> datetime | None:
    return None if value is None else utc_timestamp(value, field="decided_at")


def _request_id(value: object) -> LinkRequestId:
    return LinkRequestId(check_id(value, field="request_id"))


def _optional_request_id(value: object) -> LinkRequestId | None:
    return None if value is None else _request_id(value)


def _token_hash(value: object) -> str:
    if not isinstance(value, str) or _HEX_64.fullmatch(value) is None:
        raise InvalidInput("token_hash must be a SHA-256 hex digest", field="token_hash")
    return value


@attrs.frozen
class AgencyLink:
    """Agency ``agency_id`` reaches client ``client_id`` under ``alias``; the agency's
    administrators act there with ``access_role``. ``request_id`` is the accepted request
    (``None`` for a link stored before schema version 18)."""

    agency_id: AccountId = attrs.field(converter=_agency_id)
    client_id: AccountId = attrs.field(converter=_client_id)
    alias: str = attrs.field(converter=_alias)
    created_at: datetime = attrs.field(converter=utc_timestamp)
    access_role: RoleId = attrs.field(default=AGENCY_ACCESS_ROLE, converter=_role, kw_only=True)
    request_id: LinkRequestId | None = attrs.field(
        default=None, converter=_optional_request_id, kw_only=True
    )


class LinkRequestStatus(enum.Enum):
    """Where a link request stands. The services never store ``expired``: a pending
    request reads as expired once its ``expires_at`` has passed (``status_at``)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"


@attrs.frozen
class LinkRequest:
    """The agency ``agency_id`` asks to link ``client_id`` under ``alias`` (seed 002).

    ``token_hash`` is the SHA-256 digest of the single-use token handed to the agency once;
    ``decided_by`` and ``decided_at`` say which client administrator accepted or declined
    (``None`` for the system), and when.
    """

    id: LinkRequestId = attrs.field(converter=_request_id)
    agency_id: AccountId = attrs.field(converter=_agency_id)
    client_id: AccountId = attrs.field(converter=_client_id)
    alias: str = attrs.field(converter=_alias)
    access_role: RoleId = attrs.field(converter=_role)
    requested_by: UserId | None = attrs.field(converter=_requested_by)
    token_hash: str = attrs.field(converter=_token_hash, repr=False)
    requested_at: datetime = attrs.field(converter=utc_timestamp)
    expires_at: datetime = attrs.field(converter=utc_timestamp)
    status: LinkRequestStatus = attrs.field(
        default=LinkRequestStatus.PENDING, validator=instance_of(LinkRequestStatus)
    )
    decided_by: UserId | None = attrs.field(default=None, converter=_decided_by)
    decided_at: datetime | None = attrs.field(default=None, converter=_optional_time)

    def __attrs_post_init__(self) -> None:
        if self.expires_at <= self.requested_at:
            raise InvalidInput("a link request expires after it is made", field="expires_at")

    def status_at(self, now: datetime) -> LinkRequestStatus:
        """The status at ``now``: a pending request past ``expires_at`` is expired."""
        if self.status is LinkRequestStatus.PENDING and now >= self.expires_at:
            return LinkRequestStatus.EXPIRED
        return self.status

    def as_of(self, now: datetime) -> LinkRequest:
        """The request as a read shows it at ``now`` (``expired`` when its time is up)."""
        status = self.status_at(now)
        if status is self.status:
            return self
        return attrs.evolve(self, status=status)

    def decided(self, status: LinkRequestStatus, by: UserId | None, at: datetime) -> LinkRequest:
        return attrs.evolve(self, status=status, decided_by=by, decided_at=at)


def check_linkable(
    agency: Account, client: Account, *, client_has_link: bool, client_is_agency: bool
) -> None:
    """Refuse a link the structure does not allow (``LinkError``, ``AccountNotActive``):
    to itself, from anything but a standalone master, to a client linked already or that
    has clients of its own, between accounts that are not active."""
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


def plan_link(
    agency: Account,
    client: Account,
    alias: str,
    created_at: datetime,
    *,
    client_has_link: bool,
    client_is_agency: bool,
    access_role: str = AGENCY_ACCESS_ROLE,
    request_id: str | None = None,
) -> tuple[Account, AgencyLink]:
    """Link the standalone ``client`` to ``agency``; returns the client (now ``LINKED``)."""
    check_linkable(
        agency, client, client_has_link=client_has_link, client_is_agency=client_is_agency
    )
    link = AgencyLink(
        agency.id,
        client.id,
        alias,
        created_at,
        access_role=RoleId(access_role),
        request_id=None if request_id is None else LinkRequestId(request_id),
    )
    return client.as_top_level(AccountKind.LINKED), link


def plan_link_request(
    request_id: str,
    agency: Account,
    client: Account,
    alias: str,
    access_role: str,
    requested_by: str | None,
    token_hash: str,
    now: datetime,
    ttl: timedelta,
    *,
    client_has_link: bool,
    client_is_agency: bool,
) -> LinkRequest:
    """A pending request, valid for ``ttl`` from ``now``, if the link could be made now."""
    check_linkable(
        agency, client, client_has_link=client_has_link, client_is_agency=client_is_agency
    )
    return LinkRequest(
        LinkRequestId(request_id),
        agency.id,
        client.id,
        alias,
        RoleId(access_role),
        None if requested_by is None else UserId(requested_by),
        token_hash,
        now,
        now + ttl,
    )


def check_open(request: LinkRequest, now: datetime) -> None:
    """Refuse a token whose request no longer links: accepted already (``LinkTokenUsed``),
    declined (``LinkRequestDeclined``), replaced by a newer request (``LinkTokenInvalid``),
    or past its time (``LinkTokenExpired``)."""
    status = request.status_at(now)
    details = {"request_id": request.id}
    if status is LinkRequestStatus.ACCEPTED:
        raise LinkTokenUsed(f"link request {quoted(request.id)} was accepted already", **details)
    if status is LinkRequestStatus.DECLINED:
        raise LinkRequestDeclined(f"link request {quoted(request.id)} was declined", **details)
    if status is LinkRequestStatus.SUPERSEDED:
        raise LinkTokenInvalid("no open link request has this token")
    if status is LinkRequestStatus.EXPIRED:
        raise LinkTokenExpired(
            f"link request {quoted(request.id)} expired at {request.expires_at.isoformat()}",
            **details,
        )


def plan_acceptance(
    request: LinkRequest,
    agency: Account,
    client: Account,
    by: str | None,
    now: datetime,
    *,
    client_has_link: bool,
    client_is_agency: bool,
) -> tuple[LinkRequest, Account, AgencyLink]:
    """The accepted request, the client (now ``LINKED``) and the new link."""
    check_open(request, now)
    linked, link = plan_link(
        agency,
        client,
        request.alias,
        now,
        client_has_link=client_has_link,
        client_is_agency=client_is_agency,
        access_role=request.access_role,
        request_id=request.id,
    )
    accepted = request.decided(LinkRequestStatus.ACCEPTED, None if by is None else UserId(by), now)
    return accepted, linked, link


def plan_decline(request: LinkRequest, by: str | None, now: datetime) -> LinkRequest:
    """The declined request (its token no longer links)."""
    check_open(request, now)
    return request.decided(LinkRequestStatus.DECLINED, None if by is None else UserId(by), now)


def plan_unlink(client: Account) -> Account:
    """The client after its link is removed: a standalone master again."""
    if client.kind is not AccountKind.LINKED:
        raise LinkError(f"account {quoted(client.id)} is not a linked client", account_id=client.id)
    return client.as_top_level(AccountKind.MASTER)
