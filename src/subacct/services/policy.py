"""``app.policy``: decisions, roles, ceilings, API keys and impersonation.

Every decision is made from storage in the call's own unit of work, so a change made a
moment ago (a revoked key, an ended session, a new ceiling) counts at once.

* ``check``, ``actions_in``, ``accounts_with``: what ``by`` may do (reads);
  ``who_can``: every principal that may do an action in an account, and why
  (``users.view`` there; API keys only for those who may list them);
  ``require`` also writes the allowed decision to the audit records (or the denial);
* ``define_role``: custom roles are the system's; ``roles`` lists the role set;
* ``set_ceiling`` / ``remove_ceiling``: ``sub_accounts.manage`` in ``set_by`` (a strict
  ancestor); a platform ceiling (``set_by=None``) is the system's. A ceiling binds only
  while ``set_by`` is above the account: moves drop the others (``app.accounts.move``);
* ``create_api_key``: a user (or an impersonating one) with ``api_keys.manage`` there
  (``api_keys.manage_account`` for an account key), the key's grants within their own
  rights; the secret is returned once and stored only as a hash. ``rotate_api_key``,
  ``revoke_api_key``, ``api_key_last_used``: the same right for the key's kind.
  ``authenticate_api_key`` is the host's sign-in step (the system). A revoked or expired
  key is refused in every call (``ApiKeyRevoked``, ``ApiKeyExpired``), except ``check``,
  which answers with the refusing decision;
* ``start_impersonation``: a user holding ``accounts.impersonate`` through an
  administrator role in a strict ancestor, where the account allows it; audited, also
  when refused. ``end_impersonation``: the impersonator, an administrator above, or the
  system.

>>> import subacct
>>> from subacct.policy import VIEW_BILLING
>>> app = subacct.Subacct(subacct.MemoryStore())
>>> S = subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> _ = app.accounts.create_sub("agencydemo", "Company X", account_id="agency1", by=S)
>>> _ = app.members.create_user("owner@agency.test", "Owner", user_id="owner", by=S)
>>> _ = app.members.add("owner", "agencydemo", "parent_admin", by=S)
>>> app.policy.check(VIEW_BILLING, "agency1", by="owner").code
'allowed_by_inherited_role'
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from subacct.domain import AccountId, RoleId
from subacct.domain.events import (
    CeilingRemoved,
    CeilingSet,
    ImpersonationSettingChanged,
    RoleDefined,
)
from subacct.errors import (
    InvalidInput,
    NotFound,
    quoted,
)
from subacct.policy import (
    MANAGE_ACCOUNT_KEYS,
    MANAGE_API_KEYS,
    MANAGE_SETTINGS,
    MANAGE_SUB_ACCOUNTS,
    SUB_ADMIN_ID,
    VIEW_USERS,
    Action,
    ApiKey,
    ApiKeyKind,
    Ceiling,
    Decision,
    Grant,
    Holder,
    ImpersonationSession,
    ImpersonationSetting,
    ImpersonationStatus,
    PolicyIndex,
    Role,
    Scope,
    check_ceiling,
    plan_ceiling,
    plan_ceiling_removal,
    plan_impersonation_setting,
    plan_role_definition,
    who_can,
)
from subacct.policy.api_keys import secret_hash
from subacct.policy.ceilings import binds
from subacct.principals import Actor
from subacct.services import _args, _credentials
from subacct.services._kinds import command, query
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import (
    API_KEYS,
    CEILINGS,
    IMPERSONATION_SESSIONS,
    IMPERSONATION_SETTINGS,
    ROLES,
)

__all__ = ["Policy"]

_DEFINE_ROLE = Action("roles.define")
_INDEX = Action("policy.index")
_AUTHENTICATE = Action("api_keys.authenticate")


def _new_secret() -> str:
    return f"sk_{secrets.token_urlsafe(32)}"


def _put(repo: object, key: str, value: object) -> bool:
    """Insert or replace; True when it replaced something."""
    if repo.find(key) is None:  # type: ignore[attr-defined]
        repo.add(value)  # type: ignore[attr-defined]
        return False
    repo.update(value)  # type: ignore[attr-defined]
    return True


class Policy:
    """Decisions, roles, ceilings, API keys and impersonation (``app.policy``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    # -- decisions ------------------------------------------------------------------------

    @query
    def check(self, action: str, account_id: str, *, by: Actor) -> Decision:
        """May ``by`` do ``action`` in the account? The decision, with its reason code
        (also for a revoked or expired API key: ``api_key_revoked``, ``api_key_expired``;
        every other call made with such a key raises instead)."""
        who, wanted = _args.actor(by), _args.action(action)
        where = _args.ident(account_id, "account_id")

        def work(unit: Unit) -> Decision:
            if unit.is_system:
                unit.chain(where)  # AccountNotFound for an unknown account
            return unit.decide(wanted, where)  # (a user's decision reads the account)

        return self._runner.query(who, work, decides=True)

    @query
    def require(self, action: str, account_id: str, *, by: Actor) -> Decision:
        """``check``, raising the typed ``PermissionDenied`` when refused; the decision
        (allowed or not) is written to the audit records. For the actions a host performs
        itself (sending a message, managing webhooks)."""
        who, wanted = _args.actor(by), _args.action(action)
        where = _args.ident(account_id, "account_id")

        def work(unit: Unit) -> Decision:
            unit.uow.accounts.get(AccountId(where))
            return unit.require(wanted, where)

        return self._runner.command(who, work)

    @query
    def actions_in(self, account_id: str, *, by: Actor) -> dict[Action, Scope]:
        """What ``by`` may do in the account, with the scope of each action."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> dict[Action, Scope]:
            unit.uow.accounts.get(AccountId(where))
            if unit.is_system:
                return {a: Scope.ALL for a in unit.settings.catalog}
            return unit.policy([where]).actions_in(unit.principal, AccountId(where))

        return self._runner.query(who, work)

    @query
    def accounts_with(self, action: str, *, by: Actor) -> list[AccountId]:
        """Every account where ``by`` may do ``action``, in id order."""
        who, wanted = _args.actor(by), _args.action(action)

        def work(unit: Unit) -> list[AccountId]:
            if unit.is_system:
                return [a.id for a in unit.uow.accounts.all()]
            homes = unit.homes()
            below = [d.id for h in homes for d in unit.uow.accounts.descendants(h)]
            index = unit.policy([*homes, *below])
            return index.accounts_with(unit.principal, wanted)

        return self._runner.query(who, work)

    @query
    def who_can(self, action: str, account_id: str, *, by: Actor) -> list[Holder]:
        """Every user, API key and impersonation session that may do ``action`` in the
        account, each with the engine's decision (``subacct.policy.who_can``): users
        first, then keys, then sessions, each in id order; the system is never listed.
        Needs ``users.view`` there; API keys are listed only to those who may list the
        account's keys (``api_keys.manage`` or ``api_keys.manage_account``), as
        ``api_keys`` does. Expired keys and ended sessions hold nothing."""
        who, wanted = _args.actor(by), _args.action(action)
        where = _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[Holder]:
            account, above = unit.chain(where)
            unit.require(VIEW_USERS, where)
            records = unit.uow.records
            keys: list[ApiKey] = []
            if unit.is_system or any(
                unit.decide(right, where).allowed
                for right in (MANAGE_API_KEYS, MANAGE_ACCOUNT_KEYS)
            ):
                keys = [k for k in records(API_KEYS).list_by("account_id", where) if k.is_active]
            sessions = [
                s
                for s in records(IMPERSONATION_SESSIONS).list_by("account_id", where)
                if s.is_active
            ]
            people = {
                m.user_id for a in (account, *above) for m in unit.uow.memberships.for_account(a.id)
            }
            people |= {s.real_user_id for s in sessions} | {k.created_by for k in keys}
            index = unit.policy([where], people)
            return who_can(index, wanted, account.id, keys=keys, sessions=sessions, at=unit.now)

        return self._runner.query(who, work)

    @query
    def index(self, *, by: Actor) -> PolicyIndex:
        """A full snapshot of the policy for fast checks on a host's hot path and for
        reverse queries (the system only; rebuild it when the event log shows a change)."""
        who = _args.actor(by)

        def work(unit: Unit) -> PolicyIndex:
            unit.require_system(_INDEX)
            return PolicyIndex.build(
                unit.uow.accounts.all(),
                unit.uow.memberships.all(),
                roles=unit.roles(),
                ceilings=unit.uow.records(CEILINGS).all(),
                impersonation_settings=unit.uow.records(IMPERSONATION_SETTINGS).all(),
                catalog=unit.settings.catalog,
            )

        return self._runner.query(who, work)

    # -- roles ----------------------------------------------------------------------------

    @command
    def define_role(self, role: Role, *, by: Actor) -> Role:
        """Store (or replace) a custom role; the system only. Built-in ids are refused."""
        who, given = _args.actor(by), _args.of(role, Role, "role")

        def work(unit: Unit) -> Role:
            unit.require_system(_DEFINE_ROLE)
            checked = plan_role_definition(
                given, unit.settings.catalog, (r.id for r in unit.settings.roles)
            )
            replaced = _put(unit.uow.records(ROLES), checked.id, checked)
            unit.emit(
                RoleDefined(
                    **unit.meta().about(None),
                    role_id=checked.id,
                    name=checked.name,
                    actions=tuple(checked.rights),
                    inherits=checked.inherits,
                    replaced=replaced,
                )
            )
            return checked

        return self._runner.command(who, work)

    @query
    def roles(self, *, by: Actor) -> list[Role]:
        """The built-in roles followed by the custom ones."""
        return self._runner.query(_args.actor(by), lambda unit: list(unit.roles()))

    # -- ceilings -------------------------------------------------------------------------

    @command
    def set_ceiling(self, ceiling: Ceiling, *, by: Actor) -> Ceiling:
        """Place or replace the ceiling ``ceiling.set_by`` puts on ``ceiling.account_id``
        (``set_by=None``: a platform ceiling, the system only)."""
        who, given = _args.actor(by), _args.of(ceiling, Ceiling, "ceiling")

        def work(unit: Unit) -> Ceiling:
            index = unit.policy([given.account_id])
            if unit.is_system or given.set_by is None:
                unit.require_system(MANAGE_SUB_ACCOUNTS, given.account_id)
                placed = check_ceiling(index, given)
            else:
                placed = plan_ceiling(index, unit.principal, given)
                unit.allowed(MANAGE_SUB_ACCOUNTS, given.set_by)
            _put(unit.uow.records(CEILINGS), CEILINGS.key_of(placed), placed)
            unit.emit(
                CeilingSet(
                    **unit.meta().about(placed.account_id),
                    set_by=placed.set_by,
                    actions=placed.actions,
                )
            )
            return placed

        return self._runner.command(who, work)

    @command
    def remove_ceiling(self, account_id: str, set_by: str | None, *, by: Actor) -> Ceiling:
        """Lift the ceiling ``set_by`` placed on the account (``NotFound`` if none).
        Returns the ceiling lifted."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        placer = _args.optional_ident(set_by, "set_by")

        def work(unit: Unit) -> Ceiling:
            index = unit.policy([where])
            above = None if placer is None else AccountId(placer)
            if unit.is_system or above is None:
                unit.require_system(MANAGE_SUB_ACCOUNTS, where)
                placed = unit.uow.records(CEILINGS).list_by("account_id", where)
                # (from storage: the system also lifts one a move left behind before
                # moves dropped them, which binds nothing)
                found = next((c for c in placed if c.set_by == above), None)
            else:
                found = plan_ceiling_removal(index, unit.principal, AccountId(where), above)
                unit.allowed(MANAGE_SUB_ACCOUNTS, above)
            if found is None:
                raise NotFound(
                    f"no ceiling set by {quoted(placer)} on {quoted(where)}",
                    account_id=where,
                    set_by=placer,
                )
            unit.uow.records(CEILINGS).remove(CEILINGS.key_of(found))
            unit.emit(CeilingRemoved(**unit.meta().about(found.account_id), set_by=found.set_by))
            return found

        return self._runner.command(who, work)

    @query
    def ceilings(self, account_id: str, *, by: Actor) -> list[Ceiling]:
        """The ceilings placed on the account itself that bind it (its users may see what
        bounds it)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[Ceiling]:
            unit.see(where)
            above = {a.id for a in unit.chain(where)[1]}
            placed = unit.uow.records(CEILINGS).list_by("account_id", where)
            return [c for c in placed if binds(c, above)]

        return self._runner.query(who, work)

    # -- API keys -------------------------------------------------------------------------

    @command
    def create_api_key(
        self,
        account_id: str,
        name: str,
        grants: Iterable[Grant],
        *,
        by: Actor,
        key_id: str | None = None,
        kind: ApiKeyKind | str = ApiKeyKind.PERSONAL,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """A new API key of the account and its secret (shown once, stored only hashed).
        Made by a user, its grants within that user's own rights there. A ``personal``
        key (the default; ``api_keys.manage``) acts within its creator's current rights
        and is revoked when they leave; an ``account`` key (``api_keys.manage_account``)
        belongs to the account. ``expires_at``: when it stops working (after now)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        label = _args.name(name)
        wanted = tuple(_args.items(grants, "grants", Grant))
        given = _args.optional_ident(key_id, "key_id")
        chosen = _args.choice(kind, ApiKeyKind, "kind")
        until = _args.optional_timestamp(expires_at, "expires_at")
        secret = _new_secret()

        key = self._runner.command(
            who,
            lambda unit: _credentials.create_key(
                unit, where, label, wanted, given, secret, chosen, until
            ),
        )
        return key, secret

    @query
    def authenticate_api_key(self, secret: str, *, by: Actor) -> ApiKey:
        """The key with this secret, to pass as ``by=`` (the host's sign-in step: the
        system only), if it may act now: ``PermissionDenied`` for an unknown secret,
        ``ApiKeyRevoked`` for a revoked key, ``ApiKeyExpired`` for an expired one,
        ``ApiKeySecretRotated`` for a secret replaced by ``rotate_api_key`` whose overlap
        has ended; the secret is never echoed. Records the key's use."""
        who = _args.actor(by)
        if not isinstance(secret, str) or not 0 < len(secret) <= 1000:
            raise InvalidInput(
                "an API key secret is a string of 1 to 1000 characters", field="secret"
            )
        digest = secret_hash(secret)

        key = self._runner.query(who, lambda unit: _credentials.authenticate(unit, digest))
        self._runner.key_uses.note(key.id)
        return key

    @command
    def rotate_api_key(
        self, key_id: str, *, by: Actor, old_secret_valid_until: datetime | None = None
    ) -> tuple[ApiKey, str]:
        """A new secret for the key (shown once); its older secrets keep signing in until
        ``old_secret_valid_until`` (``None``: they stop now), then only the new one does.
        The right that revokes the key (``api_keys.manage``, or ``api_keys.manage_account``
        for an account key); a revoked or expired key is a ``Conflict``."""
        who, wanted = _args.actor(by), _args.ident(key_id, "key_id")
        until = _args.optional_timestamp(old_secret_valid_until, "old_secret_valid_until")
        secret = _new_secret()

        key = self._runner.command(
            who, lambda unit: _credentials.rotate_key(unit, wanted, until, secret)
        )
        return key, secret

    @command
    def revoke_api_key(self, key_id: str, *, by: Actor) -> ApiKey:
        """Revoke a key (``api_keys.manage`` in its account; ``api_keys.manage_account``
        for an account key); calls made with it fail from this moment."""
        who, wanted = _args.actor(by), _args.ident(key_id, "key_id")

        return self._runner.command(who, lambda unit: _credentials.revoke_key(unit, wanted))

    @query
    def api_keys(self, account_id: str, *, by: Actor) -> list[ApiKey]:
        """The account's API keys of both kinds, revoked and expired ones included
        (``api_keys.manage`` or ``api_keys.manage_account`` there)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[ApiKey]:
            unit.uow.accounts.get(AccountId(where))
            unit.require_any([MANAGE_API_KEYS, MANAGE_ACCOUNT_KEYS], where)
            return unit.uow.records(API_KEYS).list_by("account_id", where)

        return self._runner.query(who, work)

    @query
    def api_key_last_used(self, key_id: str, *, by: Actor) -> datetime | None:
        """When the key was last used (``None``: never), to within
        ``Settings.api_key_use_interval``: a call made with it that succeeded, or
        ``authenticate_api_key``. The right that revokes it."""
        who, wanted = _args.actor(by), _args.ident(key_id, "key_id")

        return self._runner.query(who, lambda unit: _credentials.last_used(unit, wanted))

    # -- impersonation --------------------------------------------------------------------

    @command
    def set_impersonation_allowed(
        self, account_id: str, allowed: bool, *, by: Actor
    ) -> ImpersonationSetting:
        """Whether the account may be impersonated: decided by its own administrators
        (``settings.manage`` through a membership in it), or the system."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        flag = _args.boolean(allowed, "allowed")

        def work(unit: Unit) -> ImpersonationSetting:
            setting = ImpersonationSetting(AccountId(where), flag)
            unit.uow.accounts.get(setting.account_id)
            if unit.is_system:
                unit.require(MANAGE_SETTINGS, where)
            else:
                index = unit.policy([where])
                plan_impersonation_setting(index, unit.principal, setting)
                unit.allowed(MANAGE_SETTINGS, setting.account_id)
            _put(unit.uow.records(IMPERSONATION_SETTINGS), where, setting)
            unit.emit(
                ImpersonationSettingChanged(**unit.meta().about(setting.account_id), allowed=flag)
            )
            return setting

        return self._runner.command(who, work)

    @command
    def start_impersonation(
        self,
        account_id: str,
        *,
        by: Actor,
        reason: str,
        as_role: str = SUB_ADMIN_ID,
        session_id: str | None = None,
    ) -> ImpersonationSession:
        """``by`` (a user administering an ancestor) logs on as the account with the
        rights of ``as_role``, for ``reason`` (required: a support ticket, say). Pass the
        session as ``by=`` of later calls until ``Settings.impersonation_ttl`` has passed
        (then it is refused as ``impersonation_expired``); end it sooner with
        ``end_impersonation``. Audited with the real user, also when refused."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        why = _args.name(reason, "reason")
        role = RoleId(_args.ident(as_role, "as_role"))
        given = _args.optional_ident(session_id, "session_id")

        return self._runner.command(
            who, lambda unit: _credentials.start_session(unit, where, role, given, why)
        )

    @query
    def impersonation(self, session_id: str, *, by: Actor) -> ImpersonationSession:
        """The stored session (with standing in the impersonated account):
        ``impersonation_status`` says whether it is active, ended or expired now."""
        who, wanted = _args.actor(by), _args.ident(session_id, "session_id")

        return self._runner.query(who, lambda unit: _credentials.session_state(unit, wanted))

    @query
    def impersonation_status(self, session_id: str, *, by: Actor) -> ImpersonationStatus:
        """``active``, ``ended`` or ``expired`` (its time is up) at the app's clock."""
        who, wanted = _args.actor(by), _args.ident(session_id, "session_id")

        def work(unit: Unit) -> ImpersonationStatus:
            return _credentials.session_state(unit, wanted).status_at(unit.now)

        return self._runner.query(who, work)

    @command
    def end_impersonation(self, session_id: str, *, by: Actor) -> ImpersonationSession:
        """End the session: by the impersonator (or the session itself), an administrator
        above the account, or the system. Later calls with it are refused."""
        who, wanted = _args.actor(by), _args.ident(session_id, "session_id")

        return self._runner.command(who, lambda unit: _credentials.end_session(unit, wanted))
