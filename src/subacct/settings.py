"""One frozen ``Settings`` for a whole ``Subacct``: every sub-API reads the same values.

>>> from datetime import datetime, UTC
>>> from subacct import FixedClock, SequentialIds, Settings
>>> settings = Settings(clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), ids=SequentialIds(),
...                     currency="eur")
>>> settings.currency, settings.max_attempts, settings.hierarchy.max_levels
('EUR', 5, 2)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import attrs

from subacct.domain.hierarchy import HierarchyRules
from subacct.domain.ids import RoleId, check_id
from subacct.errors import InvalidInput, quoted
from subacct.money import Money
from subacct.policy.actions import DEFAULT_CATALOG, ActionCatalog
from subacct.policy.roles import AGENCY_MANAGER_ID, DEFAULT_ROLES, PARENT_ADMIN_ID, Role
from subacct.pricing.channels import DEFAULT_CHANNELS, ChannelCatalog
from subacct.pricing.invoice_lifecycle import check_number_format
from subacct.pricing.plan_changes import UpgradePolicy
from subacct.runtime import SystemClock, UuidIds
from subacct.storage.ports import Clock, IdFactory

__all__ = ["Settings"]


def _has(method: str, field: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not callable(getattr(value, method, None)):
            raise InvalidInput(f"{field} must have a {method}() method", field=field)

    return check


def _of(cls: type, field: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, cls):
            raise InvalidInput(f"{field} must be a {cls.__name__}", field=field)

    return check


def _roles(value: object) -> tuple[Role, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput("roles must be a list of Role", field="roles")
    roles = tuple(value)
    ids = [r.id for r in roles if isinstance(r, Role)]
    if len(ids) != len(roles) or not roles:
        raise InvalidInput("roles must be a non-empty list of Role", field="roles")
    if len(set(ids)) != len(ids):
        raise InvalidInput("role ids must be unique", field="roles")
    return roles


def _currency(value: object) -> str | None:
    return None if value is None else Money.zero(value).currency  # type: ignore[arg-type]


def _attempts(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise InvalidInput("max_attempts must be an integer from 1 to 100", field="max_attempts")
    return value


def _cache_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**8:
        raise InvalidInput(
            "policy_cache_size must be an integer from 0 to 100000000", field="policy_cache_size"
        )
    return value


def _duration(value: object, field: str, low: timedelta, high: timedelta, bounds: str) -> timedelta:
    """``value`` if it is a ``timedelta`` from ``low`` to ``high``."""
    if not isinstance(value, timedelta) or not low <= value <= high:
        raise InvalidInput(f"{field} must be a timedelta from {bounds}", field=field)
    return value


def _interval(value: object) -> timedelta:
    return _duration(value, "api_key_use_interval", timedelta(0), timedelta(days=1), "0 to one day")


def _hold_ttl(value: object) -> timedelta:
    week, second = timedelta(days=7), timedelta(seconds=1)
    return _duration(value, "send_hold_ttl", second, week, "one second to seven days")


def _link_ttl(value: object) -> timedelta:
    low, high = timedelta(minutes=1), timedelta(days=90)
    return _duration(value, "link_request_ttl", low, high, "one minute to 90 days")


def _impersonation_ttl(value: object) -> timedelta:
    low, high = timedelta(minutes=1), timedelta(days=7)
    return _duration(value, "impersonation_ttl", low, high, "one minute to seven days")


def _role_id(value: object) -> RoleId:
    return RoleId(check_id(value, field="agency_access_role"))


def _invitation_ttl(value: object) -> timedelta:
    if not isinstance(value, timedelta) or not timedelta(minutes=1) <= value <= timedelta(days=90):
        raise InvalidInput(
            "invitation_ttl must be a timedelta from one minute to 90 days",
            field="invitation_ttl",
        )
    return value


def _invoice_format(value: object) -> str:
    return check_number_format(value, "invoice_number_format")


def _credit_note_format(value: object) -> str:
    return check_number_format(value, "credit_note_number_format")


def _owner_role(value: object) -> RoleId:
    return RoleId(check_id(value, field="owner_role"))


@attrs.frozen(kw_only=True)
class Settings:
    """What one application runs with.

    * ``clock`` and ``ids``: where times and new ids come from (``FixedClock`` and
      ``SequentialIds`` for tests; ``SequentialIds`` repeat across processes, so use
      ``UuidIds``, the default, when several processes share a store);
    * ``hierarchy``: how deep the account tree may grow;
    * ``catalog`` and ``roles``: the actions the policy knows and the built-in roles
      (seed 004's four by default; custom roles are stored with ``policy.define_role``);
    * ``channels``: the sending channels the application offers (``ChannelCatalog``:
      email, SMTP and SMS by default); usage, sends and reports on another are refused;
    * ``upgrade_policy``: the prerequisites of plan upgrades (seed 001);
    * ``currency``: the credit ledger used when a call names none;
    * ``max_attempts``: how many times in all a unit of work runs when it lost a race, or
      lost its database connection before the commit was sent;
    * ``policy_cache_size``: how many entries each table of the in-memory policy cache
      holds (accounts with their ancestors, users' memberships, built indexes...; see
      ``docs/performance.md``); 0 turns the cache off, so every call reads storage;
    * ``api_key_use_interval``: how fresh an API key's last-used time is kept: a use is
      written at most once per interval per key (5 minutes by default; 0: every use),
      in a record outside the policy data, so a key's use never empties the cache;
    * ``send_hold_ttl``: how long a send's hold (``app.sending.authorize``) stays open
      before ``app.sending.expire_holds`` gives it back (15 minutes by default);
    * ``invoice_number_format`` and ``credit_note_number_format``: how finalized invoices
      and credit notes are numbered, each payer's series gapless from 1: ``{payer}`` (the
      payer's id) and ``{seq}`` (the place in the series, with a format spec such as
      ``{seq:05d}``) are required, ``{year}`` and ``{month}`` (of the issue date) may be
      used (``"{payer}-{seq:05d}"`` and ``"{payer}-CN-{seq:05d}"`` by default; see
      ``docs/invoicing.md``);
    * ``link_request_ttl``: how long an agency's link request (``app.links.request``) can
      be accepted (7 days by default);
    * ``agency_access_role``: the role an agency's administrators act with in a linked
      client when the request names none (``agency_manager`` by default);
    * ``impersonation_ttl``: how long an impersonation session grants anything after it
      starts (1 hour by default); an expired session is refused as
      ``impersonation_expired``.
    * ``invitation_ttl``: how long an invitation's token accepts it after it was sent or
      re-sent (7 days by default; ``app.invitations``);
    * ``owner_role``: the role that administers a top-level account (``parent_admin`` by
      default, one of ``roles``): the last member holding it there cannot be removed or
      demoted, and ``members.transfer_ownership`` hands it over.
    """

    clock: Clock = attrs.field(factory=SystemClock, validator=_has("now", "clock"))
    ids: IdFactory = attrs.field(factory=UuidIds, validator=_has("new_id", "ids"))
    hierarchy: HierarchyRules = attrs.field(
        factory=HierarchyRules, validator=_of(HierarchyRules, "hierarchy")
    )
    catalog: ActionCatalog = attrs.field(
        default=DEFAULT_CATALOG, validator=_of(ActionCatalog, "catalog")
    )
    roles: tuple[Role, ...] = attrs.field(default=DEFAULT_ROLES, converter=_roles)
    channels: ChannelCatalog = attrs.field(
        default=DEFAULT_CHANNELS, validator=_of(ChannelCatalog, "channels")
    )
    upgrade_policy: UpgradePolicy = attrs.field(
        factory=UpgradePolicy, validator=_of(UpgradePolicy, "upgrade_policy")
    )
    currency: str | None = attrs.field(default=None, converter=_currency)
    max_attempts: int = attrs.field(default=5, converter=_attempts)
    policy_cache_size: int = attrs.field(default=10_000, converter=_cache_size)
    api_key_use_interval: timedelta = attrs.field(default=timedelta(minutes=5), converter=_interval)
    send_hold_ttl: timedelta = attrs.field(default=timedelta(minutes=15), converter=_hold_ttl)
    invoice_number_format: str = attrs.field(default="{payer}-{seq:05d}", converter=_invoice_format)
    credit_note_number_format: str = attrs.field(
        default="{payer}-CN-{seq:05d}", converter=_credit_note_format
    )
    link_request_ttl: timedelta = attrs.field(default=timedelta(days=7), converter=_link_ttl)
    agency_access_role: RoleId = attrs.field(default=AGENCY_MANAGER_ID, converter=_role_id)
    impersonation_ttl: timedelta = attrs.field(
        default=timedelta(hours=1), converter=_impersonation_ttl
    )
    invitation_ttl: timedelta = attrs.field(default=timedelta(days=7), converter=_invitation_ttl)
    owner_role: RoleId = attrs.field(default=PARENT_ADMIN_ID, converter=_owner_role)

    def __attrs_post_init__(self) -> None:
        if self.owner_role not in {r.id for r in self.roles}:
            raise InvalidInput(
                f"owner_role {quoted(self.owner_role)} is not one of the roles", field="owner_role"
            )
        for role in self.roles:
            unknown = sorted(a for a in role.rights if a not in self.catalog)
            if unknown:
                raise InvalidInput(
                    f"role {quoted(role.id)} grants actions missing from the catalog: {unknown}",
                    field="roles",
                )
