"""Webhook events of the event-calls API: `event_call.created`, `.cancelled`, `.rescheduled`,
each with the booking as the API renders it, written in the transaction of the change (the
outbox), none for a refused request; and delivered, signed, to a real receiver."""

import json
from uuid import UUID

import pytest
from sqlalchemy import select

from callgrid.events_catalog import validate_payload
from callgrid.webhooks.models import WebhookEvent
from tests.bookings.conftest import add_event_type, add_host, book
from tests.support.problems import assert_problem
from tests.support.time import NOW
from tests.webhooks.conftest import FAST, Receiver, create_endpoint

BASE = "/v1/eventCalls"
WED_9 = "2030-01-02T09:00:00.000Z"


@pytest.fixture(autouse=True)
def frozen(app):
    app.state.clock = lambda: NOW


@pytest.fixture
def settings(settings, embedded_worker):
    """With the embedded worker (a test that parametrizes it on): fast retries, loopback targets."""
    return settings.model_copy(update=FAST) if embedded_worker else settings


async def events(app, organization_id: str, prefix: str = "") -> list[tuple[str, dict]]:
    """The organization's events in the outbox, oldest first: (type, data)."""
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(WebhookEvent.type, WebhookEvent.payload)
                .where(WebhookEvent.organization_id == UUID(organization_id), WebhookEvent.type.startswith(prefix))
                .order_by(WebhookEvent.id)
            )
        ).all()
    return [(event_type, json.loads(payload)) for event_type, payload in rows]


def data_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["data"]["eventCall"]["data"]


@pytest.fixture
async def two_hosts(tenant):
    ann, ben = await add_host(tenant, "Ann"), await add_host(tenant, "Ben")
    await add_event_type(tenant, [ann, ben], redirect_url="https://example.com/thanks")
    await add_event_type(tenant, [ann], slug="ann-only")
    return ann, ben


async def test_created_carries_the_booking_as_the_api_answers_it(app, tenant, two_hosts):
    booked = data_of(await book(tenant, dateTime=WED_9, eventId=1), 201)
    assert await events(app, tenant.organization_id) == [("event_call.created", booked)]
    validate_payload("event_call.created", booked)
    assert data_of(await tenant.client.get(f"{BASE}/1"), 200) == booked


async def test_cancelled_carries_the_cancelled_booking_and_its_room_ends(app, tenant, two_hosts):
    booked = data_of(await book(tenant, dateTime=WED_9, eventId=1), 201)
    cancelled = data_of(await tenant.client.post(f"{BASE}/1/cancel", json={"reason": "Ill"}), 200)
    assert cancelled["bookingStatus"] == "cancelled" and cancelled["cancelReason"] == "Ill"
    found = await events(app, tenant.organization_id)
    assert [event_type for event_type, _ in found] == ["event_call.created", "room.terminated", "event_call.cancelled"]
    assert found[0][1] == booked
    assert found[2][1] == cancelled
    validate_payload("event_call.cancelled", cancelled)
    room_id = booked["joinUrl"].split("/rooms/")[1].split("?")[0]
    assert found[1][1]["id"] == room_id and found[1][1]["is_terminated"] is True


async def test_rescheduled_carries_the_new_booking_linked_to_the_old(app, tenant, two_hosts):
    data_of(await book(tenant, dateTime=WED_9, eventId=1), 201)
    moved = data_of(await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-03T10:00:00Z"}), 201)
    assert (moved["id"], moved["rescheduledFromId"], moved["bookingStatus"]) == (2, 1, "confirmed")
    found = await events(app, tenant.organization_id, "event_call.")
    # One event for the move: no `created` for the new booking, no `cancelled` for the old one.
    assert [event_type for event_type, _ in found] == ["event_call.created", "event_call.rescheduled"]
    assert found[1][1] == moved
    validate_payload("event_call.rescheduled", moved)
    assert [t for t, _ in await events(app, tenant.organization_id, "room.")] == ["room.terminated"]


async def test_refused_requests_emit_nothing(app, tenant, two_hosts):
    data_of(await book(tenant, dateTime=WED_9, linkPrefix="acme/ann-only"), 201)
    data_of(await book(tenant, dateTime=WED_9, eventId=1, email="b@example.com"), 201)  # Ben
    before = await events(app, tenant.organization_id)
    assert len(before) == 2
    refused = [
        (await book(tenant, dateTime=WED_9, eventId=1, email="c@example.com"), 409),
        (await book(tenant, dateTime="2030-01-02T09:10:00Z", eventId=1), 400),
        (await book(tenant, dateTime="2030-02-29T09:00:00Z", eventId=1), 400),
        (await book(tenant, dateTime=WED_9, eventId=9), 404),
        (await tenant.client.post(f"{BASE}/9/cancel", json={}), 404),
        (await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-02T08:00:00Z"}), 400),
        (await tenant.client.post(f"{BASE}/2/reschedule", json={"dateTime": WED_9}), 201),  # itself: fine
    ]
    for response, status in refused[:-1]:
        assert_problem(response, status)
    assert refused[-1][0].status_code == 201
    assert_problem(await tenant.client.post(f"{BASE}/2/cancel", json={}), 409, "status")  # moved on already
    assert_problem(await tenant.client.post(f"{BASE}/2/reschedule", json={"dateTime": WED_9}), 409, "status")
    assert [t for t, _ in await events(app, tenant.organization_id, "event_call.")] == [
        "event_call.created", "event_call.created", "event_call.rescheduled"]


async def test_each_organization_has_its_own_events(app, tenant, other_tenant, two_hosts):
    zed = await add_host(other_tenant, "Zed")
    await add_event_type(other_tenant, [zed])
    mine = data_of(await book(tenant, dateTime=WED_9, eventId=1), 201)
    theirs = data_of(await book(other_tenant, dateTime=WED_9, eventId=1), 201)
    assert await events(app, tenant.organization_id) == [("event_call.created", mine)]
    assert await events(app, other_tenant.organization_id) == [("event_call.created", theirs)]


@pytest.mark.slow  # a receiver process
@pytest.mark.parametrize("embedded_worker", [True])
async def test_the_three_events_arrive_signed_in_their_envelopes(app, tenant, two_hosts):
    receiver = Receiver().start()
    try:
        endpoint = await create_endpoint(tenant, receiver.url(), events=[
            "event_call.created", "event_call.cancelled", "event_call.rescheduled"])
        receiver.trust(endpoint["secret"], only=True)
        booked = data_of(await book(tenant, dateTime=WED_9, eventId=1), 201)
        moved = data_of(await tenant.client.post(f"{BASE}/1/reschedule", json={"dateTime": "2030-01-02T10:00:00Z"}), 201)
        cancelled = data_of(await tenant.client.post(f"{BASE}/2/cancel", json={"reason": "No"}), 200)
        records = await receiver.count(3)
        assert len(records) == 3
        by_type = {r["json"]["type"]: r for r in records}
        assert set(by_type) == {"event_call.created", "event_call.rescheduled", "event_call.cancelled"}
        for record in records:
            assert record["verified"], record
            assert set(record["json"]) == {"id", "type", "created_at", "data"}
            assert record["headers"]["webhook-id"] == record["json"]["id"]
            validate_payload(record["json"]["type"], record["json"]["data"])
        assert by_type["event_call.created"]["json"]["data"] == booked
        assert by_type["event_call.rescheduled"]["json"]["data"] == moved
        assert by_type["event_call.cancelled"]["json"]["data"] == cancelled
    finally:
        receiver.stop()


@pytest.mark.parametrize("event_type", ["event_call.created", "event_call.cancelled", "event_call.rescheduled"])
def test_the_references_example_of_each_event_is_a_valid_payload(event_type):
    import re
    from pathlib import Path

    from callgrid.bookings.render import EventCallData

    reference = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    section = reference.split(f"### `{event_type}`\n", 1)[1]
    example = json.loads(re.search(r"```json\n(.*?)\n```", section, re.S).group(1))
    assert example["type"] == event_type
    assert set(example) == {"id", "type", "created_at", "data"}
    validate_payload(event_type, example["data"])
    assert list(example["data"]) == list(EventCallData.model_fields)  # every field, in the answer's order
