"""The service layer hosts call: load -> pure domain operation -> save, in one unit of work.

Each method validates everything before it writes; a refused call raises one
``SubacctError`` and leaves storage exactly as it was.

>>> from subacct import AccountService, MemoryStore
>>> svc = AccountService(MemoryStore())
>>> master = svc.create_master("Agency Demo", account_id="agencydemo")
>>> sub = svc.create_sub("agencydemo", "Agency 1", account_id="agency1")
>>> svc.path("agency1")
['agencydemo', 'agency1']
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from subacct.domain import (
    Account,
    AccountId,
    AccountStatus,
    AgencyLink,
    HierarchyRules,
    Membership,
    RoleId,
    Tree,
    User,
    UserId,
    can_send,
    new_master,
    normalize_login,
    plan_attach,
    plan_detach,
    plan_link,
    plan_move,
    plan_new_sub,
    plan_unlink,
)
from subacct.domain.events import AccountClosed as AccountClosedEvent
from subacct.domain.events import (
    AccountCreated,
    AccountMoved,
    AccountRenamed,
    AccountStatusChanged,
    ClientLinked,
    ClientUnlinked,
    DomainEvent,
    EventId,
    EventMeta,
    RoleChanged,
    UserCreated,
    UserDeleted,
    UserInvited,
    UserRemoved,
    UserRenamed,
)
from subacct.domain.ids import check_id
from subacct.errors import (
    AccountClosed,
    AlreadyExists,
    ConcurrentModification,
    DuplicateLogin,
    MembershipNotFound,
    RoleNotFound,
)
from subacct.policy.roles import DEFAULT_ROLES
from subacct.runtime import SystemClock, UuidIds
from subacct.storage.collections import ROLES
from subacct.storage.ports import Clock, IdFactory, Store, UnitOfWork

__all__ = ["AccountService", "event_meta"]

DEFAULT_ROLE_IDS = frozenset(r.id for r in DEFAULT_ROLES)

T = TypeVar("T")


def _subtree_height(uow: UnitOfWork, account: Account) -> int:
    below = uow.accounts.descendants(account.id)
    if not below:
        return 1
    levels = {account.id: 1}
    for acc in below:  # depth first: a parent always comes before its children
        assert acc.parent_id is not None
        levels[acc.id] = levels[acc.parent_id] + 1
    return max(levels.values())


def _base(meta: EventMeta, account_id: AccountId | None) -> dict[str, Any]:
    return {
        "event_id": meta.event_id,
        "occurred_at": meta.occurred_at,
        "actor": meta.actor,
        "account_id": account_id,
    }


def _require_role(uow: UnitOfWork, role: RoleId) -> None:
    """Memberships name a built-in role or a custom one stored with ``define_role``."""
    if role not in DEFAULT_ROLE_IDS and uow.records(ROLES).find(role) is None:
        raise RoleNotFound(role)


def event_meta(service: AccountService, actor: str | None) -> EventMeta:
    """Event id and time from the service's ports, and the user who really acted."""
    return EventMeta(
        EventId(service.ids.new_id("event")),
        service.clock.now(),
        None if actor is None else UserId(actor),
    )


def stored_membership(uow: UnitOfWork, user_id: str, account_id: str) -> Membership:
    """The stored membership, or ``MembershipNotFound``."""
    current = uow.memberships.find(UserId(user_id), AccountId(account_id))
    if current is None:
        raise MembershipNotFound(user_id, account_id)
    return current


def store_membership_added(uow: UnitOfWork, membership: Membership, meta: EventMeta) -> None:
    """Write a new membership and its ``UserInvited`` event (rules checked by the caller)."""
    uow.memberships.add(membership)
    uow.events.append(
        UserInvited(
            **_base(meta, membership.account_id),
            user_id=membership.user_id,
            role=membership.role,
        )
    )


def store_role_change(
    uow: UnitOfWork, before: Membership, after: Membership, meta: EventMeta
) -> None:
    """Write a membership's new role and its ``RoleChanged`` event."""
    uow.memberships.update(after)
    uow.events.append(
        RoleChanged(
            **_base(meta, before.account_id),
            user_id=before.user_id,
            from_role=before.role,
            to_role=after.role,
        )
    )


def store_membership_removed(uow: UnitOfWork, membership: Membership, meta: EventMeta) -> None:
    """Delete a membership (the account's data stays) and write its ``UserRemoved`` event."""
    uow.memberships.remove(membership.user_id, membership.account_id)
    uow.events.append(
        UserRemoved(
            **_base(meta, membership.account_id),
            user_id=membership.user_id,
            role=membership.role,
        )
    )


def _created(account: Account, meta: EventMeta) -> AccountCreated:
    return AccountCreated(
        **_base(meta, account.id), name=account.name, kind=account.kind, parent_id=account.parent_id
    )


def _moved(before: Account, after: Account, meta: EventMeta) -> AccountMoved:
    return AccountMoved(
        **_base(meta, after.id), from_parent_id=before.parent_id, to_parent_id=after.parent_id
    )


class AccountService:
    """Accounts, the hierarchy, agency links, users and memberships over any ``Store``."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        rules: HierarchyRules | None = None,
        max_attempts: int = 5,
    ) -> None:
        self.store = store
        self.max_attempts = max_attempts
        self.clock: Clock = clock or SystemClock()
        self.ids: IdFactory = ids or UuidIds()
        self.rules = rules or HierarchyRules()

    def _write(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run ``work`` in one unit of work and commit; re-run it when the adapter reports
        that a concurrent unit won a race (everything is re-read, so a retry is safe)."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.store.unit_of_work() as uow:
                    result = work(uow)
                    uow.commit()
                    return result
            except ConcurrentModification:
                if attempt == self.max_attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, work: Callable[[UnitOfWork], T]) -> T:
        with self.store.unit_of_work() as uow:
            return work(uow)

    def _meta(self, actor: str | None) -> EventMeta:
        return event_meta(self, actor)

    def _new_id(self, given: str | None, kind: str) -> str:
        return check_id(given if given is not None else self.ids.new_id(kind), field=f"{kind}_id")

    # -- accounts and hierarchy -----------------------------------------------------------

    def create_master(
        self, name: str, *, account_id: str | None = None, actor: str | None = None
    ) -> Account:
        """A new top-level account."""
        account = new_master(AccountId(self._new_id(account_id, "account")), name, self.clock.now())
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Account:
            uow.accounts.add(account)
            uow.events.append(_created(account, meta))
            return account

        return self._write(work)

    def create_sub(
        self,
        parent_id: str,
        name: str,
        *,
        account_id: str | None = None,
        actor: str | None = None,
    ) -> Account:
        """A new sub-account of ``parent_id`` (refused over the depth limit)."""
        new_id = AccountId(self._new_id(account_id, "account"))
        now = self.clock.now()
        meta = self._meta(actor)

        return self._write(lambda uow: self._add_sub(uow, parent_id, new_id, name, now, meta))

    def _add_sub(
        self,
        uow: UnitOfWork,
        parent_id: str,
        new_id: AccountId,
        name: str,
        now: datetime,
        meta: EventMeta,
    ) -> Account:
        """Write a new sub-account under ``parent_id`` and its ``AccountCreated`` event."""
        parent = uow.accounts.get(AccountId(parent_id))
        sub = plan_new_sub(new_id, name, parent, uow.accounts.ancestors(parent.id), self.rules, now)
        uow.accounts.add(sub)
        uow.events.append(_created(sub, meta))
        return sub

    def move(self, account_id: str, new_parent_id: str, *, actor: str | None = None) -> Account:
        """Move a sub-account and its whole subtree under another parent (moving it where
        it already is changes nothing and emits no event)."""
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Account:
            account = uow.accounts.get(AccountId(account_id))
            parent = uow.accounts.get(AccountId(new_parent_id))
            moved = plan_move(
                account,
                parent,
                uow.accounts.ancestors(parent.id),
                _subtree_height(uow, account),
                self.rules,
            )
            if moved is not account:
                uow.accounts.update(moved)
                uow.events.append(_moved(account, moved, meta))
            return moved

        return self._write(work)

    def attach(self, account_id: str, parent_id: str, *, actor: str | None = None) -> Account:
        """Make a standalone master (with its subtree) a sub-account of ``parent_id``."""
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Account:
            account = uow.accounts.get(AccountId(account_id))
            parent = uow.accounts.get(AccountId(parent_id))
            attached = plan_attach(
                account,
                parent,
                uow.accounts.ancestors(parent.id),
                _subtree_height(uow, account),
                self.rules,
            )
            uow.accounts.update(attached)
            uow.events.append(_moved(account, attached, meta))
            return attached

        return self._write(work)

    def detach(self, account_id: str, *, actor: str | None = None) -> Account:
        """Turn a sub-account into a standalone master (it keeps its own subs)."""
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Account:
            account = uow.accounts.get(AccountId(account_id))
            detached = plan_detach(account)
            uow.accounts.update(detached)
            uow.events.append(_moved(account, detached, meta))
            return detached

        return self._write(work)

    def rename(self, account_id: str, name: str, *, actor: str | None = None) -> Account:
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Account:
            account = uow.accounts.get(AccountId(account_id))
            renamed = account.renamed(name)
            uow.accounts.update(renamed)
            uow.events.append(
                AccountRenamed(
                    **_base(meta, account.id), old_name=account.name, new_name=renamed.name
                )
            )
            return renamed

        return self._write(work)

    def set_status(
        self, account_id: str, status: AccountStatus, *, actor: str | None = None
    ) -> Account:
        """Change the lifecycle status (see ``Account.with_status`` for the rules)."""
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Account:
            account = uow.accounts.get(AccountId(account_id))
            open_children = [c.id for c in uow.accounts.children(account.id) if c.is_open]
            changed = account.with_status(status, open_children=open_children)
            uow.accounts.update(changed)
            self._status_changed(uow, account, changed)
            if status is AccountStatus.CLOSED:
                event: DomainEvent = AccountClosedEvent(
                    **_base(meta, account.id), from_status=account.status
                )
            else:
                event = AccountStatusChanged(
                    **_base(meta, account.id), from_status=account.status, to_status=status
                )
            uow.events.append(event)
            return changed

        return self._write(work)

    def _status_changed(self, uow: UnitOfWork, before: Account, after: Account) -> None:
        """Hook for subclasses keeping data that follows the account's lifecycle (runs in
        the unit of work of the change)."""

    def suspend(self, account_id: str, *, actor: str | None = None) -> Account:
        return self.set_status(account_id, AccountStatus.SUSPENDED, actor=actor)

    def pause(self, account_id: str, *, actor: str | None = None) -> Account:
        return self.set_status(account_id, AccountStatus.PAUSED, actor=actor)

    def resume(self, account_id: str, *, actor: str | None = None) -> Account:
        return self.set_status(account_id, AccountStatus.ACTIVE, actor=actor)

    def close(self, account_id: str, *, actor: str | None = None) -> Account:
        return self.set_status(account_id, AccountStatus.CLOSED, actor=actor)

    # -- agency links ---------------------------------------------------------------------

    def link_client(
        self, agency_id: str, client_id: str, alias: str, *, actor: str | None = None
    ) -> AgencyLink:
        """Link the standalone account ``client_id`` to the agency ``agency_id``."""
        now = self.clock.now()
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> AgencyLink:
            agency = uow.accounts.get(AccountId(agency_id))
            client = uow.accounts.get(AccountId(client_id))
            linked, link = plan_link(
                agency,
                client,
                alias,
                now,
                client_has_link=uow.links.for_client(client.id) is not None,
                client_is_agency=bool(uow.links.for_agency(client.id)),
            )
            uow.accounts.update(linked)
            uow.links.add(link)
            uow.events.append(
                ClientLinked(**_base(meta, agency.id), client_id=client.id, alias=link.alias)
            )
            return link

        return self._write(work)

    def unlink_client(self, client_id: str, *, actor: str | None = None) -> Account:
        """Remove the client's agency link; it becomes a standalone master again."""
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Account:
            client = plan_unlink(uow.accounts.get(AccountId(client_id)))
            link = uow.links.for_client(client.id)
            uow.links.remove(client.id)
            uow.accounts.update(client)
            agency = link.agency_id if link is not None else None
            uow.events.append(ClientUnlinked(**_base(meta, agency), client_id=client.id))
            return client

        return self._write(work)

    # -- users and memberships ------------------------------------------------------------

    def create_user(
        self,
        login: str,
        display_name: str,
        *,
        user_id: str | None = None,
        actor: str | None = None,
    ) -> User:
        """A new user; the normalized login must be free across the whole system."""
        user = User(UserId(self._new_id(user_id, "user")), login, display_name, self.clock.now())
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> User:
            if uow.users.find_by_login(user.login) is not None:
                raise DuplicateLogin(user.login)
            uow.users.add(user)
            uow.events.append(UserCreated(**_base(meta, None), user_id=user.id, login=user.login))
            return user

        return self._write(work)

    def rename_user(self, user_id: str, display_name: str, *, actor: str | None = None) -> User:
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> User:
            user = uow.users.get(UserId(user_id)).renamed(display_name)
            uow.users.update(user)
            uow.events.append(
                UserRenamed(**_base(meta, None), user_id=user.id, display_name=user.display_name)
            )
            return user

        return self._write(work)

    def remove_user(self, user_id: str, *, actor: str | None = None) -> list[Membership]:
        """Delete the user and their memberships (account data stays). Returns what went."""
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> list[Membership]:
            user = uow.users.get(UserId(user_id))
            gone = uow.memberships.for_user(user.id)
            for membership in gone:
                uow.memberships.remove(membership.user_id, membership.account_id)
            uow.users.remove(user.id)
            uow.events.append(
                UserDeleted(
                    **_base(meta, None),
                    user_id=user.id,
                    removed_from=tuple(m.account_id for m in gone),
                )
            )
            return gone

        return self._write(work)

    def add_membership(
        self, user_id: str, account_id: str, role: str, *, actor: str | None = None
    ) -> Membership:
        """Give the user ``role`` in the account (one membership per user and account)."""
        membership = Membership(
            UserId(user_id), AccountId(account_id), RoleId(role), self.clock.now()
        )
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Membership:
            _require_role(uow, membership.role)
            uow.users.get(membership.user_id)
            account = uow.accounts.get(membership.account_id)
            if not account.is_open:
                raise AccountClosed(f"account {account.id!r} is closed", account_id=account.id)
            if uow.memberships.find(membership.user_id, account.id) is not None:
                raise AlreadyExists(
                    f"user {user_id!r} is already a member of {account_id!r}",
                    user_id=user_id,
                    account_id=account_id,
                )
            store_membership_added(uow, membership, meta)
            return membership

        return self._write(work)

    def change_role(
        self, user_id: str, account_id: str, role: str, *, actor: str | None = None
    ) -> Membership:
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> Membership:
            current = stored_membership(uow, user_id, account_id)
            _require_role(uow, RoleId(role))
            changed = current.with_role(RoleId(role))
            store_role_change(uow, current, changed, meta)
            return changed

        return self._write(work)

    def remove_membership(self, user_id: str, account_id: str, *, actor: str | None = None) -> None:
        """Take the user out of the account; the account's data is untouched."""
        meta = self._meta(actor)

        def work(uow: UnitOfWork) -> None:
            store_membership_removed(uow, stored_membership(uow, user_id, account_id), meta)

        self._write(work)

    # -- queries --------------------------------------------------------------------------

    def get_account(self, account_id: str) -> Account:
        return self._read(lambda uow: uow.accounts.get(AccountId(account_id)))

    def get_user(self, user_id: str) -> User:
        return self._read(lambda uow: uow.users.get(UserId(user_id)))

    def find_user_by_login(self, login: str) -> User | None:
        key = normalize_login(login)
        return self._read(lambda uow: uow.users.find_by_login(key))

    def children(self, account_id: str) -> list[Account]:
        return self._read(lambda uow: uow.accounts.children(AccountId(account_id)))

    def ancestors(self, account_id: str) -> list[AccountId]:
        """Parent first, root last."""
        return self._read(lambda uow: [a.id for a in uow.accounts.ancestors(AccountId(account_id))])

    def path(self, account_id: str) -> list[AccountId]:
        """Root first, the account last."""
        return [*reversed(self.ancestors(account_id)), AccountId(account_id)]

    def descendants(self, account_id: str) -> list[AccountId]:
        return self._read(
            lambda uow: [a.id for a in uow.accounts.descendants(AccountId(account_id))]
        )

    def siblings(self, account_id: str) -> list[AccountId]:
        def work(uow: UnitOfWork) -> list[AccountId]:
            account = uow.accounts.get(AccountId(account_id))
            if account.parent_id is None:
                return []
            return [c.id for c in uow.accounts.children(account.parent_id) if c.id != account.id]

        return self._read(work)

    def tree(self) -> Tree:
        """Every account as an immutable ``Tree``."""
        return self._read(lambda uow: Tree(uow.accounts.all()))

    def can_send(self, account_id: str) -> bool:
        """True when the account and all its ancestors are active."""

        def work(uow: UnitOfWork) -> bool:
            account = uow.accounts.get(AccountId(account_id))
            return can_send(account, uow.accounts.ancestors(account.id))

        return self._read(work)

    def memberships_of(self, user_id: str) -> list[Membership]:
        return self._read(lambda uow: uow.memberships.for_user(UserId(user_id)))

    def members_of(self, account_id: str) -> list[Membership]:
        def work(uow: UnitOfWork) -> list[Membership]:
            uow.accounts.get(AccountId(account_id))
            return uow.memberships.for_account(AccountId(account_id))

        return self._read(work)

    def linked_clients(self, agency_id: str) -> list[AgencyLink]:
        return self._read(lambda uow: uow.links.for_agency(AccountId(agency_id)))

    def agency_of(self, client_id: str) -> AgencyLink | None:
        return self._read(lambda uow: uow.links.for_client(AccountId(client_id)))
