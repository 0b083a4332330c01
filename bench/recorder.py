"""The recorder: CPU per recorded participant stream, and how many streams one `callgrid serve`
process records in real time on this machine.

    .venv/bin/python bench/recorder.py                          # 1, 2, 4, 8, 12 streams, 10 s each
    .venv/bin/python bench/recorder.py --streams 1,4,16 --seconds 20 --bitrate 1500000

It starts one `callgrid serve` (a temporary SQLite file and recordings directory) and, for each
step, N participants in a room with `record: true`: real live sockets and real recorder
connections (recorder_offer / recorder_answer), sent by aiortc from a process of their own. A
participant stream is what a page sends: 640x480 VP8 video at 30 fps (about `--bitrate`) and
Opus audio at 50 packets/s. The media is synthesized once (PyAV's encoders: a moving bar over
noise, a tone) and sent as pre-encoded packets, so the sending process only packetizes and
encrypts, as a browser would after its encoder; the server's recorder does what it does for a
browser: SRTP, RTP reassembly, NACKs, and muxing into one WebM file per participant.

For each step it prints: the server's CPU while recording, minus its idle CPU, per stream (as
a share of one core); the frames written to the files against the frames sent (real time
means none fall behind: at least 95% written, the rest being the first and last moments of
each connection); the sender's CPU (it shares the machine's cores); and the load average. At
the end: the most streams recorded in real time here, and what the per-stream CPU gives for
one core (the recorder's work is on the process's event loop; the files are written on a
thread each).
"""

import argparse
import asyncio
import fractions
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import cpu_seconds, free_port, fresh_database, stop, wait_healthy  # noqa: E402

CALLGRID = str(Path(sys.executable).with_name("callgrid"))
FPS = 30
WIDTH, HEIGHT = 640, 480


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


# --- the sender's process ---------------------------------------------------------------------


def synthesize(bitrate: int, seconds: int = 10) -> tuple[list[tuple[bytes, bool]], list[bytes], float]:
    """`seconds` of 640x480 VP8 at 30 fps (one keyframe, then interframes) and one second of
    Opus, encoded once; the video's bitrate as encoded."""
    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.time_base, video.framerate, video.bit_rate = fractions.Fraction(1, FPS), FPS, bitrate
    video.options = {"deadline": "realtime", "cpu-used": "8", "kf-max-dist": str(seconds * FPS + 1), "lag-in-frames": "0"}
    packets: list[tuple[bytes, bool]] = []
    base = bytearray(WIDTH * HEIGHT)
    for n in range(seconds * FPS):
        luma = bytearray(base)
        noise = os.urandom(160 * 120)
        for row in range(120):
            y = (row + n * 3) % (HEIGHT - 1)
            start = y * WIDTH + (n * 7) % (WIDTH - 160)
            luma[start : start + 160] = noise[row * 160 : (row + 1) * 160]
        x0 = (n * 12) % (WIDTH - 60)
        for y in range(0, HEIGHT, 2):
            luma[y * WIDTH + x0 : y * WIDTH + x0 + 60] = b"\xf0" * 60
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(b"\x70" * frame.planes[1].buffer_size)
        frame.planes[2].update(b"\x90" * frame.planes[2].buffer_size)
        frame.pts = n
        packets += [(bytes(p), p.is_keyframe) for p in video.encode(frame)]
    packets += [(bytes(p), p.is_keyframe) for p in video.encode(None)]
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format = 48000, "mono", "s16"
    tone = b"".join(int(6000 * __import__("math").sin(n / 48000 * 2 * 3.14159 * 440)).to_bytes(2, "little", signed=True) for n in range(48000))
    sound: list[bytes] = []
    for n in range(50):
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(tone[n * 1920 : (n + 1) * 1920])
        frame.sample_rate, frame.pts = 48000, n * 960
        sound += [bytes(p) for p in audio.encode(frame)]
    bits = sum(len(p) for p, _ in packets) * 8 / seconds
    return packets, sound, bits


def sender(urls: list[str], bitrate: int, pipe) -> None:
    """One process: every participant's live socket and recorder connection; sends until told."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamTrack
    from websockets.asyncio.client import connect

    video_packets, audio_packets, bits = synthesize(bitrate)

    class Packets(MediaStreamTrack):
        """Pre-encoded packets at their rate, looped; counts what it sent and how late."""

        def __init__(self, kind: str, packets: list, rate: int, clock: int, step: int):
            super().__init__()
            self.kind, self.packets, self.rate, self.clock, self.step = kind, packets, rate, clock, step
            self.sent = 0
            self.late = 0.0
            self.start: float | None = None

        async def recv(self):
            if self.start is None:
                self.start = time.monotonic()
            due = self.start + self.sent / self.rate
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                self.late = max(self.late, -wait)
            item = self.packets[self.sent % len(self.packets)]
            packet = av.Packet(item[0] if isinstance(item, tuple) else item)
            packet.pts, packet.time_base = self.sent * self.step, fractions.Fraction(1, self.clock)
            self.sent += 1
            return packet

    async def participant(url: str):
        ws = await connect(url, open_timeout=30, ping_interval=None, max_queue=None)
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome" and welcome["recording"], welcome
        pc = RTCPeerConnection()
        video = Packets("video", video_packets, FPS, 90000, 90000 // FPS)
        audio = Packets("audio", audio_packets, 50, 48000, 960)
        pc.addTransceiver(audio, direction="sendonly")
        pc.addTransceiver(video, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"type": "recorder_offer", "sdp": pc.localDescription.sdp}))
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "recorder_answer":
                break
            assert message["type"] != "error", message
        await pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
        return ws, pc, video, audio

    async def run():
        people = await asyncio.gather(*(participant(url) for url in urls))

        async def keep_alive():
            while True:
                for ws, *_ in people:
                    await ws.send(json.dumps({"type": "ping"}))
                    try:
                        while True:  # drain what the server sends (participant_joined, recording, pong)
                            await asyncio.wait_for(ws.recv(), timeout=0.001)
                    except (TimeoutError, asyncio.TimeoutError):
                        pass
                await asyncio.sleep(2)

        pinger = asyncio.create_task(keep_alive())
        pipe.send({"connected": len(people), "video_bits_per_second": bits})
        await asyncio.to_thread(pipe.recv)  # "stop"
        pinger.cancel()
        started = time.process_time()
        for ws, pc, _, _ in people:
            await pc.close()
            await ws.send(json.dumps({"type": "leave"}))
            await ws.close()
        pipe.send({
            "video_sent": [v.sent for _, _, v, _ in people],
            "audio_sent": [a.sent for _, _, _, a in people],
            "late_seconds": max(max(v.late, a.late) for _, _, v, a in people),
            "closing_cpu": time.process_time() - started,
        })

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


# --- the bench ----------------------------------------------------------------------------------


def file_frames(path: Path) -> tuple[int, int, float]:
    """Video and audio packets in a recording, and its media seconds."""
    video = audio = 0
    end = 0.0
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None:
                continue
            end = max(end, float(packet.pts * packet.time_base))
            if packet.stream.type == "video":
                video += 1
            else:
                audio += 1
    return video, audio, end


def step(api: httpx.Client, base: str, server_pid: int, recordings: Path, streams: int, seconds: float, bitrate: int) -> dict:
    room = api.post("/v1/rooms", json={"name": f"bench {streams}", "type": "public", "record": True}).json()["room"]
    urls = []
    for n in range(streams):
        token = api.post(f"/v1/rooms/{room['id']}/join-tokens", json={"user_id": f"p{n}"}).json()["token"]
        urls.append(f"{base.replace('http', 'ws', 1)}/v1/rooms/{room['id']}/live?token={token}")

    idle_start, idle_cpu = time.monotonic(), cpu_seconds(server_pid)
    time.sleep(3)
    idle_rate = (cpu_seconds(server_pid) - idle_cpu) / (time.monotonic() - idle_start)

    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=sender, args=(urls, bitrate, theirs), daemon=True)
    process.start()
    hello = ours.recv()
    # Every recording has started (its first frame came) before the window opens.
    deadline = time.monotonic() + 60
    while True:
        shown = api.get(f"/v1/rooms/{room['id']}/recordings", params={"limit": 100}).json()["recordings"]
        if len(shown) == streams and all(r["status"] == "recording" for r in shown):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(shown)} of {streams} recordings started")
        time.sleep(0.2)
    time.sleep(1)  # past the connections' first moments
    window_start, server_cpu, sender_cpu = time.monotonic(), cpu_seconds(server_pid), cpu_seconds(process.pid)
    time.sleep(seconds)
    window = time.monotonic() - window_start
    server_used = cpu_seconds(server_pid) - server_cpu
    sender_used = cpu_seconds(process.pid) - sender_cpu
    window_load = load()
    ours.send("stop")
    sent = ours.recv()
    process.join(timeout=30)

    deadline = time.monotonic() + 60
    while True:
        shown = api.get(f"/v1/rooms/{room['id']}/recordings", params={"limit": 100}).json()["recordings"]
        if all(r["status"] == "ready" for r in shown):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("recordings did not become ready")
        time.sleep(0.2)
    counted = [file_frames(recordings / room["id"] / f"{r['id']}.webm") for r in shown]
    video_written, audio_written = sum(c[0] for c in counted), sum(c[1] for c in counted)
    video_sent, audio_sent = sum(sent["video_sent"]), sum(sent["audio_sent"])
    per_stream = max(0.0, server_used / window - idle_rate) / streams
    return {
        "streams": streams,
        "server_share": server_used / window,
        "idle_share": idle_rate,
        "per_stream": per_stream,
        "sender_share": sender_used / window,
        "video_ratio": video_written / max(1, video_sent),
        "audio_ratio": audio_written / max(1, audio_sent),
        "video_written": video_written,
        "video_sent": video_sent,
        "late": sent["late_seconds"],
        "bits": hello["video_bits_per_second"],
        "load": window_load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,2,4,8,12", help="participant streams per step, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="the measured window of each step")
    parser.add_argument("--bitrate", type=int, default=1_000_000, help="the synthesized video's target bits per second")
    args = parser.parse_args()
    steps = [int(s) for s in args.streams.split(",") if s.strip()]

    database_url, drop = fresh_database(None)
    recordings = Path(tempfile.mkdtemp(prefix="callgrid-bench-recordings-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGRID_")}
    env.update(CALLGRID_DATABASE_URL=database_url, CALLGRID_PUBLIC_URL=base, CALLGRID_RECORDINGS_DIR=str(recordings),
               CALLGRID_LOG_FORMAT="text")
    log = Path(tempfile.mkstemp(prefix="callgrid-recorder-bench-", suffix=".log")[1])
    with log.open("w") as err:
        server = subprocess.Popen([CALLGRID, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                  env=env, stdout=subprocess.PIPE, stderr=err)
    results = []
    try:
        wait_healthy(server, port, log)
        key = server.stdout.readline().decode().strip()
        print(f"callgrid serve (one process, SQLite); participant streams of {WIDTH}x{HEIGHT} VP8 at {FPS} fps "
              f"(target {args.bitrate / 1e6:.2f} Mbit/s) and Opus at 50 packets/s, sent pre-encoded by aiortc "
              f"from one other process; {args.seconds:.0f} s measured per step; {load()}")
        print(f"{'streams':>7} {'server CPU':>10} {'per stream':>10} {'video frames written/sent':>26} "
              f"{'audio':>6} {'sender CPU':>10} {'sender late':>11}  load")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30, trust_env=False) as api:
            for streams in steps:
                r = step(api, base, server.pid, recordings, streams, args.seconds, args.bitrate)
                results.append(r)
                print(f"{r['streams']:>7} {r['server_share'] * 100:>9.1f}% {r['per_stream'] * 100:>9.2f}% "
                      f"{r['video_written']:>12}/{r['video_sent']:<6} ({r['video_ratio'] * 100:5.1f}%) "
                      f"{r['audio_ratio'] * 100:>5.1f}% {r['sender_share'] * 100:>9.1f}% {r['late'] * 1000:>9.0f}ms  {r['load']}",
                      flush=True)
    finally:
        stop(server)
        drop()
        for path in sorted(recordings.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        recordings.rmdir()

    if not results:
        return
    bits = results[0]["bits"]
    realtime = [r for r in results if r["video_ratio"] >= 0.95 and r["audio_ratio"] >= 0.95 and r["server_share"] < 0.95]
    per_stream = sorted(r["per_stream"] for r in results if r["per_stream"] > 0)
    median = per_stream[len(per_stream) // 2] if per_stream else 0.0
    print(f"\nvideo as synthesized: {bits / 1e6:.2f} Mbit/s; server idle CPU {results[0]['idle_share'] * 100:.1f}% of a core")
    print(f"recorder CPU per participant stream (median of the steps): {median * 100:.2f}% of one core")
    if realtime:
        print(f"recorded in real time here: up to {max(r['streams'] for r in realtime)} streams at once "
              f"(the largest step tried that kept >= 95% of frames with the server under 95% of a core)")
    if median:
        print(f"one core at that rate: about {int(1 / median)} streams per process (its event loop does the RTP work)")
    print(load())


if __name__ == "__main__":
    main()
