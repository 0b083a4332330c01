"""/v1/eventCalls: create exactly per the seed, the invitee, the event, the slot, the host
chosen, GET, cancel, reschedule, tenancy; nothing changes on a refused request.

The app's clock stands still at NOW (2030-01-01 12:00 UTC, a Tuesday) unless a test moves
it (`clock_at`), so the answers' timestamps are exact."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from callgrid.bookings.models import Booking
from callgrid.calls.models import Call
from callgrid.directory.models import Contact
from tests.bookings.conftest import add_event_type, add_host, book
from tests.support.problems import assert_problem
from tests.support.tenants import Tenant, add_key
from tests.support.time import NOW

BASE = "/v1/eventCalls"
SEED_FIELDS = ["startTime", "endTime", "id", "closerId", "timeZone", "guestEmail", "token", "closerName", "previewId",
               "closerEmail", "confirmationLink", "redirectUrl"]
ADDED_FIELDS = ["eventId", "contactId", "bookingStatus", "joinUrl", "cancelReason", "rescheduledFromId",
                "rescheduledToId", "createdAt"]
WED_9 = "2030-01-02T09:00:00.000Z"


class FrozenClock:
    def __init__(self):
        self.at = NOW

    def __call__(self):
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


@pytest.fixture(autouse=True)
def clock_at(app) -> FrozenClock:
    """The app's clock, standing still at NOW until the test moves it."""
    frozen = app.state.clock = FrozenClock()
    return frozen


@pytest.fixture
def phone_region() -> str | None:
    """`CALLGRID_DEFAULT_PHONE_REGION` for the test (unset unless a test parametrizes it)."""
    return None


@pytest.fixture
def settings(settings, phone_region):
    return settings if phone_region is None else settings.model_copy(update={"default_phone_region": phone_region})


def created(response, message: str = "Event call created", status: int = 201) -> dict:
    """The seed's envelope, checked; its `data`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"data"} and set(body["data"]) == {"eventCall"}, body
    envelope = body["data"]["eventCall"]
    assert set(envelope) == {"message", "status", "data"}, envelope
    assert envelope["message"] == message
    assert envelope["status"] == status
    data = envelope["data"]
    assert list(data) == SEED_FIELDS + ADDED_FIELDS  # the seed's fields first, in its order
    return data


async def counts(app) -> tuple[int, int, int]:
    """(contacts, bookings, calls) in the database, all organizations."""
    async with app.state.sessionmaker() as session:
        return tuple([
            (await session.execute(select(func.count()).select_from(model))).scalar_one()
            for model in (Contact, Booking, Call)
        ])


@pytest.fixture
async def kai(tenant) -> dict:
    return await add_host(tenant, "Kai")  # UTC, Monday to Friday 09:00-17:00


@pytest.fixture
async def intro(tenant, kai) -> dict:
    return await add_event_type(tenant, [kai])  # 30 minutes, number 1, slug intro


# --- the answer ------------------------------------------------------------------------------


async def test_create_answers_201_in_the_seeds_envelope_with_every_field(app, tenant, kai, intro):
    r = await book(tenant, dateTime=WED_9, eventId=intro["number"])
    data = created(r)
    token = data["token"]
    assert isinstance(token, str) and len(token) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert isinstance(data["previewId"], str) and len(data["previewId"]) >= 12 and data["previewId"] != token
    contact = (await tenant.client.get("/api/v1/contacts")).json()["items"][0]
    assert data == {
        "startTime": "2030-01-02T09:00:00.000Z",
        "endTime": "2030-01-02T09:30:00.000Z",
        "id": 1,
        "closerId": kai["number"],
        "timeZone": "Europe/Paris",
        "guestEmail": "ada@example.com",
        "token": token,
        "closerName": "Kai",
        "previewId": data["previewId"],
        "closerEmail": "kai@example.com",
        "confirmationLink": f"http://callgrid.test/bookings/{token}",
        "redirectUrl": f"http://callgrid.test/bookings/{token}",
        "eventId": intro["number"],
        "contactId": contact["number"],
        "bookingStatus": "confirmed",
        "joinUrl": data["joinUrl"],
        "cancelReason": None,
        "rescheduledFromId": None,
        "rescheduledToId": None,
        "createdAt": "2030-01-01T12:00:00.000Z",
    }
    assert re.fullmatch(r"http://callgrid\.test/rooms/[0-9a-f-]{36}\?token=.+", data["joinUrl"]), data["joinUrl"]
    # The invitee became a contact.
    assert {k: contact[k] for k in ("email", "phone", "first_name", "last_name", "number")} == {
        "email": "ada@example.com", "phone": None, "first_name": "Ada", "last_name": "L", "number": 1}
    assert await counts(app) == (1, 1, 1)

    # GET answers the same data.
    assert created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200) == data
    # A second booking has its own number, token and preview id.
    other = created(await book(tenant, dateTime="2030-01-02T09:30:00.000Z", eventId=intro["number"]))
    assert other["id"] == 2
    assert other["token"] != token and other["previewId"] != data["previewId"]
    assert other["contactId"] == data["contactId"]  # the same invitee


async def test_the_answer_is_documented_in_the_openapi_document(app):
    doc = app.openapi()
    operation = doc["paths"][BASE]["post"]
    assert set(operation["responses"]) >= {"201", "400", "401", "404", "409"}
    schema = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/EventCallAnswer"}
    data = doc["components"]["schemas"]["EventCallData"]
    assert list(data["properties"])[:12] == SEED_FIELDS
    for path in (f"{BASE}/{{id}}", f"{BASE}/{{id}}/cancel", f"{BASE}/{{id}}/reschedule"):
        for operation in doc["paths"][path].values():
            assert "404" in operation["responses"], path
            assert [p["name"] for p in operation["parameters"] if p["in"] == "path"] == ["id"]
    for method in ("post",):
        assert "409" in doc["paths"][f"{BASE}/{{id}}/cancel"][method]["responses"]
        assert "409" in doc["paths"][f"{BASE}/{{id}}/reschedule"][method]["responses"]


async def test_redirect_url_carries_the_booking_id_and_start(tenant, kai):
    event_type = await add_event_type(tenant, [kai], redirect_url="https://example.com/thanks?src=cg#top")
    data = created(await book(tenant, dateTime=WED_9, eventId=event_type["number"]))
    parts = urlsplit(data["redirectUrl"])
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("https", "example.com", "/thanks", "top")
    assert parse_qs(parts.query) == {"src": ["cg"], "bookingId": ["1"], "startTime": ["2030-01-02T09:00:00.000Z"]}
    assert data["redirectUrl"] == "https://example.com/thanks?src=cg&bookingId=1&startTime=2030-01-02T09%3A00%3A00.000Z#top"
    assert data["confirmationLink"] == f"http://callgrid.test/bookings/{data['token']}"


async def test_every_seed_field_of_the_body_together(tenant, kai, intro):
    r = await tenant.client.post(BASE, json={
        "dateTime": "2030-01-02T10:00:00.000Z", "timeZone": "America/Los_Angeles", "email": "jsmith@example.com",
        "phoneNumber": "+14155552671", "firstName": "John", "lastName": "Smith", "eventId": 1,
        "linkPrefix": "acme/intro"})
    data = created(r)
    assert (data["startTime"], data["timeZone"], data["guestEmail"]) == (
        "2030-01-02T10:00:00.000Z", "America/Los_Angeles", "jsmith@example.com")
    contact = (await tenant.client.get("/api/v1/contacts")).json()["items"][0]
    assert (contact["phone"], contact["first_name"], contact["last_name"]) == ("+14155552671", "John", "Smith")


# --- Authorization -----------------------------------------------------------------------------


async def test_the_key_with_or_without_bearer(app, tenant, kai, intro):
    body = {"dateTime": WED_9, "timeZone": "UTC", "email": "a@example.com", "eventId": 1}
    r = await tenant.client.post(BASE, json=body, headers={"Authorization": tenant.key})
    assert created(r)["id"] == 1
    r = await tenant.client.post(BASE, json={**body, "dateTime": "2030-01-02T09:30:00Z"},
                                 headers={"Authorization": f"Bearer {tenant.key}"})
    assert created(r)["id"] == 2
    assert created(await tenant.client.get(f"{BASE}/1", headers={"Authorization": tenant.key}), "Event call found", 200)
    for header in ("", "Bearer", "Bearer ", f"Bearer {tenant.key}x", "nonsense", f"Basic {tenant.key}"):
        r = await tenant.client.post(BASE, json={**body, "dateTime": "2030-01-02T10:00:00Z"},
                                     headers={"Authorization": header})
        assert_problem(r, 401)
    async with __import__("httpx").AsyncClient(transport=tenant.client._transport, base_url="http://callgrid.test") as bare:
        assert_problem(await bare.post(BASE, json=body), 401)
        assert_problem(await bare.get(f"{BASE}/1"), 401)
    assert await counts(app) == (1, 2, 2)


# --- dateTime and timeZone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "date_time",
    ["2030-01-02T09:00:00.000Z", "2030-01-02T09:00:00Z", "2030-01-02T09:00Z", "2030-01-02T09:00:00.000000Z",
     "2030-01-02T09:00:00.0Z", "2030-01-02T09:00:00.0000000000Z"],
)
async def test_date_time_forms_of_the_seeds_pattern(tenant, intro, date_time):
    assert created(await book(tenant, dateTime=date_time, eventId=1))["startTime"] == WED_9


@pytest.mark.parametrize(
    "date_time",
    [
        "2030-02-29T09:00:00Z",  # 2030 is no leap year
        "2100-02-29T09:00:00Z",  # nor is 2100
        "2030-02-30T09:00:00Z",
        "2030-04-31T09:00:00Z",
        "2030-13-01T09:00:00Z",
        "2030-00-10T09:00:00Z",
        "2030-01-00T09:00:00Z",
        "2030-01-02T24:00:00Z",
        "2030-01-02T09:60:00Z",
        "2030-01-02T09:00:60Z",
        "2030-01-02T09:00:00",  # no Z
        "2030-01-02T09:00:00.000",
        "2030-01-02T09:00:00+00:00",  # offsets are refused
        "2030-01-02T10:00:00+01:00",
        "2030-01-02T09:00:00.000-05:00",
        "2030-01-02T09:00:00z",
        "2030-01-02 09:00:00Z",
        "2030-01-02",
        "2030-01-02T09Z",
        "2030-01-02T09:00:00.Z",
        " 2030-01-02T09:00:00Z",
        "2030-01-02T09:00:00Z ",
        "+2030-01-02T09:00:00Z",
        "20300102T090000Z",
        "0000-01-01T00:00:00Z",  # no year 0
        "",
        1893574800,
        None,
        ["2030-01-02T09:00:00Z"],
    ],
)
async def test_a_date_time_off_the_seeds_pattern_is_a_400_and_changes_nothing(app, tenant, intro, date_time):
    problem = assert_problem(await book(tenant, dateTime=date_time, eventId=1), 400, "dateTime")
    assert "too soon" not in problem["detail"]
    assert await counts(app) == (0, 0, 0)


@pytest.mark.parametrize(
    ("date_time", "reason"),
    [
        ("2028-02-29T09:00:00Z", "too soon (minimum notice)"),  # a real leap day: the pattern passes
        ("2000-02-29T09:00:00.000Z", "too soon (minimum notice)"),  # 2000 is a leap year (divisible by 400)
        ("2400-02-29T09:00:00Z", "beyond the booking window"),
        ("9999-12-31T23:59:59.999Z", "beyond the booking window"),
        ("0001-01-01T00:00:00Z", "too soon (minimum notice)"),
    ],
)
async def test_leap_days_and_far_dates_pass_the_pattern_and_are_judged_as_slots(app, tenant, intro, date_time, reason):
    problem = assert_problem(await book(tenant, dateTime=date_time, eventId=1), 400, "dateTime", reason)
    assert await counts(app) == (0, 0, 0)
    r = await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": date_time})
    assert_problem(r, 404, "id")
    assert problem


@pytest.mark.parametrize("time_zone", ["Mars/Olympus_Mons", "", "UTC+1", "+01:00", "../../etc/passwd", "Europe/", 5, None])
async def test_time_zone_must_be_iana(app, tenant, intro, time_zone):
    assert_problem(await book(tenant, dateTime=WED_9, eventId=1, timeZone=time_zone), 400, "timeZone")
    assert await counts(app) == (0, 0, 0)


async def test_time_zone_is_required_and_echoed(tenant, intro):
    r = await tenant.client.post(BASE, json={"dateTime": WED_9, "email": "a@example.com", "eventId": 1})
    assert_problem(r, 400, "timeZone")
    assert created(await book(tenant, dateTime=WED_9, eventId=1, timeZone="Asia/Calcutta"))["timeZone"] == "Asia/Calcutta"


async def test_date_time_is_required(tenant, intro):
    r = await tenant.client.post(BASE, json={"timeZone": "UTC", "email": "a@example.com", "eventId": 1})
    assert_problem(r, 400, "dateTime")


# --- the invitee -----------------------------------------------------------------------------


async def test_contact_id_wins_over_email_and_phone(app, tenant, intro):
    r = await tenant.client.post("/api/v1/contacts", json={"email": "bob@example.com", "first_name": "Bob"})
    assert r.status_code == 201, r.text
    bob = r.json()
    data = created(await book(tenant, dateTime=WED_9, eventId=1, contactId=bob["number"], email="ada@example.com",
                              phoneNumber="+14155552671", firstName="Ada", lastName="Lovelace"))
    assert (data["contactId"], data["guestEmail"]) == (bob["number"], "bob@example.com")
    # No contact made, and the contact's names left as they were.
    contacts = (await tenant.client.get("/api/v1/contacts")).json()["items"]
    assert [(c["email"], c["phone"], c["first_name"], c["last_name"]) for c in contacts] == [
        ("bob@example.com", None, "Bob", "")]
    assert await counts(app) == (1, 1, 1)


async def test_an_unknown_contact_id_is_a_404_and_changes_nothing(app, tenant, other_tenant, intro):
    r = await other_tenant.client.post("/api/v1/contacts", json={"email": "theirs@example.com"})
    theirs = r.json()
    assert theirs["number"] == 1
    for contact_id in (theirs["number"], 99, 2**31 - 1):
        assert_problem(await book(tenant, dateTime=WED_9, eventId=1, contactId=contact_id), 404, "contactId")
    for contact_id in (0, -1, 2**31, "one", 1.5):
        assert_problem(await book(tenant, dateTime=WED_9, eventId=1, contactId=contact_id), 400, "contactId")
    assert await counts(app) == (1, 0, 0)


async def test_email_finds_the_contact_ignoring_case_and_fills_only_empty_names(app, tenant, intro):
    r = await tenant.client.post("/api/v1/contacts", json={"email": "Ada@Example.com", "last_name": "Known"})
    assert r.status_code == 201, r.text
    known = r.json()
    data = created(await book(tenant, dateTime=WED_9, eventId=1, email="ada@EXAMPLE.COM", firstName="Ada",
                              lastName="Other", phoneNumber="+919876543210"))
    assert data["contactId"] == known["number"]
    assert data["guestEmail"] == known["email"] == "Ada@example.com"  # as stored (its domain lower-cased)
    contact = (await tenant.client.get(f"/api/v1/contacts/{known['id']}")).json()
    assert (contact["email"], contact["first_name"], contact["last_name"], contact["phone"]) == (
        "Ada@example.com", "Ada", "Known", "+919876543210")
    # Again, with other names and another phone: nothing is overwritten.
    data = created(await book(tenant, dateTime="2030-01-02T09:30:00Z", eventId=1, email="ADA@example.com",
                              firstName="Eve", lastName="X", phoneNumber="+14155552671"))
    assert data["contactId"] == known["number"]
    contact = (await tenant.client.get(f"/api/v1/contacts/{known['id']}")).json()
    assert (contact["first_name"], contact["last_name"], contact["phone"]) == ("Ada", "Known", "+919876543210")
    assert await counts(app) == (1, 2, 2)


async def test_a_new_email_makes_a_contact_and_the_next_booking_finds_it(app, tenant, intro):
    first = created(await book(tenant, dateTime=WED_9, eventId=1, email="  new@example.com ", firstName=" Nia "))
    second = created(await book(tenant, dateTime="2030-01-02T09:30:00Z", eventId=1, email="NEW@example.com"))
    assert first["contactId"] == second["contactId"] == 1
    assert first["guestEmail"] == "new@example.com"
    contact = (await tenant.client.get("/api/v1/contacts")).json()["items"][0]
    assert (contact["email"], contact["first_name"]) == ("new@example.com", "Nia")
    # Another organization's contact with that email is not ours.
    assert await counts(app) == (1, 2, 2)


async def test_the_same_email_in_two_organizations_is_two_contacts(app, tenant, other_tenant, intro):
    zed = await add_host(other_tenant, "Zed")
    await add_event_type(other_tenant, [zed])
    mine = created(await book(tenant, dateTime=WED_9, eventId=1))
    theirs = created(await book(other_tenant, dateTime=WED_9, eventId=1))
    assert mine["id"] == theirs["id"] == 1  # numbers are per organization
    assert mine["contactId"] == theirs["contactId"] == 1
    assert (await counts(app))[0] == 2


async def test_a_phone_only_invitee_has_a_null_guest_email_and_is_found_again(app, tenant, intro):
    data = created(await book(tenant, dateTime=WED_9, eventId=1, email=None, phoneNumber="+1 (415) 555-2671",
                              firstName="Pat", lastName=""))
    assert data["guestEmail"] is None
    contact = (await tenant.client.get("/api/v1/contacts")).json()["items"][0]
    assert (contact["email"], contact["phone"], contact["first_name"]) == (None, "+14155552671", "Pat")
    again = created(await book(tenant, dateTime="2030-01-02T09:30:00Z", eventId=1, email=None,
                               phoneNumber="+14155552671"))
    assert again["contactId"] == data["contactId"]
    # With an email as well, the phone's contact gets it.
    third = created(await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=1, email="pat@example.com",
                               phoneNumber="+1-415-555-2671"))
    assert third["contactId"] == data["contactId"]
    assert third["guestEmail"] == "pat@example.com"
    assert await counts(app) == (1, 3, 3)


@pytest.mark.parametrize("phone", ["4155552671", "09876543210", "(415) 555-2671"])
async def test_a_phone_without_country_code_is_refused_without_a_default_region(app, tenant, intro, phone):
    problem = assert_problem(await book(tenant, dateTime=WED_9, eventId=1, email=None, phoneNumber=phone),
                             400, "phoneNumber")
    assert "country code" in problem["detail"]
    assert await counts(app) == (0, 0, 0)


@pytest.mark.parametrize("phone_region", ["IN"])
async def test_a_phone_without_country_code_is_read_in_the_default_region(app, tenant, intro):
    data = created(await book(tenant, dateTime=WED_9, eventId=1, email=None, phoneNumber="098765 43210"))
    contact = (await tenant.client.get("/api/v1/contacts")).json()["items"][0]
    assert contact["phone"] == "+919876543210"
    # With a country code the region does not matter.
    other = created(await book(tenant, dateTime="2030-01-02T09:30:00Z", eventId=1, email=None, phoneNumber="+14155552671"))
    assert other["contactId"] != data["contactId"]
    # The same number written the local way finds the same contact.
    again = created(await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=1, email=None, phoneNumber="+91 98765 43210"))
    assert again["contactId"] == data["contactId"]
    assert_problem(await book(tenant, dateTime="2030-01-02T10:30:00Z", eventId=1, email=None, phoneNumber="12"),
                   400, "phoneNumber")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": None}, "email"),  # neither email, phone nor contactId
        ({"email": ""}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a..b@example.com"}, "email"),
        ({"email": ".a@example.com"}, "email"),
        ({"email": "a.@example.com"}, "email"),
        ({"email": "a@example"}, "email"),
        ({"email": "a@example.c"}, "email"),
        ({"email": "a b@example.com"}, "email"),
        ({"email": "a@-example.com"}, "email"),
        ({"email": "x" * 244 + "@example.com"}, "email"),  # 256 characters
        ({"email": 5}, "email"),
        ({"email": None, "phoneNumber": "+1415"}, "phoneNumber"),
        ({"email": None, "phoneNumber": "+abc"}, "phoneNumber"),
        ({"email": None, "phoneNumber": "+" + "1" * 40}, "phoneNumber"),
        ({"email": None, "phoneNumber": ""}, "email"),
        ({"phoneNumber": "not a phone"}, "phoneNumber"),
        ({"firstName": "f" * 256}, "firstName"),
        ({"lastName": ["L"]}, "lastName"),
        ({"extra": 1}, "extra"),
        ({"contact_id": 1}, "contact_id"),
    ],
)
async def test_a_bad_invitee_is_a_400_naming_the_field_and_changes_nothing(app, tenant, intro, fields, field):
    assert_problem(await book(tenant, dateTime=WED_9, eventId=1, **fields), 400, field)
    assert await counts(app) == (0, 0, 0)


async def test_the_longest_email_of_the_seed_is_fine(tenant, intro):
    email = "x" * 243 + "@example.com"  # 255 characters
    assert created(await book(tenant, dateTime=WED_9, eventId=1, email=email))["guestEmail"] == email


# --- the event -------------------------------------------------------------------------------


async def test_event_id_or_link_prefix(tenant, kai, intro):
    other = await add_event_type(tenant, [kai], slug="other", duration_minutes=60)
    assert created(await book(tenant, dateTime=WED_9, linkPrefix="acme/intro"))["eventId"] == intro["number"]
    data = created(await book(tenant, dateTime="2030-01-02T10:00:00Z", linkPrefix="acme/other"))
    assert (data["eventId"], data["endTime"]) == (other["number"], "2030-01-02T11:00:00.000Z")
    data = created(await book(tenant, dateTime="2030-01-02T11:00:00Z", eventId=other["number"], linkPrefix="acme/other"))
    assert data["eventId"] == other["number"]


async def test_event_id_and_link_prefix_naming_different_events_is_a_400(app, tenant, kai, intro):
    await add_event_type(tenant, [kai], slug="other")
    problem = assert_problem(await book(tenant, dateTime=WED_9, eventId=1, linkPrefix="acme/other"), 400, "linkPrefix")
    assert "eventId" in problem["detail"]
    assert await counts(app) == (0, 0, 0)


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"eventId": 99}, 404, "eventId"),
        ({"eventId": 2**31 - 1}, 404, "eventId"),
        ({"eventId": 0}, 400, "eventId"),
        ({"eventId": -3}, 400, "eventId"),
        ({"eventId": 2**31}, 400, "eventId"),
        ({"eventId": "first"}, 400, "eventId"),
        ({"linkPrefix": "acme/nope"}, 404, "linkPrefix"),
        ({"linkPrefix": "globex/intro"}, 404, "linkPrefix"),  # another organization's
        ({"linkPrefix": "intro"}, 404, "linkPrefix"),
        ({"linkPrefix": "acme/intro/x"}, 404, "linkPrefix"),
        ({"linkPrefix": "acme/"}, 404, "linkPrefix"),
        ({"linkPrefix": ""}, 400, "linkPrefix"),
        ({"linkPrefix": "a" * 201}, 400, "linkPrefix"),
        ({"linkPrefix": 7}, 400, "linkPrefix"),
        ({}, 400, "eventId"),
        ({"eventId": None, "linkPrefix": None}, 400, "eventId"),
        ({"eventId": 1, "linkPrefix": "acme/nope"}, 404, "linkPrefix"),
        ({"eventId": 99, "linkPrefix": "acme/intro"}, 404, "eventId"),
    ],
)
async def test_an_unknown_or_bad_event_is_refused_naming_the_field(app, tenant, other_tenant, intro, fields, status, field):
    await add_event_type(other_tenant, [{"host_id": other_tenant.host_id}])
    assert_problem(await book(tenant, dateTime=WED_9, **fields), status, field)
    assert await counts(app) == (0, 0, 0)


async def test_another_organizations_event_number_is_not_ours(app, tenant, other_tenant):
    await add_event_type(other_tenant, [{"host_id": other_tenant.host_id}])
    assert_problem(await book(tenant, dateTime=WED_9, eventId=1), 404, "eventId")
    assert await counts(app) == (0, 0, 0)


# --- the slot --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date_time", "reason"),
    [
        ("2030-01-02T08:00:00Z", "outside working hours"),
        ("2030-01-02T16:45:00Z", "outside working hours"),  # would end after 17:00
        ("2030-01-02T17:00:00Z", "outside working hours"),
        ("2030-01-05T10:00:00Z", "outside working hours"),  # a Saturday
        ("2030-01-02T09:10:00Z", "not on the slot grid"),
        ("2030-01-02T09:00:30Z", "not on the slot grid"),
        ("2030-01-02T09:00:00.001Z", "not on the slot grid"),
        ("2030-01-01T12:30:00Z", "too soon (minimum notice)"),  # within the hour's notice
        ("2030-01-01T12:59:59Z", "too soon (minimum notice)"),
        ("2029-12-31T10:00:00Z", "too soon (minimum notice)"),  # the past
        ("2030-03-04T10:00:00Z", "beyond the booking window"),  # 60 days: before 2030-03-02 12:00
        ("2030-03-02T12:00:00Z", "beyond the booking window"),
    ],
)
async def test_a_time_that_is_not_a_slot_is_a_400_saying_why(app, tenant, intro, date_time, reason):
    problem = assert_problem(await book(tenant, dateTime=date_time, eventId=1), 400, "dateTime", reason)
    assert "not a slot" in problem["detail"]
    assert await counts(app) == (0, 0, 0)


async def test_the_edges_of_notice_and_window_are_slots(tenant, kai):
    all_week = {d: [{"start": "00:00", "end": "24:00"}] for d in
                ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
    r = await tenant.client.patch(f"/api/v1/hosts/{kai['id']}", json={"working_hours": all_week})
    assert r.status_code == 200, r.text
    await add_event_type(tenant, [kai], minimum_notice_minutes=60, booking_window_days=2)
    assert created(await book(tenant, dateTime="2030-01-01T13:00:00Z", eventId=1))["id"] == 1
    assert created(await book(tenant, dateTime="2030-01-03T11:30:00Z", eventId=1))["id"] == 2
    assert_problem(await book(tenant, dateTime="2030-01-03T12:00:00Z", eventId=1), 400, "dateTime", "beyond the booking window")


async def test_a_taken_slot_is_a_409_and_changes_nothing(app, tenant, intro):
    created(await book(tenant, dateTime=WED_9, eventId=1))
    problem = assert_problem(await book(tenant, dateTime=WED_9, eventId=1, email="eve@example.com"), 409, "dateTime")
    assert "no longer free" in problem["detail"]
    assert await counts(app) == (1, 1, 1)  # eve was not made a contact
    # An overlapping start off this event's grid is a 400; with another event of the host, a 409.
    await add_event_type(tenant, [{"host_id": intro["hosts"][0]["host_id"]}], slug="quarter", slot_interval_minutes=15)
    assert_problem(await book(tenant, dateTime="2030-01-02T09:15:00Z", linkPrefix="acme/quarter"), 409, "dateTime")
    assert created(await book(tenant, dateTime="2030-01-02T09:30:00Z", linkPrefix="acme/quarter"))["id"] == 2


async def test_buffers_are_kept_when_booking(tenant, kai):
    await add_event_type(tenant, [kai], buffer_after_minutes=30)
    created(await book(tenant, dateTime=WED_9, eventId=1))
    assert_problem(await book(tenant, dateTime="2030-01-02T09:30:00Z", eventId=1), 409, "dateTime")
    assert created(await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=1))["id"] == 2


# --- the host chosen -------------------------------------------------------------------------


async def test_the_highest_priority_free_host_is_chosen(tenant):
    ann, ben, cid = [await add_host(tenant, name) for name in ("Ann", "Ben", "Cid")]
    await add_event_type(tenant, [{"host_id": ann["id"], "priority": "medium"}, {"host_id": ben["id"], "priority": "low"},
                                  {"host_id": cid["id"], "priority": "high"}])
    chosen = [created(await book(tenant, dateTime=WED_9, eventId=1, email=f"p{n}@example.com"))["closerName"]
              for n in range(3)]
    assert chosen == ["Cid", "Ann", "Ben"]
    assert_problem(await book(tenant, dateTime=WED_9, eventId=1, email="p4@example.com"), 409, "dateTime")
    # Cid again at the next slot, whoever was booked last.
    assert created(await book(tenant, dateTime="2030-01-02T09:30:00Z", eventId=1))["closerName"] == "Cid"


async def test_then_the_host_booked_longest_ago_then_the_lowest_number(tenant, clock_at):
    ann, ben, cid = [await add_host(tenant, name) for name in ("Ann", "Ben", "Cid")]
    assert ann["number"] < ben["number"] < cid["number"]
    event_type = await add_event_type(tenant, [cid, ben, ann])
    chosen = []
    for hour in range(9, 16):
        clock_at.advance(minutes=1)
        data = created(await book(tenant, dateTime=f"2030-01-02T{hour:02d}:00:00Z", eventId=event_type["number"]))
        chosen.append((data["closerName"], data["closerId"]))
    names = [name for name, _ in chosen]
    assert names == ["Ann", "Ben", "Cid", "Ann", "Ben", "Cid", "Ann"]
    assert dict(chosen) == {"Ann": ann["number"], "Ben": ben["number"], "Cid": cid["number"]}


async def test_only_bookings_of_this_event_type_count_for_who_was_booked_last(tenant, clock_at):
    ann, ben = await add_host(tenant, "Ann"), await add_host(tenant, "Ben")
    both = await add_event_type(tenant, [ann, ben], slug="both")
    only_ann = await add_event_type(tenant, [ann], slug="ann")
    created(await book(tenant, dateTime="2030-01-02T09:00:00Z", eventId=only_ann["number"]))
    clock_at.advance(minutes=1)
    # Neither was booked for `both`: the lowest number, Ann, though she was booked a minute ago.
    assert created(await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=both["number"]))["closerName"] == "Ann"
    clock_at.advance(minutes=1)
    assert created(await book(tenant, dateTime="2030-01-02T11:00:00Z", eventId=both["number"]))["closerName"] == "Ben"


async def test_a_host_busy_then_is_skipped(tenant, clock_at):
    ann, ben = await add_host(tenant, "Ann"), await add_host(tenant, "Ben")
    await add_event_type(tenant, [{"host_id": ann["id"], "priority": "high"}, {"host_id": ben["id"]}])
    await add_event_type(tenant, [ann], slug="ann-only", duration_minutes=60)
    created(await book(tenant, dateTime=WED_9, linkPrefix="acme/ann-only"))
    assert created(await book(tenant, dateTime="2030-01-02T09:30:00Z", eventId=1))["closerName"] == "Ben"
    assert created(await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=1))["closerName"] == "Ann"


async def test_a_hosts_key_books_and_moves_its_own_calendar_only(app, tenant, clock_at):
    """An event of Ann (high) and Ben: the admin key gets the best free host; Ben's key books Ben
    or nobody (409 when he is busy, though Ann is free), and moves its booking within Ben's
    calendar: a booking a host's key made is one it can read."""
    ann, ben = await add_host(tenant, "Ann"), await add_host(tenant, "Ben")
    await add_event_type(tenant, [{"host_id": ann["id"], "priority": "high"}, {"host_id": ben["id"]}])
    await add_event_type(tenant, [ben], slug="ben-only", duration_minutes=60)
    bens = Tenant(await add_key(app, tenant, ben["id"]), tenant.organization_id, ben["id"], "")
    async with bens.client:
        mine = created(await book(bens, dateTime=WED_9, eventId=1))
        assert (mine["closerName"], mine["id"]) == ("Ben", 1)  # not Ann, though she ranks first
        assert created(await bens.client.get(f"{BASE}/1"), "Event call found", 200)["closerName"] == "Ben"
        assert created(await book(tenant, dateTime=WED_9, eventId=1, email="b@example.com"))["closerName"] == "Ann"
        # Ben busy at 10:00 (his own event): his key is refused, the admin's gets Ann.
        created(await book(tenant, dateTime="2030-01-02T10:00:00Z", linkPrefix="acme/ben-only", email="c@example.com"))
        before = await counts(app)
        assert_problem(await book(bens, dateTime="2030-01-02T10:00:00Z", eventId=1, email="d@example.com"), 409, "dateTime")
        assert await counts(app) == before
        # A move to where Ben is busy stays refused too, though Ann is free then.
        clock_at.advance(minutes=1)
        refused = await bens.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-02T10:30:00Z"})
        assert_problem(refused, 409, "dateTime")
        moved = created(await bens.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-02T14:00:00Z"}),
                        "Event call rescheduled")
        assert moved["closerName"] == "Ben" and moved["rescheduledFromId"] == 1
        assert created(await bens.client.get(f"{BASE}/{moved['id']}"), "Event call found", 200)["closerName"] == "Ben"


# --- GET, cancel ---------------------------------------------------------------------------


async def test_get_unknown_or_another_organizations_booking_is_a_404(tenant, other_tenant):
    zed = await add_host(other_tenant, "Zed")
    await add_event_type(other_tenant, [zed])
    theirs = created(await book(other_tenant, dateTime=WED_9, eventId=1))
    assert theirs["id"] == 1
    for path in (f"{BASE}/1", f"{BASE}/2", f"{BASE}/{2**31 - 1}"):
        assert_problem(await tenant.client.get(path), 404, "id")
        assert_problem(await tenant.client.post(f"{path}/cancel", json={}), 404, "id")
        assert_problem(await tenant.client.post(f"{path}/reschedule", json={"dateTime": "2030-01-02T10:00:00Z"}), 404, "id")
    for bad in ("0", "-1", "abc", "1.5", str(2**31)):
        assert_problem(await tenant.client.get(f"{BASE}/{bad}"), 400, "id")
        assert_problem(await tenant.client.post(f"{BASE}/{bad}/cancel", json={}), 400, "id")
    # Theirs is untouched.
    assert created(await other_tenant.client.get(f"{BASE}/1"), "Event call found", 200) == theirs


async def test_cancel_keeps_the_reason_frees_the_slot_and_twice_is_a_409(app, tenant, intro, clock_at):
    booked = created(await book(tenant, dateTime=WED_9, eventId=1))
    clock_at.advance(minutes=5)
    r = await tenant.client.post(f"{BASE}/1/cancel", json={"reason": "Something came up"})
    cancelled = created(r, "Event call cancelled", 200)
    assert cancelled == {**booked, "bookingStatus": "cancelled", "cancelReason": "Something came up"}
    assert created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200) == cancelled
    problem = assert_problem(await tenant.client.post(f"{BASE}/1/cancel", json={"reason": "again"}), 409, "status")
    assert "cancelled" in problem["detail"]
    assert created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200)["cancelReason"] == "Something came up"
    # The slot is free again, for anyone.
    again = created(await book(tenant, dateTime=WED_9, eventId=1, email="eve@example.com"))
    assert again["id"] == 2
    # The call's room has ended.
    room_id = urlsplit(booked["joinUrl"]).path.rsplit("/", 1)[1]
    room = await tenant.client.get(f"/v1/rooms/{room_id}")
    assert room.status_code == 200, room.text
    assert room.json()["room"]["is_terminated"] is True, room.json()


async def test_cancel_without_a_body_or_reason(tenant, intro):
    created(await book(tenant, dateTime=WED_9, eventId=1))
    created(await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=1))
    assert created(await tenant.client.post(f"{BASE}/1/cancel"), "Event call cancelled", 200)["cancelReason"] is None
    r = await tenant.client.post(f"{BASE}/2/cancel", json={"reason": None})
    assert created(r, "Event call cancelled", 200)["cancelReason"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [({"reason": "r" * 2001}, "reason"), ({"reason": 5}, "reason"), ({"why": "x"}, "why"), ([], "body"), ("x", "body")],
)
async def test_a_bad_cancel_body_is_a_400_and_cancels_nothing(tenant, intro, body, field):
    created(await book(tenant, dateTime=WED_9, eventId=1))
    assert_problem(await tenant.client.post(f"{BASE}/1/cancel", json=body), 400, field)
    assert created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200)["bookingStatus"] == "confirmed"


async def test_a_started_call_can_be_neither_cancelled_nor_rescheduled(tenant, intro, clock_at):
    created(await book(tenant, dateTime="2030-01-01T13:00:00Z", eventId=1))
    clock_at.advance(hours=1)  # 13:00: it starts
    assert_problem(await tenant.client.post(f"{BASE}/1/cancel", json={}), 409, "status")
    assert_problem(await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": WED_9}), 409, "status")
    assert created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200)["bookingStatus"] == "confirmed"


# --- reschedule ------------------------------------------------------------------------------


async def test_reschedule_keeps_the_host_and_links_old_and_new(app, tenant, clock_at):
    ann, ben = await add_host(tenant, "Ann"), await add_host(tenant, "Ben")
    await add_event_type(tenant, [ann, ben])
    old = created(await book(tenant, dateTime=WED_9, eventId=1, timeZone="Asia/Kolkata"))
    assert old["closerName"] == "Ann"
    clock_at.advance(minutes=3)
    r = await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-03T14:30:00.000Z"})
    new = created(r, "Event call rescheduled", 201)
    assert new == {
        **old,
        "startTime": "2030-01-03T14:30:00.000Z",
        "endTime": "2030-01-03T15:00:00.000Z",
        "id": 2,
        "token": new["token"],
        "previewId": new["previewId"],
        "confirmationLink": f"http://callgrid.test/bookings/{new['token']}",
        "redirectUrl": f"http://callgrid.test/bookings/{new['token']}",
        "joinUrl": new["joinUrl"],
        "rescheduledFromId": 1,
        "createdAt": "2030-01-01T12:03:00.000Z",
    }
    assert new["token"] != old["token"] and new["previewId"] != old["previewId"] and new["joinUrl"] != old["joinUrl"]
    assert (new["closerName"], new["timeZone"], new["contactId"]) == ("Ann", "Asia/Kolkata", old["contactId"])
    before = created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200)
    assert before == {**old, "bookingStatus": "rescheduled", "rescheduledToId": 2}
    assert created(await tenant.client.get(f"{BASE}/2"), "Event call found", 200) == new
    # The old one can be neither rescheduled nor cancelled again; the new one can.
    assert_problem(await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-03T15:00:00Z"}), 409, "status")
    assert_problem(await tenant.client.post(f"{BASE}/1/cancel", json={}), 409, "status")
    # The old slot is free again: both hosts.
    slots = (await tenant.client.get("/api/v1/event-types", params={})).json()["items"][0]
    r = await tenant.client.get(f"/api/v1/event-types/{slots['id']}/slots", params={"start": "2030-01-02", "end": "2030-01-03"})
    by_start = {s["start"]: s["hosts_available"] for day in r.json()["slots"].values() for s in day}
    assert by_start[WED_9] == 2
    assert by_start["2030-01-03T14:30:00.000Z"] == 1
    assert await counts(app) == (1, 2, 2)
    # Twice in a row: a chain.
    third = created(await tenant.client.post(f"{BASE}/2/reschedule", json={"dateTime": WED_9}), "Event call rescheduled", 201)
    assert (third["id"], third["rescheduledFromId"], third["closerName"]) == (3, 2, "Ann")
    middle = created(await tenant.client.get(f"{BASE}/2"), "Event call found", 200)
    assert (middle["rescheduledFromId"], middle["rescheduledToId"], middle["bookingStatus"]) == (1, 3, "rescheduled")


async def test_reschedule_to_the_same_time_or_overlapping_itself(tenant, kai, intro):
    created(await book(tenant, dateTime=WED_9, eventId=1))
    # Its own call does not stand in its way.
    moved = created(await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": WED_9}), "Event call rescheduled", 201)
    assert (moved["id"], moved["closerName"]) == (2, "Kai")
    await add_event_type(tenant, [kai], slug="long", duration_minutes=60, slot_interval_minutes=30)
    created(await book(tenant, dateTime="2030-01-02T11:00:00Z", linkPrefix="acme/long"))
    moved = created(await tenant.client.post(f"{BASE}/3/reschedule", json={"dateTime": "2030-01-02T11:30:00Z"}),
                    "Event call rescheduled", 201)
    assert moved["endTime"] == "2030-01-02T12:30:00.000Z"


async def test_reschedule_assigns_another_host_when_its_own_is_busy(tenant, clock_at):
    ann, ben = await add_host(tenant, "Ann"), await add_host(tenant, "Ben")
    await add_event_type(tenant, [ann, ben])
    await add_event_type(tenant, [ann], slug="ann-only")
    created(await book(tenant, dateTime=WED_9, eventId=1))  # Ann
    created(await book(tenant, dateTime="2030-01-02T10:00:00Z", linkPrefix="acme/ann-only", email="x@example.com"))
    r = await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-02T10:00:00Z"})
    new = created(r, "Event call rescheduled", 201)
    assert (new["closerName"], new["closerId"], new["rescheduledFromId"]) == ("Ben", ben["number"], 1)
    # The preferred host wins over a better-ranked one: Ben keeps Ben though Ann ranks first.
    r = await tenant.client.post(f"{BASE}/{new['id']}/reschedule", json={"dateTime": "2030-01-02T11:00:00Z"})
    assert created(r, "Event call rescheduled", 201)["closerName"] == "Ben"


async def test_a_refused_reschedule_changes_nothing(app, tenant, kai, intro):
    created(await book(tenant, dateTime=WED_9, eventId=1))
    created(await book(tenant, dateTime="2030-01-02T10:00:00Z", eventId=1, email="eve@example.com"))
    before = await counts(app)
    cases = [
        ({"dateTime": "2030-01-02T10:00:00Z"}, 409, "dateTime", "no longer free"),
        ({"dateTime": "2030-01-02T08:00:00Z"}, 400, "dateTime", "outside working hours"),
        ({"dateTime": "2030-01-02T09:10:00Z"}, 400, "dateTime", "not on the slot grid"),
        ({"dateTime": "2030-01-01T12:30:00Z"}, 400, "dateTime", "too soon"),
        ({"dateTime": "2030-06-01T10:00:00Z"}, 400, "dateTime", "beyond the booking window"),
        ({"dateTime": "9999-12-31T23:30:00Z"}, 400, "dateTime", "beyond the booking window"),
        ({"dateTime": "2030-02-29T10:00:00Z"}, 400, "dateTime", None),
        ({"dateTime": "2030-01-02T10:00:00+01:00"}, 400, "dateTime", None),
        ({}, 400, "dateTime", None),
        ({"dateTime": "2030-01-02T11:00:00Z", "timeZone": "UTC"}, 400, "timeZone", None),
    ]
    for body, status, field, fragment in cases:
        r = await tenant.client.post(f"{BASE}/1/reschedule", json=body)
        assert_problem(r, status, field, *([fragment] if fragment else []))
    assert await counts(app) == before
    data = created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200)
    assert (data["bookingStatus"], data["startTime"], data["rescheduledToId"]) == ("confirmed", WED_9, None)


async def test_a_cancelled_booking_cannot_be_rescheduled(app, tenant, intro):
    created(await book(tenant, dateTime=WED_9, eventId=1))
    created(await tenant.client.post(f"{BASE}/1/cancel", json={"reason": "no"}), "Event call cancelled", 200)
    problem = assert_problem(await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-02T10:00:00Z"}),
                             409, "status")
    assert "cancelled" in problem["detail"]
    assert await counts(app) == (1, 1, 1)


async def test_a_deleted_event_types_bookings_stand_and_can_be_cancelled_but_not_moved(tenant, intro):
    booked = created(await book(tenant, dateTime=WED_9, eventId=1))
    assert (await tenant.client.delete(f"/api/v1/event-types/{intro['id']}")).status_code == 204
    assert created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200) == booked
    assert_problem(await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-02T10:00:00Z"}),
                   409, "eventId")
    assert created(await tenant.client.post(f"{BASE}/1/cancel", json={}), "Event call cancelled", 200)["eventId"] == 1


# --- at once ---------------------------------------------------------------------------------


async def test_two_bookings_at_once_for_the_last_free_host_give_one_201_and_one_409(app, tenant, intro):
    import asyncio

    answers = await asyncio.gather(*(book(tenant, dateTime=WED_9, eventId=1, email=f"p{n}@example.com") for n in range(2)))
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    assert await counts(app) == (1, 1, 1)


async def test_two_bookings_at_once_with_two_free_hosts_get_different_hosts(app, tenant):
    import asyncio

    ann, ben = await add_host(tenant, "Ann"), await add_host(tenant, "Ben")
    await add_event_type(tenant, [ann, ben])
    answers = await asyncio.gather(*(book(tenant, dateTime=WED_9, eventId=1, email=f"p{n}@example.com") for n in range(3)))
    assert sorted(r.status_code for r in answers) == [201, 201, 409], [r.text for r in answers]
    assert sorted(r.json()["data"]["eventCall"]["data"]["closerName"] for r in answers if r.status_code == 201) == ["Ann", "Ben"]
    assert sorted(r.json()["data"]["eventCall"]["data"]["id"] for r in answers if r.status_code == 201) == [1, 2]


async def test_two_cancels_at_once_give_one_200_and_one_409(tenant, intro):
    import asyncio

    created(await book(tenant, dateTime=WED_9, eventId=1))
    answers = await asyncio.gather(*(tenant.client.post(f"{BASE}/1/cancel", json={"reason": f"r{n}"}) for n in range(2)))
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    winner = [r for r in answers if r.status_code == 200][0].json()["data"]["eventCall"]["data"]["cancelReason"]
    assert created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200)["cancelReason"] == winner


async def test_a_cancel_and_a_reschedule_at_once_leave_one_outcome(app, tenant, intro):
    import asyncio

    created(await book(tenant, dateTime=WED_9, eventId=1))
    cancel, move = await asyncio.gather(
        tenant.client.post(f"{BASE}/1/cancel", json={}),
        tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-02T10:00:00Z"}),
    )
    assert sorted((cancel.status_code, move.status_code)) in ([200, 409], [201, 409]), (cancel.text, move.text)
    status = created(await tenant.client.get(f"{BASE}/1"), "Event call found", 200)["bookingStatus"]
    assert status == ("cancelled" if cancel.status_code == 200 else "rescheduled")
    assert (await counts(app))[1] == (1 if cancel.status_code == 200 else 2)


async def test_null_names_are_not_given(tenant, intro):
    data = created(await book(tenant, dateTime=WED_9, eventId=1, firstName=None, lastName=None))
    contact = (await tenant.client.get("/api/v1/contacts")).json()["items"][0]
    assert (contact["first_name"], contact["last_name"]) == ("", "")
    assert data["contactId"] == contact["number"]
