"""The video-calls API (`/api/v1/external/workshops/video-calls`): its contract in, the
video-calls service out. Translation only."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.calls import scheduling
from callgrid.calls.conflicts import OverlapConflict
from callgrid.calls.scores import ScoreBoard
from callgrid.db.session import ReadSession, SessionsRoute, WriteSession, read_session, request_sessions
from callgrid.errors import BadRequest, Conflict
from callgrid.idempotency.requests import IdempotencyKeyHeader, IdempotentRoute, begin
from callgrid.kit.clock import Now
from callgrid.kit.ids import optional_id, parse_id
from callgrid.kit.responses import PlainJSONResponse
from callgrid.scheduling import Schedule, ScheduleError, parse_weekday
from callgrid.tenancy import repository as tenancy
from callgrid.tenancy.auth import DECLARES_BEARER, CurrentPrincipal, Principal, authenticate
from callgrid.tenancy.schemas import HOSTNAME
from callgrid.validation import zone
from callgrid.video_calls import service
from callgrid.video_calls.render import Renderer, meeting_range, render_report
from callgrid.video_calls.schemas import (
    AvailabilityCheck,
    AvailabilityReport,
    GroupCancelled,
    GroupUpdated,
    ScheduleFields,
    VideoCallConflict,
    VideoCallCreate,
    VideoCallCreated,
    VideoCallDetail,
    VideoCallGroupUpdate,
    VideoCallPage,
    VideoCallUpdate,
)

PREFIX = "/api/v1/external/workshops/video-calls"


class _Route(SessionsRoute, IdempotentRoute):
    """Its handler inside the request's sessions (`SessionsRoute`), the idempotent answer
    stored inside them (`IdempotentRoute`)."""


router = APIRouter(prefix=PREFIX, tags=["video calls"], route_class=_Route)


_HOSTNAME = re.compile(HOSTNAME)


# The headers every operation of this API takes (`_renderer`, `_creating`).
WhitelabelHost = Annotated[
    str | None,
    Header(max_length=253, description="host name of the dashboard, e.g. `mydomain.example.com`; one registered to the "
                                       "organization (`POST /api/v1/whitelabel-domains`) brands the links"),
]
TimezoneOffset = Annotated[int, Header(ge=-720, le=840, description="minutes east of UTC")]


async def _renderer(
    request: Request,
    principal: CurrentPrincipal,
    x_whitelabel_host: WhitelabelHost = None,
    x_timezone_offset: TimezoneOffset = 0,
) -> Renderer:
    """The seed's `x-whitelabel-host` is the dashboard's host name: any valid host name is
    taken (and shown as the creator's `host`); the links are on it only when it is registered
    to the organization, else on CALLGRID_PUBLIC_URL."""
    dashboard = branded = None
    if x_whitelabel_host is not None:
        dashboard = x_whitelabel_host.strip().lower()
        if not _HOSTNAME.match(dashboard):
            raise BadRequest(f"{x_whitelabel_host.strip()!r} is not a host name", field="x-whitelabel-host")
        async with read_session(request.app.state.database) as session:
            if await tenancy.get_domain(session, principal.organization_id, dashboard) is not None:
                branded = dashboard
    return Renderer(
        now=request.app.state.clock(),
        public_url=request.app.state.settings.public_url,
        whitelabel_host=branded,
        offset=timedelta(minutes=x_timezone_offset),
        signer=request.app.state.rooms.signer,
        dashboard_host=dashboard,
    )


Rendering = Annotated[Renderer, Depends(_renderer)]


@dataclass(frozen=True, slots=True)
class _Creating:
    principal: Principal
    read: AsyncSession
    write: AsyncSession
    renderer: Renderer


async def _creating(
    request: Request,
    principal: Annotated[Principal, Depends(authenticate)],  # declared by the route (DECLARES_BEARER)
    x_whitelabel_host: WhitelabelHost = None,
    x_timezone_offset: TimezoneOffset = 0,
    idempotency_key: IdempotencyKeyHeader = None,
) -> _Creating:
    """What a create takes, as one dependency: the principal, the request's read and write
    sessions (opened by the route, `SessionsRoute`) and the renderer, from the same headers
    as `CurrentPrincipal`, `ReadSession`, `WriteSession` and `Rendering`. FastAPI's cost is
    per dependency (a solve of each, and of what each depends on again, cached or not): the
    five took about a fifth of a create's CPU. With an `Idempotency-Key`, the key is claimed
    as the write session's first statement."""
    renderer = await _renderer(request, principal, x_whitelabel_host, x_timezone_offset)
    sessions = request_sessions(request)
    if idempotency_key is not None:
        await begin(request, principal, sessions.write, idempotency_key)
    return _Creating(principal, sessions.read, sessions.write, renderer)


Creating = Annotated[_Creating, Depends(_creating)]


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


def _overlap_as_409(exc: OverlapConflict) -> Conflict:
    return Conflict(exc.message, extra=render_report(exc.report))


@router.post(
    "",
    status_code=201,
    summary="Create a one-time or recurring video call",
    responses={201: {"model": VideoCallCreated}, 409: {"model": VideoCallConflict}},
    openapi_extra=DECLARES_BEARER,
)
async def create_video_call(body: VideoCallCreate, context: Creating) -> JSONResponse:
    try:
        scheduled = await service.create(
            context.read,
            context.write,
            context.principal,
            product_id=parse_id(body.mango, what="mango", field="product_id"),
            title=body.title,
            schedule=_schedule(body),
            allow_overlap=body.allowOverlap,
            renderer=context.renderer,
        )
    except OverlapConflict as exc:
        raise _overlap_as_409(exc) from None
    response: dict[str, Any] = {"_id": str(scheduled.calls[0].id)}
    if scheduled.series is not None:
        response = {"_id": str(scheduled.series.id), "groupId": str(scheduled.series.id)}
    response["scheduledMeetingDates"] = [meeting_range(call) for call in scheduled.calls]
    return JSONResponse(response, status_code=201)  # plain JSON already: no second pass through a model


@router.post(
    "/check-availability",
    summary="Check a proposed slot for overlaps with the creator's calls",
    response_model=None,
    responses={200: {"model": AvailabilityReport}},
)
async def check_availability(
    body: AvailabilityCheck, principal: CurrentPrincipal, session: ReadSession, now: Now
) -> JSONResponse:
    report = await service.check_availability(
        session,
        principal,
        _schedule(body),
        now=now,
        exclude_call_id=optional_id(body.excludeVideocall),
        exclude_series_id=optional_id(body.groupId),
    )
    return PlainJSONResponse(render_report(report))


@router.get("", summary="List video calls grouped by date", response_model=None, responses={200: {"model": VideoCallPage}})
async def list_video_calls(
    request: Request,
    principal: CurrentPrincipal,
    session: ReadSession,
    renderer: Rendering,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    startDate: Annotated[datetime | None, Query(description="ISO date-time; default now")] = None,
    endDate: Annotated[datetime | None, Query(description="ISO date-time; default: no end")] = None,
    userId: Annotated[str | None, Query(max_length=64, description="a contact id")] = None,
    mangoes: Annotated[str | None, Query(max_length=4000, description="comma-separated product ids")] = None,
    groupId: Annotated[str | None, Query(max_length=64, description="only the occurrences of this series (its `groupId`)")] = None,
) -> JSONResponse:
    start = _aware(startDate, "startDate") if startDate else renderer.now
    end = _aware(endDate, "endDate") if endDate else None
    if end is not None and end <= start:
        raise BadRequest("must be after startDate", field="endDate")
    contact_id = None
    if userId is not None and userId.strip():  # blank is the same as not given
        contact_id = parse_id(userId, what="user", field="userId")
    series_id = None
    if groupId is not None and groupId.strip():  # blank is the same as not given
        series_id = parse_id(groupId.strip(), what="group", field="groupId")
    rows, total = await service.list_calls(
        session,
        principal,
        contact_id=contact_id,
        series_id=series_id,
        product_ids=_product_ids(mangoes),
        overlapping_from=start,
        overlapping_until=end,
        offset=(page - 1) * limit,
        limit=limit,
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    standings: dict = {}
    if rows:
        # The creators' scores and ranks by completed calls (computed at most once a minute).
        scores = await _score_board(request).of(session, principal.organization_id, renderer.now)
        standings = {host.id: scores.standing(host.id) for _, host, _ in rows}
    for call, host, product in rows:
        groups.setdefault(renderer.local_date(call), []).append(renderer.call(call, host, product, standings[host.id]))
    return PlainJSONResponse({"total": total, "data": [{"date": date, "calls": calls_} for date, calls_ in groups.items()]})


def _score_board(request: Request) -> ScoreBoard:
    board = getattr(request.app.state, "score_board", None)
    if board is None:
        board = request.app.state.score_board = ScoreBoard()
    return board


def _product_ids(mangoes: str | None):
    if mangoes is None:
        return None
    product_ids = []
    for raw in filter(None, (part.strip() for part in mangoes.split(","))):
        try:
            product_ids.append(parse_id(raw, what="mango", field="mangoes"))
        except Exception:
            raise BadRequest(f"{raw!r} is not a mango id", field="mangoes") from None
    return product_ids or None  # blank (or only commas) is the same as not given: all mangoes


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise BadRequest("must carry a time zone offset, e.g. 2025-06-01T00:00:00Z", field=field)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before the first UTC instant
        raise BadRequest("is out of range", field=field) from None


@router.get("/{call_id}", summary="One video call", response_model=None, responses={200: {"model": VideoCallDetail}})
async def get_video_call(call_id: str, principal: CurrentPrincipal, session: ReadSession, renderer: Rendering) -> JSONResponse:
    return _detail(renderer, *await service.get(session, principal, parse_id(call_id, what="video call")))


def _detail(renderer: Renderer, call, host, product) -> JSONResponse:
    """One call as its detail shows it: with the host's own link into the call's room."""
    return PlainJSONResponse({**renderer.call(call, host, product), "hostMeetingUrl": renderer.host_meeting_url(call, host)})


@router.patch(
    "/{call_id}",
    summary="Reschedule or rename one video call",
    response_model=None,
    responses={200: {"model": VideoCallDetail}, 409: {"model": VideoCallConflict}},
)
async def update_video_call(
    call_id: str, body: VideoCallUpdate, principal: CurrentPrincipal, session: WriteSession, renderer: Rendering
) -> JSONResponse:
    fields = body.model_dump(exclude_unset=True, exclude_none=True)
    move = None
    if fields.keys() & {"startDate", "fromTime", "timezoneName", "duration"}:
        move = service.Move(
            day=body.startDate,
            wall=body.fromTime,
            timezone=body.timezoneName,
            duration=timedelta(minutes=body.duration) if body.duration else None,
        )
    try:
        call, host, product = await service.update(
            session,
            principal,
            parse_id(call_id, what="video call"),
            renderer=renderer,
            title=body.title,
            move=move,
            allow_overlap=body.allowOverlap,
        )
    except OverlapConflict as exc:
        raise _overlap_as_409(exc) from None
    return _detail(renderer, call, host, product)


@router.patch(
    "/groups/{group_id}",
    summary="Change a whole series from a date on",
    response_model=None,
    responses={
        200: {"model": GroupUpdated},
        409: {"model": VideoCallConflict, "description": "The series' new times overlap the creator's other calls (with the overlaps)"},
    },
)
async def update_group(
    group_id: str, body: VideoCallGroupUpdate, principal: CurrentPrincipal, session: WriteSession, renderer: Rendering
) -> JSONResponse:
    """Title, time (`fromTime`, `timezoneName`), `duration`, days (`repeatingDays`; null: every
    day) or `endDate` of the series' occurrences on or after `fromDate`, checked for overlaps and
    written all at once like a create: occurrences on days the series keeps change in place (same
    `_id`, room and links), days it gains get new occurrences, days it loses are cancelled.
    Occurrences that have started, and those cancelled one by one, are left alone."""
    series_id = parse_id(group_id, what="group", field="group_id")
    weekdays: object = scheduling.UNCHANGED
    if "repeatingDays" in body.model_fields_set:
        try:
            weekdays = None if body.repeatingDays is None else frozenset(parse_weekday(day) for day in body.repeatingDays)
        except ScheduleError as exc:
            raise BadRequest(exc.rule, field=exc.field) from None
    change = scheduling.SeriesChange(
        from_date=body.fromDate,
        title=body.title,
        local_start=body.fromTime,
        duration=timedelta(minutes=body.duration) if body.duration else None,
        timezone=zone(body.timezoneName) if body.timezoneName else None,
        weekdays=weekdays,
        end_date=body.endDate,
        allow_overlap=body.allowOverlap,
    )
    try:
        changed = await service.update_group(session, principal, series_id, change, renderer=renderer)
    except OverlapConflict as exc:
        raise _overlap_as_409(exc) from None
    return PlainJSONResponse({
        "_id": str(series_id),
        "groupId": str(series_id),
        "fromDate": changed.from_date.isoformat(),
        "scheduledMeetingDates": [meeting_range(call) for call in changed.upcoming],
        "cancelledMeetingDates": [meeting_range(call) for call in changed.cancelled],
        "updatedCount": len(changed.moved),
        "createdCount": len(changed.created),
        "cancelledCount": len(changed.cancelled),
    })


@router.delete(
    "/groups/{group_id}",
    summary="Cancel every occurrence of a series that has not started",
    response_model=None,
    responses={200: {"model": GroupCancelled}},
)
async def cancel_group(group_id: str, principal: CurrentPrincipal, session: WriteSession, renderer: Rendering) -> JSONResponse:
    series_id = parse_id(group_id, what="group", field="group_id")
    cancelled = await service.cancel_group(session, principal, series_id, renderer=renderer)
    return PlainJSONResponse({
        "_id": str(series_id),
        "groupId": str(series_id),
        "cancelledCount": len(cancelled),
        "cancelledMeetingDates": [meeting_range(call) for call in cancelled],
    })


@router.delete("/{call_id}", summary="Cancel one video call", response_model=None, responses={200: {"model": VideoCallDetail}})
async def cancel_video_call(call_id: str, principal: CurrentPrincipal, session: WriteSession, renderer: Rendering) -> JSONResponse:
    call, host, product = await service.cancel(session, principal, parse_id(call_id, what="video call"), renderer=renderer)
    return _detail(renderer, call, host, product)
