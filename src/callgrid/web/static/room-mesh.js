// WebRTC between this page and every other participant: one RTCPeerConnection each (a mesh;
// Callgrid relays only the signaling). The convention of docs/rooms.md: the newcomer calls
// (sends an offer to everyone in `welcome.participants`), the others answer; anything later is
// "perfect negotiation", the peer whose session_id sorts lower being the polite one.
//
// Every connection carries one audio and one video transceiver, both sendrecv, from the first
// offer on. Muting, turning the camera off and on, and screen sharing only change what the
// senders carry (replaceTrack), so none of them needs a new offer.

import { isPolite } from "./room-state.js";

const KINDS = ["audio", "video"];

export class Mesh {
  /**
   * send(message): a signaling message to the server (with `to`).
   * onStream(sessionId, MediaStream): the remote media of a participant (again on changes).
   * onState(sessionId, connectionState): "connecting", "connected", "failed", ...
   */
  constructor({ selfId, iceServers, send, onStream, onState, onTrack, log = () => {} }) {
    this.selfId = selfId;
    this.iceServers = iceServers || [];
    this.send = send;
    this.onStream = onStream;
    this.onState = onState || (() => {});
    this.onTrack = onTrack || (() => {}); // what is sent changed (the recorder follows it)
    this.log = log;
    this.peers = new Map();
    this.tracks = { audio: null, video: null };
    this.stream = new MediaStream();
  }

  /** What every connection sends from now on (a track, or null for nothing). */
  setTrack(kind, track) {
    const old = this.tracks[kind];
    if (old && old !== track) this.stream.removeTrack(old);
    if (track && !this.stream.getTracks().includes(track)) this.stream.addTrack(track);
    this.tracks[kind] = track;
    for (const peer of this.peers.values()) peer.useTrack(kind, track);
    this.onTrack(kind, track);
  }

  /** Call a participant who was here before us. */
  call(sessionId) {
    this._peer(sessionId, true);
  }

  /** An offer, answer or ice relayed from `from`. */
  signal(from, message) {
    const peer = this.peers.get(from) || (message.type === "offer" ? this._peer(from, false) : null);
    if (peer) peer.enqueue(message);
  }

  hangup(sessionId) {
    const peer = this.peers.get(sessionId);
    if (peer) {
      this.peers.delete(sessionId);
      peer.close();
    }
  }

  close() {
    for (const id of [...this.peers.keys()]) this.hangup(id);
  }

  _peer(sessionId, initiator) {
    let peer = this.peers.get(sessionId);
    if (!peer) {
      peer = new Peer(this, sessionId, isPolite(this.selfId, sessionId), initiator);
      this.peers.set(sessionId, peer);
    }
    return peer;
  }
}

class Peer {
  constructor(mesh, id, polite, initiator) {
    this.mesh = mesh;
    this.id = id;
    this.polite = polite;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.transceivers = {};
    this.remote = new MediaStream();
    this.queue = Promise.resolve();
    const pc = (this.pc = new RTCPeerConnection({ iceServers: mesh.iceServers }));

    pc.onicecandidate = ({ candidate }) => {
      mesh.send({ type: "ice", to: id, candidate: candidate ? candidate.toJSON() : null });
    };
    pc.ontrack = ({ track }) => {
      for (const old of this.remote.getTracks().filter((t) => t.kind === track.kind && t !== track)) this.remote.removeTrack(old);
      if (!this.remote.getTracks().includes(track)) this.remote.addTrack(track);
      mesh.onStream(id, this.remote);
    };
    pc.onconnectionstatechange = () => {
      mesh.onState(id, pc.connectionState);
      if (pc.connectionState === "failed" && this.started) pc.restartIce();
    };
    pc.onnegotiationneeded = async () => {
      if (!this.started) return; // the answering side waits for the caller's offer
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        mesh.send({ type: "offer", to: id, sdp: pc.localDescription.sdp });
      } catch (error) {
        mesh.log("offer failed", error);
      } finally {
        this.makingOffer = false;
      }
    };

    // The caller sets up its transceivers now (which fires negotiationneeded: the offer);
    // the answerer adopts the ones the caller's offer creates.
    this.started = initiator;
    if (initiator) {
      for (const kind of KINDS) {
        this.transceivers[kind] = pc.addTransceiver(mesh.tracks[kind] || kind, { direction: "sendrecv", streams: [mesh.stream] });
      }
    }
  }

  useTrack(kind, track) {
    const transceiver = this.transceivers[kind];
    if (transceiver) transceiver.sender.replaceTrack(track).catch((error) => this.mesh.log("replaceTrack failed", error));
  }

  /** Signaling messages of one peer are handled one at a time, in order. */
  enqueue(message) {
    this.queue = this.queue.then(() => this._handle(message)).catch((error) => this.mesh.log(`${message.type} failed`, error));
  }

  async _handle(message) {
    const pc = this.pc;
    if (pc.signalingState === "closed") return;
    if (message.type === "ice") {
      if (!message.candidate) return; // end of candidates
      try {
        await pc.addIceCandidate(message.candidate);
      } catch (error) {
        if (!this.ignoreOffer) throw error;
      }
      return;
    }
    const description = { type: message.type, sdp: message.sdp };
    if (message.type === "offer") {
      const collision = this.makingOffer || pc.signalingState !== "stable";
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      await pc.setRemoteDescription(description); // a polite peer's own offer is rolled back
      if (!this.started) await this._adopt();
      await pc.setLocalDescription();
      this.mesh.send({ type: "answer", to: this.id, sdp: pc.localDescription.sdp });
    } else if (message.type === "answer") {
      if (pc.signalingState !== "have-local-offer") return; // a stale answer
      await pc.setRemoteDescription(description);
    }
  }

  /** The answering side: send on the transceivers the caller's first offer created. */
  async _adopt() {
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (this.transceivers[kind]) continue;
      this.transceivers[kind] = transceiver;
      transceiver.direction = "sendrecv";
      if (transceiver.sender.setStreams) transceiver.sender.setStreams(this.mesh.stream);
      const track = this.mesh.tracks[kind];
      if (track) await transceiver.sender.replaceTrack(track);
    }
    this.started = true;
  }

  close() {
    this.pc.onicecandidate = this.pc.ontrack = this.pc.onnegotiationneeded = this.pc.onconnectionstatechange = null;
    this.pc.close();
  }
}
