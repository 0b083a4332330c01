"""Time zones: only names of the IANA database, wherever a zone is taken. zoneinfo also finds
the server's own zone (`localtime`), `posixrules`, `Factory` and the `posix/` and `right/`
copies of the database; each is a 400 naming the field."""

import pytest

from callgrid.validation import iana_zone_names
from tests.bookings.conftest import add_event_type, add_host, book
from tests.video_calls.conftest import BASE as VIDEO_CALLS, CHECK, body, make_mango, schedule

NOT_ZONES = ["localtime", "posixrules", "Factory", "right/UTC", "right/Europe/Berlin", "posix/Europe/Berlin", "posix/UTC",
             "Mars/Olympus", "/etc/localtime", "../zoneinfo/UTC", "UTC ", "utc", "Europe", "zone.tab", "tzdata.zi"]


def assert_names(response, field: str, name: str) -> None:
    """A 400 whose message names the field, the name given and the rule."""
    assert response.status_code == 400, response.text
    text = response.text
    assert field in text and name in text and "IANA time zone" in text, text
    assert response.json() is not None


def test_the_names_are_the_databases():
    names = iana_zone_names()
    assert {"UTC", "Europe/Berlin", "Asia/Calcutta", "Asia/Kolkata", "Etc/GMT+5", "America/Argentina/Buenos_Aires"} <= names
    assert not {"localtime", "posixrules", "Factory"} & names
    assert not [n for n in names if n.startswith(("posix/", "right/"))]


@pytest.fixture
async def event(tenant):
    host = await add_host(tenant, "Alice", timezone="America/New_York")
    return await add_event_type(tenant, [host], slug="intro")


@pytest.mark.parametrize("name", NOT_ZONES)
async def test_hosts_refuse_it(tenant, name):
    assert_names(await tenant.client.post("/api/v1/hosts", json={"name": "H", "email": "h@example.com", "timezone": name}),
                 "timezone", name)
    r = await tenant.client.patch(f"/api/v1/hosts/{tenant.host_id}", json={"timezone": name})
    assert_names(r, "timezone", name)
    assert (await tenant.client.get(f"/api/v1/hosts/{tenant.host_id}")).json()["timezone"] == "UTC"


@pytest.mark.parametrize("name", NOT_ZONES)
async def test_video_calls_refuse_it(tenant, name):
    mango = await make_mango(tenant)
    assert_names(await tenant.client.post(VIDEO_CALLS, json=body(mango, timezoneName=name)), "timezoneName", name)
    assert_names(await tenant.client.post(CHECK, json=schedule(timezoneName=name)), "timezoneName", name)
    assert (await tenant.client.get(VIDEO_CALLS)).status_code == 200


async def test_a_video_calls_change_refuses_it(tenant):
    mango = await make_mango(tenant)
    created = await tenant.client.post(VIDEO_CALLS, json=body(mango, startDate="2035-01-02"))
    assert created.status_code == 201, created.text
    for name in NOT_ZONES:
        r = await tenant.client.patch(f"{VIDEO_CALLS}/{created.json()['_id']}", json={"timezoneName": name})
        assert_names(r, "timezoneName", name)


@pytest.mark.parametrize("name", NOT_ZONES)
async def test_event_calls_slots_and_booking_pages_refuse_it(tenant, anonymous, event, name):
    assert_names(await book(tenant, dateTime="2035-01-02T15:00:00.000Z", eventId=1, timeZone=name), "timeZone", name)
    slots = await tenant.client.get(f"/api/v1/event-types/{event['id']}/slots",
                                    params={"start": "2035-01-02", "end": "2035-01-02", "time_zone": name})
    assert_names(slots, "time_zone", name)
    page = f"/book/{event['link_prefix']}"
    assert_names(await anonymous.get(f"{page}/slots", params={"start": "2035-01-02", "end": "2035-01-02", "time_zone": name}),
                 "time_zone", name)
    form = {"dateTime": "2035-01-02T15:00:00.000Z", "timeZone": name, "name": "Ada", "email": "ada@example.com"}
    assert_names(await anonymous.post(page, json=form), "timeZone", name)


@pytest.mark.parametrize("name", ["Asia/Calcutta", "Etc/GMT+5", "America/Argentina/Buenos_Aires", "UTC"])
async def test_real_names_and_their_links_are_taken(tenant, name):
    r = await tenant.client.post("/api/v1/hosts", json={"name": "H", "email": "h@example.com", "timezone": name})
    assert r.status_code == 201 and r.json()["timezone"] == name, r.text
