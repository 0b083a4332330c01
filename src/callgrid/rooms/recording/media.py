"""WebM files from encoded frames, without decoding: VP8 video and Opus audio as they came
over RTP, muxed by PyAV (FFmpeg's Matroska/WebM muxer) on a thread per recording.

Surviving a kill: the muxer holds the open cluster in memory and writes it when it closes;
clusters close every `CLUSTER_MS` of media (and at video keyframes), each written through to
the file at once (`flush_packets`), and the file is fsynced every `FSYNC_SECONDS`. A process
killed mid-recording leaves a file without its index (Cues) and duration, which players and
PyAV read as it is, up to the last cluster written: at most about a second before the kill.
A recording closed normally gets both.

Timestamps are milliseconds from the file's time zero (the recording's `started_at`), given
by the caller; they are kept increasing per track here.
"""

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import BinaryIO

# PyAV (FFmpeg) is imported where a file is written or read, not with this module: a process
# that records nothing (a CLI call, a worker, most servers) starts without loading it.

log = logging.getLogger("callgrid.recording")

MEDIA_TYPE = "video/webm"
EXTENSION = "webm"
CLUSTER_MS = 1000
FSYNC_SECONDS = 5.0
# Before the file's header is written the video's size must be known (from its first
# keyframe); audio waits at most this long (media time) for it.
HEADER_WAIT_MS = 1500
DEFAULT_SIZE = (640, 480)
_MS = Fraction(1, 1000)
_MUXER_OPTIONS = {
    "cluster_time_limit": str(CLUSTER_MS),
    "cluster_size_limit": str(4 * 1024 * 1024),
    "flush_packets": "1",
    # A track that goes quiet (camera off) must not hold the other back in the muxer's queue.
    "max_interleave_delta": "1000000",
}


def vp8_keyframe_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) when `data` is a VP8 keyframe (RFC 6386, 9.1), else None."""
    if len(data) >= 10 and not data[0] & 1 and data[3:6] == b"\x9d\x01\x2a":
        return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF
    return None


def opus_duration_ms(data: bytes) -> float:
    """The duration of an Opus packet, from its TOC byte (RFC 6716, 3.1)."""
    if not data:
        return 0.0
    toc = data[0]
    config = toc >> 3
    if config < 12:
        frame = (10, 20, 40, 60)[config % 4]
    elif config < 16:
        frame = (10, 20)[config % 2]
    else:
        frame = (2.5, 5, 10, 20)[config % 4]
    code = toc & 3
    frames = 1 if code == 0 else 2 if code in (1, 2) else (data[1] & 0x3F if len(data) > 1 else 1)
    return frame * frames


class WebmWriter:
    """One recording's file. `video()` and `audio()` only queue (they are called on the event
    loop); the thread writes. `close()` waits for the thread: the file is complete after it."""

    def __init__(self, open_file: Callable[[], BinaryIO], *, name: str = "recording"):
        self._open_file = open_file
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"callgrid-recorder-{name}", daemon=True)
        self.duration_ms = 0  # the end of the last frame written, from time zero
        self.frames = {"audio": 0, "video": 0}
        self.error: BaseException | None = None
        self._file: BinaryIO | None = None
        self._container = None
        self._streams: dict[str, object] = {}
        self._last = {"audio": -1, "video": -1}
        self._thread.start()

    def video(self, ts_ms: int, data: bytes, keyframe: bool) -> None:
        self._queue.put(("video", ts_ms, data, keyframe))

    def audio(self, ts_ms: int, data: bytes) -> None:
        self._queue.put(("audio", ts_ms, data, True))

    def close(self) -> None:
        """Write what is queued, complete the file (index, duration) and close it."""
        self._queue.put(None)
        self._thread.join()

    @property
    def started(self) -> bool:
        return self._container is not None

    # --- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        pending: list[tuple] = []
        size: tuple[int, int] | None = None
        next_sync = time.monotonic() + FSYNC_SECONDS
        try:
            while True:
                try:
                    item = self._queue.get(timeout=FSYNC_SECONDS)
                except queue.Empty:
                    item = False
                if item is None:
                    break
                if item and self.error is None:
                    if self._container is None:
                        pending.append(item)
                        if item[0] == "video" and item[3]:
                            size = vp8_keyframe_size(item[2])
                        if size is None and pending[-1][1] - pending[0][1] < HEADER_WAIT_MS:
                            continue
                        self._start(size or DEFAULT_SIZE, pending)
                        pending = []
                    else:
                        self._write(item)
                if self._file is not None and time.monotonic() >= next_sync:
                    next_sync = time.monotonic() + FSYNC_SECONDS
                    os.fsync(self._file.fileno())
            if self._container is None and pending and self.error is None:
                self._start(size or DEFAULT_SIZE, pending)
        except BaseException as exc:  # noqa: BLE001 (the thread reports, the caller decides)
            log.exception("recording: writing the file failed")
            self.error = exc
        finally:
            self._finish()

    def _start(self, size: tuple[int, int], pending: list[tuple]) -> None:
        import av

        self._file = self._open_file()
        container = av.open(self._file, mode="w", format="webm", container_options=dict(_MUXER_OPTIONS))
        width, height = size
        self._streams["video"] = container.add_mux_stream("vp8", width=width, height=height)
        # Opus in WebM needs its OpusHead as the track's codec private data: an encoder's
        # context (opened, never fed) writes it.
        self._streams["audio"] = container.add_stream("libopus", rate=48000, layout="stereo")
        self._container = container
        for item in pending:
            self._write(item)

    def _write(self, item: tuple) -> None:
        import av

        kind, ts, data, keyframe = item
        if kind == "video" and self.frames["video"] == 0 and not keyframe:
            return  # a video track starts at a keyframe
        ts = max(int(ts), self._last[kind])
        self._last[kind] = ts
        packet = av.Packet(data)
        packet.stream = self._streams[kind]
        packet.time_base = _MS
        packet.pts = packet.dts = ts
        end = ts
        if kind == "audio":
            duration = round(opus_duration_ms(data))
            packet.duration = duration
            end = ts + duration
        else:
            packet.is_keyframe = bool(keyframe)
        try:
            self._container.mux(packet)
        except av.FFmpegError as exc:
            log.warning("recording: a %s frame was not written: %s", kind, exc)
            return
        self.frames[kind] += 1
        self.duration_ms = max(self.duration_ms, end)

    def _finish(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                log.exception("recording: closing the file failed")
        if self._file is not None:
            try:
                os.fsync(self._file.fileno())
            except OSError:
                pass
            self._file.close()


def probe_duration_ms(open_file: Callable[[], BinaryIO]) -> int | None:
    """How many milliseconds of media a file holds (the end of its last frame), reading its
    packets without decoding; a file cut short (a killed writer) is read up to where it ends.
    None when it cannot be opened at all."""
    import av

    try:
        with open_file() as file:
            container = av.open(file, mode="r")
            try:
                end = 0.0
                demuxer = container.demux()
                while True:
                    try:
                        packet = next(demuxer)
                    except StopIteration:
                        break
                    except av.FFmpegError:
                        break  # the cut end of a killed writer's file
                    if packet.pts is None or packet.time_base is None:
                        continue
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                return int(round(end * 1000))
            finally:
                container.close()
    except (FileNotFoundError, av.FFmpegError, ValueError, OSError):
        return None
