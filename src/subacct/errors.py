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

from typing import Any, ClassVar

__all__ = [
    "AccountClosed",
    "AccountHasOpenSubs",
    "AccountNotActive",
    "AccountNotFound",
    "AlreadyExists",
    "ConcurrentModification",
    "Conflict",
    "DepthExceeded",
    "DuplicateLogin",
    "ForbiddenTransition",
    "HierarchyCycle",
    "HierarchyError",
    "IdempotencyConflict",
    "InsufficientCredit",
    "InvalidInput",
    "LifecycleError",
    "LinkError",
    "MembershipNotFound",
    "NotFound",
    "PermissionDenied",
    "QuotaExceeded",
    "SchemaError",
    "StorageError",
    "SubacctError",
    "UserNotFound",
    "error_codes",
]


class SubacctError(Exception):
    """Root of every error subacct raises on purpose."""

    code: ClassVar[str] = "subacct_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

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


class SchemaError(InvalidInput):
    """Serialized data has an unknown or missing schema version or shape."""

    code = "schema_error"


# -- missing things -------------------------------------------------------------------------


class NotFound(SubacctError, LookupError):
    """Something named by id does not exist."""

    code = "not_found"


class AccountNotFound(NotFound):
    code = "account_not_found"

    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id!r} does not exist", account_id=account_id)
        self.account_id = account_id


class UserNotFound(NotFound):
    code = "user_not_found"

    def __init__(self, user_id: str) -> None:
        super().__init__(f"user {user_id!r} does not exist", user_id=user_id)
        self.user_id = user_id


class MembershipNotFound(NotFound):
    code = "membership_not_found"

    def __init__(self, user_id: str, account_id: str) -> None:
        super().__init__(
            f"user {user_id!r} has no membership in account {account_id!r}",
            user_id=user_id,
            account_id=account_id,
        )


# -- conflicts with existing state -----------------------------------------------------------


class Conflict(SubacctError):
    """The request is well formed but clashes with the current state."""

    code = "conflict"


class AlreadyExists(Conflict):
    code = "already_exists"


class DuplicateLogin(Conflict):
    code = "duplicate_login"

    def __init__(self, login: str) -> None:
        super().__init__(f"login {login!r} is already taken", login=login)
        self.login = login


class ConcurrentModification(Conflict):
    """An optimistic version check failed: someone else changed the record first."""

    code = "concurrent_modification"


class IdempotencyConflict(Conflict):
    """An idempotency key was reused with different parameters."""

    code = "idempotency_conflict"


class HierarchyError(Conflict):
    """A change would break the account tree."""

    code = "hierarchy_error"


class HierarchyCycle(HierarchyError):
    code = "hierarchy_cycle"


class DepthExceeded(HierarchyError):
    code = "depth_exceeded"


class LinkError(Conflict):
    """An agency link is not allowed (wrong kinds, already linked, sharing across a link)."""

    code = "link_error"


class LifecycleError(Conflict):
    """The account's status does not allow this."""

    code = "lifecycle_error"


class ForbiddenTransition(LifecycleError):
    code = "forbidden_transition"


class AccountClosed(LifecycleError):
    code = "account_closed"


class AccountNotActive(LifecycleError):
    code = "account_not_active"


class AccountHasOpenSubs(LifecycleError):
    code = "account_has_open_subs"


# -- refusals by rule ------------------------------------------------------------------------


class PermissionDenied(SubacctError):
    """The principal may not do this action here."""

    code = "permission_denied"


class QuotaExceeded(SubacctError):
    """The send would go over the account's monthly quota ("over quota")."""

    code = "over_quota"


class InsufficientCredit(SubacctError):
    """The wallet cannot cover the amount."""

    code = "insufficient_credit"


class StorageError(SubacctError):
    """The storage adapter failed in a way that is not the caller's fault."""

    code = "storage_error"


def error_codes() -> dict[str, type[SubacctError]]:
    """Every stable error code mapped to its exception class (for docs and API clients)."""
    seen: dict[str, type[SubacctError]] = {}
    stack: list[type[SubacctError]] = [SubacctError]
    while stack:
        cls = stack.pop()
        seen[cls.code] = cls
        stack.extend(cls.__subclasses__())
    return dict(sorted(seen.items()))
