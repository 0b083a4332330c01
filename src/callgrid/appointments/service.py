"""Appointments over the calls core: an appointment is a call of kind `appointment` with no
host (so it takes no part in the host double-booking check), its flags in `config`, and its
participants as the call's participants. The lifecycle rules of this API live here."""

from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from callgrid.appointments import render
from callgrid.appointments.schemas import (
    DEFAULT_CONFIG,
    AppointmentCreate,
    AppointmentUpdate,
    ParticipantIn,
)
from callgrid.calls import participants, repository, scheduling
from callgrid.calls.models import Call, CallKind, Participant
from callgrid.calls.participants import ParticipantError, Problem
from callgrid.calls.status import CallStatus
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.kit.ids import not_found as _not_found
from callgrid.kit.ids import optional_id
from callgrid.rooms import service as rooms
from callgrid.rooms.service import CallLinks
from callgrid.scheduling import Interval, Schedule
from callgrid.webhooks.events import EventType, emit

# An appointment holds at most this many participants (a detail lists them all).
MAX_PARTICIPANTS = 1000
UTC_ZONE = ZoneInfo("UTC")


def not_found(appointment_id: object) -> NotFound:
    return _not_found("appointment", appointment_id, "id")


def parse_id(value: str, not_found_error: NotFound) -> UUID:
    """A path id: one that is not a UUID names nothing, like one that does not exist."""
    found = optional_id(value)
    if found is None:
        raise not_found_error
    return found


async def get(
    session: AsyncSession, organization_id: UUID, appointment_id: str, *, host_id: UUID | None = None, for_update: bool = False
) -> Call:
    """The organization's appointment; another organization's reads exactly as a missing one, and
    so does, with `host_id` (a host key), one another host created."""
    call_id = parse_id(appointment_id, not_found(appointment_id))
    if for_update:
        call = await repository.get_call_for_update(session, organization_id, call_id, CallKind.APPOINTMENT)
    else:
        call = await repository.get_call(session, organization_id, call_id, CallKind.APPOINTMENT)
    if call is None or (host_id is not None and call.created_by_host_id != host_id):
        raise not_found(appointment_id)
    return call


async def get_participant(session: AsyncSession, call: Call, participant_id: str) -> Participant:
    missing = NotFound(f"no participant with id {participant_id} in this appointment", field="participant_id")
    found = await participants.get_participant(
        session, call.organization_id, call.id, parse_id(participant_id, missing)
    )
    if found is None:
        raise missing
    return found


def ensure_scheduled(call: Call, now: datetime) -> None:
    """Active, completed and cancelled appointments cannot be changed."""
    current = render.status(call, now)
    if current is not CallStatus.SCHEDULED:
        raise Conflict(f"the appointment is {current.value} and can no longer be changed", field="status")


def ensure_participants_editable(call: Call, now: datetime) -> None:
    """Participants can be renamed or have their role changed until the appointment ends."""
    current = render.status(call, now)
    if current not in (CallStatus.SCHEDULED, CallStatus.ACTIVE):
        raise Conflict(f"the appointment is {current.value}; its participants can no longer be changed", field="status")


def _future(start: datetime, now: datetime) -> None:
    if start <= now:
        raise BadRequest("must be in the future", field="start_date_time")


def _new(items: list[ParticipantIn]) -> list[participants.NewParticipant]:
    return [participants.NewParticipant(unique_id=p.unique_id, role=p.role, display_name=p.display_name) for p in items]


def _worded(exc: ParticipantError, prefix: str = "") -> BadRequest:
    """The core's refusal in this API's words; `prefix` places a list item in the body."""
    field = f"{prefix}{exc.field}" if exc.index is not None else exc.field
    match exc.problem:
        case Problem.REPEATED:
            message = f"{exc.value!r} appears more than once in the list (also at [{exc.first}])"
            if exc.attribute == "id":
                message = f"{exc.value} appears more than once in the list (also at [{exc.first}])"
        case Problem.ALREADY_PRESENT:
            message = f"{exc.value!r} is already a participant of this appointment"
        case Problem.NOT_PRESENT:
            message = f"{exc.value} is not a participant of this appointment"
        case Problem.TOO_MANY:
            current, asked = exc.counts
            message = f"an appointment has at most {exc.limit} participants; it has {current} and {asked} would be added"
        case Problem.TOO_FEW:
            current, asked = exc.counts
            message = f"an appointment keeps at least {exc.limit} participant(s); this would leave {current - asked}"
        case _:
            if exc.attribute == "unique_id":
                message = "one of these unique_ids was added to the appointment at the same moment by another request; nothing was added"
            else:
                message = "some of these participants were removed from the appointment at the same moment; nothing was removed"
    return BadRequest(message, field=field)


async def detail(session: AsyncSession, call: Call, now: datetime, links: CallLinks | None = None) -> dict:
    listed = await participants.list_participants(session, call.organization_id, call.id)
    return render.appointment(call, listed, now, links)


async def _changed(
    session: AsyncSession, call: Call, now: datetime, event_type: EventType, links: CallLinks | None, *, sync_room: bool = False
) -> dict:
    """The appointment's detail, also put in the outbox as `event_type`'s data. `sync_room`:
    its participants changed, so its room's members follow."""
    listed = await participants.list_participants(session, call.organization_id, call.id)
    if sync_room:
        await rooms.sync_appointment_members(session, call.id, listed, now)
    data = render.appointment(call, listed, now, links)
    await emit(session, call.organization_id, event_type, data)
    return data


async def create(
    session: AsyncSession, organization_id: UUID, body: AppointmentCreate, now: datetime, links: CallLinks | None = None,
    *, created_by_host_id: UUID | None = None,
) -> dict:
    """`created_by_host_id`: the host of the key creating it, who sees it (with the admin keys)."""
    _future(body.start_date_time, now)
    start = body.start_date_time
    plan = scheduling.plan_calls(
        organization_id=organization_id,
        host_id=None,  # no host: appointments are not part of the double-booking check
        kind=CallKind.APPOINTMENT,
        title=body.title,
        schedule=Schedule(
            start_date=start.date(),
            local_start=start.time(),
            duration=timedelta(minutes=body.duration_minutes),
            timezone=UTC_ZONE,
        ),
        now=now,
        config=body.config.model_dump() if body.config is not None else dict(DEFAULT_CONFIG),
        created_by_host_id=created_by_host_id,
    )
    new = _new(body.participants)
    await session.connection()  # one transaction for the call and its participants
    scheduled = await scheduling.schedule_calls(session, plan, now=now)
    call = Call(**scheduled.call_rows[0])
    make_transient_to_detached(call)  # it is in the database: attach it as it is, no read back
    session.add(call)
    try:
        await participants.add(session, call, new, now=now)
    except ParticipantError as exc:
        raise _worded(exc, "participants") from None
    # Its private room, the participants its members (moderators as hosts), in the same transaction.
    await rooms.create_appointment_room(session, call, new, now)
    return await _changed(session, call, now, EventType.APPOINTMENT_CREATED, links)


async def update(
    session: AsyncSession, call: Call, body: AppointmentUpdate, now: datetime, links: CallLinks | None = None
) -> dict:
    """Apply the fields given (an `appointment.updated` event when any was)."""
    ensure_scheduled(call, now)
    given = body.model_fields_set
    if not given:
        return await detail(session, call, now, links)
    interval = None
    if given & {"start_date_time", "duration_minutes"}:
        start = body.start_date_time if "start_date_time" in given else call.starts_at
        if "start_date_time" in given:
            _future(start, now)
        minutes = body.duration_minutes if "duration_minutes" in given else render.duration_minutes(call)
        interval = Interval(start, start + timedelta(minutes=minutes))
    config = None
    if "config" in given:
        if body.config is None:
            config = dict(DEFAULT_CONFIG)
        else:
            config = {**render.config(call.config), **body.config.model_dump(include=body.config.model_fields_set)}
    await scheduling.update_call(session, call, now=now, title=body.title, interval=interval, config=config)
    return await _changed(session, call, now, EventType.APPOINTMENT_UPDATED, links)


async def cancel(session: AsyncSession, call: Call, now: datetime, links: CallLinks | None = None, public_url: str = "") -> None:
    """Cancel the appointment (cancelling twice is not an error, and sends nothing)."""
    if render.status(call, now) is CallStatus.CANCELLED:
        return
    ensure_scheduled(call, now)
    if await scheduling.cancel_call(session, call, now=now):
        await _changed(session, call, now, EventType.APPOINTMENT_CANCELLED, links)
        await rooms.terminate_call_room(session, call.id, now=now, public_url=public_url or (links.base_url if links else ""))


async def end(
    session: AsyncSession, call: Call, now: datetime, links: CallLinks | None = None, *, meeting_ms: int = 0, public_url: str = ""
) -> dict:
    """End an active appointment early: `completed` from now on, its room terminated (everyone
    in it disconnected), an `appointment.ended` event. Scheduled, completed and cancelled ones
    answer 409."""
    current = render.status(call, now)
    if current is not CallStatus.ACTIVE:
        raise Conflict(f"the appointment is {current.value}; only an active appointment can be ended", field="status")
    await scheduling.end_call(session, call, now=now)
    data = await _changed(session, call, now, EventType.APPOINTMENT_ENDED, links)
    await rooms.terminate_call_room(
        session, call.id, now=now, public_url=public_url or (links.base_url if links else ""), meeting_ms=meeting_ms,
        reason="terminated",
    )
    return data


async def add_participants(
    session: AsyncSession, call: Call, items: list[ParticipantIn], now: datetime, links: CallLinks | None = None
) -> dict:
    ensure_scheduled(call, now)
    try:
        await participants.add(session, call, _new(items), now=now, max_total=MAX_PARTICIPANTS)
    except ParticipantError as exc:
        raise _worded(exc) from None
    return await _changed(session, call, now, EventType.APPOINTMENT_PARTICIPANTS_ADDED, links, sync_room=True)


async def remove_participants(
    session: AsyncSession, call: Call, participant_ids: list[UUID], now: datetime, links: CallLinks | None = None
) -> dict:
    ensure_scheduled(call, now)
    try:
        await participants.remove(session, call, participant_ids, now=now, keep_at_least=1)
    except ParticipantError as exc:
        raise _worded(exc) from None
    return await _changed(session, call, now, EventType.APPOINTMENT_PARTICIPANTS_REMOVED, links, sync_room=True)


async def update_participant(
    session: AsyncSession, call: Call, participant: Participant, fields: dict, now: datetime, links: CallLinks | None = None
) -> None:
    ensure_participants_editable(call, now)
    if await participants.update(session, call, participant, now=now, **fields):
        await _changed(session, call, now, EventType.APPOINTMENT_UPDATED, links, sync_room=True)
