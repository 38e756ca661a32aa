"""Who acts: every operation on tenant data takes ``by=``, one of these.

* a user: their ``UserId`` (the host has authenticated them);
* an API key: the ``ApiKey`` that ``app.policy.authenticate_api_key`` returned;
* an impersonation: the ``ImpersonationSession`` that ``app.policy.start_impersonation``
  returned (the real user acting as a sub-account);
* ``SYSTEM``: trusted host code (a billing run, a signup, a support tool), allowed
  everything and audited as the system. ``System("support:jane")`` names the operator.

Keys and sessions are read again from storage in every call, so a revoked key or an
ended session stops at once, even when the host still holds the old value.

>>> import subacct
>>> subacct.SYSTEM
SYSTEM
>>> from subacct.principals import principal_label
>>> principal_label("pam"), principal_label(subacct.SYSTEM)
('user:pam', 'system')
"""

from __future__ import annotations

from typing import TypeAlias

from subacct.domain.ids import UserId
from subacct.policy.api_keys import ApiKey
from subacct.policy.decisions import Principal
from subacct.policy.impersonation import ImpersonationSession
from subacct.policy.system import SYSTEM, System

__all__ = ["SYSTEM", "Actor", "ApiKey", "ImpersonationSession", "Principal", "System", "UserId"]

Actor: TypeAlias = UserId | str | ApiKey | ImpersonationSession | System
"""What ``by=`` accepts."""


def principal_label(actor: Actor) -> str:
    """A short, unambiguous name of who acts, as plan reviews record it: ``"user:<id>"``,
    ``"api_key:<id>"``, ``"impersonation:<id>"``, ``"system"`` or ``"system:<operator>"``."""
    if isinstance(actor, System):
        return actor.label
    if isinstance(actor, ApiKey):
        return f"api_key:{actor.id}"
    if isinstance(actor, ImpersonationSession):
        return f"impersonation:{actor.id}"
    return f"user:{actor}"


__all__ += ["principal_label"]
