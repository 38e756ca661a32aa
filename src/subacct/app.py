"""``Subacct``: one store and one ``Settings``, composed into the sub-APIs hosts call.

>>> import subacct
>>> app = subacct.Subacct(subacct.MemoryStore())
>>> app.accounts.create_master("Agency Demo", account_id="agencydemo", by=subacct.SYSTEM).id
'agencydemo'
"""

from __future__ import annotations

from subacct.errors import InvalidInput
from subacct.services import (
    Accounts,
    Audit,
    Billing,
    Credits,
    Events,
    Invitations,
    Links,
    Members,
    Plans,
    Policy,
    Reports,
    Sending,
    Sharing,
    Thresholds,
)
from subacct.services._runner import Runner
from subacct.settings import Settings
from subacct.storage.ports import Store

__all__ = ["Subacct"]


class Subacct:
    """A master/sub-account system over ``store``.

    Each part is its own object, and every call names who acts with ``by=`` (a user id,
    an ``ApiKey``, an ``ImpersonationSession``, or ``subacct.SYSTEM`` for trusted host
    code):

    * ``accounts``: the account tree and its lifecycle;
    * ``links``: agency links to client accounts, by the client's consent (seed 002);
    * ``members``: users and their memberships, seat limits, ownership;
    * ``invitations``: invitations by e-mail, accepted with a token;
    * ``policy``: decisions, roles, ceilings, API keys, impersonation;
    * ``billing``: payer profiles, usage, quotas, invoices, commissions;
    * ``plans``: subscriptions and reviewed plan changes;
    * ``sharing``: templates and other resources shared down the tree;
    * ``credits``: prepaid credits on the double-entry ledger;
    * ``sending``: one call to authorize a send, one to capture or release it;
    * ``reports``: usage reports;
    * ``events``: the domain event log;
    * ``audit``: who did what, as whom, and why it was allowed or refused;
    * ``thresholds``: quota-percentage and low-credit thresholds, auto top-up requests.
    """

    __slots__ = (
        "accounts",
        "audit",
        "billing",
        "credits",
        "events",
        "invitations",
        "links",
        "members",
        "plans",
        "policy",
        "reports",
        "sending",
        "settings",
        "sharing",
        "store",
        "thresholds",
    )

    store: Store
    settings: Settings
    accounts: Accounts
    links: Links
    members: Members
    invitations: Invitations
    policy: Policy
    billing: Billing
    plans: Plans
    sharing: Sharing
    credits: Credits
    reports: Reports
    sending: Sending
    events: Events
    audit: Audit
    thresholds: Thresholds

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        if not callable(getattr(store, "unit_of_work", None)):
            raise InvalidInput("store must be a Store (it hands out units of work)", field="store")
        if settings is not None and not isinstance(settings, Settings):
            raise InvalidInput("settings must be a subacct.Settings", field="settings")
        self.store = store
        self.settings = settings if settings is not None else Settings()
        runner = Runner(store, self.settings)
        self.accounts = Accounts(runner)
        self.links = Links(runner)
        self.members = Members(runner)
        self.invitations = Invitations(runner)
        self.policy = Policy(runner)
        self.billing = Billing(runner)
        self.plans = Plans(runner)
        self.sharing = Sharing(runner)
        self.credits = Credits(runner)
        self.reports = Reports(runner)
        self.sending = Sending(runner)
        self.events = Events(runner)
        self.audit = Audit(runner)
        self.thresholds = Thresholds(runner)

    def __repr__(self) -> str:
        return f"Subacct({type(self.store).__name__})"
