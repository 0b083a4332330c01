// Breakout rooms on the room page (docs/rooms.md, Breakout rooms). A participant follows the
// server: `breakout_move` -> the page leaves the room and joins the breakout with the
// credentials it carries; `breakout_return` (closed, time limit, moved back) -> the page joins
// its main room again with its own. A host also gets a panel: open N rooms (spread
// automatically, optionally with a time limit), see who is where, move someone, visit a room,
// message everyone, close them all.

const $ = (id) => document.getElementById(id);

/** "4:05" for the time from now until an ISO moment (0:00 once past). */
export function timeLeft(closesAt, now = Date.now()) {
  const seconds = Math.max(0, Math.round((Date.parse(closesAt) - now) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

export class Breakouts {
  /**
   * send(message): to the live socket. go(target): join another room, `{roomId, name, query}`
   * (a breakout) or null (the main room). say(text): a notice for the person.
   */
  constructor({ send, go, say }) {
    this.send = send;
    this.go = go;
    this.say = say;
    this.state = null; // the last breakout_state
    this.isHost = false;
    this.enabled = false;
    this.current = null; // the breakout we are in: {roomId, name}
    this.timer = null;
    this.panel = $("breakouts");
    this.toggle = $("breakouts-toggle");
    this.banner = $("breakout-banner");
    this.toggle.addEventListener("click", () => this.show(this.panel.hidden));
    $("breakout-return").addEventListener("click", () => this.go(null));
    $("breakout-open-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const count = Number($("breakout-count").value) || 2;
      const minutes = Number($("breakout-minutes").value) || 0;
      this.send({ type: "breakout_open", count, ...(minutes > 0 ? { duration_seconds: Math.round(minutes * 60) } : {}) });
    });
    $("breakout-broadcast-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("breakout-broadcast-text");
      const text = input.value.trim();
      if (!text) return;
      this.send({ type: "breakout_broadcast", text: text.slice(0, 2000) });
      input.value = "";
    });
    $("breakout-close").addEventListener("click", () => this.send({ type: "breakout_close" }));
    setInterval(() => this.poll(), 3000);
  }

  /** A welcome in a room: `current` is the breakout we joined (null: the main room). */
  welcomed({ role, features, current }) {
    this.isHost = role === "host";
    this.enabled = features.breakout_rooms !== false;
    this.current = current;
    this.state = null;
    this.toggle.hidden = !(this.isHost && this.enabled);
    if (this.toggle.hidden) this.show(false);
    this.render();
  }

  show(visible) {
    this.panel.hidden = !visible;
    this.toggle.setAttribute("aria-pressed", String(visible));
    if (visible) this.send({ type: "breakout_state" });
  }

  /** A breakout message (true), or not one (false). */
  receive(message) {
    switch (message.type) {
      case "breakout_move": {
        const query = message.token ? `?token=${encodeURIComponent(message.token)}` : `?key=${encodeURIComponent(message.key)}`;
        this.say(`Moving you to ${message.room.name}…`);
        this.go({ roomId: message.room.id, name: message.room.name, query });
        return true;
      }
      case "breakout_return":
        this.say(message.reason === "time_limit" ? "The breakout rooms' time is up: back to the main room." : "Back to the main room.");
        this.go(null);
        return true;
      case "breakout_opened":
        if (!this.isHost) this.say("Breakout rooms are open.");
        this.send({ type: "breakout_state" });
        return true;
      case "breakout_closed":
        this.state = null;
        this.render();
        return true;
      case "breakout_state":
        this.state = message.rooms?.length ? message : null;
        this.render();
        return true;
      case "breakout_broadcast":
        this.say(`${message.name} to everyone: ${message.text}`);
        return true;
      default:
        return false;
    }
  }

  render() {
    clearInterval(this.timer);
    this.timer = null;
    const state = this.state;
    // The banner: which breakout we are in, and its time left.
    this.banner.hidden = !this.current;
    if (this.current) {
      const name = $("breakout-name");
      name.textContent = this.current.name || "a breakout room";
      const tick = () => { $("breakout-left").textContent = state?.closes_at ? `${timeLeft(state.closes_at)} left` : ""; };
      tick();
      if (state?.closes_at) this.timer = setInterval(tick, 1000);
    }
    // The host's panel.
    const open = Boolean(state);
    $("breakout-open-form").hidden = open || Boolean(this.current);
    $("breakout-live").hidden = !open;
    if (!open) return;
    const mainId = state.main_room_id;
    const choices = [{ id: mainId, name: "Main room" }, ...state.rooms.map((r) => ({ id: r.id, name: r.name }))];
    const list = $("breakout-rooms");
    const main = { id: mainId, name: "Main room", participants: state.main_participants || [] };
    list.replaceChildren(
      ...[main, ...state.rooms].map((room) => {
        const item = document.createElement("li");
        item.dataset.roomId = room.id;
        const head = document.createElement("div");
        head.className = "breakout-head";
        const title = document.createElement("strong");
        title.textContent = room.name;
        const visit = document.createElement("button");
        visit.type = "button";
        visit.textContent = state.room_id === room.id ? "You are here" : "Join";
        visit.disabled = state.room_id === room.id;
        visit.addEventListener("click", () => (room.id === mainId ? this.go(null) : this.send({ type: "breakout_visit", room_id: room.id })));
        head.append(title, visit);
        const people = document.createElement("ul");
        people.className = "breakout-people";
        for (const p of room.participants || []) {
          const person = document.createElement("li");
          const label = document.createElement("span");
          label.textContent = p.name;
          const move = document.createElement("select");
          move.setAttribute("aria-label", `Move ${p.name} to`);
          for (const choice of choices) {
            const option = document.createElement("option");
            option.value = choice.id;
            option.textContent = choice.name;
            option.selected = choice.id === room.id;
            move.append(option);
          }
          move.addEventListener("change", () => {
            this.send({ type: "breakout_assign", session_id: p.session_id, room_id: move.value === mainId ? null : move.value });
          });
          person.append(label, move);
          people.append(person);
        }
        item.append(head, people);
        return item;
      }),
    );
    $("breakout-closes").textContent = state.closes_at ? `Closing in ${timeLeft(state.closes_at)}` : "No time limit";
  }

  /** While the host's panel is open and rooms are open, who is where is asked again now and then. */
  poll() {
    if (!this.panel.hidden && this.state) this.send({ type: "breakout_state" });
  }
}
