"""A room's timeline (docs/rooms.md, Timeline): everything that happens in the room is kept
with its time and who did it, and `GET /v1/rooms/{id}/timeline` reads it in order, in pages,
from a moment, by type; another organization's room is a 404."""

import asyncio
from datetime import datetime

from tests.rooms.conftest import Peer, create_room, join_token, live_url


async def timeline(client, room_id: str, **params) -> dict:
    response = await client.get(f"/v1/rooms/{room_id}/timeline", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def events_until(client, room_id: str, count: int, timeout: float = 10.0) -> list[dict]:
    """The room's events once there are at least `count` (they are written in batches)."""
    async with asyncio.timeout(timeout):
        while True:
            events = (await timeline(client, room_id, limit=1000))["events"]
            if len(events) >= count:
                return events
            await asyncio.sleep(0.1)


async def test_joins_chat_hands_mute_whiteboard_and_leaves_are_kept_in_order(tenant, server):
    room = (await create_room(tenant, type="public", members=[{"user_id": "alice", "type": "host", "name": "Alice"}]))["room"]
    token = (await join_token(tenant, room["id"], "alice"))["token"]
    alice = await Peer.join(live_url(server, room["id"], token=token))
    bob = await Peer.join(live_url(server, room["id"], token=(await join_token(tenant, room["id"], "bob", name="Bob"))["token"]))
    await alice.next("participant_joined")
    await alice.send({"type": "chat", "text": "hello"})
    chat = await bob.next("chat")
    await bob.send({"type": "raise_hand", "raised": True})
    await alice.next("raise_hand")
    await alice.send({"type": "mute", "video_muted": True})
    await bob.next("mute")
    stroke = {"id": "a1", "tool": "line", "color": "#ff0000", "width": 3, "points": [[1, 2], [3, 4]]}
    await bob.send({"type": "whiteboard_draw", "stroke": stroke})
    await alice.next("whiteboard_draw")
    await alice.send({"type": "whiteboard_clear"})
    await bob.next("whiteboard_clear")
    await alice.send({"type": "ping"})  # not an event
    await alice.next("pong")
    await bob.close()
    await alice.next("participant_left")

    events = await events_until(tenant.client, room["id"], 8)
    assert [(e["type"], e["session_id"]) for e in events] == [
        ("session_joined", alice.session_id),
        ("session_joined", bob.session_id),
        ("chat", alice.session_id),
        ("raise_hand", bob.session_id),
        ("mute", alice.session_id),
        ("whiteboard_draw", bob.session_id),
        ("whiteboard_clear", alice.session_id),
        ("session_left", bob.session_id),
    ]
    joined, _, said, hand, muted, drawn, cleared, left = events
    assert joined["data"] == {"role": "host"} and (joined["user_id"], joined["name"]) == ("alice", "Alice")
    assert joined["member_id"] == alice.welcome["member_id"]
    assert said["data"] == {"id": chat["id"], "text": "hello"}
    assert hand["data"] == {"raised": True} and (hand["user_id"], hand["name"]) == ("bob", "Bob")
    assert muted["data"] == {"audio_muted": False, "video_muted": True, "screen_sharing": False}
    assert drawn["data"] == {"seq": 1, "stroke": {**stroke, "width": 3.0, "points": [[1.0, 2.0], [3.0, 4.0]]}}
    assert cleared["data"] == {"seq": 2}
    assert left["data"] == {"reason": "left"}
    stamps = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in events]
    assert stamps == sorted(stamps) and all(e["at"].endswith("Z") and len(e["at"]) == 24 for e in events)
    assert len({e["id"] for e in events}) == 8
    await alice.close()


async def test_pages_a_moment_types_and_refusals(tenant, server):
    room = (await create_room(tenant, type="open"))["room"]
    peer = await Peer.join(live_url(server, room["id"], name="Zoe"))
    for n in range(5):
        await peer.send({"type": "chat", "text": f"message {n}"})
        await peer.next("chat")
    events = await events_until(tenant.client, room["id"], 6)

    first = await timeline(tenant.client, room["id"], limit=2)
    assert [e["id"] for e in first["events"]] == [e["id"] for e in events[:2]]
    assert first["room_id"] == room["id"] and first["paging"]["limit"] == 2
    second = await timeline(tenant.client, room["id"], limit=2, after=first["paging"]["next"])
    assert [e["id"] for e in second["events"]] == [e["id"] for e in events[2:4]]
    rest = await timeline(tenant.client, room["id"], limit=100, after=second["paging"]["next"])
    assert [e["id"] for e in rest["events"]] == [e["id"] for e in events[4:]]
    assert (await timeline(tenant.client, room["id"], after=rest["paging"]["next"])) == {
        "room_id": room["id"], "events": [], "paging": {"limit": 100, "next": None},
    }
    chats = await timeline(tenant.client, room["id"], types="chat")
    assert [e["data"]["text"] for e in chats["events"]] == [f"message {n}" for n in range(5)]
    assert (await timeline(tenant.client, room["id"], types="session_joined,chat"))["events"] == events
    since = await timeline(tenant.client, room["id"], since=events[3]["at"])
    assert {e["id"] for e in since["events"]} >= {e["id"] for e in events[3:]}
    assert (await timeline(tenant.client, room["id"], since="2099-01-01T00:00:00Z"))["events"] == []

    for params, field in (({"after": "nonsense"}, "after"), ({"types": "chat,dance"}, "types"), ({"limit": 0}, "limit"),
                          ({"limit": 1001}, "limit"), ({"since": "yesterday"}, "since")):
        response = await tenant.client.get(f"/v1/rooms/{room['id']}/timeline", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert any(field in error["field"] for error in response.json()["errors"]), response.json()
    await peer.close()


async def test_another_organizations_room_and_a_missing_one_are_404(tenant, other_tenant, server):
    room = (await create_room(tenant, type="open"))["room"]
    peer = await Peer.join(live_url(server, room["id"], name="Zoe"))
    await events_until(tenant.client, room["id"], 1)
    for client, room_id in ((other_tenant.client, room["id"]), (tenant.client, "018f0000-0000-7000-8000-000000000000"),
                            (tenant.client, "not-a-uuid")):
        response = await client.get(f"/v1/rooms/{room_id}/timeline")
        assert response.status_code == 404, response.text
        assert response.json()["errors"] == [{"field": "id", "message": f"no room with id {room_id}"}]
    assert (await other_tenant.client.get(f"/v1/rooms/{room['id']}/timeline", params={"limit": 5})).status_code == 404
    anonymous = await tenant.client.get(f"/v1/rooms/{room['id']}/timeline", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    await peer.close()


async def test_the_writer_writes_in_batches_and_keeps_a_refused_batchs_good_rows(app, tenant):
    """Rows of a room that is gone spoil a batch on the database's foreign key: the others go in."""
    import uuid

    from callgrid.rooms.hub import Participant
    from callgrid.rooms.timeline import event_row

    room = (await create_room(tenant, type="open"))["room"]
    writer = app.state.rooms.collab.timeline
    someone = Participant("s-1", "m-1", None, "Zoe", "guest", "2030-01-01T12:00:00.000Z")
    now = app.state.clock()
    good = [event_row(uuid.UUID(room["id"]), {"type": "chat", "id": str(n), "text": f"t{n}"}, someone, now) for n in range(3)]
    gone = event_row(uuid.uuid4(), {"type": "chat", "id": "x", "text": "lost"}, someone, now)
    for row in (good[0], gone, good[1], good[2]):
        writer.add(row)
    assert event_row(uuid.uuid4(), {"type": "pong"}, someone, now) is None
    await writer.flush()
    events = (await timeline(tenant.client, room["id"]))["events"]
    assert [e["data"]["text"] for e in events] == ["t0", "t1", "t2"]
