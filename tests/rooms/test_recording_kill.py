"""A server killed while it records: `callgrid serve` as a process records a participant driven
by aiortc from this test (synthetic 640x480 video and audio over the live socket's recorder
signalling); the server gets SIGKILL mid-recording and is started again on the same database
and recordings directory. The recording is then `interrupted`, its file opens with PyAV and
holds audio and video up to about a second before the kill (decodable to its end), its size
and duration are filled in, and what was committed before the kill (another room, its
member) is all there.
"""

import asyncio
import json
import signal
import time

import av
import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support.recorder_client import start_recorder_peer
from tests.support.servers import Served, callgrid_env

pytestmark = pytest.mark.slow  # server processes

RECORD_SECONDS = 5.0


def media_seconds(path) -> dict[str, float]:
    """The last timestamp of each stream (from packets), and every video frame decoded."""
    with av.open(str(path)) as container:
        last: dict[str, float] = {s.type: 0.0 for s in container.streams}
        for packet in container.demux():
            if packet.pts is not None:
                last[packet.stream.type] = max(last[packet.stream.type], float(packet.pts * packet.time_base))
    with av.open(str(path)) as container:
        decoded = 0
        try:
            for _ in container.decode(video=0):
                decoded += 1
        except av.FFmpegError:
            pass  # the very end of a killed writer's file
    last["video_frames"] = decoded
    return last


async def test_sigkill_mid_recording_leaves_it_interrupted_and_playable(tmp_path):
    recordings = tmp_path / "recordings"
    env = callgrid_env(f"sqlite+aiosqlite:///{tmp_path / 'callgrid.db'}", CALLGRID_RECORDINGS_DIR=str(recordings))
    first = Served(env, log=tmp_path / "serve-1.log")
    key = first.first_key
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(base_url=first.base_url, headers=headers, timeout=20, trust_env=False) as api:
            room = (await api.post("/v1/rooms", json={"name": "Recorded", "type": "public", "record": True})).json()["room"]
            token = (await api.post(f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": "alice"})).json()["token"]
            ws = await connect(f"{first.base_url.replace('http', 'ws', 1)}/v1/rooms/{room['id']}/live?token={token}",
                               open_timeout=10, ping_interval=None)
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome" and welcome["recording"] is True
            inbox: asyncio.Queue = asyncio.Queue()

            async def read():
                try:
                    async for text in ws:
                        await inbox.put(json.loads(text))
                except Exception:
                    pass

            async def answer():
                while True:
                    message = await asyncio.wait_for(inbox.get(), timeout=20)
                    if message["type"] in ("recorder_answer", "error"):
                        return message

            reader = asyncio.create_task(read())
            pc = await start_recorder_peer(lambda m: ws.send(json.dumps(m)), answer)
            try:
                listing = f"/v1/rooms/{room['id']}/recordings"
                deadline = time.monotonic() + 20
                while not (shown := (await api.get(listing)).json()["recordings"]):
                    assert time.monotonic() < deadline, "no recording started"
                    await asyncio.sleep(0.1)
                [started] = shown
                assert started["status"] == "recording"
                recording_started = time.monotonic()
                # Committed while it records: must all be there after the kill.
                kept = (await api.post("/v1/rooms", json={"name": "Kept", "type": "private"})).json()["room"]
                added = await api.post(f"/v1/rooms/{kept['id']}/members", json={"members": [{"user_id": "carol"}]})
                assert added.status_code == 200, added.text
                while time.monotonic() - recording_started < RECORD_SECONDS:
                    await ws.send(json.dumps({"type": "ping"}))
                    await asyncio.sleep(0.5)
                first.process.send_signal(signal.SIGKILL)
                killed_after = time.monotonic() - recording_started
                assert first.process.wait(timeout=10) == -signal.SIGKILL
            finally:
                await pc.close()
                reader.cancel()
                await ws.close()
    finally:
        first.stop()

    file = recordings / room["id"] / f"{started['id']}.webm"
    assert file.stat().st_size > 0
    second = Served({**env, "CALLGRID_PUBLIC_URL": first.base_url}, port=first.port, log=tmp_path / "serve-2.log")
    try:
        async with httpx.AsyncClient(base_url=second.base_url, headers=headers, timeout=20, trust_env=False) as api:
            deadline = time.monotonic() + 30
            while (recording := (await api.get(listing)).json()["recordings"][0])["status"] == "recording":
                assert time.monotonic() < deadline, recording
                await asyncio.sleep(0.2)
            assert recording["status"] == "interrupted", recording
            assert recording["size_bytes"] == file.stat().st_size
            # The file holds media up to about a second before the kill (its last cluster
            # closes every second), from the first frame on.
            assert killed_after - 2.0 <= recording["duration_ms"] / 1000 <= killed_after + 1.0, (recording, killed_after)
            assert recording["ended_at"] > recording["started_at"]
            seconds = media_seconds(file)
            print("killed after", round(killed_after, 2), "s; recording", recording["duration_ms"], "ms;", seconds)
            assert seconds["audio"] >= killed_after - 2.0 and seconds["video"] >= killed_after - 2.0, (seconds, killed_after)
            assert seconds["video_frames"] >= 20 * (killed_after - 2.0), seconds
            # Nothing else lost.
            rooms = {r["name"]: r for r in (await api.get("/v1/rooms")).json()["rooms"]}
            assert set(rooms) == {"Recorded", "Kept"} and rooms["Kept"]["members_count"] == 1
            members = (await api.get(f"/v1/rooms/{kept['id']}/members")).json()["members"]
            assert [m["user_id"] for m in members] == ["carol"]
            again = await api.get(f"{listing}/{recording['id']}/media", headers={"Range": "bytes=0-3"})
            assert again.status_code == 206 and again.content == b"\x1a\x45\xdf\xa3"  # EBML: a Matroska/WebM file
    finally:
        second.stop()
