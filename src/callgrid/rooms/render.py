"""Rooms, members and sessions into the rooms API's JSON (the seed's names)."""

from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from callgrid.kit.timestamps import utc_millis
from callgrid.rooms.hub import Clock
from callgrid.rooms.models import Room, RoomMember
from callgrid.webhooks.models import WebhookEndpoint


def _stamp(value) -> str | None:
    return utc_millis(value) if value is not None else None


def page_url(base_url: str, room_id) -> str:
    return f"{base_url.rstrip('/')}/rooms/{room_id}"


def ws_url(base_url: str, room_id) -> str:
    """The live endpoint on `base_url`'s origin, `ws://` or `wss://` as it is http or https."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/v1/rooms/{room_id}/live", "", ""))


def with_token(url: str, token: str) -> str:
    return f"{url}?token={quote(token, safe='')}"


def room(
    row: Room,
    *,
    members_count: int,
    public_url: str,
    webhook: WebhookEndpoint | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """`clock`: the live meeting clock, when the hub has one (it includes the running stretch)."""
    meeting_time = row.meeting_time_ms
    if clock is not None and row.terminated_at is None:  # an ended room's time is final
        meeting_time = max(meeting_time, clock.meeting_ms())
    return {
        "id": str(row.id),
        "application_id": str(row.organization_id),
        "type": row.type,
        "name": row.name,
        "thumbnail_url": row.thumbnail_url,
        "layout": "SixAll",
        "record": row.record,
        "meeting_time": meeting_time,
        "is_terminated": row.terminated_at is not None,
        "max_meeting_seconds": row.max_meeting_seconds,
        "members_count": members_count,
        "url": page_url(public_url, row.id),
        "webhook": {"url": webhook.url, "header_names": list(webhook.headers or {})} if webhook is not None else None,
        "parent_id": str(row.parent_id) if row.parent_id is not None else None,
        "started_at": _stamp(row.started_at),
        "terminated_at": _stamp(row.terminated_at),
        "updated_at": utc_millis(row.updated_at),
        "created_at": utc_millis(row.created_at),
    }


def member(row: RoomMember) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "user_id": row.user_id,
        "type": row.type,
        "name": row.name,
        "created_at": utc_millis(row.created_at),
        "updated_at": utc_millis(row.updated_at),
    }


def paging(limit: int, offset: int, total: int) -> dict[str, int]:
    return {"limit": limit, "offset": offset, "total": total}


def session_webhook(action: str, *, room_id, participant, sessions_count: int, members_count: int, timestamp) -> dict[str, Any]:
    """The seed's body: `{"action", "payload": {roomId, userId?, memberId, sessionId, sessionsCount, membersCount, timestamp}}`."""
    payload: dict[str, Any] = {"roomId": str(room_id)}
    if participant.user_id is not None:
        payload["userId"] = participant.user_id
    payload.update(
        memberId=participant.member_id,
        sessionId=participant.session_id,
        sessionsCount=sessions_count,
        membersCount=members_count,
        timestamp=utc_millis(timestamp),
    )
    return {"action": action, "payload": payload}
