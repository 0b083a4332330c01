"""Appointments over the calls core: an appointment is a call of kind `appointment` with no
host (so it takes no part in the host double-booking check), its flags in `config`, and its
participants as the call's participants. The lifecycle rules of this API live here."""

from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.appointments import render
from callgrid.appointments.schemas import DEFAULT_CONFIG, AppointmentCreate, AppointmentUpdate, ParticipantIn
from callgrid.calls import repository
from callgrid.calls import service as calls
from callgrid.calls.models import Call, CallKind, Participant
from callgrid.calls.status import CallStatus
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.scheduling import Interval, Schedule

# An appointment holds at most this many participants (a detail lists them all).
MAX_PARTICIPANTS = 1000
UTC_ZONE = ZoneInfo("UTC")
NOUN = "appointment"


def not_found(appointment_id: object) -> NotFound:
    return NotFound(f"no appointment with id {appointment_id}", field="id")


def parse_id(value: str, not_found_error: NotFound) -> UUID:
    """A path id: one that is not a UUID names nothing, like one that does not exist."""
    try:
        return UUID(value)
    except ValueError:
        raise not_found_error from None


async def get(session: AsyncSession, organization_id: UUID, appointment_id: str, *, for_update: bool = False) -> Call:
    """The organization's appointment; another organization's reads exactly as a missing one."""
    call_id = parse_id(appointment_id, not_found(appointment_id))
    if for_update:
        call = await repository.get_call_for_update(session, organization_id, call_id, CallKind.APPOINTMENT)
    else:
        call = await repository.get_call(session, organization_id, call_id, CallKind.APPOINTMENT)
    if call is None:
        raise not_found(appointment_id)
    return call


async def get_participant(session: AsyncSession, call: Call, participant_id: str) -> Participant:
    missing = NotFound(f"no participant with id {participant_id} in this appointment", field="participant_id")
    found = await repository.get_participant(
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


def _new(items: list[ParticipantIn]) -> list[calls.NewParticipant]:
    return [calls.NewParticipant(unique_id=p.unique_id, role=p.role, display_name=p.display_name) for p in items]


async def create(session: AsyncSession, organization_id: UUID, body: AppointmentCreate, now: datetime) -> Call:
    _future(body.start_date_time, now)
    start = body.start_date_time
    scheduled = await calls.schedule_calls(
        session,
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
    )
    call = scheduled.calls[0]
    try:
        await calls.add_participants(session, call, _new(body.participants), now=now, noun=NOUN)
    except calls.ParticipantError as exc:
        raise BadRequest(exc.message, field=f"participants{exc.field}") from None
    return call


async def update(session: AsyncSession, call: Call, body: AppointmentUpdate, now: datetime) -> bool:
    """Apply the fields given; False when none was."""
    ensure_scheduled(call, now)
    given = body.model_fields_set
    if not given:
        return False
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
    await calls.update_call(session, call, now=now, title=body.title, interval=interval, config=config)
    return True


async def cancel(session: AsyncSession, call: Call, now: datetime) -> bool:
    """Cancel the appointment; False when it already was (cancelling twice is not an error)."""
    if render.status(call, now) is CallStatus.CANCELLED:
        return False
    ensure_scheduled(call, now)
    return await calls.cancel_call(session, call, now=now)


async def add_participants(session: AsyncSession, call: Call, items: list[ParticipantIn], now: datetime) -> None:
    ensure_scheduled(call, now)
    await calls.add_participants(session, call, _new(items), now=now, max_total=MAX_PARTICIPANTS, noun=NOUN)


async def remove_participants(session: AsyncSession, call: Call, participant_ids: list[UUID], now: datetime) -> None:
    ensure_scheduled(call, now)
    await calls.remove_participants(session, call, participant_ids, now=now, keep_at_least=1, noun=NOUN)


async def update_participant(
    session: AsyncSession, call: Call, participant: Participant, fields: dict, now: datetime
) -> bool:
    ensure_participants_editable(call, now)
    return await calls.update_participant(session, call, participant, now=now, **fields)
