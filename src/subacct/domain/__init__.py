"""The pure domain core: accounts, the hierarchy, agency links, users and memberships."""

from subacct.domain.accounts import (
    ALLOWED_TRANSITIONS,
    Account,
    AccountKind,
    AccountStatus,
    can_send,
    new_master,
    require_can_send,
)
from subacct.domain.hierarchy import (
    HierarchyRules,
    Tree,
    plan_attach,
    plan_detach,
    plan_move,
    plan_new_sub,
)
from subacct.domain.ids import AccountId, RoleId, UserId
from subacct.domain.invitations import (
    Invitation,
    InvitationId,
    InvitationState,
    InvitationToken,
    SeatLimit,
    SentInvitation,
    normalize_email,
)
from subacct.domain.links import (
    AgencyLink,
    LinkRequest,
    LinkRequestId,
    LinkRequestStatus,
    plan_acceptance,
    plan_decline,
    plan_link,
    plan_link_request,
    plan_unlink,
)
from subacct.domain.users import Membership, User, normalize_login

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Account",
    "AccountId",
    "AccountKind",
    "AccountStatus",
    "AgencyLink",
    "HierarchyRules",
    "LinkRequest",
    "LinkRequestId",
    "LinkRequestStatus",
    "Invitation",
    "InvitationId",
    "InvitationState",
    "InvitationToken",
    "Membership",
    "RoleId",
    "SeatLimit",
    "SentInvitation",
    "Tree",
    "User",
    "UserId",
    "can_send",
    "new_master",
    "normalize_email",
    "normalize_login",
    "plan_acceptance",
    "plan_attach",
    "plan_decline",
    "plan_detach",
    "plan_link",
    "plan_link_request",
    "plan_move",
    "plan_new_sub",
    "plan_unlink",
    "require_can_send",
]
