// The event's booking page (/book/{org}/{slug}): choose a day and a time in your time zone,
// give your name and email, book; then the booking's page. Plain ES module.

import {
  SlotPicker, chooseZone, clearProblem, detectZone, rangeLabel, sendJson, showProblem, zoneLabel,
} from "./booking-calendar.js";

const data = JSON.parse(document.getElementById("page-data").textContent);
const $ = (id) => document.getElementById(id);

// Relative to this page (/book/{org}/{slug}): the page works under a path prefix too.
const eventPath = encodeURIComponent(data.slug);
const slotsUrl = (start, end, zone) =>
  new URL(`./${eventPath}/slots?${new URLSearchParams({ start, end, time_zone: zone })}`, location.href);
const bookUrl = new URL(`./${eventPath}`, location.href);
const bookingPage = (token, just) => new URL(`../../bookings/${encodeURIComponent(token)}?just=${just}`, location.href);

const zoneSelect = $("time-zone");
let zone = chooseZone(zoneSelect, detectZone());
const details = $("details");
const form = $("booking-form");
const summary = $("form-error");
const fields = { name: $("name"), email: $("email"), phone: $("phone"), timeZone: zoneSelect };
const bookButton = $("book-button");
let chosen = null;


const picker = new SlotPicker(document.querySelector("#choose .picker"), {
  zone,
  windowDays: data.bookingWindowDays,
  slotsUrl,
  onPick(slot) {
    chosen = slot;
    $("chosen-time").textContent = `${rangeLabel(slot.start, endOf(slot.start), zone)} (${zoneLabel(zone)})`;
    details.hidden = false;
    clearProblem(fields, summary);
    fields.name.focus();
  },
  onReset() {
    chosen = null;
    details.hidden = true;
  },
});

function endOf(start) {
  return new Date(new Date(start).getTime() + data.durationMinutes * 60_000).toISOString();
}

zoneSelect.addEventListener("change", () => {
  zone = zoneSelect.value;
  picker.setZone(zone);
});

$("change-time").addEventListener("click", () => picker.focusTimes());

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!chosen) {
    picker.focusTimes();
    return;
  }
  clearProblem(fields, summary);
  bookButton.disabled = true;
  bookButton.textContent = "Booking\u2026";
  form.setAttribute("aria-busy", "true");
  const body = {
    dateTime: chosen.start,
    timeZone: zone,
    name: fields.name.value,
    email: fields.email.value,
  };
  if (fields.phone.value.trim()) body.phone = fields.phone.value;
  const answer = await sendJson(bookUrl, body);
  if (answer.ok) {
    location.assign(bookingPage(answer.body.token, "booked"));
    return;
  }
  form.removeAttribute("aria-busy");
  bookButton.disabled = false;
  bookButton.textContent = "Book";
  const problem = answer.problem;
  const timeGone = (problem.errors || []).some((e) => e.field === "dateTime");
  if (timeGone) {
    // Taken meanwhile (409), or no longer offered (too soon now): the day's times again.
    const text = answer.status === 409
      ? "Sorry, that time was just taken. Please choose another time."
      : "That time can no longer be booked. Please choose another time.";
    await picker.refresh();
    picker.say(text);
    if (!details.hidden) {
      summary.textContent = text;
      summary.hidden = false;
    }
    picker.focusTimes();
    return;
  }
  const first = showProblem(problem, fields, summary);
  (first || summary).focus();
});

picker.start();
document.querySelector("main").removeAttribute("aria-busy");
