"""Two `callgrid serve` processes sharing a database and Redis: participants connected to
different processes see each other, exchange signaling, are counted once, share one meeting
clock (one end of the room); a process killed with SIGKILL loses its sessions after the
heartbeat timeout."""

import os
import signal
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from tests.rooms.conftest import Peer, heartbeats, live_url, refused
from tests.support.postgres import POSTGRES_URL, create_database, drop_database
from tests.support.servers import Served, callgrid_env
from tests.support.databases import sqlite_url

REDIS_URL = os.environ.get("CALLGRID_TEST_REDIS_URL")

pytestmark = pytest.mark.slow  # server processes

# PostgreSQL and Redis as in production; SQLite (one file, two processes) with Redis too.
SHARED = (["postgresql"] if POSTGRES_URL and REDIS_URL else []) + (["sqlite"] if REDIS_URL else [])


@pytest.fixture(params=SHARED)
async def two_servers(request):
    if request.param == "postgresql":
        database_url = await create_database("callgrid_rooms")
    else:
        database_url = sqlite_url(Path(tempfile.mkdtemp(prefix="callgrid-rooms-")) / "callgrid.db")
    env = callgrid_env(
        database_url,
        CALLGRID_REDIS_URL=REDIS_URL,
        CALLGRID_REDIS_PREFIX=f"callgrid-test-{uuid.uuid4().hex}",
        CALLGRID_HEARTBEAT_TIMEOUT_SECONDS="2",
        CALLGRID_API_KEY_CACHE_SECONDS="0",
    )
    first = Served(env)
    second = Served(env)  # the first made the organization and the server secret; it reads them
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()
        if request.param == "postgresql":
            await drop_database(database_url)


async def api(server: Served, key: str, method: str, path: str, **kwargs) -> dict:
    async with server.client(key) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else {}


async def test_participants_on_two_processes_see_each_other_signal_and_are_counted_once(two_servers):
    one, two = two_servers
    key = one.first_key
    room = (await api(one, key, "POST", "/v1/rooms", json={"name": "Across", "type": "public", "members": [{"user_id": "alice"}]}))["room"]

    async def token(user_id: str) -> str:
        return (await api(one, key, "POST", f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": user_id}))["token"]

    alice = await Peer.join(live_url(one.base_url, room["id"], token=await token("alice")))
    bob = await Peer.join(live_url(two.base_url, room["id"], token=await token("bob")))
    beating = [alice, bob]  # every peer sends pings (the heartbeat timeout here is 2 s)
    async with heartbeats(beating):
        # Each sees the other, across processes.
        assert [p["user_id"] for p in bob.welcome["participants"]] == ["alice"]
        joined = await alice.next("participant_joined")
        assert joined["participant"]["session_id"] == bob.session_id
        # Signaling crosses processes, addressed by session id, both ways.
        await bob.send({"type": "offer", "to": alice.session_id, "sdp": "v=0 from bob"})
        assert await alice.next("offer") == {"type": "offer", "from": bob.session_id, "sdp": "v=0 from bob"}
        await alice.send({"type": "answer", "to": bob.session_id, "sdp": "v=0 from alice"})
        assert await bob.next("answer") == {"type": "answer", "from": alice.session_id, "sdp": "v=0 from alice"}
        await alice.send({"type": "chat", "text": "hi bob"})
        assert (await bob.next("chat"))["text"] == "hi bob"
        # Alice's second tab on the other process: three sessions, two members, whichever process is asked.
        alice2 = await Peer.join(live_url(two.base_url, room["id"], token=await token("alice")))
        beating.append(alice2)
        assert alice2.welcome["member_id"] == alice.welcome["member_id"]
        for server in (one, two):
            live = await api(server, key, "GET", f"/v1/rooms/{room['id']}/sessions")
            assert (live["sessions_count"], live["members_count"]) == (3, 2)
            assert {s["session_id"] for s in live["sessions"]} == {alice.session_id, bob.session_id, alice2.session_id}
        # Two were connected: the meeting clock runs, one clock for the room, both processes show it.
        shown = (await api(two, key, "GET", f"/v1/rooms/{room['id']}"))["room"]
        assert shown["started_at"] is not None and shown["is_terminated"] is False

    # The second process dies without a word: its sessions go once the heartbeat timeout passes.
    two.process.send_signal(signal.SIGKILL)
    two.process.wait(timeout=10)

    async with heartbeats(alice):
        gone = {(await alice.next("participant_left", timeout=20))["session_id"] for _ in range(2)}
        assert gone == {bob.session_id, alice2.session_id}
        assert {m["reason"] for m in alice.seen if m["type"] == "participant_left"} == {"timeout"}
        live = await api(one, key, "GET", f"/v1/rooms/{room['id']}/sessions")
        assert (live["sessions_count"], live["members_count"]) == (1, 1)
        # Alone again, the clock stopped: the meeting time no longer grows.
        stopped = await alice.next("meeting_time", running=False)
        first = (await api(one, key, "GET", f"/v1/rooms/{room['id']}"))["room"]["meeting_time"]
        assert first == stopped["meeting_time_ms"] > 0
        assert (await api(one, key, "GET", f"/v1/rooms/{room['id']}"))["room"]["meeting_time"] == first
    await alice.close()


async def test_the_maximum_meeting_time_counts_across_processes_and_ends_the_room_once(two_servers):
    one, two = two_servers
    key = one.first_key
    room = (await api(one, key, "POST", "/v1/rooms", json={"name": "Short", "type": "open", "max_meeting_seconds": 2}))["room"]
    alice = await Peer.join(live_url(one.base_url, room["id"], name="Alice"))
    assert alice.welcome["remaining_seconds"] == 2
    async with heartbeats(alice):
        bob = await Peer.join(live_url(two.base_url, room["id"], name="Bob"))
        assert bob.welcome["meeting_time_running"] is True
        async with heartbeats(bob):
            for peer in (alice, bob):
                assert await peer.next("terminated", timeout=20) == {"type": "terminated", "reason": "max_meeting_time"}
                assert (await peer.closed())[0] == 4410
    for server in (one, two):
        assert await refused(live_url(server.base_url, room["id"], name="Carol")) == (4410, "the room is terminated")
        shown = (await api(server, key, "GET", f"/v1/rooms/{room['id']}"))["room"]
        assert (shown["is_terminated"], shown["meeting_time"]) == (True, 2000)
    # Ended once: one room.terminated in the outbox, whichever process ended it.
    async with httpx.AsyncClient(base_url=one.base_url, headers={"Authorization": f"Bearer {key}"}, trust_env=False) as client:
        rooms = (await client.get("/v1/rooms")).json()["rooms"]
    assert [r["id"] for r in rooms if r["is_terminated"]] == [room["id"]]
    assert await terminated_events(one.database_url, room["id"]) == 1


async def terminated_events(database_url: str, room_id: str) -> int:
    from sqlalchemy import select

    from callgrid.config import Settings
    from callgrid.db.engine import create_engine
    from callgrid.webhooks.models import WebhookEvent

    engine = create_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(WebhookEvent.payload).where(WebhookEvent.type == "room.terminated"))).scalars().all()
    finally:
        await engine.dispose()
    return sum(f'"id":"{room_id}"' in payload for payload in rows)
