"""The replay of a room (docs/rooms.md, Replay): `/rooms/{id}/replay`, a page that plays the
room's timeline (chat, the whiteboard as it was, who was there) with a seek bar over the whole
meeting, and what it reads.

Who may open it follows the room's type, as joining does but also once the room has ended: an
`open` room's replay is anyone's with the link; a `public` room's needs a valid token for the
room (any `user_id`); a `private` room's a token of one of its members. A room key (a video
call's `meetingUrl`) opens the replay of a room that is not private. Tokens for an ended room
come from `POST /v1/rooms/{id}/replay-tokens` (join tokens are refused for ended rooms).

The page's data: `GET /v1/rooms/{id}/replay?token=...&after=...` (the same credentials, no API
key): the room, a page of its timeline, and its recordings, each with a signed link to its file
(`media_url`): `/v1/rooms/{id}/replay/recordings/{rid}/media?expires=...&signature=...`, an
HMAC of the room, the recording and the expiry, good for `MEDIA_LINK_SECONDS` (never past the
token's own expiry) and for that one file only. No token or key goes into a media URL, and a
link opens nothing else; the page asks for new links when one has expired.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from callgrid.db.session import ReadSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.errors import BadRequest, CallgridError, NotFound
from callgrid.kit.clock import Now
from callgrid.kit.ids import parse_id
from callgrid.kit.models import StrictModel
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms import repository, service, timeline
from callgrid.rooms.models import Room, RoomType
from callgrid.rooms.page import _PAGE_HEADERS, STATIC
from callgrid.rooms.recording.endpoints import media_answer
from callgrid.rooms.recording.models import Recording
from callgrid.rooms.recording.service import get_recording
from callgrid.rooms.schemas import Name, UserId
from callgrid.rooms.tokens import TokenError
from callgrid.tenancy.auth import CurrentPrincipal

pages = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/v1/rooms", tags=["rooms"], route_class=IdempotentRoute)

PAGE_SIZE = 1000
MEDIA_LINK_SECONDS = 3600


class _Refused(CallgridError):
    def __init__(self, status: int, title: str, message: str, field: str = "token"):
        super().__init__(message, field=field)
        self.status_code, self.title = status, title


def _missing(room_id: str) -> _Refused:
    return _Refused(404, "Not Found", f"no room with id {room_id}", field="id")


class Admission(NamedTuple):
    room: Room
    user_id: str | None  # the token's (None: no token)
    expires_at: datetime | None  # the token's expiry (None: no token)


async def admitted(request: Request, session, room_id: str, token: str | None, key: str | None) -> Admission:
    """The room whose replay these credentials open, and whose they are."""
    try:
        parsed = UUID(room_id)
    except ValueError:
        raise _missing(room_id) from None
    room = await repository.get_any_room(session, parsed)
    if room is None:
        raise _missing(room_id)
    signer = request.app.state.rooms.signer
    if token:
        try:
            claims = signer.verify(token, room.id, request.app.state.clock())
        except TokenError as exc:
            raise _Refused(401, "Unauthorized", str(exc)) from None
        if room.type == RoomType.PRIVATE and await repository.get_member(session, room.id, claims.user_id) is None:
            raise _Refused(403, "Forbidden", "not a member of this private room")
        return Admission(room, claims.user_id, claims.expires_at)
    if key:
        if not signer.check_room_key(room.id, key):
            raise _Refused(401, "Unauthorized", "invalid room key", field="key")
        if room.type == RoomType.PRIVATE:
            raise _Refused(403, "Forbidden", "a private room's replay needs a member's token", field="key")
        return Admission(room, None, None)
    if room.type != RoomType.OPEN:
        raise _Refused(401, "Unauthorized", "a token is required")
    return Admission(room, None, None)


def media_link(request: Request, recording: Recording, expires: int) -> str:
    """The signed link to a recording's file, good until `expires` (Unix seconds)."""
    signature = request.app.state.rooms.signer.media_signature(recording.room_id, recording.id, expires)
    base = request.app.state.settings.public_url.rstrip("/")
    return f"{base}/v1/rooms/{recording.room_id}/replay/recordings/{recording.id}/media?expires={expires}&signature={signature}"


def _recording(request: Request, recording: Recording, expires: int) -> dict[str, Any]:
    return {
        "id": str(recording.id),
        "session_id": recording.session_id,
        "member_id": recording.member_id,
        "user_id": recording.user_id,
        "started_at": utc_millis(recording.started_at),
        "ended_at": utc_millis(recording.ended_at) if recording.ended_at else None,
        "duration_ms": recording.duration_ms,
        "media_type": recording.media_type,
        "status": recording.status,
        "media_url": media_link(request, recording, expires),
        "media_expires_at": utc_millis(datetime.fromtimestamp(expires, UTC)),
    }


@pages.get("/rooms/{room_id}/replay")
async def replay_page(room_id: str) -> Response:
    return FileResponse(STATIC / "replay.html", media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@pages.get("/v1/rooms/{room_id}/replay")
async def replay_data(
    room_id: str,
    request: Request,
    session: ReadSession,
    token: Annotated[str | None, Query(max_length=4096)] = None,
    key: Annotated[str | None, Query(max_length=256)] = None,
    after: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """The room, a page of its timeline (PAGE_SIZE events after `after`), and its recordings."""
    room, _, token_expires_at = await admitted(request, session, room_id, token, key)
    cursor = None
    if after:
        cursor = timeline.parse_cursor(after)
        if cursor is None:
            raise BadRequest("is not a position this API gave out", field="after")
    events = await timeline.page(session, room.id, after=cursor, limit=PAGE_SIZE)
    now = request.app.state.clock()
    expires = int((now + timedelta(seconds=MEDIA_LINK_SECONDS)).timestamp())
    if token_expires_at is not None:
        expires = min(expires, int(token_expires_at.timestamp()))
    recordings = (
        await session.execute(select(Recording).where(Recording.room_id == room.id).order_by(Recording.started_at))
    ).scalars().all()
    return {
        "room": {
            "id": str(room.id),
            "name": room.name,
            "type": room.type,
            "parent_id": str(room.parent_id) if room.parent_id else None,
            "started_at": utc_millis(room.started_at) if room.started_at else None,
            "terminated_at": utc_millis(room.terminated_at) if room.terminated_at else None,
            "created_at": utc_millis(room.created_at),
        },
        "now": utc_millis(now),
        "events": [timeline.render(event) for event in events],
        "paging": {"limit": PAGE_SIZE, "next": timeline.cursor_of(events[-1]) if len(events) == PAGE_SIZE else None},
        "recordings": [_recording(request, r, expires) for r in recordings] if cursor is None else [],
    }


@pages.api_route("/v1/rooms/{room_id}/replay/recordings/{recording_id}/media", methods=["GET", "HEAD"])
async def replay_media(
    room_id: str,
    recording_id: str,
    request: Request,
    session: ReadSession,
    expires: Annotated[int, Query(ge=0, le=2**40)],
    signature: Annotated[str, Query(min_length=1, max_length=128)],
) -> Response:
    """A recording's file through a signed link of the replay data (byte ranges as the API's
    media answer). The signature is checked before anything is read."""
    parsed_room = parse_id(room_id, what="room")
    parsed = parse_id(recording_id, what="recording", field="recording_id")
    signer = request.app.state.rooms.signer
    if not signer.check_media_signature(parsed_room, parsed, expires, signature):
        raise _Refused(401, "Unauthorized", "is not a valid media link signature", field="signature")
    if expires <= request.app.state.clock().timestamp():
        raise _Refused(401, "Unauthorized", "the media link has expired; the replay data gives new ones", field="expires")
    recording = await get_recording(session, parsed_room, parsed)
    if recording is None:
        raise NotFound(f"no recording with id {recording_id} in this room", field="recording_id")
    return media_answer(request, recording)


class ReplayTokenCreate(StrictModel):
    user_id: UserId
    name: Name | None = None
    ttl_seconds: int = Field(default=7 * 86_400, ge=60, le=30 * 86_400)


class ReplayToken(BaseModel):
    token: str
    replay_url: str
    expires_at: str


@router.post(
    "/{room_id}/replay-tokens", response_model=ReplayToken, summary="A link to the room's replay for one user_id",
    dependencies=[Idempotent],
)
async def create_replay_token(room_id: str, body: ReplayTokenCreate, request: Request, principal: CurrentPrincipal,
                              session: ReadSession, now: Now) -> dict[str, str]:
    """A token for the room's replay page (also for a room that has ended); in a private room
    only for a member. `ttl_seconds` 60..2,592,000, default a week."""
    room = await service.get(session, principal.organization_id, room_id, host_id=principal.host_scope)
    if room.type == RoomType.PRIVATE and await repository.get_member(session, room.id, body.user_id) is None:
        raise BadRequest("is not a member of this private room", field="user_id")
    expires_at = datetime.fromtimestamp(int((now + timedelta(seconds=body.ttl_seconds)).timestamp()), UTC)
    token = request.app.state.rooms.signer.issue(room.id, body.user_id, expires_at, body.name)
    base = request.app.state.settings.public_url.rstrip("/")
    return {"token": token, "replay_url": f"{base}/rooms/{room.id}/replay?token={token}", "expires_at": utc_millis(expires_at)}

