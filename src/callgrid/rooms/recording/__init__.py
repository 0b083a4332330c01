"""Recordings of rooms with `record: true` (docs/rooms.md, Recording).

Each participant's page sends its microphone and camera (or screen) to a recorder that this
process runs as a WebRTC peer (aiortc), signalled over the participant's own live socket. The
recorder does not decode: the VP8 and Opus frames aiortc reassembles from RTP are muxed as
they are into one WebM file per participant session (PyAV), written in clusters of at most a
second and flushed as they close, so a killed process leaves a file playable up to the kill.

- `media`: the WebM writer (a thread per recording) and the reading of a file's duration.
- `peer`: one recorder peer connection (aiortc), its frames handed to the writer.
- `storage`: where the files live (`RecordingStorage`; a local directory for now).
- `service`: the `recordings` rows, the recorders of this process's sessions, the sweep that
  marks the recordings of dead processes `interrupted`.
- `endpoints`: `GET /v1/rooms/{id}/recordings`, `.../{rid}/media` (with ranges), `DELETE`.
"""
