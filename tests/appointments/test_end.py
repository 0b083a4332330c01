"""POST /api/v1/appointments/{id}/end: an active appointment ends now (`completed`), its room is
terminated, and an `appointment.ended` event carries the detail; anything else is a 409."""

from datetime import timedelta

from tests.appointments.conftest import BASE, MISSING, assert_problem, create, detail, events


async def test_an_active_appointment_ends_early(app, tenant, clock):
    created = await create(tenant)  # 2030-01-02 10:00 for an hour; now is 2030-01-01 12:00
    clock.advance(timedelta(hours=22, minutes=10))  # 10:10 on the day: active
    assert (await detail(tenant, created["id"]))["status"] == "active"
    room = (await tenant.client.get(f"/v1/rooms/{created['id']}")).json()["room"]
    assert room["is_terminated"] is False

    r = await tenant.client.post(f"{BASE}/{created['id']}/end/")
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["status"] == "completed"
    # Its planned time is kept; the change is its status (and updated_at).
    assert (ended["start_date_time"], ended["duration_minutes"]) == (created["start_date_time"], created["duration_minutes"])
    assert ended["updated_at"] != created["updated_at"]
    assert await detail(tenant, created["id"]) == ended
    room = (await tenant.client.get(f"/v1/rooms/{created['id']}")).json()["room"]
    assert room["is_terminated"] is True and room["terminated_at"] is not None
    assert [t for t, _ in await events(app, tenant.organization_id)] == ["appointment.created", "appointment.ended"]
    assert (await events(app, tenant.organization_id))[-1][1] == ended
    room_events = await events(app, tenant.organization_id, "room.terminated")
    assert len(room_events) == 1 and room_events[0][1]["id"] == created["id"]

    # It is over: ending again, or changing it, is a 409; it lists as completed, also after its planned end.
    assert_problem(await tenant.client.post(f"{BASE}/{created['id']}/end/"), 409, "status", "completed")
    assert_problem(await tenant.client.patch(f"{BASE}/{created['id']}/", json={"title": "x"}), 409, "status")
    clock.advance(timedelta(hours=2))
    assert (await detail(tenant, created["id"]))["status"] == "completed"


async def test_only_an_active_appointment_can_be_ended(app, tenant, clock):
    scheduled = await create(tenant)
    assert_problem(await tenant.client.post(f"{BASE}/{scheduled['id']}/end/"), 409, "status", "scheduled")
    cancelled = await create(tenant, start_date_time="2030-01-03T10:00:00Z")
    assert (await tenant.client.delete(f"{BASE}/{cancelled['id']}/")).status_code == 204
    assert_problem(await tenant.client.post(f"{BASE}/{cancelled['id']}/end/"), 409, "status", "cancelled")
    clock.advance(timedelta(days=1))  # 2030-01-02 12:00: the first one is over by time
    assert_problem(await tenant.client.post(f"{BASE}/{scheduled['id']}/end/"), 409, "status", "completed")
    assert [t for t, _ in await events(app, tenant.organization_id)] == [
        "appointment.created", "appointment.created", "appointment.cancelled",
    ]


async def test_missing_or_other_organizations_appointments_are_404(tenant, other_tenant, clock):
    theirs = await create(other_tenant)
    clock.advance(timedelta(hours=22, minutes=10))
    for appointment_id in (MISSING, "not-a-uuid", theirs["id"]):
        assert_problem(await tenant.client.post(f"{BASE}/{appointment_id}/end/"), 404, "id")
    # Without the trailing slash too.
    r = await other_tenant.client.post(f"{BASE}/{theirs['id']}/end")
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
