"""``app.links``: agency links by consent (seed 002).

The agency asks to link a client by the client's login: the login of a user who
administers the client account (a membership there whose role grants
``settings.manage``), the account being a standalone top-level account other than the
agency. When that user administers several such accounts, ``client_id`` names the one
(``link_client_ambiguous`` otherwise); trusted host code (``SYSTEM``) may name the
account by ``client_id`` alone. The request holds a single-use token, returned once to
the caller and stored only as its SHA-256 digest, valid for ``Settings.link_request_ttl``.
An administrator of the client accepts it, presenting the token, or declines it. On
acceptance the link exists under the agency's alias, and the agency's administrators
(those holding ``clients.access`` in the agency: its parent administrators) act in the
client as themselves with the link's access role (``Settings.agency_access_role``,
``agency_manager`` by default, or the role the request named). Either side unlinks; the
access ends in the same transaction.

Who may do what:

* ``request``: ``settings.manage`` in the agency;
* ``accept``, ``decline``: ``settings.manage`` in the client (checked once the token is
  found: a wrong token is ``link_token_invalid`` for everyone);
* ``unlink``: ``settings.manage`` in either the agency or the client;
* ``requests``: ``settings.manage`` in the account (the agency's or the client's
  requests); ``clients``, ``agency_of``: standing in the account.

>>> import subacct
>>> app = subacct.Subacct(subacct.MemoryStore())
>>> S = subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency", account_id="agency", by=S)
>>> _ = app.accounts.create_master("Client", account_id="client", by=S)
>>> request, token = app.links.request("agency", "Client Co", client_id="client", by=S)
>>> app.links.accept(token, by=S).alias
'Client Co'
"""

from __future__ import annotations

from subacct.domain import (
    Account,
    AccountId,
    AgencyLink,
    LinkRequest,
    LinkRequestStatus,
    plan_acceptance,
    plan_decline,
    plan_link_request,
    plan_unlink,
)
from subacct.domain import changes as domain_changes
from subacct.domain.events import ClientLinkDeclined, ClientLinkRequested
from subacct.errors import (
    InvalidInput,
    LinkClientAmbiguous,
    LinkClientNotFound,
    LinkError,
    LinkTokenInvalid,
    quoted,
)
from subacct.policy import MANAGE_SETTINGS
from subacct.policy.api_keys import secret_hash
from subacct.principals import Actor
from subacct.services import _args
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import LINK_REQUESTS

__all__ = ["Links"]


def _client(unit: Unit, agency: Account, login: str | None, client_id: str | None) -> Account:
    """The client account the request names (see the module docstring)."""
    if login is None:
        if client_id is None or not unit.is_system:
            raise InvalidInput("name the client by the login of its administrator", field="login")
        return unit.uow.accounts.get(AccountId(client_id))
    user = unit.uow.users.find_by_login(login)
    found: list[Account] = []
    for membership in [] if user is None else unit.uow.memberships.for_user(user.id):
        if MANAGE_SETTINGS not in unit.role(membership.role).rights:
            continue
        account = unit.uow.accounts.get(membership.account_id)
        if account.parent_id is None and account.id != agency.id:
            found.append(account)
    if client_id is not None:
        found = [a for a in found if a.id == client_id]
    if not found:
        raise LinkClientNotFound(
            f"no standalone account is administered by login {quoted(login)}"
            + ("" if client_id is None else f" with id {quoted(client_id)}"),
            login=login,
        )
    if len(found) > 1:
        raise LinkClientAmbiguous(
            f"login {quoted(login)} administers {len(found)} accounts: name one with client_id",
            field="client_id",
        )
    return found[0]


def _found(unit: Unit, token: str) -> LinkRequest:
    """The request holding ``token`` (``LinkTokenInvalid``: none)."""
    for request in unit.uow.records(LINK_REQUESTS).list_by("token_hash", secret_hash(token)):
        return request
    raise LinkTokenInvalid("no link request has this token")


def _structure(unit: Unit, agency: Account, client: Account) -> dict[str, bool]:
    """What ``check_linkable`` needs to know of the accounts' links."""
    links = unit.uow.links
    return {
        "client_has_link": links.for_client(client.id) is not None,
        "client_is_agency": bool(links.for_agency(client.id)),
    }


class Links:
    """Agency links by consent (``app.links``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    @command
    def request(
        self,
        agency_id: str,
        alias: str,
        *,
        by: Actor,
        login: str | None = None,
        client_id: str | None = None,
        access_role: str | None = None,
    ) -> tuple[LinkRequest, str]:
        """Ask to link the client administered by ``login`` under ``alias``; returns the
        request and its token (shown once: hand it to the client). Asking again for the
        same client replaces a pending request (its token stops working)."""
        who, agency_key, label = (
            _args.actor(by),
            _args.ident(agency_id, "agency_id"),
            _args.name(alias, "alias"),
        )
        name = None if login is None else _args.text(login, "login")
        wanted = _args.optional_ident(client_id, "client_id")
        role = _args.optional_ident(access_role, "access_role")
        token = _args.new_token("lt_")

        def work(unit: Unit) -> tuple[LinkRequest, str]:
            agency = unit.uow.accounts.get(AccountId(agency_key))
            unit.require(MANAGE_SETTINGS, agency.id)
            client = _client(unit, agency, name, wanted)
            chosen = unit.role(role or unit.settings.agency_access_role).id
            request = plan_link_request(
                unit.new_id(None, "link_request"),
                agency,
                client,
                label,
                chosen,
                unit.user,
                secret_hash(token),
                unit.now,
                unit.settings.link_request_ttl,
                **_structure(unit, agency, client),
            )
            repo = unit.uow.records(LINK_REQUESTS)
            for older in repo.list_by("client_id", client.id):
                if older.agency_id == agency.id and older.status is LinkRequestStatus.PENDING:
                    repo.update(older.decided(LinkRequestStatus.SUPERSEDED, unit.user, unit.now))
            repo.add(request)
            unit.emit(
                ClientLinkRequested(
                    **unit.meta().about(agency.id),
                    client_id=client.id,
                    request_id=request.id,
                    alias=request.alias,
                    access_role=request.access_role,
                    expires_at=request.expires_at,
                )
            )
            return request, token

        return self._runner.command(who, work)

    @command
    def accept(self, token: str, *, by: Actor) -> AgencyLink:
        """An administrator of the client accepts the request holding ``token``: the link
        exists from now on. Refused with ``link_token_invalid``, ``link_token_expired``,
        ``link_token_used`` or ``link_request_declined``; nothing changes then."""
        who, secret = _args.actor(by), _args.token(token, "lt_", "a link token")

        def work(unit: Unit) -> AgencyLink:
            request = _found(unit, secret)
            unit.require(MANAGE_SETTINGS, request.client_id)
            agency = unit.uow.accounts.get(request.agency_id)
            client = unit.uow.accounts.get(request.client_id)
            accepted, linked, link = plan_acceptance(
                request, agency, client, unit.user, unit.now, **_structure(unit, agency, client)
            )
            unit.uow.records(LINK_REQUESTS).update(accepted)
            unit.uow.accounts.update(linked)
            unit.uow.links.add(link)
            unit.emit(domain_changes.linked(link, unit.meta()))
            return link

        return self._runner.command(who, work)

    @command
    def decline(self, token: str, *, by: Actor) -> LinkRequest:
        """An administrator of the client declines the request holding ``token``."""
        who, secret = _args.actor(by), _args.token(token, "lt_", "a link token")

        def work(unit: Unit) -> LinkRequest:
            request = _found(unit, secret)
            unit.require(MANAGE_SETTINGS, request.client_id)
            declined = plan_decline(request, unit.user, unit.now)
            unit.uow.records(LINK_REQUESTS).update(declined)
            unit.emit(
                ClientLinkDeclined(
                    **unit.meta().about(declined.agency_id),
                    client_id=declined.client_id,
                    request_id=declined.id,
                )
            )
            return declined

        return self._runner.command(who, work)

    @command
    def unlink(self, client_id: str, *, by: Actor) -> Account:
        """End the client's agency link (either side may): it is a standalone master
        again, and the agency's administrators lose their access there at once."""
        who, client_key = _args.actor(by), _args.ident(client_id, "client_id")

        def work(unit: Unit) -> Account:
            client = unit.uow.accounts.get(AccountId(client_key))
            unlinked = plan_unlink(client)
            link = unit.uow.links.for_client(client.id)
            if link is None:
                raise LinkError(
                    f"account {quoted(client.id)} has no agency link", account_id=client.id
                )
            unit.require_in_either(MANAGE_SETTINGS, link.agency_id, client.id)
            unit.uow.links.remove(client.id)
            unit.uow.accounts.update(unlinked)
            unit.emit(domain_changes.unlinked(link, unit.meta()))
            return unlinked

        return self._runner.command(who, work)

    @query
    def requests(self, account_id: str, *, by: Actor) -> list[LinkRequest]:
        """The link requests the account made (as an agency) or received (as a client),
        oldest first, as they stand now (a pending one past its time reads ``expired``)."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[LinkRequest]:
            account = unit.uow.accounts.get(AccountId(target))
            unit.require(MANAGE_SETTINGS, account.id)
            repo = unit.uow.records(LINK_REQUESTS)
            found = {r.id: r for r in repo.list_by("agency_id", account.id)}
            found.update((r.id, r) for r in repo.list_by("client_id", account.id))
            ordered = sorted(found.values(), key=lambda r: (r.requested_at, r.id))
            return [r.as_of(unit.now) for r in ordered]

        return self._runner.query(who, work)

    @query
    def clients(self, agency_id: str, *, by: Actor) -> list[AgencyLink]:
        """The agency's links to its clients, in client id order."""
        who, target = _args.actor(by), _args.ident(agency_id, "agency_id")

        def work(unit: Unit) -> list[AgencyLink]:
            agency = unit.see(target)
            return unit.uow.links.for_agency(agency.id)

        return self._runner.query(who, work)

    @query
    def agency_of(self, client_id: str, *, by: Actor) -> AgencyLink | None:
        """The client's link to its agency, if it has one."""
        who, target = _args.actor(by), _args.ident(client_id, "client_id")

        def work(unit: Unit) -> AgencyLink | None:
            client = unit.see(target)
            return unit.uow.links.for_client(client.id)

        return self._runner.query(who, work)
