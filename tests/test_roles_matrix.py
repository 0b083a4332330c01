"""The role matrix (issue 13, docs/roles.md): every operation of the OpenAPI document that takes
an API key, called by four keys on host A's objects, answers what the table below says.

The keys: the organization's admin key (acting as its owner host, neither A nor B), host A's key
(the objects' owner), host B's key (another host of the organization), and the admin key of
another organization. An operation of the document without a row fails the test, and so does a
row without an operation. A 403 must be a problem naming the role it needs; a 404 must be the API's
not-found answer; a list must show host A's object to those who may see it, and only to them.

Operations that destroy (DELETE, cancel, terminate, end...) run on a fresh object per cell,
so every cell sees the same world.
"""

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from callgrid.app import create_app
from callgrid.db.base import new_id
from callgrid.db.session import write_session
from callgrid.rooms.recording.models import Recording
from tests.support.tenants import add_key
from tests.support.time import NOW, now  # noqa: F401 (autouse: every test here runs at NOW, a Tuesday)

ADMIN, HOST, OTHER_HOST, OTHER_ORG = "admin", "host", "other_host", "other_org"
CALLERS = (OTHER_ORG, OTHER_HOST, HOST, ADMIN)  # refusals first: they change nothing
VIDEO = "/api/v1/external/workshops/video-calls"
APPOINTMENTS = "/api/v1/appointments"
WEBHOOKS = "/api/v1/webhook-endpoints"
ALL_DAYS = {d: [{"start": "00:00", "end": "23:59"}] for d in
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
_n = itertools.count(1)


@dataclass
class World:
    """Host A's objects in the first organization, by the name of the path parameter they fill."""

    ids: dict[str, str] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)
    app: Any = None

    def path(self, template: str, overrides: dict[str, str]) -> str:
        values = {**self.ids, **overrides}
        # `{id}` is an appointment's id under the appointments API, a booking's number under event calls.
        values["id"] = values["appointment"] if template.startswith(APPOINTMENTS) else values["booking"]
        return template.format(**values)


# --- host A's objects, made as their own API makes them ------------------------------------------------

async def ok(response, *status: int) -> dict:
    assert response.status_code in (status or (200, 201)), response.text
    return response.json() if response.content else {}


async def new_host(w: World) -> dict:
    n = next(_n)
    host = await ok(await w.clients[ADMIN].post("/api/v1/hosts", json={"name": f"C{n}", "email": f"c{n}@example.com"}))
    return {"host_id": host["id"]}


async def new_contact(w: World) -> dict:
    contact = await ok(await w.clients[ADMIN].post("/api/v1/contacts", json={"email": f"x{next(_n)}@example.com"}))
    return {"contact_id": contact["id"]}


async def new_product(w: World) -> dict:
    return {"product_id": (await ok(await w.clients[ADMIN].post("/api/v1/products", json={"title": "Course"})))["id"]}


async def new_subscriber(w: World) -> dict:
    contact = await new_contact(w)
    await ok(await w.clients[ADMIN].post(f"/api/v1/products/{w.ids['product_id']}/subscribers", json=contact))
    return {**contact, "subscriber_id": contact["contact_id"]}


async def new_domain(w: World) -> dict:
    domain = await ok(await w.clients[ADMIN].post("/api/v1/whitelabel-domains", json={"hostname": f"d{next(_n)}.example.com"}))
    return {"domain_id": domain["id"]}


async def new_key(w: World) -> dict:
    return {"key_id": (await ok(await w.clients[ADMIN].post("/api/v1/api-keys", json={"name": "spare"})))["id"]}


def video_call_body(w: World, **fields) -> dict:
    day = (NOW + timedelta(days=30 + 2 * next(_n))).date().isoformat()  # days of its own: never an overlap
    return {"title": "Webinar", "mango": w.ids["product_id"], "startDate": day, "fromTime": "10:00",
            "timezoneName": "UTC", "duration": 30, **fields}


async def new_call(w: World) -> dict:
    return {"call_id": (await ok(await w.clients[HOST].post(VIDEO, json=video_call_body(w))))["_id"]}


async def new_series(w: World) -> dict:
    body = video_call_body(w)
    body["endDate"] = (NOW.date().fromisoformat(body["startDate"]) + timedelta(days=1)).isoformat()
    return {"group_id": (await ok(await w.clients[HOST].post(VIDEO, json=body)))["groupId"]}


def appointment_body(*unique_ids: str) -> dict:
    people = [{"role": "moderator", "unique_id": u} for u in unique_ids or (f"p{next(_n)}",)]
    return {"title": "Consultation", "start_date_time": "2030-01-02T10:00:00Z", "duration_minutes": 60, "participants": people}


async def new_appointment(w: World) -> dict:
    created = await ok(await w.clients[HOST].post(f"{APPOINTMENTS}/", json=appointment_body(f"p{next(_n)}", f"q{next(_n)}")))
    return {"appointment": created["id"], "participant_id": created["participants"][1]["id"]}


async def new_webhook(w: World) -> dict:
    return {"endpoint_id": (await ok(await w.clients[ADMIN].post(WEBHOOKS, json={"url": "https://93.184.216.34/hook"})))["id"]}


async def new_room(w: World) -> dict:
    body = {"name": "Weekly", "type": "public", "members": [{"user_id": "ann"}],
            "webhook": {"url": "https://93.184.216.34/room"}}
    room = (await ok(await w.clients[HOST].post("/v1/rooms", json=body)))["room"]
    return {"room_id": room["id"], "user_id": "ann"}


async def new_recording(w: World) -> dict:
    recording_id, path = new_id(), f"roles/{uuid4().hex}.webm"
    with w.app.state.recording_storage.open_writer(path) as out:
        out.write(b"\x1a\x45\xdf\xa3" + b"\0" * 60)
    async with write_session(w.app.state.database) as session:
        session.add(Recording(
            id=recording_id, organization_id=UUID(w.ids["organization_id"]), room_id=UUID(w.ids["room_id"]),
            session_id="s1", member_id="m1", user_id="ann", started_at=NOW, ended_at=NOW + timedelta(minutes=1),
            duration_ms=60_000, size_bytes=64, media_type="video/webm", status="ready", path=path,
        ))
        await session.commit()
    return {"recording_id": str(recording_id)}


async def new_event_type(w: World) -> dict:
    body = {"title": "Intro", "slug": f"intro-{next(_n)}", "duration_minutes": 30, "hosts": [{"host_id": w.ids["host_id"]}]}
    return {"event_type_id": (await ok(await w.clients[ADMIN].post("/api/v1/event-types", json=body)))["id"]}


_slots = itertools.count()


def slot() -> str:
    """A free half hour of host A's (always at work) for a booking, each asked once."""
    start = NOW.replace(hour=0) + timedelta(days=2, minutes=30 * next(_slots))
    return start.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def event_call_body(w: World) -> dict:
    return {"eventId": w.ids["event_type_number"], "dateTime": slot(), "timeZone": "UTC",
            "email": f"inv{next(_n)}@example.com", "firstName": "Ada"}


async def new_booking(w: World) -> dict:
    created = await ok(await w.clients[HOST].post("/v1/eventCalls", json=event_call_body(w)), 201)
    return {"booking": str(created["data"]["eventCall"]["data"]["id"])}


# --- the table ---------------------------------------------------------------------------------------

Body = Callable[[World], Any] | None
Fresh = Callable[[World], Awaitable[dict]] | None


@dataclass(frozen=True)
class Row:
    admin: int
    host: int
    other_host: int
    other_org: int
    body: Body = None
    fresh: Fresh = None  # a new object per cell (the operation destroys it)
    query: Callable[[World], dict] | None = None
    listed: str | None = None  # a list: host A's object (this id) is in it exactly for those who may see it

    def expected(self, caller: str) -> int:
        return getattr(self, caller)


def admin_only(ok_status: int, other_org: int = 404, **kw) -> Row:
    return Row(ok_status, 403, 403, other_org, **kw)


def per_host(ok_status: int, **kw) -> Row:
    """Host A's own object: the admin and host A act on it, host B and the other organization see nothing."""
    return Row(ok_status, ok_status, 404, 404, **kw)


def everyone(ok_status: int, **kw) -> Row:
    return Row(ok_status, ok_status, ok_status, ok_status, **kw)


def _u(prefix: str) -> str:
    return f"{prefix}{next(_n)}"


TABLE: dict[str, Row] = {
    # Hosts: the organization's; a host key reads and changes its own record only.
    "POST /api/v1/hosts": admin_only(201, 201, body=lambda w: {"name": "N", "email": f"{_u('n')}@example.com"}),
    "GET /api/v1/hosts": admin_only(200, 200, listed="host_id"),
    "GET /api/v1/hosts/{host_id}": Row(200, 200, 403, 404),
    "PATCH /api/v1/hosts/{host_id}": Row(200, 200, 403, 404, body=lambda w: {"name": "Host A"}),
    "DELETE /api/v1/hosts/{host_id}": Row(204, 403, 403, 404, fresh=new_host),  # a fresh host C: A's key is another's
    # The directory: read by every key of the organization, written by its admins.
    "POST /api/v1/contacts": admin_only(201, 201, body=lambda w: {"email": f"{_u('c')}@example.com"}),
    "GET /api/v1/contacts": Row(200, 200, 200, 200, listed="contact_id"),
    "GET /api/v1/contacts/{contact_id}": Row(200, 200, 200, 404),
    "DELETE /api/v1/contacts/{contact_id}": admin_only(204, fresh=new_contact),
    "POST /api/v1/products": admin_only(201, 201, body=lambda w: {"title": "Another"}),
    "GET /api/v1/products": Row(200, 200, 200, 200, listed="product_id"),
    "GET /api/v1/products/{product_id}": Row(200, 200, 200, 404),
    "DELETE /api/v1/products/{product_id}": admin_only(204, fresh=new_product),
    "POST /api/v1/products/{product_id}/subscribers": admin_only(201, body=lambda w: {"contact_id": w.ids["contact_id"]}),
    "GET /api/v1/products/{product_id}/subscribers": Row(200, 200, 200, 404),
    "DELETE /api/v1/products/{product_id}/subscribers/{contact_id}": admin_only(204, fresh=new_subscriber),
    "POST /api/v1/whitelabel-domains": admin_only(201, 201, body=lambda w: {"hostname": f"{_u('w')}.example.com"}),
    "GET /api/v1/whitelabel-domains": admin_only(200, 200, listed="domain_id"),
    "DELETE /api/v1/whitelabel-domains/{domain_id}": admin_only(204, fresh=new_domain),
    "GET /api/v1/api-keys": admin_only(200, 200, listed="key_id"),
    "POST /api/v1/api-keys": admin_only(201, 201, body=lambda w: {"name": "new"}),
    "DELETE /api/v1/api-keys/{key_id}": admin_only(204, fresh=new_key),
    # Video calls: each key creates its host's; the product is the first organization's.
    f"POST {VIDEO}": Row(201, 201, 201, 404, body=video_call_body),
    # With `userId` (a subscriber of the call's product): still only what the key may see.
    f"GET {VIDEO}": Row(200, 200, 200, 404, query=lambda w: {"limit": 100, "userId": w.ids["subscriber_id"]}, listed="call_id"),
    f"POST {VIDEO}/check-availability": everyone(200, body=lambda w: {
        k: v for k, v in video_call_body(w).items() if k not in ("title", "mango")}),
    f"GET {VIDEO}/{{call_id}}": per_host(200),
    f"PATCH {VIDEO}/{{call_id}}": per_host(200, body=lambda w: {"title": "Renamed"}),
    f"DELETE {VIDEO}/{{call_id}}": per_host(200, fresh=new_call),
    f"PATCH {VIDEO}/groups/{{group_id}}": per_host(200, body=lambda w: {"title": "Series renamed"}),
    f"DELETE {VIDEO}/groups/{{group_id}}": per_host(200, fresh=new_series),
    # Appointments: the creating key's host's.
    f"GET {APPOINTMENTS}/": Row(200, 200, 200, 200, query=lambda w: {"page_size": 100}, listed="appointment"),
    f"POST {APPOINTMENTS}/": everyone(201, body=lambda w: appointment_body()),
    f"GET {APPOINTMENTS}/{{id}}/": per_host(200),
    f"PATCH {APPOINTMENTS}/{{id}}/": per_host(200, body=lambda w: {"title": "Moved"}),
    f"DELETE {APPOINTMENTS}/{{id}}/": per_host(204, fresh=new_appointment),
    f"POST {APPOINTMENTS}/{{id}}/end/": per_host(409),  # found, but not active: it is scheduled
    f"GET {APPOINTMENTS}/{{id}}/participants/": per_host(200),
    f"GET {APPOINTMENTS}/{{id}}/participants/{{participant_id}}/": per_host(200),
    f"PATCH {APPOINTMENTS}/{{id}}/participants/{{participant_id}}/": per_host(200, body=lambda w: {"display_name": "Ann"}),
    f"POST {APPOINTMENTS}/{{id}}/add-participants/": per_host(200, body=lambda w: [
        {"role": "participant", "unique_id": _u("added")}]),
    f"POST {APPOINTMENTS}/{{id}}/remove-participants/": per_host(200, fresh=new_appointment, body=lambda w: [
        {"id": w.ids["participant_id"]}]),
    # Webhook endpoints: the organization's, with its receivers' credentials.
    f"POST {WEBHOOKS}": admin_only(201, 201, body=lambda w: {"url": "https://93.184.216.34/other"}),
    f"GET {WEBHOOKS}": admin_only(200, 200, listed="endpoint_id"),
    f"GET {WEBHOOKS}/{{endpoint_id}}": admin_only(200),
    f"PATCH {WEBHOOKS}/{{endpoint_id}}": admin_only(200, body=lambda w: {"description": "changed"}),
    f"DELETE {WEBHOOKS}/{{endpoint_id}}": admin_only(204, fresh=new_webhook),
    f"POST {WEBHOOKS}/{{endpoint_id}}/rotate-secret": admin_only(200),
    f"POST {WEBHOOKS}/{{endpoint_id}}/test": admin_only(202),
    f"GET {WEBHOOKS}/{{endpoint_id}}/deliveries": admin_only(200),
    # No worker runs here, so the test ping has no delivery to retry: the admin's 404 names it.
    f"POST {WEBHOOKS}/{{endpoint_id}}/deliveries/{{event_id}}/retry": admin_only(404),
    # Rooms: the creating key's host's, and everything under them.
    "POST /v1/rooms": everyone(200, body=lambda w: {"name": "Another", "type": "public"}),
    "GET /v1/rooms": Row(200, 200, 200, 200, query=lambda w: {"limit": 100}, listed="room_id"),
    "GET /v1/rooms/{room_id}": per_host(200),
    "PATCH /v1/rooms/{room_id}": per_host(200, body=lambda w: {"name": "Renamed"}),
    "POST /v1/rooms/{room_id}/terminate": per_host(200, fresh=new_room),
    "POST /v1/rooms/{room_id}/webhook/rotate-secret": per_host(200),
    "POST /v1/rooms/{room_id}/members": per_host(200, body=lambda w: {"members": [{"user_id": _u("m")}]}),
    "GET /v1/rooms/{room_id}/members": per_host(200),
    "DELETE /v1/rooms/{room_id}/members/{user_id}": per_host(204, fresh=new_room),
    "GET /v1/rooms/{room_id}/sessions": per_host(200),
    "POST /v1/rooms/{room_id}/join-tokens": per_host(200, body=lambda w: {"user_id": "ann"}),
    "GET /v1/rooms/{room_id}/recordings": per_host(200),
    "GET /v1/rooms/{room_id}/recordings/{recording_id}": per_host(200),
    "DELETE /v1/rooms/{room_id}/recordings/{recording_id}": per_host(204, fresh=new_recording),
    "GET /v1/rooms/{room_id}/recordings/{recording_id}/media": per_host(200),
    "GET /v1/rooms/{room_id}/timeline": per_host(200),
    "POST /v1/rooms/{room_id}/replay-tokens": per_host(200, body=lambda w: {"user_id": "ann"}),
    # Event types: their host lists are the organization's; a host reads those it belongs to.
    "POST /api/v1/event-types": admin_only(201, 400, body=lambda w: {  # another organization: no such host
        "title": "T", "slug": _u("t"), "duration_minutes": 30, "hosts": [{"host_id": w.ids["host_id"]}]}),
    "GET /api/v1/event-types": Row(200, 200, 200, 200, listed="event_type_id"),
    "GET /api/v1/event-types/{event_type_id}": per_host(200),
    "PATCH /api/v1/event-types/{event_type_id}": admin_only(200, body=lambda w: {"title": "Renamed"}),
    "DELETE /api/v1/event-types/{event_type_id}": admin_only(204, fresh=new_event_type),
    "GET /api/v1/event-types/{event_type_id}/slots": per_host(200, query=lambda w: {"start": "2030-01-03", "end": "2030-01-03"}),
    # Event calls (bookings): the booked host's.
    "POST /v1/eventCalls": per_host(201, body=event_call_body),
    "GET /v1/eventCalls/{id}": per_host(200),
    "POST /v1/eventCalls/{id}/cancel": per_host(200, fresh=new_booking, body=lambda w: {"reason": "ill"}),
    "POST /v1/eventCalls/{id}/reschedule": per_host(201, fresh=new_booking, body=lambda w: {"dateTime": slot()}),
}


def authenticated_operations() -> set[str]:
    document = create_app().openapi()
    return {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete") and operation.get("security")
    }


def test_every_authenticated_operation_has_a_row_and_every_row_an_operation():
    operations = authenticated_operations()
    assert sorted(operations - set(TABLE)) == [], "operations without a row: write what each key gets"
    assert sorted(set(TABLE) - operations) == [], "rows without an operation"


def test_the_document_says_which_operations_need_the_role_admin():
    """A refusal of the table is a documented 403; an operation whose `security` names the role
    admin refuses host keys whatever the object."""
    document = create_app().openapi()
    for operation, row in TABLE.items():
        method, path = operation.split(" ", 1)
        documented = document["paths"][path][method.lower()]
        admin = documented["security"] == [{"bearer": ["admin"]}]
        assert admin == (row.host == row.other_host == 403), operation
        if 403 in (row.host, row.other_host):
            assert "403" in documented["responses"], operation


# --- the world and the calls ---------------------------------------------------------------------------

async def build_world(app, tenant, other_tenant) -> World:
    w = World(app=app)
    admin = tenant.client
    w.clients[ADMIN], w.clients[OTHER_ORG] = admin, other_tenant.client
    host_a = await ok(await admin.post("/api/v1/hosts", json={"name": "A", "email": "a@example.com", "working_hours": ALL_DAYS}))
    host_b = await ok(await admin.post("/api/v1/hosts", json={"name": "B", "email": "b@example.com", "working_hours": ALL_DAYS}))
    w.clients[HOST] = await add_key(app, tenant, host_a["id"])
    w.clients[OTHER_HOST] = await add_key(app, tenant, host_b["id"])
    w.ids.update(organization_id=tenant.organization_id, host_id=host_a["id"])
    for make in (new_contact, new_product, new_subscriber, new_domain, new_key, new_call, new_series, new_appointment,
                 new_webhook, new_room, new_event_type):
        fresh = await make(w)
        w.ids.update({k: v for k, v in fresh.items() if k not in w.ids})
    w.ids.update(await new_recording(w))
    event_type = await ok(await admin.get(f"/api/v1/event-types/{w.ids['event_type_id']}"))
    w.ids["event_type_number"] = event_type["number"]
    w.ids.update(await new_booking(w))
    w.ids["event_id"] = (await ok(await admin.post(f"{WEBHOOKS}/{w.ids['endpoint_id']}/test"), 202))["event_id"]
    return w


def _ids_in(data: Any) -> set[str]:
    """Every id-like value of a list's answer, at any depth (`id`, `_id`)."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("id", "_id") and isinstance(value, (str, int)):
                found.add(str(value))
            found |= _ids_in(value)
    elif isinstance(data, list):
        for item in data:
            found |= _ids_in(item)
    return found


def check_refusal(response, status: int, where: str) -> None:
    body = response.json()
    if status == 403:
        assert response.headers["content-type"].startswith("application/problem+json"), where
        assert body["status"] == 403 and body["title"] == "Forbidden", (where, body)
        assert "this needs an API key with the role admin" in body["detail"] and body["required_role"] == "admin", (where, body)
    elif status == 404:
        if "statusMessage" in body:  # the video-calls API's own shape
            assert body["code"] == 404 and body["success"] is False and body["message"], (where, body)
        else:
            assert response.headers["content-type"].startswith("application/problem+json"), where
            assert body["status"] == 404 and body["title"] == "Not Found" and body["detail"], (where, body)


async def call(w: World, operation: str, row: Row, caller: str) -> None:
    method, template = operation.split(" ", 1)
    overrides = await row.fresh(w) if row.fresh else {}
    saved, w.ids = w.ids, {**w.ids, **overrides}
    try:
        body = row.body(w) if row.body else None
        query = row.query(w) if row.query else None
        path = w.path(template, overrides)
    finally:
        w.ids = saved
    response = await w.clients[caller].request(method, path, json=body, params=query)
    where = f"{operation} as {caller}: {response.text[:300]}"
    assert response.status_code == row.expected(caller), where
    if response.status_code >= 400:
        check_refusal(response, response.status_code, where)
    elif row.listed is not None:
        mine = w.ids[row.listed]
        shown = mine in _ids_in(response.json())
        assert shown == (caller in (ADMIN, HOST) or (row.listed in ("contact_id", "product_id") and caller == OTHER_HOST)), where


async def test_the_role_matrix(app, tenant, other_tenant):
    w = await build_world(app, tenant, other_tenant)
    operations = authenticated_operations()
    try:
        for operation, row in TABLE.items():
            if operation in operations:
                for caller in CALLERS:
                    await call(w, operation, row, caller)
    finally:
        for caller in (HOST, OTHER_HOST):
            await w.clients[caller].aclose()
