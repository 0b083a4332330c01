"""`/v1/eventCalls`: the seed's contract in, the bookings service out. Translation only."""

from typing import Annotated

from fastapi import APIRouter, Path, Request

from callgrid.bookings import service
from callgrid.bookings.links import Links
from callgrid.bookings.render import event_call
from callgrid.db.session import ReadSession, WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.errors import BadRequest
from callgrid.event_calls.schemas import Cancel, EventCallAnswer, EventCallCreate, Reschedule, normalise_phone
from callgrid.kit.clock import Now
from callgrid.tenancy.auth import CurrentPrincipal

router = APIRouter(prefix="/v1/eventCalls", tags=["event calls"], route_class=IdempotentRoute)

BookingNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="the booking's id (its number)")]  # named `id` as in the answers


def _answer(details: service.BookingDetails, links, message: str, status: int) -> dict:
    return {"data": {"eventCall": {"message": message, "status": status, "data": event_call(details, links)}}}


def _invitee(body: EventCallCreate, request: Request) -> service.Invitee:
    phone = None
    if body.phoneNumber:
        try:
            phone = normalise_phone(body.phoneNumber, request.app.state.settings.default_phone_region)
        except ValueError as exc:
            raise BadRequest(f"phoneNumber {exc}", field="phoneNumber") from None
    if body.contactId is None and not body.email and phone is None:
        raise BadRequest("give contactId, or the invitee's email or phoneNumber", field="email")
    return service.Invitee(
        contact_number=body.contactId, email=body.email or None, phone=phone,
        first_name=body.firstName or "", last_name=body.lastName or "",
    )


@router.post("", status_code=201, response_model=EventCallAnswer, dependencies=[Idempotent])
async def create_event_call(
    body: EventCallCreate, request: Request, principal: CurrentPrincipal, read: ReadSession, write: WriteSession,
    now: Now, links: Links,
):
    invitee = _invitee(body, request)
    if body.eventId is None and body.linkPrefix is None:
        raise BadRequest("give eventId or linkPrefix", field="eventId")
    view = await service.find_event_type(
        read, principal.organization_id, number=body.eventId, link_prefix=body.linkPrefix, host_id=principal.host_scope
    )
    details = await service.book(
        read, write, principal.organization_id, view, start=body.start, invitee=invitee, time_zone=body.timeZone,
        now=now, render=lambda d: event_call(d, links), host_id=principal.host_scope,
    )
    return _answer(details, links, "Event call created", 201)


@router.get("/{id}", response_model=EventCallAnswer)
async def get_event_call(id: BookingNumber, principal: CurrentPrincipal, read: ReadSession, links: Links):
    details = await service.details_of(read, organization_id=principal.organization_id, number=id, host_id=principal.host_scope)
    return _answer(details, links, "Event call found", 200)


@router.post("/{id}/cancel", response_model=EventCallAnswer)
async def cancel_event_call(
    id: BookingNumber, principal: CurrentPrincipal, write: WriteSession, now: Now, links: Links,
    body: Cancel | None = None,
):
    details = await service.cancel(
        write, organization_id=principal.organization_id, number=id, host_id=principal.host_scope,
        reason=(body.reason if body else None),
        now=now, public_url=links.public_url, render=lambda d: event_call(d, links),
    )
    return _answer(details, links, "Event call cancelled", 200)


@router.post("/{id}/reschedule", status_code=201, response_model=EventCallAnswer, dependencies=[Idempotent])
async def reschedule_event_call(
    id: BookingNumber, body: Reschedule, principal: CurrentPrincipal, read: ReadSession,
    write: WriteSession, now: Now, links: Links,
):
    details = await service.reschedule(
        read, write, organization_id=principal.organization_id, number=id, host_id=principal.host_scope, start=body.start, now=now,
        public_url=links.public_url, render=lambda d: event_call(d, links),
    )
    return _answer(details, links, "Event call rescheduled", 201)
