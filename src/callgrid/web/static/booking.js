// A booking's page (/bookings/{token}): its time in the visitor's time zone, and, while it can
// still change, reschedule (the same calendar as the booking page) and cancel. Plain ES module.

import {
  SlotPicker, chooseZone, clearProblem, detectZone, rangeLabel, sendJson, showProblem, zoneLabel,
} from "./booking-calendar.js";

const data = JSON.parse(document.getElementById("page-data").textContent);
const $ = (id) => document.getElementById(id);

// Relative to this page (/bookings/{token}): the page works under a path prefix too.
const token = encodeURIComponent(data.token);
const cancelUrl = new URL(`./${token}/cancel`, location.href);
const rescheduleUrl = new URL(`./${token}/reschedule`, location.href);
const slotsUrl = (start, end, zone) =>
  new URL(
    `../book/${encodeURIComponent(data.organization)}/${encodeURIComponent(data.slug)}/slots?${new URLSearchParams({ start, end, time_zone: zone })}`,
    location.href,
  );
const bookingPage = (newToken, just) => new URL(`./${encodeURIComponent(newToken)}?just=${just}`, location.href);

const zoneSelect = $("time-zone");
let zone = chooseZone(zoneSelect, detectZone());
const when = $("when");
const status = $("page-status");

function showWhen() {
  when.textContent = `${rangeLabel(data.startTime, data.endTime, zone)} (${zoneLabel(zone)})`;
}

showWhen();
zoneSelect.addEventListener("change", () => {
  zone = zoneSelect.value;
  showWhen();
  status.textContent = `Times are now shown in ${zoneLabel(zone)}.`;
  if (picker) picker.setZone(zone);
});

// --- open one panel at a time ---------------------------------------------------------------

const panels = {
  reschedule: { button: $("reschedule-open"), section: $("reschedule"), heading: $("reschedule-title") },
  cancel: { button: $("cancel-open"), section: $("cancel"), heading: $("cancel-title") },
};
let picker = null;

function toggle(name) {
  for (const [other, panel] of Object.entries(panels)) {
    const open = other === name && panel.section.hidden;
    panel.section.hidden = !open;
    panel.button.setAttribute("aria-expanded", String(open));
    if (open) {
      if (other === "reschedule" && !picker) startPicker();
      panel.heading.focus();
    }
  }
}

panels.reschedule.button.addEventListener("click", () => toggle("reschedule"));
panels.cancel.button.addEventListener("click", () => toggle("cancel"));
$("cancel-back").addEventListener("click", () => {
  toggle(null);
  panels.cancel.button.focus();
});

// --- reschedule -------------------------------------------------------------------------------

const confirmButton = $("reschedule-confirm");
const newTime = $("new-time");
const rescheduleError = $("reschedule-error");
let chosen = null;

function startPicker() {
  picker = new SlotPicker(document.querySelector("#reschedule .picker"), {
    zone,
    windowDays: data.bookingWindowDays,
    slotsUrl,
    onPick(slot) {
      chosen = slot;
      const end = new Date(new Date(slot.start).getTime() + data.durationMinutes * 60_000).toISOString();
      newTime.textContent = `New time: ${rangeLabel(slot.start, end, zone)} (${zoneLabel(zone)})`;
      newTime.hidden = false;
      rescheduleError.hidden = true;
      confirmButton.disabled = false;
      confirmButton.focus();
    },
    onReset() {
      chosen = null;
      newTime.hidden = true;
      confirmButton.disabled = true;
    },
  });
  picker.start();
}

confirmButton.addEventListener("click", async () => {
  if (!chosen) return;
  confirmButton.disabled = true;
  confirmButton.textContent = "Moving\u2026";
  const answer = await sendJson(rescheduleUrl, { dateTime: chosen.start });
  if (answer.ok) {
    location.assign(bookingPage(answer.body.token, "rescheduled"));
    return;
  }
  confirmButton.textContent = "Move my booking";
  const problem = answer.problem;
  if ((problem.errors || []).some((e) => e.field === "dateTime")) {
    rescheduleError.textContent = answer.status === 409
      ? "Sorry, that time was just taken. Please choose another time."
      : "That time can no longer be booked. Please choose another time.";
    await picker.refresh();
  } else {
    showProblem(problem, {}, rescheduleError);
  }
  rescheduleError.hidden = false;
  confirmButton.disabled = !chosen;
  rescheduleError.focus();
});

// --- cancel -----------------------------------------------------------------------------------

const cancelForm = $("cancel-form");
const cancelError = $("cancel-error");
const cancelFields = { reason: $("reason") };

cancelForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearProblem(cancelFields, cancelError);
  const submit = $("cancel-confirm");
  submit.disabled = true;
  submit.textContent = "Cancelling\u2026";
  const reason = cancelFields.reason.value.trim();
  const answer = await sendJson(cancelUrl, reason ? { reason } : {});
  if (answer.ok) {
    location.replace(new URL(`./${token}`, location.href));
    return;
  }
  submit.disabled = false;
  submit.textContent = "Cancel booking";
  const first = showProblem(answer.problem, cancelFields, cancelError);
  (first || cancelError).focus();
});

$("heading").focus({ preventScroll: true });
