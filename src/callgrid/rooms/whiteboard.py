"""The room's shared whiteboard (docs/rooms.md, Whiteboard).

A board is an ordered list of strokes (pen, straight line, rectangle, text, eraser) since its
last clear. Every stroke and every clear takes the next number of the room's sequence (`seq`),
given out atomically by the board's store (in the process, or in Redis across processes), so
every page orders the board the same way whatever order the messages arrive in: a page keeps
the strokes whose `seq` is above the last clear's and draws them in `seq` order.

A participant who joins gets the board as it is (`whiteboard_state`, right after `welcome`).
The store keeps it while the room is in use; when it has no board for a room (the process
restarted, the room was idle long enough to be forgotten), it is rebuilt from the room's
timeline (callgrid.rooms.timeline), where every stroke and clear is kept.

Coordinates are in the board's own units: x in 0..1600, y in 0..900 (16:9); each page scales
them to its canvas.
"""

import asyncio
import json
import math
import re
import time
from typing import Any, Protocol
from uuid import UUID

from callgrid.db.session import Database
from callgrid.kit.timestamps import utc_millis
from callgrid.rooms import timeline
from callgrid.rooms.hub import IDLE_KEY_TTL_MS, Hub, LocalSession, dumps

BOARD_WIDTH = 1600
BOARD_HEIGHT = 900
TOOLS = ("pen", "line", "rect", "text", "eraser")
MAX_POINTS = 2000
MAX_TEXT = 500
MAX_STROKES = 10_000
MAX_BOARD_BYTES = 4 * 1024 * 1024
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class BadStroke(ValueError):
    pass


class BoardFull(Exception):
    pass


def _number(value: Any, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise BadStroke(f"{what} must be a number from {low:g} to {high:g}")
    return round(float(value), 1)


def parse_stroke(value: Any) -> dict[str, Any]:
    """The stroke of a `whiteboard_draw` as it is kept and sent: only known fields, numbers
    rounded to a tenth of a unit. Raises BadStroke naming what is wrong."""
    if not isinstance(value, dict):
        raise BadStroke("whiteboard_draw needs `stroke`, an object")
    stroke_id, tool, color = value.get("id"), value.get("tool"), value.get("color", "#000000")
    if not isinstance(stroke_id, str) or not _ID.match(stroke_id):
        raise BadStroke("stroke.id must be 1..64 letters, digits or _.:-")
    if tool not in TOOLS:
        raise BadStroke(f"stroke.tool must be one of {', '.join(TOOLS)}")
    if not isinstance(color, str) or not _COLOR.match(color):
        raise BadStroke("stroke.color must be #rrggbb")
    points = value.get("points")
    wanted = {"line": (2, 2), "rect": (2, 2), "text": (1, 1)}.get(tool, (1, MAX_POINTS))
    if not isinstance(points, list) or not wanted[0] <= len(points) <= wanted[1]:
        raise BadStroke(f"stroke.points must be a list of {wanted[0]}..{wanted[1]} [x, y] pairs for {tool}")
    parsed = []
    for point in points:
        if not isinstance(point, list) or len(point) != 2:
            raise BadStroke("each of stroke.points is [x, y]")
        parsed.append([_number(point[0], 0, BOARD_WIDTH, "x"), _number(point[1], 0, BOARD_HEIGHT, "y")])
    stroke: dict[str, Any] = {"id": stroke_id, "tool": tool, "color": color.lower(), "points": parsed}
    if tool == "text":
        text = value.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            raise BadStroke(f"stroke.text must be 1..{MAX_TEXT} characters")
        stroke["text"] = text
        stroke["size"] = _number(value.get("size", 32), 8, 200, "stroke.size")
    else:
        stroke["width"] = _number(value.get("width", 4), 1, 200, "stroke.width")
    return stroke


# --- where boards are kept ----------------------------------------------------------------------


class Board(Protocol):
    async def append(self, room_id: UUID, entry: str) -> int | None: ...
    async def clear(self, room_id: UUID) -> int | None: ...
    async def read(self, room_id: UUID) -> tuple[int, int, list[tuple[int, str]]] | None: ...
    async def init(self, room_id: UUID, seq: int, cleared: int, entries: list[tuple[int, str]]) -> None: ...


class MemoryBoards:
    """Boards in the process (no Redis). A board untouched for `idle_seconds` is forgotten
    (`forget_idle`), to be rebuilt from the timeline when the room is used again."""

    def __init__(self, idle_seconds: float = 3600.0):
        self.idle_seconds = idle_seconds
        self._boards: dict[UUID, dict[str, Any]] = {}

    def _get(self, room_id: UUID) -> dict[str, Any] | None:
        board = self._boards.get(room_id)
        if board is not None:
            board["touched"] = time.monotonic()
        return board

    async def append(self, room_id: UUID, entry: str) -> int | None:
        board = self._get(room_id)
        if board is None:
            return None
        if board["bytes"] + len(entry) > MAX_BOARD_BYTES or len(board["entries"]) >= MAX_STROKES:
            raise BoardFull()
        board["seq"] += 1
        board["bytes"] += len(entry)
        board["entries"].append((board["seq"], entry))
        return board["seq"]

    async def clear(self, room_id: UUID) -> int | None:
        board = self._get(room_id)
        if board is None:
            return None
        board["seq"] += 1
        board["cleared"], board["bytes"], board["entries"] = board["seq"], 0, []
        return board["seq"]

    async def read(self, room_id: UUID) -> tuple[int, int, list[tuple[int, str]]] | None:
        board = self._get(room_id)
        return None if board is None else (board["seq"], board["cleared"], list(board["entries"]))

    async def init(self, room_id: UUID, seq: int, cleared: int, entries: list[tuple[int, str]]) -> None:
        if room_id not in self._boards:
            self._boards[room_id] = {
                "seq": seq, "cleared": cleared, "entries": list(entries),
                "bytes": sum(len(e) for _, e in entries), "touched": time.monotonic(),
            }

    def forget_idle(self, keep: set[UUID]) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        for room_id, board in list(self._boards.items()):
            if board["touched"] < cutoff and room_id not in keep:
                del self._boards[room_id]


# KEYS: meta (hash: seq, cleared, bytes), strokes (list of "seq:entry").
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local size = string.len(ARGV[1])
local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
if bytes + size > tonumber(ARGV[2]) or redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[4]) then return {'full'} end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HINCRBY', KEYS[1], 'bytes', size)
redis.call('RPUSH', KEYS[2], tostring(seq) .. ':' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {'ok', seq}
"""

_CLEAR = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'cleared', seq, 'bytes', 0)
redis.call('DEL', KEYS[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {'ok', seq}
"""

_READ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local meta = redis.call('HMGET', KEYS[1], 'seq', 'cleared')
return {'ok', meta[1] or '0', meta[2] or '0', redis.call('LRANGE', KEYS[2], 0, -1)}
"""

_INIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'cleared', ARGV[3], 'bytes', ARGV[4])
redis.call('DEL', KEYS[2])
for i = 5, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if #ARGV >= 5 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return 1
"""


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBoards:
    """Boards in Redis, shared by every process (`{prefix}:room:{id}:board` and `...:strokes`),
    kept for a day after their last change."""

    def __init__(self, client, prefix: str):
        self.prefix = prefix
        self._append = client.register_script(_APPEND)
        self._clear = client.register_script(_CLEAR)
        self._read = client.register_script(_READ)
        self._init = client.register_script(_INIT)

    def _keys(self, room_id: UUID) -> list[str]:
        base = f"{self.prefix}:room:{room_id}"
        return [f"{base}:board", f"{base}:strokes"]

    async def append(self, room_id: UUID, entry: str) -> int | None:
        result = await self._append(keys=self._keys(room_id), args=[entry, MAX_BOARD_BYTES, IDLE_KEY_TTL_MS, MAX_STROKES])
        status = _text(result[0])
        if status == "missing":
            return None
        if status == "full":
            raise BoardFull()
        return int(result[1])

    async def clear(self, room_id: UUID) -> int | None:
        result = await self._clear(keys=self._keys(room_id), args=[IDLE_KEY_TTL_MS])
        return None if _text(result[0]) == "missing" else int(result[1])

    async def read(self, room_id: UUID) -> tuple[int, int, list[tuple[int, str]]] | None:
        result = await self._read(keys=self._keys(room_id), args=[])
        if _text(result[0]) == "missing":
            return None
        entries = []
        for item in result[3]:
            seq, _, entry = _text(item).partition(":")
            entries.append((int(seq), entry))
        return int(_text(result[1])), int(_text(result[2])), entries

    async def init(self, room_id: UUID, seq: int, cleared: int, entries: list[tuple[int, str]]) -> None:
        size = sum(len(entry) for _, entry in entries)
        await self._init(
            keys=self._keys(room_id),
            args=[IDLE_KEY_TTL_MS, seq, cleared, size, *(f"{s}:{entry}" for s, entry in entries)],
        )


# --- the whiteboard of the live rooms -------------------------------------------------------------


class Whiteboard:
    """Draws and clears from participants' sockets, and the board for those who join."""

    def __init__(self, boards: Board, hub: Hub, database: Database, clock):
        self.boards = boards
        self.hub = hub
        self.database = database
        self.clock = clock
        self._loading: dict[UUID, asyncio.Future] = {}

    async def _load(self, room_id: UUID) -> None:
        """The board from the timeline, into the store (unless another got there first)."""
        pending = self._loading.get(room_id)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future = self._loading[room_id] = asyncio.get_running_loop().create_future()
        try:
            async with self.database.read() as session:
                seq, cleared, draws = await timeline.whiteboard_since_last_clear(session, room_id)
            entries = [
                (int(d.data["seq"]), dumps({"by": d.session_id, "name": d.name, "at": utc_millis(d.at), "stroke": d.data["stroke"]}))
                for d in draws
            ]
            await self.boards.init(room_id, seq, cleared, entries)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else need wait on it
            raise
        finally:
            self._loading.pop(room_id, None)

    async def draw(self, session: LocalSession, stroke: dict[str, Any]) -> None:
        """Keep the stroke (raises BoardFull), then send it to everyone in the room."""
        me = session.participant
        entry = {"by": me.session_id, "name": me.name, "at": utc_millis(self.clock()), "stroke": stroke}
        text = dumps(entry)
        seq = await self.boards.append(session.room_id, text)
        if seq is None:
            await self._load(session.room_id)
            seq = await self.boards.append(session.room_id, text)
            if seq is None:
                raise RuntimeError("the board vanished while it was loaded")
        await self.hub.broadcast(session.room_id, {"type": "whiteboard_draw", "seq": seq, **entry}, actor=me)

    async def clear(self, session: LocalSession) -> None:
        me = session.participant
        seq = await self.boards.clear(session.room_id)
        if seq is None:
            await self._load(session.room_id)
            seq = await self.boards.clear(session.room_id)
        await self.hub.broadcast(
            session.room_id,
            {"type": "whiteboard_clear", "seq": seq, "by": me.session_id, "name": me.name, "at": utc_millis(self.clock())},
            actor=me,
        )

    async def state(self, room_id: UUID) -> dict[str, Any]:
        """`whiteboard_state`: the board as it is now."""
        board = await self.boards.read(room_id)
        if board is None:
            await self._load(room_id)
            board = await self.boards.read(room_id) or (0, 0, [])
        seq, cleared, entries = board
        strokes = []
        for stroke_seq, entry in entries:
            try:
                strokes.append({"seq": stroke_seq, **json.loads(entry)})
            except ValueError:
                continue
        return {"type": "whiteboard_state", "seq": seq, "cleared_seq": cleared, "strokes": strokes}
