"""Storage ports and the reference adapters (in-memory and SQLite)."""

from subacct.storage.memory import MemoryStore
from subacct.storage.ports import (
    AccountRepository,
    Clock,
    IdFactory,
    LedgerRepository,
    LinkRepository,
    MembershipRepository,
    PlansFromCache,
    Store,
    UnitOfWork,
    UserRepository,
)
from subacct.storage.sqlite import SqliteStore

__all__ = [
    "AccountRepository",
    "Clock",
    "IdFactory",
    "LedgerRepository",
    "LinkRepository",
    "MemoryStore",
    "MembershipRepository",
    "PlansFromCache",
    "SqliteStore",
    "Store",
    "UnitOfWork",
    "UserRepository",
]
