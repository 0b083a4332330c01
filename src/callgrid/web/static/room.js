// The room page (/rooms/{id}?token=... or ?key=..., or nothing for an open room): asks
// `join-info` what the room allows, shows the join screen (camera preview, name, microphone
// and camera) unless the room's appointment turned it off, then joins over the live WebSocket
// (docs/rooms.md) and holds a WebRTC mesh with everyone else (room-mesh.js). The protocol's
// state lives in room-state.js; this module is the DOM, the devices and the socket.

import {
  RoomState, closeOutcome, credentials, joinInfoOutcome, liveUrl, participantFlags, roomIdFromPath, terminatedText,
} from "./room-state.js";
import { Mesh } from "./room-mesh.js";
import { Recorder } from "./room-recorder.js";
import { Whiteboard } from "./room-whiteboard.js";
import { Breakouts } from "./room-breakouts.js";

const $ = (id) => document.getElementById(id);
const NAME_KEY = "callgrid.name";
const MAX_RETRIES = 5;

const page = {
  roomId: null,
  info: null,
  name: "",
  state: new RoomState(),
  socket: null,
  mesh: null,
  recorder: null, // the server's recorder of this session (rooms with `record`)
  board: null, // the shared whiteboard (room-whiteboard.js)
  breakouts: null, // breakout rooms (room-breakouts.js)
  current: null, // the breakout this page is in ({roomId, name, query}); null: the room of its address
  prefs: { mic: true, cam: true },
  media: { audio: null, camera: null, screen: null },
  timers: { heartbeat: null, clock: null },
  leaving: false,
  ended: false,
  retries: 0,
  tiles: new Map(),
};

// --- screens ----------------------------------------------------------------------------------

function show(screen) {
  for (const id of ["loading", "ended", "join-screen", "room"]) $(id).hidden = id !== screen;
  $("app").setAttribute("aria-busy", "false");
}

function notice(text) {
  const box = $("notice");
  box.textContent = text || "";
  box.hidden = !text;
}

/** The end of this page's time in the room: refused, terminated, left or lost. */
function finish(kind, text) {
  if (page.ended) return;
  page.ended = true;
  teardown();
  removeTile("self");
  stopTracks();
  const titles = { terminated: "Meeting terminated", left: "You left the meeting", refused: "Cannot join this room", lost: "Connection lost" };
  $("ended-title").textContent = titles[kind] || "Meeting ended";
  $("ended-text").textContent = text;
  $("ended").dataset.kind = kind;
  $("rejoin").hidden = !(kind === "left" || kind === "lost");
  notice("");
  show("ended");
  $("rejoin").hidden || $("rejoin").focus();
}

function teardown() {
  clearInterval(page.timers.heartbeat);
  clearInterval(page.timers.clock);
  page.timers.heartbeat = page.timers.clock = null;
  if (page.mesh) page.mesh.close();
  page.mesh = null;
  if (page.recorder) page.recorder.close();
  page.recorder = null;
  if (page.socket) {
    page.socket.onmessage = page.socket.onclose = page.socket.onerror = null;
    if (page.socket.readyState <= WebSocket.OPEN) page.socket.close(1000, "bye");
  }
  page.socket = null;
  for (const id of [...page.tiles.keys()]) if (id !== "self") removeTile(id);
}

// --- devices ----------------------------------------------------------------------------------

function mediaNote(text) {
  $("media-note").textContent = text || "";
  $("media-note").hidden = !text;
}

/** The microphone and/or camera asked for; what could not be had stays null, with a note. */
async function acquire({ audio, video }) {
  if (!navigator.mediaDevices?.getUserMedia) {
    mediaNote("Camera and microphone need a secure page (https or localhost); you can still join to see and hear the others.");
    return;
  }
  const want = async (constraints) => {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (error) {
      return null;
    }
  };
  let stream = audio && video ? await want({ audio: true, video: true }) : null;
  if (!stream) {
    const tracks = [];
    for (const kind of ["audio", "video"]) {
      if (!(kind === "audio" ? audio : video)) continue;
      const single = await want({ [kind]: true });
      if (single) tracks.push(...single.getTracks());
    }
    stream = new MediaStream(tracks);
  }
  const audioTrack = stream.getAudioTracks()[0] || null;
  const videoTrack = stream.getVideoTracks()[0] || null;
  if (audio) page.media.audio = audioTrack;
  if (video) page.media.camera = videoTrack;
  if (audioTrack) audioTrack.enabled = page.prefs.mic;
  const missing = [audio && !audioTrack && "microphone", video && !videoTrack && "camera"].filter(Boolean);
  mediaNote(missing.length ? `No access to your ${missing.join(" or ")}; you can still join.` : "");
}

function stopTracks() {
  for (const key of ["audio", "camera", "screen"]) {
    if (page.media[key]) page.media[key].stop();
    page.media[key] = null;
  }
}

/** What the video sender carries: the screen while sharing, else the camera when on. */
function outgoingVideo() {
  return page.media.screen || (page.prefs.cam ? page.media.camera : null);
}

// --- join screen --------------------------------------------------------------------------------

function setToggle(button, on) {
  button.setAttribute("aria-pressed", String(on));
}

function renderPreview() {
  const preview = $("preview");
  const track = page.prefs.cam ? page.media.camera : null;
  preview.srcObject = track ? new MediaStream([track]) : null;
  $("preview-off").hidden = Boolean(track);
  setToggle($("join-mic"), page.prefs.mic);
  setToggle($("join-cam"), page.prefs.cam);
  $("join-mic").disabled = !page.media.audio;
  $("join-cam").disabled = !page.media.camera && !navigator.mediaDevices?.getUserMedia;
}

async function showJoinScreen() {
  show("join-screen");
  const input = $("join-name");
  input.value = page.info.user?.name || localStorage.getItem(NAME_KEY) || "";
  input.focus();
  $("join-mic").onclick = () => {
    page.prefs.mic = !page.prefs.mic;
    if (page.media.audio) page.media.audio.enabled = page.prefs.mic;
    renderPreview();
  };
  $("join-cam").onclick = async () => {
    page.prefs.cam = !page.prefs.cam;
    await cameraFollowsPrefs();
    renderPreview();
  };
  $("join-form").onsubmit = (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) return input.focus();
    if (!page.info.user) localStorage.setItem(NAME_KEY, name);
    join(name);
  };
  await acquire({ audio: true, video: true });
  renderPreview();
}

/** Camera off: the device is released (its light goes out). On: asked for again. */
async function cameraFollowsPrefs() {
  if (!page.prefs.cam && page.media.camera) {
    page.media.camera.stop();
    page.media.camera = null;
  } else if (page.prefs.cam && !page.media.camera) {
    await acquire({ audio: false, video: true });
    if (!page.media.camera) page.prefs.cam = false;
  }
}

// --- the room -----------------------------------------------------------------------------------

async function join(name) {
  page.name = name;
  if (!page.media.audio && !page.media.camera) await acquire({ audio: true, video: page.prefs.cam });
  show("room");
  $("chat").hidden = !page.info.features?.chat;
  ensureTile("self");
  renderLocal();
  $("room-title").focus(); // the new screen's heading, not a control a stray key would press
  connect();
}

function connect() {
  page.state = new RoomState();
  const [roomId, query] = page.current ? [page.current.roomId, page.current.query] : [page.roomId, page.info.ws_url];
  const socket = (page.socket = new WebSocket(liveUrl(location.href, roomId, query, page.name)));
  $("connection").textContent = page.retries ? "Reconnecting…" : "Connecting…";
  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    receive(message);
  };
  socket.onclose = (event) => closed(event.code, event.reason);
}

function send(message) {
  if (page.socket && page.socket.readyState === WebSocket.OPEN) page.socket.send(JSON.stringify(message));
}

function receive(message) {
  if (message.type === "recorder_answer" || message.type === "recording") return page.recorder?.signal(message);
  if (message.type.startsWith("whiteboard_")) return page.board?.receive(message);
  if (page.breakouts?.receive(message)) return;
  const effects = page.state.apply(message, performance.now());
  if (message.type === "welcome") welcomed();
  for (const effect of effects) {
    switch (effect.type) {
      case "call": page.mesh?.call(effect.sessionId); ensureTile(effect.sessionId); break;
      case "joined": ensureTile(effect.sessionId); break;
      case "hangup": page.mesh?.hangup(effect.sessionId); removeTile(effect.sessionId); break;
      case "signal":
        // An offer may come before its sender's participant_joined; anything else from a
        // session we do not know (a late candidate of someone who left) makes no tile.
        if (effect.message.type === "offer" || page.tiles.has(effect.from)) ensureTile(effect.from);
        page.mesh?.signal(effect.from, effect.message);
        break;
      case "chat": appendChat(effect.entry); break;
      case "terminated":
        if (page.current && effect.reason === "breakout_closed") return switchRoom(null); // back to the main room
        finish("terminated", terminatedText(effect.reason));
        return;
      case "error": notice(effect.message || effect.code); break;
      case "render": render(); break;
    }
  }
}

function welcomed() {
  const state = page.state;
  page.retries = 0;
  $("connection").textContent = "";
  notice("");
  if (page.mesh) page.mesh.close();
  page.mesh = new Mesh({
    selfId: state.self.session_id,
    iceServers: state.iceServers.length ? state.iceServers : page.info.ice_servers,
    send,
    onStream: (sessionId, stream) => attachStream(sessionId, stream),
    onState: (sessionId, connection) => {
      const tile = page.tiles.get(sessionId);
      if (tile) tile.dataset.connection = connection;
    },
    onTrack: (kind, track) => page.recorder?.setTrack(kind, track),
    log: (...args) => console.warn("callgrid mesh:", ...args),
  });
  page.mesh.setTrack("audio", page.media.audio);
  page.mesh.setTrack("video", outgoingVideo());
  startRecorder(state);
  const features = state.features;
  $("share").hidden = !(features.screenshare && navigator.mediaDevices?.getDisplayMedia);
  $("hand").hidden = !features.raise_hand;
  $("chat").hidden = !features.chat;
  page.board?.setEnabled(features.whiteboard !== false);
  page.breakouts?.welcomed({ role: state.self.role, features, current: page.current });
  // The server starts everyone unmuted: say so when this page is not.
  const muted = { audio_muted: !page.prefs.mic || !page.media.audio, video_muted: !outgoingVideo(), screen_sharing: Boolean(page.media.screen) };
  if (muted.audio_muted || muted.video_muted || muted.screen_sharing) send({ type: "mute", ...muted });
  clearInterval(page.timers.heartbeat);
  page.timers.heartbeat = setInterval(() => send({ type: "ping" }), Math.max(1, state.heartbeatSeconds) * 1000);
  clearInterval(page.timers.clock);
  page.timers.clock = setInterval(renderClock, 500);
  renderClock();
}

/** A recorded room: the recorder gets what the mesh sends; the banner says so. */
function startRecorder(state) {
  if (page.recorder) page.recorder.close();
  page.recorder = null;
  if (!page.info.recording || !window.RTCPeerConnection) return;
  page.recorder = new Recorder({
    iceServers: state.iceServers.length ? state.iceServers : page.info.ice_servers,
    send,
    onState: (recorderState) => { $("recording").dataset.state = recorderState; },
    log: (...args) => console.warn("callgrid recorder:", ...args),
  });
  page.recorder.start({ audio: page.media.audio, video: outgoingVideo() });
}

/** Into a breakout (`{roomId, name, query}`) or back to the main room (null): a new socket. */
function switchRoom(target) {
  if (page.ended) return;
  page.current = target;
  page.retries = 0;
  teardown();
  page.board?.reset();
  connect();
}

function closed(code, reason) {
  page.socket = null;
  if (page.ended) return;
  if (page.current && [4401, 4403, 4404, 4410].includes(code)) return switchRoom(null); // the breakout is gone
  const outcome = closeOutcome(code, reason);
  if (page.leaving) return finish("left", "You left the meeting.");
  if (outcome.kind === "retry" && page.retries < MAX_RETRIES) {
    page.retries += 1;
    teardown();
    $("connection").textContent = outcome.text;
    setTimeout(() => page.ended || connect(), Math.min(8000, 500 * 2 ** page.retries));
    return;
  }
  finish(outcome.kind === "retry" ? "lost" : outcome.kind, outcome.kind === "retry" ? "The connection to the room was lost." : outcome.text);
}

// --- rendering ------------------------------------------------------------------------------------

function renderClock() {
  $("clock").textContent = page.state.self ? page.state.clock.text(performance.now()) : "";
}

function ensureTile(sessionId) {
  let tile = page.tiles.get(sessionId);
  if (tile) return tile;
  tile = document.createElement("figure");
  tile.className = sessionId === "self" ? "tile self" : "tile remote";
  tile.dataset.sessionId = sessionId;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  if (sessionId === "self") video.muted = true;
  const placeholder = document.createElement("div");
  placeholder.className = "placeholder";
  placeholder.setAttribute("aria-hidden", "true");
  const caption = document.createElement("figcaption");
  caption.innerHTML = '<span class="name"></span><span class="flags"></span>';
  tile.append(video, placeholder, caption);
  $("grid").append(tile);
  page.tiles.set(sessionId, tile);
  renderTile(sessionId);
  layoutGrid();
  return tile;
}

function removeTile(sessionId) {
  const tile = page.tiles.get(sessionId);
  if (!tile) return;
  const video = tile.querySelector("video");
  video.srcObject = null;
  tile.remove();
  page.tiles.delete(sessionId);
  layoutGrid();
}

function layoutGrid() {
  $("grid").dataset.count = String(page.tiles.size);
}

function attachStream(sessionId, stream) {
  const tile = ensureTile(sessionId);
  const video = tile.querySelector("video");
  if (video.srcObject !== stream) video.srcObject = stream;
  video.play().catch(() => {
    // Autoplay with sound was refused (no click on this page yet): play muted, offer sound.
    video.muted = true;
    video.play().catch(() => {});
    $("sound").hidden = false;
  });
}

function renderLocal() {
  const tile = ensureTile("self");
  const video = tile.querySelector("video");
  const track = outgoingVideo();
  const current = video.srcObject?.getVideoTracks()[0] || null;
  if (current !== track) video.srcObject = track ? new MediaStream([track]) : null;
  tile.classList.toggle("screen", Boolean(page.media.screen));
  renderTile("self");
  setToggle($("mic"), page.prefs.mic && Boolean(page.media.audio));
  setToggle($("cam"), page.prefs.cam && Boolean(page.media.camera));
  setToggle($("share"), Boolean(page.media.screen));
  $("mic").disabled = !page.media.audio;
}

function flagsText(p) {
  const f = participantFlags(p);
  return [f.hand_raised && "hand raised", f.audio_muted && "muted", f.video_muted && !f.screen_sharing && "camera off", f.screen_sharing && "sharing screen"]
    .filter(Boolean).join(" · ");
}

function renderTile(sessionId) {
  const tile = page.tiles.get(sessionId);
  if (!tile) return;
  const state = page.state;
  const self = sessionId === "self";
  const p = self ? state.self : state.participants.get(sessionId);
  const name = self ? `${state.self?.name || page.name || "You"} (you)` : p?.name || "…";
  tile.querySelector(".name").textContent = name;
  tile.querySelector(".flags").textContent = p ? flagsText(p) : "";
  tile.querySelector(".placeholder").textContent = (self ? page.name : p?.name || "?").trim().slice(0, 1).toUpperCase();
  const videoOff = self ? !outgoingVideo() : Boolean(p && p.video_muted && !p.screen_sharing);
  tile.classList.toggle("video-off", videoOff);
  if (!self) tile.classList.toggle("screen", Boolean(p?.screen_sharing));
  tile.classList.toggle("hand", Boolean(p?.hand_raised));
  tile.setAttribute("aria-label", name);
}

function render() {
  const state = page.state;
  const list = $("participant-list");
  const roster = state.roster();
  list.replaceChildren(
    ...roster.map((p) => {
      const item = document.createElement("li");
      item.dataset.sessionId = p.session_id;
      if (p.hand_raised) item.classList.add("hand");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = p.self ? `${p.name} (you)` : p.name;
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = p.role === "host" ? "host" : p.role === "guest" ? "guest" : "";
      const flags = document.createElement("span");
      flags.className = "flags";
      flags.textContent = flagsText(p);
      item.append(name, role, flags);
      return item;
    }),
  );
  $("people-count").textContent = String(roster.length);
  for (const id of page.tiles.keys()) renderTile(id);
  setToggle($("hand"), Boolean(state.self?.hand_raised));
  renderClock();
}

function appendChat(entry) {
  const item = document.createElement("li");
  if (entry.mine) item.className = "mine";
  const who = document.createElement("strong");
  who.textContent = entry.mine ? "You" : entry.name;
  const time = document.createElement("time");
  if (entry.sentAt) {
    time.dateTime = entry.sentAt;
    time.textContent = new Date(entry.sentAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  const text = document.createElement("p");
  text.textContent = entry.text;
  item.append(who, time, text);
  $("chat-log").append(item);
  item.scrollIntoView({ block: "end" });
}

// --- controls ---------------------------------------------------------------------------------------

function sendMuteState(change) {
  send({ type: "mute", ...change });
}

function wireControls() {
  $("mic").onclick = () => {
    if (!page.media.audio) return;
    page.prefs.mic = !page.prefs.mic;
    page.media.audio.enabled = page.prefs.mic;
    renderLocal();
    sendMuteState({ audio_muted: !page.prefs.mic });
  };
  $("cam").onclick = async () => {
    page.prefs.cam = !page.prefs.cam;
    await cameraFollowsPrefs();
    page.mesh?.setTrack("video", outgoingVideo());
    renderLocal();
    sendMuteState({ video_muted: !(page.prefs.cam && page.media.camera) });
  };
  $("share").onclick = async () => {
    if (page.media.screen) return stopSharing();
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      return; // the person chose not to share
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    page.media.screen = track;
    track.onended = () => stopSharing();
    page.mesh?.setTrack("video", track);
    renderLocal();
    sendMuteState({ screen_sharing: true });
  };
  $("hand").onclick = () => send({ type: "raise_hand", raised: !page.state.self?.hand_raised });
  $("leave").onclick = () => {
    page.leaving = true;
    send({ type: "leave" });
    // The server closes with 1000; the page does not wait for it.
    finish("left", "You left the meeting.");
  };
  $("sound").onclick = () => {
    for (const video of document.querySelectorAll(".tile.remote video")) {
      video.muted = false;
      video.play().catch(() => {});
    }
    $("sound").hidden = true;
  };
  $("chat-form").onsubmit = (event) => {
    event.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    send({ type: "chat", text: text.slice(0, 2000) });
    input.value = "";
  };
  $("rejoin").onclick = () => location.reload();
}

function stopSharing() {
  const track = page.media.screen;
  if (!track) return;
  page.media.screen = null;
  track.onended = null;
  track.stop();
  page.mesh?.setTrack("video", outgoingVideo());
  renderLocal();
  sendMuteState({ screen_sharing: false, video_muted: !outgoingVideo() });
}

// --- start ----------------------------------------------------------------------------------------

async function start() {
  wireControls();
  page.board = new Whiteboard({ root: $("whiteboard"), toggle: $("board-toggle"), send, selfId: () => page.state.self?.session_id });
  page.breakouts = new Breakouts({ send, go: switchRoom, say: notice });
  page.roomId = roomIdFromPath(location.pathname);
  if (!page.roomId) return finish("refused", closeOutcome(4404).text);
  const query = credentials(location.search);
  const url = new URL(`../v1/rooms/${encodeURIComponent(page.roomId)}/join-info`, location.href);
  url.search = query.toString();
  let answer;
  try {
    answer = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
  } catch {
    return finish("lost", "Callgrid could not be reached.");
  }
  if (!answer.ok) {
    const outcome = joinInfoOutcome(answer.status);
    return finish(outcome.kind === "retry" ? "lost" : outcome.kind, outcome.kind === "retry" ? `Callgrid answered ${answer.status}.` : outcome.text);
  }
  page.info = await answer.json();
  const roomName = page.info.room?.name || "Room";
  document.title = `${roomName} · Callgrid`;
  for (const element of document.querySelectorAll(".room-name")) element.textContent = roomName;
  $("recording").hidden = $("join-recording").hidden = !page.info.recording;
  if (page.info.features?.join_screen === false) {
    join(page.info.user?.name || localStorage.getItem(NAME_KEY) || "");
  } else {
    await showJoinScreen();
  }
}

window.addEventListener("pagehide", () => {
  if (!page.ended && page.socket) send({ type: "leave" });
});

start().catch((error) => {
  console.error(error);
  finish("lost", "The room page failed to start.");
});
