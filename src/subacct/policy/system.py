"""The system principal: trusted host code that says so explicitly.

Every operation on tenant data names who acts. Host code that acts for the platform
itself (a billing run, a signup, a support tool) passes ``SYSTEM``: it is allowed
everything, and audit records and events name the system rather than a user. A
``System`` may carry the ``operator`` (a support agent, a job name) for the audit trail.

>>> from subacct.policy.system import SYSTEM, System
>>> SYSTEM, System("billing-run")
(SYSTEM, System('billing-run'))
>>> SYSTEM.label, System("billing-run").label
('system', 'system:billing-run')
"""

from __future__ import annotations

from typing import Final

import attrs

from subacct.domain.ids import check_id
from subacct.policy.actions import Scope
from subacct.policy.decisions import Decision, Reason

__all__ = ["SYSTEM", "SYSTEM_DECISION", "System"]


def _operator(value: object) -> str | None:
    return None if value is None else check_id(value, field="operator")


@attrs.frozen(repr=False)
class System:
    """Trusted host code; ``operator`` names who or what at the platform acted."""

    operator: str | None = attrs.field(default=None, converter=_operator)

    @property
    def label(self) -> str:
        """``"system"``, or ``"system:<operator>"``: how audit records name it."""
        return "system" if self.operator is None else f"system:{self.operator}"

    def __repr__(self) -> str:
        return "SYSTEM" if self.operator is None else f"System({self.operator!r})"


SYSTEM: Final = System()
"""Trusted host code, allowed everything and audited as the system."""

SYSTEM_DECISION: Final = Decision(True, Reason.ALLOWED_AS_SYSTEM, Scope.ALL)
"""The decision every check made for the system gets."""
