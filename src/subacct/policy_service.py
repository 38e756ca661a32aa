"""Permission-checked operations: the policy engine over a ``Store``.

``AccountService`` is the trusted, system-level API (a host's own back office).
``PolicyService`` is what a host calls on behalf of a principal: a user id, an API key or
an impersonation session. Every call checks the principal inside the same unit of work as
the write, against the state in storage at that moment (never a stale cache): the
principal is re-read (so a revoked key or an ended session stops at once), a small
``PolicyIndex`` is built for the accounts involved (their ancestor chains, the users
involved, the ceilings on those accounts), the ``plan_*`` rule runs, then the change, its
domain event and an audit record are written together. A refusal writes nothing.

For the hot path of a host (a check on every request), ``policy_index()`` builds a full
snapshot that answers ``check`` in about a microsecond; rebuild it when the audit log
shows a change (``docs/permissions.md``).

>>> import subacct
>>> from subacct.policy import SEND_MESSAGES, VIEW_BILLING
>>> store = subacct.MemoryStore()
>>> accounts = subacct.AccountService(store)
>>> _ = accounts.create_master("Agency Demo", account_id="agencydemo")
>>> _ = accounts.create_sub("agencydemo", "Company X", account_id="agency1")
>>> _ = accounts.create_user("owner@agency.test", "Owner", user_id="owner")
>>> _ = accounts.add_membership("owner", "agencydemo", "parent_admin")
>>> policy = subacct.PolicyService(store)
>>> policy.check("owner", VIEW_BILLING, "agency1").code
'allowed_by_inherited_role'
>>> _ = policy.invite("owner", "owner", "agency1", "basic_user")
Traceback (most recent call last):
...
subacct.errors.SelfRoleChangeRefused: ...
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from subacct.domain import (
    Account,
    AccountId,
    HierarchyRules,
    Membership,
    RoleId,
    UserId,
)
from subacct.domain.events import (
    ImpersonationEnded,
    ImpersonationStarted,
)
from subacct.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from subacct.policy import (
    CREATE_SUB_ACCOUNTS,
    DEFAULT_CATALOG,
    DEFAULT_ROLES,
    IMPERSONATE,
    INVITE_USERS,
    MANAGE_API_KEYS,
    MANAGE_SETTINGS,
    MANAGE_SUB_ACCOUNTS,
    REMOVE_USERS,
    SUB_ADMIN_ID,
    Action,
    ActionCatalog,
    ApiKey,
    ApiKeyId,
    AuditRecord,
    Ceiling,
    Decision,
    Grant,
    ImpersonationId,
    ImpersonationSession,
    ImpersonationSetting,
    PolicyIndex,
    Principal,
    Role,
    Scope,
    acting_user_id,
    audit_record,
    plan_api_key,
    plan_api_key_revocation,
    plan_ceiling,
    plan_ceiling_removal,
    plan_impersonation,
    plan_impersonation_setting,
    plan_invite,
    plan_removal,
    plan_role_change,
)
from subacct.policy.api_keys import ApiKeyCredential
from subacct.service import (
    AccountService,
    _base,
    event_meta,
    store_membership_added,
    store_membership_removed,
    store_role_change,
    stored_membership,
)
from subacct.storage.collections import (
    API_KEY_CREDENTIALS,
    API_KEYS,
    AUDIT_RECORDS,
    CEILINGS,
    IMPERSONATION_SESSIONS,
    IMPERSONATION_SETTINGS,
    ROLES,
)
from subacct.storage.ports import Clock, IdFactory, Store, UnitOfWork

__all__ = ["PolicyService", "hash_api_key_secret"]

T = TypeVar("T")


def hash_api_key_secret(secret: str) -> str:
    """The SHA-256 hex digest stored for an API key secret (the secret is never stored)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class PolicyService(AccountService):
    """The ``AccountService`` plus everything done on behalf of a principal."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        rules: HierarchyRules | None = None,
        max_attempts: int = 5,
        catalog: ActionCatalog = DEFAULT_CATALOG,
    ) -> None:
        super().__init__(store, clock=clock, ids=ids, rules=rules, max_attempts=max_attempts)
        self.catalog = catalog

    # -- loading ------------------------------------------------------------------------

    def _roles(self, uow: UnitOfWork) -> list[Role]:
        builtin = {r.id for r in DEFAULT_ROLES}
        custom = [r for r in uow.records(ROLES).all() if r.id not in builtin]
        return [*DEFAULT_ROLES, *custom]

    def _fresh(self, uow: UnitOfWork, principal: Principal) -> Principal:
        """Re-read an API key or a session, so revocation and ending take effect at once
        (the engine refuses a revoked key or an ended session)."""
        if isinstance(principal, ApiKey):
            return uow.records(API_KEYS).get(principal.id)
        if isinstance(principal, ImpersonationSession):
            return uow.records(IMPERSONATION_SESSIONS).get(principal.id)
        if not isinstance(principal, str):
            raise InvalidInput(f"{principal!r} is not a principal", field="principal")
        return principal

    def _index(self, uow: UnitOfWork, accounts: Iterable[str], users: Iterable[str]) -> PolicyIndex:
        """A policy index over ``accounts`` with their ancestor chains and the memberships
        ``users`` hold there: all a decision about those accounts can depend on."""
        chosen: dict[AccountId, Account] = {}
        for account_id in accounts:
            account = uow.accounts.get(AccountId(account_id))
            for acc in (account, *uow.accounts.ancestors(account.id)):
                chosen.setdefault(acc.id, acc)
        memberships = [
            m
            for user in dict.fromkeys(users)
            for m in uow.memberships.for_user(UserId(user))
            if m.account_id in chosen
        ]
        ceilings = [c for a in chosen for c in uow.records(CEILINGS).list_by("account_id", a)]
        settings = uow.records(IMPERSONATION_SETTINGS)
        return PolicyIndex.build(
            chosen.values(),
            memberships,
            roles=self._roles(uow),
            ceilings=ceilings,
            impersonation_settings=[s for a in chosen if (s := settings.find(a)) is not None],
            catalog=self.catalog,
        )

    def _audit(
        self,
        uow: UnitOfWork,
        principal: Principal,
        action: Action,
        account_id: AccountId,
        decision: Decision,
    ) -> None:
        record = audit_record(
            self.ids.new_id("audit"), self.clock.now(), principal, action, account_id, decision
        )
        uow.records(AUDIT_RECORDS).add(record)

    def _checked(
        self,
        principal: Principal,
        accounts: Sequence[str],
        users: Sequence[str],
        work: Callable[[UnitOfWork, Principal, PolicyIndex], T],
    ) -> T:
        """Run ``work`` with the fresh principal and an index of what it touches."""

        def run(uow: UnitOfWork) -> T:
            fresh = self._fresh(uow, principal)
            index = self._index(uow, accounts, [acting_user_id(fresh), *users])
            return work(uow, fresh, index)

        return self._write(run)

    def _allowed(
        self,
        uow: UnitOfWork,
        who: Principal,
        index: PolicyIndex,
        action: Action,
        account_id: AccountId,
    ) -> None:
        """Record in the audit records that ``who`` was allowed ``action`` here."""
        self._audit(uow, who, action, account_id, index.check(who, action, account_id))

    # -- decisions ----------------------------------------------------------------------

    def check(self, principal: Principal, action: Action, account_id: str) -> Decision:
        """The decision for ``principal`` doing ``action`` in the account, from storage now."""

        def run(uow: UnitOfWork) -> Decision:
            fresh = self._fresh(uow, principal)
            index = self._index(uow, [account_id], [acting_user_id(fresh)])
            return index.check(fresh, action, AccountId(account_id))

        return self._read(run)

    def require(self, principal: Principal, action: Action, account_id: str) -> Decision:
        """``check``, raising a ``PermissionDenied`` subclass when refused. What API keys
        and impersonation sessions are allowed to do is written to the audit records."""

        def run(uow: UnitOfWork) -> Decision:
            fresh = self._fresh(uow, principal)
            index = self._index(uow, [account_id], [acting_user_id(fresh)])
            decision = index.require(fresh, action, AccountId(account_id))
            if not isinstance(fresh, str):
                self._audit(uow, fresh, action, AccountId(account_id), decision)
            return decision

        return self._write(run)

    def actions_in(self, principal: Principal, account_id: str) -> dict[Action, Scope]:
        """What ``principal`` may do in the account, with the scope of each action."""

        def run(uow: UnitOfWork) -> dict[Action, Scope]:
            fresh = self._fresh(uow, principal)
            index = self._index(uow, [account_id], [acting_user_id(fresh)])
            return index.actions_in(fresh, AccountId(account_id))

        return self._read(run)

    def policy_index(self) -> PolicyIndex:
        """A full snapshot for fast checks on a host's hot path and for reverse queries
        (``accounts_with``); rebuild it after changes (the audit log tells when)."""

        def run(uow: UnitOfWork) -> PolicyIndex:
            return PolicyIndex.build(
                uow.accounts.all(),
                uow.memberships.all(),
                roles=self._roles(uow),
                ceilings=uow.records(CEILINGS).all(),
                impersonation_settings=uow.records(IMPERSONATION_SETTINGS).all(),
                catalog=self.catalog,
            )

        return self._read(run)

    def audit_records(self, account_id: str) -> list[AuditRecord]:
        """Audit records about the account, oldest first."""
        records = self._read(
            lambda uow: uow.records(AUDIT_RECORDS).list_by("account_id", account_id)
        )
        return sorted(records, key=lambda r: (r.at, r.id))

    # -- roles and memberships ----------------------------------------------------------

    def define_role(self, role: Role) -> Role:
        """Store (or replace) a custom role; system level. Built-in ids are refused."""
        if role.id in {r.id for r in DEFAULT_ROLES}:
            raise Conflict(f"role {role.id!r} is built in", role_id=role.id)
        unknown = sorted(a for a in role.rights if a not in self.catalog)
        if unknown:
            raise InvalidInput(f"role {role.id!r} names unknown actions {unknown}", field="grants")

        def run(uow: UnitOfWork) -> Role:
            repo = uow.records(ROLES)
            if repo.find(role.id) is None:
                repo.add(role)
            else:
                repo.update(role)
            return role

        return self._write(run)

    def roles(self) -> list[Role]:
        """The built-in roles followed by the custom ones."""
        return self._read(self._roles)

    def invite(self, principal: Principal, user_id: str, account_id: str, role: str) -> Membership:
        """Give an existing user ``role`` in the account, if ``principal`` may grant it."""
        now = self.clock.now()

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> Membership:
            uow.users.get(UserId(user_id))
            account = uow.accounts.get(AccountId(account_id))
            account.require_open()
            membership = plan_invite(index, who, Membership(user_id, account.id, role, now))
            store_membership_added(uow, membership, event_meta(self, acting_user_id(who)))
            self._allowed(uow, who, index, INVITE_USERS, account.id)
            return membership

        return self._checked(principal, [account_id], [user_id], work)

    def change_member_role(
        self, principal: Principal, user_id: str, account_id: str, role: str
    ) -> Membership:
        """Move a member to another role; both roles must be within the principal's rights."""

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> Membership:
            current = stored_membership(uow, user_id, account_id)
            changed = plan_role_change(index, who, current, RoleId(role))
            store_role_change(uow, current, changed, event_meta(self, acting_user_id(who)))
            self._allowed(uow, who, index, INVITE_USERS, current.account_id)
            return changed

        return self._checked(principal, [account_id], [user_id], work)

    def remove_member(self, principal: Principal, user_id: str, account_id: str) -> Membership:
        """Take a member out of the account (its data stays)."""

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> Membership:
            gone = plan_removal(index, who, stored_membership(uow, user_id, account_id))
            store_membership_removed(uow, gone, event_meta(self, acting_user_id(who)))
            self._allowed(uow, who, index, REMOVE_USERS, gone.account_id)
            return gone

        return self._checked(principal, [account_id], [user_id], work)

    def create_sub_account(
        self, principal: Principal, parent_id: str, name: str, *, account_id: str | None = None
    ) -> Account:
        """A new sub-account of ``parent_id``, if ``principal`` may create one there."""
        new_id = AccountId(self._new_id(account_id, "account"))
        now = self.clock.now()

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> Account:
            decision = index.require(who, CREATE_SUB_ACCOUNTS, AccountId(parent_id))
            meta = event_meta(self, acting_user_id(who))
            sub = self._add_sub(uow, parent_id, new_id, name, now, meta)
            self._audit(uow, who, CREATE_SUB_ACCOUNTS, AccountId(parent_id), decision)
            return sub

        return self._checked(principal, [parent_id], [], work)

    # -- API keys -----------------------------------------------------------------------

    def create_api_key(
        self,
        principal: Principal,
        account_id: str,
        name: str,
        grants: Iterable[Grant],
        *,
        key_id: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new API key of the account and its secret (shown once, stored only hashed).
        Its grants must be within the creating user's own rights there."""
        new_id = ApiKeyId(self._new_id(key_id, "key"))
        secret = f"sk_{secrets.token_urlsafe(32)}"
        now = self.clock.now()

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> ApiKey:
            key = ApiKey(new_id, account_id, name, acting_user_id(who), tuple(grants), now)
            key = plan_api_key(index, who, key)
            uow.records(API_KEYS).add(key)
            uow.records(API_KEY_CREDENTIALS).add(
                ApiKeyCredential(hash_api_key_secret(secret), key.id)
            )
            self._allowed(uow, who, index, MANAGE_API_KEYS, key.account_id)
            return key

        return self._checked(principal, [account_id], [], work), secret

    def authenticate_api_key(self, secret: str) -> ApiKey:
        """The active key with this secret (``NotFound`` or ``ApiKeyRevoked`` otherwise)."""

        def run(uow: UnitOfWork) -> ApiKey:
            credential = uow.records(API_KEY_CREDENTIALS).find(hash_api_key_secret(secret))
            if credential is None:
                raise PermissionDenied("no API key has this secret")
            key = uow.records(API_KEYS).get(credential.key_id)
            if not key.is_active:
                raise PermissionDenied(f"API key {key.id!r} is revoked", api_key_id=key.id)
            return key

        return self._read(run)

    def revoke_api_key(self, principal: Principal, key_id: str) -> ApiKey:
        """Revoke a key; checks made with it fail from this moment."""
        key = self._read(lambda uow: uow.records(API_KEYS).get(ApiKeyId(key_id)))
        now = self.clock.now()

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> ApiKey:
            stored = uow.records(API_KEYS).get(ApiKeyId(key_id))
            if not stored.is_active:
                raise Conflict(f"API key {key_id!r} is already revoked", api_key_id=key_id)
            revoked = plan_api_key_revocation(index, who, stored, now)
            uow.records(API_KEYS).update(revoked)
            self._allowed(uow, who, index, MANAGE_API_KEYS, stored.account_id)
            return revoked

        return self._checked(principal, [key.account_id], [], work)

    def api_keys(self, account_id: str) -> list[ApiKey]:
        return self._read(lambda uow: uow.records(API_KEYS).list_by("account_id", account_id))

    # -- ceilings -----------------------------------------------------------------------

    def set_ceiling(self, principal: Principal, ceiling: Ceiling) -> Ceiling:
        """Place or replace the ceiling ``ceiling.set_by`` puts on ``ceiling.account_id``."""

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> Ceiling:
            placed = plan_ceiling(index, who, ceiling)
            repo = uow.records(CEILINGS)
            if repo.find(CEILINGS.key_of(placed)) is None:
                repo.add(placed)
            else:
                repo.update(placed)
            if placed.set_by is not None:
                self._allowed(uow, who, index, MANAGE_SUB_ACCOUNTS, placed.set_by)
            return placed

        return self._checked(principal, [ceiling.account_id], [], work)

    def set_platform_ceiling(self, ceiling: Ceiling) -> Ceiling:
        """Place a platform ceiling (``set_by=None``); system level, no principal."""
        if ceiling.set_by is not None:
            raise InvalidInput("a platform ceiling has set_by=None", field="set_by")
        unknown = sorted(a for a in ceiling.actions if a not in self.catalog)
        if unknown:
            raise InvalidInput(f"ceiling names unknown actions {unknown}", field="actions")

        def run(uow: UnitOfWork) -> Ceiling:
            uow.accounts.get(ceiling.account_id)
            repo = uow.records(CEILINGS)
            if repo.find(CEILINGS.key_of(ceiling)) is None:
                repo.add(ceiling)
            else:
                repo.update(ceiling)
            return ceiling

        return self._write(run)

    def remove_ceiling(self, principal: Principal, account_id: str, set_by: str | None) -> None:
        """Lift the ceiling ``set_by`` placed on the account (``NotFound`` if none)."""

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> None:
            by = None if set_by is None else AccountId(set_by)
            found = plan_ceiling_removal(index, who, AccountId(account_id), by)
            if found is None:
                raise NotFound(f"no ceiling set by {set_by!r} on {account_id!r}")
            uow.records(CEILINGS).remove(CEILINGS.key_of(found))
            if by is not None:
                self._allowed(uow, who, index, MANAGE_SUB_ACCOUNTS, by)

        self._checked(principal, [account_id], [], work)

    def ceilings(self, account_id: str) -> list[Ceiling]:
        return self._read(lambda uow: uow.records(CEILINGS).list_by("account_id", account_id))

    # -- impersonation ------------------------------------------------------------------

    def set_impersonation_allowed(
        self, principal: Principal, account_id: str, allowed: bool
    ) -> ImpersonationSetting:
        """Whether the account may be impersonated (decided by its own administrators)."""

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> ImpersonationSetting:
            setting = plan_impersonation_setting(
                index, who, ImpersonationSetting(AccountId(account_id), allowed)
            )
            repo = uow.records(IMPERSONATION_SETTINGS)
            if repo.find(account_id) is None:
                repo.add(setting)
            else:
                repo.update(setting)
            self._allowed(uow, who, index, MANAGE_SETTINGS, setting.account_id)
            return setting

        return self._checked(principal, [account_id], [], work)

    def start_impersonation(
        self,
        user_id: str,
        account_id: str,
        *,
        as_role: str = SUB_ADMIN_ID,
        session_id: str | None = None,
    ) -> ImpersonationSession:
        """The user (an administrator of an ancestor) logs on as the account. Pass the
        session as the principal of later calls; end it with ``end_impersonation``."""
        new_id = ImpersonationId(self._new_id(session_id, "imp"))
        now = self.clock.now()

        def work(uow: UnitOfWork, who: Principal, index: PolicyIndex) -> ImpersonationSession:
            session = plan_impersonation(
                index, ImpersonationSession(new_id, user_id, account_id, now, as_role)
            )
            uow.records(IMPERSONATION_SESSIONS).add(session)
            meta = event_meta(self, session.real_user_id)
            uow.events.append(
                ImpersonationStarted(
                    **_base(meta, session.account_id),
                    session_id=session.id,
                    as_role=session.as_role,
                )
            )
            self._allowed(uow, session, index, IMPERSONATE, session.account_id)
            return session

        return self._checked(UserId(user_id), [account_id], [], work)

    def end_impersonation(self, session_id: str) -> ImpersonationSession:
        """End the session; later checks with it are refused."""
        now = self.clock.now()

        def run(uow: UnitOfWork) -> ImpersonationSession:
            repo = uow.records(IMPERSONATION_SESSIONS)
            session = repo.get(session_id)
            if not session.is_active:
                raise Conflict(f"impersonation {session_id!r} has ended already")
            ended = session.ended(now)
            repo.update(ended)
            meta = event_meta(self, ended.real_user_id)
            uow.events.append(
                ImpersonationEnded(**_base(meta, ended.account_id), session_id=ended.id)
            )
            return ended

        return self._write(run)
