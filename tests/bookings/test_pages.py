"""The public booking pages in this process (callgrid.bookings.pages): no API key. The pages'
HTML (what the server writes, escaped; 404 pages), the JSON they use (slots as the management
API gives them, booking, cancel, reschedule: answers and problem details naming the field),
the .ics, and the OpenAPI document. The browser's side is tests/web/test_booking_pages.py.

The app's clock stands still at NOW (2030-01-01 12:00 UTC, a Tuesday)."""

from datetime import UTC, datetime

import icalendar
import pytest

from tests.bookings.conftest import WEEKDAYS_9_TO_5, add_event_type, add_host
from tests.support.problems import assert_problem
from tests.support.tenants import client
from tests.support.time import NOW

PUBLIC_URL = "http://callgrid.test"


@pytest.fixture(autouse=True)
def frozen(app):
    app.state.clock = lambda: NOW


@pytest.fixture
async def visitor(app):
    async with client(app) as anonymous:
        yield anonymous


@pytest.fixture
async def event(tenant):
    """Two hosts in New York, 09:00-17:00 on weekdays; a 30-minute event with a description."""
    alice = await add_host(tenant, "Alice", timezone="America/New_York", working_hours=WEEKDAYS_9_TO_5)
    bob = await add_host(tenant, "Bob", timezone="America/New_York", working_hours=WEEKDAYS_9_TO_5)
    return await add_event_type(
        tenant, [alice, bob], title="Intro <call>", slug="intro",
        description="First line & more\nsecond line\n\nA new paragraph.",
    )


def path(event: dict) -> str:
    return f"/book/{event['link_prefix']}"


def form(**fields) -> dict:
    return {"dateTime": "2030-01-02T15:00:00.000Z", "timeZone": "Asia/Kolkata", "name": "Ada Lovelace",
            "email": "ada@example.com", **fields}


async def booked(visitor, event, **fields) -> dict:
    r = await visitor.post(path(event), json=form(**fields))
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_event_page_shows_the_event_escaped(visitor, event):
    r = await visitor.get(path(event))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    page = r.text
    assert "<h1 id=\"event-title\">Intro &lt;call&gt;</h1>" in page
    assert "<p>First line &amp; more<br>second line</p>\n<p>A new paragraph.</p>" in page
    assert "30 minutes" in page
    assert '<label for="time-zone">Time zone</label>' in page
    assert '<script type="module" src="../../static/book.js">' in page
    assert '"slug": "intro"' in page and '"bookingWindowDays": 60' in page
    assert "Intro <call>" not in page  # nowhere unescaped, the page data included
    for asset in ("book.js", "booking-calendar.js", "booking.css"):
        served = await visitor.get(f"/static/{asset}")
        assert served.status_code == 200 and len(served.content) > 500, asset


async def test_unknown_or_deleted_events_are_a_404_page(visitor, tenant, event):
    for url in ("/book/acme/nope", "/book/nobody/intro", path(event) + "x"):
        r = await visitor.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"].startswith("text/html")
        assert "This booking page does not exist" in r.text
    assert (await tenant.client.delete(f"/api/v1/event-types/{event['id']}")).status_code == 204
    r = await visitor.get(path(event))
    assert r.status_code == 404 and "This booking page does not exist" in r.text
    assert_problem(await visitor.get(path(event) + "/slots", params={"start": "2030-01-02", "end": "2030-01-02"}), 404, "slug")
    assert_problem(await visitor.post(path(event), json=form()), 404, "slug")


async def test_slots_are_the_management_apis(visitor, tenant, event):
    params = {"start": "2030-01-01", "end": "2030-01-31", "time_zone": "Asia/Kolkata"}
    public = await visitor.get(path(event) + "/slots", params=params)
    managed = await tenant.client.get(f"/api/v1/event-types/{event['id']}/slots", params=params)
    assert public.status_code == managed.status_code == 200
    assert public.json() == managed.json()
    days = public.json()["slots"]
    # New York's 09:00-17:00 (14:00-22:00 UTC) is 19:30-03:30 in Kolkata: Wednesday there
    # holds the end of Tuesday's hours (00:00-03:00) and the start of Wednesday's (19:30-23:30).
    wednesday = [s["start"] for s in days["2030-01-02"]]
    assert wednesday[:8] == [f"2030-01-01T{h}:00.000Z" for h in ("18:30", "19:00", "19:30", "20:00", "20:30", "21:00", "21:30")] + [
        "2030-01-02T14:00:00.000Z"]
    assert wednesday[-1] == "2030-01-02T18:00:00.000Z" and len(wednesday) == 16
    assert days["2030-01-02"][0]["hosts_available"] == 2
    assert days["2030-01-03"][0]["start"] == "2030-01-02T18:30:00.000Z"
    assert len(days["2030-01-05"]) == 7 and days["2030-01-06"] == []  # Saturday: Friday's tail; Sunday: nothing
    assert_problem(await visitor.get(path(event) + "/slots", params={**params, "end": "2030-03-01"}), 400, "end")
    assert_problem(await visitor.get(path(event) + "/slots", params={**params, "time_zone": "Mars/Base"}), 400, "time_zone")


async def test_booking_through_the_page_json(visitor, tenant, event):
    answer = await booked(visitor, event, phone="+1 415 555 0123")
    token = answer["token"]
    assert answer["url"] == f"{PUBLIC_URL}/bookings/{token}"
    assert answer["calendarUrl"] == f"{PUBLIC_URL}/bookings/{token}.ics"
    assert answer["status"] == "confirmed"
    assert (answer["startTime"], answer["endTime"]) == ("2030-01-02T15:00:00.000Z", "2030-01-02T15:30:00.000Z")
    assert answer["timeZone"] == "Asia/Kolkata"
    assert answer["event"] == {"title": "Intro <call>", "description": event["description"], "durationMinutes": 30,
                               "bookingUrl": f"{PUBLIC_URL}/book/{event['link_prefix']}"}
    assert answer["hostName"] == "Alice"
    assert answer["inviteeEmail"] == "ada@example.com"
    assert answer["joinUrl"].startswith(f"{PUBLIC_URL}/rooms/")
    assert answer["redirectUrl"] == answer["url"]
    # The same booking through the event-calls API, with the invitee split into first and last name.
    api = (await tenant.client.get("/v1/eventCalls/1")).json()["data"]["eventCall"]["data"]
    assert (api["token"], api["startTime"], api["bookingStatus"], api["closerName"]) == (
        token, "2030-01-02T15:00:00.000Z", "confirmed", "Alice")
    assert api["joinUrl"] == answer["joinUrl"]
    contact = (await tenant.client.get("/api/v1/contacts")).json()["items"][0]
    assert (contact["first_name"], contact["last_name"], contact["phone"]) == ("Ada", "Lovelace", "+14155550123")

    # Its page: the details, written in the booking's zone until the script shows the visitor's.
    page = await visitor.get(f"/bookings/{token}", params={"just": "booked"})
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    assert "Your booking is confirmed" in page.text
    assert "Wednesday 2 January 2030, 20:30\u201321:00 (Asia/Kolkata)" in page.text
    assert 'datetime="2030-01-02T15:00:00.000Z" data-end="2030-01-02T15:30:00.000Z"' in page.text
    assert '<dd id="host">Alice</dd>' in page.text and "ada@example.com" in page.text
    assert f'href="./{token}.ics"' in page.text and "Join the call" in page.text
    assert '<section id="actions" class="actions" aria-label="Manage this booking" >' in page.text


async def test_form_errors_name_the_field(visitor, tenant, event):
    cases = [
        (form(name="   "), 400, "name"),
        (form(email="not-an-email"), 400, "email"),
        (form(phone="555 0123"), 400, "phone"),  # no country code, and no default region
        (form(phone="+1 555"), 400, "phone"),
        (form(timeZone="Mars/Base"), 400, "timeZone"),
        (form(dateTime="2030-01-02 15:00"), 400, "dateTime"),
        (form(dateTime="2030-01-02T15:10:00.000Z"), 400, "dateTime"),  # off the slots' grid
        (form(dateTime="2030-01-05T15:00:00.000Z"), 400, "dateTime"),  # a Saturday
        ({**form(), "extra": 1}, 400, "extra"),
    ]
    for body, status, field in cases:
        assert_problem(await visitor.post(path(event), json=body), status, field)
    problem = assert_problem(await visitor.post(path(event), json=form(phone="555 0123")), 400, "phone")
    assert "+ and the country code" in problem["errors"][0]["message"]
    # A form posted from another site (not JSON) books nothing.
    r = await visitor.post(path(event), content="dateTime=x", headers={"content-type": "application/x-www-form-urlencoded"})
    assert_problem(r, 400)
    r = await visitor.post(path(event), content=b'{"a": 1}', headers={"content-type": "text/plain"})
    assert_problem(r, 400)
    # Both hosts taken: the third booking of one slot is a 409 naming the time.
    await booked(visitor, event, email="one@example.com")
    await booked(visitor, event, email="two@example.com")
    assert_problem(await visitor.post(path(event), json=form(email="three@example.com")), 409, "dateTime", "no longer free")
    assert (await tenant.client.get("/v1/eventCalls/3")).status_code == 404


async def test_the_calendar_file(visitor, tenant, event):
    answer = await booked(visitor, event)
    r = await visitor.get(f"/bookings/{answer['token']}.ics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    assert r.headers["content-disposition"] == 'attachment; filename="intro.ics"'
    assert b"DTSTART:20300102T150000Z" in r.content and b"DTEND:20300102T153000Z" in r.content
    calendar = icalendar.Calendar.from_ical(r.content)
    assert calendar["version"] == "2.0" and calendar["method"] == "PUBLISH"
    [event_] = calendar.walk("VEVENT")
    assert event_["dtstart"].dt == datetime(2030, 1, 2, 15, tzinfo=UTC)
    assert event_["dtend"].dt == datetime(2030, 1, 2, 15, 30, tzinfo=UTC)
    assert str(event_["summary"]) == "Intro <call> with Alice"
    assert str(event_["location"]) == str(event_["url"]) == answer["joinUrl"]
    assert str(event_["organizer"]) == "mailto:alice@example.com"
    assert event_["organizer"].params["cn"] == "Alice"
    assert str(event_["attendee"]) == "mailto:ada@example.com"
    assert str(event_["status"]) == "CONFIRMED"
    assert str(event_["uid"]).endswith("@callgrid.test")
    description = str(event_["description"])
    assert description.startswith("First line & more") and answer["joinUrl"] in description and answer["url"] in description
    # Cancelled: the same UID, CANCELLED.
    assert (await visitor.post(f"/bookings/{answer['token']}/cancel", json={})).status_code == 200
    cancelled = icalendar.Calendar.from_ical((await visitor.get(f"/bookings/{answer['token']}.ics")).content)
    [again] = cancelled.walk("VEVENT")
    assert str(again["status"]) == "CANCELLED" and str(again["uid"]) == str(event_["uid"])
    assert_problem(await visitor.get("/bookings/nope.ics"), 404)


async def test_cancel_with_a_reason(visitor, tenant, event):
    answer = await booked(visitor, event)
    token = answer["token"]
    r = await visitor.post(f"/bookings/{token}/cancel", json={"reason": "  Something came up  "})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["cancelReason"]) == ("cancelled", "Something came up")
    api = (await tenant.client.get("/v1/eventCalls/1")).json()["data"]["eventCall"]["data"]
    assert (api["bookingStatus"], api["cancelReason"]) == ("cancelled", "Something came up")
    page = (await visitor.get(f"/bookings/{token}")).text
    assert "This booking was cancelled" in page and "Reason given: Something came up" in page
    assert "Join the call" not in page
    assert '<section id="actions" class="actions" aria-label="Manage this booking" hidden>' in page
    assert f'href="{PUBLIC_URL}/book/{event["link_prefix"]}">Book another time' in page
    assert_problem(await visitor.post(f"/bookings/{token}/cancel", json={}), 409, "status", "cancelled")
    assert_problem(await visitor.post(f"/bookings/{token}/cancel", json={"reason": "x" * 2001}), 400, "reason")
    assert_problem(await visitor.post("/bookings/nope/cancel", json={}), 404)


async def test_reschedule_links_both_ways(visitor, tenant, event):
    old = await booked(visitor, event)
    r = await visitor.post(f"/bookings/{old['token']}/reschedule", json={"dateTime": "2030-01-03T16:00:00.000Z"})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["token"] != old["token"]
    assert (new["status"], new["startTime"], new["hostName"]) == ("confirmed", "2030-01-03T16:00:00.000Z", "Alice")
    assert new["rescheduledFromUrl"] == old["url"] and new["rescheduledToUrl"] is None
    api_old = (await tenant.client.get("/v1/eventCalls/1")).json()["data"]["eventCall"]["data"]
    api_new = (await tenant.client.get("/v1/eventCalls/2")).json()["data"]["eventCall"]["data"]
    assert (api_old["bookingStatus"], api_old["rescheduledToId"]) == ("rescheduled", 2)
    assert (api_new["startTime"], api_new["rescheduledFromId"], api_new["token"]) == ("2030-01-03T16:00:00.000Z", 1, new["token"])
    old_page = (await visitor.get(f"/bookings/{old['token']}")).text
    assert "This booking was moved to another time" in old_page
    assert f'<a id="new-booking" href="{new["url"]}">see the new booking</a>' in old_page
    new_page = (await visitor.get(f"/bookings/{new['token']}", params={"just": "rescheduled"})).text
    assert "Your booking was moved" in new_page and f'href="{old["url"]}">an earlier one' in new_page
    assert_problem(
        await visitor.post(f"/bookings/{old['token']}/reschedule", json={"dateTime": "2030-01-03T17:00:00.000Z"}),
        409, "status", "rescheduled")
    assert_problem(
        await visitor.post(f"/bookings/{new['token']}/reschedule", json={"dateTime": "2030-01-03T16:10:00.000Z"}),
        400, "dateTime")


async def test_unknown_tokens_are_a_404_page(visitor):
    r = await visitor.get("/bookings/not-a-token")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "No such booking" in r.text
    assert '<link rel="stylesheet" href="../static/booking.css">' in r.text


async def test_the_openapi_document(visitor):
    document = (await visitor.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/book/{organization_slug}/{slug}"]) == {"post"}  # the page is no operation
    assert set(paths["/book/{organization_slug}/{slug}/slots"]) == {"get"}
    assert "/bookings/{token}" not in paths and "/bookings/{token}.ics" not in paths
    for operation in (
        paths["/book/{organization_slug}/{slug}"]["post"],
        paths["/book/{organization_slug}/{slug}/slots"]["get"],
        paths["/bookings/{token}/cancel"]["post"],
        paths["/bookings/{token}/reschedule"]["post"],
    ):
        assert "security" not in operation
        assert {"400", "404"} <= operation["responses"].keys()
    assert paths["/book/{organization_slug}/{slug}"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PublicBooking"}


async def test_an_event_with_a_redirect_url_offers_to_continue(visitor, tenant, event):
    r = await tenant.client.patch(f"/api/v1/event-types/{event['id']}", json={"redirect_url": "https://example.com/thanks?x=1"})
    assert r.status_code == 200, r.text
    answer = await booked(visitor, event)
    assert answer["redirectUrl"] == "https://example.com/thanks?x=1&bookingId=1&startTime=2030-01-02T15%3A00%3A00.000Z"
    page = (await visitor.get(f"/bookings/{answer['token']}")).text
    assert "<h1 id=\"heading\" tabindex=\"-1\">Your booking</h1>" in page  # opened later, not just booked
    assert '<a id="continue" href="https://example.com/thanks?x=1&amp;bookingId=1&amp;startTime=2030-01-02T15%3A00%3A00.000Z">Continue</a>' in page
