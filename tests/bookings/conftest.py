"""Event types, slots and event calls through the HTTP API, at `NOW` (a Tuesday, 12:00 UTC)."""

import pytest

from tests.support.time import NOW, now  # noqa: F401  (autouse: every test here runs at NOW)

WEEKDAYS_9_TO_5 = {day: [{"start": "09:00", "end": "17:00"}] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}


async def add_host(tenant, name: str, *, timezone: str = "UTC", working_hours=None, date_overrides=None) -> dict:
    body = {"name": name, "email": f"{name.lower()}@example.com", "timezone": timezone}
    if working_hours is not None:
        body["working_hours"] = working_hours
    if date_overrides is not None:
        body["date_overrides"] = date_overrides
    r = await tenant.client.post("/api/v1/hosts", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def add_event_type(tenant, hosts, **fields) -> dict:
    body = {
        "title": "Intro call",
        "slug": "intro",
        "duration_minutes": 30,
        "hosts": [h if isinstance(h, dict) and "host_id" in h else {"host_id": h["id"]} for h in hosts],
        **fields,
    }
    r = await tenant.client.post("/api/v1/event-types", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def book(tenant, **fields):
    body = {"timeZone": "Europe/Paris", "email": "ada@example.com", "firstName": "Ada", "lastName": "L", **fields}
    return await tenant.client.post("/v1/eventCalls", json=body)


@pytest.fixture
def when():
    return NOW
