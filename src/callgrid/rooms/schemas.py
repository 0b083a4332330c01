"""The rooms API's bodies and answers (the seed's names: snake_case)."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from callgrid.kit.models import StrictModel
from callgrid.rooms.models import MemberType, RoomType
from callgrid.webhooks.schemas import HeaderNames, Headers, Url, _headers, _url

Name = Annotated[str, Field(min_length=1, max_length=255)]
UserId = Annotated[str, Field(min_length=1, max_length=255, description="the client's own id for the person, unique in the room")]
MaxMeetingSeconds = Annotated[int, Field(ge=1, le=86_400, description="the room ends when its meeting time reaches this")]
MAX_MEMBERS_PER_REQUEST = 1000


class MemberIn(StrictModel):
    user_id: UserId
    type: MemberType = MemberType.MEMBER
    name: Name | None = None


class WebhookIn(StrictModel):
    url: Url
    headers: Headers = Field(default_factory=dict)

    _check_url = field_validator("url")(_url)
    _check_headers = field_validator("headers")(_headers)


def _unique_user_ids(members: list[MemberIn]) -> list[MemberIn]:
    seen: dict[str, int] = {}
    for index, member in enumerate(members):
        if member.user_id in seen:
            raise ValueError(f"user_id {member.user_id!r} of members[{index}] is also members[{seen[member.user_id]}]")
        seen[member.user_id] = index
    return members


class RoomCreate(StrictModel):
    name: Name
    type: RoomType
    record: bool = True
    max_meeting_seconds: MaxMeetingSeconds | None = None
    members: list[MemberIn] = Field(default_factory=list, max_length=MAX_MEMBERS_PER_REQUEST)
    webhook: WebhookIn | None = None

    _check_members = field_validator("members")(_unique_user_ids)


class RoomUpdate(StrictModel):
    """Fields to change; `max_meeting_seconds: null` removes the maximum, `webhook: null` the webhook."""

    name: Name | None = None
    type: RoomType | None = None
    record: bool | None = None
    max_meeting_seconds: MaxMeetingSeconds | None = None
    webhook: WebhookIn | None = None


class MembersAdd(StrictModel):
    members: list[MemberIn] = Field(min_length=1, max_length=MAX_MEMBERS_PER_REQUEST)

    _check_members = field_validator("members")(_unique_user_ids)


class JoinTokenCreate(StrictModel):
    user_id: UserId
    name: Name | None = None
    ttl_seconds: int = Field(default=3600, ge=60, le=86_400)


# --- answers -------------------------------------------------------------------------------


class WebhookOut(BaseModel):
    url: str
    header_names: HeaderNames


class RoomOut(BaseModel):
    id: str
    application_id: str
    type: Literal["open", "public", "private"]
    name: str
    thumbnail_url: str | None
    layout: Literal["SixAll"]
    record: bool
    meeting_time: int
    is_terminated: bool
    max_meeting_seconds: int | None
    members_count: int
    url: str
    webhook: WebhookOut | None
    parent_id: str | None = Field(description="a breakout room's main room (docs/rooms.md, Breakout rooms); null otherwise")
    started_at: str | None
    terminated_at: str | None
    updated_at: str
    created_at: str


class Paging(BaseModel):
    limit: int
    offset: int
    total: int


class RoomCreated(BaseModel):
    room: RoomOut
    paging: Paging
    webhook_secret: str | None = Field(default=None, description="the room webhook's signing secret: shown only here")


class RoomAnswer(BaseModel):
    room: RoomOut
    webhook_secret: str | None = Field(default=None, description="present when this change set the room's first webhook")


class RoomList(BaseModel):
    rooms: list[RoomOut]
    paging: Paging


class MemberOut(BaseModel):
    id: str
    user_id: str
    type: Literal["host", "member", "guest"]
    name: str | None
    created_at: str
    updated_at: str


class MemberList(BaseModel):
    members: list[MemberOut]
    paging: Paging | None = None


class ParticipantOut(BaseModel):
    session_id: str
    member_id: str
    user_id: str | None
    name: str
    role: Literal["host", "member", "guest"]
    joined_at: str
    audio_muted: bool
    video_muted: bool
    screen_sharing: bool
    hand_raised: bool


class SessionList(BaseModel):
    sessions: list[ParticipantOut]
    sessions_count: int
    members_count: int


class JoinToken(BaseModel):
    token: str
    join_url: str
    ws_url: str
    expires_at: str


class SecretOut(BaseModel):
    webhook_secret: str


class JoinInfoRoom(BaseModel):
    id: str
    name: str
    type: str
    max_meeting_seconds: int | None
    is_terminated: bool


class JoinInfoUser(BaseModel):
    user_id: str
    name: str
    role: str


class JoinInfo(BaseModel):
    """What the room page needs before it connects (`GET /v1/rooms/{id}/join-info`)."""

    room: JoinInfoRoom
    user: JoinInfoUser | None = Field(description="null for a guest (an open room, or a room key)")
    features: dict[str, bool]
    recording: bool = Field(description="the room records its participants (`record`): the page says so")
    ice_servers: list[dict] = Field(description="CALLGRID_ICE_SERVERS: RTCIceServer objects")
    ws_url: str
    heartbeat_interval_seconds: float
    heartbeat_timeout_seconds: float


class SessionPayload(BaseModel):
    """The seed's webhook payload (camelCase, as the seed writes it)."""

    roomId: str
    userId: str | None = None
    memberId: str
    sessionId: str
    sessionsCount: int
    membersCount: int
    timestamp: str


class SessionWebhook(BaseModel):
    """The body a room's webhook receives, and the `data` of `room.session_joined` / `room.session_left`."""

    action: Literal["sessionJoined", "sessionLeft"]
    payload: SessionPayload
