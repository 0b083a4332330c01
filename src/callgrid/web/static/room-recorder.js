// The recorder connection of a room with `record: true` (docs/rooms.md, Recording): besides the
// mesh, the page sends its microphone and its video (the camera, or the screen while it is
// shared: what the others see) to the server's recorder, a WebRTC peer of its own, signalled
// over the live socket: recorder_offer and recorder_ice from the page, recorder_answer from
// the server. The server writes one file per connection; the page only sends.
//
// One audio and one video transceiver, sendonly, from the first offer on: muting, the camera
// and screen sharing only change what the senders carry (replaceTrack). A connection that
// fails is replaced by a new one (a new offer) after a pause, a few times.

const KINDS = ["audio", "video"];
const MAX_RESTARTS = 5;

export class Recorder {
  /**
   * send(message): a message on the live socket.
   * onState(state): "connecting", "recording", "failed", "closed" (for the page's indicator).
   */
  constructor({ iceServers, send, onState, log = () => {} }) {
    this.iceServers = iceServers || [];
    this.send = send;
    this.onState = onState || (() => {});
    this.log = log;
    this.tracks = { audio: null, video: null };
    this.pc = null;
    this.transceivers = {};
    this.restarts = 0;
    this.timer = null;
    this.closed = false;
  }

  /** Start with these tracks ({audio, video}, each a track or null). */
  start(tracks) {
    Object.assign(this.tracks, tracks);
    this._connect();
  }

  /** What the recorder gets from now on (a track, or null for nothing). */
  setTrack(kind, track) {
    this.tracks[kind] = track;
    const transceiver = this.transceivers[kind];
    if (transceiver) transceiver.sender.replaceTrack(track).catch((error) => this.log("replaceTrack failed", error));
  }

  /** recorder_answer (or a server's `recording` notice) from the socket. */
  async signal(message) {
    if (message.type === "recorder_answer" && this.pc && this.pc.signalingState === "have-local-offer") {
      try {
        await this.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
      } catch (error) {
        this.log("answer failed", error);
      }
    } else if (message.type === "recording" && message.status === "recording") {
      this.restarts = 0;
      this.onState("recording");
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this._drop();
    this.onState("closed");
  }

  _drop() {
    if (!this.pc) return;
    this.pc.onicecandidate = this.pc.onconnectionstatechange = null;
    this.pc.close();
    this.pc = null;
    this.transceivers = {};
  }

  async _connect() {
    this._drop();
    if (this.closed) return;
    this.onState("connecting");
    const pc = (this.pc = new RTCPeerConnection({ iceServers: this.iceServers }));
    for (const kind of KINDS) {
      this.transceivers[kind] = pc.addTransceiver(this.tracks[kind] || kind, { direction: "sendonly" });
    }
    pc.onicecandidate = ({ candidate }) => {
      this.send({ type: "recorder_ice", candidate: candidate ? candidate.toJSON() : null });
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "failed") this._retry();
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      if (pc === this.pc) this.send({ type: "recorder_offer", sdp: pc.localDescription.sdp });
    } catch (error) {
      this.log("offer failed", error);
      this._retry();
    }
  }

  _retry() {
    this._drop();
    if (this.closed) return;
    if (this.restarts >= MAX_RESTARTS) {
      this.onState("failed");
      return;
    }
    this.restarts += 1;
    this.onState("connecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._connect(), Math.min(8000, 1000 * 2 ** this.restarts));
  }
}
