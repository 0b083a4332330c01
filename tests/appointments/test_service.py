"""callgrid.appointments.service called directly, on a real migrated database (both backends), in
a transaction rolled back after each test: each change puts its event in the outbox in the same
transaction, and a refused one leaves neither rows nor events."""

import json
from datetime import timedelta
from uuid import UUID

import pytest
from sqlalchemy import func, select

from callgrid.appointments import service
from callgrid.appointments.schemas import AppointmentCreate, AppointmentUpdate, ParticipantIn
from callgrid.calls.models import Call, Participant
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.webhooks.events import dumps
from callgrid.webhooks.models import WebhookEvent
from tests.support.rows import add_organization
from tests.support.time import NOW

START = "2030-01-02T10:00:00Z"


def body(**fields) -> AppointmentCreate:
    return AppointmentCreate.model_validate({
        "title": "Consultation",
        "start_date_time": START,
        "duration_minutes": 60,
        "participants": [{"role": "moderator", "unique_id": "admin@example.com", "display_name": "Admin"}],
        **fields,
    })


@pytest.fixture
async def organization_id(service_session) -> UUID:
    organization, _host = await add_organization(service_session, "Clinic")
    return organization.id


async def events(session, organization_id: UUID) -> list[tuple[str, dict]]:
    """The organization's outbox as this transaction sees it, oldest first: (type, data)."""
    rows = (await session.execute(
        select(WebhookEvent.type, WebhookEvent.payload)
        .where(WebhookEvent.organization_id == organization_id)
        .order_by(WebhookEvent.created_at, WebhookEvent.id)
    )).all()
    return [(type_, json.loads(payload)) for type_, payload in rows]


async def counts(session) -> tuple[int, int, int]:
    """(calls, participants, webhook events) in the database."""
    return tuple([
        (await session.execute(select(func.count()).select_from(model))).scalar_one()
        for model in (Call, Participant, WebhookEvent)
    ])


async def test_create_writes_the_call_its_participants_and_appointment_created_together(service_session, organization_id):
    created = await service.create(service_session, organization_id, body(
        participants=[{"role": "moderator", "unique_id": "admin@example.com", "display_name": "Admin"},
                      {"role": "participant", "unique_id": "guest@example.com"}],
        config={"whiteboard_enabled": True},
    ), NOW)
    assert created["title"] == "Consultation" and created["status"] == "scheduled"
    assert created["duration_minutes"] == 60
    assert created["config"]["whiteboard_enabled"] is True and created["config"]["chat_enabled"] is True

    call = (await service_session.execute(select(Call))).scalar_one()
    assert str(call.id) == str(created["id"])
    assert (call.kind, call.host_id, call.organization_id, call.ends_at - call.starts_at) == (
        "appointment", None, organization_id, timedelta(hours=1))
    stored = (await service_session.execute(select(Participant.unique_id, Participant.role).order_by(Participant.created_at, Participant.id))).all()
    assert [tuple(p) for p in stored] == [("admin@example.com", "moderator"), ("guest@example.com", "participant")]

    # The event is in the outbox of this very transaction, carrying the detail as rendered.
    [(type_, data)] = await events(service_session, organization_id)
    assert type_ == "appointment.created"
    assert data == json.loads(dumps(created))
    assert [p["unique_id"] for p in data["participants"]] == ["admin@example.com", "guest@example.com"]


async def test_a_refused_create_leaves_no_call_no_participant_no_event(service_session, organization_id):
    before = await counts(service_session)
    repeated = body(participants=[{"role": "moderator", "unique_id": "a"}, {"role": "participant", "unique_id": "b"},
                                  {"role": "participant", "unique_id": "a"}])
    # As a request does: its transaction (here a savepoint of the test's) is rolled back on the error.
    with pytest.raises(BadRequest) as caught:
        async with service_session.begin_nested():
            await service.create(service_session, organization_id, repeated, NOW)
    assert caught.value.field == "participants[2].unique_id"
    assert "more than once" in caught.value.message
    assert await counts(service_session) == before == (0, 0, 0)

    with pytest.raises(BadRequest) as past:
        await service.create(service_session, organization_id, body(start_date_time="2029-12-31T10:00:00Z"), NOW)
    assert past.value.field == "start_date_time"
    assert await counts(service_session) == (0, 0, 0)


async def test_update_cancel_and_participants_each_emit_their_event(service_session, organization_id):
    created = await service.create(service_session, organization_id, body(), NOW)
    call = await service.get(service_session, organization_id, str(created["id"]), for_update=True)

    unchanged = await service.update(service_session, call, AppointmentUpdate(), NOW)
    assert unchanged["title"] == "Consultation"  # nothing given: nothing changes, no event
    updated = await service.update(service_session, call, AppointmentUpdate(title="Follow-up", duration_minutes=30), NOW)
    assert (updated["title"], updated["duration_minutes"]) == ("Follow-up", 30)

    added = await service.add_participants(service_session, call, [ParticipantIn(role="participant", unique_id="guest")], NOW)
    guest = next(p for p in added["participants"] if p["unique_id"] == "guest")
    await service.remove_participants(service_session, call, [UUID(str(guest["id"]))], NOW)
    await service.cancel(service_session, call, NOW)
    await service.cancel(service_session, call, NOW)  # twice: no error, no second event

    assert [t for t, _ in await events(service_session, organization_id)] == [
        "appointment.created", "appointment.updated", "appointment.participants_added",
        "appointment.participants_removed", "appointment.cancelled",
        "room.terminated",  # the appointment's room ends with it
    ]
    (_, last), (_, room) = (await events(service_session, organization_id))[-2:]
    assert (room["id"], room["is_terminated"]) == (str(call.id), True)
    assert last["status"] == "cancelled" and last["title"] == "Follow-up"
    with pytest.raises(Conflict) as caught:
        await service.update(service_session, call, AppointmentUpdate(title="again"), NOW)
    assert caught.value.field == "status" and "cancelled" in caught.value.message


async def test_removing_the_last_participant_is_refused_and_emits_nothing(service_session, organization_id):
    created = await service.create(service_session, organization_id, body(), NOW)
    call = await service.get(service_session, organization_id, str(created["id"]))
    (only,) = created["participants"]
    with pytest.raises(BadRequest) as caught:
        await service.remove_participants(service_session, call, [UUID(str(only["id"]))], NOW)
    assert caught.value.field == "body" and "at least 1" in caught.value.message
    assert [t for t, _ in await events(service_session, organization_id)] == ["appointment.created"]
    assert (await service_session.execute(select(func.count(Participant.id)))).scalar_one() == 1


async def test_another_organizations_appointment_reads_as_missing(service_session, organization_id):
    created = await service.create(service_session, organization_id, body(), NOW)
    other, _ = await add_organization(service_session, "Globex")
    with pytest.raises(NotFound) as caught:
        await service.get(service_session, other.id, str(created["id"]))
    assert caught.value.field == "id"
    with pytest.raises(NotFound):
        await service.get(service_session, organization_id, "not-a-uuid")
    assert (await service.get(service_session, organization_id, str(created["id"]))).title == "Consultation"
