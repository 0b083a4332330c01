"""Helpers for the appointments API tests.

Every test here runs with the app's clock moved to a fixed moment (`NOW`), so start times in
bodies and the timestamps in answers are the same on every run; the lifecycle tests move it on.
"""

import json
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select

from callgrid.calls.models import Call, Participant
from callgrid.webhooks.models import WebhookEvent
from tests.support.problems import assert_problem  # noqa: F401 (for the tests here)
from tests.support.time import NOW, now  # noqa: F401 (autouse: every test here starts at NOW)

BASE = "/api/v1/appointments"
START = "2030-01-02T10:00:00Z"  # the next day, 10:00 UTC
MISSING = "00000000-0000-4000-8000-000000000000"
DEFAULT_CONFIG = {
    "breakout_rooms_enabled": False,
    "whiteboard_enabled": False,
    "chat_enabled": True,
    "join_screen_enabled": True,
    "screenshare_enabled": True,
    "raise_hand_enabled": True,
}
DETAIL_KEYS = {
    "id",
    "title",
    "start_date_time",
    "duration_minutes",
    "status",
    "config",
    "participants",
    "created_at",
    "updated_at",
}
LIST_ITEM_KEYS = {
    "id",
    "title",
    "start_date_time",
    "duration_minutes",
    "status",
    "participant_count",
    "organization_name",
    "created_at",
}
NOW_TEXT = "2030-01-01T12:00:00Z"


def around_now(text: str, clock_offset_seconds: float = 0) -> bool:
    """An answer's timestamp is the app's clock when it answered: `NOW` (plus however far the
    test moved the clock) and the few real seconds the test has run, in the `...Z` form."""
    assert text.endswith("Z"), text
    moment = datetime.fromisoformat(text)
    elapsed = (moment - NOW).total_seconds() - clock_offset_seconds
    return 0 <= elapsed < 60


def person(unique_id: str, role: str = "participant", display_name: str | None = ...) -> dict:
    item = {"role": role, "unique_id": unique_id}
    if display_name is not ...:
        item["display_name"] = display_name
    return item


def body(**fields) -> dict:
    """A valid appointment on 2030-01-02 10:00 UTC for an hour with one moderator, `fields` over it
    (a field given as `...` is left out)."""
    base = {
        "title": "Consultation Meeting",
        "start_date_time": START,
        "duration_minutes": 60,
        "participants": [person("admin@example.com", "moderator", "Admin User")],
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


async def create(tenant, **fields) -> dict:
    r = await tenant.client.post(f"{BASE}/", json=body(**fields))
    assert r.status_code == 201, r.text
    return r.json()


async def detail(tenant, appointment_id: str) -> dict:
    r = await tenant.client.get(f"{BASE}/{appointment_id}/")
    assert r.status_code == 200, r.text
    return r.json()


async def listed(tenant, **params) -> dict:
    r = await tenant.client.get(f"{BASE}/", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(page: dict) -> list[str]:
    return [item["id"] for item in page["results"]]


async def events(app, organization_id: str, type_prefix: str = "appointment.") -> list[tuple[str, dict]]:
    """The organization's webhook events of this API, oldest first: (type, data)."""
    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(WebhookEvent.type, WebhookEvent.payload)
                .where(
                    WebhookEvent.organization_id == UUID(organization_id),
                    WebhookEvent.type.startswith(type_prefix),
                )
                .order_by(WebhookEvent.id)
            )
        ).all()
    return [(type_, json.loads(payload)) for type_, payload in rows]


async def table_counts(app) -> tuple[int, int]:
    """(calls, participants) in the database, all organizations."""
    async with app.state.sessionmaker() as session:
        calls = (await session.execute(select(func.count(Call.id)))).scalar_one()
        participants = (await session.execute(select(func.count(Participant.id)))).scalar_one()
    return calls, participants
