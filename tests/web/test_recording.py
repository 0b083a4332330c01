"""Recording and replay in a real browser: two participants in a room with `record: true`
(Debian's chromium, fake camera and microphone) meet for about six seconds against a real
`callgrid serve`, one sending a chat message halfway; each page says the meeting is recorded
and sends its media to the server's recorder. That meeting is the module's (`meeting`), and:

- the API lists two `ready` recordings, one per session, each a WebM that PyAV opens with an
  audio and a video stream of at least four seconds; the media answers a range request with
  206 and exactly those bytes; and chromium plays a recording (its clock advances);
- the replay page plays both recordings side by side on its clock (each shown only while it
  covers the moment, put at its position when seeking, their clocks advancing with Play) and
  shows the chat message from its moment on, not before;
- the replay's signed media link answers a range request with 206; another room's token reads
  nothing of this room.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import av
import httpx
import pytest

from tests.support.servers import Served
from tests.web.conftest import Pages
from tests.web.test_room_page import create_room, enter, join_url, see_each_other, server_env

# slow: a server process, a browser. The module's tests share its server (module-scoped
# fixtures): they go to one test process (xdist_group), which starts it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web-recording")]

MEETING_SECONDS = 6.0
MESSAGE = "hello from Alice"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recording")
    served = Served(
        server_env(f"sqlite+aiosqlite:///{folder / 'callgrid.db'}", CALLGRID_RECORDINGS_DIR=str(folder / "recordings")),
        log=folder / "serve.log",
    )
    served.folder = folder
    yield served
    served.stop()


def seconds_per_stream(path) -> dict[str, float]:
    """Seconds of media in each stream of a file (first to last packet, no decoding)."""
    with av.open(str(path)) as container:
        spans: dict[str, list[float]] = {s.type: [] for s in container.streams}
        for packet in container.demux():
            if packet.pts is not None:
                spans[packet.stream.type].append(float(packet.pts * packet.time_base))
    return {kind: (max(times) - min(times) if times else 0.0) for kind, times in spans.items()}


async def until(check, timeout: float = 30.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {result!r}")
        await asyncio.sleep(every)


def ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Meeting:
    room: dict
    recordings: list[dict]  # as the API lists them, once both are ready
    message_at: str  # when the chat message was sent (its timeline event)


@pytest.fixture(scope="module")
async def meeting(server, browser) -> Meeting:
    """Alice and Bob meet for MEETING_SECONDS in a recorded room; Alice writes MESSAGE halfway."""
    pages = Pages(browser, "recorded-meeting")
    try:
        room = (await create_room(server.base_url, server.first_key, record=True))["room"]
        alice = await enter(pages, "alice", await join_url(server.base_url, server.first_key, room["id"], "alice", "Alice"))
        bob = await enter(pages, "bob", await join_url(server.base_url, server.first_key, room["id"], "bob", "Bob"))
        await see_each_other(alice, bob)
        for page in (alice, bob):
            banner = page.locator("#recording")
            await banner.wait_for()
            assert "being recorded" in await banner.inner_text()

        async with server.client(server.first_key) as api:
            listing = f"/v1/rooms/{room['id']}/recordings"

            async def both_recording():
                shown = (await api.get(listing)).json()["recordings"]
                return shown if len(shown) == 2 and all(r["status"] == "recording" for r in shown) else None

            await until(both_recording)
            await alice.wait_for_selector('#recording[data-state="recording"]')
            await asyncio.sleep(MEETING_SECONDS / 2)
            await alice.get_by_label("Message", exact=True).fill(MESSAGE)
            await alice.get_by_role("button", name="Send", exact=True).click()
            await bob.locator("#chat-log li", has_text=MESSAGE).wait_for()
            await asyncio.sleep(MEETING_SECONDS / 2)
            await pages.screenshot(alice, "alice-meeting")  # the banner, as participants see it
            for page in (alice, bob):
                await page.get_by_role("button", name="Leave", exact=True).click()

            async def both_ready():
                shown = (await api.get(listing)).json()["recordings"]
                return shown if len(shown) == 2 and all(r["status"] == "ready" for r in shown) else None

            recordings = await until(both_ready)
            events = (await api.get(f"/v1/rooms/{room['id']}/timeline")).json()["events"]
    finally:
        await pages.close()
    assert not pages.errors, f"uncaught errors in the pages: {pages.errors}"
    [message] = [e for e in events if e["type"] == "chat"]
    assert message["data"]["text"] == MESSAGE
    return Meeting(room, recordings, message["at"])


async def test_two_participants_are_recorded_one_file_each(server, meeting, pages, tmp_path):
    room, recordings = meeting.room, meeting.recordings
    async with server.client(server.first_key) as api:
        listing = f"/v1/rooms/{room['id']}/recordings"
        assert {r["user_id"] for r in recordings} == {"alice", "bob"}
        assert len({r["session_id"] for r in recordings}) == 2
        for recording in recordings:
            assert recording["media_type"] == "video/webm"
            assert recording["duration_ms"] >= 4000 and recording["size_bytes"] > 0, recording
            media = await api.get(f"{listing}/{recording['id']}/media")
            assert media.status_code == 200 and len(media.content) == recording["size_bytes"]
            file = tmp_path / f"{recording['user_id']}.webm"
            file.write_bytes(media.content)
            seconds = seconds_per_stream(file)
            assert set(seconds) == {"audio", "video"}, seconds
            assert min(seconds.values()) >= 4.0, (recording["user_id"], seconds)
            with av.open(str(file)) as container:
                frame = next(container.decode(video=0))
                assert frame.width > 0 and frame.height > 0
            part = await api.get(f"{listing}/{recording['id']}/media", headers={"Range": "bytes=100-1123"})
            assert part.status_code == 206
            assert part.headers["content-range"] == f"bytes 100-1123/{recording['size_bytes']}"
            assert part.content == media.content[100:1124]

    # What the server wrote plays in the browser (the replay page will show these).
    player = await pages.open("player", f"{server.base_url}/healthz")
    played = await player.evaluate(
        """async ([url, key]) => {
          const blob = await (await fetch(url, {headers: {Authorization: `Bearer ${key}`}})).blob();
          const video = document.createElement("video");
          video.muted = true;
          video.src = URL.createObjectURL(blob);
          document.body.append(video);
          await video.play();
          await new Promise((resolve) => setTimeout(resolve, 1500));
          return {time: video.currentTime, width: video.videoWidth, error: video.error && video.error.message,
                  audio: video.webkitAudioDecodedByteCount, video: video.webkitVideoDecodedByteCount};
        }""",
        [f"{server.base_url}/v1/rooms/{room['id']}/recordings/{recordings[0]['id']}/media", server.first_key],
    )
    assert played["error"] is None and played["time"] > 0.5 and played["width"] > 0, played
    assert played["audio"] > 0 and played["video"] > 0, played


async def replay_data(base_url: str, room_id: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=20) as client:
        return await client.get(f"/v1/rooms/{room_id}/replay", params={"token": token})


async def replay_link(server, room_id: str, user_id: str) -> dict:
    async with server.client(server.first_key) as api:
        answer = await api.post(f"/v1/rooms/{room_id}/replay-tokens", json={"user_id": user_id})
        assert answer.status_code == 200, answer.text
        return answer.json()


async def seek(page, t: int) -> None:
    await page.evaluate("(t) => { const s = document.querySelector('#seek'); s.value = String(t); s.dispatchEvent(new Event('input')); }", t)


# Each recording's video as the page shows it: hidden or not, its position, and where it should be.
VIDEOS = """() => [...document.querySelectorAll('#replay-recordings li')].map((li) => {
  const video = li.querySelector('video');
  return {id: li.dataset.recordingId, hidden: li.hidden, time: video.currentTime, paused: video.paused,
          seeking: video.seeking, ready: video.readyState, width: video.videoWidth, error: video.error && video.error.code};
})"""

# Paused, every shown video at the replay clock's moment of its recording (`offsets`: id -> the
# recording's start on the replay clock, ms) and decoded there; every other one hidden.
IN_PLACE = """(offsets) => {
  const t = Number(document.body.dataset.replayTime);
  return [...document.querySelectorAll('#replay-recordings li')].every((li) => {
    const video = li.querySelector('video'), from = offsets[li.dataset.recordingId];
    if (t < from) return li.hidden;
    return !li.hidden && !video.seeking && video.readyState >= 2 && video.paused
      && Math.abs(video.currentTime - (t - from) / 1000) < 0.06;
  });
}"""


async def test_the_replay_plays_both_recordings_in_sync_and_the_chat_at_its_moment(server, meeting, pages):
    room_id = meeting.room["id"]
    link = await replay_link(server, room_id, "bob")
    page = await pages.open("replay", link["replay_url"])
    await page.wait_for_selector("#replay:not([hidden])")
    start = int(await page.evaluate("() => document.body.dataset.replayStart"))
    offsets = {r["id"]: ms(r["started_at"]) - start for r in meeting.recordings}
    assert await page.locator("#replay-recordings li").count() == 2
    first, second = sorted(meeting.recordings, key=lambda r: r["started_at"])

    # Before the later recording starts only the earlier one shows, at its own position.
    await seek(page, offsets[second["id"]] - 200)
    await page.wait_for_function(IN_PLACE, arg=offsets)
    shown = {v["id"]: v for v in await page.evaluate(VIDEOS)}
    assert not shown[first["id"]]["hidden"] and shown[second["id"]]["hidden"], shown

    # Both cover this moment: side by side, each at its own offset (they started apart).
    both = offsets[second["id"]] + 1000
    await seek(page, both)
    await page.wait_for_function(IN_PLACE, arg=offsets)
    shown = {v["id"]: v for v in await page.evaluate(VIDEOS)}
    assert all(not v["hidden"] and v["width"] > 0 and v["error"] is None for v in shown.values()), shown
    await pages.screenshot(page, "replay-both")

    # Play: both videos' clocks advance with the replay's; a pause puts them back at its moment.
    await page.get_by_role("button", name="Play").click()
    await page.wait_for_function(
        """([both, ids]) => Number(document.body.dataset.replayTime) > both + 1500 && ids.every((id) => {
          const video = document.querySelector(`#replay-recordings li[data-recording-id="${id}"] video`);
          return !video.paused && video.currentTime > 0;
        })""",
        arg=[both, list(offsets)],
    )
    before = {v["id"]: v["time"] for v in await page.evaluate(VIDEOS)}
    await page.wait_for_function(
        """(before) => [...document.querySelectorAll('#replay-recordings li')].every(
          (li) => li.querySelector('video').currentTime > before[li.dataset.recordingId] + 0.5)""",
        arg=before,
    )
    await page.get_by_role("button", name="Pause").click()
    await page.wait_for_function(IN_PLACE, arg=offsets)

    # The chat message appears at its moment, not before.
    said = ms(meeting.message_at) - start
    await seek(page, said - 200)
    assert MESSAGE not in await page.locator("#chat-log").inner_text()
    await seek(page, said + 10)
    await page.locator("#chat-log li", has_text=MESSAGE).wait_for()
    assert "Alice" in await page.locator("#chat-log li", has_text=MESSAGE).inner_text()


async def test_the_replays_media_link_serves_ranges_and_no_other_rooms_token_reads_it(server, meeting):
    room_id = meeting.room["id"]
    token = (await replay_link(server, room_id, "alice"))["token"]
    data = (await replay_data(server.base_url, room_id, token)).json()
    assert {r["id"] for r in data["recordings"]} == {r["id"] for r in meeting.recordings}
    recording = data["recordings"][0]
    assert token not in recording["media_url"] and "signature=" in recording["media_url"]
    async with server.client(server.first_key) as api:
        whole = (await api.get(f"/v1/rooms/{room_id}/recordings/{recording['id']}/media")).content
    async with httpx.AsyncClient(trust_env=False, timeout=20) as anonymous:
        part = await anonymous.get(recording["media_url"], headers={"Range": "bytes=100-1123"})
        assert part.status_code == 206 and part.headers["content-range"] == f"bytes 100-1123/{len(whole)}"
        assert part.content == whole[100:1124]

        other = (await create_room(server.base_url, server.first_key, record=False))["room"]
        other_token = (await replay_link(server, other["id"], "alice"))["token"]
        assert (await replay_data(server.base_url, room_id, other_token)).status_code == 401
        media_path = recording["media_url"].partition("?")[0]
        for url in (media_path, f"{server.base_url}/v1/rooms/{room_id}/recordings/{recording['id']}/media"):
            refused = await anonymous.get(url, params={"token": other_token})
            assert refused.status_code in (400, 401) and not refused.content.startswith(whole[:4]), url
        their_data = (await replay_data(server.base_url, other["id"], other_token)).json()
        assert their_data["recordings"] == []
