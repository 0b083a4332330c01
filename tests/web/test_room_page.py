"""The room page in a real browser against real `callgrid serve` processes: two people see and
hear each other over WebRTC, one leaves and the room's webhook receiver (a process of its own)
gets `sessionLeft` signed with the room's secret, a room with a maximum meeting time ends for
both and refuses a third, and the same meeting across two server processes sharing
PostgreSQL and Redis. The page's protocol logic (room-state.js) is checked in the browser too.
"""

import asyncio
import os
import uuid

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.postgres import POSTGRES_URL, new_database
from tests.support.servers import Served, callgrid_env
from tests.webhooks.conftest import Receiver

# slow: server and receiver processes, a browser. The module's tests share its server (module-scoped
# fixtures): they go to one test process (xdist_group), which starts it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web-room-page")]

REDIS_URL = os.environ.get("CALLGRID_TEST_REDIS_URL")

# The remote participant's <video>: playing frames (a size, a clock that moves) and audio
# that arrives (a live, unmuted track: a receiving track is muted until packets come).
REMOTE_MEDIA = """([sessionId, since]) => {
  const video = document.querySelector(`.tile.remote[data-session-id="${sessionId}"] video`);
  if (!video || !video.srcObject) return false;
  const audio = video.srcObject.getAudioTracks();
  return video.videoWidth > 0 && video.currentTime > since
    && audio.length === 1 && audio[0].readyState === "live" && !audio[0].muted;
}"""


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    return callgrid_env(
        database_url,
        CALLGRID_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        CALLGRID_WEBHOOK_RETRY_SCHEDULE="0,1,1",
        CALLGRID_WEBHOOK_POLL_INTERVAL_SECONDS="0.2",
        **extra,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One `callgrid serve` on a SQLite file for the module's single-process tests."""
    folder = tmp_path_factory.mktemp("room-page")
    served = Served(server_env(f"sqlite+aiosqlite:///{folder / 'callgrid.db'}"), log=folder / "serve.log")
    assert served.first_key
    yield served
    served.stop()


@pytest.fixture(scope="module")
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


async def create_room(base_url: str, key: str, **fields) -> dict:
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=20, trust_env=False) as client:
        response = await client.post("/v1/rooms", json={"name": "Weekly Meet", "type": "public", **fields})
        assert response.status_code == 200, response.text
        return response.json()


async def join_url(base_url: str, key: str, room_id: str, user_id: str, name: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=20, trust_env=False) as client:
        response = await client.post(f"/v1/rooms/{room_id}/join-tokens", json={"user_id": user_id, "name": name})
        assert response.status_code == 200, response.text
        url = response.json()["join_url"]
        assert url.startswith(f"{base_url}/rooms/{room_id}?token=")
        return url


async def get_room(base_url: str, key: str, room_id: str) -> dict:
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=20, trust_env=False) as client:
        response = await client.get(f"/v1/rooms/{room_id}")
        assert response.status_code == 200, response.text
        return response.json()["room"]


async def enter(pages, label: str, url: str, name: str | None = None):
    """Open the page, pass the join screen (its name field filled from the token) and wait
    until the live socket has welcomed us (our own line in the participant list)."""
    page = await pages.open(label, url)
    await page.wait_for_selector("#join-screen:not([hidden])")
    await page.wait_for_function("() => document.querySelector('#preview').videoWidth > 0")  # the camera preview
    name_field = page.get_by_label("Your name", exact=True)
    if name is not None:
        await name_field.fill(name)
    shown = await name_field.input_value()
    await page.get_by_role("button", name="Join", exact=True).click()
    await page.wait_for_selector(f"#participant-list li:has-text('{shown} (you)')")
    return page


def tile_video(session_id: str) -> str:
    return f'.tile.remote[data-session-id="{session_id}"] video'


async def remote_session(page, name: str) -> str:
    """The session id of the remote tile named `name` (waits for it)."""
    tile = page.locator(".tile.remote", has=page.locator("figcaption .name", has_text=name))
    await tile.wait_for()
    return await tile.get_attribute("data-session-id")


async def receives_media_from(page, session_id: str) -> None:
    """`page` plays `session_id`'s video with frames that keep coming, and gets its audio."""
    await page.wait_for_function(REMOTE_MEDIA, arg=[session_id, 0])
    shown = await page.evaluate(
        "(id) => document.querySelector(`.tile.remote[data-session-id=\"${id}\"] video`).currentTime", session_id
    )
    await page.wait_for_function(REMOTE_MEDIA, arg=[session_id, shown])  # and its clock advances


async def see_each_other(alice, bob) -> tuple[str, str]:
    bob_session = await remote_session(alice, "Bob")
    alice_session = await remote_session(bob, "Alice")
    await asyncio.gather(receives_media_from(alice, bob_session), receives_media_from(bob, alice_session))
    return alice_session, bob_session


async def test_the_page_logic_in_the_browser(server, pages):
    """room-state.js on its own: the clock, the roster and the effects of each message, the
    close codes, and the live URL under a path prefix."""
    page = await pages.open("logic", f"{server.base_url}/healthz")
    result = await page.evaluate(
        """async () => {
      const m = await import("/static/room-state.js");
      const out = {};
      out.durations = [0, 999, 65000, 3723000, -5].map(m.formatDuration);
      const clock = new m.MeetingClock();
      clock.set({meeting_time_ms: 12500, running: true, remaining_seconds: 287.5}, 1000);
      out.remaining = [clock.read(3000), clock.text(3000)];
      clock.set({meeting_time_ms: 12500, running: false, remaining_seconds: 287.5}, 1000);
      out.stopped = clock.read(60000).ms;
      clock.set({meeting_time_ms: 12500, running: true, remaining_seconds: null}, 1000);
      out.elapsed = [clock.read(2000), clock.text(2000)];
      clock.set({meeting_time_ms: 0, running: true, remaining_seconds: 1}, 0);
      out.floor = clock.read(5000).ms;

      const state = new m.RoomState();
      const p = (id, name) => ({session_id: id, member_id: "m-" + id, user_id: name, name, role: "member",
        audio_muted: false, video_muted: false, screen_sharing: false, hand_raised: false});
      out.welcome = state.apply({type: "welcome", session_id: "s-b", member_id: "m-b", user_id: "bob", name: "Bob",
        role: "host", participants: [p("s-a", "Alice"), p("s-c", "Carol")], remaining_seconds: null,
        meeting_time_ms: 0, meeting_time_running: true, heartbeat_interval_seconds: 4,
        features: {chat: false}, ice_servers: [{urls: "stun:x"}]}, 0);
      out.features = state.features;
      out.heartbeat = state.heartbeatSeconds;
      out.joinedNew = state.apply({type: "participant_joined", participant: p("s-d", "Dan")});
      out.joinedAgain = state.apply({type: "participant_joined", participant: {...p("s-d", "Daniel")}});
      out.leftKnown = state.apply({type: "participant_left", session_id: "s-c", member_id: "m-s-c", reason: "left"});
      out.leftUnknown = state.apply({type: "participant_left", session_id: "s-zz", member_id: "x", reason: "timeout"});
      out.signal = state.apply({type: "offer", from: "s-a", sdp: "v=0"});
      state.apply({type: "mute", session_id: "s-b", audio_muted: true});
      state.apply({type: "mute", session_id: "s-a", video_muted: true, screen_sharing: true});
      state.apply({type: "raise_hand", session_id: "s-d", raised: true});
      out.roster = state.roster().map((x) => [x.name, x.self, x.audio_muted, x.video_muted, x.screen_sharing, x.hand_raised]);
      out.chat = state.apply({type: "chat", id: "c1", from: "s-b", name: "Bob", text: "hi", sent_at: "2030-01-01T12:00:00.000Z"});
      out.unknown = state.apply({type: "something_new", x: 1}).concat(state.apply({type: "pong"}));
      out.terminated = [state.apply({type: "terminated", reason: "max_meeting_time"}), m.terminatedText("max_meeting_time")];
      out.polite = [m.isPolite("a", "b"), m.isPolite("b", "a")];
      out.closes = [4410, 4401, 4403, 4404, 4408, 1000, 1006, 1001].map((c) => m.closeOutcome(c).kind);
      out.infos = [401, 403, 404, 410, 500].map((s) => m.joinInfoOutcome(s).kind);
      out.live = [
        m.liveUrl("https://calls.example.com/cg/rooms/r1?token=T", "r1", "ws://10.0.0.5:8000/v1/rooms/r1/live?token=T", "Ann Lee"),
        m.liveUrl("http://127.0.0.1:8000/rooms/r1", "r1", "ws://127.0.0.1:8000/v1/rooms/r1/live", ""),
      ];
      out.ids = ["/rooms/abc", "/cg/rooms/abc/", "/rooms/", "/other"].map(m.roomIdFromPath);
      out.credentials = m.credentials("?token=T&name=x&key=K&other=1").toString();
      return out;
    }"""
    )
    assert result["durations"] == ["00:00", "00:00", "01:05", "1:02:03", "00:00"]
    assert result["remaining"] == [{"mode": "remaining", "ms": 285500, "running": True}, "Remaining 04:45"]
    assert result["stopped"] == 287500  # a stopped clock does not count down
    assert result["elapsed"] == [{"mode": "elapsed", "ms": 13500, "running": True}, "Elapsed 00:13"]
    assert result["floor"] == 0
    assert result["welcome"] == [{"type": "call", "sessionId": "s-a"}, {"type": "call", "sessionId": "s-c"}, {"type": "render"}]
    assert result["features"] == {"chat": False, "raise_hand": True, "screenshare": True, "join_screen": True}
    assert result["heartbeat"] == 4
    assert result["joinedNew"] == [{"type": "joined", "sessionId": "s-d"}, {"type": "render"}]
    assert result["joinedAgain"] == [{"type": "render"}]  # a repeat is an update
    assert result["leftKnown"] == [{"type": "hangup", "sessionId": "s-c"}, {"type": "render"}]
    assert result["leftUnknown"] == [{"type": "hangup", "sessionId": "s-zz"}]
    assert result["signal"] == [{"type": "signal", "from": "s-a", "message": {"type": "offer", "from": "s-a", "sdp": "v=0"}}]
    assert result["roster"] == [
        ["Bob", True, True, False, False, False],
        ["Alice", False, False, True, True, False],
        ["Daniel", False, False, False, False, True],
    ]
    assert result["chat"][0]["entry"]["mine"] is True and result["chat"][0]["entry"]["text"] == "hi"
    assert result["unknown"] == []
    assert result["terminated"] == [
        [{"type": "terminated", "reason": "max_meeting_time"}],
        "The room was terminated: the maximum meeting time was reached.",
    ]
    assert result["polite"] == [True, False]
    assert result["closes"] == ["terminated", "refused", "refused", "refused", "retry", "left", "retry", "retry"]
    assert result["infos"] == ["refused", "refused", "refused", "terminated", "retry"]
    assert result["live"] == [
        "wss://calls.example.com/cg/v1/rooms/r1/live?token=T&name=Ann+Lee",
        "ws://127.0.0.1:8000/v1/rooms/r1/live",
    ]
    assert result["ids"] == ["abc", "abc", None, None]
    assert result["credentials"] == "token=T&key=K"


async def test_two_people_see_and_hear_each_other_and_a_leave_is_signed_to_the_room_webhook(server, receiver, pages):
    created = await create_room(
        server.base_url, server.first_key,
        webhook={"url": receiver.url("/room-hook"), "headers": {"X-Room-Label": "weekly"}},
    )
    room, secret = created["room"], created["webhook_secret"]
    receiver.trust(secret)
    alice = await enter(pages, "alice", await join_url(server.base_url, server.first_key, room["id"], "alice", "Alice"))
    bob = await enter(pages, "bob", await join_url(server.base_url, server.first_key, room["id"], "bob", "Bob"))
    alice_session, bob_session = await see_each_other(alice, bob)
    assert await alice.title() == "Weekly Meet · Callgrid"

    # The participant list, chat, a raised hand and a muted microphone reach the other side.
    for page in (alice, bob):
        await page.wait_for_function("() => document.querySelector('#people-count').textContent === '2'")
    await alice.get_by_label("Message", exact=True).fill("hello Bob")
    await alice.get_by_role("button", name="Send", exact=True).click()
    await bob.locator("#chat-log li", has_text="hello Bob").wait_for()
    await bob.get_by_role("button", name="Raise hand", exact=True).click()
    await alice.locator(f'#participant-list li[data-session-id="{bob_session}"]', has_text="hand raised").wait_for()
    await alice.get_by_role("button", name="Microphone", exact=True).click()
    assert await alice.get_by_role("button", name="Microphone", exact=True).get_attribute("aria-pressed") == "false"
    await bob.locator(f'#participant-list li[data-session-id="{alice_session}"]', has_text="muted").wait_for()
    await pages.screenshot(alice, "alice-in-the-meeting")

    # Alice shares her screen: Bob's tile of her plays it (another picture size than her
    # camera's); then her camera goes off and she stops sharing: Bob sees her camera off.
    camera = await bob.evaluate(f"() => {{ const v = document.querySelector('{tile_video(alice_session)}'); return [v.videoWidth, v.videoHeight]; }}")
    await alice.get_by_role("button", name="Share screen", exact=True).click()
    alice_line = bob.locator(f'#participant-list li[data-session-id="{alice_session}"]')
    await alice_line.filter(has_text="sharing screen").wait_for()
    await bob.wait_for_function(
        "([selector, width, height]) => { const v = document.querySelector(selector);"
        " return v.videoWidth > 0 && (v.videoWidth !== width || v.videoHeight !== height); }",
        arg=[tile_video(alice_session), *camera],
    )
    await alice.get_by_role("button", name="Camera", exact=True).click()
    await alice.get_by_role("button", name="Share screen", exact=True).click()
    await alice_line.filter(has_text="camera off").wait_for()
    assert "sharing screen" not in await alice_line.inner_text()
    await bob.locator(f'.tile.remote.video-off[data-session-id="{alice_session}"] .placeholder').wait_for()

    # Bob leaves: his page says so, Alice's drops his tile, the webhook says who is left.
    await bob.get_by_role("button", name="Leave", exact=True).click()
    await bob.locator("#ended", has_text="You left the meeting").wait_for()
    await alice.locator(f'.tile.remote[data-session-id="{bob_session}"]').wait_for(state="detached")
    await alice.wait_for_function("() => document.querySelector('#people-count').textContent === '1'")

    def session_events(records):
        return [r for r in records if r["json"] and r["json"].get("action") in ("sessionJoined", "sessionLeft")]

    records = await receiver.wait(lambda rs: any(r["json"]["action"] == "sessionLeft" for r in session_events(rs)), path="/room-hook")
    left = [r for r in session_events(records) if r["json"]["action"] == "sessionLeft"]
    assert len(left) == 1
    delivery = left[0]
    # Signed with the room's own secret: verified here as well as by the receiver.
    assert delivery["verified"] and delivery["secret"] == secret
    Webhook(secret).verify(delivery["body"], delivery["headers"])
    assert delivery["headers"]["x-room-label"] == "weekly"
    body = delivery["json"]
    assert set(body) == {"action", "payload"}  # the seed's body, no envelope
    payload = body["payload"]
    assert payload["roomId"] == room["id"]
    assert payload["userId"] == "bob"
    assert payload["sessionId"] == bob_session
    assert (payload["sessionsCount"], payload["membersCount"]) == (1, 1)  # Alice is still there
    joined = {r["json"]["payload"]["sessionId"]: r["json"]["payload"] for r in session_events(records) if r["json"]["action"] == "sessionJoined"}
    assert (joined[alice_session]["sessionsCount"], joined[alice_session]["membersCount"]) == (1, 1)
    assert (joined[bob_session]["sessionsCount"], joined[bob_session]["membersCount"]) == (2, 2)
    assert payload["memberId"] == joined[bob_session]["memberId"]


async def test_a_room_with_a_maximum_meeting_time_ends_for_both_and_refuses_a_third(server, pages):
    room = (await create_room(server.base_url, server.first_key, max_meeting_seconds=5))["room"]
    urls = [await join_url(server.base_url, server.first_key, room["id"], user, name) for user, name in
            (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol"))]
    alice = await enter(pages, "alice", urls[0])
    # Alone, the clock does not run: the whole maximum remains.
    await alice.wait_for_function("() => document.querySelector('#clock').textContent === 'Remaining 00:05'")
    bob = await enter(pages, "bob", urls[1])
    await bob.wait_for_function("() => document.querySelector('#clock').textContent.startsWith('Remaining 00:0')")
    await see_each_other(alice, bob)

    for page in (alice, bob):
        ended = page.locator("#ended")
        await ended.wait_for()
        assert await ended.get_attribute("data-kind") == "terminated"
        assert "terminated" in (await ended.inner_text()).lower()
        assert "maximum meeting time" in await ended.inner_text()
        assert await page.locator(".tile").count() == 0  # the call is torn down
    ended_room = await get_room(server.base_url, server.first_key, room["id"])
    assert ended_room["is_terminated"] is True and ended_room["meeting_time"] >= 5000

    carol = await pages.open("carol", urls[2])
    ended = carol.locator("#ended")
    await ended.wait_for()
    assert await ended.get_attribute("data-kind") == "terminated"
    assert "accepts no more joins" in await ended.inner_text()
    # The live endpoint itself refuses her too.
    live = urls[2].replace("http://", "ws://", 1).replace(f"/rooms/{room['id']}?", f"/v1/rooms/{room['id']}/live?", 1)
    async with connect(live, open_timeout=10, ping_interval=None) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), timeout=10)
    assert closed.value.rcvd.code == 4410


async def test_links_that_cannot_join_say_why(server, pages):
    room = (await create_room(server.base_url, server.first_key, type="private", members=[{"user_id": "alice", "name": "Alice"}]))["room"]
    alice_url = await join_url(server.base_url, server.first_key, room["id"], "alice", "Alice")
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {server.first_key}"}, trust_env=False) as client:
        assert (await client.delete(f"/v1/rooms/{room['id']}/members/alice")).status_code == 204
    cases = {
        "removed-member": (alice_url, "You are not allowed in this room."),
        "bad-token": (f"{server.base_url}/rooms/{room['id']}?token=not-a-token", "This link is not valid or has expired."),
        "no-token": (f"{server.base_url}/rooms/{room['id']}", "This link is not valid or has expired."),
        "no-room": (f"{server.base_url}/rooms/{uuid.uuid4()}", "There is no such room."),
    }
    for label, (url, text) in cases.items():
        page = await pages.open(label, url)
        ended = page.locator("#ended")
        await ended.wait_for()
        assert await ended.get_attribute("data-kind") == "refused", label
        assert text in await page.locator("#ended-text").inner_text(), label
        assert await page.locator("#join-screen").is_hidden()


async def test_an_appointment_without_join_screen_chat_hands_or_screen_sharing(server, pages):
    """The appointment's `config` decides: no join screen (the page joins at once, with the
    name from the token), and no chat, raise hand or screen sharing; a moderator is a host."""
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {server.first_key}"}, timeout=20, trust_env=False) as client:
        response = await client.post("/api/v1/appointments/", json={
            "title": "Checkup", "start_date_time": "2031-01-01T10:00:00Z", "duration_minutes": 30,
            "participants": [{"role": "moderator", "unique_id": "doc@example.com", "display_name": "Dr Lee"},
                             {"role": "participant", "unique_id": "pat@example.com", "display_name": "Pat"}],
            "config": {"join_screen_enabled": False, "chat_enabled": False, "raise_hand_enabled": False, "screenshare_enabled": False},
        })
        assert response.status_code == 201, response.text
    links = {p["unique_id"]: p["join_url"] for p in response.json()["participants"]}
    doctor = await pages.open("doctor", links["doc@example.com"])
    await doctor.wait_for_selector("#participant-list li:has-text('Dr Lee (you)')")
    patient = await pages.open("patient", links["pat@example.com"])
    await patient.wait_for_selector("#participant-list li:has-text('Pat (you)')")
    pat_session = await remote_session(doctor, "Pat")
    await receives_media_from(doctor, pat_session)
    await receives_media_from(patient, await remote_session(patient, "Dr Lee"))
    for page in (doctor, patient):
        assert await page.locator("#join-screen").is_hidden()
        for hidden in ("#chat", "#hand", "#share"):
            assert await page.locator(hidden).is_hidden(), hidden
        for shown in ("#mic", "#cam", "#leave", "#participant-list"):
            assert await page.locator(shown).is_visible(), shown
    assert await patient.locator("#participant-list li", has_text="Dr Lee").locator(".role").inner_text() == "host"


if POSTGRES_URL and REDIS_URL:

    async def test_two_people_on_two_server_processes_sharing_postgresql_and_redis(pages, tmp_path):
        async with new_database("callgrid_room_page") as database_url:
            env = server_env(database_url, CALLGRID_REDIS_URL=REDIS_URL, CALLGRID_REDIS_PREFIX=f"callgrid-test-{uuid.uuid4().hex}")
            first = Served(env, log=tmp_path / "first.log")
            try:
                # The second process starts while Alice joins on the first.
                starting = asyncio.ensure_future(asyncio.to_thread(Served, env, log=tmp_path / "second.log"))
                try:
                    key = first.first_key
                    room = (await create_room(first.base_url, key))["room"]
                    alice_url = await join_url(first.base_url, key, room["id"], "alice", "Alice")
                    bob_url = await join_url(first.base_url, key, room["id"], "bob", "Bob")
                    alice = await enter(pages, "alice", alice_url)
                    second = await starting
                except BaseException:
                    try:
                        (await starting).stop()
                    except Exception:
                        pass  # it did not start either; the first error is the one to see
                    raise
                try:
                    assert key and not second.first_key  # one installation: the second found the organization
                    bob = await enter(pages, "bob", bob_url.replace(first.base_url, second.base_url, 1))
                    _, bob_session = await see_each_other(alice, bob)
                    async with httpx.AsyncClient(base_url=second.base_url, headers={"Authorization": f"Bearer {key}"}, trust_env=False) as client:
                        sessions = (await client.get(f"/v1/rooms/{room['id']}/sessions")).json()
                    assert (sessions["sessions_count"], sessions["members_count"]) == (2, 2)
                    await pages.screenshot(bob, "bob-on-the-second-process")
                    await bob.get_by_role("button", name="Leave", exact=True).click()
                    await alice.locator(f'.tile.remote[data-session-id="{bob_session}"]').wait_for(state="detached")
                finally:
                    await pages.close()  # screenshots while the servers still run
                    second.stop()
            finally:
                first.stop()
