"""``app.accounts``: the account tree and its lifecycle (agency links: ``app.links``).

Who may do what (the rights are checked in the account named):

* ``create_master``: the system only (a signup is the platform's); ``create_sub``:
  ``sub_accounts.create`` in the parent;
* ``rename``: ``settings.manage`` in the account;
* ``move``: ``sub_accounts.manage`` in the current parent and ``sub_accounts.create`` in
  the new one; ``attach`` (a standalone master becomes a sub): ``settings.manage`` in it
  and ``sub_accounts.create`` in the new parent; ``detach``: ``sub_accounts.manage`` in
  the parent. A move, attach or detach drops the ceilings of the moved subtree whose
  ``set_by`` is no longer above them (``subacct.policy.ceilings``), each with a
  ``ceiling_removed`` event (reason ``set_by_not_an_ancestor``);
* ``pause``, ``resume``, ``close``: for a sub-account ``sub_accounts.manage`` in its
  parent, for a top-level account the system; ``suspend`` (and resuming a suspended
  account): the system (``subacct.policy.status_authority``);
* agency links are ``app.links`` (``subacct.services.links``);
* every read: standing in the account (some right in it): a sub-account's users see
  their own account, not their siblings; the parent's administrators see every sub.

>>> import subacct
>>> app = subacct.Subacct(subacct.MemoryStore())
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=subacct.SYSTEM)
>>> app.accounts.create_sub("agencydemo", "Company X", account_id="agency1",
...                         by=subacct.SYSTEM).parent_id
'agencydemo'
>>> app.accounts.path("agency1", by=subacct.SYSTEM)
['agencydemo', 'agency1']
"""

from __future__ import annotations

from collections.abc import Sequence

from subacct.domain import (
    Account,
    AccountId,
    AccountStatus,
    HierarchyRules,
    Tree,
    can_send,
    new_master,
    plan_attach,
    plan_detach,
    plan_move,
    plan_new_sub,
)
from subacct.domain import changes as domain_changes
from subacct.domain.lifecycle import StatusHistory
from subacct.policy import (
    CREATE_SUB_ACCOUNTS,
    MANAGE_SETTINGS,
    MANAGE_SUB_ACCOUNTS,
    Action,
)
from subacct.pricing.period import BillingPeriod
from subacct.principals import Actor
from subacct.services import _adjustments, _args, _ceilings, _credentials, _quotas
from subacct.services._kinds import command, query
from subacct.services._lifecycle import change_status_as
from subacct.services._runner import Runner, Unit
from subacct.storage.collections import STATUS_HISTORY

__all__ = ["Accounts"]

_CREATE_MASTER = Action("accounts.create_master")


def _placement(
    unit: Unit, account: Account, parent: Account
) -> tuple[list[Account], list[Account]]:
    """The chain ``account`` joins (``parent``, then its ancestors) and ``account``'s
    subtree: what a move's checks and its quota counts rest on, read once."""
    chain = [parent, *unit.uow.accounts.ancestors(parent.id)]
    return chain, unit.uow.accounts.descendants(account.id)


def _fit(
    unit: Unit, account: Account, chain: Sequence[Account], subtree: Sequence[Account]
) -> tuple[Sequence[Account], int, HierarchyRules]:
    """The core's arguments to place ``account`` (and ``subtree``) at the end of ``chain``."""
    height = domain_changes.subtree_height(account.id, subtree)
    return chain[1:], height, unit.settings.hierarchy


class Accounts:
    """The account tree and its lifecycle (``app.accounts``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    # -- the tree -------------------------------------------------------------------------

    @command
    def create_master(self, name: str, *, by: Actor, account_id: str | None = None) -> Account:
        """A new top-level account (a signup: the system only)."""
        who, label = _args.actor(by), _args.name(name)
        given = _args.optional_ident(account_id, "account_id")

        def work(unit: Unit) -> Account:
            account = new_master(AccountId(unit.new_id(given, "account")), label, unit.now)
            unit.require_system(_CREATE_MASTER, account.id)
            unit.uow.accounts.add(account)
            unit.emit(domain_changes.created(account, unit.meta()))
            return account

        return self._runner.command(who, work)

    @command
    def create_sub(
        self, parent_id: str, name: str, *, by: Actor, account_id: str | None = None
    ) -> Account:
        """A new sub-account of ``parent_id`` (refused over the depth limit, or under a
        parent that is not active)."""
        who, parent, label = _args.actor(by), _args.ident(parent_id, "parent_id"), _args.name(name)
        given = _args.optional_ident(account_id, "account_id")

        def work(unit: Unit) -> Account:
            above = unit.uow.accounts.get(AccountId(parent))
            unit.require(CREATE_SUB_ACCOUNTS, above.id)
            ancestors = unit.uow.accounts.ancestors(above.id)
            sub = plan_new_sub(
                AccountId(unit.new_id(given, "account")),
                label,
                above,
                ancestors,
                unit.settings.hierarchy,
                unit.now,
            )
            unit.uow.accounts.add(sub)
            # its setup fee, in a month already invoiced: an adjustment
            _adjustments.note_if_late(unit, sub, [above, *ancestors], BillingPeriod.of(unit.now))
            unit.emit(domain_changes.created(sub, unit.meta()))
            return sub

        return self._runner.command(who, work)

    @command
    def rename(self, account_id: str, name: str, *, by: Actor) -> Account:
        """Give the account a new display name."""
        who, target, label = (
            _args.actor(by),
            _args.ident(account_id, "account_id"),
            _args.name(name),
        )

        def work(unit: Unit) -> Account:
            account = unit.uow.accounts.get(AccountId(target))
            unit.require(MANAGE_SETTINGS, account.id)
            renamed = account.renamed(label)
            unit.uow.accounts.update(renamed)
            unit.emit(domain_changes.renamed(account, renamed, unit.meta()))
            return renamed

        return self._runner.command(who, work)

    @command
    def move(self, account_id: str, new_parent_id: str, *, by: Actor) -> Account:
        """Move a sub-account and its whole subtree under another parent (moving it where
        it is already changes nothing)."""
        who = _args.actor(by)
        target = _args.ident(account_id, "account_id")
        parent_id = _args.ident(new_parent_id, "new_parent_id")

        def work(unit: Unit) -> Account:
            account = unit.uow.accounts.get(AccountId(target))
            parent = unit.uow.accounts.get(AccountId(parent_id))
            if account.parent_id is not None:
                unit.require(MANAGE_SUB_ACCOUNTS, account.parent_id)
            unit.require(CREATE_SUB_ACCOUNTS, parent.id)
            chain, subtree = _placement(unit, account, parent)
            moved = plan_move(account, parent, *_fit(unit, account, chain, subtree))
            if moved is account:  # already there: nothing changes, nothing to tell
                return account
            _quotas.follow_move(unit, account, chain, subtree)
            _ceilings.follow_move(unit, account, chain, subtree)
            unit.uow.accounts.update(moved)
            _credentials.revoke_keys_orphaned_by_move(unit, [moved, *subtree])
            unit.emit(domain_changes.moved(account, moved, unit.meta()))
            return moved

        return self._runner.command(who, work)

    @command
    def attach(self, account_id: str, parent_id: str, *, by: Actor) -> Account:
        """Make a standalone master (with its subtree) a sub-account of ``parent_id``."""
        who = _args.actor(by)
        target, above = _args.ident(account_id, "account_id"), _args.ident(parent_id, "parent_id")

        def work(unit: Unit) -> Account:
            account = unit.uow.accounts.get(AccountId(target))
            parent = unit.uow.accounts.get(AccountId(above))
            unit.require(MANAGE_SETTINGS, account.id)
            unit.require(CREATE_SUB_ACCOUNTS, parent.id)
            chain, subtree = _placement(unit, account, parent)
            attached = plan_attach(account, parent, *_fit(unit, account, chain, subtree))
            _quotas.follow_move(unit, account, chain, subtree)
            _ceilings.follow_move(unit, account, chain, subtree)
            unit.uow.accounts.update(attached)
            _credentials.revoke_keys_orphaned_by_move(unit, [attached, *subtree])
            unit.emit(domain_changes.moved(account, attached, unit.meta()))
            return attached

        return self._runner.command(who, work)

    @command
    def detach(self, account_id: str, *, by: Actor) -> Account:
        """Turn a sub-account into a standalone master (it keeps its own subs)."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> Account:
            account = unit.uow.accounts.get(AccountId(target))
            detached = plan_detach(account)
            assert account.parent_id is not None  # plan_detach refused a top-level account
            unit.require(MANAGE_SUB_ACCOUNTS, account.parent_id)
            subtree = unit.uow.accounts.descendants(account.id)
            _quotas.follow_move(unit, account, [], subtree)
            _ceilings.follow_move(unit, account, [], subtree)
            unit.uow.accounts.update(detached)
            _credentials.revoke_keys_orphaned_by_move(unit, [detached, *subtree])
            unit.emit(domain_changes.moved(account, detached, unit.meta()))
            return detached

        return self._runner.command(who, work)

    # -- the lifecycle ----------------------------------------------------------------------

    def _status(self, account_id: object, target: AccountStatus, by: object) -> Account:
        who, wanted = _args.actor(by), _args.ident(account_id, "account_id")
        return self._runner.command(who, lambda unit: change_status_as(unit, wanted, target))

    @command
    def pause(self, account_id: str, *, by: Actor) -> Account:
        """The customer's seasonal hold (seed 001): nothing is sent or billed but the hold
        fee; the subscription pauses with the account."""
        return self._status(account_id, AccountStatus.PAUSED, by)

    @command
    def suspend(self, account_id: str, *, by: Actor) -> Account:
        """The platform's hold (abuse, non-payment): nothing is sent; the plan is still
        billed. The system only."""
        return self._status(account_id, AccountStatus.SUSPENDED, by)

    @command
    def resume(self, account_id: str, *, by: Actor) -> Account:
        """Back to active after a pause (or, by the system, a suspension)."""
        return self._status(account_id, AccountStatus.ACTIVE, by)

    @command
    def close(self, account_id: str, *, by: Actor) -> Account:
        """Close for good (its open subs must be closed or detached first). Its usage up to
        now is on the closing month's invoice, nothing after; open plan changes are
        cancelled."""
        return self._status(account_id, AccountStatus.CLOSED, by)

    # -- reads ----------------------------------------------------------------------------

    @query
    def get(self, account_id: str, *, by: Actor) -> Account:
        """The account (``AccountNotFound``; ``ActionDenied`` without standing in it)."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")
        return self._runner.query(who, lambda unit: unit.see(target))

    @query
    def children(self, account_id: str, *, by: Actor) -> list[Account]:
        """The account's direct sub-accounts the principal may see, in id order."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[Account]:
            account = unit.see(target)
            return [c for c in unit.uow.accounts.children(account.id) if unit.sees(c.id)]

        return self._runner.query(who, work)

    @query
    def descendants(self, account_id: str, *, by: Actor) -> list[AccountId]:
        """Every account below that the principal may see, depth first, in id order."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[AccountId]:
            account = unit.see(target)
            below = unit.uow.accounts.descendants(account.id)
            return [a.id for a in below if unit.sees(a.id)]

        return self._runner.query(who, work)

    @query
    def ancestors(self, account_id: str, *, by: Actor) -> list[AccountId]:
        """The account's ancestors' ids, parent first, root last."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[AccountId]:
            account = unit.see(target)
            return [a.id for a in unit.uow.accounts.ancestors(account.id)]

        return self._runner.query(who, work)

    @query
    def path(self, account_id: str, *, by: Actor) -> list[AccountId]:
        """Root first, the account last."""
        return [*reversed(self.ancestors(account_id, by=by)), AccountId(account_id)]

    @query
    def siblings(self, account_id: str, *, by: Actor) -> list[AccountId]:
        """The other children of the account's parent that the principal may see (a
        sub-account's own users see none: seed 000)."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> list[AccountId]:
            account = unit.see(target)
            if account.parent_id is None:
                return []
            return [
                c.id
                for c in unit.uow.accounts.children(account.parent_id)
                if c.id != account.id and unit.sees(c.id)
            ]

        return self._runner.query(who, work)

    @query
    def tree(self, *, by: Actor, root_id: str | None = None) -> Tree:
        """The accounts the principal may see, as a ``Tree``: below ``root_id`` (the root
        included), or else every account (the system) or the principal's own accounts
        and what it sees below them (a partial tree: its roots may have parents)."""
        who, root = _args.actor(by), _args.optional_ident(root_id, "root_id")

        def work(unit: Unit) -> Tree:
            if root is None and unit.is_system:
                return Tree(unit.uow.accounts.all())
            if root is not None:
                tops = [unit.see(root)]
            else:
                tops = [unit.uow.accounts.get(a) for a in unit.homes()]
            found: dict[AccountId, Account] = {}
            for top in tops:
                found.setdefault(top.id, top)
                for below in unit.uow.accounts.descendants(top.id):
                    if below.parent_id in found and unit.sees(below.id):
                        found.setdefault(below.id, below)
            return Tree(found.values(), partial=True)

        return self._runner.query(who, work)

    @query
    def can_send(self, account_id: str, *, by: Actor) -> bool:
        """True when the account and all its ancestors are active."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> bool:
            account = unit.see(target)
            return can_send(account, unit.uow.accounts.ancestors(account.id))

        return self._runner.query(who, work)

    @query
    def status_history(self, account_id: str, *, by: Actor) -> StatusHistory:
        """Every status change of the account with its time (it started active)."""
        who, target = _args.actor(by), _args.ident(account_id, "account_id")

        def work(unit: Unit) -> StatusHistory:
            account = unit.see(target)
            found = unit.uow.records(STATUS_HISTORY).find(account.id)
            return found if found is not None else StatusHistory(account.id)

        return self._runner.query(who, work)
