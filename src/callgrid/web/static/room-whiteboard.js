// The room's shared whiteboard (docs/rooms.md, Whiteboard): a canvas everyone in the room
// draws on (pen, straight lines, rectangles, text, eraser, clear, colours), synced over the
// room's live socket. Every stroke and clear carries the room's next `seq`; the board is the
// strokes whose seq is above the last clear's, drawn in seq order, whatever order they
// arrived in (BoardState, pure). Coordinates are the board's own units (1600 x 900), scaled
// to the canvas.

export const BOARD_WIDTH = 1600;
export const BOARD_HEIGHT = 900;
export const TOOLS = ["pen", "line", "rect", "text", "eraser"];
export const COLORS = ["#1f2328", "#e5484d", "#f5a524", "#2f9e62", "#4f8cff", "#8e4ec6", "#ffffff"];
const MAX_POINTS = 2000;

/**
 * The board as the messages say it is: `whiteboard_state` (the board when we came in),
 * `whiteboard_draw` and `whiteboard_clear`. apply() returns "append" when the change only adds
 * a stroke after every stroke drawn so far, "redraw" when the board must be drawn again, and
 * null when nothing changed (a repeat, or a stroke an earlier clear wiped).
 */
export class BoardState {
  constructor() {
    this.reset();
  }

  reset() {
    this.strokes = new Map(); // seq -> {seq, by, name, at, stroke}
    this.clearedSeq = 0;
    this.lastSeq = 0;
  }

  apply(message) {
    switch (message?.type) {
      case "whiteboard_state": {
        const cleared = Math.max(this.clearedSeq, Number(message.cleared_seq) || 0);
        this.clearedSeq = cleared;
        for (const entry of message.strokes || []) this._add(entry);
        this._prune();
        this.lastSeq = Math.max(this.lastSeq, Number(message.seq) || 0);
        return "redraw";
      }
      case "whiteboard_draw": {
        const seq = Number(message.seq);
        if (!(seq > this.clearedSeq) || this.strokes.has(seq) || !message.stroke) return null;
        const last = this.ordered().at(-1);
        this._add(message);
        this.lastSeq = Math.max(this.lastSeq, seq);
        return !last || last.seq < seq ? "append" : "redraw";
      }
      case "whiteboard_clear": {
        const seq = Number(message.seq) || 0;
        if (seq <= this.clearedSeq) return null;
        this.clearedSeq = seq;
        this.lastSeq = Math.max(this.lastSeq, seq);
        this._prune();
        return "redraw";
      }
      default:
        return null;
    }
  }

  _add(entry) {
    const seq = Number(entry.seq);
    if (seq > this.clearedSeq && entry.stroke) {
      this.strokes.set(seq, { seq, by: entry.by, name: entry.name, at: entry.at, stroke: entry.stroke });
    }
  }

  _prune() {
    for (const seq of [...this.strokes.keys()]) if (seq <= this.clearedSeq) this.strokes.delete(seq);
  }

  /** The board's strokes in the order they are drawn. */
  ordered() {
    return [...this.strokes.values()].sort((a, b) => a.seq - b.seq);
  }
}

/** Draw one stroke on a 2D context whose transform maps board units to its pixels. */
export function drawStroke(ctx, stroke) {
  const points = stroke.points || [];
  if (!points.length) return;
  ctx.save();
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = ctx.fillStyle = stroke.color || "#000000";
  ctx.lineWidth = stroke.width || 4;
  if (stroke.tool === "eraser") ctx.globalCompositeOperation = "destination-out";
  if (stroke.tool === "text") {
    ctx.font = `${stroke.size || 32}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.fillText(stroke.text || "", points[0][0], points[0][1]);
  } else if (stroke.tool === "rect" && points.length === 2) {
    const [[x1, y1], [x2, y2]] = points;
    ctx.strokeRect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
  } else if (points.length === 1) {
    ctx.beginPath();
    ctx.arc(points[0][0], points[0][1], (stroke.width || 4) / 2, 0, Math.PI * 2);
    ctx.fill();
  } else {
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    for (const [x, y] of points.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
  ctx.restore();
}

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));
const round1 = (value) => Math.round(value * 10) / 10;

/**
 * The whiteboard of the room page: its panel (`root`, with a canvas and a toolbar built here),
 * a toggle button, and `send(message)` for the live socket. The page hands it every
 * whiteboard_* message (`receive`), and calls `reset()` when it joins a room (a new
 * whiteboard_state follows the welcome) and `setEnabled()` with the room's feature flag.
 */
export class Whiteboard {
  constructor({ root, toggle, send, selfId = () => null, onActivity = () => {} }) {
    this.root = root;
    this.toggle = toggle;
    this.send = send;
    this.selfId = selfId;
    this.onActivity = onActivity;
    this.state = new BoardState();
    this.pending = new Map(); // our strokes sent and not yet back: id -> stroke
    this.current = null; // the stroke being drawn
    this.tool = "pen";
    this.color = COLORS[0];
    this.width = 4;
    this.counter = 0;
    this._build();
    this.base = document.createElement("canvas"); // the board's strokes, drawn once
    this.drawnUpTo = 0;
    this.resizeObserver = new ResizeObserver(() => this._resize());
    this.resizeObserver.observe(this.frame);
    toggle.addEventListener("click", () => this.show(this.root.hidden));
  }

  _build() {
    const bar = document.createElement("div");
    bar.className = "wb-toolbar";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Whiteboard tools");
    const labels = { pen: "Pen", line: "Line", rect: "Rectangle", text: "Text", eraser: "Eraser" };
    this.toolButtons = new Map();
    for (const tool of TOOLS) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "wb-tool";
      button.dataset.tool = tool;
      button.textContent = labels[tool];
      button.setAttribute("aria-pressed", String(tool === this.tool));
      button.addEventListener("click", () => this.setTool(tool));
      this.toolButtons.set(tool, button);
      bar.append(button);
    }
    const colors = document.createElement("span");
    colors.className = "wb-colors";
    colors.setAttribute("role", "group");
    colors.setAttribute("aria-label", "Colour");
    this.colorButtons = [];
    for (const color of COLORS) {
      const swatch = document.createElement("button");
      swatch.type = "button";
      swatch.className = "wb-swatch";
      swatch.dataset.color = color;
      swatch.style.background = color;
      swatch.setAttribute("aria-label", `Colour ${color}`);
      swatch.setAttribute("aria-pressed", String(color === this.color));
      swatch.addEventListener("click", () => this.setColor(color));
      this.colorButtons.push(swatch);
      colors.append(swatch);
    }
    const picker = document.createElement("input");
    picker.type = "color";
    picker.className = "wb-picker";
    picker.value = this.color;
    picker.setAttribute("aria-label", "Another colour");
    picker.addEventListener("input", () => this.setColor(picker.value));
    this.picker = picker;
    colors.append(picker);
    const width = document.createElement("input");
    width.type = "range";
    width.min = "1";
    width.max = "40";
    width.value = String(this.width);
    width.className = "wb-width";
    width.setAttribute("aria-label", "Line width");
    width.addEventListener("input", () => { this.width = Number(width.value); });
    const text = document.createElement("input");
    text.type = "text";
    text.maxLength = 500;
    text.className = "wb-text";
    text.placeholder = "Text to place";
    text.setAttribute("aria-label", "Text to place on the board");
    this.textInput = text;
    const clear = document.createElement("button");
    clear.type = "button";
    clear.className = "wb-clear danger";
    clear.textContent = "Clear";
    clear.addEventListener("click", () => this.send({ type: "whiteboard_clear" }));
    bar.append(colors, width, text, clear);

    this.frame = document.createElement("div");
    this.frame.className = "wb-frame";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "wb-canvas";
    this.canvas.setAttribute("aria-label", "Whiteboard");
    this.canvas.setAttribute("role", "img");
    this.frame.append(this.canvas);
    this.root.replaceChildren(bar, this.frame);
    this.canvas.addEventListener("pointerdown", (event) => this._down(event));
    this.canvas.addEventListener("pointermove", (event) => this._move(event));
    this.canvas.addEventListener("pointerup", (event) => this._up(event));
    this.canvas.addEventListener("pointercancel", () => { this.current = null; this._compose(); });
  }

  setEnabled(enabled) {
    this.toggle.hidden = !enabled;
    if (!enabled) this.show(false);
  }

  show(visible) {
    this.root.hidden = !visible;
    this.toggle.setAttribute("aria-pressed", String(visible));
    this.toggle.classList.remove("activity");
    document.body.classList.toggle("board-open", visible);
    if (visible) this._resize();
  }

  setTool(tool) {
    this.tool = tool;
    for (const [name, button] of this.toolButtons) button.setAttribute("aria-pressed", String(name === tool));
  }

  setColor(color) {
    this.color = color.toLowerCase();
    this.picker.value = this.color;
    for (const swatch of this.colorButtons) swatch.setAttribute("aria-pressed", String(swatch.dataset.color === this.color));
  }

  /** A new room (or a rejoin): its whiteboard_state comes next. */
  reset() {
    this.state.reset();
    this.pending.clear();
    this.current = null;
    this._redraw();
  }

  receive(message) {
    if (message.type === "whiteboard_draw" && message.by === this.selfId()) this.pending.delete(message.stroke?.id);
    const change = this.state.apply(message);
    if (change === "append") this._append();
    else if (change === "redraw") this._redraw();
    else return;
    if (this.root.hidden && message.type !== "whiteboard_state") this.toggle.classList.add("activity");
    this.onActivity(message);
  }

  // --- drawing ----------------------------------------------------------------------------

  _resize() {
    const rect = this.frame.getBoundingClientRect();
    if (!rect.width) return;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(rect.width * ratio);
    const height = Math.round((rect.width * BOARD_HEIGHT / BOARD_WIDTH) * ratio);
    if (this.canvas.width === width && this.canvas.height === height) return;
    this.canvas.width = this.base.width = width;
    this.canvas.height = this.base.height = height;
    this._redraw();
  }

  _context(canvas) {
    const ctx = canvas.getContext("2d");
    const scale = canvas.width / BOARD_WIDTH;
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    return ctx;
  }

  _redraw() {
    const ctx = this._context(this.base);
    ctx.clearRect(0, 0, BOARD_WIDTH, BOARD_HEIGHT);
    for (const entry of this.state.ordered()) drawStroke(ctx, entry.stroke);
    this.drawnUpTo = this.state.ordered().at(-1)?.seq || 0;
    this._compose();
  }

  _append() {
    const ctx = this._context(this.base);
    for (const entry of this.state.ordered()) if (entry.seq > this.drawnUpTo) drawStroke(ctx, entry.stroke);
    this.drawnUpTo = this.state.ordered().at(-1)?.seq || this.drawnUpTo;
    this._compose();
  }

  /** The visible canvas: the board, then our strokes on their way, then the one being drawn. */
  _compose() {
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.base.width) ctx.drawImage(this.base, 0, 0);
    const board = this._context(this.canvas);
    for (const stroke of this.pending.values()) drawStroke(board, stroke);
    if (this.current) drawStroke(board, this.current);
    this.canvas.dataset.strokes = String(this.state.strokes.size);
    this.canvas.dataset.seq = String(this.state.lastSeq);
  }

  _point(event) {
    const rect = this.canvas.getBoundingClientRect();
    const x = clamp(((event.clientX - rect.left) / rect.width) * BOARD_WIDTH, 0, BOARD_WIDTH);
    const y = clamp(((event.clientY - rect.top) / rect.height) * BOARD_HEIGHT, 0, BOARD_HEIGHT);
    return [round1(x), round1(y)];
  }

  _newId() {
    this.counter += 1;
    return `${(this.selfId() || "me").slice(0, 8)}-${Date.now().toString(36)}-${this.counter}`;
  }

  _down(event) {
    if (event.button !== 0) return;
    event.preventDefault();
    const point = this._point(event);
    if (this.tool === "text") {
      const text = this.textInput.value.trim();
      if (!text) {
        this.textInput.focus();
        return;
      }
      this._finish({ id: this._newId(), tool: "text", color: this.color, points: [point], text, size: Math.max(8, this.width * 6) });
      return;
    }
    this.canvas.setPointerCapture(event.pointerId);
    const points = this.tool === "line" || this.tool === "rect" ? [point, point] : [point];
    this.current = { id: this._newId(), tool: this.tool, color: this.color, width: this.tool === "eraser" ? this.width * 4 : this.width, points };
    this._compose();
  }

  _move(event) {
    if (!this.current) return;
    const point = this._point(event);
    const points = this.current.points;
    if (this.current.tool === "line" || this.current.tool === "rect") {
      points[1] = point;
    } else {
      const [lx, ly] = points.at(-1);
      if (Math.hypot(point[0] - lx, point[1] - ly) < 2 || points.length >= MAX_POINTS) return;
      points.push(point);
    }
    this._compose();
  }

  _up(event) {
    if (!this.current) return;
    const stroke = this.current;
    this.current = null;
    if (this.canvas.hasPointerCapture?.(event.pointerId)) this.canvas.releasePointerCapture(event.pointerId);
    this._finish(stroke);
  }

  _finish(stroke) {
    this.pending.set(stroke.id, stroke);
    this.send({ type: "whiteboard_draw", stroke });
    this._compose();
  }
}
