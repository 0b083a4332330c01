"""One recorder peer connection: the server's end (aiortc) of what a participant's page sends
to be recorded, its frames handed to a `WebmWriter` as they arrive, without decoding.

aiortc's receiver reassembles each encoded frame from RTP (jitter buffer, NACKs, keyframe
requests) and puts it on its decoder thread's queue. The recorder stands in for that queue
(`_FrameTap`): the frame goes to the file, the decoder thread idles, and the end of the track
still reaches the decoder thread so that it stops as aiortc expects.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.sdp import candidate_from_sdp

from callgrid.rooms.recording.media import WebmWriter, vp8_keyframe_size

log = logging.getLogger("callgrid.recording")

# The codecs the recorder takes: what WebM holds and the recorder writes without decoding.
ACCEPTED = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}
# At most one keyframe request per this many seconds while the video has not started.
KEYFRAME_REQUEST_SECONDS = 0.5


def ice_servers_of(servers: list[dict[str, Any]]) -> list[RTCIceServer]:
    return [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in servers]


class _FrameTap:
    """Stands in for an aiortc receiver's decoder queue (`put` from the event loop, `get` from
    its decoder thread): encoded frames go to `sink`; the end (None) goes on to the thread."""

    def __init__(self, original, sink: Callable[[Any, Any], None]):
        self._original = original
        self._sink = sink

    def put(self, item) -> None:
        if item is None:
            self._original.put(None)
            return
        codec, frame = item
        try:
            self._sink(codec, frame)
        except Exception:
            log.exception("recording: a frame could not be taken")

    def get(self, *args, **kwargs):
        return self._original.get(*args, **kwargs)


def _tap(receiver: RTCRtpReceiver, sink: Callable[[Any, Any], None]) -> None:
    attribute = "_RTCRtpReceiver__decoder_queue"
    original = getattr(receiver, attribute, None)
    if original is None:
        raise RuntimeError("this aiortc's receiver has no decoder queue to take frames from (see pyproject's aiortc pin)")
    setattr(receiver, attribute, _FrameTap(original, sink))


class RecorderPeer:
    """The recorder's RTCPeerConnection for one participant session (the page offers, this
    answers). `on_first_frame(started_monotonic)` is called once, with the first frame of
    either track: the file's time zero. `on_closed()` when the connection fails or closes
    by itself (not after `stop()`)."""

    def __init__(
        self,
        *,
        writer_factory: Callable[[], WebmWriter],
        ice_servers: list[dict[str, Any]],
        on_first_frame: Callable[[float], None],
        on_closed: Callable[[], None],
    ):
        self._writer_factory = writer_factory
        self._on_first_frame = on_first_frame
        self._on_closed = on_closed
        self.writer: WebmWriter | None = None
        self.started_monotonic: float | None = None
        self.stopped = False
        self._offsets: dict[str, tuple[float, int]] = {}  # each track's first frame: ms from time zero, RTP time
        self._video_started = False
        self._last_keyframe_request = 0.0
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers_of(ice_servers)))
        self._receivers: dict[str, RTCRtpReceiver] = {}
        for kind in ("audio", "video"):
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            transceiver.setCodecPreferences(
                [c for c in RTCRtpReceiver.getCapabilities(kind).codecs if c.mimeType in ACCEPTED[kind]]
            )
            self._receivers[kind] = transceiver.receiver
            _tap(transceiver.receiver, self._sink(kind))
        self.pc.on("connectionstatechange", self._state_changed)

    # --- signalling ---------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """The answer to the page's offer (with this end's ICE candidates in it)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def add_candidate(self, candidate: dict[str, Any] | None) -> None:
        """A trickled candidate of the page (`RTCIceCandidate.toJSON()`); null or an empty one
        is the end of its candidates."""
        if not candidate or not candidate.get("candidate"):
            return
        text = candidate["candidate"]
        parsed = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await self.pc.addIceCandidate(parsed)

    async def stop(self) -> None:
        """Close the connection and complete the file (if one was started)."""
        if self.stopped:
            return
        self.stopped = True
        try:
            await self.pc.close()
        except Exception:
            log.exception("recording: closing a recorder connection failed")
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)

    def _state_changed(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and not self.stopped:
            self._on_closed()

    # --- frames -----------------------------------------------------------------------------------

    def _sink(self, kind: str) -> Callable[[Any, Any], None]:
        def take(codec, frame) -> None:
            if self.stopped or codec.mimeType not in ACCEPTED[kind]:
                return
            now = time.monotonic()
            data = frame.data
            keyframe = False
            if kind == "video" and not self._video_started:
                keyframe = vp8_keyframe_size(data) is not None
                if not keyframe:
                    self._request_keyframe(now)
                    return
                self._video_started = True
            elif kind == "video":
                keyframe = not data[0] & 1 if data else False
            if self.started_monotonic is None:
                self.started_monotonic = now
                self.writer = self._writer_factory()
                self._on_first_frame(now)
            if kind not in self._offsets:
                # The track's first frame is placed at its arrival; the rest by their RTP
                # timestamps from it (aiortc's, unwrapped).
                self._offsets[kind] = ((now - self.started_monotonic) * 1000, frame.timestamp)
            offset_ms, first_ts = self._offsets[kind]
            ts_ms = int(offset_ms + (frame.timestamp - first_ts) * 1000 / codec.clockRate)
            if kind == "video":
                self.writer.video(ts_ms, data, keyframe)
            else:
                self.writer.audio(ts_ms, data)

        return take

    def _request_keyframe(self, now: float) -> None:
        if now - self._last_keyframe_request < KEYFRAME_REQUEST_SECONDS:
            return
        self._last_keyframe_request = now
        receiver = self._receivers["video"]
        sources = receiver.getSynchronizationSources()
        if sources:
            asyncio.ensure_future(receiver._send_rtcp_pli(sources[0].source))
