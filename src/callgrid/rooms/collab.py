"""What participants do together beyond the call itself: the whiteboard, breakout rooms, and
the timeline that keeps all of it (docs/rooms.md). One `Collab` per live-rooms runtime
(callgrid.rooms.live.LiveRooms.collab): the live socket hands it the message types it owns
(`handle`) and sends what it has for a newcomer right after `welcome` (`after_welcome`); the
hub tells it of every message sent to a room (`observe`), which feeds the timeline.
"""

import asyncio
import logging
from typing import Any
from uuid import UUID

from callgrid.rooms import timeline
from callgrid.rooms.breakouts import Breakouts, Refused
from callgrid.rooms.hub import LocalSession, Participant, RedisStore
from callgrid.rooms.whiteboard import BadStroke, BoardFull, MemoryBoards, RedisBoards, Whiteboard, parse_stroke

log = logging.getLogger("callgrid.rooms")

WHITEBOARD_MESSAGES = ("whiteboard_draw", "whiteboard_clear")
BREAKOUT_MESSAGES = ("breakout_open", "breakout_close", "breakout_assign", "breakout_visit", "breakout_broadcast", "breakout_state")
MESSAGES = frozenset(WHITEBOARD_MESSAGES + BREAKOUT_MESSAGES)


class Collab:
    def __init__(self, live):
        self.live = live  # callgrid.rooms.live.LiveRooms
        hub = live.hub
        self.timeline = timeline.TimelineWriter(live.database)
        if isinstance(hub.store, RedisStore):
            self.boards: Any = RedisBoards(hub.store.redis, hub.store.prefix)
        else:
            self.boards = MemoryBoards()
        self.whiteboard = Whiteboard(self.boards, hub, live.database, live.clock)
        self.breakouts = Breakouts(live)
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        await self.timeline.start()
        self.live.hub.observer = self.observe
        if isinstance(self.boards, MemoryBoards):
            self._sweeper = asyncio.create_task(self._forget_idle_boards(), name="callgrid-rooms-boards")

    async def stop(self) -> None:
        """After the hub has stopped (its last leaves are in the timeline)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.breakouts.stop()
        await self.timeline.stop()

    async def _forget_idle_boards(self) -> None:
        while True:
            await asyncio.sleep(60)
            self.boards.forget_idle(keep=set(self.live.hub._rooms))

    def observe(self, room_id: UUID, message: dict[str, Any], actor: Participant | None) -> None:
        row = timeline.event_row(room_id, message, actor, self.live.clock())
        if row is not None:
            self.timeline.add(row)
        if message.get("type") == "terminated" and message.get("reason") != "breakout_closed":
            self.breakouts.spawn(self.breakouts.main_ended(room_id, message.get("reason") or "terminated"))

    async def handle(self, session: LocalSession, features: dict[str, bool], message: dict[str, Any]) -> bool:
        """A message of a type this module owns (False: not one of them). Refusals are `error`
        messages to the sender."""
        kind = message["type"]
        if kind not in MESSAGES:
            return False
        try:
            if kind in WHITEBOARD_MESSAGES:
                if not features.get("whiteboard", True):
                    raise Refused("disabled", "the whiteboard is turned off in this room")
                if kind == "whiteboard_draw":
                    await self.whiteboard.draw(session, parse_stroke(message.get("stroke")))
                else:
                    await self.whiteboard.clear(session)
            else:
                await self.breakouts.handle(session, features, message)
        except BadStroke as bad:
            session.send({"type": "error", "code": "bad_message", "message": str(bad)})
        except BoardFull:
            session.send({"type": "error", "code": "whiteboard_full", "message": "the whiteboard is full: clear it first"})
        except Refused as refused:
            session.send({"type": "error", "code": refused.code, "message": refused.message, **refused.extra})
        return True

    async def after_welcome(self, session: LocalSession, features: dict[str, bool]) -> list[dict[str, Any]]:
        """What a newcomer gets right after `welcome`: the board as it is, and the breakouts open."""
        out = []
        try:
            if features.get("whiteboard", True):
                out.append(await self.whiteboard.state(session.room_id))
            if features.get("breakout_rooms", True):  # (off: none can be open)
                state = await self.breakouts.state(session.room_id)
                if state is not None:
                    out.append(state)
        except Exception:
            log.exception("rooms: the whiteboard or breakouts of a newcomer could not be read")
        return out
