"""Breakout rooms (docs/rooms.md, Breakout rooms).

A host opens N breakout rooms from a room (the *main room*): each is a room of its own, a row
of `rooms` with `source: breakout` and `parent_id` the main room, with the main room's
organization, type, `record`, webhook and members (so its roles and its rules are the main
room's; its features are the main room's call's). Participants are *moved* by telling their
page where to go: `breakout_move` carries the breakout's id and the credentials to join it
(a join token for their `user_id`, or the breakout's room key for a guest); the page leaves
the main room and joins the breakout over a socket of its own, exactly as any join (webhooks,
recordings and the timeline work there as in any room). Closing the breakouts (the host, or
their time limit) ends those rooms (`room.terminated`, reason `breakout_closed`) after telling
everyone in them to go back (`breakout_return`); pages rejoin the main room with the
credentials they came with.

The state is the database's (the breakout rows: open while not terminated, `closes_at`), so
every process sees it; messages cross processes through the hub. The time limit is watched by
every process that holds a session of the main room or of a breakout (a timer each); the
first to end the breakouts does it (the end is one conditional write), the others find
nothing left to end.
"""

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select

from callgrid.db.base import new_id
from callgrid.db.session import write_session
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms import service
from callgrid.rooms.hub import LocalSession, Participant
from callgrid.rooms.models import MemberType, Room, RoomMember, RoomSource

log = logging.getLogger("callgrid.rooms")

MAX_BREAKOUTS = 50
MAX_NAME = 255
MAX_TEXT = 2000
MAX_SECONDS = 86_400

_ROOMS = Room.__table__
_MEMBERS = RoomMember.__table__


class Refused(Exception):
    """A breakout message refused: the `error` message's code and text."""

    def __init__(self, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def _bad(message: str) -> Refused:
    return Refused("bad_message", message)


def plan(participants: list[Participant], opener: str, rooms: list[dict[str, Any]], auto: bool) -> list[list[str]]:
    """Who goes where: the session ids named by each room, and with `auto` everyone else
    connected (hosts and the opener excepted) spread evenly, in the order they joined, each to
    the room that has fewest so far (the first of those)."""
    present = {p.session_id for p in participants}
    placed: list[list[str]] = []
    named: set[str] = set()
    for index, room in enumerate(rooms):
        ids = room.get("session_ids") or []
        for session_id in ids:
            if session_id not in present:
                raise Refused("unknown_session", f"rooms[{index}]: no session {session_id} in this room", session_id=session_id)
            if session_id in named:
                raise _bad(f"rooms[{index}]: session {session_id} is assigned twice")
            named.add(session_id)
        placed.append(list(ids))
    if auto:
        for participant in sorted(participants, key=lambda p: (p.joined_at, p.session_id)):
            if participant.session_id in named or participant.session_id == opener or participant.role == MemberType.HOST:
                continue
            smallest = min(range(len(placed)), key=lambda i: (len(placed[i]), i))
            placed[smallest].append(participant.session_id)
    return placed


def parse_open(message: dict[str, Any]) -> tuple[list[dict[str, Any]], bool, int | None]:
    """`breakout_open`'s rooms (names and session ids), whether to spread the others, the time limit."""
    rooms, count = message.get("rooms"), message.get("count")
    if rooms is None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BREAKOUTS:
            raise _bad(f"breakout_open needs `rooms` (a list) or `count`, 1..{MAX_BREAKOUTS}")
        rooms = [{} for _ in range(count)]
    if not isinstance(rooms, list) or not 1 <= len(rooms) <= MAX_BREAKOUTS:
        raise _bad(f"breakout_open's `rooms` is a list of 1..{MAX_BREAKOUTS} objects")
    parsed = []
    for index, room in enumerate(rooms):
        if not isinstance(room, dict):
            raise _bad(f"rooms[{index}] must be an object")
        name = room.get("name", f"Breakout {index + 1}")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise _bad(f"rooms[{index}].name must be 1..{MAX_NAME} characters")
        ids = room.get("session_ids", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise _bad(f"rooms[{index}].session_ids must be a list of session ids")
        parsed.append({"name": name.strip(), "session_ids": ids})
    assign = message.get("assign", "manual" if any(r["session_ids"] for r in parsed) else "auto")
    if assign not in ("auto", "manual"):
        raise _bad("breakout_open's `assign` is auto or manual")
    seconds = message.get("duration_seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_SECONDS):
        raise _bad(f"breakout_open's `duration_seconds` is null or 1..{MAX_SECONDS}")
    return parsed, assign == "auto", seconds


class Breakouts:
    """The breakout messages of the live protocol, for one application's live rooms."""

    def __init__(self, live):
        self.live = live  # callgrid.rooms.live.LiveRooms
        self._timers: dict[UUID, asyncio.TimerHandle] = {}
        self._parents: dict[UUID, UUID | None] = {}  # room -> its parent (None: a main room)
        self._tasks: set[asyncio.Task] = set()

    @property
    def hub(self):
        return self.live.hub

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    # --- reading the state ------------------------------------------------------------------------

    async def main_room_of(self, room_id: UUID) -> UUID | None:
        """The main room of `room_id` (itself, or its parent for a breakout); None: no such room."""
        if room_id not in self._parents:
            async with self.live.database.read() as session:
                row = (await session.execute(select(_ROOMS.c.id, _ROOMS.c.parent_id).where(_ROOMS.c.id == room_id))).first()
            if row is None:
                return None
            self._parents[room_id] = row.parent_id
        return self._parents[room_id] or room_id

    async def open_breakouts(self, main_id: UUID) -> list[Any]:
        async with self.live.database.read() as session:
            rows = await session.execute(
                select(_ROOMS.c.id, _ROOMS.c.name, _ROOMS.c.closes_at, _ROOMS.c.created_at)
                .where(_ROOMS.c.parent_id == main_id, _ROOMS.c.terminated_at.is_(None))
                .order_by(_ROOMS.c.created_at, _ROOMS.c.id)
            )
            return list(rows.all())

    async def state(self, room_id: UUID, *, with_participants: bool = True) -> dict[str, Any] | None:
        """`breakout_state` for a session of `room_id`, or None when the room has no breakouts open
        (and is not one)."""
        main_id = await self.main_room_of(room_id)
        if main_id is None:
            return None
        rows = await self.open_breakouts(main_id)
        if not rows:
            return None
        rooms = []
        for row in rows:
            room: dict[str, Any] = {"id": str(row.id), "name": row.name}
            if with_participants:
                room["participants"] = [
                    {"session_id": p.session_id, "name": p.name, "role": p.role} for p in await self.hub.participants(row.id)
                ]
            rooms.append(room)
        closes_at = rows[0].closes_at
        if closes_at is not None:
            self._arm(main_id, closes_at)
        state = {
            "type": "breakout_state",
            "main_room_id": str(main_id),
            "room_id": str(room_id),
            "rooms": rooms,
            "closes_at": utc_millis(closes_at) if closes_at else None,
        }
        if with_participants:
            state["main_participants"] = [
                {"session_id": p.session_id, "name": p.name, "role": p.role} for p in await self.hub.participants(main_id)
            ]
        return state

    # --- the messages -----------------------------------------------------------------------------

    async def handle(self, session: LocalSession, features: dict[str, bool], message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "breakout_state":
            state = await self.state(session.room_id)
            session.send(state or {"type": "breakout_state", "main_room_id": str(await self.main_room_of(session.room_id)),
                                   "room_id": str(session.room_id), "rooms": [], "closes_at": None})
            return
        if not features.get("breakout_rooms", True):
            raise Refused("disabled", "breakout rooms are turned off in this room")
        if session.participant.role != MemberType.HOST:
            raise Refused("not_allowed", "only a host manages breakout rooms")
        main_id = await self.main_room_of(session.room_id)
        if kind == "breakout_open":
            await self.open(session, main_id, message)
        elif kind == "breakout_close":
            if not await self.close(main_id, "closed"):
                raise Refused("no_breakouts", "no breakout rooms are open")
        elif kind == "breakout_assign":
            await self.assign(session, main_id, message)
        elif kind == "breakout_visit":
            await self.visit(session, main_id, message)
        elif kind == "breakout_broadcast":
            await self.broadcast(session, main_id, message)

    async def open(self, session: LocalSession, main_id: UUID, message: dict[str, Any]) -> None:
        if main_id != session.room_id:
            raise Refused("not_allowed", "breakout rooms are opened from the main room")
        rooms, auto, seconds = parse_open(message)
        if await self.open_breakouts(main_id):
            raise Refused("breakouts_open", "breakout rooms are open already: close them first")
        participants = await self.hub.participants(main_id)
        placed = plan(participants, session.session_id, rooms, auto)
        now = self.live.clock()
        closes_at = now + timedelta(seconds=seconds) if seconds else None
        created = await self._create(main_id, [r["name"] for r in rooms], closes_at, now)
        if created is None:
            raise Refused("breakouts_open", "breakout rooms are open already: close them first")
        by_id = {p.session_id: p for p in participants}
        for (room_id, name), session_ids in zip(created, placed):
            for session_id in session_ids:
                await self._move(main_id, by_id[session_id], room_id, name, closes_at)
        await self.hub.broadcast(
            main_id,
            {
                "type": "breakout_opened",
                "by": session.session_id,
                "rooms": [{"id": str(room_id), "name": name, "session_ids": ids} for (room_id, name), ids in zip(created, placed)],
                "closes_at": utc_millis(closes_at) if closes_at else None,
            },
            actor=session.participant,
        )
        if closes_at is not None:
            self._arm(main_id, closes_at)

    async def _create(self, main_id: UUID, names: list[str], closes_at: datetime | None, now: datetime) -> list[tuple[UUID, str]] | None:
        """The breakout rows with the main room's members; None if some were opened meanwhile."""
        async with write_session(self.live.database) as session:
            main = await session.get(Room, main_id, with_for_update=True)
            if main is None or main.terminated_at is not None:
                raise Refused("not_allowed", "the room has ended")
            already = (
                await session.execute(select(_ROOMS.c.id).where(_ROOMS.c.parent_id == main_id, _ROOMS.c.terminated_at.is_(None)).limit(1))
            ).first()
            if already is not None:
                return None
            members = (await session.execute(select(RoomMember).where(RoomMember.room_id == main_id))).scalars().all()
            created, room_rows, member_rows = [], [], []
            for name in names:
                room_id = new_id()
                created.append((room_id, name))
                room_rows.append({
                    "id": room_id, "organization_id": main.organization_id, "source": RoomSource.BREAKOUT.value,
                    "name": name, "type": main.type, "record": main.record, "max_meeting_seconds": None,
                    "thumbnail_url": None, "meeting_time_ms": 0, "started_at": None, "terminated_at": None,
                    "termination_reason": None, "webhook_endpoint_id": main.webhook_endpoint_id, "parent_id": main_id, "host_id": main.host_id,
                    "closes_at": closes_at, "created_at": now, "updated_at": now,
                })
                member_rows.extend(
                    {"id": new_id(), "room_id": room_id, "user_id": m.user_id, "type": m.type, "name": m.name,
                     "created_at": now, "updated_at": now}
                    for m in members
                )
            await session.execute(insert(_ROOMS), room_rows)
            if member_rows:
                await session.execute(insert(_MEMBERS), member_rows)
            await session.commit()
        for room_id, _ in created:
            self._parents[room_id] = main_id
        return created

    def _credentials(self, room_id: UUID, participant: Participant, closes_at: datetime | None) -> dict[str, str]:
        """What joins `room_id` as `participant`: a token for their user_id, else the room key (a guest)."""
        if participant.user_id is None:
            return {"key": self.live.signer.room_key(room_id)}
        expires = (closes_at or self.live.clock() + timedelta(hours=23)) + timedelta(hours=1)
        return {"token": self.live.signer.issue(room_id, participant.user_id, expires, participant.name)}

    async def _move(self, current_room: UUID, participant: Participant, target: UUID, name: str, closes_at: datetime | None) -> None:
        await self.hub.send_to(current_room, participant.session_id, {
            "type": "breakout_move",
            "room": {"id": str(target), "name": name},
            "closes_at": utc_millis(closes_at) if closes_at else None,
            **self._credentials(target, participant, closes_at),
        })

    async def _where(self, main_id: UUID, session_id: str, rooms) -> tuple[UUID, Participant] | None:
        """The room (the main one or a breakout) where `session_id` is connected, and its participant."""
        for room_id in [main_id, *(row.id for row in rooms)]:
            for participant in await self.hub.participants(room_id):
                if participant.session_id == session_id:
                    return room_id, participant
        return None

    async def assign(self, session: LocalSession, main_id: UUID, message: dict[str, Any]) -> None:
        """Move one participant to a breakout (`room_id`), or back to the main room (`room_id`
        null or the main room's id), wherever they are now."""
        target_session, target = message.get("session_id"), message.get("room_id")
        if not isinstance(target_session, str) or not (target is None or isinstance(target, str)):
            raise _bad("breakout_assign needs `session_id` and `room_id` (a breakout's id, or null for the main room)")
        rooms = await self.open_breakouts(main_id)
        if not rooms:
            raise Refused("no_breakouts", "no breakout rooms are open")
        found = await self._where(main_id, target_session, rooms)
        if found is None:
            raise Refused("unknown_session", "no such session in this room or its breakouts", session_id=target_session)
        current, participant = found
        if target is None or target == str(main_id):
            if current != main_id:
                await self.hub.send_to(current, participant.session_id,
                                       {"type": "breakout_return", "room": {"id": str(main_id)}, "reason": "assigned"})
            return
        row = next((r for r in rooms if str(r.id) == target), None)
        if row is None:
            raise Refused("unknown_room", "no such open breakout room of this room", room_id=target)
        if row.id != current:
            await self._move(current, participant, row.id, row.name, row.closes_at)

    async def visit(self, session: LocalSession, main_id: UUID, message: dict[str, Any]) -> None:
        """The host goes to a breakout (or back to the main room)."""
        target = message.get("room_id")
        if target is None or target == str(main_id):
            if session.room_id != main_id:
                session.send({"type": "breakout_return", "room": {"id": str(main_id)}, "reason": "visit"})
            return
        rooms = await self.open_breakouts(main_id)
        row = next((r for r in rooms if str(r.id) == target), None)
        if row is None:
            raise Refused("unknown_room", "no such open breakout room of this room", room_id=str(target))
        if row.id != session.room_id:
            await self._move(session.room_id, session.participant, row.id, row.name, row.closes_at)

    async def broadcast(self, session: LocalSession, main_id: UUID, message: dict[str, Any]) -> None:
        """A message from the host to the main room and every open breakout."""
        text = message.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise _bad(f"breakout_broadcast needs `text`, 1..{MAX_TEXT} characters")
        me = session.participant
        out = {"type": "breakout_broadcast", "id": str(uuid.uuid4()), "from": me.session_id, "name": me.name, "text": text,
               "sent_at": utc_millis(self.live.clock())}
        for room_id in [main_id, *(row.id for row in await self.open_breakouts(main_id))]:
            await self.hub.broadcast(room_id, out, actor=me)

    # --- closing ---------------------------------------------------------------------------------

    def spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def main_ended(self, room_id: UUID, reason: str) -> None:
        """A room ended (terminated, its time up, its call cancelled): its breakouts end with it,
        everyone in them getting `terminated` with the room's reason."""
        try:
            await self.close(room_id, "ended", end_reason=reason)
            # Every live runtime of this process is told of the end (tests hold several on one
            # database, without a bus between them): whichever wrote it, each ends its own sockets.
            async with self.live.database.read() as session:
                children = (await session.execute(select(_ROOMS.c.id).where(_ROOMS.c.parent_id == room_id))).scalars().all()
            for child in children:
                if any(not s.closing for s in self.hub.local_sessions(child)):
                    await self.hub.terminate(child, reason)
        except Exception:
            log.exception("rooms: ending the breakout rooms of %s failed", room_id)

    async def close(self, main_id: UUID, reason: str, *, end_reason: str | None = None) -> bool:
        """End the open breakouts of `main_id` and send everyone back (with `end_reason`: the
        main room has ended, and so do they, with that reason); False if none were open."""
        timer = self._timers.pop(main_id, None)
        if timer is not None:
            timer.cancel()
        open_now = await self.open_breakouts(main_id)
        if not open_now:
            return False
        clocks = await self.live.clock_of([row.id for row in open_now])
        now = self.live.clock()
        async with write_session(self.live.database) as session:
            rooms = (
                await session.execute(
                    select(Room).where(Room.parent_id == main_id, Room.terminated_at.is_(None)).with_for_update()
                )
            ).scalars().all()
            closed = []
            for room in rooms:
                clock = clocks.get(room.id)
                if await service.mark_terminated(
                    session, room, now=now, reason="breakout_closed", meeting_ms=clock.meeting_ms() if clock else 0,
                    public_url=self.live.settings.public_url,
                ):
                    closed.append(room.id)
            await session.commit()
        if not closed:
            return False
        for room_id in closed:
            if end_reason is None:
                await self.hub.broadcast(room_id, {"type": "breakout_return", "room": {"id": str(main_id)}, "reason": reason})
            await self.hub.terminate(room_id, end_reason or "breakout_closed")
        await self.hub.broadcast(main_id, {"type": "breakout_closed", "rooms": [str(r) for r in closed], "reason": reason})
        return True

    def _arm(self, main_id: UUID, closes_at: datetime) -> None:
        """A timer here for the breakouts' time limit (once per main room and process)."""
        if main_id in self._timers:
            return
        delay = max(0.0, (closes_at - self.live.clock()).total_seconds())
        loop = asyncio.get_running_loop()
        self._timers[main_id] = loop.call_later(delay, self._time_is_up, main_id)

    def _time_is_up(self, main_id: UUID) -> None:
        self._timers.pop(main_id, None)
        self.spawn(self._close_quietly(main_id))

    async def _close_quietly(self, main_id: UUID) -> None:
        try:
            await self.close(main_id, "time_limit")
        except Exception:
            log.exception("rooms: closing the breakout rooms of %s at their time limit failed", main_id)
