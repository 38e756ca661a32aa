"""One exception hierarchy for every refusal subacct makes.

Every error carries a stable, snake_case ``code`` (safe to match on and to return in an
API response), a human ``message`` and the ``details`` a host needs to build a response.
A refused operation never leaves partial state behind.

>>> from subacct.errors import AccountNotFound
>>> err = AccountNotFound("acc_9")
>>> err.code, err.details["account_id"]
('account_not_found', 'acc_9')
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from subacct.policy.decisions import Decision

__all__ = [
    "AccountClosed",
    "AccountHasOpenSubs",
    "AccountNotActive",
    "AccountNotFound",
    "ActionDenied",
    "AllocationError",
    "AlreadyExists",
    "AmountOutOfBounds",
    "ApiKeyExpired",
    "ApiKeyRevoked",
    "ApiKeySecretRotated",
    "BalanceOutOfBounds",
    "ConcurrentModification",
    "CreditExceedsInvoice",
    "Conflict",
    "CreditReservationClosed",
    "CreditReservationNotFound",
    "DepthExceeded",
    "DuplicateLogin",
    "EscalationRefused",
    "ForbiddenTransition",
    "HierarchyCycle",
    "HierarchyError",
    "HoldClosed",
    "HoldNotFound",
    "IdempotencyConflict",
    "ImpersonationExpired",
    "ImpersonationRefused",
    "InsufficientCredit",
    "InvalidBillingStructure",
    "InvalidInput",
    "InvalidPricing",
    "InvalidQuantity",
    "InvoiceFinalized",
    "InvoiceNotFound",
    "InvoiceStateError",
    "InvitationExpired",
    "InvitationNotFound",
    "InvitationPending",
    "InvitationRefused",
    "InvitationRevoked",
    "InvitationTokenReplaced",
    "InvitationUsed",
    "LastAdmin",
    "LifecycleError",
    "LinkClientAmbiguous",
    "LinkClientNotFound",
    "LinkError",
    "LinkRequestDeclined",
    "LinkTokenExpired",
    "LinkTokenInvalid",
    "LinkTokenUsed",
    "LinkedAccountsCannotShare",
    "MembershipNotFound",
    "NoMatchingCharge",
    "NotADescendant",
    "NotFound",
    "NotResourceOwner",
    "OverdraftInUse",
    "Overpayment",
    "PaymentMethodRequired",
    "PeriodAlreadyInvoiced",
    "PeriodMismatch",
    "PermissionDenied",
    "PlanChangeError",
    "PlanNotFound",
    "PrerequisitesMissing",
    "QuotaCapExceedsParent",
    "QuotaExceeded",
    "RefundExceedsSpent",
    "ReservationNotFound",
    "ResourceAccessDenied",
    "ResourceNotFound",
    "RoleNotFound",
    "SECRET_PATTERN",
    "SchemaError",
    "SeatLimitReached",
    "SelfRoleChangeRefused",
    "ShareNotFound",
    "SharingError",
    "StalePlan",
    "StorageCorrupt",
    "StorageError",
    "StorageTimeout",
    "StorageUnavailable",
    "SubacctError",
    "UnknownChannel",
    "UserNotFound",
    "VolumeAboveLadder",
    "WalletNotFound",
    "error_codes",
    "quoted",
    "redacted",
]

#: The most characters of one input value an error message or detail ever shows.
MAX_QUOTED: Final = 100

#: The shape of the API key secrets and link tokens subacct mints (``sk_`` or ``lt_`` and 43
#: URL-safe characters). Whatever an error says, a word of this shape is shown as
#: ``sk_<redacted>`` (``lt_<redacted>``): a secret
#: passed in the wrong place (as a user id, say) never comes back in a message. (So is an
#: id of that shape: ``sk_`` at the start of a word, then 43 or more such characters.)
SECRET_PATTERN: Final = re.compile(r"(?<![A-Za-z0-9_-])(sk|lt)_[A-Za-z0-9_-]{43,}")


def redacted(text: str) -> str:
    """``text`` with every API key secret in it replaced by ``sk_<redacted>``.

    >>> redacted("user 'sk_Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTAxMjM0NTY3ODk' is unknown")
    "user 'sk_<redacted>' is unknown"
    >>> redacted("account 'task_management_department_of_the_north_and_south_01'")
    "account 'task_management_department_of_the_north_and_south_01'"
    """
    if not isinstance(text, str):  # an id of another type, passed by a host: as it is
        return text
    return SECRET_PATTERN.sub(r"\1_<redacted>", text)


def quoted(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (at most ``MAX_QUOTED``) with the full
    length noted: what error messages show of input, so a 1 MB argument never comes back.

    >>> quoted("agency1")
    "'agency1'"
    >>> quoted("x" * 1000, limit=10)
    "'xxxxxxxxx… (1000 characters)"
    """
    cap = min(limit, MAX_QUOTED)
    try:
        text = redacted(repr(value))
    except Exception:  # a hostile __repr__ must not break the error that reports it
        return f"<{type(value).__name__}>"
    if len(text) <= cap:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str | bytes) else ""
    return text[:cap] + "…" + size


def _capped(value: Any) -> Any:
    """A detail value safe to return to a caller: long text is cut like ``quoted``, and
    secrets are redacted."""
    if isinstance(value, str):
        if len(value) > MAX_QUOTED:
            return redacted(value[: MAX_QUOTED - 20]) + f"… ({len(value)} characters)"
        return redacted(value)
    if isinstance(value, bytes):
        return quoted(value)
    if isinstance(value, list):
        return [_capped(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_capped(v) for v in value)
    return value


def _rebuilt(cls: type[SubacctError], message: str, state: dict[str, Any]) -> SubacctError:
    """Unpickle an error without calling its ``__init__`` (whose signature varies)."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class SubacctError(Exception):
    """Root of every error subacct raises on purpose."""

    code: ClassVar[str] = "subacct_error"

    def __init__(self, message: str, **details: Any) -> None:
        message = redacted(message)
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = {k: _capped(v) for k, v in details.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (multiprocessing, task queues): pickle and copy
        # them by state, whatever arguments their constructor takes.
        return (_rebuilt, (type(self), self.message, dict(self.__dict__)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able shape a host can return from an API: code, message, details."""
        return {"code": self.code, "message": self.message, "details": dict(self.details)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# -- bad input ------------------------------------------------------------------------------


class InvalidInput(SubacctError, ValueError):
    """A value is malformed (empty name, negative quantity, bad bounds...)."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class AmountOutOfBounds(InvalidInput):
    """An amount, price or rate is outside the bounds of exact money (``subacct.money``: at
    most 18 digits before the decimal point, at most 12 after it), or arithmetic on money
    would have had to round. ``details["bound"]`` says which bound (``integer_digits``,
    ``scale``, ``precision``; ``balance`` for ``BalanceOutOfBounds``) and
    ``details["limit"]`` its value; ``field`` names the value."""

    code = "amount_out_of_bounds"


class BalanceOutOfBounds(AmountOutOfBounds):
    """The operation would take a ledger balance past the largest amount (either way); it
    is refused and nothing moves. ``details["ledger_account"]`` names the balance."""

    code = "balance_out_of_bounds"


class SchemaError(InvalidInput):
    """Serialized data has an unknown or missing schema version or shape."""

    code = "schema_error"


# -- missing things -------------------------------------------------------------------------


class NotFound(SubacctError, LookupError):
    """Something named by id does not exist."""

    code = "not_found"


class AccountNotFound(NotFound):
    """No account has this id."""

    code = "account_not_found"

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {quoted(account_id)} does not exist", account_id=account_id)
        self.account_id = redacted(account_id)


class UserNotFound(NotFound):
    """No user has this id (or, for a principal, none it may see)."""

    code = "user_not_found"

    def __init__(self, user_id: str) -> None:
        super().__init__(f"user {quoted(user_id)} does not exist", user_id=user_id)
        self.user_id = redacted(user_id)


class MembershipNotFound(NotFound):
    """The user has no membership in the account."""

    code = "membership_not_found"

    def __init__(self, user_id: str, account_id: str) -> None:
        super().__init__(
            f"user {quoted(user_id)} has no membership in account {quoted(account_id)}",
            user_id=user_id,
            account_id=account_id,
        )


# -- conflicts with existing state -----------------------------------------------------------


class Conflict(SubacctError):
    """The request is well formed but clashes with the current state."""

    code = "conflict"


class AlreadyExists(Conflict):
    """Something with this id or key exists already."""

    code = "already_exists"


class DuplicateLogin(Conflict):
    """The normalized login belongs to another user."""

    code = "duplicate_login"

    def __init__(self, login: str) -> None:
        super().__init__(f"login {quoted(login)} is already taken", login=login)
        self.login = redacted(login)


class ConcurrentModification(Conflict):
    """An optimistic version check failed: someone else changed the record first."""

    code = "concurrent_modification"


class StalePlan(ConcurrentModification):
    """A ledger plan no longer matches the stored state (a balance it read changed, its
    key was used, a reservation it closes was closed); nothing of it was written, so the
    same unit of work may plan again."""

    code = "stale_plan"


class IdempotencyConflict(Conflict):
    """An idempotency key was reused with different parameters."""

    code = "idempotency_conflict"


class HierarchyError(Conflict):
    """A change would break the account tree."""

    code = "hierarchy_error"


class HierarchyCycle(HierarchyError):
    """The change would make an account its own ancestor."""

    code = "hierarchy_cycle"


class DepthExceeded(HierarchyError):
    """The change would make the account tree deeper than ``HierarchyRules`` allow."""

    code = "depth_exceeded"


class LinkError(Conflict):
    """An agency link is not allowed (wrong kinds, already linked, sharing across a link)."""

    code = "link_error"


class LinkClientNotFound(NotFound):
    """No standalone account is administered by the login a link request names (or the
    ``client_id`` given is not one of them)."""

    code = "link_client_not_found"


class LinkClientAmbiguous(InvalidInput):
    """The login administers several standalone accounts: name one with ``client_id``."""

    code = "link_client_ambiguous"


class LinkTokenExpired(Conflict):
    """The link request's token has expired (``Settings.link_request_ttl``): the agency
    asks again."""

    code = "link_token_expired"


class LinkTokenUsed(Conflict):
    """The link request was accepted already: a token links once."""

    code = "link_token_used"


class LinkRequestDeclined(Conflict):
    """The client declined the link request: its token no longer links."""

    code = "link_request_declined"


class LifecycleError(Conflict):
    """The account's status does not allow this."""

    code = "lifecycle_error"


class ForbiddenTransition(LifecycleError):
    """The account lifecycle does not allow this status change (closed is final)."""

    code = "forbidden_transition"


class AccountClosed(LifecycleError):
    """The account is closed: it never reopens, moves, gains members or sends."""

    code = "account_closed"


class AccountNotActive(LifecycleError):
    """The account, or one of its ancestors, is not active: nothing is sent, reserved or
    recorded there (``details["inactive_account_id"]`` names the one that stops it)."""

    code = "account_not_active"


class AccountHasOpenSubs(LifecycleError):
    """The account still has open sub-accounts; close or detach them first."""

    code = "account_has_open_subs"


# -- refusals by rule ------------------------------------------------------------------------


class PermissionDenied(SubacctError):
    """The principal may not do this action here."""

    code = "permission_denied"


class LinkTokenInvalid(PermissionDenied):
    """No link request has this token (mistyped, made up, or of a request replaced by a
    newer one)."""

    code = "link_token_invalid"


class QuotaExceeded(SubacctError):
    """The send would go over the account's monthly quota ("over quota")."""

    code = "over_quota"


class InsufficientCredit(SubacctError):
    """The wallet cannot cover the amount."""

    code = "insufficient_credit"


class StorageError(SubacctError):
    """The storage adapter failed in a way that is not the caller's fault. Raised itself for
    a misuse (nested units of work, a unit used outside its block), a schema newer than the
    library, and a driver error of no kind below; a driver's error is the ``__cause__``.

    ``reason`` says what happened (``details["reason"]``); ``outcome`` whether the unit of
    work may have been written: ``"not_committed"`` (surely not: running the call again is
    safe) or ``"unknown"`` (the connection was lost while the commit was under way)."""

    code = "storage_error"

    def __init__(
        self, message: str, *, reason: str | None = None, outcome: str | None = None, **details: Any
    ) -> None:
        if reason is not None:
            details["reason"] = reason
        if outcome is not None:
            details["outcome"] = outcome
        super().__init__(message, **details)
        self.reason = reason
        self.outcome = outcome


class StorageUnavailable(StorageError):
    """The storage cannot be reached or cannot be written: the server is down or refuses
    connections, the connection was lost, the database file cannot be opened (a missing
    folder, a directory), is read-only, or the disk is full. Usually passes once the
    storage is back: a host may answer "try again later" (HTTP 503).

    >>> err = StorageUnavailable("the connection was lost", reason="connection_lost",
    ...                          outcome="unknown")
    >>> err.code, err.details["outcome"]
    ('storage_unavailable', 'unknown')
    """

    code = "storage_unavailable"


class StorageCorrupt(StorageError):
    """The database is damaged: not a database at all, malformed or truncated. Retrying
    does not help; restore a backup."""

    code = "storage_corrupt"


class StorageTimeout(StorageError):
    """Storage did not answer in time: a lock held by another writer beyond the busy
    timeout, a statement beyond ``statement_timeout``, no free pooled connection within
    the pool timeout. Nothing was written."""

    code = "storage_timeout"


# -- pricing and billing (subacct.pricing) ---------------------------------------------------


class InvalidQuantity(InvalidInput):
    """A usage quantity is negative, fractional or not an integer."""

    code = "invalid_quantity"


class InvalidPricing(InvalidInput):
    """A price model, ladder, tier list, fee schedule or rate is malformed."""

    code = "invalid_pricing"


class VolumeAboveLadder(InvalidInput):
    """The volume is above the top plan of a ladder that defines no overage rate."""

    code = "volume_above_ladder"


class PeriodMismatch(InvalidInput):
    """A usage record or invoice belongs to another billing period."""

    code = "period_mismatch"


class UnknownChannel(InvalidInput):
    """A channel the application's catalog does not offer (``Settings.channels``);
    ``details["channel"]`` names it and ``field`` is ``channel``."""

    code = "unknown_channel"


class NoMatchingCharge(InvalidInput):
    """No charge of the payer's price matches a usage record's channel and dimensions
    (``subacct.pricing.charge_for``); ``field`` is ``channel``."""

    code = "no_matching_charge"


class InvalidBillingStructure(InvalidInput):
    """Billing data does not fit the structure (no payer, unknown account, cycle...)."""

    code = "invalid_billing_structure"


class PlanNotFound(NotFound):
    """No plan of that name on the ladder."""

    code = "plan_not_found"


class ReservationNotFound(NotFound):
    """No quota reservation under that idempotency key."""

    code = "reservation_not_found"


class QuotaCapExceedsParent(Conflict):
    """A sub-account's quota cap would be above an ancestor's limit (or vice versa)."""

    code = "quota_cap_exceeds_parent"


class PeriodAlreadyInvoiced(Conflict):
    """The account's month is on the issued invoice of a payer that no longer pays for
    it (a sub given its own profile, or moved, since): what arrives for that month
    cannot be re-rated with the pool it was billed in, so it is refused, not left off
    silently. (A month invoiced by the account's own payer takes late arrivals as
    adjustments on the next invoice.)"""

    code = "period_already_invoiced"


class InvoiceNotFound(NotFound):
    """No invoice (or credit note) has that number."""

    code = "invoice_not_found"


class InvoiceStateError(Conflict):
    """The invoice's status does not allow this: voiding a paid invoice, paying a void
    one, crediting a draft (``details``: ``number``, ``status``, ``operation``)."""

    code = "invoice_state"


class InvoiceFinalized(InvoiceStateError):
    """A finalized invoice never changes: it cannot be drafted or priced again."""

    code = "invoice_finalized"


class Overpayment(Conflict):
    """A payment above what the invoice still owes (``details["balance"]``)."""

    code = "overpayment"


class CreditExceedsInvoice(Conflict):
    """A credit note above what is left to credit of the invoice, or of one of its lines
    (``details["left"]``, and ``line`` for a line)."""

    code = "credit_exceeds_invoice"


class PlanChangeError(Conflict):
    """The plan change is not allowed now (not pending, account not active...)."""

    code = "plan_change_refused"


class PrerequisitesMissing(PlanChangeError):
    """An upgrade cannot be approved before its prerequisites (e.g. SPF, DKIM) are met."""

    code = "prerequisites_missing"


# -- invitations, seats and ownership (subacct.domain.invitations, .ownership) ---------------


class InvitationNotFound(NotFound):
    """No invitation has this id, or none has this token (the token is never echoed)."""

    code = "invitation_not_found"


class InvitationRefused(Conflict):
    """The invitation cannot be used (or changed) now: the family of the refusals below."""

    code = "invitation_refused"


class InvitationExpired(InvitationRefused):
    """The invitation's time ran out (``Settings.invitation_ttl``); re-send it for a new
    token."""

    code = "invitation_expired"


class InvitationUsed(InvitationRefused):
    """The invitation was accepted already: its token works once."""

    code = "invitation_used"


class InvitationRevoked(InvitationRefused):
    """The invitation was revoked."""

    code = "invitation_revoked"


class InvitationTokenReplaced(InvitationRefused):
    """The invitation was re-sent: only the newest token accepts it."""

    code = "invitation_token_replaced"


class InvitationPending(Conflict):
    """An open invitation for this e-mail to this account exists already (re-send it)."""

    code = "invitation_pending"


class SeatLimitReached(Conflict):
    """The account's seats (``members.set_seat_limit``) are all taken: members plus open
    invitations. ``details`` name ``account_id`` and ``limit``."""

    code = "seat_limit_reached"


class LastAdmin(Conflict):
    """The change would leave a top-level account (a master or a linked client) without an
    administrator (``Settings.owner_role``): transfer ownership first."""

    code = "last_admin"


# -- permission policy refusals (subacct.policy) ---------------------------------------------


class RoleNotFound(NotFound):
    """A membership, invitation or impersonation names a role the role set does not have."""

    code = "role_not_found"

    def __init__(self, role_id: str) -> None:
        super().__init__(f"role {quoted(role_id)} is not defined", role_id=role_id)
        self.role_id = redacted(role_id)


class ActionDenied(PermissionDenied):
    """The policy engine said no. ``decision`` is the ``subacct.policy.Decision``, ``reason``
    its stable reason code (``no_membership``, ``ceiling_excludes_action``...); ``details``
    name the principal, action and account."""

    code = "action_denied"

    def __init__(self, message: str, *, decision: Decision, **details: Any) -> None:
        super().__init__(message, **details)
        self.decision = decision
        self.reason: str = decision.code


class EscalationRefused(ActionDenied):
    """A grant, invitation, API key or impersonation would give more than the grantor holds."""

    code = "escalation_refused"


class SelfRoleChangeRefused(EscalationRefused):
    """Nobody grants, changes or removes their own membership."""

    code = "self_role_change_refused"


class ImpersonationRefused(ActionDenied):
    """Impersonation is only downward, from an ancestor's administrator, where allowed."""

    code = "impersonation_refused"


class ApiKeyRevoked(ActionDenied):
    """The API key was revoked (by request, or because its creator left); it no longer
    acts for its account."""

    code = "api_key_revoked"


class ApiKeyExpired(ActionDenied):
    """The API key's ``expires_at`` has passed; it no longer acts for its account."""

    code = "api_key_expired"


class ImpersonationExpired(ImpersonationRefused):
    """The impersonation session outlived ``Settings.impersonation_ttl``: it grants
    nothing; start a new one."""

    code = "impersonation_expired"


class ApiKeySecretRotated(PermissionDenied):
    """The secret belongs to a key that was rotated, and its overlap has ended: only the
    newer secret signs in now."""

    code = "api_key_secret_rotated"


# -- prepaid credit ledger (subacct.pricing.ledger) ------------------------------------------


class WalletNotFound(NotFound):
    """The account has no wallet in the credit ledger (open one first)."""

    code = "wallet_not_found"


class CreditReservationNotFound(ReservationNotFound):
    """No credit reservation with that id."""

    code = "credit_reservation_not_found"


class CreditReservationClosed(Conflict):
    """The credit reservation is already committed, released or expired (or past expiry)."""

    code = "credit_reservation_closed"


class HoldNotFound(ReservationNotFound):
    """No send hold under that account and key (``app.sending``)."""

    code = "hold_not_found"


class HoldClosed(Conflict):
    """The send hold is already captured, released or expired, or past its expiry:
    ``details["status"]`` says which."""

    code = "hold_closed"


class AllocationError(Conflict):
    """The sub's allocation policy or master does not allow this (e.g. resetting a
    non-recurring allocation, distributing to an unlimited sub, changing a wallet's master)."""

    code = "allocation_error"


class PaymentMethodRequired(Conflict):
    """Only an account that pays for itself (a top-level account, or a sub-account with
    its own billing profile: ``subacct.pricing.profiles.pays_for_itself``) can top up its
    own credit; ``details["payer_id"]`` names the payer a pooled sub is billed through."""

    code = "payment_method_required"


class RefundExceedsSpent(Conflict):
    """A refund would give back more credit than the account has spent."""

    code = "refund_exceeds_spent"


class OverdraftInUse(Conflict):
    """The overdraft limit cannot be lowered below the debt the wallet is already in."""

    code = "overdraft_in_use"


# -- resources and sharing (subacct.domain.resources, .sharing) --------------------------------


class ResourceNotFound(NotFound):
    """No such resource, or none the asking account may see (siblings learn nothing)."""

    code = "resource_not_found"

    def __init__(self, resource_id: str) -> None:
        super().__init__(f"resource {quoted(resource_id)} does not exist", resource_id=resource_id)
        self.resource_id = redacted(resource_id)


class ShareNotFound(NotFound):
    """No share grant with that id."""

    code = "share_not_found"

    def __init__(self, share_id: str) -> None:
        super().__init__(f"share {quoted(share_id)} does not exist", share_id=share_id)
        self.share_id = redacted(share_id)


class SharingError(Conflict):
    """A share or revocation does not fit the tree or the resource's ownership."""

    code = "sharing_error"


class NotADescendant(SharingError):
    """A share target is not below the owner in the tree (sharing only goes down)."""

    code = "not_a_descendant"


class NotResourceOwner(SharingError):
    """Only the account that owns a resource shares it or revokes its shares."""

    code = "not_resource_owner"


class LinkedAccountsCannotShare(LinkError):
    """Agency-linked accounts share nothing, in either direction (seed 002)."""

    code = "linked_accounts_cannot_share"


class ResourceAccessDenied(PermissionDenied):
    """The account sees the resource but lacks the right (e.g. editing without an edit grant)."""

    code = "resource_access_denied"


def error_codes() -> dict[str, type[SubacctError]]:
    """Every stable error code mapped to its exception class (for docs and API clients)."""
    seen: dict[str, type[SubacctError]] = {}
    stack: list[type[SubacctError]] = [SubacctError]
    while stack:
        cls = stack.pop()
        seen[cls.code] = cls
        stack.extend(cls.__subclasses__())
    return dict(sorted(seen.items()))
