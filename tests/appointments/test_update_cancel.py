"""GET, PATCH and DELETE /api/v1/appointments/{id}/."""

from datetime import timedelta

import pytest

from tests.appointments.conftest import (
    BASE,
    DEFAULT_CONFIG,
    DETAIL_KEYS,
    MISSING,
    around_now,
    assert_problem,
    create,
    detail,
    events,
)


async def test_retrieve_shows_the_detail_with_participants(tenant):
    created = await create(tenant, config={"whiteboard_enabled": True})
    data = await detail(tenant, created["id"])
    assert set(data) == DETAIL_KEYS
    assert data == created
    assert data["config"] == {**DEFAULT_CONFIG, "whiteboard_enabled": True}


@pytest.mark.parametrize("bad_id", [MISSING, "not-a-uuid", "12345", "0" * 33])
async def test_an_unknown_or_malformed_id_is_a_404_naming_id(tenant, bad_id):
    for r in (
        await tenant.client.get(f"{BASE}/{bad_id}/"),
        await tenant.client.patch(f"{BASE}/{bad_id}/", json={"title": "x"}),
        await tenant.client.delete(f"{BASE}/{bad_id}/"),
    ):
        assert_problem(r, 404, "id", bad_id)


async def test_patch_changes_only_the_fields_given(app, tenant, clock):
    created = await create(tenant, config={"chat_enabled": False})
    clock.advance(timedelta(minutes=5))
    r = await tenant.client.patch(f"{BASE}/{created['id']}/", json={"title": "Updated Appointment Title"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["title"] == "Updated Appointment Title"
    assert {k: v for k, v in data.items() if k not in ("title", "updated_at")} == {
        k: v for k, v in created.items() if k not in ("title", "updated_at")
    }
    assert data["updated_at"] > created["updated_at"]
    assert around_now(data["updated_at"], clock_offset_seconds=300)
    assert await detail(tenant, created["id"]) == data
    assert [t for t, _ in await events(app, tenant.organization_id)] == ["appointment.created", "appointment.updated"]
    assert (await events(app, tenant.organization_id))[-1][1] == data


async def test_patch_moves_and_resizes(tenant):
    created = await create(tenant)
    r = await tenant.client.patch(
        f"{BASE}/{created['id']}", json={"start_date_time": "2030-03-04 08:30:00+01:00", "duration_minutes": 90}
    )
    assert r.status_code == 200, r.text
    assert r.json()["start_date_time"] == "2030-03-04T07:30:00.000Z"
    assert r.json()["duration_minutes"] == 90
    # Duration alone keeps the start; start alone keeps the duration.
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={"duration_minutes": 15})
    assert (r.json()["start_date_time"], r.json()["duration_minutes"]) == ("2030-03-04T07:30:00.000Z", 15)
    r = await tenant.client.patch(f"{BASE}/{created['id']}", json={"start_date_time": "2030-03-05T07:30:00Z"})
    assert (r.json()["start_date_time"], r.json()["duration_minutes"]) == ("2030-03-05T07:30:00.000Z", 15)


async def test_patch_config_merges_flags_and_null_resets_them(tenant):
    created = await create(tenant, config={"chat_enabled": False, "whiteboard_enabled": True})
    url = f"{BASE}/{created['id']}/"
    r = await tenant.client.patch(url, json={"config": {"breakout_rooms_enabled": True}})
    assert r.json()["config"] == {
        **DEFAULT_CONFIG,
        "chat_enabled": False,
        "whiteboard_enabled": True,
        "breakout_rooms_enabled": True,
    }
    r = await tenant.client.patch(url, json={"config": {}})
    assert r.json()["config"]["breakout_rooms_enabled"] is True
    r = await tenant.client.patch(url, json={"config": None})
    assert r.json()["config"] == DEFAULT_CONFIG
    assert (await detail(tenant, created["id"]))["config"] == DEFAULT_CONFIG


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": None}, "title"),
        ({"start_date_time": None}, "start_date_time"),
        ({"start_date_time": "2020-01-01T00:00:00Z"}, "start_date_time"),
        ({"start_date_time": "2030-01-01T11:00:00Z"}, "start_date_time"),  # an hour before now
        ({"start_date_time": "soon"}, "start_date_time"),
        ({"duration_minutes": None}, "duration_minutes"),
        ({"duration_minutes": 10}, "duration_minutes"),
        ({"duration_minutes": 1000}, "duration_minutes"),
        ({"config": {"chat": True}}, "config.chat"),
        ({"config": {"chat_enabled": None}}, "config.chat_enabled"),
        ({"participants": []}, "participants"),
        ({"status": "cancelled"}, "status"),
    ],
)
async def test_a_bad_patch_is_a_400_and_changes_nothing(app, tenant, patch, field):
    created = await create(tenant)
    r = await tenant.client.patch(f"{BASE}/{created['id']}/", json=patch)
    assert_problem(r, 400, field)
    assert await detail(tenant, created["id"]) == created
    assert [t for t, _ in await events(app, tenant.organization_id)] == ["appointment.created"]


async def test_an_empty_patch_changes_nothing(app, tenant):
    created = await create(tenant)
    r = await tenant.client.patch(f"{BASE}/{created['id']}/", json={})
    assert r.status_code == 200
    assert r.json() == created
    assert [t for t, _ in await events(app, tenant.organization_id)] == ["appointment.created"]


async def test_delete_cancels_and_it_reads_as_cancelled(app, tenant):
    created = await create(tenant)
    r = await tenant.client.delete(f"{BASE}/{created['id']}/")
    assert r.status_code == 204
    assert r.content == b""
    data = await detail(tenant, created["id"])
    assert data["status"] == "cancelled"
    assert {k: v for k, v in data.items() if k not in ("status", "updated_at")} == {
        k: v for k, v in created.items() if k not in ("status", "updated_at")
    }
    assert [(t, d["status"]) for t, d in await events(app, tenant.organization_id)] == [
        ("appointment.created", "scheduled"),
        ("appointment.cancelled", "cancelled"),
    ]
    # Cancelling again is not an error and sends nothing more.
    r = await tenant.client.delete(f"{BASE}/{created['id']}")
    assert r.status_code == 204
    assert len(await events(app, tenant.organization_id)) == 2


async def test_a_cancelled_appointment_cannot_be_changed(app, tenant):
    created = await create(tenant)
    participant_id = created["participants"][0]["id"]
    await tenant.client.delete(f"{BASE}/{created['id']}/")
    before = await detail(tenant, created["id"])
    a = f"{BASE}/{created['id']}"
    assert_problem(await tenant.client.patch(f"{a}/", json={"title": "x"}), 409, "status", "cancelled")
    assert_problem(await tenant.client.post(f"{a}/add-participants/", json=[{"role": "participant", "unique_id": "n"}]), 409, "status")
    assert_problem(await tenant.client.post(f"{a}/remove-participants/", json=[{"id": participant_id}]), 409, "status")
    r = await tenant.client.patch(f"{a}/participants/{participant_id}/", json={"display_name": "x"})
    assert_problem(r, 409, "status", "cancelled")
    assert await detail(tenant, created["id"]) == before
    assert len(await events(app, tenant.organization_id)) == 2
