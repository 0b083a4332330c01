"""Helpers for the idempotency tests: what each kind of create posts and how many it made."""

from uuid import uuid4

from sqlalchemy import func, select

from callgrid.calls.models import Call
from callgrid.idempotency.models import IdempotencyKey
from callgrid.rooms.models import Room
from callgrid.webhooks.models import WebhookEndpoint
from tests.support.time import NOW, now  # noqa: F401 (autouse: every test here runs at NOW)

CALLS = "/api/v1/external/workshops/video-calls"
APPOINTMENTS = "/api/v1/appointments/"
ROOMS = "/v1/rooms"
ENDPOINTS = "/api/v1/webhook-endpoints"


def new_key() -> str:
    return str(uuid4())


async def make_mango(tenant) -> str:
    r = await tenant.client.post("/api/v1/products", json={"title": "Mango", "price": 500})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def call_body(mango: str, hour: int = 10, **fields) -> dict:
    return {"title": "Webinar", "mango": mango, "startDate": "2030-01-02", "fromTime": f"{hour:02d}:00",
            "timezoneName": "UTC", "duration": 60, **fields}


APPOINTMENT = {
    "title": "Consultation", "start_date_time": "2030-01-03T10:00:00Z", "duration_minutes": 30,
    "participants": [{"role": "moderator", "unique_id": "host@example.com"}],
}
ROOM = {"name": "Standup", "type": "open", "members": [{"user_id": "ann"}]}
ENDPOINT = {"url": "https://hooks.example.com/callgrid", "description": "ours"}


async def count(app, model, *where) -> int:
    async with app.state.database.read() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def calls(app) -> int:
    return await count(app, Call)


async def rooms(app) -> int:
    return await count(app, Room)


async def endpoints(app) -> int:
    return await count(app, WebhookEndpoint)


async def keys(app) -> int:
    return await count(app, IdempotencyKey)
