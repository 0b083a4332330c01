"""The whiteboard and breakout rooms across two `callgrid serve` processes sharing a database and
Redis: strokes drawn on one process reach the other's participants numbered in one sequence, a
newcomer on either gets the board as it is, and breakouts opened on one process move, reach and
bring back participants connected to the other (the time limit too); the timeline has it all."""

import asyncio

import pytest

from tests.rooms.conftest import Peer, heartbeats, live_url
from tests.rooms.test_processes import api, two_servers  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow  # server processes

LINE = {"id": "l1", "tool": "line", "color": "#ff0000", "width": 4, "points": [[10, 10], [200, 100]]}
RECT = {"id": "r1", "tool": "rect", "color": "#0000ff", "width": 2, "points": [[300, 300], [500, 400]]}


async def test_whiteboard_and_breakouts_across_processes(two_servers):  # noqa: F811
    one, two = two_servers
    key = one.first_key
    members = [{"user_id": "teacher", "type": "host", "name": "Teacher"}, {"user_id": "ann", "name": "Ann"}]
    room = (await api(one, key, "POST", "/v1/rooms", json={"name": "Across", "type": "private", "members": members}))["room"]

    async def url(server, user_id: str) -> str:
        token = (await api(one, key, "POST", f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": user_id}))["token"]
        return live_url(server.base_url, room["id"], token=token)

    teacher = await Peer.join(await url(one, "teacher"))
    ann = await Peer.join(await url(two, "ann"))
    beating = [teacher, ann]
    async with heartbeats(beating):
        # Whiteboard: one sequence across processes; newcomers on either see the board.
        await teacher.next("participant_joined")
        await teacher.send({"type": "whiteboard_draw", "stroke": LINE})
        drawn = await ann.next("whiteboard_draw")
        assert (drawn["seq"], drawn["by"], drawn["stroke"]["id"]) == (1, teacher.session_id, "l1")
        await ann.send({"type": "whiteboard_draw", "stroke": RECT})
        assert (await teacher.next("whiteboard_draw", seq=2))["by"] == ann.session_id
        for server in (one, two):
            late = await Peer.join(await url(server, "ann"))
            state = await late.next("whiteboard_state")
            assert [(s["seq"], s["stroke"]["id"]) for s in state["strokes"]] == [(1, "l1"), (2, "r1")]
            await late.close()
        await ann.send({"type": "whiteboard_clear"})
        assert (await teacher.next("whiteboard_clear"))["seq"] == 3
        late = await Peer.join(await url(one, "teacher"))
        assert (await late.next("whiteboard_state"))["strokes"] == []
        await late.close()

        # Breakouts opened on one process move a participant of the other, who comes back at the limit.
        await teacher.send({"type": "breakout_open", "count": 1, "duration_seconds": 3})
        opened = await teacher.next("breakout_opened")
        move = await ann.next("breakout_move")
        assert move["room"]["id"] == opened["rooms"][0]["id"]
        await ann.close()
        beating.remove(ann)
        ann = await Peer.join(live_url(two.base_url, move["room"]["id"], token=move["token"]))
        beating.append(ann)
        assert ann.welcome["room"]["id"] == move["room"]["id"]
        await teacher.send({"type": "breakout_broadcast", "text": "Back soon"})
        assert (await ann.next("breakout_broadcast"))["text"] == "Back soon"
        returned = await ann.next("breakout_return", timeout=20)
        assert returned == {"type": "breakout_return", "room": {"id": room["id"]}, "reason": "time_limit"}
        assert (await ann.closed())[0] == 4410
        beating.remove(ann)
        closed = await teacher.next("breakout_closed", timeout=20)
        assert closed["rooms"] == [move["room"]["id"]]
        ann = await Peer.join(await url(two, "ann"))
        beating.append(ann)
        live = await api(one, key, "GET", f"/v1/rooms/{room['id']}/sessions")
        assert {s["user_id"] for s in live["sessions"]} == {"teacher", "ann"}
        shown = (await api(two, key, "GET", f"/v1/rooms/{move['room']['id']}"))["room"]
        assert shown["is_terminated"] is True and shown["parent_id"] == room["id"]

        # The timeline, read from either process, has what both recorded.
        wanted = ["whiteboard_draw", "whiteboard_draw", "whiteboard_clear", "breakout_opened", "breakout_broadcast", "breakout_closed"]
        async with asyncio.timeout(15):
            while True:
                events = (await api(two, key, "GET", f"/v1/rooms/{room['id']}/timeline",
                                    params={"types": ",".join(sorted(set(wanted)))}))["events"]
                if len(events) >= len(wanted):
                    break
                await asyncio.sleep(0.2)
        assert [e["type"] for e in events] == wanted
        assert [e["user_id"] for e in events[:3]] == ["teacher", "ann", "ann"]
    await teacher.close()
    await ann.close()
