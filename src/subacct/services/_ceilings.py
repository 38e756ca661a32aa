"""Ceilings that follow a move of the tree (private). The rule is the core's
(``subacct.policy.ceilings.stranded``): a ceiling binds only while its ``set_by`` is a
strict ancestor of its account; here the ones a move strands are found, deleted and
told."""

from __future__ import annotations

from collections.abc import Sequence

from subacct.domain import Account
from subacct.domain.changes import subtree_ancestors
from subacct.domain.events import CeilingRemoved
from subacct.policy.ceilings import STRANDED, Ceiling, stranded
from subacct.services._runner import Unit
from subacct.storage.collections import CEILINGS

__all__ = ["follow_move"]


def follow_move(
    unit: Unit, account: Account, new_chain: Sequence[Account], subtree: Sequence[Account]
) -> list[Ceiling]:
    """Before ``account`` and ``subtree`` (its descendants, depth first) move under
    ``new_chain`` (the new parent first; empty: top level), drop every ceiling of theirs
    placed by an old ancestor that will no longer be above it, each with a
    ``ceiling_removed`` event (reason ``set_by_not_an_ancestor``). Returns them."""
    above = [a.id for a in new_chain]
    leaving = [a.id for a in unit.uow.accounts.ancestors(account.id) if a.id not in above]
    if not leaving:  # only an old ancestor that leaves the path can strand a ceiling
        return []
    repo = unit.uow.records(CEILINGS)
    placed = [c for placer in leaving for c in repo.list_by("set_by", placer)]
    dropped = stranded(placed, subtree_ancestors(account.id, above, subtree))
    for ceiling in dropped:
        repo.remove(CEILINGS.key_of(ceiling))
        unit.emit(
            CeilingRemoved(
                **unit.meta().about(ceiling.account_id), set_by=ceiling.set_by, reason=STRANDED
            )
        )
    return dropped
