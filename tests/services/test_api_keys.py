"""API keys that follow their owner (issue 13, item 6), through ``subacct.Subacct`` on
MemoryStore and SqliteStore: personal keys live on their creator's current rights and are
revoked when the creator leaves; account keys stay with the account; both expire,
rotate with an overlap, and record their last use without touching the policy version;
a revoked or expired key is refused with its own typed error in every call."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from subacct import (
    SYSTEM,
    FixedClock,
    Grant,
    Role,
    SqliteStore,
    Store,
    Subacct,
)
from subacct.errors import (
    ActionDenied,
    ApiKeyExpired,
    ApiKeyRevoked,
    ApiKeySecretRotated,
    Conflict,
    EscalationRefused,
    InvalidInput,
)
from subacct.policy import (
    MANAGE_API_KEYS,
    MANAGE_WEBHOOKS,
    SEND_MESSAGES,
    VIEW_INBOX,
    ApiKey,
    ApiKeyKind,
    Scope,
)
from subacct.policy.api_keys import ApiKeyCredential, secret_hash
from subacct.serialization import converter, structure
from subacct.storage.collections import API_KEY_USES, API_KEYS, AUDIT_RECORDS

from .conftest import T0, audit_log, event_log, make_app, refused, seed_agency

KEY_GRANTS = [Grant(SEND_MESSAGES), Grant(VIEW_INBOX), Grant(MANAGE_WEBHOOKS)]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def app(store: Store, clock: FixedClock) -> Subacct:
    """Seed 000/004 (``seed_agency``): owner (parent admin), sam (sub admin) and bob
    (basic) in agency1, yara in agency2."""
    return seed_agency(make_app(store, clock=clock))


def _events(store: Store, kind: str) -> list[object]:
    return [e for e in event_log(store) if e.event_type == kind]  # type: ignore[attr-defined]


def _stored(store: Store, key_id: str) -> ApiKey:
    with store.unit_of_work() as uow:
        found: ApiKey = uow.records(API_KEYS).get(key_id)
    return found


# -- personal keys: the creator's current rights ----------------------------------------


def test_a_demotion_narrows_a_personal_key_at_once(app: Subacct) -> None:
    key, _ = app.policy.create_api_key("agency1", "CRM", KEY_GRANTS, by="sam")
    assert key.kind is ApiKeyKind.PERSONAL  # the default
    assert app.policy.check(MANAGE_WEBHOOKS, "agency1", by=key).allowed
    assert app.policy.check(VIEW_INBOX, "agency1", by=key).scope is Scope.ALL
    app.members.change_role("sam", "agency1", "basic_user", by="owner")
    refusal = app.policy.check(MANAGE_WEBHOOKS, "agency1", by=key)
    assert refusal.code == "api_key_creator_lacks_action"
    assert app.policy.check(VIEW_INBOX, "agency1", by=key).scope is Scope.OWN  # basic: own
    assert app.policy.actions_in("agency1", by=key) == {
        VIEW_INBOX: Scope.OWN,
        SEND_MESSAGES: Scope.ALL,
    }
    err = refused(
        app.store, ActionDenied, lambda: app.policy.require(MANAGE_WEBHOOKS, "agency1", by=key)
    )
    assert err.details["reason"] == "api_key_creator_lacks_action"
    app.members.change_role("sam", "agency1", "sub_admin", by="owner")  # and back
    assert app.policy.check(MANAGE_WEBHOOKS, "agency1", by=key).allowed
    assert _events(app.store, "api_key_revoked") == []  # narrowed, never revoked


def test_leaving_the_account_revokes_the_creators_personal_keys_with_an_event(
    app: Subacct,
) -> None:
    key, secret = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam")
    bobs, _ = app.policy.create_api_key("agency1", "Bob's", [Grant(SEND_MESSAGES)], by="owner")
    app.members.remove("sam", "agency1", by="owner")
    revoked = _stored(app.store, key.id)
    assert revoked.revoked_at == T0
    (told,) = _events(app.store, "api_key_revoked")
    assert (told.api_key_id, told.reason, told.account_id, told.actor) == (  # type: ignore[attr-defined]
        key.id,
        "creator_left",
        "agency1",
        "owner",
    )
    err = refused(app.store, ApiKeyRevoked, lambda: app.accounts.get("agency1", by=key))
    assert err.code == "api_key_revoked"
    with pytest.raises(ApiKeyRevoked):
        app.policy.authenticate_api_key(secret, by=SYSTEM)
    assert app.policy.check(SEND_MESSAGES, "agency1", by=key).code == "api_key_revoked"
    assert app.policy.check(SEND_MESSAGES, "agency1", by=bobs).allowed  # owner's: untouched


def test_a_move_that_takes_the_creator_away_revokes_the_personal_key(app: Subacct) -> None:
    """The owner's personal key in agency1 lasts while agency1 is under agencydemo, where
    the owner is a member; moved under another master, the key is revoked (as when the
    creator leaves) and stays revoked if the account moves back. Sam's key stays: Sam is
    a member of agency1 itself."""
    owners, _ = app.policy.create_api_key("agency1", "ops", [Grant(SEND_MESSAGES)], by="owner")
    sams, _ = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam")
    app.accounts.create_master("Elsewhere", account_id="elsewhere", by=SYSTEM)
    app.accounts.move("agency1", "elsewhere", by=SYSTEM)
    assert _stored(app.store, owners.id).revoked_at == T0
    (told,) = _events(app.store, "api_key_revoked")
    assert (told.api_key_id, told.reason) == (owners.id, "creator_left")  # type: ignore[attr-defined]
    app.accounts.move("agency1", "agencydemo", by=SYSTEM)
    assert app.policy.check(SEND_MESSAGES, "agency1", by=owners).code == "api_key_revoked"
    assert app.policy.check(SEND_MESSAGES, "agency1", by=sams).allowed


def test_deleting_the_user_revokes_every_personal_key_they_made(app: Subacct) -> None:
    here, _ = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="owner")
    there, _ = app.policy.create_api_key("agency2", "Ops", [Grant(SEND_MESSAGES)], by="owner")
    app.members.add("new", "agencydemo", "parent_admin", by=SYSTEM)  # not the last admin
    app.members.remove_user("owner", by=SYSTEM)
    assert {e.api_key_id for e in _events(app.store, "api_key_revoked")} == {here.id, there.id}  # type: ignore[attr-defined]
    for key in (here, there):
        with pytest.raises(ApiKeyRevoked):
            app.policy.require(SEND_MESSAGES, key.account_id, by=key)


def test_a_membership_that_still_reaches_the_account_keeps_the_key(app: Subacct) -> None:
    """Leaving means no membership left in the key's account nor above it: the owner
    made a key in agency1 through their master membership; a membership of theirs in
    agency1 itself can go, and one in another account too, without revoking it."""
    key, _ = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="owner")
    app.members.add("owner", "agency1", "basic_user", by=SYSTEM)
    app.members.add("owner", "agency2", "basic_user", by=SYSTEM)
    app.members.remove("owner", "agency1", by=SYSTEM)
    app.members.remove("owner", "agency2", by=SYSTEM)
    assert _stored(app.store, key.id).revoked_at is None
    assert app.policy.check(SEND_MESSAGES, "agency1", by=key).allowed
    app.members.add("new", "agencydemo", "parent_admin", by=SYSTEM)  # not the last admin
    app.members.remove("owner", "agencydemo", by=SYSTEM)
    assert _stored(app.store, key.id).revoked_at == T0


# -- account keys: owned by the account -----------------------------------------------


def test_an_account_key_survives_its_creator_leaving(app: Subacct) -> None:
    key, secret = app.policy.create_api_key(
        "agency1", "CI", KEY_GRANTS, by="sam", kind=ApiKeyKind.ACCOUNT
    )
    assert key.kind is ApiKeyKind.ACCOUNT
    app.members.change_role("sam", "agency1", "basic_user", by="owner")
    assert app.policy.check(MANAGE_WEBHOOKS, "agency1", by=key).allowed  # not narrowed
    app.members.remove_user("sam", by=SYSTEM)
    assert app.policy.authenticate_api_key(secret, by=SYSTEM) == key
    assert app.policy.check(MANAGE_WEBHOOKS, "agency1", by=key).allowed
    assert app.accounts.get("agency1", by=key).id == "agency1"
    assert _events(app.store, "api_key_revoked") == []
    (made,) = _events(app.store, "api_key_created")[-1:]
    assert (made.kind, made.expires_at) == ("account", None)  # type: ignore[attr-defined]


def test_an_account_key_needs_the_right_to_manage_account_keys(app: Subacct) -> None:
    """A custom role holding ``api_keys.manage`` only makes personal keys; the account
    key's right is also the one that revokes and rotates it."""
    app.policy.define_role(
        Role("key_clerk", "Key clerk", [Grant(SEND_MESSAGES), Grant(MANAGE_API_KEYS)]), by=SYSTEM
    )
    app.members.create_user("kc@example.test", "KC", user_id="kc", by=SYSTEM)
    app.members.add("kc", "agency1", "key_clerk", by=SYSTEM)
    personal, _ = app.policy.create_api_key("agency1", "mine", [Grant(SEND_MESSAGES)], by="kc")
    err = refused(
        app.store,
        ActionDenied,
        lambda: app.policy.create_api_key(
            "agency1", "ours", [Grant(SEND_MESSAGES)], by="kc", kind="account"
        ),
    )
    assert (err.details["reason"], err.details["action"]) == (
        "role_lacks_action",
        "api_keys.manage_account",
    )
    ours, _ = app.policy.create_api_key(
        "agency1", "ours", [Grant(SEND_MESSAGES)], by="sam", kind="account"
    )
    for call in (
        lambda: app.policy.revoke_api_key(ours.id, by="kc"),
        lambda: app.policy.rotate_api_key(ours.id, by="kc"),
        lambda: app.policy.api_key_last_used(ours.id, by="kc"),
    ):
        assert refused(app.store, ActionDenied, call).details["action"] == "api_keys.manage_account"
    assert {k.id for k in app.policy.api_keys("agency1", by="kc")} == {personal.id, ours.id}
    # made within the creator's rights, like a personal key; users below admin make none
    err = refused(
        app.store,
        EscalationRefused,
        lambda: app.policy.create_api_key(
            "agency1", "wide", [Grant("billing.view")], by="sam", kind=ApiKeyKind.ACCOUNT
        ),
    )
    assert err.details["excess"] == ["billing.view"]
    err = refused(
        app.store,
        ActionDenied,
        lambda: app.policy.create_api_key(
            "agency1", "bob's", [Grant(SEND_MESSAGES)], by="bob", kind=ApiKeyKind.ACCOUNT
        ),
    )
    assert err.details["reason"] == "role_lacks_action"


# -- expiry ----------------------------------------------------------------------------


def test_an_expired_key_is_refused_with_its_own_code(app: Subacct, clock: FixedClock) -> None:
    ends = T0 + timedelta(days=30)
    key, secret = app.policy.create_api_key(
        "agency1", "Trial", [Grant(SEND_MESSAGES)], by="sam", expires_at=ends
    )
    assert key.expires_at == ends
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert app.policy.require(SEND_MESSAGES, "agency1", by=key).allowed
    clock.advance(timedelta(seconds=1))
    assert app.policy.check(SEND_MESSAGES, "agency1", by=key).code == "api_key_expired"
    for call in (
        lambda: app.policy.require(SEND_MESSAGES, "agency1", by=key),
        lambda: app.accounts.get("agency1", by=key),
    ):
        err = refused(app.store, ApiKeyExpired, call)
        assert err.code == "api_key_expired"
    with pytest.raises(ApiKeyExpired):  # the system's sign-in step: no audit record
        app.policy.authenticate_api_key(secret, by=SYSTEM)
    denial = audit_log(app.store)[-1]
    assert (denial.action, denial.reason.value, denial.api_key_id) == (  # type: ignore[attr-defined]
        "api_keys.use",
        "api_key_expired",
        key.id,
    )
    refused(app.store, Conflict, lambda: app.policy.rotate_api_key(key.id, by="sam"))
    for when in (T0 - timedelta(days=1), clock.now()):
        refused(
            app.store,
            InvalidInput,
            lambda when=when: app.policy.create_api_key(
                "agency1", "Past", [Grant(SEND_MESSAGES)], by="sam", expires_at=when
            ),
        )


# -- rotation --------------------------------------------------------------------------


def test_rotation_keeps_the_old_secret_until_the_cutoff_then_only_the_new_one(
    app: Subacct, clock: FixedClock
) -> None:
    key, old = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam")
    cutoff = T0 + timedelta(hours=2)
    rotated, new = app.policy.rotate_api_key(key.id, by="sam", old_secret_valid_until=cutoff)
    assert rotated == key
    assert new != old
    (told,) = _events(app.store, "api_key_rotated")
    assert (told.api_key_id, told.old_secret_valid_until) == (key.id, cutoff)  # type: ignore[attr-defined]
    assert secret_hash(new) not in json.dumps([str(e) for e in event_log(app.store)])
    clock.advance(timedelta(hours=2) - timedelta(microseconds=1))
    assert app.policy.authenticate_api_key(old, by=SYSTEM) == key
    assert app.policy.authenticate_api_key(new, by=SYSTEM) == key
    clock.advance(timedelta(microseconds=1))
    err = refused(
        app.store, ApiKeySecretRotated, lambda: app.policy.authenticate_api_key(old, by=SYSTEM)
    )
    assert err.code == "api_key_secret_rotated"
    assert old not in str(err.to_dict())
    assert app.policy.authenticate_api_key(new, by=SYSTEM) == key
    # a rotation without an overlap stops the older secrets at once
    _, newest = app.policy.rotate_api_key(key.id, by="sam")
    with pytest.raises(ApiKeySecretRotated):
        app.policy.authenticate_api_key(new, by=SYSTEM)
    assert app.policy.authenticate_api_key(newest, by=SYSTEM) == key


def test_rotation_is_refused_to_keys_revoked_keys_and_a_cutoff_in_the_past(app: Subacct) -> None:
    key, _ = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam")
    err = refused(app.store, ActionDenied, lambda: app.policy.rotate_api_key(key.id, by=key))
    assert err.details["reason"] == "principal_cannot_grant"
    refused(
        app.store,
        InvalidInput,
        lambda: app.policy.rotate_api_key(
            key.id, by="sam", old_secret_valid_until=T0 - timedelta(seconds=1)
        ),
    )
    refused(app.store, ActionDenied, lambda: app.policy.rotate_api_key(key.id, by="bob"))
    app.policy.revoke_api_key(key.id, by="sam")
    refused(app.store, Conflict, lambda: app.policy.rotate_api_key(key.id, by="sam"))


def test_rotation_hands_no_one_more_than_they_hold(app: Subacct) -> None:
    """Whoever rotates a key holds its new secret: a personal key only by its creator
    (it acts with the creator's rights), an account key only by someone whose own rights
    there cover its grants, as making it would need."""
    personal, _ = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam")
    err = refused(
        app.store, ActionDenied, lambda: app.policy.rotate_api_key(personal.id, by="owner")
    )
    assert err.details["reason"] == "not_record_owner"
    wide, _ = app.policy.create_api_key(
        "agency1", "billing", [Grant("billing.view")], by="owner", kind=ApiKeyKind.ACCOUNT
    )
    err = refused(
        app.store, EscalationRefused, lambda: app.policy.rotate_api_key(wide.id, by="sam")
    )
    assert err.details["reason"] == "grant_exceeds_own_rights"
    assert app.policy.rotate_api_key(wide.id, by="owner")[0] == wide


# -- last use --------------------------------------------------------------------------


def test_a_last_use_storage_cannot_write_neither_fails_nor_repeats_the_call(
    clock: FixedClock,
) -> None:
    """The last use is written after the call's own unit committed, best effort: storage
    losing its connection then (which would re-run a unit) costs the record, not a
    second sub-account, and the call still answers."""
    from subacct import MemoryStore
    from subacct.errors import StorageUnavailable

    class LosesTheUseOnce(MemoryStore):
        armed = False

        def unit_of_work(self, *, read_only: bool = False):  # type: ignore[no-untyped-def]
            uow = super().unit_of_work(read_only=read_only)
            real, store = uow.records, self

            def records(coll):  # type: ignore[no-untyped-def]
                if coll is API_KEY_USES and store.armed:
                    store.armed = False
                    raise StorageUnavailable(
                        "lost", reason="connection_lost", outcome="not_committed"
                    )
                return real(coll)

            uow.records = records  # type: ignore[method-assign]
            return uow

    store = LosesTheUseOnce()
    app = seed_agency(make_app(store, clock=clock, api_key_use_interval=timedelta(0)))
    key, _ = app.policy.create_api_key(
        "agencydemo", "ops", [Grant("sub_accounts.create")], by="owner"
    )
    store.armed = True
    app.accounts.create_sub("agencydemo", "Shop", account_id="shop", by=key)
    assert not store.armed  # the use was tried, and dropped
    subs = [a.id for a in app.accounts.tree(by=SYSTEM) if a.parent_id == "agencydemo"]
    assert subs.count("shop") == 1
    assert len(subs) == 3  # agency1, agency2 and the one new sub
    assert app.policy.api_key_last_used(key.id, by="owner") is None


def _version(store: Store) -> int | None:
    with store.unit_of_work(read_only=True) as uow:
        return uow.policy_version()


def test_last_use_is_recorded_at_most_once_per_interval_and_leaves_the_policy_version(
    app: Subacct, clock: FixedClock
) -> None:
    key, secret = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam")
    assert app.policy.api_key_last_used(key.id, by="sam") is None
    version = _version(app.store)
    app.policy.check(SEND_MESSAGES, "agency1", by=key)
    assert app.policy.api_key_last_used(key.id, by="sam") == T0
    assert _version(app.store) == version  # a use is not policy data
    clock.advance(timedelta(minutes=4))
    app.policy.require(SEND_MESSAGES, "agency1", by=key)
    assert app.policy.api_key_last_used(key.id, by="sam") == T0  # within 5 minutes: not written
    clock.advance(timedelta(minutes=1))
    app.policy.authenticate_api_key(secret, by=SYSTEM)
    assert app.policy.api_key_last_used(key.id, by="sam") == T0 + timedelta(minutes=5)
    assert _version(app.store) == version
    with app.store.unit_of_work() as uow:
        assert len(uow.records(API_KEY_USES).all()) == 1
        audits = len(uow.records(AUDIT_RECORDS).all())
    refused(app.store, ActionDenied, lambda: app.policy.require(VIEW_INBOX, "agency2", by=key))
    with app.store.unit_of_work() as uow:  # a refused call is no use, and writes one audit
        assert len(uow.records(AUDIT_RECORDS).all()) == audits + 1


def test_a_zero_interval_records_every_use(store: Store) -> None:
    clock = FixedClock(T0)
    app = seed_agency(make_app(store, clock=clock, api_key_use_interval=timedelta(0)))
    key, _ = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam")
    for step in range(3):
        clock.advance(timedelta(seconds=1))
        app.policy.check(SEND_MESSAGES, "agency1", by=key)
        assert app.policy.api_key_last_used(key.id, by="sam") == T0 + timedelta(seconds=step + 1)


# -- a revoked key: ApiKeyRevoked everywhere -------------------------------------------


def test_a_revoked_key_is_refused_as_revoked_whatever_the_call(app: Subacct) -> None:
    """Before, a path that refused on something else first (a platform operation, a key
    making keys, an impersonation) raised a plain ``ActionDenied`` or ``InvalidInput``."""
    key, _ = app.policy.create_api_key("agency1", "CRM", [Grant(SEND_MESSAGES)], by="sam")
    app.policy.revoke_api_key(key.id, by="sam")
    calls = [
        lambda: app.accounts.create_master("Mine", by=key),
        lambda: app.members.create_user("k@example.test", "K", by=key),
        lambda: app.policy.create_api_key("agency1", "more", [Grant(SEND_MESSAGES)], by=key),
        lambda: app.policy.start_impersonation("agency1", reason="support", by=key),
        lambda: app.policy.actions_in("agency1", by=key),
        lambda: app.policy.accounts_with(SEND_MESSAGES, by=key),
        lambda: app.policy.require(SEND_MESSAGES, "agency1", by=key),
        lambda: app.audit.records("agency1", by=key),
    ]
    for call in calls:
        err = refused(app.store, ApiKeyRevoked, call)
        assert (err.code, err.details["reason"], err.details["principal_id"]) == (
            "api_key_revoked",
            "api_key_revoked",
            key.id,
        )
        assert (err.details["action"], err.details["account_id"]) == ("api_keys.use", "agency1")
    assert app.policy.check(SEND_MESSAGES, "agency1", by=key).code == "api_key_revoked"


# -- stored data from before kinds --------------------------------------------------------


OLD_KEY = {
    "schema": 1,
    "id": "k_old",
    "account_id": "agency1",
    "name": "Legacy",
    "created_by": "sam",
    "grants": [{"schema": 1, "action": "messages.send", "scope": "all"}],
    "created_at": "2025-06-01T00:00:00+00:00",
    "revoked_at": None,
}


def test_an_api_key_stored_before_kinds_loads_as_a_personal_key() -> None:
    key = structure(OLD_KEY, ApiKey)
    assert (key.kind, key.expires_at, key.is_active) == (ApiKeyKind.PERSONAL, None, True)
    assert converter.unstructure(key) == {**OLD_KEY, "kind": "personal", "expires_at": None}
    old_credential = {"schema": 1, "secret_hash": "a" * 64, "key_id": "k_old"}
    assert structure(old_credential, ApiKeyCredential).valid_until is None


def test_an_old_sqlite_key_record_loads_and_follows_its_creator(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "old.db")
    app = seed_agency(make_app(store))
    with store.unit_of_work() as uow:  # the rows subacct 0.x wrote: no kind, no expiry
        uow.execute(
            "INSERT INTO rec_api_keys (k, body, i_account_id, i_created_by) VALUES (?, ?, ?, ?)",
            ("k_old", json.dumps(OLD_KEY), "agency1", "sam"),
        )
        uow.execute(
            "INSERT INTO rec_api_key_credentials (k, body, i_key_id) VALUES (?, ?, ?)",
            (
                secret_hash("sk_legacy"),
                json.dumps(
                    {"schema": 1, "secret_hash": secret_hash("sk_legacy"), "key_id": "k_old"}
                ),
                "k_old",
            ),
        )
        uow.commit()
    key = app.policy.authenticate_api_key("sk_legacy", by=SYSTEM)
    assert key.kind is ApiKeyKind.PERSONAL
    assert app.policy.check(SEND_MESSAGES, "agency1", by=key).allowed
    app.members.remove("sam", "agency1", by="owner")
    with pytest.raises(ApiKeyRevoked):
        app.policy.authenticate_api_key("sk_legacy", by=SYSTEM)
    store.close()
