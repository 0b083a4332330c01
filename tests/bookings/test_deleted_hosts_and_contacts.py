"""A deleted host is no longer offered, chosen or listed on an event type; a deleted contact is
no longer found by a booking (it gets a new one)."""

from datetime import timedelta
from uuid import UUID

from sqlalchemy import update

from callgrid.db.session import write_session
from callgrid.directory.models import Contact, Host
from tests.bookings.conftest import NOW, WEEKDAYS_9_TO_5, add_event_type, add_host, book
from tests.support.problems import assert_problem


async def _delete(app, model, id: str) -> None:
    async with write_session(app.state.database) as session:
        await session.execute(update(model).where(model.id == UUID(id)).values(deleted_at=NOW - timedelta(minutes=1)))
        await session.commit()


async def test_a_deleted_host_is_no_longer_offered_or_chosen(app, tenant):
    ada = await add_host(tenant, "Ada", working_hours=WEEKDAYS_9_TO_5)
    bob = await add_host(tenant, "Bob", working_hours=WEEKDAYS_9_TO_5)
    event = await add_event_type(tenant, [{"host_id": ada["id"], "priority": "high"}, {"host_id": bob["id"]}])
    day = {"start": "2030-01-02", "end": "2030-01-02"}
    slots = (await tenant.client.get(f"/api/v1/event-types/{event['id']}/slots", params=day)).json()["slots"]["2030-01-02"]
    assert {s["hosts_available"] for s in slots} == {2}

    await _delete(app, Host, ada["id"])
    shown = (await tenant.client.get(f"/api/v1/event-types/{event['id']}")).json()
    assert [h["name"] for h in shown["hosts"]] == ["Bob"]
    slots = (await tenant.client.get(f"/api/v1/event-types/{event['id']}/slots", params=day)).json()["slots"]["2030-01-02"]
    assert slots and {s["hosts_available"] for s in slots} == {1}
    r = await book(tenant, dateTime="2030-01-02T09:00:00.000Z", eventId=event["number"])
    assert r.status_code == 201, r.text
    assert r.json()["data"]["eventCall"]["data"]["closerId"] == bob["number"]  # Ada had the higher priority

    r = await tenant.client.post(
        "/api/v1/event-types",
        json={"title": "Again", "slug": "again", "duration_minutes": 30, "hosts": [{"host_id": ada["id"]}]},
    )
    assert_problem(r, 400, "hosts[0].host_id")


async def test_a_deleted_contact_is_not_found_again(app, tenant):
    host = await add_host(tenant, "Ada", working_hours=WEEKDAYS_9_TO_5)
    event = await add_event_type(tenant, [host])
    first = await book(tenant, dateTime="2030-01-02T09:00:00.000Z", eventId=event["number"], email="sam@example.com")
    contact = first.json()["data"]["eventCall"]["data"]["contactId"]
    listed = (await tenant.client.get("/api/v1/contacts")).json()["items"]
    await _delete(app, Contact, next(c["id"] for c in listed if c["number"] == contact))

    r = await book(tenant, dateTime="2030-01-02T10:00:00.000Z", eventId=event["number"], contactId=contact)
    assert_problem(r, 404, "contactId")
    again = await book(tenant, dateTime="2030-01-02T10:00:00.000Z", eventId=event["number"], email="SAM@example.com")
    assert again.status_code == 201, again.text
    assert again.json()["data"]["eventCall"]["data"]["contactId"] == contact + 1
