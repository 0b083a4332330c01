"""The public booking pages: a person in a browser, with no API key.

- `GET /book/{organization slug}/{event slug}`: an event type's page (title, description,
  duration; a month calendar of the days with free times in the visitor's time zone, the
  times of a chosen day, the invitee's form), and the JSON it uses under the same path:
  `GET .../slots` (the management API's slots, same shape) and `POST` (book).
- `GET /bookings/{token}`: a booking's page (the confirmation after booking, and where the
  invitee manages it), `GET /bookings/{token}.ics` (add to calendar), and the JSON its
  buttons use: `POST /bookings/{token}/cancel`, `POST /bookings/{token}/reschedule`.

Everything books, cancels and reschedules through callgrid.bookings.service, as the
event-calls API does. The manage token (unguessable, in the booking's address) is the
credential of the `/bookings/` routes: nothing else identifies the invitee.

The pages are HTML templates (callgrid/web/templates) filled in here, every value escaped;
their scripts and styles are files of callgrid/web/static (booking.css, booking-calendar.js,
book.js, booking.js: plain ES modules, nothing from another site), served by the rooms'
`/static/` route. Times go into the page in UTC and the scripts show them in the visitor's
time zone; without scripts they read in the booking's time zone. Links in the pages and
scripts are relative, so they also work under a path prefix. The JSON routes take JSON only
(a form posted from another site is a 400), and answer errors as RFC 9457 problem details
naming the field, which the pages show beside it.
"""

import html
import json
import re
from datetime import date, datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

import icalendar
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, BeforeValidator, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.bookings import repository, service
from callgrid.bookings.endpoints import slots_by_day
from callgrid.bookings.links import Links
from callgrid.bookings.models import BookingStatus
from callgrid.bookings.render import BookingLinks, event_call
from callgrid.bookings.schemas import SlotsOut
from callgrid.db.session import ReadSession, WriteSession
from callgrid.errors import BadRequest, NotFound
from callgrid.event_calls.schemas import EMAIL, DateTimeText, normalise_phone, parse_date_time
from callgrid.kit.clock import Now
from callgrid.kit.models import StrictModel
from callgrid.kit.timestamps import utc_millis
from callgrid.validation import TimezoneName, zone

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"

router = APIRouter(tags=["booking pages"])

# The pages run only their own scripts and styles and talk only to this origin. A booking's
# page has its manage token in its address: no referrer leaves it.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"  # frame-ancestors: CALLGRID_FRAME_ANCESTORS
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

NOT_FOUND_EVENT = {404: {"description": "No event type with that link (or it was deleted)"}}
NOT_FOUND_BOOKING = {404: {"description": "No booking with that token"}}


# --- bodies and answers --------------------------------------------------------------------------


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class BookingRequest(StrictModel):
    """What the booking page's form sends."""

    dateTime: DateTimeText
    timeZone: Annotated[TimezoneName, Field(description="the invitee's IANA time zone")]
    name: Annotated[str, BeforeValidator(_strip), Field(max_length=255, description="the invitee's name")]
    email: Annotated[str, BeforeValidator(_strip), Field(max_length=255)]
    phone: Annotated[str, BeforeValidator(_strip), Field(max_length=32, description="optional; + and the country code")] | None = None

    @field_validator("dateTime")
    @classmethod
    def _date_time(cls, value: str) -> str:
        parse_date_time(value)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("enter your name")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL.match(value):
            raise ValueError("must be an email address, like ada@example.com")
        return value

    @property
    def start(self) -> datetime:
        return parse_date_time(self.dateTime)


class CancelRequest(StrictModel):
    reason: Annotated[str | None, Field(max_length=2000, description="why, shown to the host")] = None


class RescheduleRequest(StrictModel):
    dateTime: DateTimeText

    @field_validator("dateTime")
    @classmethod
    def _date_time(cls, value: str) -> str:
        parse_date_time(value)
        return value

    @property
    def start(self) -> datetime:
        return parse_date_time(self.dateTime)


class PublicEvent(BaseModel):
    title: str
    description: str
    durationMinutes: int
    bookingUrl: str = Field(description="the event's booking page")


class PublicBooking(BaseModel):
    """A booking as its invitee sees it."""

    token: str = Field(description="the manage token: whoever has it can see, cancel and reschedule the booking")
    url: str = Field(description="the booking's page (`/bookings/{token}`)")
    calendarUrl: str = Field(description="the booking as an iCalendar file (`/bookings/{token}.ics`)")
    status: str = Field(description="confirmed | cancelled | rescheduled (cancelled by a reschedule)")
    startTime: str = Field(description="UTC, `2026-02-27T12:00:00.000Z`")
    endTime: str
    timeZone: str = Field(description="the invitee's IANA time zone, as given when booking")
    event: PublicEvent
    hostName: str
    inviteeEmail: str | None
    joinUrl: str = Field(description="the invitee's personal link into the call's room")
    cancelReason: str | None
    rescheduledFromUrl: str | None = Field(description="the page of the booking this one replaced")
    rescheduledToUrl: str | None = Field(description="the page of the booking that replaced this one")
    redirectUrl: str = Field(description="the event type's redirect_url with bookingId and startTime, else `url`")


def _calendar_url(links: BookingLinks, token: str) -> str:
    return f"{links.confirmation(token)}.ics"


def _public(
    details: service.BookingDetails, links: BookingLinks, organization_slug: str, *, from_token: str | None,
    to_token: str | None,
) -> PublicBooking:
    data = event_call(details, links)
    event_type = details.event_type
    return PublicBooking(
        token=details.booking.token,
        url=data["confirmationLink"],
        calendarUrl=_calendar_url(links, details.booking.token),
        status=details.booking.status,
        startTime=data["startTime"],
        endTime=data["endTime"],
        timeZone=details.booking.time_zone,
        event=PublicEvent(
            title=event_type.title, description=event_type.description or "",
            durationMinutes=event_type.duration_minutes,
            bookingUrl=links.booking_page(f"{organization_slug}/{event_type.slug}"),
        ),
        hostName=details.host.name,
        inviteeEmail=details.contact.email,
        joinUrl=data["joinUrl"],
        cancelReason=details.booking.cancel_reason,
        rescheduledFromUrl=links.confirmation(from_token) if from_token else None,
        rescheduledToUrl=links.confirmation(to_token) if to_token else None,
        redirectUrl=data["redirectUrl"],
    )


async def _token_of(session: AsyncSession, organization_id: UUID, number: int | None) -> str | None:
    if number is None:
        return None
    row = await repository.booking_by_number(session, organization_id, number)
    return row[0].token if row is not None else None


async def _linked_tokens(session: AsyncSession, details: service.BookingDetails) -> tuple[str | None, str | None]:
    organization_id = details.booking.organization_id
    return (
        await _token_of(session, organization_id, details.rescheduled_from_number),
        await _token_of(session, organization_id, details.rescheduled_to_number),
    )


async def _organization_slug(session: AsyncSession, details: service.BookingDetails) -> str:
    return (await service.views(session, details.booking.organization_id, [details.event_type]))[0].organization_slug


def _render(links: BookingLinks):
    return lambda details: event_call(details, links)


# --- the event's page and its JSON ----------------------------------------------------------------


@router.get("/book/{organization_slug}/{slug}", include_in_schema=False)
async def event_page(organization_slug: str, slug: str, read: ReadSession, links: Links) -> Response:
    view = await service.public_event_type(read, organization_slug, slug)
    if view is None:
        return not_found_page(
            "../../static", "This booking page does not exist",
            "The link may be mistyped, or the event is no longer offered. Ask whoever sent it for a new one.",
        )
    organization = await repository.organization_by_slug(read, organization_slug)
    event_type = view.event_type
    data = {
        "organization": view.organization_slug,
        "slug": event_type.slug,
        "title": event_type.title,
        "durationMinutes": event_type.duration_minutes,
        "bookingWindowDays": event_type.booking_window_days,
    }
    return _page(
        "book.html",
        static="../../static",
        title=_e(event_type.title),
        organization=_e(organization.name if organization is not None else view.organization_slug),
        duration=_e(_duration_text(event_type.duration_minutes)),
        description=_paragraphs(event_type.description or ""),
        picker=_template("picker.html").substitute(),
        zones=zone_options(),
        data=_json_for_html(data),
    )


@router.get("/book/{organization_slug}/{slug}/slots", response_model=SlotsOut, responses=NOT_FOUND_EVENT)
async def event_slots(
    organization_slug: str,
    slug: str,
    start: Annotated[date, Query(description="first date, in `time_zone`")],
    end: Annotated[date, Query(description="last date (included), at most 31 days in all")],
    read: ReadSession,
    now: Now,
    time_zone: Annotated[TimezoneName, Query(description="IANA time zone of the dates and days")] = "UTC",
):
    """The event's free times by day in `time_zone`: the management API's slots, for the page."""
    view = await _event_or_404(read, organization_slug, slug)
    availability = await service.slots(read, view, start, end, zone(time_zone), now)
    return SlotsOut(time_zone=time_zone, slots=slots_by_day(availability))


@router.post(
    "/book/{organization_slug}/{slug}", status_code=201, response_model=PublicBooking,
    responses={**NOT_FOUND_EVENT, 409: {"description": "The time is no longer free: every host of the event is booked then"}},
)
async def book(
    organization_slug: str, slug: str, body: BookingRequest, request: Request, read: ReadSession, write: WriteSession,
    now: Now, links: Links,
):
    """Book a free time of the event (the page's form): the answer is the new booking, with
    its page (`url`) and manage token."""
    view = await _event_or_404(read, organization_slug, slug)
    phone = _phone(body.phone, request.app.state.settings.default_phone_region)
    first_name, _, last_name = body.name.partition(" ")
    invitee = service.Invitee(email=body.email, phone=phone, first_name=first_name, last_name=last_name)
    details = await service.book(
        read, write, view.event_type.organization_id, view, start=body.start, invitee=invitee,
        time_zone=body.timeZone, now=now, render=_render(links),
    )
    return _public(details, links, view.organization_slug, from_token=None, to_token=None)


async def _event_or_404(read: AsyncSession, organization_slug: str, slug: str) -> service.EventTypeView:
    view = await service.public_event_type(read, organization_slug, slug)
    if view is None:
        raise NotFound(f"no event {organization_slug}/{slug}", field="slug")
    return view


def _phone(value: str | None, default_region: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalise_phone(value, default_region)
    except ValueError as exc:
        message = str(exc)
        if default_region is None and not value.startswith("+"):
            message = "must start with + and the country code, like +1 415 555 0123"
        raise BadRequest(message, field="phone") from None


# --- a booking's page, its calendar file and its JSON -------------------------------------------------


@router.get("/bookings/{token}.ics", include_in_schema=False)  # a file for calendars, like the pages
async def booking_calendar_file(token: str, read: ReadSession, now: Now, links: Links) -> Response:
    """The booking as an iCalendar file: add it to a calendar. UTC times, the host as organizer,
    the invitee's join link as location and URL; a cancelled booking's file says CANCELLED."""
    details = await service.details_of(read, token=token)
    name = re.sub(r"[^A-Za-z0-9-]+", "-", details.event_type.slug).strip("-") or "booking"
    return Response(
        calendar_file(details, links, now),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.ics"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/bookings/{token}", include_in_schema=False)
async def booking_page(token: str, read: ReadSession, now: Now, links: Links, request: Request) -> Response:
    try:
        details = await service.details_of(read, token=token)
    except NotFound:
        return not_found_page(
            "../static", "No such booking",
            "This booking link is not valid. Check that you copied the whole address from your confirmation.",
        )
    from_token, to_token = await _linked_tokens(read, details)
    organization_slug = await _organization_slug(read, details)
    answer = _public(details, links, organization_slug, from_token=from_token, to_token=to_token)
    booking, call, event_type = details.booking, details.call, details.event_type
    status = booking.status
    changeable = status == BookingStatus.CONFIRMED and call.starts_at > now and event_type.deleted_at is None
    just = request.query_params.get("just")
    if status == BookingStatus.CANCELLED:
        heading = "This booking was cancelled"
    elif status == BookingStatus.RESCHEDULED:
        heading = "This booking was moved to another time"
    elif just == "rescheduled":
        heading = "Your booking was moved"
    elif just == "booked":
        heading = "Your booking is confirmed"
    elif call.ends_at <= now:
        heading = "This call is over"
    else:
        heading = "Your booking"
    data = {
        "token": booking.token,
        "status": status,
        "startTime": answer.startTime,
        "endTime": answer.endTime,
        "timeZone": booking.time_zone,
        "changeable": changeable,
        "organization": organization_slug,
        "slug": event_type.slug,
        "bookingWindowDays": event_type.booking_window_days,
        "durationMinutes": event_type.duration_minutes,
    }
    return _page(
        "booking.html",
        static="../static",
        title=_e(event_type.title),
        heading=_e(heading),
        status=_e(status),
        status_text=_e({"confirmed": "Confirmed", "cancelled": "Cancelled", "rescheduled": "Rescheduled"}.get(status, status)),
        duration=_e(_duration_text(event_type.duration_minutes)),
        when=_e(_when_text(call.starts_at, call.ends_at, booking.time_zone)),
        start=_e(answer.startTime),
        end=_e(answer.endTime),
        zone=_e(booking.time_zone),
        host=_e(details.host.name),
        invitee=_e(details.contact.email or details.contact.phone or ""),
        join=_join_block(answer, status),
        notes=_notes(answer, details, event_type),
        calendar_file=_e(f"./{booking.token}.ics"),
        calendar_name=_e(f"{event_type.slug}.ics"),
        actions_hidden="" if changeable else "hidden",
        picker=_template("picker.html").substitute(),
        zones=zone_options(),
        data=_json_for_html(data),
    )


def _join_block(answer: PublicBooking, status: str) -> str:
    if status != BookingStatus.CONFIRMED:
        return ""
    return (
        '<div class="row"><dt>Where</dt><dd><a id="join-link" href="' + _e(answer.joinUrl) + '">Join the call</a>'
        ' <span class="muted">(your personal link; it opens when the call is near)</span></dd></div>'
    )


def _notes(answer: PublicBooking, details: service.BookingDetails, event_type) -> str:
    out = []
    if details.booking.status == BookingStatus.RESCHEDULED and answer.rescheduledToUrl:
        out.append(f'<p class="note">It was rescheduled: <a id="new-booking" href="{_e(answer.rescheduledToUrl)}">see the new booking</a>.</p>')
    if details.booking.status == BookingStatus.CANCELLED:
        reason = details.booking.cancel_reason
        out.append(
            '<p class="note" id="cancel-reason">'
            + (f"Reason given: {_e(reason)}" if reason else "No reason was given.")
            + "</p>"
        )
        if event_type.deleted_at is None:
            out.append(f'<p class="note"><a href="{_e(answer.event.bookingUrl)}">Book another time</a></p>')
    if answer.rescheduledFromUrl:
        out.append(f'<p class="note muted">This booking replaces <a id="old-booking" href="{_e(answer.rescheduledFromUrl)}">an earlier one</a>.</p>')
    if details.booking.status == BookingStatus.CONFIRMED and event_type.redirect_url:
        out.append(f'<p class="note"><a id="continue" href="{_e(answer.redirectUrl)}">Continue</a></p>')
    return "\n".join(out)


def _when_text(start: datetime, end: datetime, time_zone: str) -> str:
    """`Tuesday 3 December 2030, 19:30–20:00 (Asia/Kolkata)`: the page without scripts."""
    try:
        tz = zone(time_zone)
    except ValueError:
        tz, time_zone = zone("UTC"), "UTC"
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    return (
        f"{local_start:%A} {local_start.day} {local_start:%B %Y}, {local_start:%H:%M}\u2013{local_end:%H:%M} ({time_zone})"
    )


@router.post(
    "/bookings/{token}/cancel", response_model=PublicBooking,
    responses={**NOT_FOUND_BOOKING, 409: {"description": "The booking is cancelled or rescheduled already, or its call has started"}},
)
async def cancel_booking(
    token: str, read: ReadSession, write: WriteSession, now: Now, links: Links, body: CancelRequest | None = None
):
    """Cancel the booking (the invitee, with its token), with an optional reason for the host."""
    reason = (body.reason or "").strip() if body is not None else ""
    # What the answer needs beyond the booking, read first; the read's connection goes back
    # before the write takes one (reads and writes share one pool on PostgreSQL: a request
    # holding both could deadlock it, see callgrid.bookings.service._end_read).
    current = await service.details_of(read, token=token)
    from_token, _ = await _linked_tokens(read, current)
    organization_slug = await _organization_slug(read, current)
    await read.close()
    details = await service.cancel(
        write, token=token, reason=reason or None, now=now, public_url=links.public_url, render=_render(links)
    )
    return _public(details, links, organization_slug, from_token=from_token, to_token=None)


@router.post(
    "/bookings/{token}/reschedule", status_code=201, response_model=PublicBooking,
    responses={
        **NOT_FOUND_BOOKING,
        409: {"description": "The booking is cancelled or rescheduled already, its call has started, or the new time is no longer free"},
    },
)
async def reschedule_booking(
    token: str, body: RescheduleRequest, read: ReadSession, write: WriteSession, now: Now, links: Links
):
    """Move the booking to another free time: a new booking (its `url` is the new page) at
    `dateTime`, with the same host when free; this one becomes `rescheduled`."""
    # The organization's slug before the service: it ends the read phase before it writes,
    # and nothing may read after that (see cancel_booking).
    organization_slug = await _organization_slug(read, await service.details_of(read, token=token))
    details = await service.reschedule(
        read, write, token=token, start=body.start, now=now, public_url=links.public_url, render=_render(links)
    )
    return _public(details, links, organization_slug, from_token=token, to_token=None)


# --- the calendar file ---------------------------------------------------------------------------


def calendar_file(details: service.BookingDetails, links: BookingLinks, now: datetime) -> bytes:
    """One VEVENT (RFC 5545): UID, DTSTART/DTEND in UTC, SUMMARY, DESCRIPTION, LOCATION and
    URL the invitee's join link, ORGANIZER the host, ATTENDEE the invitee's email, STATUS."""
    booking, call, host, contact, event_type = details.booking, details.call, details.host, details.contact, details.event_type
    data = event_call(details, links)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Callgrid//Booking pages//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"{booking.id}@{urlsplit(links.public_url).hostname or 'callgrid'}")
    event.add("dtstamp", now)
    event.add("created", booking.created_at)
    event.add("last-modified", booking.updated_at)
    event.add("dtstart", call.starts_at)
    event.add("dtend", call.ends_at)
    event.add("summary", f"{event_type.title} with {host.name}")
    description = [event_type.description.strip()] if event_type.description and event_type.description.strip() else []
    description += [f"Join the call: {data['joinUrl']}", f"Reschedule or cancel: {data['confirmationLink']}"]
    event.add("description", "\n\n".join(description))
    event.add("location", data["joinUrl"])
    event.add("url", data["joinUrl"])
    organizer = icalendar.vCalAddress(f"mailto:{host.email}")
    organizer.params["cn"] = icalendar.vText(host.name)
    event.add("organizer", organizer)
    if contact.email:
        # No CN: the contact's stored name may not be the one this visitor typed (whoever
        # books with an email books as that contact), and the file should not tell it.
        attendee = icalendar.vCalAddress(f"mailto:{contact.email}")
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        event.add("attendee", attendee)
    confirmed = booking.status == BookingStatus.CONFIRMED
    event.add("status", "CONFIRMED" if confirmed else "CANCELLED")
    event.add("sequence", 0 if confirmed else 1)
    calendar.add_component(event)
    return calendar.to_ical()


# --- templates -----------------------------------------------------------------------------------


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _duration_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    parts = ([f"{hours} hour" + ("s" if hours != 1 else "")] if hours else []) + (
        [f"{rest} minute" + ("s" if rest != 1 else "")] if rest else []
    )
    return " ".join(parts)


def _paragraphs(text: str) -> str:
    """Plain text as escaped paragraphs (blank lines) with line breaks."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if b.strip()]
    return "\n".join("<p>" + "<br>".join(_e(line) for line in block.split("\n")) + "</p>" for block in blocks)


def _json_for_html(data: dict[str, Any]) -> str:
    """JSON to sit in a `<script type="application/json">`: nothing in it can end the element."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@lru_cache(maxsize=1)
def zone_options() -> str:
    """The `<option>`s of the pages' time-zone select: the IANA zones of tzdata's zone.tab (the
    names people know today: Asia/Kolkata, not Asia/Calcutta, which browsers may still report:
    the page matches those to these) and UTC, sorted."""
    table = (files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8")
    names = {line.split("\t")[2] for line in table.splitlines() if line and not line.startswith("#")}
    return "".join(
        f'<option value="{_e(name)}">{_e(name.replace("_", " "))}</option>' for name in sorted(names | {"UTC"})
    )


@lru_cache(maxsize=8)
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _page(name: str, *, status_code: int = 200, **values: str) -> HTMLResponse:
    return HTMLResponse(_template(name).substitute(**values), status_code=status_code, headers=PAGE_HEADERS)


def not_found_page(static: str, heading: str, text: str) -> HTMLResponse:
    return _page("not-found.html", status_code=404, static=static, heading=_e(heading), text=_e(text))
