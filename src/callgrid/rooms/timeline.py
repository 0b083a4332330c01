"""A room's timeline: everything that happens in it, with its time (docs/rooms.md, Timeline).

The hub tells its observer of every message a process sends to a room (callgrid.rooms.hub:
joins, leaves, chat, hands, mute changes, whiteboard strokes and clears, breakouts); the ones
worth keeping become rows of `room_events` (`event_row`). Each is recorded once, by the
process that sent it. They are written by a `TimelineWriter`: rows are queued in memory (the
socket's handler never waits for the database) and written in batches, one short write
transaction each, at most every `interval` seconds. Reads (`page`) are ordered by `(at, id)`.
"""

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.db.base import new_id
from callgrid.db.sections import run_section
from callgrid.db.session import Database, write_session
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms.hub import Participant
from callgrid.rooms.models import RoomEvent

log = logging.getLogger("callgrid.rooms")

# Message type (as sent to the room) -> event type, and the fields of the message kept as its data.
RECORDED: dict[str, tuple[str, tuple[str, ...]]] = {
    "participant_joined": ("session_joined", ()),
    "participant_left": ("session_left", ("reason",)),
    "chat": ("chat", ("id", "text")),
    "raise_hand": ("raise_hand", ("raised",)),
    "mute": ("mute", ("audio_muted", "video_muted", "screen_sharing")),
    "whiteboard_draw": ("whiteboard_draw", ("seq", "stroke")),
    "whiteboard_clear": ("whiteboard_clear", ("seq",)),
    "breakout_opened": ("breakout_opened", ("rooms", "closes_at")),
    "breakout_closed": ("breakout_closed", ("rooms", "reason")),
    "breakout_broadcast": ("breakout_broadcast", ("text",)),
}
# Written with the room's end itself (callgrid.rooms.service.mark_terminated), not observed.
EVENT_TYPES = tuple(sorted({*(event for event, _ in RECORDED.values()), "room_terminated"}))


def event_row(room_id: UUID, message: dict[str, Any], actor: Participant | None, at: datetime) -> dict[str, Any] | None:
    """The `room_events` row of a message sent to a room, or None when it is not kept."""
    kind = RECORDED.get(message.get("type"))
    if kind is None:
        return None
    event_type, fields = kind
    data = {name: message[name] for name in fields if name in message}
    if event_type == "session_joined" and actor is not None:
        data["role"] = actor.role
    return {
        "id": new_id(),
        "room_id": room_id,
        "at": at,
        "type": event_type,
        "session_id": actor.session_id if actor else None,
        "member_id": actor.member_id if actor else None,
        "user_id": actor.user_id if actor else None,
        "name": actor.name[:255] if actor else None,
        "data": data,
    }


def render(event: RoomEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "type": event.type,
        "at": utc_millis(event.at),
        "session_id": event.session_id,
        "member_id": event.member_id,
        "user_id": event.user_id,
        "name": event.name,
        "data": event.data or {},
    }


# --- writing ------------------------------------------------------------------------------------

_EVENTS = RoomEvent.__table__
_INSERT = insert(_EVENTS)
# A row the database refuses (its room is gone): SQLite's own error (a section runs on the
# driver's thread), SQLAlchemy's elsewhere.
_REFUSED = (IntegrityError, sqlite3.IntegrityError)


class TimelineWriter:
    """Rows queued in memory, written in batches off the sockets' path.

    At most `limit` rows wait; beyond that (a database away for long) the oldest are dropped,
    with a warning. A batch the database refuses as a whole (a row of a room deleted meanwhile)
    is written row by row, the refused rows dropped; a batch that fails otherwise (the database
    is away) is kept and tried again after a pause.
    """

    def __init__(self, database: Database, *, interval: float = 0.25, batch: int = 500, limit: int = 100_000):
        self.database = database
        self.interval = interval
        self.batch = batch
        self.limit = limit
        self._pending: deque[dict[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None
        self._dropped = 0

    def add(self, row: dict[str, Any]) -> None:
        if len(self._pending) >= self.limit:
            self._pending.popleft()
            self._dropped += 1
            if self._dropped % 1000 == 1:
                log.warning("rooms: the timeline's queue is full (the database is slow or away); %d events dropped", self._dropped)
        self._pending.append(row)
        self._idle.clear()
        self._wakeup.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="callgrid-rooms-timeline")

    async def stop(self) -> None:
        """Write what waits (for at most a few seconds), then stop."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        try:
            await asyncio.wait_for(self._drain(), timeout=5)
        except (TimeoutError, Exception):
            if self._pending:
                log.warning("rooms: %d timeline events not written at shutdown", len(self._pending))

    async def flush(self) -> None:
        """Until everything queued so far is written (tests, shutdown)."""
        if self._task is None:
            await self._drain()
            return
        self._wakeup.set()
        await self._idle.wait()

    async def _run(self) -> None:
        pause = self.interval
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(self.interval)  # let a batch gather
            self._wakeup.clear()
            try:
                await self._drain()
                pause = self.interval
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("rooms: writing the timeline failed (%s); trying again in %.1f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)
                self._wakeup.set()

    async def _drain(self) -> None:
        while self._pending:
            rows = [self._pending[i] for i in range(min(self.batch, len(self._pending)))]
            await self._write(rows)
            for _ in rows:
                self._pending.popleft()
        self._idle.set()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            await self._insert(rows)
        except _REFUSED:
            for row in rows:  # one row of a room that is gone spoils the batch: the others go in
                try:
                    await self._insert([row])
                except _REFUSED as refused:
                    log.info("rooms: a timeline event of room %s was dropped: %s", row.get("room_id"), refused)

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        def section():
            yield _INSERT, rows

        async with write_session(self.database) as session:
            await run_section(session, section())
            await session.commit()


# --- reading ------------------------------------------------------------------------------------


def cursor_of(event: RoomEvent) -> str:
    """An opaque position in the timeline: after this event."""
    return f"{int(event.at.timestamp() * 1_000_000)}-{event.id.hex}"


def parse_cursor(text: str) -> tuple[datetime, UUID] | None:
    from datetime import UTC

    micros, _, hexid = text.partition("-")
    try:
        return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), UUID(hex=hexid)
    except (ValueError, OverflowError, OSError):
        return None


async def page(
    session: AsyncSession,
    room_id: UUID,
    *,
    since: datetime | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 100,
    types: Sequence[str] | None = None,
) -> list[RoomEvent]:
    """Events of the room in timeline order (`at`, then id), from `since` (inclusive) and after
    the cursor `after`, at most `limit`."""
    statement = select(RoomEvent).where(RoomEvent.room_id == room_id)
    if since is not None:
        statement = statement.where(RoomEvent.at >= since)
    if after is not None:
        at, event_id = after
        statement = statement.where(or_(RoomEvent.at > at, and_(RoomEvent.at == at, RoomEvent.id > event_id)))
    if types:
        statement = statement.where(RoomEvent.type.in_(list(types)))
    statement = statement.order_by(RoomEvent.at, RoomEvent.id).limit(limit)
    return list((await session.execute(statement)).scalars().all())


async def whiteboard_since_last_clear(session: AsyncSession, room_id: UUID) -> tuple[int, int, list[RoomEvent]]:
    """The board as the timeline has it: (last seq, seq of the last clear, the strokes after it)."""
    last_clear = (
        await session.execute(
            select(RoomEvent)
            .where(RoomEvent.room_id == room_id, RoomEvent.type == "whiteboard_clear")
            .order_by(RoomEvent.at.desc(), RoomEvent.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    statement = select(RoomEvent).where(RoomEvent.room_id == room_id, RoomEvent.type == "whiteboard_draw")
    if last_clear is not None:
        statement = statement.where(
            or_(RoomEvent.at > last_clear.at, and_(RoomEvent.at == last_clear.at, RoomEvent.id > last_clear.id))
        )
    draws = list((await session.execute(statement.order_by(RoomEvent.at, RoomEvent.id))).scalars().all())
    cleared = int((last_clear.data or {}).get("seq", 0)) if last_clear is not None else 0
    draws = [d for d in draws if int((d.data or {}).get("seq", 0)) > cleared]
    draws.sort(key=lambda d: int((d.data or {}).get("seq", 0)))
    last = max([cleared, *(int((d.data or {}).get("seq", 0)) for d in draws)])
    return last, cleared, draws


Observer = Callable[[UUID, dict[str, Any], Participant | None], None]
