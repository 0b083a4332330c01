// The replay page (/rooms/{id}/replay?token=... or ?key=..., or nothing for an open room):
// plays the room's timeline (docs/rooms.md, Timeline) with a seek bar over the whole meeting:
// who was there, the chat up to that moment, and the whiteboard as it was. What the meeting
// was at a moment is computed by ReplayState (pure) from the events; the page draws it.

import { credentials, formatDuration } from "./room-state.js";
import { BOARD_HEIGHT, BOARD_WIDTH, BoardState, drawStroke } from "./room-whiteboard.js";

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

const page = { state: null, start: 0, duration: 0, t: 0, playing: false, speed: 1, last: 0, drawnVersion: -1, chatShown: 0 };

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

async function load(roomId) {
  const base = new URL(`../../v1/rooms/${encodeURIComponent(roomId)}/replay`, location.href);
  const query = credentials(location.search);
  let after = null;
  let data = null;
  const events = [];
  do {
    const url = new URL(base);
    url.search = query.toString();
    if (after) url.searchParams.set("after", after);
    const answer = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
    if (!answer.ok) throw Object.assign(new Error(`HTTP ${answer.status}`), { status: answer.status });
    const pageData = await answer.json();
    data = data || pageData;
    events.push(...pageData.events);
    after = pageData.paging.next;
  } while (after);
  return { ...data, events };
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
  for (const item of $("replay-recordings").children) {
    const live = page.start + page.t >= Number(item.dataset.from) && page.start + page.t <= Number(item.dataset.to);
    item.classList.toggle("live", live);
  }
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
  if (playing) {
    if (page.t >= page.duration) seek(0);
    page.last = performance.now();
    requestAnimationFrame(frame);
  }
}

function frame(now) {
  if (!page.playing) return;
  const t = page.t + (now - page.last) * page.speed;
  page.last = now;
  seek(t);
  if (page.t >= page.duration) return setPlaying(false);
  requestAnimationFrame(frame);
}

async function start() {
  const roomId = replayRoomId(location.pathname);
  if (!roomId) return refused(REFUSALS[404]);
  let data;
  try {
    data = await load(roomId);
  } catch (error) {
    return refused(REFUSALS[error.status] || "Callgrid could not be reached.");
  }
  const name = data.room.name || "Room";
  document.title = `${name} · replay · Callgrid`;
  for (const element of document.querySelectorAll(".room-name")) element.textContent = name;
  let first = Infinity;
  let last = -Infinity;
  for (const e of data.events) {
    const ms = Date.parse(e.at);
    first = Math.min(first, ms);
    last = Math.max(last, ms);
  }
  page.start = data.events.length ? first : Date.parse(data.room.created_at);
  const end = Math.max(data.room.terminated_at ? Date.parse(data.room.terminated_at) : page.start, data.events.length ? last : page.start);
  page.duration = Math.max(0, end - page.start);
  page.state = new ReplayState(data.events, page.start);
  const recordings = $("replay-recordings");
  recordings.hidden = !data.recordings.length;
  recordings.replaceChildren(
    ...data.recordings.map((r) => {
      const item = document.createElement("li");
      item.dataset.from = String(Date.parse(r.started_at));
      item.dataset.to = String(r.ended_at ? Date.parse(r.ended_at) : end);
      item.textContent = `${r.user_id || "guest"} · ${formatDuration(r.duration_ms || 0)} recorded`;
      return item;
    }),
  );
  const seekBar = $("seek");
  seekBar.max = String(Math.round(page.duration));
  seekBar.addEventListener("input", () => seek(Number(seekBar.value)));
  $("play").addEventListener("click", () => setPlaying(!page.playing));
  $("speed").addEventListener("change", () => { page.speed = Number($("speed").value) || 1; });
  new ResizeObserver(() => page.state && renderBoard()).observe($("replay-canvas"));
  show("replay");
  seek(0);
}

start().catch((error) => {
  console.error(error);
  refused("The replay page failed to start.");
});
