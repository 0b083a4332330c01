"""Status moves with time: scheduled -> active -> completed; what each status allows."""

from datetime import UTC, datetime, timedelta

from tests.appointments.conftest import BASE, assert_problem, create, detail, events, listed, person


async def test_an_appointment_goes_active_then_completed_and_refuses_updates(app, tenant, clock):
    # 2030-01-02 10:00 for an hour; the clock is at 2030-01-01 12:00.
    created = await create(tenant, participants=[person("mod", "moderator", "Mod"), person("guest", display_name="Guest")])
    a = f"{BASE}/{created['id']}"
    moderator, guest = created["participants"]
    assert created["status"] == "scheduled"

    clock.advance(timedelta(hours=22))  # 10:00: it has started
    active = await detail(tenant, created["id"])
    assert active["status"] == "active"
    assert (await listed(tenant))["results"][0]["status"] == "active"
    refusals = [
        await tenant.client.patch(f"{a}/", json={"title": "Too late"}),
        await tenant.client.patch(f"{a}/", json={"start_date_time": "2030-02-01T10:00:00Z"}),
        await tenant.client.patch(f"{a}/", json={"config": {"chat_enabled": False}}),
        await tenant.client.patch(f"{a}/", json={}),
        await tenant.client.delete(f"{a}/"),
        await tenant.client.post(f"{a}/add-participants/", json=[person("late")]),
        await tenant.client.post(f"{a}/remove-participants/", json=[{"id": guest["id"]}]),
    ]
    for r in refusals:
        assert_problem(r, 409, "status", "active")
    assert await detail(tenant, created["id"]) == active

    # While active, a participant can still be renamed or have their role changed.
    r = await tenant.client.patch(f"{a}/participants/{guest['id']}/", json={"display_name": "Guest Speaker", "role": "moderator"})
    assert r.status_code == 200, r.text
    assert r.json() == {**guest, "display_name": "Guest Speaker", "role": "moderator"}
    renamed = await detail(tenant, created["id"])
    assert renamed["participants"] == [moderator, r.json()]
    assert renamed["status"] == "active"

    clock.advance(timedelta(minutes=59, seconds=59))  # 10:59:59 (and the real seconds the test took): still on
    assert (await detail(tenant, created["id"]))["status"] in ("active", "completed")
    clock.advance(timedelta(seconds=1))  # 11:00: it has ended
    completed = await detail(tenant, created["id"])
    assert completed["status"] == "completed"
    assert (await listed(tenant))["results"][0]["status"] == "completed"
    for r in (
        await tenant.client.patch(f"{a}/", json={"title": "Too late"}),
        await tenant.client.delete(f"{a}/"),
        await tenant.client.post(f"{a}/add-participants/", json=[person("late")]),
        await tenant.client.post(f"{a}/remove-participants/", json=[{"id": guest["id"]}]),
        await tenant.client.patch(f"{a}/participants/{guest['id']}/", json={"display_name": "Again"}),
        await tenant.client.patch(f"{a}/participants/{moderator['id']}/", json={"role": "participant"}),
    ):
        assert_problem(r, 409, "status", "completed")
    assert await detail(tenant, created["id"]) == completed
    # Reading still works.
    r = await tenant.client.get(f"{a}/participants/{guest['id']}/")
    assert r.json()["display_name"] == "Guest Speaker"

    # Events: created, then the one rename while active; nothing for the refusals.
    assert [(t, d["status"]) for t, d in await events(app, tenant.organization_id)] == [
        ("appointment.created", "scheduled"),
        ("appointment.updated", "active"),
    ]


async def test_active_from_the_first_instant_completed_from_the_last(tenant, clock):
    created = await create(tenant, start_date_time="2030-01-01T12:30:00Z", duration_minutes=15)
    start = datetime(2030, 1, 1, 12, 30, tzinfo=UTC)
    end = start + timedelta(minutes=15)
    # move_to sets the clock; the request reads it a few milliseconds later.
    clock.move_to(start - timedelta(seconds=1))
    assert (await detail(tenant, created["id"]))["status"] == "scheduled"
    clock.move_to(start)
    assert (await detail(tenant, created["id"]))["status"] == "active"
    clock.move_to(end - timedelta(seconds=1))
    assert (await detail(tenant, created["id"]))["status"] == "active"
    clock.move_to(end)
    assert (await detail(tenant, created["id"]))["status"] == "completed"


async def test_a_scheduled_appointment_can_be_moved_only_into_the_future(tenant, clock):
    created = await create(tenant)
    clock.advance(timedelta(hours=21))  # 09:00 on the day, an hour before it starts
    r = await tenant.client.patch(f"{BASE}/{created['id']}/", json={"start_date_time": "2030-01-02T08:30:00Z"})
    assert_problem(r, 400, "start_date_time", "future")
    r = await tenant.client.patch(f"{BASE}/{created['id']}/", json={"start_date_time": "2030-01-02T09:30:00Z"})
    assert r.status_code == 200, r.text
    clock.advance(timedelta(minutes=31))
    assert (await detail(tenant, created["id"]))["status"] == "active"
