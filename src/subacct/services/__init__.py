"""The application layer behind ``subacct.Subacct`` (private modules).

One module per sub-API (``accounts``, ``links``, ``members``, ``invitations``, ``policy``,
``billing``, ``plans``, ``sharing``, ``credits``, ``sending``, ``thresholds``, ``reports``,
``events``, ``audit``), none inheriting from another; every call goes through ``_runner`` (unit of
work, retries, the fresh principal, the policy check, events and audit records). Import
the classes from here for type annotations; build them through ``subacct.Subacct``.
"""

from subacct.services.accounts import Accounts
from subacct.services.audit import Audit
from subacct.services.billing import Billing
from subacct.services.credits import Credits
from subacct.services.events import Events
from subacct.services.invitations import Invitations
from subacct.services.links import Links
from subacct.services.members import Members
from subacct.services.plans import Plans
from subacct.services.policy import Policy
from subacct.services.reports import Reports
from subacct.services.sending import Sending
from subacct.services.sharing import Sharing
from subacct.services.thresholds import Thresholds

__all__ = [
    "Accounts",
    "Audit",
    "Billing",
    "Credits",
    "Events",
    "Links",
    "Invitations",
    "Members",
    "Plans",
    "Policy",
    "Reports",
    "Sending",
    "Sharing",
    "Thresholds",
]
