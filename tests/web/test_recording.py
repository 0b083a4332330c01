"""Recording in a real browser: two participants in a room with `record: true` (Debian's
chromium, fake camera and microphone) meet for about six seconds against a real `callgrid
serve`; each page says the meeting is recorded and sends its media to the server's recorder.
Afterwards the API lists two `ready` recordings, one per session, each a WebM that PyAV opens
with an audio and a video stream of at least four seconds; the media answers a range request
with 206 and exactly those bytes; and chromium plays a recording (its clock advances, audio
and video decoded).
"""

import asyncio
import time

import av
import pytest

from tests.support.servers import Served
from tests.web.test_room_page import create_room, enter, join_url, see_each_other, server_env

pytestmark = pytest.mark.slow  # a server process, a browser

MEETING_SECONDS = 6.0


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


async def test_two_participants_are_recorded_one_file_each(server, pages, tmp_path):
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
        await asyncio.sleep(MEETING_SECONDS)
        await pages.screenshot(alice, "alice-meeting")  # the banner, as participants see it
        for page in (alice, bob):
            await page.get_by_role("button", name="Leave", exact=True).click()

        async def both_ready():
            shown = (await api.get(listing)).json()["recordings"]
            return shown if len(shown) == 2 and all(r["status"] == "ready" for r in shown) else None

        recordings = await until(both_ready)
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
