"""Reads of event types, their hosts' calendars and bookings."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from uuid import UUID

from sqlalchemy import BigInteger, Integer, Select, String, bindparam, case, cast, extract, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.bookings.models import Booking, EventType, EventTypeHost
from callgrid.bookings.schemas import MAX_BUFFER_MINUTES
from callgrid.calls.models import Call, StoredStatus
from callgrid.directory.models import Contact, Host
from callgrid.tenancy.models import Organization

# No call lasts longer than a day (callgrid.calls.conflicts), and no booking keeps more than
# MAX_BUFFER_MINUTES clear on either side: what can reach into a window starts after this
# much before it.
_REACH_BEFORE = timedelta(hours=24, minutes=MAX_BUFFER_MINUTES)
_REACH_AFTER = timedelta(minutes=MAX_BUFFER_MINUTES)


def live_event_types(organization_id: UUID, host_id: UUID | None = None) -> Select:
    """The organization's event types; with `host_id`, only those the host is one of the hosts of."""
    statement = (
        select(EventType)
        .where(EventType.organization_id == organization_id, EventType.deleted_at.is_(None))
        .order_by(EventType.number)
    )
    if host_id is not None:
        statement = statement.where(
            EventType.id.in_(select(EventTypeHost.event_type_id).where(EventTypeHost.host_id == host_id))
        )
    return statement


async def event_type(
    session: AsyncSession, organization_id: UUID, event_type_id: UUID, host_id: UUID | None = None
) -> EventType | None:
    found = await session.execute(live_event_types(organization_id, host_id).where(EventType.id == event_type_id))
    return found.scalar_one_or_none()


async def event_type_by_number(
    session: AsyncSession, organization_id: UUID, number: int, host_id: UUID | None = None
) -> EventType | None:
    found = await session.execute(live_event_types(organization_id, host_id).where(EventType.number == number))
    return found.scalar_one_or_none()


async def event_type_by_slug(
    session: AsyncSession, organization_id: UUID, slug: str, host_id: UUID | None = None
) -> EventType | None:
    found = await session.execute(live_event_types(organization_id, host_id).where(EventType.slug == slug))
    return found.scalar_one_or_none()


async def organization_by_slug(session: AsyncSession, slug: str) -> Organization | None:
    return (await session.execute(select(Organization).where(Organization.slug == slug))).scalar_one_or_none()


async def slug_taken(session: AsyncSession, organization_id: UUID, slug: str, except_id: UUID | None = None) -> bool:
    statement = select(EventType.id).where(
        EventType.organization_id == organization_id, EventType.slug == slug, EventType.deleted_at.is_(None)
    )
    if except_id is not None:
        statement = statement.where(EventType.id != except_id)
    return (await session.execute(statement.limit(1))).first() is not None


async def hosts_of(session: AsyncSession, event_type_ids: Sequence[UUID]) -> dict[UUID, list[tuple[Host, str]]]:
    """Each event type's hosts with their priority, by host number."""
    if not event_type_ids:
        return {}
    rows = await session.execute(
        select(EventTypeHost.event_type_id, Host, EventTypeHost.priority)
        .join(Host, Host.id == EventTypeHost.host_id)
        .where(EventTypeHost.event_type_id.in_(event_type_ids), Host.deleted_at.is_(None))
        .order_by(Host.number)
    )
    found: dict[UUID, list[tuple[Host, str]]] = {id: [] for id in event_type_ids}
    for event_type_id, host, priority in rows:
        found[event_type_id].append((host, priority))
    return found


async def hosts_by_id(session: AsyncSession, organization_id: UUID, host_ids: Sequence[UUID]) -> dict[UUID, Host]:
    rows = await session.execute(
        select(Host).where(Host.organization_id == organization_id, Host.id.in_(host_ids), Host.deleted_at.is_(None))
    )
    return {host.id: host for host in rows.scalars()}


@lru_cache(maxsize=64)
def _micros_since_1970(dialect_name: str, column):
    """The timestamp as whole microseconds since 1970 (UTC), worked out by the database, exactly:
    SQLite stores `YYYY-MM-DD HH:MM:SS.ffffff` in UTC (whole seconds from `unixepoch`, SQLite
    3.38 or later, twice as fast as strftime's text; the six digits after the point as they
    are); PostgreSQL's EXTRACT gives an exact numeric."""
    if dialect_name == "sqlite":
        text = type_coerce(column, String())
        return func.unixepoch(text) * 1_000_000 + cast(func.substr(text, 21, 6), Integer)
    return cast(extract("epoch", column) * 1_000_000, BigInteger)


def _busy_statement(dialect_name: str, hosts: int, exclude_call: bool) -> Select:
    """The busy rows' query for one dialect and number of hosts, built once. Core on the
    tables (no ORM loading), and each value as cheap to turn into Python as it can be: the
    host as its index in the list asked for (a small integer rather than a UUID per row);
    the times as the driver gives them (PostgreSQL: aware datetimes from asyncpg, no
    processor; SQLite: the stored UTC text with its offset appended, for `fromisoformat`).
    A slots request reads some 10,000 rows: the ORM's path spent ~150 ms on them (bench/slots_api.py)."""
    calls, bookings = Call.__table__, Booking.__table__
    keys = [bindparam(f"host_{n}", type_=calls.c.host_id.type) for n in range(hosts)]
    starts, ends = (_micros_since_1970(dialect_name, column) for column in (calls.c.starts_at, calls.c.ends_at))
    statement = (
        select(
            case(*((calls.c.host_id == key, n) for n, key in enumerate(keys))),
            starts,
            ends,
            func.coalesce(bookings.c.buffer_before_minutes, 0),
            func.coalesce(bookings.c.buffer_after_minutes, 0),
        )
        .select_from(calls.outerjoin(bookings, bookings.c.call_id == calls.c.id))
        .where(
            calls.c.host_id.in_(keys),
            calls.c.starts_at > bindparam("reach_start", type_=calls.c.starts_at.type),
            calls.c.starts_at < bindparam("reach_end", type_=calls.c.starts_at.type),
            calls.c.status != StoredStatus.CANCELLED.value,
        )
    )
    if exclude_call:
        statement = statement.where(calls.c.id != bindparam("exclude_call_id", type_=calls.c.id.type))
    return statement


async def busy(
    session: AsyncSession,
    host_ids: Sequence[UUID],
    start: datetime,
    end: datetime,
    *,
    exclude_call_id: UUID | None = None,
) -> dict[UUID, list[tuple[int, int, int, int]]]:
    """Each host's calls that are not cancelled and could block a call in `[start, end)`, as
    `HostCalendar.busy_micros` takes them: (start, end) in microseconds since 1970 and the
    buffers of bookings in minutes; every host given a list (maybe empty). A slots request
    reads thousands: no datetime is made for them."""
    found: dict[UUID, list[tuple[int, int, int, int]]] = {host_id: [] for host_id in host_ids}
    if not host_ids:
        return found
    dialect_name = session.get_bind().dialect.name
    statement = _busy_statement(dialect_name, len(host_ids), exclude_call_id is not None)
    params = {f"host_{n}": host_id for n, host_id in enumerate(host_ids)}
    params.update(reach_start=start - _REACH_BEFORE, reach_end=end + _REACH_AFTER)
    if exclude_call_id is not None:
        params["exclude_call_id"] = exclude_call_id
    lists = [found[host_id] for host_id in host_ids]
    for n, starts, ends, before, after in (await session.execute(statement, params)).all():
        lists[n].append((starts, ends, before, after))
    return found


async def last_booked(session: AsyncSession, event_type_id: UUID, host_ids: Sequence[UUID]) -> dict[UUID, datetime]:
    """When each host's latest booking of the event type was made."""
    rows = await session.execute(
        select(Booking.host_id, func.max(Booking.created_at))
        .where(Booking.event_type_id == event_type_id, Booking.host_id.in_(host_ids))
        .group_by(Booking.host_id)
    )
    return {host_id: made for host_id, made in rows}


async def contact_by_number(session: AsyncSession, organization_id: UUID, number: int) -> Contact | None:
    found = await session.execute(
        select(Contact).where(
            Contact.organization_id == organization_id, Contact.number == number, Contact.deleted_at.is_(None)
        )
    )
    return found.scalar_one_or_none()


async def contact_by_phone(session: AsyncSession, organization_id: UUID, phone: str) -> Contact | None:
    found = await session.execute(
        select(Contact)
        .where(Contact.organization_id == organization_id, Contact.phone == phone, Contact.deleted_at.is_(None))
        .order_by(Contact.number)
        .limit(1)
    )
    return found.scalar_one_or_none()


def _booking_details() -> Select:
    return (
        select(Booking, Call, EventType, Host, Contact)
        .join(Call, Call.id == Booking.call_id)
        .join(EventType, EventType.id == Booking.event_type_id)
        .join(Host, Host.id == Booking.host_id)
        .join(Contact, Contact.id == Booking.contact_id)
    )


async def booking_by_number(
    session: AsyncSession, organization_id: UUID, number: int, *, for_update: bool = False, host_id: UUID | None = None
) -> tuple | None:
    """The organization's booking; with `host_id`, only when it is that host's."""
    statement = _booking_details().where(Booking.organization_id == organization_id, Booking.number == number)
    if host_id is not None:
        statement = statement.where(Booking.host_id == host_id)
    if for_update:
        statement = statement.with_for_update(of=Booking)
    return (await session.execute(statement)).first()


async def booking_by_token(session: AsyncSession, token: str, *, for_update: bool = False) -> tuple | None:
    statement = _booking_details().where(Booking.token == token)
    if for_update:
        statement = statement.with_for_update(of=Booking)
    return (await session.execute(statement)).first()


async def booking_numbers(session: AsyncSession, ids: Sequence[UUID]) -> dict[UUID, int]:
    if not ids:
        return {}
    rows = await session.execute(select(Booking.id, Booking.number).where(Booking.id.in_(ids)))
    return dict(rows.all())
