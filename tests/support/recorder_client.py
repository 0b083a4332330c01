"""A participant's recorder connection driven from a test (or a benchmark): aiortc as the
page's side, sending synthetic camera and microphone (aiortc's test sources: 640x480 video at
30 fps, 20 ms of audio at a time) to the server's recorder, signalled over the live socket
with `recorder_offer` / `recorder_answer` (docs/rooms.md, Recording).

aiortc puts its candidates in its offer once gathered, so no `recorder_ice` is needed here.
"""

import fractions
import math
import time
from collections.abc import Awaitable, Callable

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack


class MovingVideo(VideoStreamTrack):
    """640x480 at 30 fps: a bar that moves, so that every frame differs (what a camera gives)."""

    def __init__(self, width: int = 640, height: int = 480):
        super().__init__()
        self.width, self.height = width, height
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        x0 = (self._count * 8) % (self.width - 40)
        row = bytearray(b"\x20" * self.width)
        row[x0 : x0 + 40] = b"\xe0" * 40
        frame.planes[0].update(bytes(row) * self.height)
        for plane in (1, 2):
            frame.planes[plane].update(b"\x80" * (frame.planes[plane].buffer_size))
        frame.pts, frame.time_base = pts, time_base
        self._count += 1
        return frame


class ToneAudio(AudioStreamTrack):
    """A 440 Hz tone, 48 kHz mono, 20 ms at a time."""

    def __init__(self):
        super().__init__()
        self._start: float | None = None
        self._timestamp = 0

    async def recv(self) -> av.AudioFrame:
        import asyncio

        samples = 960
        if self._start is None:
            self._start = time.time()
        else:
            self._timestamp += samples
            wait = self._start + self._timestamp / 48000 - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        values = bytearray()
        for n in range(samples):
            value = int(6000 * math.sin(2 * math.pi * 440 * (self._timestamp + n) / 48000))
            values += value.to_bytes(2, "little", signed=True)
        frame.planes[0].update(bytes(values))
        frame.pts, frame.sample_rate, frame.time_base = self._timestamp, 48000, fractions.Fraction(1, 48000)
        return frame


async def start_recorder_peer(
    send: Callable[[dict], Awaitable[None]], answer: Callable[[], Awaitable[dict]], *, size: tuple[int, int] = (640, 480)
) -> RTCPeerConnection:
    """Offer synthetic audio and video (`size`) to the server's recorder: `send` puts a message
    on the live socket, `answer` waits for the `recorder_answer`. The caller closes the connection."""
    pc = RTCPeerConnection()
    pc.addTransceiver(ToneAudio(), direction="sendonly")
    pc.addTransceiver(MovingVideo(*size), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    await send({"type": "recorder_offer", "sdp": pc.localDescription.sdp})
    reply = await answer()
    assert reply["type"] == "recorder_answer", reply
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
    return pc
