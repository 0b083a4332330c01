"""The presence hub: who is connected to which room, on any process, and the messages between them.

A process holds its own sockets (`LocalSession`: an outgoing queue the socket's writer drains)
and shares the rest through two parts:

- a **store** of the live state, changed atomically: each room's sessions (with a deadline
  each, pushed forward while the process hears from them) and its **meeting clock**
  (milliseconds accumulated, running since when, the maximum, terminated). `MemoryStore` keeps
  it in the process; `RedisStore` in Redis, each change one Lua script, so counts and the clock
  are one truth across processes.
- a **bus** that carries what each process must deliver to its own sockets: joins, leaves,
  signaling, chat, clock changes, ends, removals. `MemoryBus` delivers nothing (the process
  delivers to itself directly); `RedisBus` publishes on one pub/sub channel and every process
  delivers what concerns its own sockets.

The hub itself never touches the database: what must be written (webhook outbox rows, the
meeting time, the end of a room) is the `LiveEvents` callbacks' job (callgrid.rooms.live).

Times: the meeting clock runs on the machine's wall clock in milliseconds (`time.time()`),
shared by processes; heartbeats on the event loop's monotonic clock.
"""

import asyncio
import json
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol
from uuid import UUID

from callgrid.observability.metrics import ROOM_PARTICIPANTS

log = logging.getLogger("callgrid.rooms")
# How long a starting process waits for the bus before it serves without it (rooms of this
# process then reach only this process until the bus is back): a reachable Redis subscribes in
# milliseconds, and a refused connection is tried three times meanwhile (0, 0.5, 1.5 s).
SUBSCRIBE_WITHIN = 3.0

# A session's outgoing queue may hold this many messages; a client that reads slower than
# that is disconnected (1008) rather than let the process's memory grow.
MAX_QUEUED = 2000
# How long the process that ends a room holds the room's end lease (Redis).
END_LEASE_MS = 15_000
# The room's clock (and the other keys) outlive the last session by this much.
IDLE_KEY_TTL_MS = 24 * 3600 * 1000


def wall_ms() -> int:
    return int(time.time() * 1000)


# --- what the hub holds -------------------------------------------------------------------


@dataclass
class Participant:
    """A connected session as every participant sees it (docs/rooms.md, the participant object)."""

    session_id: str
    member_id: str
    user_id: str | None
    name: str
    role: str
    joined_at: str
    audio_muted: bool = False
    video_muted: bool = False
    screen_sharing: bool = False
    hand_raised: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Participant":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class Clock:
    """A room's meeting clock: `accumulated_ms` until `running_since_ms` (None: stopped)."""

    accumulated_ms: int = 0
    running_since_ms: int | None = None
    max_seconds: int | None = None
    terminated: bool = False

    @property
    def running(self) -> bool:
        return self.running_since_ms is not None

    def meeting_ms(self, now_ms: int | None = None) -> int:
        if self.running_since_ms is None:
            return self.accumulated_ms
        return self.accumulated_ms + max(0, (now_ms or wall_ms()) - self.running_since_ms)

    def remaining_seconds(self, now_ms: int | None = None) -> float | None:
        if self.max_seconds is None:
            return None
        return max(0.0, (self.max_seconds * 1000 - self.meeting_ms(now_ms)) / 1000)

    def ends_at_ms(self) -> int | None:
        """The wall-clock moment the maximum is reached, if the clock runs on until then."""
        if self.max_seconds is None or self.running_since_ms is None or self.terminated:
            return None
        return self.running_since_ms + self.max_seconds * 1000 - self.accumulated_ms

    def message(self, now_ms: int | None = None) -> dict[str, Any]:
        now_ms = now_ms or wall_ms()
        return {
            "type": "meeting_time",
            "meeting_time_ms": self.meeting_ms(now_ms),
            "running": self.running,
            "remaining_seconds": _round(self.remaining_seconds(now_ms)),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else math.floor(value * 1000) / 1000


@dataclass(frozen=True)
class RoomState:
    """What a join or a leave left behind: everyone connected, and the clock."""

    participants: list[Participant]
    clock: Clock

    @property
    def sessions_count(self) -> int:
        return len(self.participants)

    @property
    def members_count(self) -> int:
        return len({p.member_id for p in self.participants})


@dataclass(frozen=True)
class Joined:
    state: RoomState
    started: bool  # this join started the clock (the second participant arrived)


@dataclass(frozen=True)
class Left:
    participant: Participant
    state: RoomState
    stopped: bool  # this leave stopped the clock (fewer than two remain)


class RoomTerminated(Exception):
    pass


@dataclass(frozen=True)
class RoomLimits:
    """What the hub needs to know of a room when someone joins it (from its row)."""

    room_id: UUID
    max_meeting_seconds: int | None
    meeting_time_ms: int


# --- a socket of this process ------------------------------------------------------------


_CLOSE = object()


class LocalSession:
    """One connected socket of this process: its participant, its outgoing queue, its heartbeat.

    Messages are queued (`send`) and written by the socket's writer (`next_outgoing`). Until the
    `welcome` is out (`ready`), what arrives for it is held back, so `welcome` is always first.
    """

    def __init__(self, room_id: UUID, participant: Participant, *, organization_id: UUID | None = None):
        self.room_id = room_id
        self.participant = participant
        self.organization_id = organization_id
        self.last_seen = time.monotonic()
        self.refreshed_until = 0.0  # the deadline last written to the store (monotonic)
        self.leave_reason = "left"
        self.close_code: int | None = None
        self.close_reason = ""
        self._queue: deque = deque()
        self._held: list = []
        self._ready = False
        self._wakeup = asyncio.Event()
        self.closed_event = asyncio.Event()  # set when the server decides to close it

    @property
    def session_id(self) -> str:
        return self.participant.session_id

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def send(self, message: dict[str, Any] | str) -> None:
        if self.closing:
            return
        if not self._ready:
            self._held.append(message)
            return
        if len(self._queue) >= MAX_QUEUED:
            self.close(1008, "too slow: messages piled up unread")
            return
        self._queue.append(message)
        self._wakeup.set()

    def ready(self) -> None:
        """The welcome is out: release what was held back."""
        self._ready = True
        held, self._held = self._held, []
        for message in held:
            self.send(message)

    def close(self, code: int, reason: str, *, last: dict[str, Any] | None = None, leave_reason: str | None = None) -> None:
        """Close the socket after `last` (and whatever is queued before it)."""
        if self.closing:
            return
        if last is not None:
            self._ready = True
            self._queue.append(last)
        if leave_reason is not None:
            self.leave_reason = leave_reason
        self.close_code, self.close_reason = code, reason
        self._queue.append(_CLOSE)
        self._wakeup.set()
        self.closed_event.set()

    async def next_outgoing(self) -> dict[str, Any] | str | None:
        """The next message to write; None when the socket is to be closed."""
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._queue.popleft()
        return None if item is _CLOSE else item


# --- the store ----------------------------------------------------------------------------


class Store(Protocol):
    async def add(self, limits: RoomLimits, participant: Participant, deadline_ms: int, now_ms: int) -> Joined: ...
    async def remove(self, room_id: UUID, session_id: str, now_ms: int) -> Left | None: ...
    async def update(self, room_id: UUID, participant: Participant) -> None: ...
    async def refresh(self, entries: list[tuple[UUID, str]], deadline_ms: int) -> None: ...
    async def expired(self, now_ms: int, limit: int) -> list[tuple[UUID, str]]: ...
    async def participants(self, room_id: UUID, now_ms: int) -> list[Participant]: ...
    async def clocks(self, room_ids: list[UUID]) -> dict[UUID, Clock]: ...
    async def set_max(self, room_id: UUID, max_seconds: int | None) -> Clock: ...
    async def terminate(self, room_id: UUID, now_ms: int) -> Clock: ...
    async def take_end_lease(self, room_id: UUID) -> bool: ...
    async def close(self) -> None: ...


class MemoryStore:
    """The live state of one process's rooms (no Redis: the embedded default)."""

    # An empty room's clock is kept this long (a rejoin goes on from it), then forgotten: the
    # database has the meeting time by then.
    IDLE_CLOCK_SECONDS = 600.0

    def __init__(self) -> None:
        self._sessions: dict[UUID, dict[str, Participant]] = {}
        self._clocks: dict[UUID, Clock] = {}
        self._idle_since: dict[UUID, float] = {}

    def _state(self, room_id: UUID) -> RoomState:
        return RoomState(list(self._sessions.get(room_id, {}).values()), self._clocks.get(room_id, Clock()))

    async def add(self, limits: RoomLimits, participant: Participant, deadline_ms: int, now_ms: int) -> Joined:
        clock = self._clocks.get(limits.room_id) or Clock(accumulated_ms=limits.meeting_time_ms)
        if clock.terminated:
            raise RoomTerminated()
        clock = Clock(clock.accumulated_ms, clock.running_since_ms, limits.max_meeting_seconds, False)
        sessions = self._sessions.setdefault(limits.room_id, {})
        sessions[participant.session_id] = participant
        self._idle_since.pop(limits.room_id, None)
        started = len(sessions) >= 2 and not clock.running
        if started:
            clock = Clock(clock.accumulated_ms, now_ms, clock.max_seconds, False)
        self._clocks[limits.room_id] = clock
        return Joined(self._state(limits.room_id), started)

    async def remove(self, room_id: UUID, session_id: str, now_ms: int) -> Left | None:
        sessions = self._sessions.get(room_id)
        if not sessions or session_id not in sessions:
            return None
        participant = sessions.pop(session_id)
        clock = self._clocks.get(room_id, Clock())
        stopped = len(sessions) < 2 and clock.running
        if stopped:
            clock = Clock(clock.meeting_ms(now_ms), None, clock.max_seconds, clock.terminated)
            self._clocks[room_id] = clock
        state = self._state(room_id)
        if not sessions:
            del self._sessions[room_id]
            self._idle_since[room_id] = time.monotonic()
        return Left(participant, state, stopped)

    async def update(self, room_id: UUID, participant: Participant) -> None:
        sessions = self._sessions.get(room_id)
        if sessions and participant.session_id in sessions:
            sessions[participant.session_id] = participant

    async def refresh(self, entries, deadline_ms) -> None:
        return None  # the process's own sessions: its sweeper times them out itself

    async def expired(self, now_ms: int, limit: int) -> list[tuple[UUID, str]]:
        # No other process's sessions to sweep here; forget the clocks of rooms long empty.
        cutoff = time.monotonic() - self.IDLE_CLOCK_SECONDS
        for room_id, since in list(self._idle_since.items()):
            if since < cutoff:
                del self._idle_since[room_id]
                self._clocks.pop(room_id, None)
        return []

    async def participants(self, room_id: UUID, now_ms: int) -> list[Participant]:
        return list(self._sessions.get(room_id, {}).values())

    async def clocks(self, room_ids: list[UUID]) -> dict[UUID, Clock]:
        return {room_id: self._clocks[room_id] for room_id in room_ids if room_id in self._clocks}

    async def set_max(self, room_id: UUID, max_seconds: int | None) -> Clock:
        clock = self._clocks.get(room_id)
        if clock is None:
            return Clock(max_seconds=max_seconds)
        clock = Clock(clock.accumulated_ms, clock.running_since_ms, max_seconds, clock.terminated)
        self._clocks[room_id] = clock
        return clock

    async def terminate(self, room_id: UUID, now_ms: int) -> Clock:
        clock = self._clocks.get(room_id, Clock())
        clock = Clock(clock.meeting_ms(now_ms), None, clock.max_seconds, True)
        self._clocks[room_id] = clock
        return clock

    async def take_end_lease(self, room_id: UUID) -> bool:
        return True

    async def close(self) -> None:
        return None


# Redis: every change of a room's state is one script, so two processes never see half of one.
# KEYS: sessions (hash: session id -> participant JSON), alive (zset: session id -> deadline),
# clock (hash: acc, since, max, terminated), global (zset: "room|session" -> deadline).
_ADD = """
if redis.call('HGET', KEYS[3], 'terminated') == '1' then return {'terminated'} end
redis.call('HSETNX', KEYS[3], 'acc', ARGV[7])
if ARGV[6] == '' then redis.call('HDEL', KEYS[3], 'max') else redis.call('HSET', KEYS[3], 'max', ARGV[6]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[8])
redis.call('PERSIST', KEYS[3])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
local started = 0
if redis.call('HLEN', KEYS[1]) >= 2 and not redis.call('HGET', KEYS[3], 'since') then
  redis.call('HSET', KEYS[3], 'since', ARGV[5])
  started = 1
end
local clock = redis.call('HMGET', KEYS[3], 'acc', 'since', 'max', 'terminated')
return {'ok', started, clock[1], clock[2] or '', clock[3] or '', clock[4] or '', redis.call('HVALS', KEYS[1])}
"""

_REMOVE = """
local gone = redis.call('HGET', KEYS[1], ARGV[1])
if not gone then return {'gone'} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[3])
local count = redis.call('HLEN', KEYS[1])
local stopped = 0
local since = redis.call('HGET', KEYS[3], 'since')
if count < 2 and since then
  local acc = tonumber(redis.call('HGET', KEYS[3], 'acc') or '0')
  local now = tonumber(ARGV[2])
  local spent = now - tonumber(since)
  if spent < 0 then spent = 0 end
  redis.call('HSET', KEYS[3], 'acc', tostring(acc + spent))
  redis.call('HDEL', KEYS[3], 'since')
  stopped = 1
end
if count == 0 then redis.call('PEXPIRE', KEYS[3], ARGV[4]) end
local clock = redis.call('HMGET', KEYS[3], 'acc', 'since', 'max', 'terminated')
return {'ok', stopped, clock[1] or '0', clock[2] or '', clock[3] or '', clock[4] or '', redis.call('HVALS', KEYS[1]), gone}
"""

_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""

_SET_MAX = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'', '', '', ''} end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'max') else redis.call('HSET', KEYS[1], 'max', ARGV[1]) end
local clock = redis.call('HMGET', KEYS[1], 'acc', 'since', 'max', 'terminated')
return {clock[1] or '0', clock[2] or '', clock[3] or '', clock[4] or ''}
"""

_TERMINATE = """
local acc = tonumber(redis.call('HGET', KEYS[1], 'acc') or ARGV[2])
local since = redis.call('HGET', KEYS[1], 'since')
if since then
  local spent = tonumber(ARGV[1]) - tonumber(since)
  if spent < 0 then spent = 0 end
  acc = acc + spent
  redis.call('HDEL', KEYS[1], 'since')
end
redis.call('HSET', KEYS[1], 'acc', tostring(acc), 'terminated', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local clock = redis.call('HMGET', KEYS[1], 'acc', 'since', 'max', 'terminated')
return {clock[1] or '0', clock[2] or '', clock[3] or '', clock[4] or ''}
"""


def _clock(acc, since, max_, terminated) -> Clock:
    def text(value) -> str:
        return value.decode() if isinstance(value, bytes) else (value or "")

    acc, since, max_, terminated = text(acc), text(since), text(max_), text(terminated)
    return Clock(
        accumulated_ms=int(float(acc)) if acc else 0,
        running_since_ms=int(float(since)) if since else None,
        max_seconds=int(float(max_)) if max_ else None,
        terminated=terminated == "1",
    )


def _participants(values) -> list[Participant]:
    out = []
    for value in values:
        try:
            out.append(Participant.from_json(json.loads(value)))
        except (ValueError, TypeError):
            continue
    out.sort(key=lambda p: (p.joined_at, p.session_id))
    return out


class RedisStore:
    """The live state shared by every process through Redis (keys under the prefix)."""

    def __init__(self, client, prefix: str):
        self.redis = client
        self.prefix = prefix
        self.global_key = f"{prefix}:live-sessions"
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)
        self._update = client.register_script(_UPDATE)
        self._set_max = client.register_script(_SET_MAX)
        self._terminate = client.register_script(_TERMINATE)

    def _keys(self, room_id: UUID) -> list[str]:
        base = f"{self.prefix}:room:{room_id}"
        return [f"{base}:sessions", f"{base}:alive", f"{base}:clock", self.global_key]

    async def add(self, limits: RoomLimits, participant: Participant, deadline_ms: int, now_ms: int) -> Joined:
        result = await self._add(
            keys=self._keys(limits.room_id),
            args=[
                participant.session_id,
                json.dumps(participant.to_json()),
                participant.member_id,
                deadline_ms,
                now_ms,
                "" if limits.max_meeting_seconds is None else limits.max_meeting_seconds,
                limits.meeting_time_ms,
                f"{limits.room_id}|{participant.session_id}",
                IDLE_KEY_TTL_MS,
            ],
        )
        if result[0] in (b"terminated", "terminated"):
            raise RoomTerminated()
        _, started, acc, since, max_, terminated, values = result
        return Joined(RoomState(_participants(values), _clock(acc, since, max_, terminated)), bool(int(started)))

    async def remove(self, room_id: UUID, session_id: str, now_ms: int) -> Left | None:
        result = await self._remove(
            keys=self._keys(room_id), args=[session_id, now_ms, f"{room_id}|{session_id}", IDLE_KEY_TTL_MS]
        )
        if result[0] in (b"gone", "gone"):
            return None
        _, stopped, acc, since, max_, terminated, values, gone = result
        participant = Participant.from_json(json.loads(gone))
        return Left(participant, RoomState(_participants(values), _clock(acc, since, max_, terminated)), bool(int(stopped)))

    async def update(self, room_id: UUID, participant: Participant) -> None:
        await self._update(keys=self._keys(room_id)[:1], args=[participant.session_id, json.dumps(participant.to_json())])

    async def refresh(self, entries: list[tuple[UUID, str]], deadline_ms: int) -> None:
        if not entries:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id, session_id in entries:
                keys = self._keys(room_id)
                pipe.zadd(keys[1], {session_id: deadline_ms}, xx=True)
                pipe.zadd(self.global_key, {f"{room_id}|{session_id}": deadline_ms}, xx=True)
            await pipe.execute()

    async def expired(self, now_ms: int, limit: int) -> list[tuple[UUID, str]]:
        members = await self.redis.zrangebyscore(self.global_key, "-inf", now_ms, start=0, num=limit)
        out = []
        for member in members:
            text = member.decode() if isinstance(member, bytes) else member
            room, _, session = text.partition("|")
            try:
                out.append((UUID(room), session))
            except ValueError:
                await self.redis.zrem(self.global_key, member)
        return out

    async def participants(self, room_id: UUID, now_ms: int) -> list[Participant]:
        keys = self._keys(room_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hvals(keys[0])
            pipe.zrangebyscore(keys[1], now_ms, "+inf")
            values, alive = await pipe.execute()
        alive_ids = {a.decode() if isinstance(a, bytes) else a for a in alive}
        return [p for p in _participants(values) if p.session_id in alive_ids]

    async def clocks(self, room_ids: list[UUID]) -> dict[UUID, Clock]:
        if not room_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.hmget(self._keys(room_id)[2], "acc", "since", "max", "terminated")
            rows = await pipe.execute()
        return {room_id: _clock(*row) for room_id, row in zip(room_ids, rows) if row[0] is not None}

    async def set_max(self, room_id: UUID, max_seconds: int | None) -> Clock:
        row = await self._set_max(keys=[self._keys(room_id)[2]], args=["" if max_seconds is None else max_seconds])
        return _clock(*row) if row[0] else Clock(max_seconds=max_seconds)

    async def terminate(self, room_id: UUID, now_ms: int) -> Clock:
        return _clock(*await self._terminate(keys=[self._keys(room_id)[2]], args=[now_ms, 0, IDLE_KEY_TTL_MS]))

    async def take_end_lease(self, room_id: UUID) -> bool:
        return bool(await self.redis.set(f"{self.prefix}:room:{room_id}:ending", "1", nx=True, px=END_LEASE_MS))

    async def close(self) -> None:
        await self.redis.aclose()


# --- the bus --------------------------------------------------------------------------------


Deliver = Callable[[dict[str, Any]], None]


class MemoryBus:
    """One process: it delivers to its own sockets directly, so there is nothing to carry."""

    async def start(self, deliver: Deliver) -> None:
        return None

    async def publish(self, envelope: dict[str, Any]) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisBus:
    """One pub/sub channel (`{prefix}:live`) for every room; each process keeps what concerns
    its own sockets. It reconnects when the connection drops (what was published meanwhile is
    lost: clients see it as a missed message, as on any network)."""

    def __init__(self, client, prefix: str, origin: str):
        self.redis = client
        self.channel = f"{prefix}:live"
        self.origin = origin
        self._task: asyncio.Task | None = None
        self._subscribed = asyncio.Event()

    async def start(self, deliver: Deliver) -> None:
        self._task = asyncio.create_task(self._listen(deliver), name="callgrid-rooms-bus")
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=SUBSCRIBE_WITHIN)
        except TimeoutError:
            log.warning("rooms: not yet subscribed to %s; carrying on, it keeps trying", self.channel)

    async def _listen(self, deliver: Deliver) -> None:
        delay = 0.5
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                delay = 0.5
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        envelope = json.loads(message["data"])
                    except ValueError:
                        continue
                    if envelope.get("o") == self.origin:
                        continue  # this process delivered its own already
                    try:
                        deliver(envelope)
                    except Exception:
                        log.exception("rooms: delivering a bus message failed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("rooms: the Redis bus dropped (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    async def publish(self, envelope: dict[str, Any]) -> None:
        envelope["o"] = self.origin
        try:
            await self.redis.publish(self.channel, json.dumps(envelope, separators=(",", ":")))
        except Exception as exc:
            log.warning("rooms: could not publish on %s: %s", self.channel, exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


# --- the hub ----------------------------------------------------------------------------------


class LiveEvents(Protocol):
    """What the hub asks of the rest of the application (callgrid.rooms.live)."""

    async def left(self, room_id: UUID, left: Left, reason: str) -> None:
        """A session left (its process closed it, or a dead process's session timed out)."""

    async def clock_ended(self, room_id: UUID, clock: Clock) -> None:
        """The meeting clock reached the maximum and this process holds the end lease: end it."""


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


# The close of every socket of a process that stops (docs/rooms.md: the page joins again).
GOING_AWAY = (1001, "the server is shutting down")


class Hub:
    """Presence, fan-out and the meeting clock's watch, over a store and a bus."""

    def __init__(self, store: Store, bus, *, heartbeat_timeout: float, origin: str | None = None):
        self.store = store
        self.bus = bus
        self.origin = origin or uuid.uuid4().hex
        self.heartbeat_timeout = heartbeat_timeout
        self.events: LiveEvents | None = None
        # Told of every message this process sends to a room (the timeline: callgrid.rooms.timeline),
        # with the participant it is about when known. Must not block.
        self.observer: Callable[[UUID, dict[str, Any], Participant | None], None] | None = None
        self._rooms: dict[UUID, dict[str, LocalSession]] = {}
        self._sessions: dict[str, LocalSession] = {}
        self._timers: dict[UUID, asyncio.TimerHandle] = {}
        self._sweeper: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self.closing = False  # the process is stopping: sockets closed, no new one taken

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, events: LiveEvents) -> None:
        self.events = events
        await self.bus.start(self._on_bus)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="callgrid-rooms-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except (asyncio.CancelledError, Exception):
                pass
        for timer in self._timers.values():
            timer.cancel()
        await self.close_sessions()
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        await self.bus.close()
        await self.store.close()

    async def close_sessions(self, timeout: float = 5.0) -> None:
        """Close every socket of this process with 1001 and its reason, and take no new one: the
        process is stopping (SIGTERM: before the server's own shutdown, which would close them
        with no reason), and clients join again, elsewhere. Their handlers leave (the store, the
        leaves' webhooks) before this returns, or `timeout` seconds pass."""
        self.closing = True
        for session in list(self._sessions.values()):
            session.close(*GOING_AWAY, leave_reason="left")
        deadline = time.monotonic() + timeout
        while self._sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _spawn(self, coroutine: Awaitable) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("rooms: a background task failed", exc_info=task.exception())

    @property
    def local_count(self) -> int:
        return len(self._sessions)

    def local_sessions(self, room_id: UUID) -> list[LocalSession]:
        return list(self._rooms.get(room_id, {}).values())

    # --- joining and leaving ------------------------------------------------------------

    def _deadline_ms(self, session: LocalSession) -> int:
        # Others sweep a session a little after its own process would have timed it out.
        grace = min(5.0, self.heartbeat_timeout / 2)
        return wall_ms() + int((self.heartbeat_timeout + grace) * 1000)

    async def join(self, limits: RoomLimits, session: LocalSession) -> Joined:
        """Register `session` (raises RoomTerminated) and tell the others. The caller sends the
        `welcome` and then calls `session.ready()`."""
        room_id = limits.room_id
        self._rooms.setdefault(room_id, {})[session.session_id] = session
        if session.session_id not in self._sessions:
            ROOM_PARTICIPANTS.inc()
        self._sessions[session.session_id] = session
        session.refreshed_until = time.monotonic() + self.heartbeat_timeout
        try:
            joined = await self.store.add(limits, session.participant, self._deadline_ms(session), wall_ms())
        except BaseException:
            self._forget(session)
            raise
        await self._to_room(room_id, {"type": "participant_joined", "participant": session.participant.to_json()},
                             exclude=session.session_id, actor=session.participant)
        if joined.started:
            await self._clock_changed(room_id, joined.state.clock)
        else:
            self._watch(room_id, joined.state.clock)
        return joined

    def _forget(self, session: LocalSession) -> None:
        room = self._rooms.get(session.room_id)
        if room is not None:
            room.pop(session.session_id, None)
            if not room:
                del self._rooms[session.room_id]
                timer = self._timers.pop(session.room_id, None)
                if timer is not None:
                    timer.cancel()
        if self._sessions.pop(session.session_id, None) is not None:
            ROOM_PARTICIPANTS.dec()

    async def leave(self, session: LocalSession) -> Left | None:
        """Unregister `session` (its socket is closed or closing); None if it was gone already."""
        self._forget(session)
        return await self._remove(session.room_id, session.session_id, session.leave_reason)

    async def _remove(self, room_id: UUID, session_id: str, reason: str) -> Left | None:
        left = await self.store.remove(room_id, session_id, wall_ms())
        if left is None:
            return None
        await self._to_room(
            room_id,
            {"type": "participant_left", "session_id": session_id, "member_id": left.participant.member_id, "reason": reason},
            actor=left.participant,
        )
        if left.stopped:
            await self._clock_changed(room_id, left.state.clock)
        if self.events is not None:
            try:
                await self.events.left(room_id, left, reason)
            except Exception:
                log.exception("rooms: recording a leave failed")
        return left

    # --- what participants say ------------------------------------------------------------

    async def relay(self, session: LocalSession, to: str, message: dict[str, Any]) -> bool:
        """A signaling message to one session of the same room, on any process. False if that
        session is not connected to the room."""
        text = dumps(message)
        target = self._sessions.get(to)
        if target is not None:
            if target.room_id != session.room_id:
                return False
            target.send(text)
            return True
        participants = await self.store.participants(session.room_id, wall_ms())
        if not any(p.session_id == to for p in participants):
            return False
        await self.bus.publish({"k": "to", "r": str(session.room_id), "t": to, "m": text})
        return True

    async def broadcast(self, room_id: UUID, message: dict[str, Any], *, actor: Participant | None = None) -> None:
        """To everyone in the room, on every process (the sender included). `actor`: who it is
        about, for the observer (else the local session named by the message's `session_id` or `from`)."""
        await self._to_room(room_id, message, actor=actor)

    async def send_to(self, room_id: UUID, session_id: str, message: dict[str, Any]) -> None:
        """To one session of the room, on whichever process holds it (nothing if none does)."""
        text = dumps(message)
        target = self._sessions.get(session_id)
        if target is not None:
            if target.room_id == room_id:
                target.send(text)
            return
        await self.bus.publish({"k": "to", "r": str(room_id), "t": session_id, "m": text})

    async def update(self, session: LocalSession) -> None:
        """The session's participant changed (mute, hand): kept for later joiners' `welcome`."""
        await self.store.update(session.room_id, session.participant)

    async def _to_room(
        self, room_id: UUID, message: dict[str, Any], *, exclude: str | None = None, actor: Participant | None = None
    ) -> None:
        text = dumps(message)
        self._observe(room_id, message, actor)
        self._deliver_room(room_id, text, exclude)
        await self.bus.publish({"k": "room", "r": str(room_id), "x": exclude, "m": text})

    def _observe(self, room_id: UUID, message: dict[str, Any], actor: Participant | None) -> None:
        if self.observer is None:
            return
        if actor is None:
            local = self._sessions.get(message.get("session_id") or message.get("from") or "")
            actor = local.participant if local is not None else None
        try:
            self.observer(room_id, message, actor)
        except Exception:
            log.exception("rooms: observing a message failed")

    def _deliver_room(self, room_id: UUID, text: str, exclude: str | None) -> None:
        for session_id, local in list(self._rooms.get(room_id, {}).items()):
            if session_id != exclude:
                local.send(text)

    # --- reading the live state ---------------------------------------------------------------

    async def participants(self, room_id: UUID) -> list[Participant]:
        return await self.store.participants(room_id, wall_ms())

    async def clocks(self, room_ids: list[UUID]) -> dict[UUID, Clock]:
        return await self.store.clocks(room_ids)

    # --- the room's end, removals, limits ----------------------------------------------------

    async def terminate(self, room_id: UUID, reason: str) -> Clock:
        """Mark the room ended (no join passes from now on) and disconnect everyone in it, on
        every process, with a `terminated` message and 4410."""
        clock = await self.store.terminate(room_id, wall_ms())
        self._observe(room_id, {"type": "terminated", "reason": reason}, None)
        self._end_locally(room_id, reason)
        await self.bus.publish({"k": "end", "r": str(room_id), "reason": reason})
        return clock

    def _end_locally(self, room_id: UUID, reason: str) -> None:
        timer = self._timers.pop(room_id, None)
        if timer is not None:
            timer.cancel()
        for session in self.local_sessions(room_id):
            session.close(4410, "the room is terminated", last={"type": "terminated", "reason": reason}, leave_reason="left")

    async def kick(self, room_id: UUID, user_id: str) -> None:
        """Disconnect every session of `user_id` in the room (a removed member), on every process."""
        self._kick_locally(room_id, user_id)
        await self.bus.publish({"k": "kick", "r": str(room_id), "u": user_id})

    def _kick_locally(self, room_id: UUID, user_id: str) -> None:
        for session in self.local_sessions(room_id):
            if session.participant.user_id == user_id:
                session.close(4403, "removed from the room", leave_reason="removed")

    async def limits_changed(self, room_id: UUID, max_seconds: int | None) -> None:
        clock = await self.store.set_max(room_id, max_seconds)
        await self._clock_changed(room_id, clock)

    async def _clock_changed(self, room_id: UUID, clock: Clock) -> None:
        """Tell everyone (every process) and re-arm the watch."""
        message = clock.message()
        self._deliver_room(room_id, dumps(message), None)
        self._watch(room_id, clock)
        await self.bus.publish({"k": "clock", "r": str(room_id), "m": dumps(message), "c": asdict(clock)})

    # --- watching the clock ---------------------------------------------------------------------

    def _watch(self, room_id: UUID, clock: Clock) -> None:
        """While this process holds sessions of the room and its clock runs toward a maximum,
        a timer for the moment it is reached."""
        timer = self._timers.pop(room_id, None)
        if timer is not None:
            timer.cancel()
        ends_at = clock.ends_at_ms()
        if ends_at is None or room_id not in self._rooms:
            return
        delay = max(0.0, (ends_at - wall_ms()) / 1000)
        loop = asyncio.get_running_loop()
        self._timers[room_id] = loop.call_later(delay, lambda: self._spawn(self._time_is_up(room_id)))

    async def _time_is_up(self, room_id: UUID) -> None:
        self._timers.pop(room_id, None)
        clock = (await self.store.clocks([room_id])).get(room_id)
        if clock is None or clock.terminated or not self._rooms.get(room_id):
            return
        ends_at = clock.ends_at_ms()
        if ends_at is None:
            return
        if ends_at > wall_ms():  # the clock moved (a stop and a start): not yet
            self._watch(room_id, clock)
            return
        if await self.store.take_end_lease(room_id):
            if self.events is not None:
                await self.events.clock_ended(room_id, clock)
            return
        # Another process is ending it; should it die doing so, try again once its lease expires.
        loop = asyncio.get_running_loop()
        self._timers[room_id] = loop.call_later(END_LEASE_MS / 1000 + 0.5, lambda: self._spawn(self._time_is_up(room_id)))

    # --- the bus ----------------------------------------------------------------------------------

    def _on_bus(self, envelope: dict[str, Any]) -> None:
        try:
            room_id = UUID(envelope["r"])
        except (KeyError, ValueError, TypeError):
            return
        kind = envelope.get("k")
        if room_id not in self._rooms:
            return  # none of this process's sockets is in that room
        if kind == "room":
            self._deliver_room(room_id, envelope["m"], envelope.get("x"))
        elif kind == "to":
            target = self._sessions.get(envelope.get("t"))
            if target is not None and target.room_id == room_id:
                target.send(envelope["m"])
        elif kind == "clock":
            self._deliver_room(room_id, envelope["m"], None)
            try:
                self._watch(room_id, Clock(**envelope["c"]))
            except (TypeError, KeyError):
                pass
        elif kind == "end":
            self._end_locally(room_id, envelope.get("reason", "terminated"))
        elif kind == "kick":
            self._kick_locally(room_id, envelope.get("u"))

    # --- heartbeats and the dead ------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        period = max(0.05, min(1.0, self.heartbeat_timeout / 4))
        while True:
            await asyncio.sleep(period)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("rooms: sweeping failed")

    async def sweep(self) -> None:
        """Close this process's silent sockets (4408); push the deadlines of the others forward in
        the store; remove other processes' sessions whose deadline passed (a dead process)."""
        now = time.monotonic()
        refresh = []
        for session in list(self._sessions.values()):
            if session.closing:
                continue
            if now - session.last_seen > self.heartbeat_timeout:
                session.close(4408, "no heartbeat within the timeout", leave_reason="timeout")
            elif session.last_seen + self.heartbeat_timeout - session.refreshed_until > self.heartbeat_timeout / 3:
                session.refreshed_until = session.last_seen + self.heartbeat_timeout
                refresh.append((session.room_id, session.session_id))
        if refresh:
            await self.store.refresh(refresh, wall_ms() + int((self.heartbeat_timeout + min(5.0, self.heartbeat_timeout / 2)) * 1000))
        for room_id, session_id in await self.store.expired(wall_ms(), 200):
            if session_id in self._sessions:
                continue  # ours: closed above when its time comes
            await self._remove(room_id, session_id, "timeout")


def make_hub(settings) -> Hub:
    """In-process without `CALLGRID_REDIS_URL`, through Redis with it."""
    origin = uuid.uuid4().hex
    if settings.redis_url:
        import redis.asyncio as redis

        client = redis.Redis.from_url(settings.redis_url, client_name=f"callgrid-rooms-{origin[:8]}")
        return Hub(
            RedisStore(client, settings.redis_prefix),
            RedisBus(client, settings.redis_prefix, origin),
            heartbeat_timeout=settings.heartbeat_timeout_seconds,
            origin=origin,
        )
    return Hub(MemoryStore(), MemoryBus(), heartbeat_timeout=settings.heartbeat_timeout_seconds, origin=origin)
