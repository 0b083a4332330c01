// The replay page (/rooms/{id}/replay?token=... or ?key=..., or nothing for an open room):
// plays the room's timeline (docs/rooms.md, Timeline) with a seek bar over the whole meeting:
// who was there, the chat up to that moment, and the whiteboard as it was, and the recordings
// side by side. One clock drives it all (`page.t`, moved by requestAnimationFrame while
// playing): what the meeting was at a moment is computed by ReplayState (pure) from the
// events, where each recording is then by replay-sync.js (pure); the page draws the one and
// puts the videos there (a video shown only while its recording covers the moment, the clock
// held while a shown video is still loading).

import { credentials, formatDuration } from "./room-state.js";
import { BOARD_HEIGHT, BOARD_WIDTH, BoardState, drawStroke } from "./room-whiteboard.js";
import { correction, mediaPosition, recordingSpan, replayExtent } from "./replay-sync.js";

const $ = (id) => document.getElementById(id);

/** The room id of a page at `.../rooms/{id}/replay`. */
export function replayRoomId(pathname) {
  const match = /\/rooms\/([^/]+)\/replay\/?$/.exec(pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

const NOTES = {
  breakout_opened: (e) => `${e.name || "A host"} opened ${e.data.rooms?.length || 0} breakout room(s)`,
  breakout_closed: (e) => (e.data.reason === "time_limit" ? "The breakout rooms' time was up" : "The breakout rooms were closed"),
  breakout_broadcast: (e) => `${e.name || "A host"} to every room: ${e.data.text}`,
  room_terminated: () => "The meeting ended",
};

/**
 * The meeting at a moment: `seek(t)` (milliseconds from `start`) applies every event up to
 * that moment (going back starts again from the beginning). `people` (session id -> who, with
 * their hand and mute state), `chat` (messages and notes, in order), `board` (a BoardState),
 * `boardVersion` (changes when the board does).
 */
export class ReplayState {
  constructor(events, start) {
    this.events = events.map((e) => ({ ...e, ms: Date.parse(e.at) })).sort((a, b) => a.ms - b.ms);
    this.start = start;
    this.reset();
  }

  reset() {
    this.index = 0;
    this.t = -1;
    this.people = new Map();
    this.chat = [];
    this.board = new BoardState();
    this.boardVersion = (this.boardVersion || 0) + 1;
  }

  seek(t) {
    if (t < this.t) this.reset();
    const until = this.start + t;
    while (this.index < this.events.length && this.events[this.index].ms <= until) this._apply(this.events[this.index++]);
    this.t = t;
  }

  _apply(e) {
    const who = e.session_id && this.people.get(e.session_id);
    switch (e.type) {
      case "session_joined":
        this.people.set(e.session_id, { name: e.name || "Guest", role: e.data.role, hand: false, audio_muted: false, video_muted: false });
        break;
      case "session_left":
        this.people.delete(e.session_id);
        break;
      case "raise_hand":
        if (who) who.hand = Boolean(e.data.raised);
        break;
      case "mute":
        if (who) Object.assign(who, { audio_muted: Boolean(e.data.audio_muted), video_muted: Boolean(e.data.video_muted) });
        break;
      case "chat":
        this.chat.push({ id: e.id, name: e.name || "Guest", text: e.data.text, at: e.at });
        break;
      case "whiteboard_draw":
      case "whiteboard_clear":
        if (this.board.apply({ type: e.type, ...e.data, by: e.session_id, name: e.name, at: e.at })) this.boardVersion += 1;
        break;
      default:
        if (NOTES[e.type]) this.chat.push({ id: e.id, note: true, text: NOTES[e.type](e), at: e.at });
    }
  }
}

const page = {
  roomId: null, state: null, start: 0, duration: 0, t: 0, playing: false, speed: 1, last: 0, drawnVersion: -1, chatShown: 0,
  videos: [], heldSince: null, serverOffset: 0, renewing: null,
};
// How long the clock waits for a shown video that is still loading before going on without it.
const HOLD_MS = 3000;

function show(screen) {
  for (const id of ["loading", "ended", "replay"]) $(id).hidden = id !== screen;
  $("app").setAttribute("aria-busy", "false");
}

function refused(text) {
  $("ended-text").textContent = text;
  show("ended");
}

const REFUSALS = {
  401: "This link is not valid or has expired. Ask the organizer for a new one.",
  403: "You are not allowed to see this meeting's replay.",
  404: "There is no such room.",
};

async function loadPage(roomId, after) {
  const url = new URL(`../../v1/rooms/${encodeURIComponent(roomId)}/replay`, location.href);
  url.search = credentials(location.search).toString();
  if (after) url.searchParams.set("after", after);
  const answer = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
  if (!answer.ok) throw Object.assign(new Error(`HTTP ${answer.status}`), { status: answer.status });
  return answer.json();
}

async function load(roomId) {
  let after = null;
  let data = null;
  const events = [];
  do {
    const pageData = await loadPage(roomId, after);
    data = data || pageData;
    events.push(...pageData.events);
    after = pageData.paging.next;
  } while (after);
  return { ...data, events };
}

// --- the recordings ---------------------------------------------------------------------------

/** A recording's file through its signed link, on this page's own origin and path prefix. */
function mediaSource(recording) {
  const query = new URL(recording.media_url).search;
  const path = `../../v1/rooms/${encodeURIComponent(page.roomId)}/replay/recordings/${encodeURIComponent(recording.id)}/media`;
  return new URL(path + query, location.href).href;
}

function videoEntry(recording, names) {
  const item = document.createElement("li");
  item.dataset.recordingId = recording.id;
  item.hidden = true;
  const video = document.createElement("video");
  Object.assign(video, { preload: "auto", playsInline: true, disablePictureInPicture: true });
  const caption = document.createElement("span");
  caption.className = "caption";
  const name = names.get(recording.session_id) || recording.user_id || "Guest";
  caption.textContent = `${name} · ${formatDuration(recording.duration_ms || 0)}`;
  item.append(video, caption);
  const span = recordingSpan(recording, page.start, page.duration);
  const entry = { recording, item, video, caption, span, covers: false, seconds: 0, failed: false };
  entry.expiresAt = Date.parse(recording.media_expires_at);
  for (const type of ["loadedmetadata", "seeked", "canplay"]) video.addEventListener(type, () => syncVideo(entry));
  video.addEventListener("error", () => mediaFailed(entry));
  video.src = mediaSource(recording);
  return entry;
}

function play(entry) {
  entry.video.play().catch((error) => {
    // Without a gesture of the user's the browser may refuse sound: then it plays muted.
    if (error.name === "NotAllowedError" && !entry.video.muted) {
      entry.video.muted = true;
      if (page.playing && entry.covers) play(entry);
    }
  });
}

/** Puts one video where the replay clock says: shown or not, playing or not, its position. */
function syncVideo(entry) {
  const { video } = entry;
  const position = mediaPosition(entry.span, page.t);
  entry.covers = position.covers;
  entry.item.hidden = !position.covers;
  const length = Number.isFinite(video.duration) ? video.duration : Infinity;
  entry.seconds = Math.min(position.seconds, length);
  if (entry.failed || video.readyState === HTMLMediaElement.HAVE_NOTHING) return;
  const playing = page.playing && position.covers && entry.seconds < length;
  if (video.playbackRate !== page.speed) video.playbackRate = page.speed;
  if (!video.seeking) {
    const to = correction(video.currentTime, entry.seconds, playing, page.speed);
    if (to !== null) video.currentTime = to;
  }
  if (playing && video.paused) play(entry);
  else if (!playing && !video.paused) video.pause();
}

function syncVideos() {
  for (const entry of page.videos) syncVideo(entry);
}

/** Whether a shown video cannot play on yet (loading, seeking): the clock waits for it. */
function loading(entry) {
  const { video } = entry;
  if (!entry.covers || entry.failed || video.error) return false;
  if (Number.isFinite(video.duration) && entry.seconds >= video.duration - 0.1) return false;
  return video.seeking || video.readyState < HTMLMediaElement.HAVE_FUTURE_DATA;
}

function serverNow() {
  return Date.now() + page.serverOffset;
}

/** A video that fails: when its link has expired, every link is renewed from the replay data
 * (the video goes on where the clock is); otherwise it says that it cannot be played. */
function mediaFailed(entry) {
  if (serverNow() >= entry.expiresAt - 60_000) {
    renewLinks().catch(() => markFailed(entry));
    return;
  }
  markFailed(entry);
}

function markFailed(entry) {
  if (entry.failed) return;
  entry.failed = true;
  entry.item.classList.add("failed");
  entry.caption.textContent += " · cannot be played";
}

function renewLinks() {
  page.renewing ??= loadPage(page.roomId, null)
    .then((data) => {
      const fresh = new Map(data.recordings.map((r) => [r.id, r]));
      page.serverOffset = Date.parse(data.now) - Date.now();
      for (const entry of page.videos) {
        const recording = fresh.get(entry.recording.id);
        if (!recording || serverNow() < entry.expiresAt - 60_000) continue;
        entry.expiresAt = Date.parse(recording.media_expires_at);
        entry.video.src = mediaSource(recording);
      }
    })
    .finally(() => { page.renewing = null; });
  return page.renewing;
}

function renderBoard() {
  const canvas = $("replay-canvas");
  const rect = canvas.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(rect.width * ratio);
  const height = Math.round((rect.width * BOARD_HEIGHT / BOARD_WIDTH) * ratio);
  const resized = canvas.width !== width || canvas.height !== height;
  if (resized) [canvas.width, canvas.height] = [width, height];
  const board = page.state.board;
  if (!resized && page.drawnVersion === page.state.boardVersion) return;
  page.drawnVersion = page.state.boardVersion;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const scale = canvas.width / BOARD_WIDTH;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  for (const entry of board.ordered()) drawStroke(ctx, entry.stroke);
  canvas.dataset.strokes = String(board.strokes.size);
}

function renderPeople() {
  const people = [...page.state.people.values()];
  $("replay-people").replaceChildren(
    ...people.map((p) => {
      const item = document.createElement("li");
      item.textContent = p.name + (p.role === "host" ? " (host)" : "");
      const flags = [p.hand && "hand raised", p.audio_muted && "muted", p.video_muted && "camera off"].filter(Boolean).join(" · ");
      if (flags) {
        const span = document.createElement("span");
        span.className = "flags";
        span.textContent = flags;
        item.append(span);
      }
      return item;
    }),
  );
  $("replay-people-count").textContent = String(people.length);
}

function renderChat() {
  const log = $("chat-log");
  const chat = page.state.chat;
  if (chat.length < page.chatShown) {
    log.replaceChildren();
    page.chatShown = 0;
  }
  for (const entry of chat.slice(page.chatShown)) {
    const item = document.createElement("li");
    if (entry.note) item.className = "note";
    const time = document.createElement("time");
    time.dateTime = entry.at;
    time.textContent = formatDuration(Date.parse(entry.at) - page.start);
    const text = document.createElement("p");
    text.textContent = entry.text;
    if (!entry.note) {
      const who = document.createElement("strong");
      who.textContent = entry.name;
      item.append(who);
    }
    item.append(time, text);
    log.append(item);
  }
  page.chatShown = chat.length;
  log.lastElementChild?.scrollIntoView({ block: "end" });
}

function render() {
  renderBoard();
  renderPeople();
  renderChat();
  $("seek").value = String(Math.round(page.t));
  $("replay-time").textContent = `${formatDuration(page.t)} / ${formatDuration(page.duration)}`;
  $("replay-when").textContent = new Date(page.start + page.t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  document.body.dataset.replayTime = String(Math.round(page.t));
  syncVideos();
}

function seek(t) {
  page.t = Math.max(0, Math.min(page.duration, t));
  page.state.seek(page.t);
  render();
}

function setPlaying(playing) {
  page.playing = playing;
  $("play").textContent = playing ? "Pause" : "Play";
  $("play").setAttribute("aria-pressed", String(playing));
  page.heldSince = null;
  if (playing) {
    if (page.t >= page.duration) seek(0);
    page.last = performance.now();
    requestAnimationFrame(frame);
  }
  syncVideos();
}

function frame(now) {
  if (!page.playing) return;
  const elapsed = now - page.last;
  page.last = now;
  if (page.videos.some(loading)) page.heldSince ??= now;
  else page.heldSince = null;
  const held = page.heldSince !== null && now - page.heldSince < HOLD_MS;
  seek(held ? page.t : page.t + elapsed * page.speed);
  if (page.t >= page.duration) return setPlaying(false);
  requestAnimationFrame(frame);
}

async function start() {
  const roomId = replayRoomId(location.pathname);
  if (!roomId) return refused(REFUSALS[404]);
  page.roomId = roomId;
  let data;
  try {
    data = await load(roomId);
  } catch (error) {
    return refused(REFUSALS[error.status] || "Callgrid could not be reached.");
  }
  const name = data.room.name || "Room";
  document.title = `${name} · replay · Callgrid`;
  for (const element of document.querySelectorAll(".room-name")) element.textContent = name;
  page.serverOffset = Date.parse(data.now) - Date.now();
  const { start: first, end } = replayExtent(data.events, data.recordings, data.room);
  page.start = first;
  document.body.dataset.replayStart = String(page.start);
  page.duration = Math.max(0, end - page.start);
  page.state = new ReplayState(data.events, page.start);
  const names = new Map(data.events.filter((e) => e.type === "session_joined").map((e) => [e.session_id, e.name]));
  page.videos = data.recordings.filter((r) => r.media_url).map((r) => videoEntry(r, names));
  const recordings = $("replay-recordings");
  recordings.hidden = !page.videos.length;
  recordings.replaceChildren(...page.videos.map((entry) => entry.item));
  const seekBar = $("seek");
  seekBar.max = String(Math.round(page.duration));
  seekBar.addEventListener("input", () => seek(Number(seekBar.value)));
  $("play").addEventListener("click", () => setPlaying(!page.playing));
  $("speed").addEventListener("change", () => {
    page.speed = Number($("speed").value) || 1;
    syncVideos();
  });
  new ResizeObserver(() => page.state && renderBoard()).observe($("replay-canvas"));
  show("replay");
  seek(0);
}

start().catch((error) => {
  console.error(error);
  refused("The replay page failed to start.");
});
