"""Rooms: create, change, terminate; members; join tokens; the rooms of calls. Services flush;
the request's session commits. What the live rooms must do once a change is committed (end a
room, disconnect a removed member, re-arm the clock) is queued with `actions.after_commit`."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.db.base import new_id
from callgrid.errors import BadRequest, Conflict, NotFound
from callgrid.kit.ids import parse_id
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms import actions, render, repository
from callgrid.rooms.models import MemberType, Room, RoomEvent, RoomMember, RoomSource, RoomType
from callgrid.rooms.schemas import JoinTokenCreate, MemberIn, RoomCreate, RoomUpdate
from callgrid.rooms.tokens import RoomSigner
from callgrid.webhooks.events import EventType, emit
from callgrid.webhooks.models import WebhookEndpoint
from callgrid.webhooks.service import rotate_owned_secret, set_owned_endpoint

# A room holds at most this many members.
MAX_MEMBERS = 10_000

_ROOMS = Room.__table__
_MEMBERS = RoomMember.__table__


@dataclass
class RoomView:
    """A room with what its rendering needs beside its row."""

    room: Room
    members_count: int
    webhook: WebhookEndpoint | None


def room_not_found(room_id: object) -> NotFound:
    return NotFound(f"no room with id {room_id}", field="id")


async def get(
    session: AsyncSession, organization_id: UUID, room_id: str, *, for_update: bool = False, host_id: UUID | None = None
) -> Room:
    """The organization's room; another organization's reads exactly as a missing one, and so
    does, with `host_id` (a host key), another host's."""
    parsed = parse_id(room_id, what="room")
    room = await repository.get_room(session, organization_id, parsed, for_update=for_update, host_id=host_id)
    if room is None:
        raise room_not_found(room_id)
    return room


async def view(session: AsyncSession, room: Room) -> RoomView:
    counts = await repository.members_counts(session, [room.id])
    hooks = await repository.webhooks_of(session, [room.webhook_endpoint_id])
    return RoomView(room, counts.get(room.id, 0), hooks.get(room.webhook_endpoint_id))


async def views(session: AsyncSession, rooms: Sequence[Room]) -> list[RoomView]:
    counts = await repository.members_counts(session, [room.id for room in rooms])
    hooks = await repository.webhooks_of(session, [room.webhook_endpoint_id for room in rooms])
    return [RoomView(room, counts.get(room.id, 0), hooks.get(room.webhook_endpoint_id)) for room in rooms]


def _member_row(room_id: UUID, member: MemberIn, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "room_id": room_id,
        "user_id": member.user_id,
        "type": member.type.value,
        "name": member.name,
        "created_at": now,
        "updated_at": now,
    }


async def create(
    session: AsyncSession, organization_id: UUID, body: RoomCreate, *, now: datetime, allow_private: bool,
    host_id: UUID | None = None,
) -> tuple[RoomView, str | None]:
    """A room of `host_id` (the creating key's host) with its members and webhook; the webhook's
    secret (shown once) when one was given."""
    endpoint = secret = None
    if body.webhook is not None:
        endpoint, secret = await set_owned_endpoint(
            session, organization_id, None, url=body.webhook.url, headers=body.webhook.headers, allow_private=allow_private, now=now
        )
    room = Room(
        id=new_id(),
        organization_id=organization_id,
        source=RoomSource.API.value,
        name=body.name,
        type=body.type.value,
        record=body.record,
        max_meeting_seconds=body.max_meeting_seconds,
        thumbnail_url=None,
        meeting_time_ms=0,
        started_at=None,
        terminated_at=None,
        termination_reason=None,
        webhook_endpoint_id=endpoint.id if endpoint is not None else None,
        host_id=host_id,
        created_at=now,
        updated_at=now,
    )
    session.add(room)
    await session.flush()
    if body.members:
        await session.execute(insert(_MEMBERS), [_member_row(room.id, member, now) for member in body.members])
    return RoomView(room, len(body.members), endpoint), secret


async def update_room(
    session: AsyncSession, room: Room, body: RoomUpdate, *, now: datetime, allow_private: bool
) -> tuple[RoomView, str | None]:
    fields = body.model_fields_set
    for name in ("name", "type", "record"):
        if name in fields and getattr(body, name) is None:
            raise BadRequest("must not be null", field=name)
    secret = None
    if "webhook" in fields:
        current = await session.get(WebhookEndpoint, room.webhook_endpoint_id) if room.webhook_endpoint_id else None
        if body.webhook is None:
            if current is not None:
                room.webhook_endpoint_id = None
                await session.flush()
                await session.delete(current)  # its pending deliveries go with it
        else:
            endpoint, secret = await set_owned_endpoint(
                session, room.organization_id, current, url=body.webhook.url, headers=body.webhook.headers,
                allow_private=allow_private, now=now,
            )
            room.webhook_endpoint_id = endpoint.id
    if "name" in fields:
        room.name = body.name
    if "type" in fields:
        room.type = body.type.value
    if "record" in fields:
        room.record = body.record
    if "max_meeting_seconds" in fields and body.max_meeting_seconds != room.max_meeting_seconds:
        room.max_meeting_seconds = body.max_meeting_seconds
        actions.after_commit(session, ("limits", room.id, body.max_meeting_seconds))
    room.updated_at = now
    await session.flush()
    return await view(session, room), secret


async def rotate_webhook_secret(session: AsyncSession, room: Room, now: datetime) -> str:
    endpoint = await session.get(WebhookEndpoint, room.webhook_endpoint_id) if room.webhook_endpoint_id else None
    if endpoint is None:
        raise Conflict("the room has no webhook; set one with PATCH first", field="webhook")
    return await rotate_owned_secret(session, endpoint, now)


async def mark_terminated(
    session: AsyncSession, room: Room, *, now: datetime, reason: str, meeting_ms: int, public_url: str
) -> bool:
    """Mark the room ended (with its final meeting time) and emit `room.terminated`; False if it
    already was. The caller tells the live rooms (after the commit)."""
    if room.terminated_at is not None:
        return False
    room.terminated_at = now
    room.termination_reason = reason
    room.meeting_time_ms = max(room.meeting_time_ms, meeting_ms)
    room.updated_at = now
    await session.flush()
    current = await view(session, room)
    data = render.room(room, members_count=current.members_count, public_url=public_url, webhook=current.webhook)
    await emit(session, room.organization_id, EventType.ROOM_TERMINATED, data)
    # The end in the room's timeline (callgrid.rooms.timeline), with the change: once, however it ended.
    session.add(RoomEvent(id=new_id(), room_id=room.id, at=now, type="room_terminated", data={"reason": reason}))
    return True


async def terminate(
    session: AsyncSession, room: Room, *, now: datetime, reason: str, meeting_ms: int, public_url: str
) -> None:
    """End the room now (an API call, a cancelled call): every participant is disconnected once
    this commits. Terminating a terminated room changes nothing."""
    if await mark_terminated(session, room, now=now, reason=reason, meeting_ms=meeting_ms, public_url=public_url):
        actions.after_commit(session, ("end", room.id, reason))


# --- members ------------------------------------------------------------------------------------


async def add_members(session: AsyncSession, room: Room, items: list[MemberIn], now: datetime) -> list[RoomMember]:
    """All or nothing: a `user_id` already in the room refuses the whole list (409)."""
    if room.terminated_at is not None:
        raise Conflict("the room is terminated", field="id")
    present = {m.user_id for m in await repository.members_with_user_ids(session, room.id, [i.user_id for i in items])}
    for index, item in enumerate(items):
        if item.user_id in present:
            raise Conflict(f"{item.user_id!r} is already a member of this room", field=f"members[{index}].user_id")
    count = (await repository.members_counts(session, [room.id])).get(room.id, 0)
    if count + len(items) > MAX_MEMBERS:
        raise BadRequest(f"a room has at most {MAX_MEMBERS} members; it has {count}", field="members")
    rows = [_member_row(room.id, item, now) for item in items]
    try:
        async with session.begin_nested():
            await session.execute(insert(_MEMBERS), rows)
    except IntegrityError:
        raise Conflict("some of these user_ids were added to the room at the same moment by another request; nothing was added",
                       field="members") from None
    room.updated_at = now
    await session.flush()
    return [RoomMember(**row) for row in rows]


async def remove_member(session: AsyncSession, room: Room, user_id: str, now: datetime) -> None:
    member = await repository.get_member(session, room.id, user_id)
    if member is None:
        raise NotFound(f"{user_id!r} is not a member of this room", field="user_id")
    await session.delete(member)
    room.updated_at = now
    await session.flush()
    actions.after_commit(session, ("kick", room.id, user_id))


# --- join tokens -----------------------------------------------------------------------------------


async def join_token(
    session: AsyncSession, signer: RoomSigner, room: Room, body: JoinTokenCreate, *, now: datetime, public_url: str
) -> dict[str, str]:
    if room.terminated_at is not None:
        raise Conflict("the room is terminated: it refuses every join", field="id")
    if room.type == RoomType.PRIVATE and await repository.get_member(session, room.id, body.user_id) is None:
        raise BadRequest("is not a member of this private room; add them first", field="user_id")
    # Whole seconds, as the token's `exp` carries it.
    expires_at = datetime.fromtimestamp(int((now + timedelta(seconds=body.ttl_seconds)).timestamp()), UTC)
    token = signer.issue(room.id, body.user_id, expires_at, body.name)
    return {
        "token": token,
        "join_url": render.with_token(render.page_url(public_url, room.id), token),
        "ws_url": render.with_token(render.ws_url(public_url, room.id), token),
        "expires_at": utc_millis(expires_at),
    }


# --- the rooms of calls ------------------------------------------------------------------------------
# A call's room has the call's id, its title as name, is private, records nothing, has no
# maximum. Its members: the host (a video call) or the participants (an appointment).


def call_room_row(
    organization_id: UUID, call_id: UUID, title: str, source: RoomSource, now: datetime, host_id: UUID | None
) -> dict[str, Any]:
    return {
        "id": call_id,
        "organization_id": organization_id,
        "source": source.value,
        "name": title[:255],
        "type": RoomType.PRIVATE.value,
        "record": False,
        "max_meeting_seconds": None,
        "thumbnail_url": None,
        "meeting_time_ms": 0,
        "started_at": None,
        "terminated_at": None,
        "termination_reason": None,
        "webhook_endpoint_id": None,
        "host_id": host_id,
        "created_at": now,
        "updated_at": now,
    }


_INSERT_ROOMS = insert(_ROOMS)
_INSERT_MEMBERS = insert(_MEMBERS)


def video_call_room_steps(calls: Sequence, host_id: UUID, host_name: str | None, now: datetime) -> list[tuple]:
    """A write section's steps (callgrid.db.sections) creating the rooms of new video calls,
    each with the host as its one member (type `host`): to run in the calls' own transaction."""
    if not calls:
        return []
    rooms = [call_room_row(call.organization_id, call.id, call.title, RoomSource.VIDEO_CALL, now, host_id) for call in calls]
    members = [
        {"id": new_id(), "room_id": call.id, "user_id": str(host_id), "type": MemberType.HOST.value,
         "name": host_name, "created_at": now, "updated_at": now}
        for call in calls
    ]
    return [(_INSERT_ROOMS, rooms), (_INSERT_MEMBERS, members)]


def booking_room_steps(call, host, contact, now: datetime) -> list[tuple]:
    """The room of a booking's call: its host (type `host`) and the invitee (a member whose
    user id is the contact's id)."""
    invitee = " ".join(part for part in (contact.first_name, contact.last_name) if part) or contact.email or None
    members = [
        {"id": new_id(), "room_id": call.id, "user_id": str(host.id), "type": MemberType.HOST.value,
         "name": host.name, "created_at": now, "updated_at": now},
        {"id": new_id(), "room_id": call.id, "user_id": str(contact.id), "type": MemberType.MEMBER.value,
         "name": invitee, "created_at": now, "updated_at": now},
    ]
    room = call_room_row(call.organization_id, call.id, call.title, RoomSource.BOOKING, now, host.id)
    return [(_INSERT_ROOMS, [room]), (_INSERT_MEMBERS, members)]


def _participant_member(participant) -> tuple[str, str | None]:
    kind = MemberType.HOST.value if participant.role == "moderator" else MemberType.MEMBER.value
    return kind, participant.display_name


async def create_appointment_room(session: AsyncSession, call, participants: Sequence, now: datetime) -> None:
    """The room of a new appointment, its participants as members (moderators as hosts)."""
    row = call_room_row(call.organization_id, call.id, call.title, RoomSource.APPOINTMENT, now, call.created_by_host_id)
    await session.execute(_INSERT_ROOMS, [row])
    await sync_appointment_members(session, call.id, participants, now)


async def sync_appointment_members(session: AsyncSession, call_id: UUID, participants: Sequence, now: datetime) -> None:
    """The room's members made the appointment's participants (by `unique_id`): added, changed,
    removed (a removed participant's sessions are disconnected once this commits)."""
    room = await session.get(Room, call_id)
    if room is None:
        return  # an appointment made before rooms existed
    wanted = {p.unique_id: _participant_member(p) for p in participants}
    current = {
        m.user_id: m
        for m in (await session.execute(select(RoomMember).where(RoomMember.room_id == call_id))).scalars().all()
    }
    gone = [user_id for user_id in current if user_id not in wanted]
    if gone:
        await session.execute(delete(RoomMember).where(RoomMember.room_id == call_id, RoomMember.user_id.in_(gone)))
        for user_id in gone:
            actions.after_commit(session, ("kick", call_id, user_id))
    new_rows = []
    for user_id, (kind, name) in wanted.items():
        member = current.get(user_id)
        if member is None:
            new_rows.append({"id": new_id(), "room_id": call_id, "user_id": user_id, "type": kind, "name": name,
                             "created_at": now, "updated_at": now})
        elif (member.type, member.name) != (kind, name):
            member.type, member.name, member.updated_at = kind, name, now
    if new_rows:
        await session.execute(_INSERT_MEMBERS, new_rows)
    await session.flush()


async def terminate_call_room(
    session: AsyncSession, call_id: UUID, *, now: datetime, public_url: str, meeting_ms: int = 0, reason: str = "cancelled"
) -> None:
    """A cancelled call's room ends (`reason: cancelled`); a call ended early, `terminated`."""
    room = await session.get(Room, call_id)
    if room is not None:
        await terminate(session, room, now=now, reason=reason, meeting_ms=meeting_ms, public_url=public_url)


def call_meeting_url(signer: RoomSigner, base_url: str, call_id: UUID) -> str:
    """Anyone holding it joins the call's room as a guest (the room key)."""
    return f"{render.page_url(base_url, call_id)}?key={signer.room_key(call_id)}"


def call_join_url(signer: RoomSigner, base_url: str, call_id: UUID, user_id: str, ends_at: datetime, name: str | None = None) -> str:
    """A personal link into the call's room: a token for `user_id` valid until the call's end plus an hour."""
    token = signer.issue(call_id, user_id, ends_at + timedelta(hours=1), name)
    return render.with_token(render.page_url(base_url, call_id), token)



@dataclass(frozen=True)
class CallLinks:
    """Personal links into calls' rooms, for an API that renders calls (appointments)."""

    signer: RoomSigner
    base_url: str

    def join_url(self, call_id: UUID, user_id: str, ends_at: datetime, name: str | None = None) -> str:
        return call_join_url(self.signer, self.base_url, call_id, user_id, ends_at, name)
