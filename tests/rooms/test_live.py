"""The live protocol between real WebSocket clients: presence, counts, signaling, chat, hands,
mute state, heartbeats, the meeting clock and the maximum meeting time (docs/rooms.md)."""

import asyncio

import pytest

from tests.rooms.conftest import Peer, create_room, join_token, live_url, refused


async def token_url(tenant, server, room_id: str, user_id: str, **fields) -> str:
    return live_url(server, room_id, token=(await join_token(tenant, room_id, user_id, **fields))["token"])


async def sessions(tenant, room_id: str) -> dict:
    response = await tenant.client.get(f"/v1/rooms/{room_id}/sessions")
    assert response.status_code == 200, response.text
    return response.json()


async def test_two_sessions_of_one_member_count_as_two_sessions_and_one_member(tenant, server):
    room = (await create_room(tenant, type="private", members=[{"user_id": "alice", "name": "Alice"}, {"user_id": "bob"}]))["room"]
    tab1 = await Peer.join(await token_url(tenant, server, room["id"], "alice"))
    tab2 = await Peer.join(await token_url(tenant, server, room["id"], "alice"))
    assert tab1.welcome["member_id"] == tab2.welcome["member_id"]
    assert tab1.session_id != tab2.session_id
    live = await sessions(tenant, room["id"])
    assert (live["sessions_count"], live["members_count"]) == (2, 1)
    assert {s["session_id"] for s in live["sessions"]} == {tab1.session_id, tab2.session_id}
    bob = await Peer.join(await token_url(tenant, server, room["id"], "bob"))
    live = await sessions(tenant, room["id"])
    assert (live["sessions_count"], live["members_count"]) == (3, 2)
    await tab2.close()
    left = await bob.next("participant_left")
    assert (left["session_id"], left["reason"]) == (tab2.session_id, "left")
    live = await sessions(tenant, room["id"])
    assert (live["sessions_count"], live["members_count"]) == (2, 2)
    await tab1.close()
    await bob.close()


async def test_signaling_is_relayed_by_session_id_and_an_unknown_target_is_an_error(tenant, server):
    room = (await create_room(tenant, type="public"))["room"]
    alice = await Peer.join(await token_url(tenant, server, room["id"], "alice"))
    bob = await Peer.join(await token_url(tenant, server, room["id"], "bob"))
    assert [p["session_id"] for p in bob.welcome["participants"]] == [alice.session_id]
    # The newcomer calls.
    await bob.send({"type": "offer", "to": alice.session_id, "sdp": "v=0 offer", "extra": {"kept": True}})
    offer = await alice.next("offer")
    assert offer == {"type": "offer", "from": bob.session_id, "sdp": "v=0 offer", "extra": {"kept": True}}
    await alice.send({"type": "answer", "to": bob.session_id, "sdp": "v=0 answer"})
    assert (await bob.next("answer")) == {"type": "answer", "from": alice.session_id, "sdp": "v=0 answer"}
    candidate = {"candidate": "candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
    await bob.send({"type": "ice", "to": alice.session_id, "candidate": candidate})
    assert (await alice.next("ice"))["candidate"] == candidate
    await bob.send({"type": "ice", "to": alice.session_id, "candidate": None})
    assert (await alice.next("ice"))["candidate"] is None
    await bob.send({"type": "offer", "to": "no-such-session", "sdp": "x"})
    error = await bob.next("error")
    assert (error["code"], error["to"]) == ("unknown_session", "no-such-session")
    await bob.send({"type": "offer", "to": alice.session_id})
    assert (await bob.next("error"))["code"] == "bad_message"
    await alice.close()
    await bob.close()


async def test_chat_hands_and_mute_state_reach_everyone_and_later_joiners_see_the_state(tenant, server):
    room = (await create_room(tenant, type="public"))["room"]
    alice = await Peer.join(await token_url(tenant, server, room["id"], "alice", name="Alice"))
    bob = await Peer.join(await token_url(tenant, server, room["id"], "bob"))
    await alice.send({"type": "chat", "text": "hello"})
    for peer in (alice, bob):
        chat = await peer.next("chat")
        assert (chat["from"], chat["name"], chat["text"]) == (alice.session_id, "Alice", "hello")
    await bob.send({"type": "raise_hand", "raised": True})
    for peer in (alice, bob):
        assert await peer.next("raise_hand") == {"type": "raise_hand", "session_id": bob.session_id, "raised": True}
    await alice.send({"type": "mute", "audio_muted": True})
    expected = {"type": "mute", "session_id": alice.session_id, "audio_muted": True, "video_muted": False, "screen_sharing": False}
    assert await bob.next("mute") == expected
    carol = await Peer.join(await token_url(tenant, server, room["id"], "carol"))
    seen = {p["user_id"]: p for p in carol.welcome["participants"]}
    assert seen["alice"]["audio_muted"] is True and seen["bob"]["hand_raised"] is True
    for bad in ({"type": "chat", "text": ""}, {"type": "chat", "text": "x" * 2001}, {"type": "mute"},
                {"type": "raise_hand", "raised": "yes"}, {"type": "dance"}):
        await carol.send(bad)
        assert (await carol.next("error"))["code"] == "bad_message", bad
    await carol.send({"type": "ping"})
    assert await carol.next("pong") == {"type": "pong"}
    for peer in (alice, bob, carol):
        await peer.close()


async def test_leave_closes_with_1000_and_garbage_closes_with_4400(tenant, server):
    room = (await create_room(tenant, type="open"))["room"]
    peer = await Peer.join(live_url(server, room["id"], name="Zoe"))
    await peer.send({"type": "leave"})
    assert await peer.closed() == (1000, "left")
    peer = await Peer.join(live_url(server, room["id"], name="Zoe"))
    for _ in range(3):
        await peer.ws.send("not json")
    code, _ = await peer.closed()
    assert code == 4400
    assert [m["code"] for m in peer.seen if m["type"] == "error"] == ["bad_message", "bad_message"]
    # The close reaches the client before the server has finished the leave (its short write).
    async with asyncio.timeout(10):
        while (await sessions(tenant, room["id"]))["sessions_count"] != 0:
            await asyncio.sleep(0.05)


@pytest.mark.room_settings(heartbeat_timeout_seconds=1.0)
async def test_a_silent_participant_is_dropped_after_the_heartbeat_timeout(tenant, server):
    room = (await create_room(tenant, type="public"))["room"]
    alice = await Peer.join(await token_url(tenant, server, room["id"], "alice"))
    assert (alice.welcome["heartbeat_timeout_seconds"], alice.welcome["heartbeat_interval_seconds"]) == (1.0, 0.333)
    silent = await Peer.join(await token_url(tenant, server, room["id"], "silent"))

    async def heartbeat():
        while True:
            await alice.send({"type": "ping"})
            await asyncio.sleep(0.2)

    beating = asyncio.create_task(heartbeat())
    try:
        # The silent one says nothing (its socket stays open, as when a network vanishes).
        assert await silent.closed(timeout=15) == (4408, "no heartbeat within the timeout")
        left = await alice.next("participant_left", timeout=15)
        assert (left["session_id"], left["reason"]) == (silent.session_id, "timeout")
        live = await sessions(tenant, room["id"])
        assert [s["session_id"] for s in live["sessions"]] == [alice.session_id]
    finally:
        beating.cancel()
    await alice.close()


async def test_the_meeting_clock_runs_only_while_two_are_connected(tenant, server):
    room = (await create_room(tenant, type="public", max_meeting_seconds=3600))["room"]
    alice = await Peer.join(await token_url(tenant, server, room["id"], "alice"))
    assert (alice.welcome["meeting_time_running"], alice.welcome["remaining_seconds"]) == (False, 3600)
    bob = await Peer.join(await token_url(tenant, server, room["id"], "bob"))
    assert bob.welcome["meeting_time_running"] is True
    started = await alice.next("meeting_time")
    assert started["running"] is True and started["remaining_seconds"] <= 3600
    # The first moment two were connected is recorded (by the join's write, just after `welcome`).
    await until(lambda: room_field(tenant, room["id"], "started_at"), lambda value: value is not None)
    await bob.close()
    stopped = await alice.next("meeting_time", running=False)
    assert stopped["meeting_time_ms"] >= 0
    await alice.close()
    await until(lambda: room_meeting_time(tenant, room["id"]), lambda ms: ms == stopped["meeting_time_ms"])


async def test_at_the_maximum_meeting_time_the_room_ends_for_everyone_and_refuses_joins(app, tenant, server):
    room = (await create_room(tenant, type="public", max_meeting_seconds=2))["room"]
    alice = await Peer.join(await token_url(tenant, server, room["id"], "alice"))
    bob = await Peer.join(await token_url(tenant, server, room["id"], "bob"))
    for peer in (alice, bob):
        assert (await peer.next("terminated", timeout=15)) == {"type": "terminated", "reason": "max_meeting_time"}
        assert await peer.closed() == (4410, "the room is terminated")
    third = live_url(server, room["id"], token=await join_token_anyway(app, room["id"], "carol"))
    assert await refused(third) == (4410, "the room is terminated")
    shown = (await tenant.client.get(f"/v1/rooms/{room['id']}")).json()["room"]
    assert shown["is_terminated"] is True and shown["terminated_at"] is not None
    assert shown["meeting_time"] == 2000
    assert (await sessions(tenant, room["id"]))["sessions_count"] == 0


async def join_token_anyway(app, room_id: str, user_id: str) -> str:
    """A valid token made with the server's signer (the API issues none for a terminated room)."""
    from datetime import timedelta
    from uuid import UUID

    return app.state.rooms.signer.issue(UUID(room_id), user_id, app.state.clock() + timedelta(hours=1))


async def room_meeting_time(tenant, room_id: str) -> int:
    return await room_field(tenant, room_id, "meeting_time")


async def room_field(tenant, room_id: str, name: str):
    return (await tenant.client.get(f"/v1/rooms/{room_id}")).json()["room"][name]


async def until(read, check, timeout: float = 10.0):
    async with asyncio.timeout(timeout):
        while not check(value := await read()):
            await asyncio.sleep(0.05)
    return value



async def test_lowering_the_maximum_below_the_time_spent_ends_the_room_at_once(tenant, server):
    room = (await create_room(tenant, type="public", max_meeting_seconds=3600))["room"]
    alice = await Peer.join(await token_url(tenant, server, room["id"], "alice"))
    bob = await Peer.join(await token_url(tenant, server, room["id"], "bob"))
    await alice.next("meeting_time", running=True)
    changed = await tenant.client.patch(f"/v1/rooms/{room['id']}", json={"max_meeting_seconds": 1})
    assert changed.status_code == 200, changed.text
    for peer in (alice, bob):
        assert await peer.next("terminated", timeout=15) == {"type": "terminated", "reason": "max_meeting_time"}
        assert (await peer.closed())[0] == 4410
    shown = (await tenant.client.get(f"/v1/rooms/{room['id']}")).json()["room"]
    assert (shown["is_terminated"], shown["meeting_time"]) == (True, 1000)


ICE = [{"urls": "stun:turn.example.com:3478"}, {"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "p"}]


@pytest.mark.room_settings(ice_servers=ICE)
async def test_the_configured_ice_servers_reach_the_page(tenant, server):
    room = (await create_room(tenant, type="open"))["room"]
    peer = await Peer.join(live_url(server, room["id"], name="Zoe"))
    assert peer.welcome["ice_servers"] == ICE
    info = (await tenant.client.get(f"/v1/rooms/{room['id']}/join-info")).json()
    assert info["ice_servers"] == ICE and info["user"] is None
    await peer.close()


@pytest.mark.parametrize(
    "value",
    ['[{"url": "stun:x"}]', '[{"urls": ""}]', '[{"urls": ["stun:x", 3]}]', '[{"urls": "stun:x", "password": "p"}]', '{"urls": "stun:x"}'],
)
def test_bad_ice_servers_are_refused_at_start(value, monkeypatch):
    from pydantic import ValidationError

    from callgrid.config import Settings

    monkeypatch.setenv("CALLGRID_ICE_SERVERS", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "ice_servers" in str(caught.value)
