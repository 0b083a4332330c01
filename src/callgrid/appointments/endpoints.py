"""The appointments API (`/api/v1/appointments/`): its contract in, the calls core out.

Every path answers with and without its trailing slash. Errors are RFC 9457 problem details.
Every successful change puts an `appointment.*` webhook event, whose `data` is the
appointment's detail, in the outbox in the same transaction.
"""

from typing import Annotated, Any

from fastapi import Body, Depends, Path, Query, Request, Response

from callgrid.appointments import render
from callgrid.appointments import service as appointments
from callgrid.appointments.routing import SlashOptionalRouter
from callgrid.appointments.schemas import (
    AppointmentCreate,
    AppointmentOut,
    AppointmentPage,
    AppointmentUpdate,
    ParticipantOut,
    ParticipantPage,
    ParticipantsToAdd,
    ParticipantsToRemove,
    ParticipantUpdate,
    Text,
    UTCDateTime,
)
from callgrid.calls import participants, repository
from callgrid.calls.models import CallKind
from callgrid.calls.repository import ParticipantCallFilter
from callgrid.db.session import ReadSession, WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.errors import BadRequest, NotFound
from callgrid.kit.clock import Now
from callgrid.kit.pagination import fetch_page, offset_of
from callgrid.rooms.service import CallLinks
from callgrid.tenancy.auth import CurrentPrincipal

PREFIX = "/api/v1/appointments"
router = SlashOptionalRouter(prefix=PREFIX, tags=["appointments"], route_class=IdempotentRoute)

AppointmentId = Annotated[str, Path(description="A UUID string identifying this appointment.")]


async def _links(request: Request) -> CallLinks:
    """Participants' personal links into the appointment's room (their `join_url`)."""
    return CallLinks(request.app.state.rooms.signer, request.app.state.settings.public_url)


Links = Annotated[CallLinks, Depends(_links)]
ParticipantId = Annotated[str, Path(description="A UUID string identifying a participant of this appointment.")]
Page = Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")]
PageSize = Annotated[int, Query(ge=1, le=100, description="items per page, 1..100")]


@router.get("/", response_model=AppointmentPage, summary="List appointments")
async def list_appointments(
    request: Request,
    principal: CurrentPrincipal,
    session: ReadSession,
    now: Now,
    page: Page = 1,
    page_size: PageSize = 20,
    participant_unique_id: Annotated[
        Text | None, Query(min_length=1, max_length=255, description="only appointments this participant takes part in")
    ] = None,
    start_date: Annotated[UTCDateTime | None, Query(description="only those starting at or after this (UTC)")] = None,
    end_date: Annotated[UTCDateTime | None, Query(description="only those starting before this (UTC)")] = None,
) -> dict[str, Any]:
    """The organization's appointments in `start_date_time` order (then id), cancelled ones
    included. Filters: `participant_unique_id` (exact), `start_date <= start_date_time < end_date`."""
    if start_date is not None and end_date is not None and end_date <= start_date:
        raise BadRequest("must be after start_date", field="end_date")
    rows, count = await repository.list_calls_with_participant_count(
        session,
        ParticipantCallFilter(
            organization_id=principal.organization_id,
            kind=CallKind.APPOINTMENT,
            participant_unique_id=participant_unique_id,
            created_by_host_id=principal.host_scope,
            starts_from=start_date,
            starts_before=end_date,
        ),
        offset=offset_of(page, page_size),
        limit=page_size,
    )
    if not rows and page > 1:
        raise NotFound(f"page {page} is past the last page", field="page")
    results = [render.list_item(call, n, principal.organization_name, now) for call, n in rows]
    return render.page(request.url, results, count, page, page_size)


@router.post("/", status_code=201, response_model=AppointmentOut, summary="Create an appointment", dependencies=[Idempotent])
async def create_appointment(
    body: AppointmentCreate,
    principal: CurrentPrincipal,
    session: WriteSession,
    now: Now,
    links: Links,
) -> dict[str, Any]:
    return await appointments.create(session, principal.organization_id, body, now, links, created_by_host_id=principal.host_id)


@router.get("/{id}/", response_model=AppointmentOut, summary="Retrieve an appointment with its participants")
async def get_appointment(
    id: AppointmentId, principal: CurrentPrincipal, session: ReadSession, now: Now, links: Links
) -> dict[str, Any]:
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope)
    return await appointments.detail(session, call, now, links)


@router.patch("/{id}/", response_model=AppointmentOut, summary="Partially update an appointment")
async def update_appointment(
    id: AppointmentId,
    body: AppointmentUpdate,
    principal: CurrentPrincipal,
    session: WriteSession,
    now: Now,
    links: Links,
) -> dict[str, Any]:
    """Only a `scheduled` appointment can be updated; active, completed and cancelled ones answer 409."""
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope, for_update=True)
    return await appointments.update(session, call, body, now, links)


@router.delete("/{id}/", status_code=204, response_class=Response, summary="Cancel an appointment")
async def cancel_appointment(
    id: AppointmentId, principal: CurrentPrincipal, session: WriteSession, now: Now, links: Links
) -> Response:
    """Afterwards it reads as `cancelled`. Cancelling a cancelled appointment again is a 204 too;
    an active or completed one answers 409."""
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope, for_update=True)
    await appointments.cancel(session, call, now, links)
    return Response(status_code=204)


@router.post(
    "/{id}/end/", response_model=AppointmentOut, summary="End an active appointment now",
    responses={409: {"description": "The appointment is not active (scheduled, completed or cancelled)"}},
)
async def end_appointment(
    id: AppointmentId, request: Request, principal: CurrentPrincipal, session: WriteSession, now: Now, links: Links
) -> dict[str, Any]:
    """Only an `active` appointment (between its start and its end) can be ended: its status
    becomes `completed`, its room is terminated (everyone in it is disconnected, `room.terminated`
    with reason `terminated`) and an `appointment.ended` event goes out. Others answer 409."""
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope, for_update=True)
    clock = (await request.app.state.rooms.clock_of([call.id])).get(call.id)
    return await appointments.end(session, call, now, links, meeting_ms=clock.meeting_ms() if clock else 0)


@router.get("/{id}/participants/", response_model=ParticipantPage, summary="List an appointment's participants")
async def list_participants(
    id: AppointmentId,
    request: Request,
    principal: CurrentPrincipal,
    session: ReadSession,
    links: Links,
    page: Page = 1,
    page_size: PageSize = 20,
) -> dict[str, Any]:
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope)
    rows, count = await fetch_page(
        session, participants.call_participants(call.organization_id, call.id), offset_of(page, page_size), page_size
    )
    if not rows and page > 1:
        raise NotFound(f"page {page} is past the last page", field="page")
    return render.page(request.url, [render.participant(p, call, links) for p in rows], count, page, page_size)


@router.get("/{id}/participants/{participant_id}/", response_model=ParticipantOut, summary="Retrieve a participant")
async def get_participant(
    id: AppointmentId, participant_id: ParticipantId, principal: CurrentPrincipal, session: ReadSession, links: Links
) -> dict[str, Any]:
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope)
    return render.participant(await appointments.get_participant(session, call, participant_id), call, links)


@router.patch("/{id}/participants/{participant_id}/", response_model=ParticipantOut, summary="Partially update a participant")
async def update_participant(
    id: AppointmentId,
    participant_id: ParticipantId,
    body: ParticipantUpdate,
    principal: CurrentPrincipal,
    session: WriteSession,
    now: Now,
    links: Links,
) -> dict[str, Any]:
    """Allowed while the appointment is scheduled or active; 409 once completed or cancelled.
    A change puts an `appointment.updated` event in the outbox."""
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope, for_update=True)
    participant = await appointments.get_participant(session, call, participant_id)
    await appointments.update_participant(session, call, participant, body.model_dump(exclude_unset=True), now, links)
    return render.participant(participant, call, links)


@router.post(
    "/{id}/add-participants/", response_model=AppointmentOut, summary="Add participants to an appointment",
    dependencies=[Idempotent],
)
async def add_participants(
    id: AppointmentId,
    body: Annotated[ParticipantsToAdd, Body()],
    principal: CurrentPrincipal,
    session: WriteSession,
    now: Now,
    links: Links,
) -> dict[str, Any]:
    """All or none: a `unique_id` repeated in the list or already on the appointment is a 400
    and nothing is added. Only while the appointment is scheduled (409 otherwise)."""
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope, for_update=True)
    return await appointments.add_participants(session, call, body, now, links)


@router.post(
    "/{id}/remove-participants/", response_model=AppointmentOut, summary="Remove participants from an appointment"
)
async def remove_participants(
    id: AppointmentId,
    body: Annotated[ParticipantsToRemove, Body()],
    principal: CurrentPrincipal,
    session: WriteSession,
    now: Now,
    links: Links,
) -> dict[str, Any]:
    """All or none: an id that is not a participant of this appointment (or is repeated) is a
    400 and nothing is removed; at least one participant stays. Only while scheduled (409 otherwise)."""
    call = await appointments.get(session, principal.organization_id, id, host_id=principal.host_scope, for_update=True)
    return await appointments.remove_participants(session, call, [ref.id for ref in body], now, links)
