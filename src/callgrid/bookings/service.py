"""Event types, their slots, and bookings: the one place that books, cancels and reschedules.

A booking is decided twice. Before the write transaction, on a read session: is the start an
offered slot at all (400 naming why not), which hosts are free for it (409 when none), and
in which order to try them (callgrid.scheduling.assignment). Then, for each host in that
order, the write transaction takes the host's calendar lock (callgrid.calls.conflicts: the
one booking rule every write to a calendar follows), reads the host's calls around the start
again and checks the start for that host alone with the same pure function; when another
booking took the host meanwhile, the transaction is rolled back (releasing the lock) and the
next host is tried. So two bookings of one slot's last free host give one booking and one
409, two free hosts give two bookings with different hosts, and buffers hold.
"""

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.bookings import repository
from callgrid.bookings.models import Booking, BookingStatus, EventType, EventTypeHost
from callgrid.bookings.schemas import EventTypeCreate, EventTypeUpdate
from callgrid.calls.conflicts import host_lock_key, lock_host_calendar
from callgrid.calls.models import Call, CallKind, StoredStatus
from callgrid.db.base import new_id
from callgrid.directory.models import Contact, Host
from callgrid.directory.repository import contact_by_email
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.rooms import service as room_service
from callgrid.scheduling import Interval, ScheduleError, to_utc
from callgrid.scheduling.assignment import HostCandidate, Priority, rank_hosts
from callgrid.scheduling.availability import (
    MAX_SLOT_RANGE_DAYS,
    Availability,
    BookingRules,
    HostCalendar,
    Verdict,
    check_start,
    find_slots,
    parse_working_hours,
)
from callgrid.tenancy import numbers
from callgrid.tenancy.models import Organization
from callgrid.webhooks.events import EventType as WebhookEventType
from callgrid.webhooks.events import emit


# --- event types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventTypeView:
    event_type: EventType
    hosts: list[tuple[Host, str]]  # (host, priority), by host number
    organization_slug: str

    @property
    def link_prefix(self) -> str:
        return f"{self.organization_slug}/{self.event_type.slug}"


def rules_of(event_type: EventType) -> BookingRules:
    return BookingRules(
        duration_minutes=event_type.duration_minutes,
        slot_interval_minutes=event_type.slot_interval_minutes,
        minimum_notice_minutes=event_type.minimum_notice_minutes,
        booking_window_days=event_type.booking_window_days,
        buffer_before_minutes=event_type.buffer_before_minutes,
        buffer_after_minutes=event_type.buffer_after_minutes,
    )


def event_type_not_found(value: object, field: str = "id") -> NotFound:
    return NotFound(f"no event type with id {value}", field=field)


async def _organization_slug(session: AsyncSession, organization_id: UUID) -> str:
    return (await session.execute(select(Organization.slug).where(Organization.id == organization_id))).scalar_one()


async def views(session: AsyncSession, organization_id: UUID, event_types: Sequence[EventType]) -> list[EventTypeView]:
    hosts = await repository.hosts_of(session, [e.id for e in event_types])
    slug = await _organization_slug(session, organization_id)
    return [EventTypeView(e, hosts[e.id], slug) for e in event_types]


async def get_event_type(
    session: AsyncSession, organization_id: UUID, event_type_id: UUID, *, host_id: UUID | None = None
) -> EventTypeView:
    """With `host_id`, only an event type of that host: any other reads as missing."""
    found = await repository.event_type(session, organization_id, event_type_id, host_id)
    if found is None:
        raise event_type_not_found(event_type_id)
    return (await views(session, organization_id, [found]))[0]


async def _checked_hosts(session: AsyncSession, organization_id: UUID, hosts) -> list[tuple[Host, str]]:
    found = await repository.hosts_by_id(session, organization_id, [h.host_id for h in hosts])
    for index, item in enumerate(hosts):
        if item.host_id not in found:
            raise BadRequest(f"no host with id {item.host_id} in this organization", field=f"hosts[{index}].host_id")
    return sorted(((found[h.host_id], h.priority.value) for h in hosts), key=lambda pair: pair[0].number)


async def _ensure_slug_free(session: AsyncSession, organization_id: UUID, slug: str, except_id: UUID | None = None) -> None:
    if await repository.slug_taken(session, organization_id, slug, except_id):
        raise Conflict(f"an event type with slug {slug!r} exists in this organization", field="slug")


async def _flush_slug(session: AsyncSession, slug: str) -> None:
    """Flush an event type's row. The slug was checked before, but a concurrent create or
    rename (PostgreSQL: another transaction) may have taken it since: the unique index refuses
    ours, which is then the same 409 (the request's transaction is rolled back)."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if "slug" not in str(exc.orig):
            raise
        raise Conflict(f"an event type with slug {slug!r} exists in this organization", field="slug") from None


async def _set_hosts(session: AsyncSession, event_type_id: UUID, hosts: list[tuple[Host, str]]) -> None:
    await session.execute(EventTypeHost.__table__.delete().where(EventTypeHost.event_type_id == event_type_id))
    await session.execute(
        insert(EventTypeHost.__table__),
        [{"event_type_id": event_type_id, "host_id": host.id, "priority": priority} for host, priority in hosts],
    )


async def create_event_type(session: AsyncSession, organization_id: UUID, data: EventTypeCreate, now: datetime) -> EventTypeView:
    hosts = await _checked_hosts(session, organization_id, data.hosts)
    await _ensure_slug_free(session, organization_id, data.slug)
    event_type = EventType(
        organization_id=organization_id,
        number=await numbers.take(session, organization_id, "event_types"),
        created_at=now,
        updated_at=now,
        **data.model_dump(exclude={"hosts"}),
    )
    session.add(event_type)
    await _flush_slug(session, data.slug)
    await _set_hosts(session, event_type.id, hosts)
    return EventTypeView(event_type, hosts, await _organization_slug(session, organization_id))


async def update_event_type(
    session: AsyncSession, organization_id: UUID, event_type_id: UUID, data: EventTypeUpdate, now: datetime
) -> EventTypeView:
    event_type = await repository.event_type(session, organization_id, event_type_id)
    if event_type is None:
        raise event_type_not_found(event_type_id)
    changes = data.model_dump(exclude_unset=True, exclude={"hosts"})
    nulls = [n for n, v in changes.items() if v is None and n not in ("redirect_url", "slot_interval_minutes")]
    if nulls:
        raise BadRequest("may not be null", field=nulls[0])
    if "slug" in changes:
        await _ensure_slug_free(session, organization_id, changes["slug"], except_id=event_type.id)
    hosts = None
    if "hosts" in data.model_fields_set:
        if data.hosts is None:
            raise BadRequest("an event type has at least one host", field="hosts")
        hosts = await _checked_hosts(session, organization_id, data.hosts)
    for name, value in changes.items():
        setattr(event_type, name, value)
    event_type.updated_at = now
    await _flush_slug(session, event_type.slug)
    if hosts is not None:
        await _set_hosts(session, event_type.id, hosts)
    return (await views(session, organization_id, [event_type]))[0]


async def delete_event_type(session: AsyncSession, organization_id: UUID, event_type_id: UUID, now: datetime) -> None:
    """It can no longer be booked and its slug is free again; its bookings stand."""
    event_type = await repository.event_type(session, organization_id, event_type_id)
    if event_type is None:
        raise event_type_not_found(event_type_id)
    event_type.deleted_at = now
    event_type.updated_at = now
    await session.flush()


async def find_event_type(
    session: AsyncSession, organization_id: UUID, *, number: int | None, link_prefix: str | None,
    host_id: UUID | None = None,
) -> EventTypeView:
    """By number (`eventId`) or `org/slug` (`linkPrefix`); both must name the same one. With
    `host_id`, only an event type of that host: any other reads as missing."""
    by_number = by_link = None
    if number is not None:
        by_number = await repository.event_type_by_number(session, organization_id, number, host_id)
        if by_number is None:
            raise NotFound(f"no event type with id {number}", field="eventId")
    if link_prefix is not None:
        organization_slug, _, slug = link_prefix.strip("/").partition("/")
        own_slug = await _organization_slug(session, organization_id)
        if organization_slug == own_slug and slug and "/" not in slug:
            by_link = await repository.event_type_by_slug(session, organization_id, slug, host_id)
        if by_link is None:
            raise NotFound(f"no event type with link prefix {link_prefix!r} (expected `{own_slug}/<slug>`)", field="linkPrefix")
    if by_number is not None and by_link is not None and by_number.id != by_link.id:
        raise BadRequest(
            f"eventId {number} and linkPrefix {link_prefix!r} name different event types", field="linkPrefix"
        )
    found = by_number or by_link
    if found is None:
        raise BadRequest("give eventId or linkPrefix", field="eventId")
    return (await views(session, organization_id, [found]))[0]


async def public_event_type(session: AsyncSession, organization_slug: str, slug: str) -> EventTypeView | None:
    """The event type a booking page shows, by its link; None for none (or a deleted one)."""
    organization = await repository.organization_by_slug(session, organization_slug)
    if organization is None:
        return None
    found = await repository.event_type_by_slug(session, organization.id, slug)
    if found is None:
        return None
    return EventTypeView(found, (await repository.hosts_of(session, [found.id]))[found.id], organization.slug)


# --- slots -------------------------------------------------------------------------------------


def _calendars(hosts: Sequence[Host], busy: dict[UUID, list[tuple[int, int, int, int]]]) -> list[HostCalendar]:
    """The hosts' calendars for the pure functions; `busy` as `repository.busy` gives it."""
    return [
        HostCalendar(
            host.id,
            ZoneInfo(host.timezone),
            parse_working_hours(host.working_hours or {}, host.date_overrides or {}),
            busy_micros=busy[host.id],
        )
        for host in hosts
    ]


def _span(rules: BookingRules, now: datetime, first_day: date, last_day: date, tz: ZoneInfo) -> Interval:
    """What find_slots can look at for these days, clipped to notice and window."""
    start = max(to_utc(first_day - timedelta(days=1), time(0), tz), now + rules.minimum_notice)
    end = min(to_utc(last_day + timedelta(days=2), time(0), tz), now + rules.booking_window)
    return Interval(start, max(start, end) + rules.duration)


def _bookable_dates(rules: BookingRules, now: datetime) -> tuple[date, date]:
    """Dates (in any zone) that can hold a start between now + notice and now + window."""
    return (now + rules.minimum_notice).date() - timedelta(days=2), (now + rules.booking_window).date() + timedelta(days=2)


def narrowed(view: EventTypeView, host_id: UUID | None) -> EventTypeView:
    """`view` with `host_id` as its only host (a host's key offers and books its own calendar);
    None: as it is."""
    if host_id is None:
        return view
    return replace(view, hosts=[(host, priority) for host, priority in view.hosts if host.id == host_id])


async def slots(
    session: AsyncSession, view: EventTypeView, first_day: date, last_day: date, time_zone: ZoneInfo, now: datetime,
    *, host_id: UUID | None = None,
) -> Availability:
    """The slots of `first_day`..`last_day`; with `host_id`, that host's alone."""
    view = narrowed(view, host_id)
    rules = rules_of(view.event_type)
    hosts = [host for host, _ in view.hosts]
    try:
        if last_day < first_day or (last_day - first_day).days + 1 > MAX_SLOT_RANGE_DAYS:
            find_slots(rules, [], now, first_day, last_day, time_zone)  # raises naming the rule
    except ScheduleError as exc:
        raise BadRequest(exc.rule, field=exc.field) from None
    earliest, latest = _bookable_dates(rules, now)
    if last_day < earliest or first_day > latest:
        # Nothing can be offered (and the calendar's edges, year 1 or 9999, are never reached).
        return Availability(time_zone, {first_day + timedelta(days=n): () for n in range((last_day - first_day).days + 1)})
    span = _span(rules, now, first_day, last_day, time_zone)
    busy = await repository.busy(session, [h.id for h in hosts], span.start, span.end) if hosts else []
    return find_slots(rules, _calendars(hosts, busy), now, first_day, last_day, time_zone)


# --- booking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitee:
    contact_number: int | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str = ""
    last_name: str = ""


@dataclass(frozen=True)
class BookingDetails:
    """A booking with everything its answers, pages and events show."""

    booking: Booking
    call: Call
    event_type: EventType
    host: Host
    contact: Contact
    rescheduled_from_number: int | None = None
    rescheduled_to_number: int | None = None


_VERDICT_FIELD = "dateTime"


def _refuse(verdict: Verdict, start: datetime) -> Exception:
    when = start.isoformat().replace("+00:00", "Z")
    if verdict is Verdict.TAKEN:
        return Conflict(f"{when} is no longer free: every host of this event is booked then", field=_VERDICT_FIELD)
    return BadRequest(f"{when} is not a slot of this event: {verdict.value}", field=_VERDICT_FIELD)


async def _resolve_contact(session: AsyncSession, organization_id: UUID, invitee: Invitee) -> Contact | None:
    if invitee.contact_number is not None:
        contact = await repository.contact_by_number(session, organization_id, invitee.contact_number)
        if contact is None:
            raise NotFound(f"no contact with id {invitee.contact_number}", field="contactId")
        return contact
    if invitee.email is not None:
        contact = await contact_by_email(session, organization_id, invitee.email)
        if contact is not None:
            return contact
    if invitee.phone is not None:
        return await repository.contact_by_phone(session, organization_id, invitee.phone)
    if invitee.email is None:
        raise BadRequest("give contactId, email or phoneNumber", field="email")
    return None


_LOCK_INVITEE = text("SELECT pg_advisory_xact_lock(:high, :low)")


async def _lock_invitee(session: AsyncSession, organization_id: UUID, invitee: Invitee) -> None:
    """PostgreSQL: serialise the bookings of one invitee (by lower-cased email and by phone,
    in one order) until the transaction ends, so that one finds the contact another made.
    Bookings with different hosts share no calendar lock, and nothing unique refuses a second
    contact with the same phone: two at once made it twice. The two-key advisory locks are a
    key space apart from the hosts' calendar locks. SQLite's single writer already serialises."""
    if session.get_bind().dialect.name != "postgresql":
        return
    names = ([f"email:{invitee.email.lower()}"] if invitee.email else []) + ([f"phone:{invitee.phone}"] if invitee.phone else [])
    for name in sorted(names):
        digest = hashlib.blake2b(f"{organization_id}:{name}".encode(), digest_size=8).digest()
        high, low = int.from_bytes(digest[:4], "big", signed=True), int.from_bytes(digest[4:], "big", signed=True)
        await session.execute(_LOCK_INVITEE, {"high": high, "low": low})


async def _contact_for_booking(session: AsyncSession, organization_id: UUID, invitee: Invitee, now: datetime) -> Contact:
    """The invitee's contact, in the write transaction: found again (another booking may have
    made it meanwhile) or made; names, and an email or phone it lacks, filled where empty."""
    if invitee.contact_number is None:
        await _lock_invitee(session, organization_id, invitee)
    contact = await _resolve_contact(session, organization_id, invitee)
    if contact is None:
        contact = Contact(
            organization_id=organization_id, email=invitee.email, phone=invitee.phone,
            first_name=invitee.first_name, last_name=invitee.last_name, created_at=now, updated_at=now,
        )
        session.add(contact)
        await session.flush()
        return contact
    if invitee.contact_number is None:
        changed = False
        for name in ("first_name", "last_name", "email", "phone"):
            value = getattr(invitee, name)
            if value and not getattr(contact, name):
                setattr(contact, name, value)
                changed = True
        if changed:
            contact.updated_at = now
            await session.flush()
    return contact


async def _ranked_free_hosts(
    read: AsyncSession, view: EventTypeView, start: datetime, now: datetime, *, exclude_call_id: UUID | None = None,
    prefer: UUID | None = None, only: UUID | None = None,
) -> list[Host]:
    """The hosts free at `start`, best first (`prefer` first when free); raises when `start` is
    not offered at all. `only`: that host alone is a candidate (a host's key books for itself)."""
    view = narrowed(view, only)
    rules = rules_of(view.event_type)
    hosts = [host for host, _ in view.hosts]
    if not hosts:
        raise Conflict("this event has no hosts", field="eventId")
    # Notice and window first: they need no calendar, and the calendar's window around a start
    # far outside them (year 1, year 9999) would leave the range of datetimes.
    timing = check_start(rules, [], now, start).verdict
    if timing in (Verdict.TOO_SOON, Verdict.BEYOND_WINDOW):
        raise _refuse(timing, start)
    busy = await repository.busy(
        read, [h.id for h in hosts], start - rules.buffer_before, start + rules.duration + rules.buffer_after,
        exclude_call_id=exclude_call_id,
    )
    check = check_start(rules, _calendars(hosts, busy), now, start)
    if check.verdict is not Verdict.OFFERED:
        raise _refuse(check.verdict, start)
    free = set(check.free_hosts)
    last = await repository.last_booked(read, view.event_type.id, list(free))
    by_id = {host.id: (host, priority) for host, priority in view.hosts}
    ranked = rank_hosts(
        HostCandidate(host_id, by_id[host_id][0].number, Priority(by_id[host_id][1]), last.get(host_id))
        for host_id in free
    )
    order = [by_id[c.id][0] for c in ranked]
    if prefer is not None and prefer in free:
        order.sort(key=lambda host: host.id != prefer)
    return order


async def _end_read(read: AsyncSession) -> None:
    """The read phase is over: its connection goes back to the pool before the write takes
    one. On PostgreSQL reads and writes share one pool, and holding the read while waiting
    for a write deadlocked it: with as many bookings in flight in one process as the pool has
    connections, each held a read and all waited for a write until the pool's timeout (500s).
    What was read stays usable (detached), and the session can be used again."""
    await read.close()


async def _host_still_free(
    write: AsyncSession, view: EventTypeView, host: Host, start: datetime, now: datetime, exclude_call_id: UUID | None,
    *, also_lock: UUID | None = None,
) -> bool:
    """Under the host's calendar lock: the same check as before, on what is committed now.

    `also_lock`: another host whose calendar the transaction changes (a reschedule's old host),
    locked with this one, both in the order of their keys. Unordered, two reschedules moving
    bookings between the same two hosts at once deadlocked on PostgreSQL: each cancels its old
    call and inserts its new one, and the per-day counts those touch (`call_day_counts`) were
    locked in opposite orders."""
    for host_id in sorted({host.id, also_lock or host.id}, key=host_lock_key):
        await lock_host_calendar(write, host_id)
    rules = rules_of(view.event_type)
    busy = await repository.busy(
        write, [host.id], start - rules.buffer_before, start + rules.duration + rules.buffer_after,
        exclude_call_id=exclude_call_id,
    )
    return check_start(rules, _calendars([host], busy), now, start).verdict is Verdict.OFFERED


async def _write_booking(
    write: AsyncSession,
    view: EventTypeView,
    host: Host,
    contact: Contact,
    start: datetime,
    time_zone: str,
    now: datetime,
    *,
    rescheduled_from: Booking | None = None,
) -> tuple[Booking, Call]:
    event_type = view.event_type
    call = Call(
        id=new_id(), organization_id=event_type.organization_id, host_id=host.id, kind=CallKind.BOOKING.value,
        title=event_type.title, starts_at=start, ends_at=start + timedelta(minutes=event_type.duration_minutes),
        timezone=time_zone, status=StoredStatus.SCHEDULED.value, allow_overlap=False, created_at=now, updated_at=now,
    )
    write.add(call)
    await write.flush()
    booking = Booking(
        organization_id=event_type.organization_id,
        number=await numbers.take(write, event_type.organization_id, "bookings"),
        event_type_id=event_type.id,
        call_id=call.id,
        host_id=host.id,
        contact_id=contact.id,
        time_zone=time_zone,
        status=BookingStatus.CONFIRMED,
        buffer_before_minutes=event_type.buffer_before_minutes,
        buffer_after_minutes=event_type.buffer_after_minutes,
        token=secrets.token_urlsafe(32),
        public_id=secrets.token_urlsafe(12),
        rescheduled_from_id=rescheduled_from.id if rescheduled_from is not None else None,
        created_at=now,
        updated_at=now,
    )
    write.add(booking)
    await write.flush()
    # Its room: the host and the invitee its members.
    for statement, rows in room_service.booking_room_steps(call, host, contact, now):
        await write.execute(statement, rows)
    return booking, call


async def book(
    read: AsyncSession,
    write: AsyncSession,
    organization_id: UUID,
    view: EventTypeView,
    *,
    start: datetime,
    invitee: Invitee,
    time_zone: str,
    now: datetime,
    render,
    host_id: UUID | None = None,
) -> BookingDetails:
    """Book `start` for the invitee with the best free host (with `host_id`, that host or
    none: a host's key books its own calendar); `render(details)` is the `event_call.created`
    event's data."""
    await _resolve_contact(read, organization_id, invitee)  # a wrong contactId is a 404 before anything
    order = await _ranked_free_hosts(read, view, start, now, only=host_id)
    await _end_read(read)
    for host in order:
        for attempt in range(3):
            try:
                if not await _host_still_free(write, view, host, start, now, None):
                    await write.rollback()  # releases the host's lock before the next is tried
                    break
                contact = await _contact_for_booking(write, organization_id, invitee, now)
                booking, call = await _write_booking(write, view, host, contact, start, time_zone, now)
                details = BookingDetails(booking, call, view.event_type, host, contact)
                await emit(write, organization_id, WebhookEventType.EVENT_CALL_CREATED, render(details))
                await write.flush()
            except IntegrityError:
                # On PostgreSQL a concurrent booking made the invitee's contact between our
                # look and our insert (the lower(email) index refused ours): nothing of this
                # try is kept, and the next finds that contact.
                await write.rollback()
                if attempt == 2:
                    raise
                continue
            return details
    raise _refuse(Verdict.TAKEN, start)


def _ensure_open(details: BookingDetails, now: datetime) -> None:
    booking, call = details.booking, details.call
    if booking.status != BookingStatus.CONFIRMED:
        raise Conflict(f"the booking is {booking.status}", field="status")
    if call.starts_at <= now:
        raise Conflict("the call has started and can no longer be changed", field="status")


async def _locked(
    write: AsyncSession, organization_id: UUID | None, number: int | None, token: str | None, host_id: UUID | None = None
) -> BookingDetails:
    if token is not None:
        row = await repository.booking_by_token(write, token, for_update=True)
    else:
        row = await repository.booking_by_number(write, organization_id, number, for_update=True, host_id=host_id)
    if row is None:
        raise NotFound(f"no event call with id {number}" if token is None else "no such booking", field="id")
    return await _with_links(write, row)


async def _with_links(session: AsyncSession, row) -> BookingDetails:
    booking = row[0]
    linked = await repository.booking_numbers(session, [i for i in (booking.rescheduled_from_id, booking.rescheduled_to_id) if i])
    return BookingDetails(
        *row,
        rescheduled_from_number=linked.get(booking.rescheduled_from_id),
        rescheduled_to_number=linked.get(booking.rescheduled_to_id),
    )


async def details_of(
    session: AsyncSession, *, organization_id: UUID | None = None, number: int | None = None, token: str | None = None,
    host_id: UUID | None = None,
) -> BookingDetails:
    """By token, or by the organization's number (with `host_id`: only that host's booking)."""
    row = (
        await repository.booking_by_token(session, token)
        if token is not None
        else await repository.booking_by_number(session, organization_id, number, host_id=host_id)
    )
    if row is None:
        raise NotFound(f"no event call with id {number}" if token is None else "no such booking", field="id")
    return await _with_links(session, row)


async def _end_call(write: AsyncSession, details: BookingDetails, now: datetime, public_url: str) -> None:
    call = details.call
    call.status = StoredStatus.CANCELLED.value
    call.cancelled_at = now
    call.updated_at = now
    await write.flush()
    await room_service.terminate_call_room(write, call.id, now=now, public_url=public_url)


async def cancel(
    write: AsyncSession,
    *,
    organization_id: UUID | None = None,
    number: int | None = None,
    token: str | None = None,
    host_id: UUID | None = None,
    reason: str | None,
    now: datetime,
    public_url: str,
    render,
) -> BookingDetails:
    details = await _locked(write, organization_id, number, token, host_id)
    _ensure_open(details, now)
    booking = details.booking
    booking.status = BookingStatus.CANCELLED
    booking.cancel_reason = reason
    booking.cancelled_at = now
    booking.updated_at = now
    await _end_call(write, details, now, public_url)
    await emit(write, booking.organization_id, WebhookEventType.EVENT_CALL_CANCELLED, render(details))
    return details


async def reschedule(
    read: AsyncSession,
    write: AsyncSession,
    *,
    organization_id: UUID | None = None,
    number: int | None = None,
    token: str | None = None,
    host_id: UUID | None = None,
    start: datetime,
    now: datetime,
    public_url: str,
    render,
) -> BookingDetails:
    """A new booking at `start` (the same host when free, else the best free one), the old one
    cancelled as `rescheduled` and linked both ways; all or nothing. With `host_id`, only that
    host's booking, moved within that host's calendar."""
    current = await details_of(read, organization_id=organization_id, number=number, token=token, host_id=host_id)
    _ensure_open(current, now)
    organization_id = current.booking.organization_id
    view = (await views(read, organization_id, [current.event_type]))[0]
    if current.event_type.deleted_at is not None:
        raise Conflict("the event type was deleted; it can no longer be booked", field="eventId")
    order = await _ranked_free_hosts(
        read, view, start, now, exclude_call_id=current.call.id, prefer=current.host.id, only=host_id
    )
    await _end_read(read)
    for host in order:
        old = await _locked(write, organization_id, current.booking.number, None)
        _ensure_open(old, now)  # cancelled or moved meanwhile
        if not await _host_still_free(write, view, host, start, now, old.call.id, also_lock=old.host.id):
            await write.rollback()
            continue
        old.booking.status = BookingStatus.RESCHEDULED
        old.booking.cancelled_at = now
        old.booking.updated_at = now
        await _end_call(write, old, now, public_url)
        booking, call = await _write_booking(
            write, view, host, old.contact, start, old.booking.time_zone, now, rescheduled_from=old.booking
        )
        old.booking.rescheduled_to_id = booking.id
        await write.flush()
        details = BookingDetails(booking, call, view.event_type, host, old.contact, rescheduled_from_number=old.booking.number)
        await emit(write, organization_id, WebhookEventType.EVENT_CALL_RESCHEDULED, render(details))
        return details
    raise _refuse(Verdict.TAKEN, start)
