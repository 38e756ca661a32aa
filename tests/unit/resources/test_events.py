import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subacct.domain import AccountKind, AccountStatus
from subacct.domain.events import (
    EVENT_TYPES,
    AccountClosed,
    AccountCreated,
    AccountMoved,
    AccountRenamed,
    AccountStatusChanged,
    AdjustmentBilled,
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeyRotated,
    BaseEvent,
    BillingProfileRemoved,
    BillingProfileSet,
    CeilingRemoved,
    CeilingSet,
    ClientLinkDeclined,
    ClientLinked,
    ClientLinkRequested,
    ClientUnlinked,
    CreditAllocationSet,
    CreditGrantCreated,
    CreditGrantExpired,
    CreditLow,
    CreditNoteIssued,
    CreditOperationRecorded,
    CreditReservationEnded,
    CreditsMoved,
    CreditsReserved,
    EventMeta,
    ImpersonationEnded,
    ImpersonationSettingChanged,
    ImpersonationStarted,
    InvitationAccepted,
    InvitationResent,
    InvitationRevoked,
    InvitationSent,
    InvoiceDrafted,
    InvoiceFinalized,
    InvoicePaid,
    InvoiceVoided,
    OwnershipTransferred,
    PaymentRecorded,
    PlanChangeApproved,
    PlanChangeCancelled,
    PlanChangeRejected,
    PlanChangeRequested,
    PrerequisiteRecorded,
    QuotaReleased,
    QuotaReserved,
    QuotaSet,
    QuotaThresholdReached,
    QuotaThresholdsSet,
    ResourceCopied,
    ResourceCreated,
    ResourceDeleted,
    ResourceShared,
    ResourceUpdated,
    RoleChanged,
    RoleDefined,
    SeatLimitSet,
    SendAuthorized,
    SendCaptured,
    SendReleased,
    ShareRevoked,
    SubscriptionStarted,
    TopUpRequested,
    UsageRecorded,
    UserCreated,
    UserDeleted,
    UserInvited,
    UserRemoved,
    UserRenamed,
    WalletAlertsSet,
    WalletConfigured,
    event_from_dict,
    event_to_dict,
)
from subacct.domain.resources import ResourceKind, ShareMode, SharePermission
from subacct.errors import InvalidInput, SchemaError
from subacct.money import Money
from subacct.testing.strategies import timestamps

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def base(**extra: Any) -> dict[str, Any]:
    return {"event_id": "ev1", "occurred_at": T0, "actor": "ann", "account_id": "agency1", **extra}


def system(**extra: Any) -> dict[str, Any]:
    return {**base(**extra), "account_id": None, "actor": None}


SAMPLES: list[BaseEvent] = [
    AccountCreated(**base(name="Agency 1", kind=AccountKind.SUB, parent_id="agencydemo")),
    AccountRenamed(**base(old_name="Agency 1", new_name="Agency One")),
    AccountMoved(**base(from_parent_id="agencydemo", to_parent_id=None)),
    AccountStatusChanged(**base(from_status=AccountStatus.ACTIVE, to_status=AccountStatus.PAUSED)),
    AccountClosed(**base(from_status=AccountStatus.PAUSED)),
    ClientLinkRequested(
        **base(
            client_id="client",
            request_id="lr1",
            alias="Client Co",
            access_role="agency_manager",
            expires_at=T0,
        )
    ),
    ClientLinkDeclined(**base(client_id="client", request_id="lr1")),
    ClientLinked(**base(client_id="client", alias="Client Co")),
    ClientUnlinked(**base(client_id="client")),
    UserCreated(**system(user_id="bob", login="bob@example.com")),
    UserRenamed(**system(user_id="bob", display_name="Bob")),
    UserDeleted(**system(user_id="bob", removed_from=["agency2", "agency1"])),
    UserInvited(**base(user_id="bob", role="basic_user")),
    InvitationSent(
        **base(invitation_id="inv1", email="ann@example.com", role="basic_user", expires_at=T0)
    ),
    InvitationResent(**base(invitation_id="inv1", email="ann@example.com", expires_at=T0, sends=2)),
    InvitationRevoked(**base(invitation_id="inv1")),
    InvitationAccepted(
        **base(invitation_id="inv1", user_id="ann", role="basic_user", new_user=True)
    ),
    SeatLimitSet(**base(limit=None)),
    OwnershipTransferred(
        **base(to_user_id="ann", from_user_id="owner", role="parent_admin", then_role=None)
    ),
    RoleChanged(**base(user_id="bob", from_role="basic_user", to_role="advanced_user")),
    UserRemoved(**base(user_id="bob", role="advanced_user")),
    ImpersonationStarted(**base(session_id="imp1", as_role="sub_admin")),
    ImpersonationEnded(**base(session_id="imp1", real_user_id="ann")),
    RoleDefined(
        **system(
            role_id="clerk", name="Clerk", actions=["billing.view"], inherits=False, replaced=False
        )
    ),
    CeilingSet(**base(set_by="agencydemo", actions=["messages.send", "inbox.view"])),
    CeilingRemoved(**base(set_by=None)),
    ApiKeyCreated(
        **base(api_key_id="k1", name="CRM sync", created_by="ann", actions=["messages.send"])
    ),
    ApiKeyRevoked(**base(api_key_id="k1")),
    ApiKeyRotated(**base(api_key_id="k1", old_secret_valid_until=T0 + timedelta(days=1))),
    ImpersonationSettingChanged(**base(allowed=False)),
    BillingProfileSet(**base(model="ladder", currency="USD", version=2)),
    BillingProfileRemoved(**base()),
    UsageRecorded(**base(period="2026-01", quantity=5300, records=2)),
    QuotaSet(**base(limit=6000, allow_overage=True)),
    QuotaReserved(**base(period="2026-01", key="send-1", quantity=100, overage=0)),
    QuotaReleased(**base(period="2026-01", key="send-1", quantity=100, settled=True)),
    SubscriptionStarted(**base(plan="12,000")),
    PrerequisiteRecorded(**base(name="spf_verified")),
    PlanChangeRequested(
        **base(
            request_id="up-1",
            kind="upgrade",
            from_plan="12,000",
            to_plan="30,000",
            status="pending",
            effective_from=None,
        )
    ),
    PlanChangeApproved(
        **base(request_id="up-1", to_plan="30,000", effective_from="2026-01", reviewed_by="system")
    ),
    PlanChangeRejected(**base(request_id="up-2", reason="too soon", reviewed_by="system:jane")),
    PlanChangeCancelled(**base(request_id="down-1", reason="the account was closed")),
    CreditsReserved(
        **base(reservation_id="r1", idempotency_key="hold-1", amount=Money("3", "EUR"))
    ),
    CreditReservationEnded(
        **base(
            reservation_id="r1",
            idempotency_key="commit-1",
            status="committed",
            committed=Money("2", "EUR"),
        )
    ),
    CreditAllocationSet(
        **base(idempotency_key="alloc-1", allocation="recurring", amount=Money("50", "EUR"))
    ),
    SendAuthorized(
        **base(
            hold_id="hold1",
            key="send-1",
            period="2026-01",
            channel="sms",
            quantity=12,
            payer_id="agencydemo",
            amount=Money("0.96", "EUR"),
        )
    ),
    SendCaptured(**base(hold_id="hold1", key="send-1", delivered=11, charged=Money("0.88", "EUR"))),
    SendReleased(**base(hold_id="hold1", key="send-1", expired=True)),
    CreditOperationRecorded(**system(operation="expire", idempotency_key="sweep-1")),
    WalletConfigured(**base(currency="EUR", master_id="agencydemo", opened=True)),
    CreditGrantCreated(
        **base(
            grant_id="promo",
            kind="promotional",
            priority=1,
            amount=Money(10, "EUR"),
            expires_at=datetime(2026, 1, 31, tzinfo=UTC),
        ),
    ),
    CreditGrantExpired(**base(grant_id="promo", origin_id="agencydemo", amount=Money(4, "EUR"))),
    ResourceCreated(**base(resource_id="tpl", kind=ResourceKind.TEMPLATE, name="Brand")),
    ResourceUpdated(**base(resource_id="tpl", owner_id="agencydemo", version=2)),
    ResourceCopied(
        **base(
            resource_id="mine",
            kind=ResourceKind.IMAGE,
            source_resource_id="logo",
            source_owner_id="agencydemo",
            source_version=3,
        )
    ),
    ResourceDeleted(**base(resource_id="tpl", owner_id="agency1", revoked_share_ids=["s2", "s1"])),
    ResourceShared(
        **base(
            share_id="sh1",
            resource_id="tpl",
            kind=ResourceKind.CONTACT_GROUP,
            mode=ShareMode.CHOSEN,
            targets=["agency2"],
            permission=SharePermission.EDIT,
        )
    ),
    ShareRevoked(**base(share_id="sh1", resource_id="tpl")),
    CreditsMoved(
        **base(
            operation="distribute",
            idempotency_key="dist-1",
            from_account_id="agencydemo",
            to_account_id="agency1",
            amount=Money("25.50", "EUR"),
        )
    ),
    InvoiceDrafted(**base(period="2026-01", total=Money("90", "USD"))),
    InvoiceFinalized(
        **base(
            number="m-00001", period="2026-01", total=Money("90", "USD"), due_date=date(2026, 3, 3)
        )
    ),
    InvoicePaid(**base(number="m-00001", period="2026-01")),
    InvoiceVoided(**base(number="m-00001", period="2026-01", reason="billed in error")),
    CreditNoteIssued(
        **base(
            number="m-CN-00001",
            invoice_number="m-00001",
            amount=Money("10", "USD"),
            refund=Money("0", "USD"),
            lines=1,
            reason="outage",
        )
    ),
    PaymentRecorded(
        **base(
            invoice_number="m-00001",
            reference="ch_1",
            amount=Money("80", "USD"),
            balance=Money("0", "USD"),
        )
    ),
    AdjustmentBilled(
        **base(
            invoice_number="m-00002",
            period="2026-02",
            adjusted_period="2026-01",
            total=Money("15", "USD"),
        )
    ),
    QuotaThresholdsSet(**base(percents=[80, 100])),
    QuotaThresholdReached(**base(period="2026-01", percent=80, used=800, limit=1000)),
    WalletAlertsSet(
        **base(
            currency="EUR",
            low_credit=Money("10", "EUR"),
            top_up_below=Money("5", "EUR"),
            top_up_amount=Money("50", "EUR"),
        )
    ),
    CreditLow(**base(currency="EUR", balance=Money("9.5", "EUR"), threshold=Money(10, "EUR"))),
    TopUpRequested(
        **base(
            currency="EUR",
            amount=Money("50", "EUR"),
            balance=Money("4", "EUR"),
            below=Money("5", "EUR"),
        )
    ),
]


def test_every_event_type_has_a_sample() -> None:
    assert sorted(type(e).event_type for e in SAMPLES) == sorted(EVENT_TYPES)
    assert all(EVENT_TYPES[e.event_type] is type(e) for e in SAMPLES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_every_event_roundtrips_through_json(event: Any) -> None:
    data = event_to_dict(event)
    assert data["type"] == event.event_type
    assert data["schema"] == 1
    back = event_from_dict(json.loads(json.dumps(data)))
    assert back == event
    assert type(back) is type(event)


def test_a_mixed_list_reads_back_in_order() -> None:
    text = json.dumps([event_to_dict(e) for e in SAMPLES])  # type: ignore[arg-type]
    assert [event_from_dict(d) for d in json.loads(text)] == SAMPLES


@settings(max_examples=50)
@given(timestamps(), st.sampled_from(SAMPLES))
def test_times_are_kept_exactly_in_utc(at: datetime, sample: Any) -> None:
    local = at.astimezone(timezone(timedelta(hours=5, minutes=30)))
    event = type(sample)(**{**attrs.asdict(sample, recurse=False), "occurred_at": local})
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event


def test_wire_shape_is_stable() -> None:
    shared = next(e for e in SAMPLES if isinstance(e, ResourceShared))
    assert event_to_dict(shared) == {
        "type": "resource_shared",
        "schema": 1,
        "event_id": "ev1",
        "occurred_at": "2026-01-01T00:00:00+00:00",
        "actor": "ann",
        "account_id": "agency1",
        "share_id": "sh1",
        "resource_id": "tpl",
        "kind": "contact_group",
        "mode": "chosen",
        "targets": ["agency2"],
        "permission": "edit",
    }
    credits = next(e for e in SAMPLES if isinstance(e, CreditsMoved))
    assert event_to_dict(credits)["amount"] == {"amount": "25.50", "currency": "EUR"}


def test_events_stored_before_a_field_was_added_still_load() -> None:
    """``CeilingRemoved.reason`` came later: a stored event without it was a request."""
    dropped = CeilingRemoved(**base(set_by="agencydemo", reason="set_by_not_an_ancestor"))
    assert event_from_dict(event_to_dict(dropped)) == dropped
    data = event_to_dict(dropped)
    del data["reason"]
    assert event_from_dict(data).reason == "requested"  # type: ignore[union-attr]
    data["reason"] = "Not A Code"
    with pytest.raises(SchemaError):
        event_from_dict(data)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.pop("type"),
        lambda d: d.update(type="account_exploded"),
        lambda d: d.update(type=7),
        lambda d: d.pop("schema"),
        lambda d: d.update(schema=2),
        lambda d: d.update(extra=1),
        lambda d: d.pop("share_id"),
        lambda d: d.update(mode="everyone"),
        lambda d: d.update(occurred_at="yesterday"),
        lambda d: d.update(account_id=None),
    ],
)
def test_bad_data_is_a_schema_error(mutate: Any) -> None:
    data = event_to_dict(next(e for e in SAMPLES if isinstance(e, ResourceShared)))
    mutate(data)
    with pytest.raises(SchemaError):
        event_from_dict(data)
    with pytest.raises(SchemaError):
        event_from_dict([data])


def test_events_validate_at_construction() -> None:
    refused = [
        lambda: ShareRevoked(**base(share_id="s", resource_id="r", account_id=None)),
        lambda: UserCreated(**base(user_id="bob", login="bob@x.test")),  # not account scoped
        lambda: ImpersonationStarted(**base(session_id="imp", as_role="sub_admin", actor=None)),
        lambda: ImpersonationEnded(**base(session_id="imp", real_user_id="bad id")),
        lambda: AccountStatusChanged(
            **base(from_status=AccountStatus.ACTIVE, to_status=AccountStatus.CLOSED)
        ),
        lambda: AccountStatusChanged(
            **base(from_status=AccountStatus.ACTIVE, to_status=AccountStatus.ACTIVE)
        ),
        lambda: AccountClosed(**base(from_status=AccountStatus.CLOSED)),
        lambda: AccountMoved(**base(from_parent_id="a", to_parent_id="a")),
        lambda: AccountRenamed(**base(old_name=" padded", new_name="x")),
        lambda: ResourceUpdated(**base(resource_id="r", owner_id="o", version=0)),
        lambda: ResourceCreated(**base(resource_id="r", kind="template", name="x")),
        lambda: InvoiceDrafted(**base(period="2026-13", total=Money("1", "USD"))),
        lambda: CreditsMoved(
            **base(
                operation="top_up",
                idempotency_key="k",
                from_account_id=None,
                to_account_id="a",
                amount=Money("0", "USD"),
            )
        ),
        lambda: CreditsMoved(
            **base(
                operation="Top Up",
                idempotency_key="k",
                from_account_id=None,
                to_account_id="a",
                amount=Money("1", "USD"),
            )
        ),
        lambda: ResourceDeleted(**base(resource_id="r", owner_id="o", revoked_share_ids="s1")),
        lambda: ShareRevoked(**base(share_id="has space", resource_id="r")),
        lambda: ShareRevoked(
            **base(share_id="s", resource_id="r", occurred_at=datetime(2026, 1, 1))
        ),
        lambda: EventMeta("ev", datetime(2026, 1, 1)),  # type: ignore[arg-type]
    ]
    for make in refused:
        with pytest.raises(InvalidInput):
            make()


def test_event_to_dict_takes_domain_events_only() -> None:
    with pytest.raises(InvalidInput):
        event_to_dict(BaseEvent(**base()))  # type: ignore[arg-type]


def test_meta_normalizes_time_to_utc() -> None:
    at = datetime(2026, 1, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    meta = EventMeta("ev", at, "ann")  # type: ignore[arg-type]
    assert meta.occurred_at == T0
    assert meta.occurred_at.tzinfo is UTC


def test_every_event_type_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "events.md").read_text()
    missing = [name for name in EVENT_TYPES if f"`{name}`" not in text]
    assert not missing, f"event types missing from docs/events.md: {missing}"
