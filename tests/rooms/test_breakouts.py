"""Breakout rooms over the live protocol (docs/rooms.md, Breakout rooms): a host opens them
(participants spread automatically or assigned by hand), participants are moved (they follow
`breakout_move` into a room of its own with the main room's members and rules), the host visits
and broadcasts to all, moves one person, and closing them (or their time limit) sends everyone
back to the main room and ends the breakouts; only hosts manage them, and the appointment's
flag turns them off."""

import asyncio
import json

from sqlalchemy import select

from tests.rooms.conftest import Peer, create_room, join_token, live_url, refused


class Room:
    """A main room with a host (`teacher`) and the tokens of everyone who joins it."""

    def __init__(self, tenant, server, room: dict):
        self.tenant, self.server, self.room, self.id = tenant, server, room, room["id"]
        self.urls: dict[str, str] = {}

    @classmethod
    async def create(cls, tenant, server, **fields) -> "Room":
        body = {"type": "private", "members": [{"user_id": "teacher", "type": "host", "name": "Teacher"},
                                                *({"user_id": u, "name": u.title()} for u in ("ann", "ben", "cat", "dan"))]}
        return cls(tenant, server, (await create_room(tenant, **{**body, **fields}))["room"])

    async def join(self, user_id: str) -> Peer:
        if user_id not in self.urls:
            token = (await join_token(self.tenant, self.id, user_id))["token"]
            self.urls[user_id] = live_url(self.server, self.id, token=token)
        return await Peer.join(self.urls[user_id])

    async def sessions(self, room_id: str | None = None) -> set[str]:
        answer = await self.tenant.client.get(f"/v1/rooms/{room_id or self.id}/sessions")
        assert answer.status_code == 200, answer.text
        return {s["user_id"] for s in answer.json()["sessions"]}


async def follow(room: Room, peer: Peer, moved: dict) -> Peer:
    """What the room page does with `breakout_move`: leave, and join the breakout with its credentials."""
    await peer.close()
    query = {"token": moved["token"]} if "token" in moved else {"key": moved["key"], "name": "Guest"}
    joined = await Peer.join(live_url(room.server, moved["room"]["id"], **query))
    assert joined.welcome["room"]["id"] == moved["room"]["id"]
    return joined


async def go_back(room: Room, user_id: str, peer: Peer) -> Peer:
    """What the page does with `breakout_return`: rejoin the main room with its own credentials."""
    await peer.close()
    return await room.join(user_id)


async def until(read, check, timeout: float = 10.0):
    async with asyncio.timeout(timeout):
        while not check(value := await read()):
            await asyncio.sleep(0.05)
    return value


async def test_open_spread_move_visit_broadcast_reassign_and_close_with_everyone_back(tenant, server):
    room = await Room.create(tenant, server)
    teacher = await room.join("teacher")
    students = {u: await room.join(u) for u in ("ann", "ben", "cat", "dan")}
    assert teacher.welcome["features"]["breakout_rooms"] is True

    await teacher.send({"type": "breakout_open", "count": 2})
    opened = await teacher.next("breakout_opened")
    assert [r["name"] for r in opened["rooms"]] == ["Breakout 1", "Breakout 2"] and opened["closes_at"] is None
    placed = {r["id"]: r["session_ids"] for r in opened["rooms"]}
    by_session = {p.session_id: u for u, p in students.items()}
    # Spread in the order they joined, the host staying in the main room.
    assert [[by_session[s] for s in ids] for ids in placed.values()] == [["ann", "cat"], ["ben", "dan"]]
    moved = {}
    for user_id, peer in students.items():
        move = await peer.next("breakout_move")
        assert move["room"]["id"] in placed and peer.session_id in placed[move["room"]["id"]]
        assert set(move) == {"type", "room", "closes_at", "token"}
        moved[user_id] = move
        assert (await peer.next("breakout_opened"))["rooms"] == opened["rooms"]
    assert not [m for m in teacher.seen if m["type"] == "breakout_move"]

    # Each breakout is a room of its own: the main room's type, members and webhook rules.
    first, second = opened["rooms"]
    shown = (await tenant.client.get(f"/v1/rooms/{first['id']}")).json()["room"]
    assert (shown["type"], shown["members_count"], shown["name"], shown["parent_id"]) == ("private", 5, "Breakout 1", room.id)
    in_breakout = {u: await follow(room, students[u], moved[u]) for u in students}
    ann = in_breakout["ann"]
    assert ann.welcome["role"] == "member" and ann.welcome["user_id"] == "ann"
    assert [p["user_id"] for p in ann.welcome["participants"]] in ([], ["cat"])
    state = await ann.next("breakout_state")
    assert (state["main_room_id"], state["room_id"]) == (room.id, first["id"])
    assert [r["id"] for r in state["rooms"]] == [first["id"], second["id"]]
    await until(lambda: room.sessions(first["id"]), lambda users: users == {"ann", "cat"})
    await until(lambda: room.sessions(), lambda users: users == {"teacher"})

    # The host visits the first breakout: there as host, seen by those in it.
    await teacher.send({"type": "breakout_visit", "room_id": first["id"]})
    visit = await teacher.next("breakout_move")
    assert visit["room"] == {"id": first["id"], "name": "Breakout 1"}
    teacher = await follow(room, teacher, visit)
    assert teacher.welcome["role"] == "host"
    async with asyncio.timeout(10):
        while (await ann.next("participant_joined"))["participant"]["user_id"] != "teacher":
            pass

    # A broadcast from there reaches the main room and every breakout.
    late = await room.join("ann")  # Ann's second tab, in the main room
    await teacher.send({"type": "breakout_broadcast", "text": "Five minutes left"})
    for peer in (late, *in_breakout.values()):
        said = await peer.next("breakout_broadcast")
        assert (said["text"], said["name"], said["from"]) == ("Five minutes left", "Teacher", teacher.session_id)
    assert (await teacher.next("breakout_broadcast"))["text"] == "Five minutes left"

    # The host moves Dan from the second breakout to the first.
    dan_session = in_breakout["dan"].session_id
    await teacher.send({"type": "breakout_assign", "session_id": dan_session, "room_id": first["id"]})
    move = await in_breakout["dan"].next("breakout_move")
    assert move["room"]["id"] == first["id"]
    in_breakout["dan"] = await follow(room, in_breakout["dan"], move)
    await until(lambda: room.sessions(first["id"]), lambda users: users == {"ann", "cat", "dan", "teacher"})
    await until(lambda: room.sessions(second["id"]), lambda users: users == {"ben"})
    await teacher.next("breakout_state")  # the one sent when the teacher came in
    await teacher.send({"type": "breakout_state"})
    listed = await teacher.next("breakout_state")
    assert {p["name"] for p in listed["rooms"][0]["participants"]} == {"Ann", "Cat", "Dan", "Teacher"}
    assert [p["name"] for p in listed["rooms"][1]["participants"]] == ["Ben"]
    assert [p["session_id"] for p in listed["main_participants"]] == [late.session_id]

    # Closing sends everyone back and ends the breakouts.
    await teacher.send({"type": "breakout_close"})
    back = {}
    for user_id, peer in [*in_breakout.items(), ("teacher", teacher)]:
        returned = await peer.next("breakout_return")
        assert returned == {"type": "breakout_return", "room": {"id": room.id}, "reason": "closed"}
        assert await peer.next("terminated") == {"type": "terminated", "reason": "breakout_closed"}
        assert (await peer.closed())[0] == 4410
        back[user_id] = await go_back(room, user_id, peer)
    closed = await late.next("breakout_closed")  # those in the main room hear of it
    assert (closed["reason"], sorted(closed["rooms"])) == ("closed", sorted(r["id"] for r in opened["rooms"]))
    await late.close()
    assert await room.sessions() == {"teacher", "ann", "ben", "cat", "dan"}
    for breakout in opened["rooms"]:
        shown = (await tenant.client.get(f"/v1/rooms/{breakout['id']}")).json()["room"]
        assert shown["is_terminated"] is True
        token = next(m["token"] for m in moved.values() if m["room"]["id"] == breakout["id"])
        assert await refused(live_url(server, breakout["id"], token=token)) == (4410, "the room is terminated")
    # Nothing left to close.
    await back["teacher"].send({"type": "breakout_close"})
    assert (await back["teacher"].next("error"))["code"] == "no_breakouts"
    for peer in back.values():
        await peer.close()


async def test_assigned_by_hand_with_the_others_left_in_the_main_room(tenant, server):
    room = await Room.create(tenant, server)
    teacher = await room.join("teacher")
    ann, ben, cat = await room.join("ann"), await room.join("ben"), await room.join("cat")
    await teacher.send({"type": "breakout_open", "rooms": [
        {"name": "Red", "session_ids": [cat.session_id]}, {"name": "Blue", "session_ids": [ann.session_id]}]})
    opened = await teacher.next("breakout_opened")
    assert [(r["name"], r["session_ids"]) for r in opened["rooms"]] == [("Red", [cat.session_id]), ("Blue", [ann.session_id])]
    assert (await cat.next("breakout_move"))["room"]["name"] == "Red"
    assert (await ann.next("breakout_move"))["room"]["name"] == "Blue"
    await ben.next("breakout_opened")
    assert not [m for m in ben.seen if m["type"] == "breakout_move"]
    # Manual, plus the rest spread.
    await teacher.send({"type": "breakout_close"})
    await teacher.next("breakout_closed")
    await teacher.send({"type": "breakout_open", "assign": "auto", "rooms": [{"session_ids": [cat.session_id]}, {}]})
    opened = await teacher.next("breakout_opened")
    users = {ann.session_id: "ann", ben.session_id: "ben", cat.session_id: "cat"}
    assert [[users[s] for s in r["session_ids"]] for r in opened["rooms"]] == [["cat", "ben"], ["ann"]]
    for peer in (teacher, ann, ben, cat):
        await peer.close()


async def test_the_time_limit_brings_everyone_back(tenant, server):
    room = await Room.create(tenant, server)
    teacher = await room.join("teacher")
    ann = await room.join("ann")
    await teacher.send({"type": "breakout_open", "count": 1, "duration_seconds": 1})
    opened = await teacher.next("breakout_opened")
    assert opened["closes_at"] is not None
    ann = await follow(room, ann, await ann.next("breakout_move"))
    assert (await ann.next("breakout_state"))["closes_at"] == opened["closes_at"]
    returned = await ann.next("breakout_return", timeout=10)
    assert returned["reason"] == "time_limit"
    assert (await ann.closed())[1] == "the room is terminated"
    ann = await go_back(room, "ann", ann)
    closed = await teacher.next("breakout_closed")
    assert (closed["reason"], closed["rooms"]) == ("time_limit", [opened["rooms"][0]["id"]])
    assert await room.sessions() == {"teacher", "ann"}
    # The timeline of the main room has the breakouts' opening and closing.
    async with asyncio.timeout(10):
        while True:
            events = (await tenant.client.get(f"/v1/rooms/{room.id}/timeline", params={"types": "breakout_opened,breakout_closed"})).json()["events"]
            if len(events) == 2:
                break
            await asyncio.sleep(0.1)
    assert [e["type"] for e in events] == ["breakout_opened", "breakout_closed"]
    assert events[0]["user_id"] == "teacher" and events[1]["data"]["reason"] == "time_limit"
    await teacher.close()
    await ann.close()


async def test_refusals(tenant, server):
    room = await Room.create(tenant, server)
    teacher = await room.join("teacher")
    ann = await room.join("ann")
    await ann.send({"type": "breakout_open", "count": 2})
    assert (await ann.next("error"))["code"] == "not_allowed"
    for bad in ({"type": "breakout_open"}, {"type": "breakout_open", "count": 0}, {"type": "breakout_open", "count": 51},
                {"type": "breakout_open", "rooms": []}, {"type": "breakout_open", "rooms": [{"name": ""}]},
                {"type": "breakout_open", "count": 1, "duration_seconds": 0},
                {"type": "breakout_open", "count": 1, "assign": "random"},
                {"type": "breakout_open", "rooms": [{"session_ids": [ann.session_id]}, {"session_ids": [ann.session_id]}]}):
        await teacher.send(bad)
        assert (await teacher.next("error"))["code"] == "bad_message", bad
    await teacher.send({"type": "breakout_open", "rooms": [{"session_ids": ["nobody"]}]})
    assert (await teacher.next("error"))["code"] == "unknown_session"
    await teacher.send({"type": "breakout_close"})
    assert (await teacher.next("error"))["code"] == "no_breakouts"
    await teacher.send({"type": "breakout_open", "count": 1})
    opened = await teacher.next("breakout_opened")
    await teacher.send({"type": "breakout_open", "count": 1})
    assert (await teacher.next("error"))["code"] == "breakouts_open"
    await teacher.send({"type": "breakout_visit", "room_id": room.id.replace(room.id[-4:], "0000")})
    assert (await teacher.next("error"))["code"] == "unknown_room"
    await teacher.send({"type": "breakout_broadcast", "text": ""})
    assert (await teacher.next("error"))["code"] == "bad_message"
    # Opened from a breakout: refused (no breakouts of breakouts).
    moved = await ann.next("breakout_move")
    ann = await follow(room, ann, moved)
    # Ann is no host in the breakout either.
    await ann.send({"type": "breakout_close"})
    assert (await ann.next("error"))["code"] == "not_allowed"
    await teacher.send({"type": "breakout_visit", "room_id": opened["rooms"][0]["id"]})
    teacher = await follow(room, teacher, await teacher.next("breakout_move"))
    await teacher.send({"type": "breakout_open", "count": 1})
    assert (await teacher.next("error"))["code"] == "not_allowed"
    await teacher.send({"type": "breakout_close"})
    await teacher.next("breakout_return")
    for peer in (teacher, ann):
        await peer.close()


async def test_the_appointments_flag_turns_breakouts_off_and_on(tenant, server):
    created = await tenant.client.post("/api/v1/appointments/", json={
        "title": "Class", "start_date_time": "2030-01-03T10:00:00Z", "duration_minutes": 30,
        "participants": [{"role": "moderator", "unique_id": "teacher@example.com"},
                         {"role": "participant", "unique_id": "ann@example.com", "display_name": "Ann"}],
    })
    assert created.status_code == 201, created.text
    appointment = created.json()
    links = {p["unique_id"]: p["join_url"].partition("?token=")[2] for p in appointment["participants"]}
    teacher = await Peer.join(live_url(server, appointment["id"], token=links["teacher@example.com"]))
    assert teacher.welcome["features"]["breakout_rooms"] is False
    await teacher.send({"type": "breakout_open", "count": 1})
    assert (await teacher.next("error"))["code"] == "disabled"
    await teacher.close()
    config = {"config": {"breakout_rooms_enabled": True, "whiteboard_enabled": True}}
    assert (await tenant.client.patch(f"/api/v1/appointments/{appointment['id']}/", json=config)).status_code == 200
    teacher = await Peer.join(live_url(server, appointment["id"], token=links["teacher@example.com"]))
    ann = await Peer.join(live_url(server, appointment["id"], token=links["ann@example.com"]))
    await teacher.send({"type": "breakout_open", "count": 1})
    moved = await ann.next("breakout_move")
    # The breakout has the appointment's members and features (its config is the appointment's).
    ann = await _follow_to(server, ann, moved)
    assert ann.welcome["features"]["breakout_rooms"] is True and ann.welcome["features"]["whiteboard"] is True
    assert ann.welcome["features"]["chat"] is True and ann.welcome["role"] == "member"
    for peer in (teacher, ann):
        await peer.close()


async def _follow_to(server, peer: Peer, moved: dict) -> Peer:
    await peer.close()
    return await Peer.join(live_url(server, moved["room"]["id"], token=moved["token"]))


async def test_guests_move_with_the_breakouts_room_key_and_webhooks_work_there(app, tenant, server):
    created = await create_room(tenant, type="open", members=[{"user_id": "host", "type": "host"}],
                                webhook={"url": "https://hooks.example.com/room"})
    room = created["room"]
    host = await Peer.join(live_url(server, room["id"], token=(await join_token(tenant, room["id"], "host"))["token"]))
    guest = await Peer.join(live_url(server, room["id"], name="Walk-in"))
    await host.send({"type": "breakout_open", "count": 1})
    moved = await guest.next("breakout_move")
    assert "token" not in moved and moved["key"]
    await guest.close()
    guest = await Peer.join(live_url(server, moved["room"]["id"], key=moved["key"], name="Walk-in"))
    assert (guest.welcome["role"], guest.welcome["name"]) == ("guest", "Walk-in")
    await guest.close()

    from callgrid.webhooks.models import WebhookEvent

    async def room_events():
        async with app.state.database.read() as session:
            rows = (await session.execute(select(WebhookEvent.payload, WebhookEvent.endpoint_id))).all()
        return [(json.loads(p), e) for p, e in rows]

    wanted = lambda rows: [p for p, e in rows if e is not None and p.get("payload", {}).get("roomId") == moved["room"]["id"]]  # noqa: E731
    found = await until(room_events, lambda rows: len(wanted(rows)) >= 2)
    assert sorted((p["action"], p["payload"]["sessionsCount"]) for p in wanted(found)) == [("sessionJoined", 1), ("sessionLeft", 0)]
    await host.close()


async def test_when_the_main_room_ends_its_breakouts_end_with_it(tenant, server):
    room = await Room.create(tenant, server)
    teacher = await room.join("teacher")
    ann = await room.join("ann")
    await teacher.send({"type": "breakout_open", "count": 1})
    opened = await teacher.next("breakout_opened")
    ann = await follow(room, ann, await ann.next("breakout_move"))
    assert (await tenant.client.post(f"/v1/rooms/{room.id}/terminate")).status_code == 200
    for peer in (teacher, ann):
        assert await peer.next("terminated") == {"type": "terminated", "reason": "terminated"}
        assert (await peer.closed())[0] == 4410
    assert not [m for m in ann.seen if m["type"] == "breakout_return"]
    breakout = opened["rooms"][0]["id"]
    shown = await until(lambda: room_of(tenant, breakout), lambda r: r["is_terminated"])
    assert shown["parent_id"] == room.id
    # Both timelines have the room's end (then the last leaves); the main room's, its breakouts' end.
    main = await until(lambda: timeline_types(tenant, room.id), lambda types: {"room_terminated", "breakout_closed"} <= set(types))
    assert main.index("breakout_opened") < main.index("room_terminated")
    # (Whichever live runtime of the process ended them wrote the end, on its own clock: tests
    # hold several on one database, each with its test's clock; so no order is asserted here.)
    await until(lambda: timeline_types(tenant, breakout), lambda types: {"session_joined", "room_terminated", "session_left"} <= set(types))


async def room_of(tenant, room_id: str) -> dict:
    return (await tenant.client.get(f"/v1/rooms/{room_id}")).json()["room"]


async def timeline_types(tenant, room_id: str) -> list[str]:
    return [e["type"] for e in (await tenant.client.get(f"/v1/rooms/{room_id}/timeline")).json()["events"]]
