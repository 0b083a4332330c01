"""The public booking pages in a real browser (Debian's chromium through Playwright) against a
real `callgrid serve`: hosts in New York, a visitor in Kolkata (a half-hour zone, 10:30 or
9:30 ahead) books, sees the confirmation, downloads the .ics, reschedules and cancels; and a
second visitor books using only the keyboard. Everything the pages did is checked again
through the event-calls API with the organization's key. Each page leaves a screenshot in
tests/artifacts/.

The server runs on the real clock, so the days and times are read from the management API's
slots at the time of the test and compared with what the page shows.
"""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from tests.support.servers import Served, callgrid_env
from tests.web.conftest import ARTIFACTS

# slow: a server process, a browser. The module's tests share its server (module-scoped
# fixtures): they go to one test process (xdist_group), which starts it once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web-booking-pages")]

VISITOR_ZONE = "Asia/Kolkata"
KOLKATA = ZoneInfo(VISITOR_ZONE)
WEEKDAYS_9_TO_5 = {d: [{"start": "09:00", "end": "17:00"}] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("booking-pages")
    served = Served(callgrid_env(f"sqlite+aiosqlite:///{folder / 'callgrid.db'}"), log=folder / "serve.log")
    assert served.first_key
    yield served
    served.stop()


async def visit(pages, label: str, url: str):
    """A page in a browser context of its own in Kolkata (English as written in Britain: 24-hour
    times), kept by `pages` for its screenshot at the end and its uncaught errors."""
    context = await pages.browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id=VISITOR_ZONE, locale="en-GB", accept_downloads=True
    )
    context.set_default_timeout(20_000)
    page = await context.new_page()
    page.on("pageerror", lambda error: pages.errors.append(f"{label}: {error}"))
    pages.opened.append((label, context, page))
    await page.goto(url)
    return page


async def setup_event(server, slug: str, title: str, hosts: list[str]) -> dict:
    """Hosts in New York working 09:00-17:00 on weekdays, and a 30-minute event type they take."""
    async with server.client(server.first_key) as api:
        ids = []
        for name in hosts:
            r = await api.post("/api/v1/hosts", json={
                "name": name, "email": f"{name.lower()}@example.com", "timezone": "America/New_York",
                "working_hours": WEEKDAYS_9_TO_5,
            })
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        r = await api.post("/api/v1/event-types", json={
            "title": title, "slug": slug, "duration_minutes": 30,
            "description": "A first conversation.\nBring your questions.",
            "hosts": [{"host_id": ids[0], "priority": "high"}] + [{"host_id": i} for i in ids[1:]],
        })
        assert r.status_code == 201, r.text
        return r.json()


async def api_slots(server, event: dict, first: date, last: date, zone: str = VISITOR_ZONE) -> dict[str, list[str]]:
    async with server.client(server.first_key) as api:
        r = await api.get(f"/api/v1/event-types/{event['id']}/slots",
                          params={"start": first.isoformat(), "end": last.isoformat(), "time_zone": zone})
        assert r.status_code == 200, r.text
        return {day: [s["start"] for s in slots] for day, slots in r.json()["slots"].items()}


async def screenshot(pages, page, label: str) -> None:
    """The whole page (not only the viewport) in tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{pages.name}-{label}.png"), full_page=True)


async def booking_by_token(server, token: str) -> dict:
    """The event-calls API's view of the booking whose manage token is `token`."""
    async with server.client(server.first_key) as api:
        for number in range(1, 50):
            r = await api.get(f"/v1/eventCalls/{number}")
            if r.status_code == 404:
                break
            data = r.json()["data"]["eventCall"]["data"]
            if data["token"] == token:
                return data
    raise AssertionError(f"no booking with token {token}")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def local_time(text: str) -> str:
    """A UTC slot start as the page must show it to the visitor: 24-hour time in Kolkata."""
    return instant(text).astimezone(KOLKATA).strftime("%H:%M")


def local_range(start: str, minutes: int = 30) -> str:
    begin = instant(start).astimezone(KOLKATA)
    return f"{begin:%H:%M} \u2013 {begin + timedelta(minutes=minutes):%H:%M}"


def local_day(start: str) -> str:
    at = instant(start).astimezone(KOLKATA)
    return f"{at.day} {at:%B} {at.year}"


async def calendar_days(page) -> list[tuple[str, bool]]:
    return await page.eval_on_selector_all(
        "#days button.day", "buttons => buttons.map(b => [b.dataset.date, b.classList.contains('free')])"
    )


async def shown_slots(page) -> list[tuple[str, str]]:
    return await page.eval_on_selector_all(
        "#slot-list button.slot", "buttons => buttons.map(b => [b.dataset.start, b.textContent])"
    )


async def assert_calendar_matches_api(server, event, page, zone: str = VISITOR_ZONE) -> dict[str, list[str]]:
    """The month shown marks exactly the days the API has free times for in `zone`."""
    await page.wait_for_selector("#days button.day.free")
    days = await calendar_days(page)
    shown = [day for day, _ in days]
    today = datetime.now(ZoneInfo(zone)).date()
    first = max(date.fromisoformat(shown[0]), today)
    slots = await api_slots(server, event, first, date.fromisoformat(shown[-1]), zone)
    free = {day for day, is_free in days if is_free}
    assert free == {day for day, starts in slots.items() if starts}, (free, slots)
    assert free, "some free days are marked"
    weekdays = {date.fromisoformat(day).weekday() for day in free}
    if zone == VISITOR_ZONE:
        # Kolkata's Sunday begins on Saturday afternoon in New York: never a free time then
        # (its Saturday holds the end of Friday's hours in New York).
        assert 6 not in weekdays
    else:
        assert not weekdays & {5, 6}  # in New York itself: weekdays only
    return slots


async def test_a_visitor_in_kolkata_books_reschedules_and_cancels(server, pages):
    event = await setup_event(server, "intro-call", "Intro call", ["Alice", "Bob"])
    page = await visit(pages, "visitor", event["booking_url"])

    # The event, and the calendar in the visitor's detected zone.
    await page.wait_for_selector("h1:has-text('Intro call')")
    assert await page.locator(".duration").text_content() == "Duration: 30 minutes"
    assert "Bring your questions." in await page.locator(".description").inner_text()
    # Chromium reports Asia/Calcutta (an older name of the zone): the page shows today's name.
    assert await page.locator("#time-zone").input_value() == "Asia/Kolkata"
    slots = await assert_calendar_matches_api(server, event, page)
    assert "with free times in" in await page.locator("#picker-status").inner_text()
    # Another zone marks that zone's days; back to Kolkata.
    await page.select_option("#time-zone", "America/New_York")
    await page.wait_for_function("() => !document.querySelector('.picker').hasAttribute('aria-busy')")
    await assert_calendar_matches_api(server, event, page, "America/New_York")
    await page.select_option("#time-zone", VISITOR_ZONE)
    await page.wait_for_function("() => !document.querySelector('.picker').hasAttribute('aria-busy')")
    assert await assert_calendar_matches_api(server, event, page) == slots

    # A day, then a time: shown in Kolkata's wall time.
    day = sorted(d for d, starts in slots.items() if len(starts) >= 3)[0]
    await page.click(f'#days button.free[data-date="{day}"]')
    assert await page.get_attribute(f'#days button[data-date="{day}"]', "aria-pressed") == "true"
    await page.wait_for_selector("#slot-list button.slot")
    listed = await shown_slots(page)
    assert [start for start, _ in listed] == slots[day]
    for start, text in listed:
        assert text == local_time(start), (start, text)
    start, text = listed[1]
    await page.click(f'#slot-list button[data-start="{start}"]')
    await page.wait_for_selector("#details:not([hidden])")
    chosen = await page.locator("#chosen-time").inner_text()
    assert local_range(start) in chosen and local_day(start) in chosen and "(Asia/Kolkata)" in chosen, chosen
    assert await page.evaluate("document.activeElement.id") == "name"

    # A wrong email is refused beside the field; then the booking.
    await page.get_by_label("Name").fill("Ada Lovelace")
    await page.get_by_label("Email").fill("ada@")
    await page.get_by_label("Phone (optional)").fill("+1 415 555 0123")
    await page.get_by_role("button", name="Book", exact=True).click()
    await page.wait_for_selector("#email-error:not([hidden])")
    assert "email address" in await page.locator("#email-error").inner_text()
    assert await page.get_attribute("#email", "aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.id") == "email"
    await page.get_by_label("Email").fill("ada@example.com")
    await screenshot(pages, page, "booking-page")
    await page.get_by_role("button", name="Book", exact=True).click()

    # The confirmation.
    await page.wait_for_url(re.compile(r"/bookings/[A-Za-z0-9_-]+\?just=booked$"))
    await page.wait_for_selector("h1:has-text('Your booking is confirmed')")
    token = re.search(r"/bookings/([A-Za-z0-9_-]+)", page.url).group(1)
    when = await page.locator("#when").inner_text()
    assert local_range(start) in when and local_day(start) in when, when
    assert await page.locator("#status").inner_text() == "Confirmed"
    assert await page.locator("#host").inner_text() == "Alice"  # the high-priority host
    assert await page.locator("#invitee").inner_text() == "ada@example.com"
    await screenshot(pages, page, "confirmation")
    booked = await booking_by_token(server, token)
    assert (booked["startTime"], booked["bookingStatus"], booked["closerName"]) == (start, "confirmed", "Alice")
    assert booked["timeZone"] == "Asia/Kolkata"
    assert booked["guestEmail"] == "ada@example.com"
    assert await page.get_attribute("#join-link", "href") == booked["joinUrl"]
    await page.select_option("#time-zone", "America/New_York")
    new_york = instant(start).astimezone(ZoneInfo("America/New_York"))
    assert f"{new_york:%H:%M} \u2013" in await page.locator("#when").inner_text()
    await page.select_option("#time-zone", VISITOR_ZONE)
    assert local_range(start) in await page.locator("#when").inner_text()

    # Add to calendar: the .ics, parsed.
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Add to calendar").click()
    download = await downloading.value
    assert download.suggested_filename == "intro-call.ics"
    calendar = icalendar.Calendar.from_ical(open(await download.path(), "rb").read())
    [vevent] = calendar.walk("VEVENT")
    assert vevent["dtstart"].dt == instant(start)
    assert vevent["dtend"].dt == instant(start) + timedelta(minutes=30)
    assert str(vevent["summary"]) == "Intro call with Alice"
    assert str(vevent["url"]) == str(vevent["location"]) == booked["joinUrl"]
    assert str(vevent["organizer"]) == "mailto:alice@example.com"
    assert str(vevent["status"]) == "CONFIRMED"
    assert booked["joinUrl"] in str(vevent["description"])

    # Reschedule to another time of the same calendar.
    await page.get_by_role("button", name="Reschedule").click()
    await page.wait_for_selector("#reschedule:not([hidden]) #days button.day.free")
    assert await page.get_attribute("#reschedule-open", "aria-expanded") == "true"
    await page.click(f'#days button.free[data-date="{day}"]')
    await page.wait_for_selector("#slot-list button.slot")
    rescheduled_listed = await shown_slots(page)
    new_start, new_text = rescheduled_listed[-1]
    assert new_start != start and new_text == local_time(new_start)
    await page.click(f'#slot-list button[data-start="{new_start}"]')
    assert local_range(new_start) in await page.locator("#new-time").inner_text()
    await page.get_by_role("button", name="Move my booking").click()
    await page.wait_for_url(re.compile(r"/bookings/[A-Za-z0-9_-]+\?just=rescheduled$"))
    await page.wait_for_selector("h1:has-text('Your booking was moved')")
    new_token = re.search(r"/bookings/([A-Za-z0-9_-]+)", page.url).group(1)
    assert new_token != token
    assert local_range(new_start) in await page.locator("#when").inner_text()
    assert await page.locator("#old-booking").get_attribute("href") == booked["confirmationLink"]
    await screenshot(pages, page, "rescheduled")
    old = await booking_by_token(server, token)
    new = await booking_by_token(server, new_token)
    assert (old["bookingStatus"], old["rescheduledToId"]) == ("rescheduled", new["id"])
    assert (new["bookingStatus"], new["startTime"], new["rescheduledFromId"]) == ("confirmed", new_start, old["id"])

    # The old booking's page says so and leads to the new one.
    old_page = await visit(pages, "old-booking", booked["confirmationLink"])
    await old_page.wait_for_selector("h1:has-text('This booking was moved to another time')")
    assert await old_page.locator("#status").inner_text() == "Rescheduled"
    assert await old_page.locator("#new-booking").get_attribute("href") == new["confirmationLink"]
    assert await old_page.locator("#actions").is_hidden()

    # Cancel with a reason.
    await page.get_by_role("button", name="Cancel booking").first.click()
    await page.wait_for_selector("#cancel:not([hidden])")
    await page.get_by_label("Reason").fill("Something came up")
    await page.locator("#cancel-confirm").click()
    await page.wait_for_selector("h1:has-text('This booking was cancelled')")
    assert await page.locator("#status").inner_text() == "Cancelled"
    assert await page.locator("#cancel-reason").inner_text() == "Reason given: Something came up"
    assert await page.locator("#actions").is_hidden()
    assert await page.locator("#join-link").count() == 0
    await screenshot(pages, page, "cancelled")
    cancelled = await booking_by_token(server, new_token)
    assert (cancelled["bookingStatus"], cancelled["cancelReason"]) == ("cancelled", "Something came up")


async def test_the_pages_helpers_in_the_browser(server, pages):
    """booking-calendar.js on its own, in a 12-hour language (American English): times and
    dates in a given zone, calendar dates across month and leap-year ends, today in a zone,
    the zone select's choice of today's name for an older one, and problem details in a form."""
    context = await pages.browser.new_context(timezone_id="Asia/Kolkata", locale="en-US")
    page = await context.new_page()
    pages.opened.append(("helpers", context, page))
    page.on("pageerror", lambda error: pages.errors.append(f"helpers: {error}"))
    await page.goto(f"{server.base_url}/book/nobody/nothing")  # any page of the server: the module's origin
    result = await page.evaluate(
        """async () => {
      const m = await import("/static/booking-calendar.js");
      const select = document.createElement("select");
      for (const name of ["America/New_York", "Asia/Kolkata", "UTC"]) select.append(new Option(name, name));
      const other = document.createElement("select");
      other.append(new Option("UTC", "UTC"));
      const form = document.createElement("form");
      form.innerHTML = '<input id="email"><p id="email-error" hidden></p><div id="summary" hidden></div>';
      document.body.append(form);
      const email = form.querySelector("#email"), summary = form.querySelector("#summary");
      const first = m.showProblem({status: 400, detail: "email: bad", errors: [
        {field: "email", message: "must be an email address"}, {field: "dateTime", message: "too soon"}]}, {email}, summary);
      const shown = [first === email, email.getAttribute("aria-invalid"), form.querySelector("#email-error").textContent, summary.textContent];
      m.clearProblem({email}, summary);
      return {
        detected: m.detectZone(),
        chosen: m.chooseZone(select, m.detectZone()),
        added: [m.chooseZone(other, "Asia/Calcutta"), [...other.options].map((o) => o.value)],
        times: [m.timeLabel("2030-01-02T14:00:00.000Z", "Asia/Kolkata"), m.timeLabel("2030-01-02T14:00:00.000Z", "America/New_York"),
                m.timeLabel("2030-01-01T18:30:00.000Z", "Asia/Kolkata")],
        range: m.rangeLabel("2030-01-02T14:00:00.000Z", "2030-01-02T14:30:00.000Z", "Asia/Kolkata"),
        dates: [m.addDays("2028-02-28", 1), m.addDays("2030-12-31", 1), m.addDays("2030-03-01", -1), m.dayLabel("2030-01-05", true)],
        today: [m.todayIn("Asia/Kolkata", new Date("2030-01-01T18:29:00Z")), m.todayIn("Asia/Kolkata", new Date("2030-01-01T18:30:00Z")),
                m.todayIn("Pacific/Kiritimati", new Date("2030-01-01T10:00:00Z"))],
        month: m.monthLabel(2030, 12),
        shown,
        cleared: [email.hasAttribute("aria-invalid"), summary.hidden],
      };
    }"""
    )
    assert result["detected"] == "Asia/Calcutta"  # what Chromium reports
    assert result["chosen"] == "Asia/Kolkata"  # the option of today's name
    assert result["added"] == ["Asia/Calcutta", ["Asia/Calcutta", "UTC"]]  # no option for it: added
    # 12-hour times without a leading zero (ICU puts a narrow no-break space before PM).
    assert [t.replace("\u202f", " ") for t in result["times"]] == ["7:30 PM", "9:00 AM", "12:00 AM"]
    assert result["range"].replace("\u202f", " ") == "Wednesday, January 2, 2030, 7:30 PM \u2013 8:00 PM"
    assert result["dates"] == ["2028-02-29", "2031-01-01", "2030-02-28", "Saturday, January 5, 2030"]
    assert result["today"] == ["2030-01-01", "2030-01-02", "2030-01-02"]
    assert result["month"] == "December 2030"
    assert result["shown"] == [True, "true", "Must be an email address.", "Please correct the field marked below. Too soon."]
    assert result["cleared"] == [False, True]


async def test_unknown_pages_are_a_404_page(server, pages):
    page = await visit(pages, "not-found", f"{server.base_url}/book/nobody/nothing")
    assert await page.locator("h1").inner_text() == "This booking page does not exist"
    response = await page.goto(f"{server.base_url}/bookings/not-a-token")
    assert response.status == 404
    assert await page.locator("h1").inner_text() == "No such booking"


async def tab_to(page, selector: str, presses: int = 80) -> None:
    """Press Tab until the focused element matches `selector`."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


async def focus_ring(page) -> str:
    return await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")


async def test_booking_with_the_keyboard_only(server, pages):
    event = await setup_event(server, "keyboard-call", "Keyboard call", ["Carol"])
    page = await visit(pages, "keyboard-visitor", event["booking_url"])
    slots = await assert_calendar_matches_api(server, event, page)
    free_days = sorted(d for d, starts in slots.items() if starts)

    # One Tab stop in the calendar (the first free day); the arrow keys move between free days.
    await tab_to(page, "#days button.day.free")
    assert await page.evaluate("document.activeElement.dataset.date") == free_days[0]
    assert await focus_ring(page) == "solid"
    await page.keyboard.press("End")
    assert await page.evaluate("document.activeElement.dataset.date") == free_days[-1]
    await page.keyboard.press("Home")
    target = free_days[1] if len(free_days) > 1 else free_days[0]
    if len(free_days) > 1:
        await page.keyboard.press("ArrowRight")
    assert await page.evaluate("document.activeElement.dataset.date") == target
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f'#days button[data-date="{target}"][aria-pressed="true"]')
    assert f"free {'time' if len(slots[target]) == 1 else 'times'}" in await page.locator("#picker-status").inner_text()

    # The first time, with Space; the form gets the focus.
    await tab_to(page, "#slot-list button.slot")
    start = await page.evaluate("document.activeElement.dataset.start")
    assert start == slots[target][0]
    assert await page.evaluate("document.activeElement.textContent") == local_time(start)
    await page.keyboard.press("Space")
    await page.wait_for_selector("#details:not([hidden])")
    assert await page.evaluate("document.activeElement.id") == "name"
    await page.keyboard.type("Grace Hopper")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "email"
    await page.keyboard.type("grace@example.com")
    await tab_to(page, "#book-button", presses=3)
    assert await focus_ring(page) == "solid"
    await page.keyboard.press("Enter")

    await page.wait_for_url(re.compile(r"/bookings/[A-Za-z0-9_-]+\?just=booked$"))
    await page.wait_for_selector("h1:has-text('Your booking is confirmed')")
    token = re.search(r"/bookings/([A-Za-z0-9_-]+)", page.url).group(1)
    assert local_range(start) in await page.locator("#when").inner_text()
    await screenshot(pages, page, "keyboard-confirmation")
    booked = await booking_by_token(server, token)
    assert (booked["startTime"], booked["closerName"], booked["guestEmail"]) == (start, "Carol", "grace@example.com")

    # Cancelling works from the keyboard too: the panel opens, takes a reason, confirms.
    await tab_to(page, "#cancel-open")
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "cancel-title"
    await tab_to(page, "#reason", presses=3)
    await page.keyboard.type("Wrong day")
    await tab_to(page, "#cancel-confirm", presses=3)
    await page.keyboard.press("Space")
    await page.wait_for_selector("h1:has-text('This booking was cancelled')")
    cancelled = await booking_by_token(server, token)
    assert (cancelled["bookingStatus"], cancelled["cancelReason"]) == ("cancelled", "Wrong day")
