"""Video calls over the calls core: a creator's one-time and recurring calls of a product.

Reads that decide what to write (the product, the host) go through a `ReadSession` before
the write section; the write section (a `WriteSession`) holds the host's calendar lock,
the conflict check, the inserts and the `video_call.*` events, one per occurrence.
"""

from datetime import timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls import repository as calls_repository
from callgrid.calls import scheduling
from callgrid.calls.conflicts import ConflictReport, check_conflicts
from callgrid.calls.models import Call, CallKind, Series
from callgrid.calls.repository import CallFilter
from callgrid.directory.models import Contact, Host, Product
from callgrid.kit.ids import not_found
from callgrid.rooms import service as room_service
from callgrid.scheduling import Interval, Schedule, to_utc
from callgrid.tenancy.auth import Principal
from callgrid.validation import zone
from callgrid.video_calls import repository
from callgrid.video_calls.render import Renderer
from callgrid.webhooks.events import EventType, emit_many, events_committed, outbox_step


def _event_renderer(renderer: Renderer) -> Renderer:
    """Events carry the call as this API renders it, without the request's white-label host
    (a per-request presentation choice) or its time zone offset."""
    return Renderer(
        now=renderer.now, public_url=renderer.public_url, whitelabel_host=None, offset=timedelta(), signer=renderer.signer
    )


async def _emit(session: AsyncSession, renderer: Renderer, event_type: EventType, calls: list[Call], host: Host, product) -> None:
    if calls:
        neutral = _event_renderer(renderer)
        await emit_many(session, calls[0].organization_id, event_type, [neutral.call(call, host, product) for call in calls])


async def create(
    read: AsyncSession,
    write: AsyncSession,
    principal: Principal,
    *,
    product_id: UUID,
    title: str,
    schedule: Schedule,
    allow_overlap: bool,
    renderer: Renderer,
) -> scheduling.Scheduled:
    found = await repository.product_with_host(read, principal.organization_id, product_id, principal.host_id)
    if found is None:
        raise not_found("mango", product_id, "mango_id")
    product, host = found
    plan = scheduling.plan_calls(
        organization_id=principal.organization_id,
        host_id=principal.host_id,
        kind=CallKind.VIDEO_CALL,
        title=title,
        schedule=schedule,
        now=renderer.now,
        allow_overlap=allow_overlap,
        product_id=product.id,
    )
    prepared = scheduling.prepare(plan, renderer.now)
    neutral = _event_renderer(renderer)
    announce = outbox_step(
        principal.organization_id, EventType.VIDEO_CALL_CREATED, [neutral.call(call, host, product) for call in prepared.calls]
    )
    # Every call gets its private room, the host its one member, in the same transaction.
    rooms = room_service.video_call_room_steps(prepared.calls, host.id, host.name, renderer.now)
    # The write section: the host's lock, the check, the calls, their rooms, their events, the commit.
    return await scheduling.schedule_calls(
        write, plan, now=renderer.now, prepared=prepared, extra=[*rooms, announce], after_commit=events_committed
    )


async def check_availability(
    read: AsyncSession,
    principal: Principal,
    schedule: Schedule,
    *,
    now,
    exclude_call_id: UUID | None,
    exclude_series_id: UUID | None,
) -> ConflictReport:
    intervals = scheduling.expand_schedule(schedule)
    return await check_conflicts(
        read, principal.host_id, intervals, now=now, exclude_call_id=exclude_call_id, exclude_series_id=exclude_series_id
    )


async def get(
    session: AsyncSession, principal: Principal, call_id: UUID, *, for_update: bool = False
) -> tuple[Call, Host, Product | None]:
    """The video call with its host and product: any of the organization's for an admin key, the
    acting host's for a host key (another's reads as missing). `for_update` (to change it): its
    row locked and read as last committed."""
    found = await calls_repository.get_call_with_relations(
        session, principal.organization_id, call_id, CallKind.VIDEO_CALL, for_update=for_update
    )
    if found is None or not principal.sees_host(found[0].host_id):
        raise not_found("video call", call_id, "id")
    return found


class Move:
    """A new time for a call: the fields given over its current local date, time and duration."""

    def __init__(self, *, day=None, wall=None, timezone: str | None = None, duration: timedelta | None = None):
        self.day, self.wall, self.timezone, self.duration = day, wall, timezone, duration

    def resolve(self, call: Call) -> tuple[Interval, str]:
        timezone = self.timezone or call.timezone
        local = call.starts_at.astimezone(zone(call.timezone))
        day = self.day or local.date()
        wall = self.wall or local.time().replace(second=0, microsecond=0)
        duration = self.duration or (call.ends_at - call.starts_at)
        start = to_utc(day, wall, zone(timezone))
        return Interval(start, start + duration), timezone


async def update(
    write: AsyncSession,
    principal: Principal,
    call_id: UUID,
    *,
    renderer: Renderer,
    title: str | None,
    move: Move | None,
    allow_overlap: bool | None,
) -> tuple[Call, Host, Product | None]:
    call, host, product = await get(write, principal, call_id, for_update=True)
    scheduling.ensure_changeable(call, renderer.now)
    interval = timezone = None
    if move is not None:
        interval, timezone = move.resolve(call)
    await scheduling.update_call(
        write, call, now=renderer.now, title=title, interval=interval, timezone=timezone, allow_overlap=allow_overlap
    )
    await _emit(write, renderer, EventType.VIDEO_CALL_UPDATED, [call], host, product)
    return call, host, product


async def cancel(write: AsyncSession, principal: Principal, call_id: UUID, *, renderer: Renderer) -> tuple[Call, Host, Product | None]:
    call, host, product = await get(write, principal, call_id, for_update=True)
    if await scheduling.cancel_call(write, call, now=renderer.now):
        await _emit(write, renderer, EventType.VIDEO_CALL_CANCELLED, [call], host, product)
        await room_service.terminate_call_room(write, call.id, now=renderer.now, public_url=renderer.public_url)
    return call, host, product


async def cancel_group(write: AsyncSession, principal: Principal, series_id: UUID, *, renderer: Renderer) -> list[Call]:
    cancelled = await scheduling.cancel_series(
        write, principal.organization_id, series_id, now=renderer.now, host_id=principal.host_scope
    )
    if cancelled:
        host = await write.get(Host, cancelled[0].host_id) if cancelled[0].host_id else None
        products = {p.id: p for p in [await write.get(Product, pid) for pid in {c.product_id for c in cancelled if c.product_id}] if p}
        neutral = _event_renderer(renderer)
        await emit_many(
            write,
            principal.organization_id,
            EventType.VIDEO_CALL_CANCELLED,
            [neutral.call(call, host, products.get(call.product_id)) for call in cancelled],
        )
        for call in cancelled:
            await room_service.terminate_call_room(write, call.id, now=renderer.now, public_url=renderer.public_url)
    return cancelled


async def update_group(
    write: AsyncSession, principal: Principal, series_id: UUID, change: scheduling.SeriesChange, *, renderer: Renderer
) -> scheduling.SeriesChanged:
    """Change the acting host's series from a date on (calls.scheduling.change_series: the lock,
    the check, the writes), then in the same transaction: rooms for the new occurrences, the
    cancelled ones' rooms ended, and one event per occurrence created, updated or cancelled."""
    now = renderer.now
    changed = await scheduling.change_series(
        write, principal.organization_id, series_id, change, now=now, host_id=principal.host_scope
    )
    host = await write.get(Host, changed.series.host_id)
    product = await write.get(Product, changed.product_id) if changed.product_id else None
    for statement, rows in room_service.video_call_room_steps(changed.created, host.id, host.name, now):
        await write.execute(statement, rows)
    neutral = _event_renderer(renderer)
    for event_type, calls in (
        (EventType.VIDEO_CALL_CREATED, changed.created),
        (EventType.VIDEO_CALL_UPDATED, changed.moved),
        (EventType.VIDEO_CALL_CANCELLED, changed.cancelled),
    ):
        if calls:
            await emit_many(write, principal.organization_id, event_type, [neutral.call(call, host, product) for call in calls])
    for call in changed.cancelled:
        await room_service.terminate_call_room(write, call.id, now=now, public_url=renderer.public_url)
    return changed


async def list_calls(
    read: AsyncSession, principal: Principal, *, contact_id: UUID | None, series_id: UUID | None = None, **filters
):
    if contact_id is not None:
        contact = await read.get(Contact, contact_id)
        if contact is None or contact.organization_id != principal.organization_id or contact.deleted_at is not None:
            raise not_found("user", contact_id, "userId")
    if series_id is not None:
        series = await read.get(Series, series_id)
        # Another host's series reads as missing to a host key.
        if series is None or series.organization_id != principal.organization_id or not principal.sees_host(series.host_id):
            raise not_found("group", series_id, "groupId")
        filters["series_id"] = series_id
    offset, limit = filters.pop("offset"), filters.pop("limit")
    return await calls_repository.list_calls(
        read,
        CallFilter(
            organization_id=principal.organization_id,
            kind=CallKind.VIDEO_CALL,
            # An admin key lists every host's calls; a host key its own, a participant's too.
            host_id=principal.host_scope,
            contact_id=contact_id,
            **filters,
        ),
        offset=offset,
        limit=limit,
    )
