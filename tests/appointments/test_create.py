"""POST /api/v1/appointments/: the contract's fields, limits, defaults and refusals."""

import pytest

from tests.appointments.conftest import (
    BASE,
    DEFAULT_CONFIG,
    DETAIL_KEYS,
    NOW_TEXT,
    around_now,
    assert_problem,
    body,
    create,
    detail,
    events,
    person,
    table_counts,
)


async def test_create_answers_201_with_the_detail(app, tenant):
    r = await tenant.client.post(f"{BASE}/", json=body())
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json"
    data = r.json()
    assert set(data) == DETAIL_KEYS
    assert data["title"] == "Consultation Meeting"
    assert data["start_date_time"] == "2030-01-02T10:00:00.000Z"
    assert data["duration_minutes"] == 60
    assert data["status"] == "scheduled"
    assert data["config"] == DEFAULT_CONFIG
    assert data["created_at"] == data["updated_at"]
    assert around_now(data["created_at"])
    [moderator] = data["participants"]
    assert set(moderator) == {"id", "unique_id", "display_name", "role", "join_url"}
    # Their personal link into the appointment's room (tests/rooms check it lets them in as host).
    assert moderator["join_url"].startswith(f"http://callgrid.test/rooms/{data['id']}?token=")
    assert moderator["unique_id"] == "admin@example.com"
    assert moderator["display_name"] == "Admin User"
    assert moderator["role"] == "moderator"
    # It is stored: retrieve answers the same.
    assert await detail(tenant, data["id"]) == data
    # And the change went out as a webhook event carrying the same detail.
    assert await events(app, tenant.organization_id) == [("appointment.created", data)]


async def test_the_seeds_own_example_body_is_accepted(tenant):
    seed = {
        "title": "Consultation Meeting",
        "start_date_time": "2030-10-30 15:26:22.539536+00:00",  # the seed's example form, in the future
        "duration_minutes": 60,
        "participants": [{"role": "moderator", "display_name": "Admin User", "unique_id": "admin@example.com"}],
    }
    r = await tenant.client.post(BASE, json=seed)
    assert r.status_code == 201, r.text
    assert r.json()["start_date_time"] == "2030-10-30T15:26:22.539Z"
    assert r.json()["duration_minutes"] == 60


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2030-01-02T10:00:00Z", "2030-01-02T10:00:00.000Z"),
        ("2030-01-02T10:00:00+00:00", "2030-01-02T10:00:00.000Z"),
        ("2030-01-02T12:30:00+02:30", "2030-01-02T10:00:00.000Z"),  # an offset is turned into UTC
        ("2030-01-02 10:00:00.5Z", "2030-01-02T10:00:00.500Z"),
        ("2030-01-02T10:00:00", "2030-01-02T10:00:00.000Z"),  # no offset: taken as UTC
    ],
)
async def test_start_date_time_forms(tenant, given, stored):
    data = await create(tenant, start_date_time=given)
    assert data["start_date_time"] == stored


async def test_config_flags_left_out_take_defaults_and_all_six_are_shown(tenant):
    data = await create(tenant, config={"breakout_rooms_enabled": True, "chat_enabled": False})
    assert data["config"] == {**DEFAULT_CONFIG, "breakout_rooms_enabled": True, "chat_enabled": False}
    assert (await create(tenant, config={}))["config"] == DEFAULT_CONFIG
    assert (await create(tenant, config=None))["config"] == DEFAULT_CONFIG
    everything_flipped = {flag: not value for flag, value in DEFAULT_CONFIG.items()}
    assert (await create(tenant, config=everything_flipped))["config"] == everything_flipped


async def test_an_unknown_config_key_is_a_400_naming_it(app, tenant):
    r = await tenant.client.post(BASE, json=body(config={"chat_enabled": True, "recording_enabled": True}))
    assert_problem(r, 400, "config.recording_enabled")
    r = await tenant.client.post(BASE, json=body(config={"chat_enabled": "yes"}))
    assert_problem(r, 400, "config.chat_enabled")
    r = await tenant.client.post(BASE, json=body(config=[True]))
    assert_problem(r, 400, "config")
    assert await table_counts(app) == (0, 0)


async def test_a_start_in_the_past_or_now_is_a_400(app, tenant):
    for start in ("2029-12-31T23:59:59Z", NOW_TEXT, "2020-01-01 00:00:00+00:00"):
        r = await tenant.client.post(BASE, json=body(start_date_time=start))
        assert_problem(r, 400, "start_date_time", "future")
    assert await table_counts(app) == (0, 0)
    assert await events(app, tenant.organization_id) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": 5}, "title"),
        ({"title": ...}, "title"),
        ({"start_date_time": ...}, "start_date_time"),
        ({"start_date_time": "tomorrow"}, "start_date_time"),
        ({"start_date_time": "2030-02-30T10:00:00Z"}, "start_date_time"),
        ({"start_date_time": 1893492000}, "start_date_time"),  # a number is not a date-time string
        ({"start_date_time": None}, "start_date_time"),
        ({"duration_minutes": 14}, "duration_minutes"),
        ({"duration_minutes": 721}, "duration_minutes"),
        ({"duration_minutes": "60"}, "duration_minutes"),
        ({"duration_minutes": 60.5}, "duration_minutes"),
        ({"duration_minutes": True}, "duration_minutes"),
        ({"duration_minutes": ...}, "duration_minutes"),
        ({"participants": ...}, "participants"),
        ({"participants": []}, "participants"),
        ({"participants": None}, "participants"),
        ({"participants": {"role": "moderator", "unique_id": "a"}}, "participants"),
        ({"participants": [{"unique_id": "a"}]}, "participants[0].role"),
        ({"participants": [person("a", role="host")]}, "participants[0].role"),
        ({"participants": [person("a", role="Moderator")]}, "participants[0].role"),
        ({"participants": [{"role": "moderator"}]}, "participants[0].unique_id"),
        ({"participants": [person("")]}, "participants[0].unique_id"),
        ({"participants": [person("x" * 256)]}, "participants[0].unique_id"),
        ({"participants": [person("a"), person(7)]}, "participants[1].unique_id"),
        ({"participants": [person("a", display_name="x" * 61)]}, "participants[0].display_name"),
        ({"participants": [{**person("a"), "email": "a@example.com"}]}, "participants[0].email"),
        ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
        ({"status": "active"}, "status"),
    ],
)
async def test_bad_fields_are_a_400_naming_the_field(app, tenant, fields, field):
    r = await tenant.client.post(BASE, json=body(**fields))
    assert_problem(r, 400, field)
    assert await table_counts(app) == (0, 0)


async def test_limits_are_inclusive(tenant):
    data = await create(
        tenant,
        title="x" * 255,
        duration_minutes=720,
        participants=[person("u" * 255, display_name="d" * 60), person("b", display_name=None)],
    )
    assert data["title"] == "x" * 255
    assert data["duration_minutes"] == 720
    assert [p["display_name"] for p in data["participants"]] == ["d" * 60, None]
    assert (await create(tenant, title="y", duration_minutes=15))["duration_minutes"] == 15


async def test_a_unique_id_twice_in_the_body_is_a_400_and_nothing_is_created(app, tenant):
    participants = [person("a@example.com", "moderator"), person("b@example.com"), person("a@example.com")]
    r = await tenant.client.post(BASE, json=body(participants=participants))
    data = assert_problem(r, 400, "participants[2].unique_id", "a@example.com", "more than once")
    assert data["errors"] == [{"field": "participants[2].unique_id", "message": data["errors"][0]["message"]}]
    assert await table_counts(app) == (0, 0)
    assert await events(app, tenant.organization_id) == []


async def test_participants_are_kept_in_the_order_given(tenant):
    given = [person(f"user{n}@example.com", "moderator" if n == 0 else "participant", f"User {n}") for n in range(30)]
    data = await create(tenant, participants=given)
    assert [(p["unique_id"], p["role"], p["display_name"]) for p in data["participants"]] == [
        (p["unique_id"], p["role"], p["display_name"]) for p in given
    ]
    assert len({p["id"] for p in data["participants"]}) == 30


async def test_at_most_500_participants_in_a_create(app, tenant):
    r = await tenant.client.post(BASE, json=body(participants=[person(f"u{n}") for n in range(501)]))
    assert_problem(r, 400, "participants", "500")
    assert await table_counts(app) == (0, 0)
    data = await create(tenant, participants=[person(f"u{n}") for n in range(500)])
    assert len(data["participants"]) == 500


async def test_the_same_unique_id_may_be_on_different_appointments(tenant):
    first = await create(tenant)
    second = await create(tenant)
    assert first["id"] != second["id"]
    assert first["participants"][0]["unique_id"] == second["participants"][0]["unique_id"]
    assert first["participants"][0]["id"] != second["participants"][0]["id"]


async def test_appointments_take_no_part_in_the_double_booking_check(tenant):
    # Same slot, twice: no host, so no overlap refusal.
    first = await create(tenant)
    second = await create(tenant)
    assert first["start_date_time"] == second["start_date_time"]
    # And the key's host can still book a video call over them.
    r = await tenant.client.post("/api/v1/products", json={"title": "Mango", "price": 5})
    mango = r.json()["id"]
    r = await tenant.client.post(
        "/api/v1/external/workshops/video-calls",
        json={"title": "W", "mango": mango, "startDate": "2030-01-02", "fromTime": "10:00", "timezoneName": "UTC", "duration": 60},
    )
    assert r.status_code == 201, r.text
