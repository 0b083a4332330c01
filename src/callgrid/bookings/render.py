"""A booking as the event-calls API, its webhook events and its pages show it (the seed's
names), and the links it hands out."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field

from callgrid.bookings.service import BookingDetails
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms.service import call_join_url
from callgrid.rooms.tokens import RoomSigner


class EventCallData(BaseModel):
    """The seed's `eventCall.data`, and what Callgrid adds after its fields."""

    startTime: str = Field(description="UTC, `2026-02-27T12:00:00.000Z`")
    endTime: str
    id: int = Field(description="the booking's number in the organization")
    closerId: int = Field(description="the host's number")
    timeZone: str = Field(description="the invitee's IANA time zone, as given")
    guestEmail: str | None = Field(description="null for an invitee known by phone only")
    token: str = Field(description="the invitee's manage token: /bookings/{token}")
    closerName: str
    previewId: str = Field(description="the booking's public id")
    closerEmail: str
    confirmationLink: str = Field(description="the booking's page")
    redirectUrl: str = Field(description="the event type's redirect_url with bookingId and startTime, else confirmationLink")
    eventId: int
    contactId: int
    bookingStatus: str = Field(description="confirmed | cancelled | rescheduled (cancelled by a reschedule)")
    joinUrl: str = Field(description="the invitee's personal link into the call's room")
    cancelReason: str | None
    rescheduledFromId: int | None
    rescheduledToId: int | None
    createdAt: str


@dataclass(frozen=True)
class BookingLinks:
    public_url: str
    signer: RoomSigner

    def confirmation(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/bookings/{token}"

    def booking_page(self, link_prefix: str) -> str:
        return f"{self.public_url.rstrip('/')}/book/{link_prefix}"


def redirect_url(base: str | None, number: int, start: str, fallback: str) -> str:
    if not base:
        return fallback
    parts = urlsplit(base)
    query = parse_qsl(parts.query, keep_blank_values=True) + [("bookingId", str(number)), ("startTime", start)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def event_call(details: BookingDetails, links: BookingLinks) -> dict[str, Any]:
    booking, call, host, contact = details.booking, details.call, details.host, details.contact
    start = utc_millis(call.starts_at)
    confirmation = links.confirmation(booking.token)
    invitee_name = " ".join(p for p in (contact.first_name, contact.last_name) if p) or None
    return {
        "startTime": start,
        "endTime": utc_millis(call.ends_at),
        "id": booking.number,
        "closerId": host.number,
        "timeZone": booking.time_zone,
        "guestEmail": contact.email,
        "token": booking.token,
        "closerName": host.name,
        "previewId": booking.public_id,
        "closerEmail": host.email,
        "confirmationLink": confirmation,
        "redirectUrl": redirect_url(details.event_type.redirect_url, booking.number, start, confirmation),
        "eventId": details.event_type.number,
        "contactId": contact.number,
        "bookingStatus": booking.status,
        "joinUrl": call_join_url(links.signer, links.public_url, call.id, str(contact.id), call.ends_at, invitee_name),
        "cancelReason": booking.cancel_reason,
        "rescheduledFromId": details.rescheduled_from_number,
        "rescheduledToId": details.rescheduled_to_number,
        "createdAt": utc_millis(booking.created_at),
    }
