"""`Idempotency-Key` through the API in this process, on each database: a retry answers the
first answer byte for byte and creates nothing; another request with the key is a 409; keys
are the API key's own; a failed request leaves its key free."""

from datetime import timedelta
from uuid import UUID

import pytest
from fastapi import APIRouter
from sqlalchemy import String, select, type_coerce

from callgrid.app import create_app
from callgrid.calls.models import Call
from callgrid.db.session import WriteSession
from callgrid.idempotency.requests import Idempotent, IdempotentRoute
from callgrid.directory.models import Contact
from callgrid.idempotency.models import IdempotencyKey
from tests.idempotency.conftest import (
    APPOINTMENT, APPOINTMENTS, CALLS, ENDPOINT, ENDPOINTS, ROOM, ROOMS, call_body, calls, count, endpoints, keys,
    make_mango, new_key, rooms,
)
from tests.support.problems import assert_problem
from tests.support.tenants import add_key, client


async def _video_call(tenant):
    return CALLS, call_body(await make_mango(tenant), allowOverlap=True), 201


async def _appointment(tenant):
    return APPOINTMENTS, APPOINTMENT, 201


async def _room(tenant):
    return ROOMS, ROOM, 200


async def _endpoint(tenant):
    return ENDPOINTS, ENDPOINT, 201


# (what is created, its request, how many of it there are)
KINDS = {
    "video call": (_video_call, calls),
    "appointment": (_appointment, calls),
    "room": (_room, rooms),
    "webhook endpoint": (_endpoint, endpoints),
}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_retry_answers_the_first_answer_and_creates_nothing(app, tenant, kind):
    request, counted = KINDS[kind]
    path, body, status = await request(tenant)
    before = await counted(app)
    key = new_key()
    first = await tenant.client.post(path, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == status, first.text
    assert "idempotent-replayed" not in first.headers
    for _ in range(3):
        again = await tenant.client.post(path, json=body, headers={"Idempotency-Key": key})
        assert (again.status_code, again.content) == (first.status_code, first.content)
        assert again.headers["content-type"] == first.headers["content-type"]
        assert again.headers["idempotent-replayed"] == "true"
    assert await counted(app) == before + 1
    # Without the key, the same request is another create.
    other = await tenant.client.post(path, json=body)
    assert other.status_code == status, other.text
    assert other.content != first.content
    assert await counted(app) == before + 2
    assert await keys(app) == 1


async def test_the_same_key_with_another_body_is_a_409(app, tenant):
    mango = await make_mango(tenant)
    key = new_key()
    first = await tenant.client.post(CALLS, json=call_body(mango, 10), headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    other = await tenant.client.post(CALLS, json=call_body(mango, 11), headers={"Idempotency-Key": key})
    assert other.status_code == 409, other.text
    problem = other.json()  # the video-calls API's own error shape
    assert "Idempotency-Key" in str(problem) and "different request" in str(problem), problem
    # Another path with the key is another request too.
    assert_problem(await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key}),
                   409, "Idempotency-Key", "different request")
    assert await calls(app) == 1
    assert await endpoints(app) == 0


@pytest.mark.parametrize("header, value", [("X-Timezone-Offset", "-330"), ("X-Whitelabel-Host", "calls.acme.example")])
async def test_a_header_that_changes_the_answer_is_part_of_the_request(app, tenant, header, value):
    """The same body with another X-Timezone-Offset (times) or X-Whitelabel-Host (links) would
    be answered differently: it is another request, a 409, not the first answer."""
    mango = await make_mango(tenant)
    key, body = new_key(), call_body(mango, 10)
    first = await tenant.client.post(CALLS, json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    other = await tenant.client.post(CALLS, json=body, headers={"Idempotency-Key": key, header: value})
    assert other.status_code == 409 and "different request" in other.text, other.text
    again = await tenant.client.post(CALLS, json=body, headers={"Idempotency-Key": key})
    assert (again.status_code, again.content) == (201, first.content)
    assert await calls(app) == 1


async def test_keys_are_the_api_keys_own(app, tenant):
    second = await add_key(app, tenant, role="admin")
    key = new_key()
    async with second:
        first = await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})
        other = await second.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})
        assert (first.status_code, other.status_code) == (201, 201), other.text
        assert "idempotent-replayed" not in other.headers
        assert first.json()["id"] != other.json()["id"]
        # And each replays its own.
        again = await second.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})
        assert again.content == other.content
    assert await endpoints(app) == 2


async def test_a_key_whose_request_failed_runs_again(app, tenant):
    taken = await tenant.client.post("/api/v1/contacts", json={"email": "ann@example.com"})
    assert taken.status_code == 201, taken.text
    key = new_key()
    body = {"email": "ann@example.com", "first_name": "Ann"}
    assert_problem(await tenant.client.post("/api/v1/contacts", json=body, headers={"Idempotency-Key": key}), 409, "email")
    assert await keys(app) == 0  # nothing stored for a failed request
    r = await tenant.client.delete(f"/api/v1/contacts/{taken.json()['id']}")
    assert r.status_code == 204, r.text
    retried = await tenant.client.post("/api/v1/contacts", json=body, headers={"Idempotency-Key": key})
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert retried.json()["email"] == "ann@example.com"


async def test_an_overlap_refused_then_resolved_creates_on_retry(app, tenant):
    mango = await make_mango(tenant)
    blocking = await tenant.client.post(CALLS, json=call_body(mango, 10))
    assert blocking.status_code == 201, blocking.text
    key = new_key()
    body = call_body(mango, 10, title="Second")
    refused = await tenant.client.post(CALLS, json=body, headers={"Idempotency-Key": key})
    assert refused.status_code == 409, refused.text
    assert (await tenant.client.delete(f"{CALLS}/{blocking.json()['_id']}")).status_code == 200
    created = await tenant.client.post(CALLS, json=body, headers={"Idempotency-Key": key})
    assert created.status_code == 201, created.text
    assert (await tenant.client.post(CALLS, json=body, headers={"Idempotency-Key": key})).content == created.content
    assert await count(app, Call, Call.title == "Second") == 1


@pytest.mark.parametrize("value, rule", [("k" * 256, "at most 255"), ("", "at least 1")])
async def test_a_key_too_long_or_empty_is_a_400(app, tenant, value, rule):
    problem = assert_problem(
        await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": value}), 400, "Idempotency-Key", rule
    )
    assert problem["errors"] == [{"field": "Idempotency-Key", "message": problem["errors"][0]["message"]}]
    r = await tenant.client.post(CALLS, json=call_body(await make_mango(tenant)), headers={"Idempotency-Key": value})
    assert r.status_code == 400, r.text
    assert "Idempotency-Key" in r.text
    assert await endpoints(app) == 0 and await calls(app) == 0
    ok = await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": "k" * 255})
    assert ok.status_code == 201, ok.text


async def test_a_key_lives_24_hours(app, tenant, clock):
    key = new_key()
    first = await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})
    clock.advance(timedelta(hours=23, minutes=59))
    assert (await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})).content == first.content
    clock.advance(timedelta(minutes=1))
    later = await tenant.client.post(ENDPOINTS, json={**ENDPOINT, "description": "new"}, headers={"Idempotency-Key": key})
    assert later.status_code == 201, later.text
    assert "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert await endpoints(app) == 2 and await keys(app) == 1


async def test_without_the_header_nothing_is_stored(app, tenant):
    mango = await make_mango(tenant)
    assert (await tenant.client.post(CALLS, json=call_body(mango))).status_code == 201
    assert (await tenant.client.post(ENDPOINTS, json=ENDPOINT)).status_code == 201
    assert await keys(app) == 0


async def test_a_replay_needs_the_api_key_and_is_not_a_lookup(app, tenant, anonymous):
    key = new_key()
    assert (await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})).status_code == 201
    r = await anonymous.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})
    assert_problem(r, 401)


async def test_other_creates_take_the_key(app, tenant):
    """One retry of each other kind of create: the same answer, nothing created twice."""
    room = (await tenant.client.post(ROOMS, json={"name": "Private", "type": "private"})).json()["room"]
    product = (await tenant.client.post("/api/v1/products", json={"title": "Kiwi", "price": 1})).json()
    contact = (await tenant.client.post("/api/v1/contacts", json={"email": "dee@example.com"})).json()
    appointment = (await tenant.client.post(APPOINTMENTS, json=APPOINTMENT)).json()
    requests = [
        ("/api/v1/hosts", {"name": "Bea", "email": "bea@example.com"}),
        ("/api/v1/contacts", {"email": "cy@example.com"}),
        ("/api/v1/products", {"title": "Fig", "price": 1}),
        (f"/api/v1/products/{product['id']}/subscribers", {"contact_id": contact["id"]}),
        ("/api/v1/whitelabel-domains", {"hostname": "calls.acme.example"}),
        ("/api/v1/api-keys", {"name": "ci"}),
        ("/api/v1/event-types", {"title": "Intro", "slug": "intro", "duration_minutes": 30, "hosts": [{"host_id": tenant.host_id}]}),
        ("/v1/eventCalls", {"eventId": 1, "dateTime": "2030-01-02T09:00:00.000Z", "timeZone": "UTC", "email": "ada@example.com"}),
        ("/v1/eventCalls/1/reschedule", {"dateTime": "2030-01-03T10:00:00Z"}),
        (f"{ROOMS}/{room['id']}/members", {"members": [{"user_id": "bob"}]}),
        (f"{ROOMS}/{room['id']}/join-tokens", {"user_id": "bob"}),
        (f"{ROOMS}/{room['id']}/replay-tokens", {"user_id": "bob"}),
        (f"{APPOINTMENTS}{appointment['id']}/add-participants/", [{"role": "participant", "unique_id": "ed@example.com"}]),
    ]
    for path, body in requests:
        key = new_key()
        first = await tenant.client.post(path, json=body, headers={"Idempotency-Key": key})
        assert first.status_code in (200, 201), (path, first.text)
        again = await tenant.client.post(path, json=body, headers={"Idempotency-Key": key})
        assert (again.status_code, again.content, again.headers.get("idempotent-replayed")) == (
            first.status_code, first.content, "true"), path
    assert await count(app, Contact) == 3  # dee, cy and the booking's invitee, once each
    assert await keys(app) == len(requests)


async def test_stored_answers_are_encrypted(app, tenant):
    """An answer may hold a secret shown once (here a webhook endpoint's signing secret)."""
    key = new_key()
    created = await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})
    assert created.status_code == 201, created.text
    async with app.state.database.read() as session:
        (stored,) = (await session.execute(select(type_coerce(IdempotencyKey.body, String)))).scalars().all()
    assert stored.startswith("fernet:")
    assert created.json()["secret"] not in stored and created.json()["id"] not in stored
    again = await tenant.client.post(ENDPOINTS, json=ENDPOINT, headers={"Idempotency-Key": key})
    assert again.json()["secret"] == created.json()["secret"]


async def test_a_service_that_rolls_back_and_goes_on_keeps_its_key(app, tenant):
    """A booking whose first host was taken under its lock rolls the transaction back (the key's
    row with it) and books the next: the key is claimed again with the answer, so a retry
    replays it. An endpoint doing the same, on an app of its own with the real route class,
    dependency and write session."""
    tenant_id, key = UUID(tenant.organization_id), new_key()
    router = APIRouter(route_class=IdempotentRoute)

    @router.post("/test/contacts", status_code=201, dependencies=[Idempotent])
    async def second_try(session: WriteSession) -> dict:
        await session.rollback()  # the first try, given up
        session.add(Contact(organization_id=tenant_id, email=f"{key}@example.com", number=99))
        await session.flush()
        return {"made": "second try"}

    own = create_app(app.state.settings)
    own.include_router(router)
    async with own.router.lifespan_context(own), client(own, tenant.key) as http:
        first = await http.post("/test/contacts", json={}, headers={"Idempotency-Key": key})
        assert (first.status_code, first.json()) == (201, {"made": "second try"}), first.text
        again = await http.post("/test/contacts", json={}, headers={"Idempotency-Key": key})
        assert again.status_code == 201 and again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
    assert await count(app, Contact, Contact.email == f"{key}@example.com") == 1
    assert await keys(app) == 1
