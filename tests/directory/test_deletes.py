"""DELETE of hosts, contacts, products and white-label domains: history is kept (past calls still
show a deleted host or product), deleted ones are gone from lists and gets and can no longer be
booked or chosen; a host with upcoming calls is refused (409 listing them) unless
`?cancel_upcoming=true`, which cancels them with their webhook events; the owner host stays."""

import json
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select

from callgrid.webhooks.models import WebhookEvent
from tests.directory.conftest import MISSING, assert_page, assert_problem
from tests.support.tenants import client
from tests.support.time import now  # noqa: F401 (autouse: every test here runs at NOW, a Tuesday)

CALLS = "/api/v1/external/workshops/video-calls"
WEEKDAYS_9_TO_5 = {day: [{"start": "09:00", "end": "17:00"}] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}


async def events(app, organization_id: str) -> list[tuple[str, dict]]:
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(WebhookEvent.type, WebhookEvent.payload)
                .where(WebhookEvent.organization_id == UUID(organization_id))
                .order_by(WebhookEvent.id)
            )
        ).all()
    return [(t, json.loads(p)) for t, p in rows]


async def host_with_key(tenant, name: str = "Bea", **fields) -> tuple[dict, str]:
    r = await tenant.client.post("/api/v1/hosts", json={"name": name, "email": f"{name.lower()}@example.com", **fields})
    assert r.status_code == 201, r.text
    host = r.json()
    key = (await tenant.client.post("/api/v1/api-keys", json={"host_id": host["id"], "name": name})).json()["key"]
    return host, key


def video_call(mango: str, day: str, **fields) -> dict:
    return {"title": "Webinar", "mango": mango, "startDate": day, "fromTime": "10:00", "timezoneName": "UTC",
            "duration": 60, **fields}


async def test_a_contact_is_deleted_keeping_its_history(app, tenant, other_tenant):
    contact = (await tenant.client.post("/api/v1/contacts", json={"email": "sam@example.com", "first_name": "Sam"})).json()
    product = (await tenant.client.post("/api/v1/products", json={"title": "Course"})).json()
    assert (await tenant.client.post(f"/api/v1/products/{product['id']}/subscribers", json={"contact_id": contact["id"]})).status_code == 201
    assert_problem(await other_tenant.client.delete(f"/api/v1/contacts/{contact['id']}"), 404, "contact_id")

    r = await tenant.client.delete(f"/api/v1/contacts/{contact['id']}")
    assert r.status_code == 204 and r.content == b""
    assert_problem(await tenant.client.get(f"/api/v1/contacts/{contact['id']}"), 404, "contact_id")
    assert assert_page(await tenant.client.get("/api/v1/contacts"), 0) == []
    assert assert_page(await tenant.client.get(f"/api/v1/products/{product['id']}/subscribers"), 0) == []
    r = await tenant.client.get(CALLS, params={"userId": contact["id"]})
    assert r.status_code == 404 and "userId" in r.json()["message"]
    r = await tenant.client.post(f"/api/v1/products/{product['id']}/subscribers", json={"contact_id": contact["id"]})
    assert_problem(r, 404, "contact_id")
    # Deleted once: again, or a malformed id, is a 404. Its email is free for a new contact.
    assert_problem(await tenant.client.delete(f"/api/v1/contacts/{contact['id']}"), 404, "contact_id")
    assert_problem(await tenant.client.delete("/api/v1/contacts/nope"), 404, "contact_id")
    again = await tenant.client.post("/api/v1/contacts", json={"email": "SAM@example.com"})
    assert again.status_code == 201, again.text
    assert again.json()["id"] != contact["id"] and again.json()["number"] == contact["number"] + 1


async def test_a_product_is_deleted_and_its_calls_still_show_it(app, tenant, clock):
    product = (await tenant.client.post("/api/v1/products", json={"title": "Course", "affiliate_enabled": True})).json()
    assert product["affiliate_enabled"] is True
    call = await tenant.client.post(CALLS, json=video_call(product["id"], "2030-01-02"))
    assert call.status_code == 201, call.text
    subscriber = (await tenant.client.post("/api/v1/contacts", json={"email": "sam@example.com"})).json()
    await tenant.client.post(f"/api/v1/products/{product['id']}/subscribers", json={"contact_id": subscriber["id"]})

    assert (await tenant.client.delete(f"/api/v1/products/{product['id']}")).status_code == 204
    assert_problem(await tenant.client.get(f"/api/v1/products/{product['id']}"), 404, "product_id")
    assert assert_page(await tenant.client.get("/api/v1/products"), 0) == []
    # No longer chosen for a new call or a new subscriber...
    r = await tenant.client.post(CALLS, json=video_call(product["id"], "2030-01-03"))
    assert r.status_code == 404 and "mango" in r.json()["message"], r.text
    assert_problem(await tenant.client.get(f"/api/v1/products/{product['id']}/subscribers"), 404, "product_id")
    # ...while its call, planned before, still shows it, also once it is over.
    clock.advance(timedelta(days=2))
    page = (await tenant.client.get(CALLS, params={"startDate": "2030-01-01T00:00:00Z"})).json()
    [shown] = [c for g in page["data"] for c in g["calls"]]
    assert shown["_id"] == call.json()["_id"] and shown["mango"]["_id"] == product["id"]
    assert shown["mango"]["title"] == "Course" and shown["mango"]["affiliateEnabled"] is True
    assert_problem(await tenant.client.delete(f"/api/v1/products/{product['id']}"), 404, "product_id")


async def test_a_whitelabel_domain_is_removed(app, tenant, other_tenant):
    domain = (await tenant.client.post("/api/v1/whitelabel-domains", json={"hostname": "calls.acme.test"})).json()
    assert_problem(await other_tenant.client.delete(f"/api/v1/whitelabel-domains/{domain['id']}"), 404, "domain_id")
    assert (await tenant.client.delete(f"/api/v1/whitelabel-domains/{domain['id']}")).status_code == 204
    assert assert_page(await tenant.client.get("/api/v1/whitelabel-domains"), 0) == []
    assert_problem(await tenant.client.delete(f"/api/v1/whitelabel-domains/{domain['id']}"), 404, "domain_id")
    # Registered again (it is free), and removed again.
    assert (await tenant.client.post("/api/v1/whitelabel-domains", json={"hostname": "calls.acme.test"})).status_code == 201


async def test_the_owner_host_cannot_be_deleted(app, tenant):
    assert_problem(await tenant.client.delete(f"/api/v1/hosts/{tenant.host_id}"), 409, "host_id", "owner")
    assert (await tenant.client.get(f"/api/v1/hosts/{tenant.host_id}")).status_code == 200


async def test_a_host_without_upcoming_calls_is_deleted_and_its_keys_stop(app, tenant, other_tenant):
    bea, key = await host_with_key(tenant)
    assert_problem(await other_tenant.client.delete(f"/api/v1/hosts/{bea['id']}"), 404, "host_id")
    async with client(app, key) as as_bea:  # a host key: it reads its own host record
        assert (await as_bea.get(f"/api/v1/hosts/{bea['id']}")).status_code == 200
        assert (await tenant.client.delete(f"/api/v1/hosts/{bea['id']}")).status_code == 204
        assert_problem(await as_bea.get(f"/api/v1/hosts/{bea['id']}"), 401)
    assert_problem(await tenant.client.get(f"/api/v1/hosts/{bea['id']}"), 404, "host_id")
    assert_problem(await tenant.client.patch(f"/api/v1/hosts/{bea['id']}", json={"name": "x"}), 404, "host_id")
    assert [h["id"] for h in assert_page(await tenant.client.get("/api/v1/hosts"), 1)] == [tenant.host_id]
    assert [k["name"] for k in (await tenant.client.get("/api/v1/api-keys")).json()["items"]] == ["owner"]
    # No new key for it; deleting again is a 404.
    assert_problem(await tenant.client.post("/api/v1/api-keys", json={"host_id": bea["id"]}), 404, "host_id")
    assert_problem(await tenant.client.delete(f"/api/v1/hosts/{bea['id']}"), 404, "host_id")
    assert_problem(await tenant.client.delete(f"/api/v1/hosts/{bea['id']}", params={"cancel_upcoming": "maybe"}), 400, "cancel_upcoming")


async def test_a_host_with_upcoming_calls_is_refused_unless_they_are_cancelled(app, tenant, clock):
    bea, key = await host_with_key(tenant, working_hours=WEEKDAYS_9_TO_5)
    mango = (await tenant.client.post("/api/v1/products", json={"title": "Bea's course"})).json()["id"]  # products: admin
    async with client(app, key) as as_bea:
        past = (await as_bea.post(CALLS, json=video_call(mango, "2030-01-01", fromTime="13:00"))).json()
        one = (await as_bea.post(CALLS, json=video_call(mango, "2030-01-03"))).json()
        series = (await as_bea.post(CALLS, json=video_call(mango, "2030-01-06", endDate="2030-01-07", fromTime="11:00"))).json()
        page = (await as_bea.get(CALLS, params={"groupId": series["groupId"]})).json()
        occurrences = [c["_id"] for g in page["data"] for c in g["calls"]]
    assert len(occurrences) == 2
    event_type = await tenant.client.post("/api/v1/event-types", json={
        "title": "Intro", "slug": "intro", "duration_minutes": 30, "hosts": [{"host_id": bea["id"]}],
    })
    assert event_type.status_code == 201, event_type.text
    booked = await tenant.client.post("/v1/eventCalls", json={
        "eventId": event_type.json()["number"], "dateTime": "2030-01-02T09:00:00.000Z", "timeZone": "UTC",
        "email": "ada@example.com", "firstName": "Ada",
    })
    assert booked.status_code == 201, booked.text
    subscriber = (await tenant.client.post("/api/v1/contacts", json={"email": "sam@example.com"})).json()
    await tenant.client.post(f"/api/v1/products/{mango}/subscribers", json={"contact_id": subscriber["id"]})
    clock.advance(timedelta(hours=1, minutes=30))  # 13:30: the first call has started

    refused = await tenant.client.delete(f"/api/v1/hosts/{bea['id']}")
    problem = assert_problem(refused, 409, "upcoming_calls", "cancel_upcoming=true")
    assert problem["upcoming_count"] == 4
    assert [(c["kind"], c["starts_at"]) for c in problem["upcoming_calls"]] == [
        ("booking", "2030-01-02T09:00:00.000Z"),
        ("video_call", "2030-01-03T10:00:00.000Z"),
        ("video_call", "2030-01-06T11:00:00.000Z"),
        ("video_call", "2030-01-07T11:00:00.000Z"),
    ]
    assert [c["id"] for c in problem["upcoming_calls"]][1:] == [one["_id"], *occurrences]
    assert (await tenant.client.get(f"/api/v1/hosts/{bea['id']}")).status_code == 200  # nothing changed
    before = len(await events(app, tenant.organization_id))

    assert (await tenant.client.delete(f"/api/v1/hosts/{bea['id']}", params={"cancel_upcoming": "true"})).status_code == 204
    assert_problem(await tenant.client.get(f"/api/v1/hosts/{bea['id']}"), 404, "host_id")
    new = (await events(app, tenant.organization_id))[before:]
    assert sorted(d["_id"] for t, d in new if t == "video_call.cancelled") == sorted([one["_id"], *occurrences])
    assert all(d["status"] == "cancelled" for t, d in new if t == "video_call.cancelled")
    assert [t for t, _ in new].count("event_call.cancelled") == 1
    assert [t for t, _ in new].count("room.terminated") == 4  # the video calls' rooms and the booking's
    for call_id in (one["_id"], *occurrences):
        assert (await tenant.client.get(f"/v1/rooms/{call_id}")).json()["room"]["is_terminated"] is True
    # The call that had started is left; the deleted host still shows on it.
    page = (await tenant.client.get(CALLS, params={"userId": subscriber["id"], "startDate": "2030-01-01T00:00:00Z"})).json()
    shown = [c for g in page["data"] for c in g["calls"]]
    assert [c["_id"] for c in shown] == [past["_id"]]
    assert shown[0]["creator"]["_id"] == bea["id"] and shown[0]["creator"]["name"] == "Bea"
    # It can no longer be chosen for an event type.
    r = await tenant.client.post("/api/v1/event-types", json={
        "title": "Again", "slug": "again", "duration_minutes": 30, "hosts": [{"host_id": bea["id"]}],
    })
    assert_problem(r, 400, "hosts[0].host_id")
