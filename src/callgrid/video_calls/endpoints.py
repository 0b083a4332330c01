"""The video-calls API (`/api/v1/external/workshops/video-calls`): its contract in, the calls core out."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls import repository as calls_repository
from callgrid.calls import service as calls
from callgrid.calls.models import Call, CallKind
from callgrid.calls.repository import CallFilter
from callgrid.clock import Clock, get_clock
from callgrid.db.session import get_session, read_only
from callgrid.directory import service as directory
from callgrid.directory.models import Contact, Host, Product
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.scheduling import Interval, Schedule, ScheduleError, parse_weekday, to_utc
from callgrid.tenancy import repository as tenancy
from callgrid.tenancy.auth import Principal, authenticated
from callgrid.validation import zone
from callgrid.video_calls.render import Renderer, meeting_range, render_report
from callgrid.video_calls.schemas import AvailabilityCheck, ScheduleFields, VideoCallCreate, VideoCallUpdate
from callgrid.webhooks import emit

PREFIX = "/api/v1/external/workshops/video-calls"
router = APIRouter(prefix=PREFIX, tags=["video calls"])


async def _renderer(
    request: Request,
    principal: Principal = authenticated,
    session: AsyncSession = get_session,
    clock: Clock = Depends(get_clock),
    x_whitelabel_host: Annotated[str | None, Header(max_length=253)] = None,
    x_timezone_offset: Annotated[int, Header(ge=-720, le=840, description="minutes east of UTC")] = 0,
) -> Renderer:
    if x_whitelabel_host is not None:
        x_whitelabel_host = x_whitelabel_host.strip().lower()
        if await tenancy.get_domain(session, principal.organization_id, x_whitelabel_host) is None:
            raise BadRequest(
                f"{x_whitelabel_host!r} is not a host name registered to this organization", field="x-whitelabel-host"
            )
    return Renderer(
        now=clock(),
        public_url=request.app.state.settings.public_url,
        whitelabel_host=x_whitelabel_host,
        offset=timedelta(minutes=x_timezone_offset),
    )


rendering = Depends(_renderer)


async def _emit(session: AsyncSession, renderer: Renderer, event_type: str, calls_: list[Call], host: Host, product) -> None:
    """One webhook event per call (per occurrence, for a series), `data` = the call as this API
    renders it, without the request's white-label host (a per-request presentation choice)."""
    neutral = Renderer(now=renderer.now, public_url=renderer.public_url, whitelabel_host=None, offset=timedelta())
    for call in calls_:
        await emit(session, call.organization_id, event_type, neutral.call(call, host, product))


def _uuid(value: str | None, field: str, what: str) -> UUID:
    try:
        return UUID(value)
    except (TypeError, ValueError):
        raise NotFound(f"no {what} with id {value}", field=field) from None


def _schedule(body: ScheduleFields) -> Schedule:
    weekdays = None
    try:
        if body.repeatingDays is not None:
            weekdays = frozenset(parse_weekday(day) for day in body.repeatingDays)
            if body.endDate is None:
                raise ScheduleError("end_date", "is required with repeatingDays")
    except ScheduleError as exc:
        raise BadRequest(exc.rule, field=exc.field) from None
    return Schedule(
        start_date=body.startDate,
        local_start=body.fromTime,
        duration=timedelta(minutes=body.duration),
        timezone=zone(body.timezoneName),
        end_date=body.endDate,
        weekdays=weekdays,
    )


def _overlap_as_409(exc: calls.OverlapConflict) -> Conflict:
    return Conflict(exc.message, extra=render_report(exc.report))


async def _get(session: AsyncSession, principal: Principal, call_id: str):
    found = await calls_repository.get_call_with_relations(
        session, principal.organization_id, _uuid(call_id, "id", "video call"), CallKind.VIDEO_CALL
    )
    if found is None or found[0].host_id != principal.host_id:
        raise NotFound(f"no video call with id {call_id}", field="id")
    return found


@router.post("", status_code=201, summary="Create a one-time or recurring video call")
async def create_video_call(
    body: VideoCallCreate,
    principal: Principal = authenticated,
    session: AsyncSession = get_session,
    renderer: Renderer = rendering,
) -> dict[str, Any]:
    product_id = _uuid(body.mango, "product_id", "mango")
    # The product and the acting host in one round trip (the host is rendered into the events).
    found = (
        await session.execute(
            select(Product, Host)
            .outerjoin(Host, Host.id == principal.host_id)
            .where(Product.id == product_id, Product.organization_id == principal.organization_id)
        )
    ).first()
    if found is None:
        raise NotFound(f"no mango with id {product_id}", field="mango_id")
    product, host = found
    try:
        scheduled = await calls.schedule_calls(
            session,
            organization_id=principal.organization_id,
            host_id=principal.host_id,
            kind=CallKind.VIDEO_CALL,
            title=body.title,
            schedule=_schedule(body),
            now=renderer.now,
            allow_overlap=body.allowOverlap,
            product_id=product.id,
        )
    except calls.OverlapConflict as exc:
        raise _overlap_as_409(exc) from None
    await _emit(session, renderer, "video_call.created", scheduled.calls, host, product)
    response: dict[str, Any] = {"_id": str(scheduled.calls[0].id)}
    if scheduled.series is not None:
        response = {"_id": str(scheduled.series.id), "groupId": str(scheduled.series.id)}
    response["scheduledMeetingDates"] = [meeting_range(call) for call in scheduled.calls]
    return response


@router.post("/check-availability", summary="Check a proposed slot for overlaps with the creator's calls")
@read_only
async def check_availability(
    body: AvailabilityCheck,
    principal: Principal = authenticated,
    session: AsyncSession = get_session,
    clock: Clock = Depends(get_clock),
) -> dict[str, Any]:
    intervals = calls.expand_schedule(_schedule(body))
    report = await calls.check_conflicts(
        session,
        principal.host_id,
        intervals,
        now=clock(),
        exclude_call_id=_optional_uuid(body.excludeVideocall),
        exclude_series_id=_optional_uuid(body.groupId),
    )
    return render_report(report)


def _optional_uuid(value: str | None) -> UUID | None:
    """An id to leave out: one that names nothing leaves nothing out."""
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


@router.get("", summary="List video calls grouped by date")
async def list_video_calls(
    principal: Principal = authenticated,
    session: AsyncSession = get_session,
    renderer: Renderer = rendering,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    startDate: Annotated[datetime | None, Query(description="ISO date-time; default now")] = None,
    endDate: Annotated[datetime | None, Query(description="ISO date-time; default: no end")] = None,
    userId: Annotated[str | None, Query(max_length=64, description="a contact id")] = None,
    mangoes: Annotated[str | None, Query(max_length=4000, description="comma-separated product ids")] = None,
) -> dict[str, Any]:
    start = _aware(startDate, "startDate") if startDate else renderer.now
    end = _aware(endDate, "endDate") if endDate else None
    if end is not None and end <= start:
        raise BadRequest("must be after startDate", field="endDate")
    contact_id = None
    if userId is not None and userId.strip():  # blank is the same as not given
        contact = await directory.get_or_404(
            session, Contact, principal.organization_id, _uuid(userId, "userId", "user"), "user"
        )
        contact_id = contact.id
    product_ids = None
    if mangoes is not None:
        product_ids = []
        for raw in filter(None, (part.strip() for part in mangoes.split(","))):
            try:
                product_ids.append(UUID(raw))
            except ValueError:
                raise BadRequest(f"{raw!r} is not a mango id", field="mangoes") from None
        product_ids = product_ids or None  # blank (or only commas) is the same as not given: all mangoes
    rows, total = await calls_repository.list_calls(
        session,
        CallFilter(
            organization_id=principal.organization_id,
            kind=CallKind.VIDEO_CALL,
            host_id=None if contact_id else principal.host_id,
            product_ids=product_ids,
            contact_id=contact_id,
            overlapping_from=start,
            overlapping_until=end,
        ),
        offset=(page - 1) * limit,
        limit=limit,
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    for call, host, product in rows:
        groups.setdefault(renderer.local_date(call), []).append(renderer.call(call, host, product))
    return {"total": total, "data": [{"date": date, "calls": calls_} for date, calls_ in groups.items()]}


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise BadRequest("must carry a time zone offset, e.g. 2025-06-01T00:00:00Z", field=field)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before the first UTC instant
        raise BadRequest("is out of range", field=field) from None


@router.get("/{call_id}", summary="One video call")
async def get_video_call(
    call_id: str, principal: Principal = authenticated, session: AsyncSession = get_session, renderer: Renderer = rendering
) -> dict[str, Any]:
    return renderer.call(*await _get(session, principal, call_id))


@router.patch("/{call_id}", summary="Reschedule or rename one video call")
async def update_video_call(
    call_id: str,
    body: VideoCallUpdate,
    principal: Principal = authenticated,
    session: AsyncSession = get_session,
    renderer: Renderer = rendering,
) -> dict[str, Any]:
    call, host, product = await _get(session, principal, call_id)
    calls.ensure_changeable(call, renderer.now)
    fields = body.model_dump(exclude_unset=True, exclude_none=True)
    interval = timezone = None
    if fields.keys() & {"startDate", "fromTime", "timezoneName", "duration"}:
        interval, timezone = _moved(call, body)
    try:
        await calls.update_call(
            session, call, now=renderer.now, title=body.title, interval=interval, timezone=timezone,
            allow_overlap=body.allowOverlap,
        )
    except calls.OverlapConflict as exc:
        raise _overlap_as_409(exc) from None
    await _emit(session, renderer, "video_call.updated", [call], host, product)
    return renderer.call(call, host, product)


def _moved(call: Call, body: VideoCallUpdate) -> tuple[Interval, str]:
    """The call's new interval: given fields over its current local date, time and duration."""
    timezone = body.timezoneName or call.timezone
    local = call.starts_at.astimezone(zone(call.timezone))
    day = body.startDate or local.date()
    wall = body.fromTime or local.time().replace(second=0, microsecond=0)
    duration = timedelta(minutes=body.duration) if body.duration else call.ends_at - call.starts_at
    start = to_utc(day, wall, zone(timezone))
    return Interval(start, start + duration), timezone


@router.delete("/groups/{group_id}", summary="Cancel every occurrence of a series that has not started")
async def cancel_group(
    group_id: str, principal: Principal = authenticated, session: AsyncSession = get_session, renderer: Renderer = rendering
) -> dict[str, Any]:
    series_id = _uuid(group_id, "group_id", "group")
    cancelled = await calls.cancel_series(
        session, principal.organization_id, series_id, now=renderer.now, host_id=principal.host_id
    )
    if cancelled:
        host = await session.get(Host, cancelled[0].host_id) if cancelled[0].host_id else None
        products = {call.product_id for call in cancelled if call.product_id}
        by_id = {p.id: p for p in [await session.get(Product, pid) for pid in products] if p is not None}
        for call in cancelled:
            await _emit(session, renderer, "video_call.cancelled", [call], host, by_id.get(call.product_id))
    return {
        "_id": str(series_id),
        "groupId": str(series_id),
        "cancelledCount": len(cancelled),
        "cancelledMeetingDates": [meeting_range(call) for call in cancelled],
    }


@router.delete("/{call_id}", summary="Cancel one video call")
async def cancel_video_call(
    call_id: str, principal: Principal = authenticated, session: AsyncSession = get_session, renderer: Renderer = rendering
) -> dict[str, Any]:
    call, host, product = await _get(session, principal, call_id)
    if await calls.cancel_call(session, call, now=renderer.now):
        await _emit(session, renderer, "video_call.cancelled", [call], host, product)
    return renderer.call(call, host, product)
