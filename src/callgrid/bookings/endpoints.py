"""`/api/v1/event-types`: event types and their slots. Translation only."""

import re
from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from callgrid.bookings import repository, service
from callgrid.bookings.links import Links
from callgrid.bookings.schemas import EventTypeCreate, EventTypeHostOut, EventTypeOut, EventTypeUpdate, SlotOut, SlotsOut
from callgrid.db.session import ReadSession, WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.kit.clock import Now
from callgrid.kit.pagination import Page, PageQuery, fetch_page
from callgrid.kit.timestamps import utc_millis
from callgrid.tenancy.auth import AdminPrincipal, CurrentPrincipal
from callgrid.validation import TimezoneName, zone

router = APIRouter(prefix="/api/v1/event-types", tags=["event types"], route_class=IdempotentRoute)

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    """A date as `YYYY-MM-DD` only (pydantic alone also takes a midnight date-time or a Unix time)."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _out(view: service.EventTypeView, links) -> EventTypeOut:
    event_type = view.event_type
    return EventTypeOut(
        id=event_type.id,
        number=event_type.number,
        title=event_type.title,
        slug=event_type.slug,
        link_prefix=view.link_prefix,
        booking_url=links.booking_page(view.link_prefix),
        description=event_type.description,
        duration_minutes=event_type.duration_minutes,
        hosts=[EventTypeHostOut(host_id=h.id, number=h.number, name=h.name, priority=p) for h, p in view.hosts],
        slot_interval_minutes=event_type.slot_interval_minutes or event_type.duration_minutes,
        minimum_notice_minutes=event_type.minimum_notice_minutes,
        booking_window_days=event_type.booking_window_days,
        buffer_before_minutes=event_type.buffer_before_minutes,
        buffer_after_minutes=event_type.buffer_after_minutes,
        redirect_url=event_type.redirect_url,
        created_at=event_type.created_at,
        updated_at=event_type.updated_at,
    )


@router.post("", status_code=201, response_model=EventTypeOut, dependencies=[Idempotent])
async def create_event_type(body: EventTypeCreate, principal: AdminPrincipal, session: WriteSession, now: Now, links: Links):
    return _out(await service.create_event_type(session, principal.organization_id, body, now), links)


@router.get("", response_model=Page[EventTypeOut])
async def list_event_types(params: PageQuery, principal: CurrentPrincipal, session: ReadSession, links: Links):
    # A host key lists the event types it is a host of.
    statement = repository.live_event_types(principal.organization_id, principal.host_scope)
    rows, total = await fetch_page(session, statement, params.offset, params.page_size)
    found = await service.views(session, principal.organization_id, rows)
    return Page.of([_out(view, links) for view in found], total, params)


@router.get("/{event_type_id}", response_model=EventTypeOut)
async def get_event_type(event_type_id: UUID, principal: CurrentPrincipal, session: ReadSession, links: Links):
    return _out(await service.get_event_type(session, principal.organization_id, event_type_id, host_id=principal.host_scope), links)


@router.patch("/{event_type_id}", response_model=EventTypeOut)
async def update_event_type(
    event_type_id: UUID, body: EventTypeUpdate, principal: AdminPrincipal, session: WriteSession, now: Now, links: Links
):
    return _out(await service.update_event_type(session, principal.organization_id, event_type_id, body, now), links)


@router.delete("/{event_type_id}", status_code=204)
async def delete_event_type(event_type_id: UUID, principal: AdminPrincipal, session: WriteSession, now: Now):
    await service.delete_event_type(session, principal.organization_id, event_type_id, now)


@router.get("/{event_type_id}/slots", response_model=SlotsOut)
async def event_type_slots(
    event_type_id: UUID,
    start: Annotated[IsoDate, Query(description="first date (`YYYY-MM-DD`), in `time_zone`")],
    end: Annotated[IsoDate, Query(description="last date (`YYYY-MM-DD`, included), at most 31 days in all")],
    principal: CurrentPrincipal,
    session: ReadSession,
    now: Now,
    time_zone: Annotated[TimezoneName, Query(description="IANA time zone of the dates and days")] = "UTC",
):
    view = await service.get_event_type(session, principal.organization_id, event_type_id, host_id=principal.host_scope)
    availability = await service.slots(session, view, start, end, zone(time_zone), now, host_id=principal.host_scope)
    return SlotsOut(time_zone=time_zone, slots=slots_by_day(availability))


def slots_by_day(availability) -> dict[date, list[SlotOut]]:
    return {
        day: [SlotOut(start=utc_millis(slot.start), hosts_available=slot.hosts_available) for slot in slots]
        for day, slots in availability.days.items()
    }
