// The arithmetic of the replay clock (pure: no page, no element), tested in the browser by
// tests/web/test_replay.py. Times on the replay clock are milliseconds from its start; a
// recording's file starts at its `started_at` (its time zero is its first frame).

/** The replay's extent, epoch milliseconds: from the first event or recording to the room's
 * end, its last event or the end of its last recording, whichever is latest. */
export function replayExtent(events, recordings, room) {
  const starts = [...events.map((e) => Date.parse(e.at)), ...recordings.map((r) => Date.parse(r.started_at))];
  const start = starts.length ? Math.min(...starts) : Date.parse(room.created_at);
  const ends = [
    start,
    ...starts,
    ...(room.terminated_at ? [Date.parse(room.terminated_at)] : []),
    ...recordings.map((r) => (r.ended_at ? Date.parse(r.ended_at) : Date.parse(r.started_at) + (r.duration_ms || 0))),
  ];
  return { start, end: Math.max(...ends) };
}

/** A recording's span on the replay clock: `from` (its first frame) to `to` (its end; one that
 * is still being written runs to `end`, the replay's end in milliseconds of its clock). */
export function recordingSpan(recording, start, end) {
  const from = Date.parse(recording.started_at) - start;
  let to = end;
  if (recording.ended_at) to = Date.parse(recording.ended_at) - start;
  else if (recording.duration_ms != null && recording.status !== "recording") to = from + recording.duration_ms;
  return { from, to: Math.max(from, to) };
}

/** At replay time `t`: whether the recording covers that moment, and where its file is then
 * (seconds, kept within the span). */
export function mediaPosition(span, t) {
  return { covers: t >= span.from && t <= span.to, seconds: (Math.min(Math.max(t, span.from), span.to) - span.from) / 1000 };
}

/** How far (seconds) a playing video may stray from the replay clock before it is put back:
 * seeking a playing video stutters, so a small drift is let be; a paused one is put exactly. */
export const DRIFT_SECONDS = 0.3;
export const PAUSED_SECONDS = 0.05;

/** The position (seconds) to seek a video to, showing `wanted`, or null when it is near enough. */
export function correction(current, wanted, playing, speed = 1) {
  const allowed = playing ? DRIFT_SECONDS * Math.max(1, speed) : PAUSED_SECONDS;
  return Math.abs(current - wanted) > allowed ? wanted : null;
}
