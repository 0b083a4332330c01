"""The live endpoint: `/v1/rooms/{id}/live`, one WebSocket per participant (docs/rooms.md).

The handler admits (one short read), joins the hub, sends `welcome`, records the join (one
short write), then reads the client's messages while a writer task drains the session's
queue. It holds no database session in between: the leave is one more short write.
"""

import asyncio
import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from callgrid.kit.timestamps import utc_millis
from callgrid.rooms.hub import GOING_AWAY, LocalSession, RoomTerminated, dumps
from callgrid.rooms.live import TERMINATED, LiveRooms, Refusal

log = logging.getLogger("callgrid.rooms")

router = APIRouter()

MAX_MESSAGE_BYTES = 64 * 1024
MAX_CHAT = 2000
SIGNALS = ("offer", "answer", "ice")
# To this process's recorder of the session (rooms with `record`: callgrid.rooms.recording).
RECORDER_MESSAGES = ("recorder_offer", "recorder_ice")
BAD_FRAMES_ALLOWED = 3


def _error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


@router.websocket("/v1/rooms/{room_id}/live")
async def live(websocket: WebSocket, room_id: str) -> None:
    rooms: LiveRooms = websocket.app.state.rooms
    params = websocket.query_params
    await websocket.accept()
    if rooms.hub.closing:
        await websocket.close(*GOING_AWAY)
        return
    try:
        admission = await rooms.admit(
            room_id, token=params.get("token") or None, key=params.get("key") or None, name=params.get("name")
        )
    except Refusal as refusal:
        await websocket.close(refusal.code, refusal.reason)
        return
    except Exception:
        log.exception("rooms: admission failed")
        await websocket.close(1011, "server error")
        return

    participant = rooms.participant(admission)
    session = LocalSession(admission.room_id, participant, organization_id=admission.organization_id)
    try:
        joined = await rooms.hub.join(admission.limits(), session)
    except RoomTerminated:
        await websocket.close(TERMINATED, "the room is terminated")
        return
    writer = None
    # The join's write (its webhook rows) goes on beside the socket: a busy database must
    # not keep this session from reading its heartbeats. Begun at once, so that a client gone
    # before its welcome still has its join written before its leave.
    recorded = asyncio.create_task(_record_join(rooms, admission, participant, joined))
    try:
        # The whiteboard as it is and the breakouts open (callgrid.rooms.collab): read once the
        # session is in the room (nothing drawn from now on is missed), sent right after `welcome`.
        extras = await rooms.collab.after_welcome(session, admission.features)
        await websocket.send_text(dumps(rooms.welcome(admission, session, joined)))
        for message in extras:
            await websocket.send_text(dumps(message))
        session.ready()
        if rooms.recorders is not None:
            rooms.recorders.register(
                session, room_id=admission.room_id, organization_id=admission.organization_id, record=admission.record
            )
        writer = asyncio.create_task(_write(websocket, session))
        await _read(websocket, session, rooms, admission.features)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("rooms: a live session failed")
        session.close(1011, "server error")
    finally:
        if not session.closing:
            session.close(1000, "bye")
        await asyncio.wait([recorded])  # the join's rows before the leave's
        try:
            await rooms.hub.leave(session)
        except Exception:
            log.exception("rooms: leaving failed")
        if rooms.recorders is not None:
            try:
                await rooms.recorders.release(session)  # its recording's file completed, `ready`
            except Exception:
                log.exception("rooms: ending a recording failed")
        if writer is not None:
            try:
                await asyncio.wait_for(writer, timeout=5)
            except (TimeoutError, asyncio.CancelledError, Exception):
                writer.cancel()
        elif websocket.application_state != WebSocketState.DISCONNECTED:
            try:
                await websocket.close(session.close_code or 1000, session.close_reason)
            except Exception:
                pass


async def _record_join(rooms: LiveRooms, admission, participant, joined) -> None:
    try:
        await rooms.record_join(admission, participant, joined)
    except Exception:
        log.exception("rooms: recording a join failed")


async def _write(websocket: WebSocket, session: LocalSession) -> None:
    """Drain the session's queue onto the socket; close it when told."""
    try:
        while True:
            message = await session.next_outgoing()
            if message is None:
                break
            await websocket.send_text(message if isinstance(message, str) else dumps(message))
    except Exception:
        if not session.closing:
            session.close(1006, "write failed")
        return
    try:
        await websocket.close(session.close_code or 1000, session.close_reason)
    except Exception:
        pass


async def _read(websocket: WebSocket, session: LocalSession, rooms: LiveRooms, features: dict[str, bool]) -> None:
    bad = 0
    receiver = asyncio.ensure_future(websocket.receive())
    closed = asyncio.ensure_future(session.closed_event.wait())
    try:
        while True:
            done, _ = await asyncio.wait({receiver, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                return  # the server closes it (terminated, removed, timeout, shutdown)
            event = receiver.result()
            if event["type"] == "websocket.disconnect":
                return
            receiver = asyncio.ensure_future(websocket.receive())
            session.touch()
            text = event.get("text")
            if text is None:
                session.close(4400, "binary frames are not part of the protocol")
                return
            if len(text.encode()) > MAX_MESSAGE_BYTES:
                session.close(1009, "message larger than 64 KiB")
                return
            try:
                message = json.loads(text)
            except ValueError:
                message = None
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                bad += 1
                if bad >= BAD_FRAMES_ALLOWED:
                    session.close(4400, "not the protocol: JSON objects with a string type")
                    return
                session.send(_error("bad_message", "a message is a JSON object with a string `type`"))
                continue
            bad = 0
            if await _handle(session, rooms, features, message) == "leave":
                session.close(1000, "left")
                return
    finally:
        for task in (receiver, closed):
            task.cancel()


async def _handle(session: LocalSession, rooms: LiveRooms, features: dict[str, bool], message: dict[str, Any]) -> str | None:
    kind = message["type"]
    me = session.participant
    if kind == "ping":
        session.send({"type": "pong"})
    elif kind in SIGNALS:
        to = message.get("to")
        if not isinstance(to, str) or not to:
            session.send(_error("bad_message", f"{kind} needs `to`, a session_id"))
        elif kind in ("offer", "answer") and not isinstance(message.get("sdp"), str):
            session.send(_error("bad_message", f"{kind} needs `sdp`, a string"))
        elif kind == "ice" and not (message.get("candidate") is None or isinstance(message.get("candidate"), dict)):
            session.send(_error("bad_message", "ice needs `candidate`, an object or null"))
        else:
            relayed = {k: v for k, v in message.items() if k != "to"}
            relayed["from"] = me.session_id
            if not await rooms.hub.relay(session, to, relayed):
                session.send(_error("unknown_session", "no such session in this room", to=to))
    elif kind == "chat":
        text = message.get("text")
        if not features.get("chat", True):
            session.send(_error("disabled", "chat is turned off in this room"))
        elif not isinstance(text, str) or not text.strip() or len(text) > MAX_CHAT:
            session.send(_error("bad_message", f"chat needs `text`, 1..{MAX_CHAT} characters"))
        else:
            await rooms.hub.broadcast(
                session.room_id,
                {"type": "chat", "id": str(uuid.uuid4()), "from": me.session_id, "name": me.name, "text": text,
                 "sent_at": utc_millis(rooms.clock())},
            )
    elif kind == "raise_hand":
        raised = message.get("raised")
        if not features.get("raise_hand", True):
            session.send(_error("disabled", "raising hands is turned off in this room"))
        elif not isinstance(raised, bool):
            session.send(_error("bad_message", "raise_hand needs `raised`, a boolean"))
        else:
            me.hand_raised = raised
            await rooms.hub.update(session)
            await rooms.hub.broadcast(session.room_id, {"type": "raise_hand", "session_id": me.session_id, "raised": raised})
    elif kind == "mute":
        fields = {name: message[name] for name in ("audio_muted", "video_muted", "screen_sharing") if name in message}
        if not fields or not all(isinstance(value, bool) for value in fields.values()):
            session.send(_error("bad_message", "mute needs audio_muted, video_muted or screen_sharing, booleans"))
        elif fields.get("screen_sharing") and not features.get("screenshare", True):
            session.send(_error("disabled", "screen sharing is turned off in this room"))
        else:
            for name, value in fields.items():
                setattr(me, name, value)
            await rooms.hub.update(session)
            await rooms.hub.broadcast(
                session.room_id,
                {"type": "mute", "session_id": me.session_id, "audio_muted": me.audio_muted,
                 "video_muted": me.video_muted, "screen_sharing": me.screen_sharing},
            )
    elif kind in RECORDER_MESSAGES:
        if rooms.recorders is None:
            session.send(_error("recording_off", "this room is not recorded"))
        else:
            rooms.recorders.handle(session, message)
    elif kind == "leave":
        return "leave"
    elif await rooms.collab.handle(session, features, message):
        pass  # whiteboard_* and breakout_* (callgrid.rooms.collab)
    else:
        session.send(_error("bad_message", f"unknown message type {kind!r}"))
    return None
