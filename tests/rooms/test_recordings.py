"""Recordings (docs/rooms.md, Recording), in this process: a participant driven by aiortc sends
synthetic camera and microphone to the server's recorder over its live socket and leaves; the
file is WebM that PyAV opens with both tracks, the row is `ready` with its event. The API lists,
streams (ranges), deletes, and answers 404 across organizations; the sweep marks a dead
process's recordings `interrupted` with what their files hold.
"""

import asyncio
import fractions
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import av
import pytest
from sqlalchemy import select

from callgrid.db.base import new_id, utcnow
from callgrid.db.session import write_session
from callgrid.rooms.recording.media import WebmWriter, opus_duration_ms, vp8_keyframe_size
from callgrid.rooms.recording.models import Recording
from callgrid.rooms.recording.service import HOSTNAME, Recorders
from callgrid.rooms.recording.storage import LocalRecordingStorage
from callgrid.webhooks.models import WebhookEvent
from tests.rooms.conftest import Peer, create_room, join_token, live_url
from tests.support.recorder_client import start_recorder_peer

# One folder per test process (made when the first recording is written), removed after the module.
RECORDINGS = Path(tempfile.gettempdir()) / f"callgrid-test-recordings-{os.getpid()}"
SMALL = (320, 240)


@pytest.fixture(scope="module", autouse=True)
def _recordings_folder():
    yield
    shutil.rmtree(RECORDINGS, ignore_errors=True)


@pytest.fixture(autouse=True)
def _recordings_in_the_folder(app):
    """The rooms tests' app (kept across tests: no app of its own, no pool of its own) writes
    and reads recordings in RECORDINGS while a test here runs."""
    storage = LocalRecordingStorage(RECORDINGS)
    before = app.state.recording_storage, app.state.recorders.storage
    app.state.recording_storage = app.state.recorders.storage = storage
    yield
    app.state.recording_storage, app.state.recorders.storage = before


async def recordings(tenant, room_id: str) -> list[dict]:
    response = await tenant.client.get(f"/v1/rooms/{room_id}/recordings")
    assert response.status_code == 200, response.text
    return response.json()["recordings"]


def streams_of(path: Path) -> dict[str, float]:
    """Seconds of media per stream type, from the packets (no decoding)."""
    with av.open(str(path)) as container:
        ends: dict[str, float] = {s.type: 0.0 for s in container.streams}
        for packet in container.demux():
            if packet.pts is not None:
                ends[packet.stream.type] = max(ends[packet.stream.type], float(packet.pts * packet.time_base))
    return ends


# --- live -------------------------------------------------------------------------------------


async def test_a_participant_is_recorded_by_the_server_until_they_leave(app, server, tenant):
    room = (await create_room(tenant, record=True))["room"]
    token = (await join_token(tenant, room["id"], "alice", name="Alice"))["token"]
    alice = await Peer.join(live_url(server, room["id"], token=token))
    assert alice.welcome["recording"] is True
    # A small picture: this test's own encoder shares the machine with the server's recorder.
    pc = await start_recorder_peer(alice.send, lambda: alice.next("recorder_answer", timeout=20), size=SMALL)
    try:
        started = await alice.next("recording", timeout=20, status="recording")
        [shown] = await recordings(tenant, room["id"])
        assert shown["id"] == started["recording_id"] and shown["status"] == "recording"
        await asyncio.sleep(3)
        await alice.send({"type": "ping"})
    finally:
        await pc.close()
    await alice.send({"type": "leave"})
    await alice.closed()

    for _ in range(100):
        [shown] = await recordings(tenant, room["id"])
        if shown["status"] == "ready":
            break
        await asyncio.sleep(0.1)
    assert shown["status"] == "ready", shown
    assert shown["session_id"] == alice.session_id and shown["member_id"] == alice.welcome["member_id"]
    assert shown["user_id"] == "alice" and shown["media_type"] == "video/webm"
    assert 2500 <= shown["duration_ms"] <= 10_000
    file = RECORDINGS / room["id"] / f"{shown['id']}.webm"
    assert shown["size_bytes"] == file.stat().st_size > 0
    assert shown["media_url"].endswith(f"/v1/rooms/{room['id']}/recordings/{shown['id']}/media")
    ends = streams_of(file)
    assert set(ends) == {"audio", "video"} and min(ends.values()) >= 2.0, ends
    with av.open(str(file)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == SMALL

    async with app.state.database.read() as session:
        events = (await session.execute(select(WebhookEvent).where(WebhookEvent.type == "recording.ready"))).scalars().all()
    assert len(events) == 1 and shown["id"] in events[0].payload


async def test_recorder_messages_in_a_room_that_does_not_record(server, tenant):
    room = (await create_room(tenant, record=False))["room"]
    peer = await Peer.join(live_url(server, room["id"], token=(await join_token(tenant, room["id"], "bob"))["token"]))
    assert peer.welcome["recording"] is False
    await peer.send({"type": "recorder_offer", "sdp": "v=0"})
    assert (await peer.next("error"))["code"] == "recording_off"
    recorded = (await create_room(tenant, record=True))["room"]
    other = await Peer.join(live_url(server, recorded["id"], token=(await join_token(tenant, recorded["id"], "bob"))["token"]))
    await other.send({"type": "recorder_offer"})
    assert (await other.next("error"))["code"] == "bad_message"
    await other.send({"type": "recorder_offer", "sdp": "not an offer"})
    assert (await other.next("error"))["code"] == "recorder_failed"
    await other.send({"type": "ping"})
    await other.next("pong")  # the socket is still fine
    for p in (peer, other):
        await p.close()
    assert await recordings(tenant, recorded["id"]) == []


# --- the API over rows and files ---------------------------------------------------------------


async def add_recording(app, tenant, room_id: str, *, content: bytes = b"", status: str = "ready", **fields) -> dict:
    recording_id = new_id()
    key = f"{room_id}/{recording_id}.webm"
    if content:
        with app.state.recording_storage.open_writer(key) as file:
            file.write(content)
    now = utcnow()
    row = {
        "id": recording_id, "organization_id": UUID(tenant.organization_id), "room_id": UUID(room_id),
        "session_id": str(new_id()), "member_id": str(new_id()), "user_id": "alice", "started_at": now,
        "ended_at": now + timedelta(seconds=5) if status != "recording" else None,
        "duration_ms": 5000 if status != "recording" else None,
        "size_bytes": len(content), "media_type": "video/webm", "status": status, "path": key,
        **fields,
    }
    async with write_session(app.state.database) as session:
        session.add(Recording(**row))
        await session.commit()
    return {"id": str(recording_id), "key": key}


async def test_list_media_ranges_and_delete(app, tenant):
    room = (await create_room(tenant))["room"]
    content = bytes(range(256)) * 40  # 10,240 bytes
    one = await add_recording(app, tenant, room["id"], content=content)
    live = await add_recording(app, tenant, room["id"], content=b"x" * 100, status="recording", owner="elsewhere/1/x",
                               heartbeat_at=utcnow())
    listed = await recordings(tenant, room["id"])
    assert [r["id"] for r in listed] == [one["id"], live["id"]]
    assert listed[0] | {} == {
        "id": one["id"], "room_id": room["id"], "session_id": listed[0]["session_id"], "member_id": listed[0]["member_id"],
        "user_id": "alice", "started_at": listed[0]["started_at"], "ended_at": listed[0]["ended_at"], "duration_ms": 5000,
        "size_bytes": 10240, "media_type": "video/webm", "status": "ready",
        "media_url": f"http://callgrid.test/v1/rooms/{room['id']}/recordings/{one['id']}/media",
    }
    assert listed[1]["status"] == "recording" and listed[1]["size_bytes"] == 100 and listed[1]["duration_ms"] is None
    page = (await tenant.client.get(f"/v1/rooms/{room['id']}/recordings", params={"limit": 1, "offset": 1})).json()
    assert [r["id"] for r in page["recordings"]] == [live["id"]] and page["paging"] == {"limit": 1, "offset": 1, "total": 2}
    assert (await tenant.client.get(f"/v1/rooms/{room['id']}/recordings/{one['id']}")).json()["recording"]["id"] == one["id"]

    media = f"/v1/rooms/{room['id']}/recordings/{one['id']}/media"
    whole = await tenant.client.get(media)
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["content-type"] == "video/webm" and whole.headers["accept-ranges"] == "bytes"
    for asked, first, last in (("bytes=0-99", 0, 99), ("bytes=10000-", 10000, 10239), ("bytes=-40", 10200, 10239),
                               ("bytes=10200-99999", 10200, 10239)):
        part = await tenant.client.get(media, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.headers["content-range"] == f"bytes {first}-{last}/10240"
        assert part.content == content[first : last + 1] and part.headers["content-length"] == str(last - first + 1)
    past = await tenant.client.get(media, headers={"Range": "bytes=10240-"})
    assert past.status_code == 416 and past.headers["content-range"] == "bytes */10240"
    assert past.json()["errors"] == [{"field": "range", "message": "the file has 10240 bytes"}]
    several = await tenant.client.get(media, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == content
    head = await tenant.client.head(media, headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10"

    refused = await tenant.client.delete(f"/v1/rooms/{room['id']}/recordings/{live['id']}")
    assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "recording_id"
    assert (await tenant.client.delete(f"/v1/rooms/{room['id']}/recordings/{one['id']}")).status_code == 204
    assert not app.state.recording_storage.path(one["key"]).exists()
    assert [r["id"] for r in await recordings(tenant, room["id"])] == [live["id"]]
    for gone in (media, f"/v1/rooms/{room['id']}/recordings/{one['id']}"):
        assert (await tenant.client.get(gone)).status_code == 404
    assert (await tenant.client.delete(f"/v1/rooms/{room['id']}/recordings/{one['id']}")).status_code == 404


async def test_another_organization_and_another_room_read_as_missing(app, tenant, other_tenant):
    room = (await create_room(tenant))["room"]
    elsewhere = (await create_room(tenant))["room"]
    theirs = (await create_room(other_tenant))["room"]
    one = await add_recording(app, tenant, room["id"], content=b"webm")
    paths = [f"/v1/rooms/{room['id']}/recordings/{one['id']}", f"/v1/rooms/{room['id']}/recordings/{one['id']}/media"]
    for path in [f"/v1/rooms/{room['id']}/recordings", *paths]:
        answer = await other_tenant.client.get(path)
        assert answer.status_code == 404 and answer.json()["errors"][0]["field"] == "id", path
    assert (await other_tenant.client.delete(paths[0])).status_code == 404
    for path in (p.replace(room["id"], elsewhere["id"]) for p in paths):
        answer = await tenant.client.get(path)
        assert answer.status_code == 404 and answer.json()["errors"][0]["field"] == "recording_id"
    assert (await tenant.client.get(f"/v1/rooms/{room['id']}/recordings/not-a-uuid")).status_code == 404
    assert await recordings(other_tenant, theirs["id"]) == []
    assert (await tenant.client.get(paths[1])).content == b"webm"  # still there


# --- the sweep ---------------------------------------------------------------------------------


def webm_of(seconds: float) -> bytes:
    """A small WebM as the recorder writes it (VP8 and Opus encoded here), `seconds` long."""
    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
    video.time_base, video.framerate, video.options = fractions.Fraction(1, 1000), 30, {"deadline": "realtime", "cpu-used": "8"}
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format = 48000, "mono", "s16"
    frames: list[tuple[int, str, bytes, bool]] = []
    for n in range(int(seconds * 30)):
        frame = av.VideoFrame(160, 120, "yuv420p")
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([(n * 7 + index * 50) % 256]) * plane.buffer_size)
        frame.pts = n * 33
        frames += [(p.pts, "video", bytes(p), p.is_keyframe) for p in video.encode(frame)]
    for n in range(int(seconds * 50)):
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(bytes(1920))
        frame.sample_rate, frame.pts = 48000, n * 960
        frames += [(int(p.pts / 48), "audio", bytes(p), True) for p in audio.encode(frame)]
    RECORDINGS.mkdir(parents=True, exist_ok=True)
    path = RECORDINGS / f"sweep-{new_id()}.webm"
    writer = WebmWriter(lambda: open(path, "w+b", buffering=0))
    for ts, kind, data, key in sorted(frames, key=lambda f: f[0]):
        writer.video(ts, data, key) if kind == "video" else writer.audio(ts, data)
    writer.close()
    content = path.read_bytes()
    path.unlink()
    return content


async def test_the_sweep_marks_a_dead_process_recordings_interrupted(app, tenant, monkeypatch):
    # Only the sweeps called here: the apps this process keeps across tests share the database
    # and sweep it on their own every SWEEP_SECONDS, which made the counts below race them.
    real_sweep = Recorders.sweep

    async def not_now(self) -> int:
        return 0

    monkeypatch.setattr(Recorders, "sweep", not_now)

    async def sweep() -> int:
        return await real_sweep(app.state.recorders)

    room = (await create_room(tenant))["room"]
    # A pid no process has: pids are below pid_max (a process that has just exited would do,
    # until a busy machine hands its pid to another).
    gone_pid = int(Path("/proc/sys/kernel/pid_max").read_text())
    content = webm_of(2.0)
    dead = await add_recording(app, tenant, room["id"], content=content, status="recording",
                               owner=f"{HOSTNAME}/{gone_pid}/old", heartbeat_at=utcnow())
    silent = await add_recording(app, tenant, room["id"], content=b"", status="recording",
                                 owner="another-host/1/x", heartbeat_at=utcnow() - timedelta(minutes=5))
    alive = await add_recording(app, tenant, room["id"], content=b"x", status="recording",
                                owner="another-host/1/y", heartbeat_at=utcnow())
    mine = await add_recording(app, tenant, room["id"], content=b"x", status="recording",
                               owner=f"{HOSTNAME}/{os.getppid()}/z", heartbeat_at=utcnow())
    # Another app in this same process (tests hold several) is alive; an earlier process that
    # had this process's pid is not.
    sibling = Recorders(app.state.database, app.state.recording_storage, public_url="http://x", ice_servers=[], clock=utcnow)
    beside = await add_recording(app, tenant, room["id"], content=b"x", status="recording",
                                 owner=sibling.owner, heartbeat_at=utcnow())
    earlier = await add_recording(app, tenant, room["id"], content=b"", status="recording",
                                  owner=f"{HOSTNAME}/{os.getpid()}/earlier", heartbeat_at=utcnow())
    try:
        assert await sweep() == 3
    finally:
        await sibling.stop()
    shown = {r["id"]: r for r in await recordings(tenant, room["id"])}
    assert shown[dead["id"]]["status"] == "interrupted"
    assert 1900 <= shown[dead["id"]]["duration_ms"] <= 2200 and shown[dead["id"]]["size_bytes"] == len(content)
    assert shown[dead["id"]]["ended_at"] > shown[dead["id"]]["started_at"]
    assert shown[silent["id"]]["status"] == "interrupted" and shown[silent["id"]]["duration_ms"] is None
    assert shown[alive["id"]]["status"] == shown[mine["id"]]["status"] == shown[beside["id"]]["status"] == "recording"
    assert shown[earlier["id"]]["status"] == "interrupted"
    async with app.state.database.read() as session:
        events = (await session.execute(select(WebhookEvent).where(WebhookEvent.type == "recording.ready"))).scalars().all()
    assert len(events) == 3 and all('"status":"interrupted"' in e.payload for e in events)
    # Once each; the sibling's own recording goes too now that its app has stopped.
    assert await sweep() == 1
    assert {r["id"]: r["status"] for r in await recordings(tenant, room["id"])}[beside["id"]] == "interrupted"


def test_frame_parsing():
    assert vp8_keyframe_size(bytes.fromhex("3043009d012a8002e001")) == (640, 480)
    assert vp8_keyframe_size(bytes.fromhex("3143009d012a8002e001")) is None  # an interframe
    assert opus_duration_ms(bytes([0xFC, 0x00])) == 20  # CELT 20 ms, one frame
    assert opus_duration_ms(bytes([0x78 | 1, 0x00])) == 40  # SILK 20 ms, two frames
    assert opus_duration_ms(bytes([(12 << 3) | 3, 0x03])) == 30  # hybrid 10 ms, three frames


async def recorded_session(server, room_id: str, token: str, seconds: float, *, leave: bool) -> Peer:
    """A session that records for `seconds`, then leaves (or just drops its socket)."""
    peer = await Peer.join(live_url(server, room_id, token=token))
    pc = await start_recorder_peer(peer.send, lambda: peer.next("recorder_answer", timeout=20), size=SMALL)
    try:
        await peer.next("recording", timeout=20, status="recording")
        await asyncio.sleep(seconds)
    finally:
        await pc.close()
    if leave:
        await peer.send({"type": "leave"})
        await peer.close()
    else:
        peer.ws.transport.abort()  # the network went away: no close frame
    return peer


@pytest.mark.slow  # seconds of real media, twice
async def test_a_rejoin_and_a_dropped_connection_are_separate_files_with_their_own_times(server, tenant):
    room = (await create_room(tenant, record=True))["room"]
    token = (await join_token(tenant, room["id"], "alice"))["token"]
    first = await recorded_session(server, room["id"], token, 1.5, leave=False)  # the network went away
    second = await recorded_session(server, room["id"], token, 2.5, leave=True)  # back, then leaves
    for _ in range(100):
        shown = await recordings(tenant, room["id"])
        if len(shown) == 2 and all(r["status"] == "ready" for r in shown):
            break
        await asyncio.sleep(0.1)
    assert [r["session_id"] for r in shown] == [first.session_id, second.session_id]
    assert {r["member_id"] for r in shown} == {first.welcome["member_id"]} and {r["user_id"] for r in shown} == {"alice"}
    assert shown[0]["ended_at"] <= shown[1]["started_at"]
    assert 1000 <= shown[0]["duration_ms"] <= 3000 and 2000 <= shown[1]["duration_ms"] <= 4000, shown
    for recording in shown:
        file = RECORDINGS / room["id"] / f"{recording['id']}.webm"
        assert set(streams_of(file)) == {"audio", "video"}
