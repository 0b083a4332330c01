"""The recorders of this process's live sessions, and the `recordings` rows.

- A participant session of a room with `record: true` may send `recorder_offer` (and
  `recorder_ice`) over its live socket; its `SessionRecorders` answers with a new
  `RecorderPeer` (closing the one before, if any) and handles its messages in order.
- The first frame that arrives starts the recording: its row is inserted (`recording`, owned
  by this process) and its file opened. When the session leaves (or the peer connection fails
  or is replaced) the file is completed and the row becomes `ready`, with `recording.ready`.
- This process says every `HEARTBEAT_SECONDS` that its recordings are alive. At start and then
  every `SWEEP_SECONDS`, any process marks `interrupted` the `recording` rows whose process is
  gone: on this host, a process that no longer runs (a kill, a crash: found at the restart);
  anywhere, a heartbeat older than `STALE_SECONDS`. Their files stay; size and duration are read
  from them, and `recording.ready` says they will not change any more.

The database is written in short transactions (insert, heartbeat, end), never while waiting on
media; the file is written on the recording's own thread (callgrid.rooms.recording.media).
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callgrid.db.base import new_id, utcnow
from callgrid.db.session import Database, write_session
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms.hub import LocalSession
from callgrid.rooms.recording.media import EXTENSION, MEDIA_TYPE, WebmWriter, probe_duration_ms
from callgrid.rooms.recording.models import Recording, RecordingStatus
from callgrid.rooms.recording.storage import RecordingStorage
from callgrid.webhooks.events import EventType, emit

if TYPE_CHECKING:
    # aiortc (and PyAV under it) is imported when a recorder connection is made, not with the
    # app: a process that records nothing starts without loading them.
    from callgrid.rooms.recording.peer import RecorderPeer

log = logging.getLogger("callgrid.recording")

HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 60.0
SWEEP_SECONDS = 30.0
MESSAGES = ("recorder_offer", "recorder_ice")
MAX_PENDING = 256  # recorder messages of one session waiting to be handled
MAX_SDP = 60_000

HOSTNAME = socket.gethostname()
# The owners (`Recorders`) alive in this process: one per app, and a process may hold several.
_OWNERS_HERE: set[str] = set()


def render(recording: Recording, public_url: str, *, size_bytes: int | None = None) -> dict[str, Any]:
    """A recording as the API shows it (and `recording.ready` carries it)."""
    return {
        "id": str(recording.id),
        "room_id": str(recording.room_id),
        "session_id": recording.session_id,
        "member_id": recording.member_id,
        "user_id": recording.user_id,
        "started_at": utc_millis(recording.started_at),
        "ended_at": utc_millis(recording.ended_at) if recording.ended_at else None,
        "duration_ms": recording.duration_ms,
        "size_bytes": recording.size_bytes if size_bytes is None else size_bytes,
        "media_type": recording.media_type,
        "status": recording.status,
        "media_url": f"{public_url.rstrip('/')}/v1/rooms/{recording.room_id}/recordings/{recording.id}/media",
    }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


@dataclass
class _Context:
    """What a recording needs to know of its session (from the join)."""

    room_id: UUID
    organization_id: UUID
    record: bool


@dataclass
class _Active:
    """One recorder connection of a session and its recording, once its first frame came."""

    id: UUID
    key: str
    peer: "RecorderPeer"
    started_at: datetime | None = None
    started_monotonic: float | None = None
    inserted: asyncio.Task | None = None
    ending: asyncio.Task | None = None


@dataclass
class _SessionRecorder:
    session: LocalSession
    context: _Context
    inbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None
    active: _Active | None = None


class Recorders:
    """This process's recorders (one per app: `app.state.rooms.recorders`)."""

    def __init__(
        self,
        database: Database,
        storage: RecordingStorage,
        *,
        public_url: str,
        ice_servers: list[dict[str, Any]],
        clock: Callable[[], datetime],
    ):
        self.database = database
        self.storage = storage
        self.public_url = public_url
        self.ice_servers = ice_servers
        self.clock = clock
        self.owner = f"{HOSTNAME}/{os.getpid()}/{uuid.uuid4().hex[:12]}"
        _OWNERS_HERE.add(self.owner)
        self._sessions: dict[str, _SessionRecorder] = {}
        self._recording: dict[UUID, _Active] = {}  # rows this process writes (for heartbeats)
        self._tasks: set[asyncio.Task] = set()
        self._periodic: asyncio.Task | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._periodic = asyncio.create_task(self._keep_up(), name="callgrid-recordings")

    async def stop(self) -> None:
        """Complete every recording of this process (as when its sessions leave)."""
        if self._periodic is not None:
            self._periodic.cancel()
            await asyncio.gather(self._periodic, return_exceptions=True)
        await asyncio.gather(*(self.release_id(session_id) for session_id in list(self._sessions)), return_exceptions=True)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        _OWNERS_HERE.discard(self.owner)

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _keep_up(self) -> None:
        """The sweep at once (a restart finds what a killed process left), then heartbeats and
        sweeps."""
        last_sweep = time.monotonic()
        try:
            await self.sweep()
        except Exception:
            log.exception("recording: sweeping for interrupted recordings failed")
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._heartbeat()
                if time.monotonic() - last_sweep >= SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording: heartbeat or sweep failed")

    # --- the live socket's side ----------------------------------------------------------------------

    def register(self, session: LocalSession, *, room_id: UUID, organization_id: UUID, record: bool) -> None:
        """A session joined: whether its room records (its recorder messages are refused if not)."""
        self._sessions[session.session_id] = _SessionRecorder(session, _Context(room_id, organization_id, record))

    def handle(self, session: LocalSession, message: dict[str, Any]) -> None:
        """`recorder_offer` or `recorder_ice` from the session's socket: queued, handled in order."""
        entry = self._sessions.get(session.session_id)
        if entry is None or not entry.context.record:
            session.send(_error("recording_off", "this room is not recorded"))
            return
        kind = message["type"]
        if kind == "recorder_offer" and not (isinstance(message.get("sdp"), str) and 0 < len(message["sdp"]) <= MAX_SDP):
            session.send(_error("bad_message", "recorder_offer needs `sdp`, a string"))
            return
        if kind == "recorder_ice" and not (message.get("candidate") is None or isinstance(message.get("candidate"), dict)):
            session.send(_error("bad_message", "recorder_ice needs `candidate`, an object or null"))
            return
        if entry.inbox.qsize() >= MAX_PENDING:
            session.send(_error("bad_message", "too many recorder messages waiting"))
            return
        entry.inbox.put_nowait(message)
        if entry.task is None:
            entry.task = asyncio.create_task(self._work(entry), name="callgrid-recorder-signalling")

    async def release(self, session: LocalSession) -> None:
        """The session left: complete its recording."""
        await self.release_id(session.session_id)

    async def release_id(self, session_id: str) -> None:
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return
        if entry.task is not None:
            entry.task.cancel()
            await asyncio.gather(entry.task, return_exceptions=True)
        if entry.active is not None:
            await self._end(entry, entry.active)

    async def _work(self, entry: _SessionRecorder) -> None:
        while True:
            message = await entry.inbox.get()
            try:
                if message["type"] == "recorder_offer":
                    await self._offer(entry, message["sdp"])
                elif message["type"] == "recorder_ice" and entry.active is not None:
                    await entry.active.peer.add_candidate(message.get("candidate"))
                elif message["type"] == "closed":
                    if entry.active is message["active"]:
                        entry.active = None
                    await self._end(entry, message["active"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("recording: a %s failed: %s", message["type"], exc)
                if message["type"] == "recorder_offer":
                    entry.session.send(_error("recorder_failed", f"the recorder could not answer: {exc}"))

    async def _offer(self, entry: _SessionRecorder, sdp: str) -> None:
        """A new recorder connection (the one before it, if any, ends: its file is complete)."""
        previous, entry.active = entry.active, None
        if previous is not None:
            await self._end(entry, previous)
        recording_id = new_id()
        key = f"{entry.context.room_id}/{recording_id}.{EXTENSION}"
        holder: dict[str, _Active] = {}

        def first_frame(started_monotonic: float) -> None:
            active = holder["active"]
            active.started_monotonic = started_monotonic
            active.started_at = self.clock()
            self._recording[active.id] = active
            active.inserted = self._spawn(self._insert(entry, active))

        def closed() -> None:
            entry.inbox.put_nowait({"type": "closed", "active": holder["active"]})

        from callgrid.rooms.recording.peer import RecorderPeer

        peer = RecorderPeer(
            writer_factory=lambda: WebmWriter(lambda: self.storage.open_writer(key), name=str(recording_id)[-8:]),
            ice_servers=self.ice_servers,
            on_first_frame=first_frame,
            on_closed=closed,
        )
        active = holder["active"] = _Active(recording_id, key, peer)
        entry.active = active
        try:
            answer = await peer.answer(sdp)
        except BaseException:
            entry.active = None
            await peer.stop()
            raise
        entry.session.send({"type": "recorder_answer", "sdp": answer})

    # --- the rows --------------------------------------------------------------------------------------

    async def _insert(self, entry: _SessionRecorder, active: _Active) -> None:
        me = entry.session.participant
        async with write_session(self.database) as session:
            session.add(
                Recording(
                    id=active.id,
                    organization_id=entry.context.organization_id,
                    room_id=entry.context.room_id,
                    session_id=me.session_id,
                    member_id=me.member_id,
                    user_id=me.user_id,
                    started_at=active.started_at,
                    media_type=MEDIA_TYPE,
                    status=RecordingStatus.RECORDING,
                    path=active.key,
                    owner=self.owner,
                    heartbeat_at=utcnow(),
                )
            )
            await session.commit()
        log.info("recording: %s started (room %s, session %s)", active.id, entry.context.room_id, me.session_id)
        entry.session.send({"type": "recording", "recording_id": str(active.id), "status": RecordingStatus.RECORDING.value})

    async def _end(self, entry: _SessionRecorder, active: _Active) -> None:
        """Stop the connection, complete the file, and make the row `ready` (with its event):
        once, in a task of its own that a cancelled caller does not cut short."""
        if active.ending is None:
            active.ending = self._spawn(self._complete(entry, active))
        await asyncio.shield(active.ending)

    async def _complete(self, entry: _SessionRecorder, active: _Active) -> None:
        stopped = time.monotonic()
        await active.peer.stop()
        self._recording.pop(active.id, None)
        if active.inserted is None:
            return  # no frame ever came: no row, no file
        try:
            await active.inserted
        except Exception:
            log.exception("recording: the row of recording %s was not written", active.id)
            return
        writer = active.peer.writer
        duration = writer.duration_ms if writer is not None and writer.started else 0
        size = self.storage.size(active.key)
        ended_at = active.started_at + timedelta(seconds=stopped - active.started_monotonic)
        await self._finish(
            active.id, RecordingStatus.READY, ended_at=ended_at, duration_ms=duration, size_bytes=size or 0
        )
        log.info("recording: %s ready (%d ms, %d bytes)", active.id, duration, size or 0)
        entry.session.send({"type": "recording", "recording_id": str(active.id), "status": RecordingStatus.READY.value})

    async def _finish(self, recording_id: UUID, status: RecordingStatus, *, ended_at, duration_ms, size_bytes) -> bool:
        """`recording` -> `status`, with `recording.ready`; False if it was not `recording` any more."""
        async with write_session(self.database) as session:
            result = await session.execute(
                update(Recording)
                .where(Recording.id == recording_id, Recording.status == RecordingStatus.RECORDING)
                .values(
                    status=status, ended_at=ended_at, duration_ms=duration_ms, size_bytes=size_bytes,
                    owner=None, updated_at=utcnow(),
                )
            )
            done = result.rowcount == 1
            if done:
                recording = await session.get(Recording, recording_id, populate_existing=True)
                await emit(session, recording.organization_id, EventType.RECORDING_READY, render(recording, self.public_url))
            await session.commit()
        return done

    async def _heartbeat(self) -> None:
        ids = list(self._recording)
        if not ids:
            return
        async with write_session(self.database) as session:
            await session.execute(
                update(Recording)
                .where(Recording.id.in_(ids), Recording.status == RecordingStatus.RECORDING)
                .values(heartbeat_at=utcnow())
            )
            await session.commit()

    def _owner_gone(self, owner: str | None, heartbeat_at: datetime | None, now: datetime) -> bool:
        if heartbeat_at is None or heartbeat_at < now - timedelta(seconds=STALE_SECONDS):
            return True
        host, _, rest = (owner or "").partition("/")
        pid_text, _, instance = rest.partition("/")
        if owner == self.owner or host != HOSTNAME or not pid_text.isdigit():
            return False
        pid = int(pid_text)
        if pid == os.getpid():
            return owner not in _OWNERS_HERE  # else an earlier process that had this process's pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False

    async def sweep(self) -> int:
        """Mark `interrupted` the recordings whose process is gone; how many were."""
        now = utcnow()
        async with self.database.read() as session:
            rows = (
                await session.execute(
                    select(Recording.id, Recording.path, Recording.started_at, Recording.owner, Recording.heartbeat_at)
                    .where(Recording.status == RecordingStatus.RECORDING)
                )
            ).all()
        done = 0
        for recording_id, key, started_at, owner, heartbeat_at in rows:
            if recording_id in self._recording or not self._owner_gone(owner, heartbeat_at, now):
                continue
            size = self.storage.size(key)
            duration = await asyncio.to_thread(probe_duration_ms, lambda key=key: self.storage.open_reader(key)) if size else None
            ended_at = started_at + timedelta(milliseconds=duration) if duration is not None else (heartbeat_at or started_at)
            if await self._finish(
                recording_id, RecordingStatus.INTERRUPTED, ended_at=ended_at, duration_ms=duration, size_bytes=size
            ):
                done += 1
                log.warning("recording: %s was interrupted (its process %s is gone); its file is kept", recording_id, owner)
        return done


# --- the API's side -------------------------------------------------------------------------------------


async def page_recordings(session: AsyncSession, room_id: UUID, offset: int, limit: int) -> tuple[list[Recording], int]:
    total = (await session.execute(select(func.count()).where(Recording.room_id == room_id))).scalar_one()
    if offset >= total:
        return [], total
    rows = (
        await session.execute(
            select(Recording)
            .where(Recording.room_id == room_id)
            .order_by(Recording.started_at, Recording.id)
            .offset(offset)
            .limit(limit)
        )
    ).scalars().all()
    return list(rows), total


async def get_recording(session: AsyncSession, room_id: UUID, recording_id: UUID) -> Recording | None:
    return (
        await session.execute(select(Recording).where(Recording.id == recording_id, Recording.room_id == room_id))
    ).scalar_one_or_none()
