// The booking pages' shared pieces: time zones, dates and times in the visitor's zone, the
// month calendar of free days with the times of the chosen day (SlotPicker), and problem
// details shown in forms. Plain ES module, no framework.

// --- time zones, dates, times -------------------------------------------------------------

export function detectZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/**
 * Choose `detected` in the page's zone <select> (its options come from the server: today's
 * IANA names). Browsers may report an older name of the same zone (Chromium says
 * Asia/Calcutta for Asia/Kolkata): the option the browser resolves to that name is chosen.
 * A zone the list lacks is added. Returns the zone chosen.
 */
export function chooseZone(select, detected) {
  const names = [...select.options].map((option) => option.value);
  let zone = names.includes(detected) ? detected : null;
  if (!zone) {
    zone = names.find((name) => {
      try {
        return new Intl.DateTimeFormat("en", { timeZone: name }).resolvedOptions().timeZone === detected;
      } catch {
        return false;
      }
    }) || null;
  }
  if (!zone) {
    zone = detected;
    const option = document.createElement("option");
    option.value = option.textContent = detected;
    select.prepend(option);
  }
  select.value = zone;
  return zone;
}

export function zoneLabel(zone) {
  return zone.replaceAll("_", " ");
}

/** `YYYY-MM-DD` <-> a UTC Date at midnight: calendar dates without a zone. */
export function parseDate(text) {
  const [y, m, d] = text.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

export function formatIsoDate(date) {
  return date.toISOString().slice(0, 10);
}

export function addDays(text, days) {
  const date = parseDate(text);
  date.setUTCDate(date.getUTCDate() + days);
  return formatIsoDate(date);
}

/** Today's date in `zone`, `YYYY-MM-DD`. */
export function todayIn(zone, now = new Date()) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(now)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** `Tuesday 3 December` (the date alone, in the visitor's language). */
export function dayLabel(text, withYear = false) {
  const options = { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" };
  if (withYear) options.year = "numeric";
  return new Intl.DateTimeFormat(undefined, options).format(parseDate(text));
}

export function monthLabel(year, month) {
  return new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric", timeZone: "UTC" }).format(
    new Date(Date.UTC(year, month - 1, 1)),
  );
}

// 24-hour clocks read best with two digits (09:30, 00:00); 12-hour ones without (9:30 AM).
const HOUR = ["h23", "h24"].includes(new Intl.DateTimeFormat(undefined, { hour: "numeric" }).resolvedOptions().hourCycle)
  ? "2-digit"
  : "numeric";

/** A UTC instant's wall time in `zone`: `19:30` (or `7:30 PM`, as the visitor's language writes it). */
export function timeLabel(iso, zone) {
  return new Intl.DateTimeFormat(undefined, { hour: HOUR, minute: "2-digit", timeZone: zone }).format(new Date(iso));
}

/** `Tuesday 3 December 2030, 19:30 – 20:00`, in `zone`. */
export function rangeLabel(startIso, endIso, zone) {
  const start = new Date(startIso);
  const day = new Intl.DateTimeFormat(undefined, {
    weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: zone,
  }).format(start);
  const end = endIso ? ` \u2013 ${timeLabel(endIso, zone)}` : "";
  return `${day}, ${timeLabel(startIso, zone)}${end}`;
}

// --- problem details in forms ------------------------------------------------------------

/** The answer's problem details (RFC 9457), or one made up for a network failure or an odd answer. */
export async function problemOf(response) {
  try {
    const body = await response.json();
    if (body && typeof body === "object") return body;
  } catch {
    // not JSON
  }
  return { status: response.status, detail: `The server answered ${response.status}. Please try again.` };
}

export async function sendJson(url, body) {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (response.ok) return { ok: true, status: response.status, body: await response.json() };
    return { ok: false, status: response.status, problem: await problemOf(response) };
  } catch {
    return { ok: false, status: 0, problem: { detail: "Could not reach the server. Check your connection and try again." } };
  }
}

function sentence(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".") : "";
}

/**
 * Show a problem's field errors beside the fields (`fields`: field name -> input element,
 * each with a `<p id="{input id}-error">`), the rest in `summary`. Returns the first invalid
 * input, if any (to focus).
 */
export function showProblem(problem, fields, summary) {
  clearProblem(fields, summary);
  let first = null;
  const rest = [];
  for (const error of problem.errors || []) {
    const input = fields[error.field];
    const slot = input && document.getElementById(`${input.id}-error`);
    if (slot) {
      slot.textContent = sentence(error.message);
      slot.hidden = false;
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    } else {
      rest.push(sentence(error.message));
    }
  }
  if (!problem.errors || problem.errors.length === 0) rest.push(sentence(problem.detail || "Something went wrong."));
  const count = (problem.errors || []).length - rest.length;
  const lines = [...(count > 0 ? [count === 1 ? "Please correct the field marked below." : "Please correct the fields marked below."] : []), ...rest];
  summary.textContent = lines.join(" ");
  summary.hidden = lines.length === 0;
  return first;
}

export function clearProblem(fields, summary) {
  for (const input of Object.values(fields)) {
    input.removeAttribute("aria-invalid");
    const slot = document.getElementById(`${input.id}-error`);
    if (slot) {
      slot.textContent = "";
      slot.hidden = true;
    }
  }
  summary.textContent = "";
  summary.hidden = true;
}

// --- the calendar and the day's times ----------------------------------------------------

/**
 * The month calendar (days with free times are buttons, marked; the others disabled) and the
 * chosen day's times (buttons). One Tab stop in the calendar: the chosen day, else the first
 * free one; the arrow keys move between free days (Page Up / Page Down: month). Announces
 * what it loaded and what was chosen in its live region.
 *
 * options: slotsUrl(start, end, zone) -> URL; zone; windowDays (how far ahead the event books);
 * onPick({start, day, label}) when a time is chosen; onReset() when the choice goes away.
 */
export class SlotPicker {
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.zone = options.zone;
    this.days = new Map(); // date -> [{start, hosts_available}] for the shown month
    this.selectedDay = null;
    this.selectedStart = null;
    this.request = 0;
    this.el = {
      prev: root.querySelector("#prev-month"),
      next: root.querySelector("#next-month"),
      title: root.querySelector("#month-title"),
      grid: root.querySelector("#days"),
      timesTitle: root.querySelector("#times-title"),
      slots: root.querySelector("#slot-list"),
      status: root.querySelector("#picker-status"),
    };
    this.el.prev.addEventListener("click", () => this.moveMonth(-1));
    this.el.next.addEventListener("click", () => this.moveMonth(1));
    this.el.grid.addEventListener("keydown", (event) => this.onGridKey(event));
    const today = todayIn(this.zone);
    [this.year, this.month] = today.split("-").map(Number);
  }

  /** Load the current month; on the first load, skip to the next month when this one has no free day. */
  async start() {
    await this.load();
    if (this.freeDays().length === 0 && !this.el.next.disabled && !this.failed) {
      await this.moveMonth(1, { announceEmpty: true });
    }
  }

  setZone(zone) {
    this.zone = zone;
    this.clearChoice();
    const today = todayIn(zone);
    const [y, m] = today.split("-").map(Number);
    if (this.year * 12 + this.month < y * 12 + m) [this.year, this.month] = [y, m];
    return this.load();
  }

  refresh() {
    return this.load({ keepDay: true });
  }

  clearChoice() {
    const had = this.selectedStart !== null;
    this.selectedDay = null;
    this.selectedStart = null;
    this.renderTimes();
    if (had && this.options.onReset) this.options.onReset();
  }

  freeDays() {
    return [...this.days.entries()].filter(([, slots]) => slots.length > 0).map(([day]) => day).sort();
  }

  bounds() {
    const today = todayIn(this.zone);
    const last = addDays(today, this.options.windowDays);
    return { today, last };
  }

  async moveMonth(delta, { announceEmpty = false, focusDay = null } = {}) {
    const index = this.year * 12 + (this.month - 1) + delta;
    this.year = Math.floor(index / 12);
    this.month = (index % 12) + 1;
    await this.load({ announceEmpty, focusDay });
  }

  monthRange() {
    const first = `${this.year}-${String(this.month).padStart(2, "0")}-01`;
    const lastOfMonth = addDays(formatIsoDate(new Date(Date.UTC(this.year, this.month, 1))), -1);
    return { first, lastOfMonth };
  }

  async load({ keepDay = false, announceEmpty = false, focusDay = null } = {}) {
    const ticket = ++this.request;
    const { today, last } = this.bounds();
    const { first, lastOfMonth } = this.monthRange();
    const start = first < today ? today : first;
    const end = lastOfMonth > last ? last : lastOfMonth;
    this.el.title.textContent = monthLabel(this.year, this.month);
    this.el.prev.disabled = first <= today;
    this.el.next.disabled = addDays(lastOfMonth, 1) > last;
    this.failed = false;
    if (!keepDay) this.clearChoice();
    this.root.setAttribute("aria-busy", "true");
    this.say("Loading free times\u2026");
    let days = new Map();
    if (start <= end) {
      const url = this.options.slotsUrl(start, end, this.zone);
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" } });
        if (ticket !== this.request) return;
        if (!response.ok) {
          const problem = await problemOf(response);
          throw new Error(problem.detail || `the server answered ${response.status}`);
        }
        const body = await response.json();
        if (ticket !== this.request) return;
        days = new Map(Object.entries(body.slots || {}));
      } catch (error) {
        if (ticket !== this.request) return;
        this.failed = true;
        this.days = new Map();
        this.renderGrid(focusDay);
        this.root.removeAttribute("aria-busy");
        this.say(`Could not load the free times (${error.message}). Try again in a moment.`);
        return;
      }
    }
    this.days = days;
    if (keepDay && this.selectedDay && !(this.days.get(this.selectedDay) || []).length) this.clearChoice();
    if (keepDay && this.selectedStart && !(this.days.get(this.selectedDay) || []).some((s) => s.start === this.selectedStart)) {
      this.selectedStart = null;
      if (this.options.onReset) this.options.onReset();
    }
    this.renderGrid(focusDay);
    this.renderTimes();
    this.root.removeAttribute("aria-busy");
    const free = this.freeDays().length;
    const month = monthLabel(this.year, this.month);
    if (free === 0) {
      this.say(`No free times in ${month}.${this.el.next.disabled ? "" : " Try the next month."}`);
    } else {
      this.say(`${free} ${free === 1 ? "day" : "days"} with free times in ${month}.`);
    }
    if (announceEmpty && free > 0) this.say(`No free times left this month; showing ${month}: ${free} ${free === 1 ? "day" : "days"} with free times.`);
  }

  renderGrid(focusDay = null) {
    const { first, lastOfMonth } = this.monthRange();
    const free = new Set(this.freeDays());
    const today = todayIn(this.zone);
    const tabStop = (this.selectedDay && free.has(this.selectedDay) && this.selectedDay) || [...free].sort()[0] || null;
    const rows = [];
    let row = document.createElement("tr");
    const offset = (parseDate(first).getUTCDay() + 6) % 7; // Monday first
    for (let i = 0; i < offset; i++) row.append(document.createElement("td"));
    for (let day = first; day <= lastOfMonth; day = addDays(day, 1)) {
      const cell = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "day";
      button.dataset.date = day;
      const number = Number(day.slice(8));
      button.textContent = String(number);
      const slots = this.days.get(day) || [];
      const isFree = free.has(day);
      const label = dayLabel(day);
      if (isFree) {
        button.classList.add("free");
        button.setAttribute("aria-label", `${label}, ${slots.length} free ${slots.length === 1 ? "time" : "times"}`);
        button.setAttribute("aria-pressed", String(day === this.selectedDay));
        button.tabIndex = day === tabStop ? 0 : -1;
        button.addEventListener("click", () => this.chooseDay(day));
      } else {
        button.disabled = true;
        button.setAttribute("aria-label", `${label}, no free times`);
      }
      if (day === today) button.setAttribute("aria-current", "date");
      cell.append(button);
      row.append(cell);
      if (row.children.length === 7) {
        rows.push(row);
        row = document.createElement("tr");
      }
    }
    if (row.children.length) {
      while (row.children.length < 7) row.append(document.createElement("td"));
      rows.push(row);
    }
    this.el.grid.replaceChildren(...rows);
    if (focusDay) {
      const target = this.dayButton(focusDay === "first" ? [...free][0] : focusDay === "last" ? [...free].pop() : focusDay);
      if (target) this.focusDay(target);
    }
  }

  dayButton(day) {
    return day ? this.el.grid.querySelector(`button.free[data-date="${day}"]`) : null;
  }

  focusDay(button) {
    for (const other of this.el.grid.querySelectorAll("button.free")) other.tabIndex = other === button ? 0 : -1;
    button.focus();
  }

  onGridKey(event) {
    const current = event.target.closest("button.free");
    if (!current) return;
    const free = this.freeDays();
    const day = current.dataset.date;
    const index = free.indexOf(day);
    let target = null;
    switch (event.key) {
      case "ArrowRight":
        target = free[index + 1];
        break;
      case "ArrowLeft":
        target = free[index - 1];
        break;
      case "ArrowDown": {
        const goal = addDays(day, 7);
        target = free.find((d) => d >= goal) || free[free.length - 1];
        break;
      }
      case "ArrowUp": {
        const goal = addDays(day, -7);
        target = [...free].reverse().find((d) => d <= goal) || free[0];
        break;
      }
      case "Home":
        target = free[0];
        break;
      case "End":
        target = free[free.length - 1];
        break;
      case "PageDown":
        if (!this.el.next.disabled) this.moveMonth(1, { focusDay: "first" });
        event.preventDefault();
        return;
      case "PageUp":
        if (!this.el.prev.disabled) this.moveMonth(-1, { focusDay: "last" });
        event.preventDefault();
        return;
      default:
        return;
    }
    event.preventDefault();
    const button = this.dayButton(target);
    if (button) this.focusDay(button);
  }

  chooseDay(day) {
    const changed = this.selectedDay !== day;
    this.selectedDay = day;
    if (changed && this.selectedStart !== null) {
      this.selectedStart = null;
      if (this.options.onReset) this.options.onReset();
    }
    for (const button of this.el.grid.querySelectorAll("button.free")) {
      button.setAttribute("aria-pressed", String(button.dataset.date === day));
    }
    const chosen = this.dayButton(day);
    if (chosen) this.focusDay(chosen);
    this.renderTimes();
    const count = (this.days.get(day) || []).length;
    this.say(`${dayLabel(day)}: ${count} free ${count === 1 ? "time" : "times"}, listed after the calendar.`);
  }

  renderTimes() {
    const slots = (this.selectedDay && this.days.get(this.selectedDay)) || [];
    this.el.timesTitle.textContent = this.selectedDay ? dayLabel(this.selectedDay) : "Choose a day";
    this.el.slots.replaceChildren(
      ...slots.map((slot) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "slot";
        button.dataset.start = slot.start;
        button.textContent = timeLabel(slot.start, this.zone);
        button.setAttribute("aria-pressed", String(slot.start === this.selectedStart));
        button.addEventListener("click", () => this.chooseTime(slot.start));
        item.append(button);
        return item;
      }),
    );
  }

  chooseTime(start) {
    this.selectedStart = start;
    for (const button of this.el.slots.querySelectorAll("button.slot")) {
      button.setAttribute("aria-pressed", String(button.dataset.start === start));
    }
    const label = `${dayLabel(this.selectedDay, true)}, ${timeLabel(start, this.zone)}`;
    this.say(`Chosen: ${label}.`);
    this.options.onPick({ start, day: this.selectedDay, label });
  }

  /** Focus the chosen time (or the first), e.g. when the visitor wants to change it. */
  focusTimes() {
    const button =
      this.el.slots.querySelector('button.slot[aria-pressed="true"]') || this.el.slots.querySelector("button.slot");
    if (button) button.focus();
    else this.el.timesTitle.focus();
  }

  say(text) {
    this.el.status.textContent = text;
  }
}
