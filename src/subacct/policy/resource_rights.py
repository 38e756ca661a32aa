"""Which user right each operation on a shared resource needs (``docs/sharing.md``).

* create, edit, copy, delete: ``templates.manage`` for templates, images and landing
  pages, ``contacts.manage`` for contact groups and contacts, in the acting account;
* share and revoke: ``templates.share`` or ``groups.share`` in the owner account;
* list and read: any of ``messages.send``, ``templates.manage`` or ``contacts.manage``.

A principal with no standing in an account (``NO_STANDING`` reasons) that cannot see a
resource from anywhere else is told the resource does not exist, never that it is denied.

>>> from subacct.domain.resources import ResourceKind
>>> from subacct.policy.resource_rights import MANAGE_ACTION, SHARE_ACTION
>>> MANAGE_ACTION[ResourceKind.IMAGE], SHARE_ACTION[ResourceKind.CONTACT_GROUP]
('templates.manage', 'groups.share')
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from subacct.domain.resources import ResourceKind
from subacct.policy.actions import (
    MANAGE_CONTACTS,
    MANAGE_TEMPLATES,
    SEND_MESSAGES,
    SHARE_GROUPS,
    SHARE_TEMPLATES,
    Action,
)
from subacct.policy.decisions import Reason

__all__ = ["MANAGE_ACTION", "NO_STANDING", "SHARE_ACTION", "USE_ACTIONS"]

_TEMPLATE_LIKE: Final = (ResourceKind.TEMPLATE, ResourceKind.IMAGE, ResourceKind.LANDING_PAGE)

MANAGE_ACTION: Final[Mapping[ResourceKind, Action]] = MappingProxyType(
    {k: MANAGE_TEMPLATES if k in _TEMPLATE_LIKE else MANAGE_CONTACTS for k in ResourceKind}
)
"""The right to create, edit, copy or delete a resource of each kind."""

SHARE_ACTION: Final[Mapping[ResourceKind, Action]] = MappingProxyType(
    {k: SHARE_TEMPLATES if k in _TEMPLATE_LIKE else SHARE_GROUPS for k in ResourceKind}
)
"""The right to share a resource of each kind or revoke its shares."""

USE_ACTIONS: Final = (SEND_MESSAGES, MANAGE_TEMPLATES, MANAGE_CONTACTS)
"""Any one of these lets a principal list and read the resources of an account."""

NO_STANDING: Final = frozenset(
    {Reason.NO_MEMBERSHIP, Reason.API_KEY_WRONG_ACCOUNT, Reason.IMPERSONATION_WRONG_ACCOUNT}
)
"""Denials meaning "this principal does not act in that account at all"."""
