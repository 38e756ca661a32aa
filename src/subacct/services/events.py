"""``app.events``: the log of domain events, in commit order.

Every change appends its events in the same transaction, so a host that polls
``since(last_seen)`` never misses one and never sees one of a change that was rolled
back: the feed for webhooks, an outbox or a search index. The log holds every tenant's
events, so reading it is the system's; show tenants their data through the other
sub-APIs.

>>> import subacct
>>> app, S = subacct.Subacct(subacct.MemoryStore()), subacct.SYSTEM
>>> _ = app.accounts.create_master("Agency Demo", account_id="agencydemo", by=S)
>>> [(x.seq, x.event.event_type) for x in app.events.since(0, by=S)]
[(1, 'account_created')]
"""

from __future__ import annotations

from subacct.domain import AccountId
from subacct.errors import InvalidInput
from subacct.policy import Action
from subacct.principals import Actor
from subacct.services import _args
from subacct.services._kinds import query
from subacct.services._runner import Runner, Unit
from subacct.storage.ports import LoggedEvent

__all__ = ["Events"]

_READ = Action("events.read")


def _limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise InvalidInput("limit must be an integer from 1 to 10000", field="limit")
    return value


def _seq(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{field} must be a sequence number >= 0", field=field)
    return value


class Events:
    """The domain event log (``app.events``)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    @query
    def since(self, seq: int = 0, *, by: Actor, limit: int = 1000) -> list[LoggedEvent]:
        """Events with a sequence number above ``seq``, oldest first (the system only)."""
        who, after, most = _args.actor(by), _seq(seq, "seq"), _limit(limit)

        def work(unit: Unit) -> list[LoggedEvent]:
            unit.require_system(_READ)
            return unit.uow.events.since(after, most)

        return self._runner.query(who, work)

    @query
    def for_account(
        self, account_id: str, *, by: Actor, since: int = 0, limit: int = 1000
    ) -> list[LoggedEvent]:
        """Events about one account above ``since``, oldest first (the system only;
        ``AccountNotFound`` for an account that never existed)."""
        who, where = _args.actor(by), _args.ident(account_id, "account_id")
        after, most = _seq(since, "since"), _limit(limit)

        def work(unit: Unit) -> list[LoggedEvent]:
            unit.require_system(_READ, where)
            account = unit.uow.accounts.get(AccountId(where))
            return unit.uow.events.for_account(account.id, after, most)

        return self._runner.query(who, work)
