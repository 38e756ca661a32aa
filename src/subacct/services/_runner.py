"""The one path every call of every sub-API takes (private).

``Runner.command`` opens a unit of work, re-reads the acting principal (a revoked key or
an ended session stops at once), runs the sub-API's ``work`` with a ``Unit`` (the policy
check, the core call, the writes), appends the events and audit records the work
gathered, and commits. A unit that lost a race (``ConcurrentModification``), or lost its
database connection before the commit was sent (``StorageUnavailable`` with reason
``connection_lost`` and outcome ``not_committed``: nothing was written), runs again from
the start on a fresh connection, up to ``Settings.max_attempts`` times in all. A
connection lost while committing is raised as it is (outcome ``unknown``): the unit may
have been written, and running it again could do it twice. A refusal by the policy
(``ActionDenied``) rolls everything back, then commits one audit record of the denied
decision; any other refusal commits nothing. ``Runner.query`` is the same for reads
(nothing but a denial's audit record is ever written); a read whose allowed decision is
itself audited (``policy.require``, ``reports.export_csv``) runs as a command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from subacct.domain import Account, AccountId, AccountKind, AgencyLink, Membership, UserId
from subacct.domain.events import DomainEvent, EventId, EventMeta
from subacct.domain.ids import check_id
from subacct.errors import (
    ActionDenied,
    ConcurrentModification,
    InvalidInput,
    NotFound,
    RoleNotFound,
    StorageUnavailable,
    UserNotFound,
    quoted,
)
from subacct.policy import (
    IMPERSONATE,
    MANAGE_SUB_ACCOUNTS,
    SYSTEM_DECISION,
    VIEW_ACCOUNT,
    Action,
    ApiKey,
    Ceiling,
    Decision,
    ImpersonationSession,
    ImpersonationSetting,
    PolicyIndex,
    Principal,
    Reason,
    Role,
    System,
    acting_user_id,
    audit_record,
    denial_error,
    principal_label,
    standing,
)
from subacct.policy.api_keys import USE_API_KEY
from subacct.principals import Actor
from subacct.services._key_uses import KeyUses
from subacct.services._policy_cache import _MISSING, PolicyCache, Snapshot, Table, cached
from subacct.settings import Settings
from subacct.storage.collections import (
    API_KEYS,
    AUDIT_RECORDS,
    CEILINGS,
    IMPERSONATION_SESSIONS,
    IMPERSONATION_SETTINGS,
    ROLES,
)
from subacct.storage.faults import rerun_safe
from subacct.storage.ports import Store, UnitOfWork

__all__ = ["Runner", "Unit"]

T = TypeVar("T")


def _table(name: str) -> Callable[[Snapshot], Table[Any, Any]]:
    return lambda snapshot: getattr(snapshot, name)


_PRINCIPALS = _table("principals")
_ROLES = _table("roles")
_CHAINS = _table("chains")
_MEMBERSHIPS = _table("memberships")
_CEILINGS = _table("ceilings")
_SETTINGS = _table("settings")
_INDEXES = _table("indexes")
_LINKS = _table("links")


class Unit:
    """One unit of work of one call: storage, the fresh principal, the policy, and the
    events and audit records to append when the work succeeds."""

    def __init__(
        self,
        settings: Settings,
        uow: UnitOfWork,
        by: Actor,
        *,
        writing: bool,
        cache: PolicyCache | None = None,
        decides: bool = False,
    ) -> None:
        self.uow = uow
        self.settings = settings
        self.writing = writing
        self.now: datetime = settings.clock.now()
        self._cache = cache
        self._snapshot: Snapshot | None = None
        # a unit whose reads are not one snapshot: what it read, kept once confirmed
        self.staged: list[tuple[str, Any, Any]] = []
        self._kept: Snapshot | None = None
        # why the acting API key or session cannot act at all now (revoked, expired),
        # else None
        self.key_refusal: Reason | None = None
        self.actor: Principal | System = self._fresh(by)
        if self.key_refusal is not None and not decides:
            # refused before anything else, whatever the call (only ``policy.check``
            # answers with the refusing decision instead: ``decides``)
            held = self.actor
            assert isinstance(held, ApiKey | ImpersonationSession)
            refused = Decision(False, self.key_refusal)
            used = USE_API_KEY if isinstance(held, ApiKey) else IMPERSONATE
            raise denial_error(held, used, held.account_id, refused)
        self.events: list[DomainEvent] = []
        self.audits: list[tuple[Action, AccountId | None, Decision]] = []
        self._audited: set[tuple[Action, AccountId | None]] = set()
        self._index: PolicyIndex | None = None
        self._indexed: dict[AccountId, Account] = {}
        self._links: dict[AccountId, AgencyLink] = {}
        self._chains: dict[AccountId, tuple[Account, list[Account]]] = {}
        self._users: set[UserId] = set()
        self._roles: list[Role] | None = None

    # -- the policy cache -----------------------------------------------------------

    def snapshot(self) -> Snapshot | None:
        """What earlier units read at this unit's policy version (``_policy_cache``), or
        ``None``: no cache, or this unit has written policy data itself (it then reads
        storage, which holds its own writes)."""
        if self._cache is None:
            return None
        if not self.writing and self._snapshot is not None:
            return self._snapshot  # a read never writes: its version stays
        version = self.uow.policy_version()
        if version is None:
            return None
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = self._cache.at(version)
            if not self.uow.reads_one_snapshot():
                self._kept = snapshot
                snapshot = snapshot.staged(self.staged)
            self._snapshot = snapshot
            return snapshot
        return snapshot if snapshot.version == version else None

    def keep_staged(self) -> None:
        """Keep what this unit staged if the store's policy version is still the one it
        read (one fresh read): no policy change committed meanwhile, so its reads were
        all of that version."""
        kept, staged, self.staged = self._kept, self.staged, []
        if not staged or kept is None:
            return
        try:
            confirmed = self.uow.confirm_policy_version(kept.version)
        except Exception:
            return
        if confirmed:
            kept.keep(staged)

    # -- who acts ---------------------------------------------------------------------

    def _fresh(self, by: Actor) -> Principal | System:
        """The principal as storage holds it now."""
        if isinstance(by, System):
            return by
        snapshot = self.snapshot()
        uow = self.uow
        if isinstance(by, ApiKey):
            key: ApiKey | None = cached(
                snapshot, _PRINCIPALS, ("key", by.id), lambda: uow.records(API_KEYS).find(by.id)
            )
            if key is None:
                raise NotFound(f"API key {quoted(by.id)} does not exist", api_key_id=by.id)
            if not key.is_active:
                self.key_refusal = Reason.API_KEY_REVOKED
            elif key.expired(self.now):
                self.key_refusal = Reason.API_KEY_EXPIRED
            return key
        if isinstance(by, ImpersonationSession):
            session: ImpersonationSession | None = cached(
                snapshot,
                _PRINCIPALS,
                ("session", by.id),
                lambda: uow.records(IMPERSONATION_SESSIONS).find(by.id),
            )
            if session is None:
                raise NotFound(f"impersonation {quoted(by.id)} does not exist", session_id=by.id)
            if session.expired(self.now):
                self.key_refusal = Reason.IMPERSONATION_EXPIRED
            return session
        # a user the cache knows has a valid id (it was checked before it was kept)
        known = _MISSING if snapshot is None else snapshot.principals.get(("user", by))
        if known is True:
            return UserId(by)
        user = UserId(check_id(by, field="by"))
        if known is _MISSING:  # not in the cache: read (and keep) it
            known = cached(
                snapshot, _PRINCIPALS, ("user", user), lambda: uow.users.find(user) is not None
            )
        if not known:
            raise UserNotFound(user)
        return user

    @property
    def is_system(self) -> bool:
        return isinstance(self.actor, System)

    @property
    def principal(self) -> Principal:
        """The acting principal of a user-only path (the system has none)."""
        if isinstance(self.actor, System):
            raise InvalidInput("this call needs a user, an API key or a session", field="by")
        return self.actor

    @property
    def user(self) -> UserId | None:
        """The person behind the call (``None``: the system): events name them."""
        return None if isinstance(self.actor, System) else acting_user_id(self.actor)

    # -- events and ids -----------------------------------------------------------------

    def meta(self) -> EventMeta:
        """A new event's id, this unit's time and the acting user."""
        return EventMeta(EventId(self.settings.ids.new_id("event")), self.now, self.user)

    def emit(self, *events: DomainEvent) -> None:
        self.events.extend(events)

    def new_id(self, given: str | None, kind: str) -> str:
        """``given`` (checked), or a fresh id of ``kind`` from the settings."""
        value = given if given is not None else self.settings.ids.new_id(kind)
        return check_id(value, field=f"{kind}_id")

    # -- the policy ---------------------------------------------------------------------

    def roles(self) -> list[Role]:
        """The settings' built-in roles, then the custom roles in storage."""
        if self._roles is None:

            def load() -> list[Role]:
                builtin = {r.id for r in self.settings.roles}
                custom = [r for r in self.uow.records(ROLES).all() if r.id not in builtin]
                return [*self.settings.roles, *custom]

            self._roles = cached(self.snapshot(), _ROLES, None, load)
        return self._roles

    def role(self, role_id: str) -> Role:
        """A role of the role set (``RoleNotFound`` otherwise)."""
        for role in self.roles():
            if role.id == role_id:
                return role
        raise RoleNotFound(role_id)

    def chain(self, account_id: str) -> tuple[Account, list[Account]]:
        """The account and its ancestors (nearest first), read once in the unit (for the
        checks before a change; a unit that moves accounts reads them afresh)."""
        key = AccountId(account_id)
        found = self._chains.get(key)
        if found is None:

            def load() -> tuple[Account, tuple[Account, ...]]:
                accounts = self.uow.accounts
                account = accounts.get(key)
                return account, tuple(accounts.ancestors(account.id))

            account, above = cached(self.snapshot(), _CHAINS, key, load)
            found = self._chains[key] = (account, list(above))
        return found

    def policy(self, accounts: Iterable[str] = (), users: Iterable[str] = ()) -> PolicyIndex:
        """A policy index over ``accounts`` with their ancestor chains and the memberships
        the acting user and ``users`` hold there: all a decision about those accounts can
        depend on. Grows as later calls name more accounts."""
        wanted = [AccountId(a) for a in accounts if AccountId(a) not in self._indexed]
        people = {UserId(u) for u in users} - self._users
        if self.user is not None and self.user not in self._users:
            people.add(self.user)
        if self._index is not None and not wanted and not people:
            return self._index
        for account_id in wanted:
            account, above = self.chain(account_id)
            for acc in (account, *above):
                self._indexed.setdefault(acc.id, acc)
            if account.kind is AccountKind.LINKED:  # its agency's administrators act here
                link = self.link_of(account.id)
                if link is not None:
                    self._links[account.id] = link
                    agency, agency_above = self.chain(link.agency_id)
                    for acc in (agency, *agency_above):
                        self._indexed.setdefault(acc.id, acc)
        self._users |= people
        key = (frozenset(self._indexed), frozenset(self._users))
        self._index = cached(self.snapshot(), _INDEXES, key, self._build)
        return self._index

    def link_of(self, client_id: AccountId) -> AgencyLink | None:
        """The client's agency link, read once per policy version."""
        found: AgencyLink | None = cached(
            self.snapshot(), _LINKS, client_id, lambda: self.uow.links.for_client(client_id)
        )
        return found

    def _build(self) -> PolicyIndex:
        """A policy index over the accounts and users named so far."""
        snapshot, uow, chosen = self.snapshot(), self.uow, self._indexed

        def held(user: UserId) -> tuple[Membership, ...]:
            return cached(
                snapshot, _MEMBERSHIPS, user, lambda: tuple(uow.memberships.for_user(user))
            )

        def placed(account: AccountId) -> tuple[Ceiling, ...]:
            return cached(
                snapshot,
                _CEILINGS,
                account,
                lambda: tuple(uow.records(CEILINGS).list_by("account_id", account)),
            )

        def setting(account: AccountId) -> ImpersonationSetting | None:
            found: ImpersonationSetting | None = cached(
                snapshot,
                _SETTINGS,
                account,
                lambda: uow.records(IMPERSONATION_SETTINGS).find(account),
            )
            return found

        memberships = [
            m for user in sorted(self._users) for m in held(user) if m.account_id in chosen
        ]
        return PolicyIndex.build(
            chosen.values(),
            memberships,
            roles=self.roles(),
            ceilings=[c for a in chosen for c in placed(a)],
            impersonation_settings=[s for a in chosen if (s := setting(a)) is not None],
            catalog=self.settings.catalog,
            links=self._links.values(),
        )

    def decide(self, action: Action, account_id: str) -> Decision:
        """The decision for the acting principal (the system is allowed everything)."""
        actor = self.actor
        if isinstance(actor, System):
            return SYSTEM_DECISION
        if self.key_refusal is not None:  # (a ``decides`` unit: policy.check)
            self.chain(account_id)  # AccountNotFound for an unknown account
            return Decision(False, self.key_refusal)
        if self._index is None:  # the first decision of the unit: one account, one person
            snapshot = self.snapshot()
            if snapshot is not None:
                key = (account_id, self.user)
                index = snapshot.decisions.get(key)
                if index is _MISSING:
                    index = snapshot.decisions.put_new(key, self.policy([account_id]))
                return index.check(actor, action, AccountId(account_id))
        return self.policy([account_id]).check(actor, action, AccountId(account_id))

    def require(self, action: Action, account_id: str) -> Decision:
        """``decide``, raising the typed denial; an allowed command is audited."""
        decision = self.decide(action, account_id)
        if not decision.allowed:
            raise denial_error(self.principal, action, AccountId(account_id), decision)
        self.audit(action, AccountId(account_id), decision)
        return decision

    def require_any(self, actions: Sequence[Action], account_id: str) -> tuple[Action, Decision]:
        """The first of ``actions`` allowed in the account (audited), else the denial of the
        first one."""
        decisions = [(a, self.decide(a, account_id)) for a in actions]
        for action, decision in decisions:
            if decision.allowed:
                self.audit(action, AccountId(account_id), decision)
                return action, decision
        action, decision = decisions[0]
        raise denial_error(self.principal, action, AccountId(account_id), decision)

    def require_in_either(self, action: Action, first: str, second: str) -> Decision:
        """``action`` allowed in ``first`` or else in ``second`` (audited where it was);
        the denial of ``first`` when neither allows it."""
        decision = self.decide(action, first)
        if decision.allowed:
            self.audit(action, AccountId(first), decision)
            return decision
        if self.decide(action, second).allowed:
            return self.require(action, second)
        raise denial_error(self.principal, action, AccountId(first), decision)

    def refuse_unless_system(self, action: Action) -> None:
        """Refuse anyone but the system before anything is read, so that a refusal tells
        nothing of what exists (a plan change id, say); the system goes on to
        ``require_system`` with the account it then finds."""
        if not isinstance(self.actor, System):
            self.require_system(action)

    def require_system(self, action: Action, account_id: str | None = None) -> Decision:
        """Only the system may do this (a platform operation): others are refused with
        ``platform_only``."""
        if not isinstance(self.actor, System):
            refused = Decision(False, Reason.PLATFORM_ONLY)
            if account_id is not None:
                raise denial_error(self.actor, action, AccountId(account_id), refused)
            kind, who = principal_label(self.actor)
            raise ActionDenied(
                f"{kind.value} {quoted(who)} may not do {quoted(action)}: only the host "
                f"platform can do "
                "this (pass by=subacct.SYSTEM from trusted host code)",
                decision=refused,
                reason=refused.code,
                action=action,
                account_id=None,
                principal_kind=kind.value,
                principal_id=who,
            )
        account = None if account_id is None else AccountId(account_id)
        self.audit(action, account, SYSTEM_DECISION)
        return SYSTEM_DECISION

    def require_from_above(self, action: Action, account: Account) -> None:
        """A setting that binds ``account`` from above (a quota, a seat limit): a
        sub-account's is set by ``sub_accounts.manage`` in its parent, a top-level
        account's by the system alone (``action``)."""
        if account.parent_id is None:
            self.require_system(action, account.id)
        else:
            self.require(MANAGE_SUB_ACCOUNTS, account.parent_id)

    def see(self, account_id: str) -> Account:
        """The account, if the acting principal has standing in it (some right there),
        else the typed denial: what every read of an account's data checks."""
        account = self.chain(account_id)[0]
        if isinstance(self.actor, System):
            return account
        decision = standing(self.policy([account.id]), self.actor, account.id)
        if not decision.allowed:
            raise denial_error(self.actor, VIEW_ACCOUNT, account.id, decision)
        return account

    def sees(self, account_id: AccountId) -> bool:
        """Whether the acting principal has standing in a known account."""
        if isinstance(self.actor, System):
            return True
        return standing(self.policy([account_id]), self.actor, account_id).allowed

    def homes(self) -> list[AccountId]:
        """The accounts the acting principal acts in directly: a key's or session's own
        account, a user's memberships."""
        actor = self.actor
        if isinstance(actor, ApiKey | ImpersonationSession):
            return [actor.account_id]
        if isinstance(actor, System):
            return []
        return [m.account_id for m in self.uow.memberships.for_user(UserId(actor))]

    def allowed(self, action: Action, account_id: str) -> None:
        """Audit the allowing decision on ``action`` that a core planner just checked."""
        self.audit(action, AccountId(account_id), self.decide(action, account_id))

    def audit(self, action: Action, account_id: AccountId | None, decision: Decision) -> None:
        """Record an allowed decision of a command (once per action and account)."""
        if not self.writing or (action, account_id) in self._audited:
            return
        self._audited.add((action, account_id))
        self.audits.append((action, account_id, decision))

    def flush(self) -> None:
        """Append the gathered events and audit records to this unit of work (an adapter
        may send them with the commit)."""
        if self.events:
            self.uow.events.append_many(self.events)
        if self.audits:
            new_id = self.settings.ids.new_id
            self.uow.records(AUDIT_RECORDS).add_many(
                [
                    audit_record(new_id("audit"), self.now, self.actor, action, account, decision)
                    for action, account, decision in self.audits
                ]
            )


class Runner:
    """Runs every call in one unit of work over ``store`` with ``settings``."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        size = settings.policy_cache_size
        self.cache = PolicyCache(size) if size else None
        self.key_uses = KeyUses(store, settings)

    def command(self, by: Actor, work: Callable[[Unit], T], *, ledger: str | None = None) -> T:
        """Run a change. ``ledger`` names the credit ledger the work uses: it is asked for
        first in the unit of work (see ``LedgerRepository`` on isolation)."""
        return self._run(by, work, ledger, writing=True)

    def query(
        self,
        by: Actor,
        work: Callable[[Unit], T],
        *,
        ledger: str | None = None,
        decides: bool = False,
    ) -> T:
        """Run a read. A ``decides`` read (``policy.check``) made with a revoked or
        expired API key gets to answer with the refusing decision; any other call with
        such a key is refused before its work (``ApiKeyRevoked``, ``ApiKeyExpired``)."""
        return self._run(by, work, ledger, writing=False, decides=decides)

    def _run(
        self,
        by: Actor,
        work: Callable[[Unit], T],
        ledger: str | None,
        *,
        writing: bool,
        decides: bool = False,
    ) -> T:
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            acting: Actor = by  # the principal as storage held it, once re-read
            try:
                with self.store.unit_of_work(read_only=not writing) as uow:
                    if ledger is not None:
                        uow.ledger(ledger)
                    unit = Unit(
                        self.settings, uow, by, writing=writing, cache=self.cache, decides=decides
                    )
                    acting = unit.actor
                    result = work(unit)
                    if writing:
                        unit.flush()
                        uow.commit()
                    if unit.staged:
                        unit.keep_staged()
            except ConcurrentModification:
                if attempt == attempts:
                    raise
                continue
            except StorageUnavailable as lost:
                if attempt == attempts or not rerun_safe(lost):
                    raise
                continue
            except ActionDenied as denial:
                self._audit_denial(acting, denial)
                raise
            # done and committed: nothing after this runs the work again
            if isinstance(unit.actor, ApiKey) and unit.key_refusal is None:
                self.key_uses.note(unit.actor.id)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _audit_denial(self, by: Actor, denial: ActionDenied) -> None:
        """Commit the audit record of a denied decision (in a unit of its own)."""
        action = denial.details.get("action")
        account = denial.details.get("account_id")
        if isinstance(by, System) or not isinstance(action, str):
            return
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                with self.store.unit_of_work() as uow:
                    record = audit_record(
                        self.settings.ids.new_id("audit"),
                        self.settings.clock.now(),
                        by,  # type: ignore[arg-type]
                        Action(action),
                        None if not isinstance(account, str) else AccountId(account),
                        denial.decision,
                    )
                    uow.records(AUDIT_RECORDS).add(record)
                    uow.commit()
                    return
            except (ConcurrentModification, StorageUnavailable) as failed:
                again = not isinstance(failed, StorageUnavailable) or rerun_safe(failed)
                if attempt == self.settings.max_attempts or not again:
                    raise
