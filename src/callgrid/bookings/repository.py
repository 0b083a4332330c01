"""Reads of event types, their hosts' calendars and bookings."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Select, func, select
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


def live_event_types(organization_id: UUID) -> Select:
    return (
        select(EventType)
        .where(EventType.organization_id == organization_id, EventType.deleted_at.is_(None))
        .order_by(EventType.number)
    )


async def event_type(session: AsyncSession, organization_id: UUID, event_type_id: UUID) -> EventType | None:
    found = await session.execute(live_event_types(organization_id).where(EventType.id == event_type_id))
    return found.scalar_one_or_none()


async def event_type_by_number(session: AsyncSession, organization_id: UUID, number: int) -> EventType | None:
    found = await session.execute(live_event_types(organization_id).where(EventType.number == number))
    return found.scalar_one_or_none()


async def event_type_by_slug(session: AsyncSession, organization_id: UUID, slug: str) -> EventType | None:
    found = await session.execute(live_event_types(organization_id).where(EventType.slug == slug))
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
        .where(EventTypeHost.event_type_id.in_(event_type_ids))
        .order_by(Host.number)
    )
    found: dict[UUID, list[tuple[Host, str]]] = {id: [] for id in event_type_ids}
    for event_type_id, host, priority in rows:
        found[event_type_id].append((host, priority))
    return found


async def hosts_by_id(session: AsyncSession, organization_id: UUID, host_ids: Sequence[UUID]) -> dict[UUID, Host]:
    rows = await session.execute(select(Host).where(Host.organization_id == organization_id, Host.id.in_(host_ids)))
    return {host.id: host for host in rows.scalars()}


async def busy(
    session: AsyncSession,
    host_ids: Sequence[UUID],
    start: datetime,
    end: datetime,
    *,
    exclude_call_id: UUID | None = None,
) -> list[tuple[UUID, datetime, datetime, int, int]]:
    """(host, start, end, buffer before, buffer after) of the hosts' calls that are not
    cancelled and could block a call in `[start, end)`: the buffers are those of bookings."""
    statement = (
        select(
            Call.host_id,
            Call.starts_at,
            Call.ends_at,
            func.coalesce(Booking.buffer_before_minutes, 0),
            func.coalesce(Booking.buffer_after_minutes, 0),
        )
        .outerjoin(Booking, Booking.call_id == Call.id)
        .where(
            Call.host_id.in_(host_ids),
            Call.starts_at > start - _REACH_BEFORE,
            Call.starts_at < end + _REACH_AFTER,
            Call.status != StoredStatus.CANCELLED,
        )
    )
    if exclude_call_id is not None:
        statement = statement.where(Call.id != exclude_call_id)
    return [tuple(row) for row in await session.execute(statement)]


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
        select(Contact).where(Contact.organization_id == organization_id, Contact.number == number)
    )
    return found.scalar_one_or_none()


async def contact_by_phone(session: AsyncSession, organization_id: UUID, phone: str) -> Contact | None:
    found = await session.execute(
        select(Contact)
        .where(Contact.organization_id == organization_id, Contact.phone == phone)
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
    session: AsyncSession, organization_id: UUID, number: int, *, for_update: bool = False
) -> tuple | None:
    statement = _booking_details().where(Booking.organization_id == organization_id, Booking.number == number)
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
