"""Live rooms: who may join (admission), and what joins, leaves and ends write to the database.

Between the hub (presence, in memory or Redis) and the database. A socket's handler never holds
a transaction: admission is one short read, and every join, leave and end is one short write
session (`write_session(database)`: on SQLite the process's one write connection, taken and
given back at once) with the webhook outbox rows of the event, the first `started_at`, the
meeting time when the clock stops, the end of the room.

Changes committed by requests that the hub must act on (a room terminated, a member removed,
a maximum changed) reach it through callgrid.rooms.actions.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, case, select, update

from callgrid.config import Settings
from callgrid.db.base import new_id
from callgrid.db.sections import Section, run_section
from callgrid.db.session import Database, write_session
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms import actions, render, repository, service
from callgrid.rooms.collab import Collab
from callgrid.rooms.hub import Clock, Hub, Joined, Left, LocalSession, Participant, RoomLimits
from callgrid.rooms.models import MemberType, Room, RoomType
from callgrid.rooms.tokens import RoomSigner, TokenError
from callgrid.webhooks.events import EventType, events_committed, outbox_step

log = logging.getLogger("callgrid.rooms")

# Close codes of the live protocol (docs/rooms.md).
BAD_CREDENTIALS = 4401
NOT_ALLOWED = 4403
NO_ROOM = 4404
TERMINATED = 4410

# member_id of a token holder who is not a member: the same on every join.
MEMBER_NAMESPACE = UUID("4f1b3e56-59a4-4c0e-9a43-2b0b5f6a0d11")

FEATURE_FLAGS = {
    "chat": "chat_enabled",
    "raise_hand": "raise_hand_enabled",
    "screenshare": "screenshare_enabled",
    "join_screen": "join_screen_enabled",
    "whiteboard": "whiteboard_enabled",
    "breakout_rooms": "breakout_rooms_enabled",
}


def features_of(config: dict | None) -> dict[str, bool]:
    return {feature: bool((config or {}).get(flag, True)) for feature, flag in FEATURE_FLAGS.items()}


@dataclass(frozen=True)
class Refusal(Exception):
    code: int
    reason: str


@dataclass(frozen=True)
class Admission:
    """Who joins which room, decided at the door."""

    room_id: UUID
    organization_id: UUID
    room_name: str
    room_type: str
    max_meeting_seconds: int | None
    meeting_time_ms: int
    user_id: str | None
    name: str
    role: str
    member_id: str
    features: dict[str, bool] = field(default_factory=dict)
    record: bool = False  # the room records its participants (callgrid.rooms.recording)

    def limits(self) -> RoomLimits:
        return RoomLimits(self.room_id, self.max_meeting_seconds, self.meeting_time_ms)


# --- the live rooms of one application -----------------------------------------------------------


class LiveRooms:
    def __init__(self, database: Database, settings: Settings, signer: RoomSigner, hub: Hub, clock: Callable[[], datetime]):
        self.database = database
        self.settings = settings
        self.signer = signer
        self.hub = hub
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        # This process's recorders (callgrid.rooms.recording.service.Recorders), set by the app.
        self.recorders = None
        # The whiteboard, breakout rooms and the timeline (callgrid.rooms.collab).
        self.collab = Collab(self)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.collab.start()
        await self.hub.start(self)
        actions.listen(self.apply)

    async def stop(self) -> None:
        actions.unlisten(self.apply)
        await self.hub.stop()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await self.collab.stop()  # the last leaves' events written

    @property
    def heartbeat_interval(self) -> float:
        return round(self.settings.heartbeat_timeout_seconds / 3, 3)

    # --- admission --------------------------------------------------------------------------

    async def admit(self, room_id_text: str, *, token: str | None, key: str | None, name: str | None) -> Admission:
        """Who this is in the room, or `Refusal` (close code and reason), per docs/rooms.md."""
        try:
            room_id = UUID(room_id_text)
        except ValueError:
            raise Refusal(NO_ROOM, "no such room") from None
        now = self.clock()
        async with self.database.read() as session:
            room = await repository.get_any_room(session, room_id)
            if room is None:
                raise Refusal(NO_ROOM, "no such room")
            claims = None
            if token:
                try:
                    claims = self.signer.verify(token, room.id, now)
                except TokenError as exc:
                    raise Refusal(BAD_CREDENTIALS, str(exc)) from None
            elif key:
                if not self.signer.check_room_key(room.id, key):
                    raise Refusal(BAD_CREDENTIALS, "invalid room key")
            elif room.type != RoomType.OPEN:
                raise Refusal(BAD_CREDENTIALS, "a join token is required")
            if room.terminated_at is not None:
                raise Refusal(TERMINATED, "the room is terminated")
            member = await repository.get_member(session, room.id, claims.user_id) if claims else None
            if room.type == RoomType.PRIVATE and claims is not None and member is None:
                raise Refusal(NOT_ALLOWED, "not a member of this private room")
            config = await repository.call_config(session, room)
        if member is not None:
            role, member_id = member.type, str(member.id)
        elif claims is not None:
            role, member_id = MemberType.MEMBER.value, str(uuid.uuid5(MEMBER_NAMESPACE, f"{room.id}:{claims.user_id}"))
        else:
            role, member_id = MemberType.GUEST.value, str(uuid.uuid4())
        display = (
            (name or "").strip()
            or (claims.name if claims else None)
            or (member.name if member else None)
            or (claims.user_id if claims else None)
            or "Guest"
        )[:255]
        return Admission(
            room_id=room.id,
            organization_id=room.organization_id,
            room_name=room.name,
            room_type=room.type,
            max_meeting_seconds=room.max_meeting_seconds,
            meeting_time_ms=room.meeting_time_ms,
            user_id=claims.user_id if claims else None,
            name=display,
            role=role,
            member_id=member_id,
            features=features_of(config),
            record=room.record,
        )

    def participant(self, admission: Admission) -> Participant:
        return Participant(
            session_id=str(uuid.uuid4()),
            member_id=admission.member_id,
            user_id=admission.user_id,
            name=admission.name,
            role=admission.role,
            joined_at=utc_millis(self.clock()),
        )

    def welcome(self, admission: Admission, session: LocalSession, joined: Joined) -> dict[str, Any]:
        me = session.participant
        clock = joined.state.clock
        return {
            "type": "welcome",
            "session_id": me.session_id,
            "member_id": me.member_id,
            "user_id": me.user_id,
            "name": me.name,
            "role": me.role,
            "room": {
                "id": str(admission.room_id),
                "name": admission.room_name,
                "type": admission.room_type,
                "max_meeting_seconds": clock.max_seconds,
            },
            "participants": [p.to_json() for p in joined.state.participants if p.session_id != me.session_id],
            "remaining_seconds": clock.message()["remaining_seconds"],
            "meeting_time_ms": clock.meeting_ms(),
            "meeting_time_running": clock.running,
            "heartbeat_interval_seconds": self.heartbeat_interval,
            "heartbeat_timeout_seconds": self.settings.heartbeat_timeout_seconds,
            "ice_servers": self.settings.ice_servers,
            "features": admission.features,
            "recording": admission.record,
        }

    # --- what joins, leaves and ends write ---------------------------------------------------------

    async def record_join(self, admission: Admission, participant: Participant, joined: Joined) -> None:
        """The join's outbox rows (and, for the second participant ever, `started_at`)."""
        now = self.clock()
        body = render.session_webhook(
            "sessionJoined",
            room_id=admission.room_id,
            participant=participant,
            sessions_count=joined.state.sessions_count,
            members_count=joined.state.members_count,
            timestamp=now,
        )
        started_at = now if joined.started else None
        await self._write(_session_event(admission.room_id, EventType.ROOM_SESSION_JOINED, body, now=now, started_at=started_at))

    async def left(self, room_id: UUID, left: Left, reason: str) -> None:
        """(the hub's LiveEvents) A session left, here or (swept) on a dead process: its outbox
        rows, and the meeting time when the clock stopped."""
        now = self.clock()
        body = render.session_webhook(
            "sessionLeft",
            room_id=room_id,
            participant=left.participant,
            sessions_count=left.state.sessions_count,
            members_count=left.state.members_count,
            timestamp=now,
        )
        meeting_ms = left.state.clock.accumulated_ms if left.stopped else None
        await self._write(_session_event(room_id, EventType.ROOM_SESSION_LEFT, body, now=now, meeting_ms=meeting_ms))

    async def _write(self, section) -> None:
        """A short write transaction (a participant's join or leave and its events): on SQLite
        in the event loop's thread when the write lock is free (db.sections), elsewhere
        statement by statement."""
        async with write_session(self.database) as session:
            await run_section(session, section, after_commit=events_committed)
            await session.commit()

    async def clock_ended(self, room_id: UUID, clock: Clock) -> None:
        """(the hub's LiveEvents) The maximum meeting time is reached: end the room."""
        meeting_ms = clock.max_seconds * 1000 if clock.max_seconds is not None else clock.meeting_ms()
        await self.end(room_id, "max_meeting_time", meeting_ms)

    async def end(self, room_id: UUID, reason: str, meeting_ms: int) -> None:
        """Terminate the room in the database (with `room.terminated`), then everywhere live."""
        now = self.clock()
        async with write_session(self.database) as session:
            room = await session.get(Room, room_id, with_for_update=True)
            if room is not None and room.terminated_at is None:
                await service.mark_terminated(session, room, now=now, reason=reason, meeting_ms=meeting_ms, public_url=self.settings.public_url)
            await session.commit()
        await self.hub.terminate(room_id, reason)

    # --- changes committed elsewhere ------------------------------------------------------------------

    def apply(self, pending: list[tuple]) -> None:
        """Act on committed changes (called from the session's after-commit hook)."""
        if self._loop is None or self._loop.is_closed():
            return
        for action in pending:
            coroutine = self._act(action)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                task = self._loop.create_task(coroutine)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _act(self, action: tuple) -> None:
        kind, room_id, value = action
        try:
            if kind == "end":
                clock = await self.hub.terminate(room_id, value)
                if clock.accumulated_ms:  # the stretch that ran until the end
                    async with write_session(self.database) as session:
                        await session.execute(_keep_meeting_time(room_id, clock.accumulated_ms))
                        await session.commit()
            elif kind == "kick":
                await self.hub.kick(room_id, value)
            elif kind == "limits":
                await self.hub.limits_changed(room_id, value)
        except Exception:
            log.exception("rooms: acting on %s failed", action)

    async def clock_of(self, room_ids: list[UUID]) -> dict[UUID, Clock]:
        try:
            return await self.hub.clocks(room_ids)
        except Exception:
            log.exception("rooms: reading the live clocks failed")
            return {}


_ROOMS = Room.__table__
_ROOM_OWNERS = select(_ROOMS.c.organization_id, _ROOMS.c.webhook_endpoint_id).where(_ROOMS.c.id == bindparam("room_id"))
_STARTED = (
    update(_ROOMS)
    .where(_ROOMS.c.id == bindparam("room_id"), _ROOMS.c.started_at.is_(None))
    .values(started_at=bindparam("started_at"), updated_at=bindparam("started_at"))
)
_MEETING_TIME = (
    update(_ROOMS)
    .where(_ROOMS.c.id == bindparam("room_id"))
    .values(
        meeting_time_ms=case(
            (_ROOMS.c.meeting_time_ms < bindparam("meeting_ms"), bindparam("meeting_ms")), else_=_ROOMS.c.meeting_time_ms
        ),
        updated_at=bindparam("now"),
    )
)


def _session_event(
    room_id: UUID,
    event_type: EventType,
    body: dict,
    *,
    now: datetime,
    started_at: datetime | None = None,
    meeting_ms: int | None = None,
) -> Section[None]:
    """A join's or leave's write section: the room's organization and webhook, `started_at` or
    the meeting time, and the outbox rows: one for the organization's endpoints (the envelope),
    one addressed to the room's own webhook (the seed's body as it is), when it has one."""
    rows = yield _ROOM_OWNERS, {"room_id": room_id}
    if not rows:
        return  # the room is gone (its organization was deleted)
    organization_id, endpoint_id = rows[0]
    if started_at is not None:
        yield _STARTED, {"room_id": room_id, "started_at": started_at}
    if meeting_ms is not None:
        yield _MEETING_TIME, {"room_id": room_id, "meeting_ms": meeting_ms, "now": now}
    statement, events = outbox_step(organization_id, event_type, [body])
    if endpoint_id is not None:
        events = [*events, {**events[0], "id": new_id(), "endpoint_id": endpoint_id}]
    yield statement, events


def _keep_meeting_time(room_id: UUID, meeting_ms: int):
    """The meeting time only grows (two processes' writes may commit in either order)."""
    return (
        update(Room)
        .where(Room.id == room_id)
        .values(meeting_time_ms=case((Room.meeting_time_ms < meeting_ms, meeting_ms), else_=Room.meeting_time_ms))
    )
