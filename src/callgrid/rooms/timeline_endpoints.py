"""`GET /v1/rooms/{id}/timeline`: what happened in a room, in order (docs/rooms.md, Timeline)."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from callgrid.db.session import ReadSession
from callgrid.errors import BadRequest
from callgrid.rooms import service, timeline
from callgrid.tenancy.auth import CurrentPrincipal

router = APIRouter(prefix="/v1/rooms", tags=["rooms"])


class TimelineEvent(BaseModel):
    id: str
    type: str = Field(description=f"one of {', '.join(timeline.EVENT_TYPES)}")
    at: str = Field(description="when it happened (UTC, milliseconds)")
    session_id: str | None = Field(description="the participant session it is about (null for the server's own: a time limit)")
    member_id: str | None
    user_id: str | None
    name: str | None = Field(description="the participant's display name at the time")
    data: dict[str, Any] = Field(description="the event's own fields (docs/rooms.md, Timeline)")


class TimelinePaging(BaseModel):
    limit: int
    next: str | None = Field(
        description="the position after this page's last event, to pass as `after` (null for an empty page); "
        "a page shorter than `limit` is the end of the timeline so far"
    )


class TimelinePage(BaseModel):
    room_id: str
    events: list[TimelineEvent]
    paging: TimelinePaging


@router.get("/{room_id}/timeline", response_model=TimelinePage, summary="What happened in the room, in order")
async def get_timeline(
    room_id: str,
    principal: CurrentPrincipal,
    session: ReadSession,
    since: Annotated[datetime | None, Query(description="events at or after this moment (ISO 8601)")] = None,
    after: Annotated[str | None, Query(max_length=100, description="a previous page's `paging.next`: the events after it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="events per page, 1..1000")] = 100,
    types: Annotated[str | None, Query(max_length=1000, description="comma-separated event types to keep (all when left out)")] = None,
) -> dict[str, Any]:
    room = await service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    cursor = None
    if after:
        cursor = timeline.parse_cursor(after)
        if cursor is None:
            raise BadRequest("is not a position this API gave out (a page's `paging.next`)", field="after")
    kinds = None
    if types:
        kinds = [t.strip() for t in types.split(",") if t.strip()]
        unknown = [t for t in kinds if t not in timeline.EVENT_TYPES]
        if unknown:
            raise BadRequest(f"unknown event type {unknown[0]!r}; known: {', '.join(timeline.EVENT_TYPES)}", field="types")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    events = await timeline.page(session, room.id, since=since, after=cursor, limit=limit, types=kinds)
    return {
        "room_id": str(room.id),
        "events": [timeline.render(event) for event in events],
        "paging": {"limit": limit, "next": timeline.cursor_of(events[-1]) if events else None},
    }
