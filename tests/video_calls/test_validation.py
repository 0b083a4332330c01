"""Every 400/401/404 the create contract names: the seed's error shape, a message naming the
field, and nothing created."""

import pytest

from tests.video_calls.conftest import BASE, CHECK, assert_error, body, listed

BAD_BODIES = [
    # (fields over a valid body, the field the message must name)
    ({"title": ""}, "title"),
    ({"title": "x" * 256}, "title"),
    ({"title": 42}, "title"),
    ({"title": None}, "title"),
    ({"title": ...}, "title"),
    ({"duration": 29}, "duration"),
    ({"duration": 301}, "duration"),
    ({"duration": 0}, "duration"),
    ({"duration": -60}, "duration"),
    ({"duration": 60.5}, "duration"),
    ({"duration": 60.0}, "duration"),
    ({"duration": "60"}, "duration"),
    ({"duration": True}, "duration"),
    ({"duration": 10**30}, "duration"),
    ({"duration": ...}, "duration"),
    ({"startDate": "2030-1-2"}, "startDate"),
    ({"startDate": "02/01/2030"}, "startDate"),
    ({"startDate": "2030-02-30"}, "startDate"),
    ({"startDate": "2030-01-02T10:00:00Z"}, "startDate"),
    ({"startDate": 20300102}, "startDate"),
    ({"startDate": ""}, "startDate"),
    ({"startDate": ...}, "startDate"),
    ({"fromTime": "9:00"}, "fromTime"),
    ({"fromTime": "24:00"}, "fromTime"),
    ({"fromTime": "10:60"}, "fromTime"),
    ({"fromTime": "10:00:00"}, "fromTime"),
    ({"fromTime": "10h00"}, "fromTime"),
    ({"fromTime": "10:00 am"}, "fromTime"),
    ({"fromTime": 1000}, "fromTime"),
    ({"fromTime": ...}, "fromTime"),
    ({"timezoneName": "Mars/Olympus_Mons"}, "timezoneName"),
    ({"timezoneName": ""}, "timezoneName"),
    ({"timezoneName": "../../etc/passwd"}, "timezoneName"),
    ({"timezoneName": "/etc/localtime"}, "timezoneName"),
    ({"timezoneName": 330}, "timezoneName"),
    ({"timezoneName": "x" * 500}, "timezoneName"),
    ({"timezoneName": ...}, "timezoneName"),
    ({"endDate": "2030-01-01"}, "endDate"),  # before startDate
    ({"endDate": "2030-13-01"}, "endDate"),
    ({"endDate": "2031-01-03"}, "endDate"),  # 367 days
    ({"repeatingDays": []}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": []}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": ["funday"]}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": [7]}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": [-1]}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": ["7"]}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": [1.5]}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": [True]}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": [None]}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": "monday"}, "repeatingDays"),
    ({"endDate": "2030-01-09", "repeatingDays": ["monday"] * 15}, "repeatingDays"),
    # Tuesday 1st to Thursday 3rd January holds no Sunday.
    ({"startDate": "2030-01-01", "endDate": "2030-01-03", "repeatingDays": ["sunday"]}, "repeatingDays"),
    ({"repeatingDays": ["monday"]}, "endDate"),  # weekly needs an end
    ({"allowOverlap": "yes"}, "allowOverlap"),
    ({"allowOverlap": 1}, "allowOverlap"),
    ({"mango": ""}, "mango"),
    ({"mango": 12345}, "mango"),
    ({"mango": ...}, "mango"),
    ({"colour": "red"}, "colour"),
    ({"_id": "abc"}, "_id"),
    # Dates at the edge of what a datetime can hold are refused, not a crash.
    ({"startDate": "9999-12-31", "fromTime": "23:00", "duration": 300}, "startDate"),
    ({"startDate": "0001-01-01", "fromTime": "00:00", "timezoneName": "Asia/Kolkata"}, "startDate"),
    ({"startDate": "0001-01-01", "fromTime": "00:00", "timezoneName": "UTC"}, "startDate"),
    ({"startDate": "9998-12-31", "endDate": "9999-01-02"}, "endDate"),
]


@pytest.mark.parametrize("fields, field", BAD_BODIES, ids=[f"{f}:{i}" for i, (_, f) in enumerate(BAD_BODIES)])
async def test_bad_body_is_400_naming_the_field_and_creates_nothing(tenant, mango, fields, field):
    r = await tenant.client.post(BASE, json=body(mango, **fields))
    assert_error(r, 400, field)
    assert (await listed(tenant, startDate="2000-01-01T00:00:00Z"))["total"] == 0


async def test_first_occurrence_that_already_started_is_400(tenant, mango):
    # NOW is 2030-01-01 12:00Z.
    r = await tenant.client.post(BASE, json=body(mango, startDate="2030-01-01", fromTime="11:30"))
    assert_error(r, 400, "startDate", "already started")
    r = await tenant.client.post(BASE, json=body(mango, startDate="2030-01-01", fromTime="12:00"))
    assert_error(r, 400, "startDate")
    r = await tenant.client.post(BASE, json=body(mango, startDate="2030-01-01", endDate="2030-01-05", fromTime="11:00"))
    assert_error(r, 400, "startDate")
    r = await tenant.client.post(BASE, json=body(mango, startDate="2020-01-01"))
    assert_error(r, 400, "startDate")
    assert (await listed(tenant))["total"] == 0


async def test_first_occurrence_later_today_is_fine(tenant, mango):
    r = await tenant.client.post(BASE, json=body(mango, startDate="2030-01-01", fromTime="12:30"))
    assert r.status_code == 201, r.text


async def test_first_weekly_occurrence_decides_not_start_date(tenant, mango):
    # startDate (Tuesday 1st) is today and 10:00 has passed, but the first Monday is the 7th.
    r = await tenant.client.post(
        BASE, json=body(mango, startDate="2030-01-01", endDate="2030-01-14", repeatingDays=["mon"])
    )
    assert r.status_code == 201, r.text
    assert r.json()["scheduledMeetingDates"][0].startswith("2030-01-07T10:00")


@pytest.mark.parametrize(
    "mango_id",
    [
        "66c4964c11e7fef26751f3a7",  # the seed's id style
        "00000000-0000-0000-0000-000000000000",
        "not an id at all",
        "0190f3a1-7c3b-7000-8000-000000000000",
    ],
)
async def test_unknown_mango_is_404_naming_mango(tenant, mango_id):
    r = await tenant.client.post(BASE, json=body(mango_id))
    assert_error(r, 404, "mango")
    assert (await listed(tenant))["total"] == 0


@pytest.mark.parametrize(
    "content, content_type",
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b"null", "application/json"),
        (b'"a string"', "application/json"),
        (b"title=x&duration=60", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/json"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_400(tenant, content, content_type):
    for path in (BASE, CHECK):
        r = await tenant.client.post(path, content=content, headers={"content-type": content_type})
        assert_error(r, 400)


async def test_invalid_json_is_named_as_the_body(tenant):
    r = await tenant.client.post(BASE, content=b'{"title": ', headers={"content-type": "application/json"})
    assert_error(r, 400, "body: the body is not valid JSON")


async def test_many_errors_are_named_together(tenant, mango):
    r = await tenant.client.post(BASE, json=body(mango, title="", duration=5, fromTime="25:00"))
    assert_error(r, 400, "title", "duration", "fromTime")


ENDPOINTS = [
    ("POST", BASE, {"title": "x"}),
    ("GET", BASE, None),
    ("POST", CHECK, {}),
    ("GET", f"{BASE}/00000000-0000-0000-0000-000000000000", None),
    ("PATCH", f"{BASE}/00000000-0000-0000-0000-000000000000", {"title": "x"}),
    ("DELETE", f"{BASE}/00000000-0000-0000-0000-000000000000", None),
    ("DELETE", f"{BASE}/groups/00000000-0000-0000-0000-000000000000", None),
]


@pytest.mark.parametrize("method, path, payload", ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-key", "Bearer ", "Basic dXNlcjpwYXNz", "bearer", "Token abc"],
)
async def test_missing_or_wrong_key_is_401_in_the_seed_shape(anonymous, method, path, payload, authorization):
    headers = {"authorization": authorization} if authorization is not None else {}
    r = await anonymous.request(method, path, json=payload, headers=headers)
    assert_error(r, 401)


async def test_a_valid_key_of_the_wrong_case_scheme_still_works(tenant):
    r = await tenant.client.get(BASE, headers={"authorization": f"bearer {tenant.key}"})
    assert r.status_code == 200, r.text


async def test_unknown_route_and_method_use_the_seed_shape(tenant):
    r = await tenant.client.get(f"{BASE}/groups/abc/def")
    assert_error(r, 404)
    r = await tenant.client.get(f"{BASE}/groups/abc")  # only PATCH and DELETE live there
    assert_error(r, 405)
    r = await tenant.client.put(BASE, json={})
    assert_error(r, 405)


async def test_create_checks_the_headers_and_check_availability_ignores_them(tenant, mango):
    r = await tenant.client.post(BASE, json=body(mango), headers={"x-timezone-offset": "9999"})
    assert_error(r, 400, "x-timezone-offset")
    r = await tenant.client.post(BASE, json=body(mango), headers={"x-whitelabel-host": "nowhere:example.com"})
    assert_error(r, 400, "x-whitelabel-host")
    assert (await listed(tenant))["total"] == 0
    r = await tenant.client.post(
        CHECK,
        json={k: v for k, v in body(mango).items() if k not in ("title", "mango")},
        headers={"x-timezone-offset": "9999", "x-whitelabel-host": "nowhere:example.com"},
    )
    assert r.status_code == 200, r.text
