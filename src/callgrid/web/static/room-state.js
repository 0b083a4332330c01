// The room page's state, without DOM or network: what the live protocol's messages
// (docs/rooms.md, "The live WebSocket protocol") do to the room as the page knows it, and
// what the page must do about them (the effects `apply` returns). Pure, so it is checked on
// its own in the browser tests.

export const FEATURES_ON = Object.freeze({ chat: true, raise_hand: true, screenshare: true, join_screen: true });

/** "04:05" or "1:02:03" for a number of milliseconds (negative reads as 0). */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hours ? `${hours}:${two(minutes)}:${two(seconds)}` : `${two(minutes)}:${two(seconds)}`;
}

/**
 * The meeting clock as the server last told it (`welcome`, `meeting_time`), advanced locally
 * while it runs. With a maximum it counts down the remaining time, else up the elapsed time.
 * `at` and `now` are the page's own monotonic milliseconds (performance.now()).
 */
export class MeetingClock {
  constructor() {
    this.set({ meeting_time_ms: 0, running: false, remaining_seconds: null }, 0);
  }

  set({ meeting_time_ms, running, remaining_seconds }, at) {
    this.meetingMs = Number(meeting_time_ms) || 0;
    this.running = Boolean(running);
    this.remainingMs = remaining_seconds === null || remaining_seconds === undefined ? null : Number(remaining_seconds) * 1000;
    this.at = at;
  }

  read(now) {
    const advanced = this.running ? Math.max(0, now - this.at) : 0;
    if (this.remainingMs !== null) {
      return { mode: "remaining", ms: Math.max(0, this.remainingMs - advanced), running: this.running };
    }
    return { mode: "elapsed", ms: this.meetingMs + advanced, running: this.running };
  }

  text(now) {
    const { mode, ms } = this.read(now);
    return `${mode === "remaining" ? "Remaining" : "Elapsed"} ${formatDuration(ms)}`;
  }
}

/** In "perfect negotiation" the peer whose session_id sorts lower (as a string) is polite. */
export function isPolite(mySessionId, theirSessionId) {
  return mySessionId < theirSessionId;
}

const PARTICIPANT_FLAGS = ["audio_muted", "video_muted", "screen_sharing", "hand_raised"];

/**
 * Participants keyed by session_id (a repeat is an update), the meeting clock, chat, and the
 * end. `apply(message, now)` returns a list of effects for the page:
 *   {type: "call", sessionId}          send an offer to this participant (we are the newcomer)
 *   {type: "joined", sessionId}        someone arrived (they will call us)
 *   {type: "hangup", sessionId}        someone left: close their connection, drop their tile
 *   {type: "signal", from, message}    an offer, answer or ice for the connection with `from`
 *   {type: "chat", entry}              a chat message to show
 *   {type: "terminated", reason}       the room ended (the server closes with 4410 next)
 *   {type: "error", code, message}     a message of ours was refused
 *   {type: "render"}                   the roster, the clock or someone's state changed
 */
export class RoomState {
  constructor() {
    this.self = null;
    this.room = null;
    this.participants = new Map();
    this.features = { ...FEATURES_ON };
    this.clock = new MeetingClock();
    this.chat = [];
    this.terminated = null;
    this.heartbeatSeconds = 10;
    this.iceServers = [];
  }

  apply(message, now = 0) {
    if (!message || typeof message.type !== "string") return [];
    switch (message.type) {
      case "welcome": return this._welcome(message, now);
      case "participant_joined": {
        const p = message.participant;
        if (!p || typeof p.session_id !== "string" || (this.self && p.session_id === this.self.session_id)) return [];
        const known = this.participants.has(p.session_id);
        this.participants.set(p.session_id, { ...this.participants.get(p.session_id), ...p });
        return known ? [{ type: "render" }] : [{ type: "joined", sessionId: p.session_id }, { type: "render" }];
      }
      case "participant_left": {
        const known = this.participants.delete(message.session_id);
        return [{ type: "hangup", sessionId: message.session_id }, ...(known ? [{ type: "render" }] : [])];
      }
      case "offer":
      case "answer":
      case "ice":
        return typeof message.from === "string" ? [{ type: "signal", from: message.from, message }] : [];
      case "chat": {
        const entry = {
          id: message.id, from: message.from, name: message.name, text: String(message.text ?? ""),
          sentAt: message.sent_at, mine: Boolean(this.self && message.from === this.self.session_id),
        };
        this.chat.push(entry);
        return [{ type: "chat", entry }];
      }
      case "raise_hand":
        return this._update(message.session_id, { hand_raised: Boolean(message.raised) });
      case "mute": {
        const change = {};
        for (const flag of ["audio_muted", "video_muted", "screen_sharing"]) {
          if (typeof message[flag] === "boolean") change[flag] = message[flag];
        }
        return this._update(message.session_id, change);
      }
      case "meeting_time":
        this.clock.set({ meeting_time_ms: message.meeting_time_ms, running: message.running, remaining_seconds: message.remaining_seconds }, now);
        return [{ type: "render" }];
      case "terminated":
        this.terminated = message.reason || "terminated";
        return [{ type: "terminated", reason: this.terminated }];
      case "error":
        return [{ type: "error", code: message.code, message: message.message }];
      default:
        return []; // pong, and types this page does not know (the protocol says: ignore)
    }
  }

  _welcome(message, now) {
    this.self = {
      session_id: message.session_id, member_id: message.member_id, user_id: message.user_id ?? null,
      name: message.name, role: message.role, joined_at: null,
      audio_muted: false, video_muted: false, screen_sharing: false, hand_raised: false,
    };
    this.room = message.room || this.room;
    this.features = { ...FEATURES_ON, ...(message.features || {}) };
    if (Array.isArray(message.ice_servers)) this.iceServers = message.ice_servers;
    if (message.heartbeat_interval_seconds > 0) this.heartbeatSeconds = message.heartbeat_interval_seconds;
    this.clock.set(
      { meeting_time_ms: message.meeting_time_ms, running: message.meeting_time_running, remaining_seconds: message.remaining_seconds },
      now,
    );
    this.participants.clear();
    const effects = [];
    for (const p of message.participants || []) {
      if (!p || typeof p.session_id !== "string" || p.session_id === this.self.session_id) continue;
      this.participants.set(p.session_id, { ...p });
      effects.push({ type: "call", sessionId: p.session_id });
    }
    effects.push({ type: "render" });
    return effects;
  }

  _update(sessionId, change) {
    const target = this.self && sessionId === this.self.session_id ? this.self : this.participants.get(sessionId);
    if (!target) return [];
    Object.assign(target, change);
    return [{ type: "render" }];
  }

  /** Everyone in the room, yourself first (marked `self: true`). */
  roster() {
    const others = [...this.participants.values()].map((p) => ({ ...p, self: false }));
    return this.self ? [{ ...this.self, self: true }, ...others] : others;
  }

  name(sessionId) {
    if (this.self && sessionId === this.self.session_id) return this.self.name;
    return this.participants.get(sessionId)?.name ?? "…";
  }
}

export function participantFlags(p) {
  return Object.fromEntries(PARTICIPANT_FLAGS.map((f) => [f, Boolean(p && p[f])]));
}

const REASONS = {
  max_meeting_time: "the maximum meeting time was reached",
  terminated: "it was ended by the organizer",
  cancelled: "its call was cancelled",
};

/** The sentence the page shows when the room ended for `reason` (a `terminated` message). */
export function terminatedText(reason) {
  return `The room was terminated: ${REASONS[reason] || "it has ended"}.`;
}

/**
 * What a closed live socket means for the page (docs/rooms.md, close codes):
 *   {kind: "terminated"} the room has ended;   {kind: "refused", text} a join the server refused;
 *   {kind: "left"} we left;                    {kind: "retry", text} reconnect (network, timeout, shutdown).
 */
export function closeOutcome(code, reason = "") {
  switch (code) {
    case 4410: return { kind: "terminated", text: "The room is terminated: it accepts no more joins." };
    case 4401: return { kind: "refused", text: "This link is not valid or has expired. Ask the organizer for a new one." };
    case 4403: return { kind: "refused", text: "You are not allowed in this room." };
    case 4404: return { kind: "refused", text: "There is no such room." };
    case 4400: return { kind: "refused", text: `The server refused this page's messages (${reason || "protocol"}).` };
    case 1000: return { kind: "left", text: "You left the meeting." };
    case 4408: return { kind: "retry", text: "The connection went quiet; reconnecting…" };
    default: return { kind: "retry", text: "The connection was lost; reconnecting…" };
  }
}

/** The outcome of a refused `join-info` answer (its HTTP status), as `closeOutcome` words it. */
export function joinInfoOutcome(status) {
  return closeOutcome({ 401: 4401, 403: 4403, 404: 4404, 410: 4410 }[status] ?? 0);
}

/** The room id of a page at `.../rooms/{id}`. */
export function roomIdFromPath(pathname) {
  const match = /\/rooms\/([^/]+)\/?$/.exec(pathname);
  return match ? decodeURIComponent(match[1]) : null;
}

/** The page's credentials (`token` or `key`) from its query string, as a query string again. */
export function credentials(search) {
  const given = new URLSearchParams(search);
  const kept = new URLSearchParams();
  for (const name of ["token", "key"]) {
    if (given.get(name)) kept.set(name, given.get(name));
  }
  return kept;
}

/**
 * The live endpoint for this page: the path beside the page (so a path prefix is kept), on
 * the page's own host with ws: or wss: as the page is http: or https:, with the credentials
 * of `join-info`'s `ws_url` and the display name when one is given.
 */
export function liveUrl(pageHref, roomId, wsUrl, name) {
  const url = new URL(`../v1/rooms/${encodeURIComponent(roomId)}/live`, pageHref);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const given = new URL(wsUrl, pageHref).searchParams;
  for (const [key, value] of given) url.searchParams.set(key, value);
  if (name) url.searchParams.set("name", name.slice(0, 255));
  return url.toString();
}
